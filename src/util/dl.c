/* Loading a shared library at run time, once (dl.h). */
#include "util/dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

/* Libraries load rarely (a client or a server opening): one lock for all
 * of them is enough. */
static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;

static void load(kiln__dl_lib *lib)
{
	void *h = NULL;
	const char *why = "no file to load";

	for (size_t i = 0; lib->files[i] && !h; i++)
		if (!(h = dlopen(lib->files[i], RTLD_NOW | RTLD_LOCAL)))
			why = dlerror();
	if (!h) {
		snprintf(lib->error, sizeof(lib->error),
			 "cannot load %s (install %s): %s", lib->name,
			 lib->install, why);
		return;
	}
	for (size_t i = 0; i < lib->nsyms; i++) {
		/* POSIX guarantees that a data pointer holds a function's */
		*lib->syms[i].slot = dlsym(h, lib->syms[i].name);
		if (!*lib->syms[i].slot) {
			snprintf(lib->error, sizeof(lib->error),
				 "%s has no %s (%s is needed)", lib->name,
				 lib->syms[i].name, lib->version);
			return;
		}
	}
	if (lib->init) {
		const char *e = lib->init();

		if (e)
			snprintf(lib->error, sizeof(lib->error), "%s", e);
	}
}

const char *kiln__dl_load(kiln__dl_lib *lib)
{
	if (!atomic_load_explicit(&lib->done, memory_order_acquire)) {
		pthread_mutex_lock(&load_mu);
		if (!atomic_load_explicit(&lib->done, memory_order_relaxed)) {
			load(lib);
			atomic_store_explicit(&lib->done, 1,
					      memory_order_release);
		}
		pthread_mutex_unlock(&load_mu);
	}
	return lib->error[0] ? lib->error : NULL;
}
