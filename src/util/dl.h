/* Loading a shared library at run time (dlopen), once, with a table of
 * the symbols to resolve. libcurl (src/llm/http.c) and libmicrohttpd
 * (src/serve/mhd.c) are loaded this way, when a client or a server first
 * opens, so that the commands that need neither do not pay for the
 * dozens of libraries they pull in. Internal to the library.
 *
 *	static struct { int (*f)(void); } api;
 *	static const kiln__dl_sym syms[] = { { "lib_f", (void **)&api.f } };
 *	static kiln__dl_lib lib = { .name = "libx", .files = files,
 *		.install = "libx1", .version = "1.2 or later",
 *		.syms = syms, .nsyms = 1 };
 *	const char *e = kiln__dl_load(&lib);
 *
 * Every caller after the first gets the first one's outcome: the library
 * is opened once per process, whichever thread comes first, and never
 * closed. */
#ifndef KILN_UTIL_DL_H
#define KILN_UTIL_DL_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct kiln__dl_sym {
	const char *name;         /* the symbol, as the library exports it */
	void **slot;              /* the function pointer it fills */
} kiln__dl_sym;

typedef struct kiln__dl_lib {
	const char *name;         /* "libcurl": what messages call it */
	const char *const *files; /* names to dlopen in turn, NULL-terminated */
	const char *install;      /* the package that provides it */
	const char *version;      /* what a missing symbol means we need */
	const kiln__dl_sym *syms;
	size_t nsyms;
	/* Called once after every symbol resolved; returns NULL, or a message
	 * that becomes the load's error. May be NULL. */
	const char *(*init)(void);
	/* state: zero before the first load */
	atomic_int done;
	char error[300];
} kiln__dl_lib;

/* Loads lib once (thread-safe). Returns NULL, or the error that stopped
 * the load, the same on every call: "cannot load libcurl (install
 * libcurl4): <dlerror>" or "libcurl has no curl_x (7.68 or later is
 * needed)". */
const char *kiln__dl_load(kiln__dl_lib *lib);

#endif
