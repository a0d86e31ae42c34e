/* The failing-allocation injector: inject.h says what and why. */
#include "inject.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The allocator underneath: a sanitizer's (its interceptors, which are
 * what its weak malloc aliases name) or glibc's. Weak references are NULL
 * where the symbol is missing. */
#define UNDER(ret, name, params)                                          \
	extern ret __interceptor_##name params __attribute__((weak));   \
	extern ret __libc_##name params __attribute__((weak))
UNDER(void *, malloc, (size_t));
UNDER(void *, calloc, (size_t, size_t));
UNDER(void *, realloc, (void *, size_t));
UNDER(void, free, (void *));
UNDER(void *, memalign, (size_t, size_t));
extern int __interceptor_posix_memalign(void **, size_t, size_t)
	__attribute__((weak));
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));
extern void __sanitizer_symbolize_pc(void *pc, const char *fmt, char *out,
				     size_t size) __attribute__((weak));

#define REAL(name) (__interceptor_##name ? __interceptor_##name : __libc_##name)

static atomic_int armed;       /* counting and failing */
static atomic_int held;        /* the test's own work: neither */
static atomic_long fail_at_n;
static atomic_int sticky_fail;
static atomic_long count;
static atomic_int fired;
static atomic_long live;
static atomic_int recording;

#define MAX_SITES 8192
static void *sites[MAX_SITES];
static long nsites;
static long sites_dropped;

static void record_site(void *pc)
{
	size_t h;

	if (!atomic_load(&recording))
		return;
	h = ((uintptr_t)pc >> 2) * 2654435761u % MAX_SITES;
	for (long i = 0; i < MAX_SITES; i++) {
		size_t k = (h + (size_t)i) % MAX_SITES;
		if (sites[k] == pc)
			return;
		if (!sites[k]) {
			if (nsites >= MAX_SITES / 2) {
				sites_dropped++;
				return;
			}
			sites[k] = pc;
			nsites++;
			return;
		}
	}
}

/* Whether this allocation fails; counts it. */
static int should_fail_if(void *pc, int may_fail)
{
	long n, at;

	record_site(pc);
	if (!may_fail || !atomic_load(&armed) || atomic_load(&held))
		return 0;
	n = atomic_fetch_add(&count, 1) + 1;
	at = atomic_load(&fail_at_n);
	if (at > 0 && (n == at || (n > at && atomic_load(&sticky_fail)))) {
		atomic_store(&fired, 1);
		errno = ENOMEM;
		return 1;
	}
	return 0;
}

static int should_fail(void *pc)
{
	return should_fail_if(pc, 1);
}

void *inject_malloc_from(size_t size, void *pc, int may_fail)
{
	void *p;

	if (should_fail_if(pc, may_fail))
		return NULL;
	p = REAL(malloc)(size);
	if (p)
		atomic_fetch_add(&live, 1);
	return p;
}

static void *do_malloc(size_t size, void *pc)
{
	void *p;

	if (should_fail(pc))
		return NULL;
	p = REAL(malloc)(size);
	if (p)
		atomic_fetch_add(&live, 1);
	return p;
}

void *malloc(size_t size)
{
	return do_malloc(size, __builtin_return_address(0));
}

void *calloc(size_t n, size_t size)
{
	void *p;

	if (should_fail(__builtin_return_address(0)))
		return NULL;
	p = REAL(calloc)(n, size);
	if (p)
		atomic_fetch_add(&live, 1);
	return p;
}

static void *do_realloc(void *old, size_t size, void *pc)
{
	void *p;

	if (old && size == 0) { /* glibc and the sanitizers: a free */
		p = REAL(realloc)(old, size);
		if (!p)
			atomic_fetch_sub(&live, 1);
		return p;
	}
	if (should_fail(pc))
		return NULL;
	p = REAL(realloc)(old, size);
	if (p && !old)
		atomic_fetch_add(&live, 1);
	return p;
}

void *realloc(void *old, size_t size)
{
	return do_realloc(old, size, __builtin_return_address(0));
}

void *reallocarray(void *old, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return do_realloc(old, n * size, __builtin_return_address(0));
}

void free(void *p)
{
	if (!p)
		return;
	atomic_fetch_sub(&live, 1);
	REAL(free)(p);
}

char *strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = do_malloc(n, __builtin_return_address(0));

	if (p)
		memcpy(p, s, n);
	return p;
}

char *strndup(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *p = do_malloc(n + 1, __builtin_return_address(0));

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

void *memalign(size_t align, size_t size)
{
	void *p;

	if (should_fail(__builtin_return_address(0)))
		return NULL;
	p = REAL(memalign)(align, size);
	if (p)
		atomic_fetch_add(&live, 1);
	return p;
}

void *aligned_alloc(size_t align, size_t size)
{
	return memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	if (should_fail(__builtin_return_address(0)))
		return ENOMEM;
	if (__interceptor_posix_memalign) {
		int rc = __interceptor_posix_memalign(out, align, size);
		if (rc == 0)
			atomic_fetch_add(&live, 1);
		return rc;
	}
	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	p = __libc_memalign(align, size);
	if (!p)
		return ENOMEM;
	atomic_fetch_add(&live, 1);
	*out = p;
	return 0;
}

/* ---- control ------------------------------------------------------------ */

void inject_arm(long fail_at, int sticky)
{
	atomic_store(&count, 0);
	atomic_store(&fired, 0);
	atomic_store(&fail_at_n, fail_at);
	atomic_store(&sticky_fail, sticky);
	atomic_store(&armed, 1);
}

long inject_disarm(void)
{
	atomic_store(&armed, 0);
	return atomic_load(&count);
}

void inject_hold(int on)
{
	atomic_store(&held, on);
}

int inject_fired(void)
{
	return atomic_load(&fired);
}

long inject_live(void)
{
	return atomic_load(&live);
}

void inject_record_sites(int on)
{
	atomic_store(&recording, on);
}

void inject_clear_sites(void)
{
	memset(sites, 0, sizeof(sites));
	nsites = 0;
	sites_dropped = 0;
}

int inject_leak_check(void)
{
	return __lsan_do_recoverable_leak_check ?
		       __lsan_do_recoverable_leak_check() : 0;
}

static int by_address(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a;
	uintptr_t y = (uintptr_t)*(void *const *)b;
	return x < y ? -1 : x > y;
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The source files of the executable's sites (kiln's and the test's),
 * where a sanitizer's symbolizer can say: "src/util/jsonl.c: 3". */
static void report_files(void *const *list, long n, const char *exe)
{
	static char names[MAX_SITES / 2][160];
	static char *sorted[MAX_SITES / 2];
	long k = 0;

	if (!__sanitizer_symbolize_pc)
		return;
	for (long i = 0; i < n; i++) {
		Dl_info info;
		if (!dladdr(list[i], &info) || !info.dli_fname ||
		    strcmp(info.dli_fname, exe) != 0)
			continue;
		__sanitizer_symbolize_pc((char *)list[i] - 1, "%s", names[k],
					 sizeof(names[k]));
		sorted[k] = names[k];
		k++;
	}
	qsort(sorted, (size_t)k, sizeof(sorted[0]), by_string);
	for (long i = 0; i < k;) {
		long j = i;
		const char *src = strstr(sorted[i], "/src/");
		const char *tests = strstr(sorted[i], "/tests/");

		while (j < k && strcmp(sorted[j], sorted[i]) == 0)
			j++;
		fprintf(stderr, "         %3ld in %s\n", j - i,
			src ? src + 1 : tests ? tests + 1 : sorted[i]);
		i = j;
	}
}

long inject_report_sites(const char *title, int verbose)
{
	static void *list[MAX_SITES / 2];
	long n = 0, i = 0;
	int was = atomic_exchange(&recording, 0);
	Dl_info self;
	const char *exe = "";

	inject_hold(1);
	if (dladdr((void *)inject_arm, &self) && self.dli_fname)
		exe = self.dli_fname;
	for (long k = 0; k < MAX_SITES; k++)
		if (sites[k])
			list[n++] = sites[k];
	qsort(list, (size_t)n, sizeof(list[0]), by_address);
	fprintf(stderr, "%s: %ld allocation sites reached%s\n", title, n,
		sites_dropped ? " (table full: more not counted)" : "");
	/* One line per object, its sites sorted by address, so they group. */
	while (i < n) {
		Dl_info info;
		const char *obj = "?";
		long j = i;

		if (dladdr(list[i], &info) && info.dli_fname)
			obj = info.dli_fname;
		while (j < n) {
			Dl_info other;
			const char *o = "?";
			if (dladdr(list[j], &other) && other.dli_fname)
				o = other.dli_fname;
			if (strcmp(o, obj) != 0)
				break;
			if (verbose) {
				char where[256] = "";
				if (__sanitizer_symbolize_pc)
					__sanitizer_symbolize_pc(
						(char *)list[j] - 1,
						"%f %s:%l", where,
						sizeof(where));
				fprintf(stderr, "    %s+%#lx %s\n", obj,
					(unsigned long)((uintptr_t)list[j] -
							(uintptr_t)other.dli_fbase),
					where);
			}
			j++;
		}
		fprintf(stderr, "  %4ld in %s\n", j - i, obj);
		if (strcmp(obj, exe) == 0)
			report_files(list + i, j - i, exe);
		i = j;
	}
	inject_hold(0);
	atomic_store(&recording, was);
	return n;
}
