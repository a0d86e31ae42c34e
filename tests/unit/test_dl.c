/* Loading a library at run time (src/util/dl.h): symbols resolved from a
 * table, names tried in turn, errors that name the library and the
 * symbol, one load however many threads ask at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "util/dl.h"

/* zlib: kiln links it anyway, so it is there wherever the tests run. */
static struct {
	const char *(*zlibVersion)(void);
	unsigned long (*crc32)(unsigned long, const unsigned char *,
			       unsigned);
} z;

static const kiln__dl_sym zsyms[] = {
	{ "zlibVersion", (void **)&z.zlibVersion },
	{ "crc32", (void **)&z.crc32 },
};

static int inits;

static const char *count_init(void)
{
	inits++;
	return NULL;
}

static void resolves_a_table(void **state)
{
	static const char *const files[] = { "libkiln-no-such.so.9",
					      "libz.so.1", NULL };
	static kiln__dl_lib lib = {
		.name = "zlib", .files = files, .install = "zlib1g",
		.version = "1.2", .syms = zsyms, .nsyms = 2,
		.init = count_init,
	};

	(void)state;
	/* the first file is missing: the second one is used */
	assert_null(kiln__dl_load(&lib));
	assert_non_null(z.zlibVersion);
	assert_true(z.zlibVersion()[0] == '1');
	assert_int_equal(z.crc32(0, (const unsigned char *)"abc", 3),
			 0x352441c2);
	assert_null(kiln__dl_load(&lib));
	assert_int_equal(inits, 1);
}

static void errors_name_library_and_symbol(void **state)
{
	static const char *const none[] = { "libkiln-no-such.so.9", NULL };
	static const char *const zfile[] = { "libz.so.1", NULL };
	static void *slot;
	static const kiln__dl_sym missing[] = {
		{ "crc32", &slot },
		{ "kiln_no_such_symbol", &slot },
	};
	static kiln__dl_lib absent = {
		.name = "libkilnx", .files = none, .install = "kilnx1",
		.version = "1.0", .syms = zsyms, .nsyms = 2,
	};
	static kiln__dl_lib old = {
		.name = "zlib", .files = zfile, .install = "zlib1g",
		.version = "9.9 or later", .syms = missing, .nsyms = 2,
	};
	const char *e;

	(void)state;
	e = kiln__dl_load(&absent);
	assert_non_null(e);
	assert_true(strncmp(e, "cannot load libkilnx (install kilnx1): ",
			    39) == 0);
	assert_non_null(strstr(e, "libkiln-no-such.so.9"));
	/* the same answer again, without a second try */
	assert_ptr_equal(kiln__dl_load(&absent), e);
	e = kiln__dl_load(&old);
	assert_string_equal(e, "zlib has no kiln_no_such_symbol (9.9 or "
			    "later is needed)");
}

/* Every name fails: the message says why the last one did. */
static void every_name_tried(void **state)
{
	static const char *const files[] = { "libkiln-no-such.so.1",
					      "libkiln-no-such.so.2", NULL };
	static const char *const empty[] = { NULL };
	static kiln__dl_lib lib = {
		.name = "libkilnx", .files = files, .install = "kilnx1",
		.version = "1.0", .syms = zsyms, .nsyms = 2,
	}, nothing = {
		.name = "libkilny", .files = empty, .install = "kilny1",
		.version = "1.0", .syms = zsyms, .nsyms = 2,
	};
	const char *e = kiln__dl_load(&lib);

	(void)state;
	assert_non_null(e);
	assert_non_null(strstr(e, "libkiln-no-such.so.2"));
	assert_null(strstr(e, "libkiln-no-such.so.1"));
	assert_string_equal(kiln__dl_load(&nothing), "cannot load libkilny "
			    "(install kilny1): no file to load");
}

static const char *failing_init(void)
{
	return "zlib_global_init failed";
}

static void init_errors_are_the_loads(void **state)
{
	static const char *const zfile[] = { "libz.so.1", NULL };
	static kiln__dl_lib lib = {
		.name = "zlib", .files = zfile, .install = "zlib1g",
		.version = "1.2", .syms = zsyms, .nsyms = 2,
		.init = failing_init,
	};

	(void)state;
	assert_string_equal(kiln__dl_load(&lib), "zlib_global_init failed");
}

static int racing_inits;
static const char *racing_init(void)
{
	racing_inits++; /* under the loader's lock */
	return NULL;
}

static const char *const race_files[] = { "libz.so.1", NULL };
static kiln__dl_lib race_lib = {
	.name = "zlib", .files = race_files, .install = "zlib1g",
	.version = "1.2", .syms = zsyms, .nsyms = 2, .init = racing_init,
};

static void *racer(void *arg)
{
	(void)arg;
	return (void *)kiln__dl_load(&race_lib);
}

static void loads_once_across_threads(void **state)
{
	pthread_t t[8];

	(void)state;
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, racer, NULL), 0);
	for (int i = 0; i < 8; i++) {
		void *r;

		assert_int_equal(pthread_join(t[i], &r), 0);
		assert_null(r);
	}
	assert_int_equal(racing_inits, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(resolves_a_table),
		cmocka_unit_test(errors_name_library_and_symbol),
		cmocka_unit_test(every_name_tried),
		cmocka_unit_test(init_errors_are_the_loads),
		cmocka_unit_test(loads_once_across_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
