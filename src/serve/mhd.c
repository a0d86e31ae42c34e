/* Loading libmicrohttpd at run time (mhd.h), through util/dl.h. */
#define KILN_MHD_IMPL
#include "serve/mhd.h"

#include "util/dl.h"

struct kiln__mhd_api kiln__mhd;

static const char *const files[] = { "libmicrohttpd.so.12", NULL };

static const kiln__dl_sym syms[] = {
#define SYM(f) { "MHD_" #f, (void **)&kiln__mhd.f }
	SYM(start_daemon), SYM(stop_daemon), SYM(add_connection),
	SYM(get_daemon_info), SYM(create_response_from_buffer),
	SYM(create_response_from_callback), SYM(add_response_header),
	SYM(queue_response), SYM(destroy_response),
	SYM(lookup_connection_value),
#undef SYM
};

static kiln__dl_lib lib = {
	.name = "libmicrohttpd", .files = files, .install = "libmicrohttpd12",
	.version = "0.9.71 or later", .syms = syms,
	.nsyms = sizeof(syms) / sizeof(syms[0]),
};

int kiln__mhd_load(kiln_error *err)
{
	const char *e = kiln__dl_load(&lib);

	return e ? kiln_error_set(err, KILN_EIO, "serve: %s", e) : 0;
}
