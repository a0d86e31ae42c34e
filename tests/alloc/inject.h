/* A failing-allocation injector for tests (curl's "torture" idea, small):
 * the test binary that links inject.c replaces malloc, calloc, realloc,
 * strdup, strndup, posix_memalign, aligned_alloc and free for the whole
 * process (kiln, jansson, SQLite, zlib and libc's own allocations alike),
 * counts the allocations made while armed and makes the N-th one fail.
 *
 * Why a replacement in the executable (and not --wrap, dlsym(RTLD_NEXT) or
 * the libraries' own hooks): an executable's definition of malloc wins the
 * dynamic symbol lookup for every shared library, glibc calls malloc
 * through that lookup from inside itself too, and the sanitizers define
 * their malloc as a weak alias of __interceptor_malloc, so a strong one
 * here overrides theirs without a conflict and forwards to it (the
 * sanitizer still owns every block, so ASan and LeakSanitizer see them
 * all). Without a sanitizer it forwards to glibc's __libc_malloc. --wrap
 * reaches only the objects linked statically (kiln, not jansson, SQLite,
 * zlib or libc); dlsym needs an allocation to bootstrap; and
 * json_set_alloc_funcs + SQLITE_CONFIG_MALLOC would leave kiln's own ~150
 * call sites, zlib and libc (fopen, asprintf, open_memstream) uncovered.
 * The sanitizers' strdup and strndup allocate without calling malloc, so
 * they are replaced too.
 *
 * Not thread-aware: the counter is global (atomic), so an operation that
 * starts threads fails "the N-th allocation of the process". */
#ifndef KILN_TEST_INJECT_H
#define KILN_TEST_INJECT_H

#include <stddef.h>

/* Counts allocations from now on; the fail_at-th one (1-based) returns
 * NULL, and so does every later one if sticky is set. fail_at 0: none. */
void inject_arm(long fail_at, int sticky);
/* Stops counting and failing; returns how many allocations were asked for
 * while armed. */
long inject_disarm(void);
/* While on (the test's own work between steps: dumping a record, say),
 * allocations are neither counted nor failed. */
void inject_hold(int on);
/* Whether an allocation was made to fail since the last inject_arm. */
int inject_fired(void);
/* Blocks currently live (allocated through the replacements and not yet
 * freed): the same before and after a self-contained operation. */
long inject_live(void);

/* malloc as if called from pc; may_fail 0: never fails (not counted). */
void *inject_malloc_from(size_t size, void *pc, int may_fail);

/* Allocation sites: the distinct return addresses that called the
 * allocator while recording (up to a few thousand). */
void inject_record_sites(int on);
/* Prints how many sites each object has (the executable: kiln and the
 * test; libjansson, libsqlite3, libz, libc...) to stderr and returns how
 * many there were. verbose: each site too, as object+offset (for
 * addr2line -f -e) and, in sanitizer builds, function and line. */
long inject_report_sites(const char *title, int verbose);
void inject_clear_sites(void);

/* Runs LeakSanitizer now if the binary has it (ASan builds): returns
 * nonzero if it found leaks (and printed them). 0 without LSan. */
int inject_leak_check(void);

#endif
