/* Loading libmicrohttpd at run time (mhd.h). */
#define KILN_MHD_IMPL
#include "serve/mhd.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

struct kiln__mhd_api kiln__mhd;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[300];

static void load(void)
{
	void *h = dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);
	struct { void **slot; const char *name; } syms[] = {
#define SYM(f) { (void **)&kiln__mhd.f, "MHD_" #f }
		SYM(start_daemon), SYM(stop_daemon), SYM(add_connection),
		SYM(get_daemon_info), SYM(create_response_from_buffer),
		SYM(create_response_from_callback), SYM(add_response_header),
		SYM(queue_response), SYM(destroy_response),
		SYM(lookup_connection_value),
#undef SYM
	};

	if (!h) {
		snprintf(load_error, sizeof(load_error), "cannot load "
			 "libmicrohttpd (install libmicrohttpd12): %s",
			 dlerror());
		return;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		*syms[i].slot = dlsym(h, syms[i].name);
		if (!*syms[i].slot) {
			snprintf(load_error, sizeof(load_error),
				 "libmicrohttpd has no %s (0.9.71 or later is "
				 "needed)", syms[i].name);
			return;
		}
	}
}

int kiln__mhd_load(kiln_error *err)
{
	pthread_once(&once, load);
	if (load_error[0])
		return kiln_error_set(err, KILN_EIO, "serve: %s", load_error);
	return 0;
}
