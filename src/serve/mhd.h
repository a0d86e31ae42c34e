/* libmicrohttpd, loaded when a server starts (dlopen), not when kiln
 * starts: it brings GnuTLS and eight more shared libraries that every other
 * command would load for nothing (src/llm/http.c does the same with
 * libcurl). Included after <microhttpd.h> by the files that call MHD; the
 * calls go through the pointers below. */
#ifndef KILN_SERVE_MHD_H
#define KILN_SERVE_MHD_H

#include <microhttpd.h>

#include "kiln/error.h"

struct kiln__mhd_api {
	struct MHD_Daemon *(*start_daemon)(unsigned int, uint16_t,
					   MHD_AcceptPolicyCallback, void *,
					   MHD_AccessHandlerCallback, void *,
					   ...);
	void (*stop_daemon)(struct MHD_Daemon *);
	enum MHD_Result (*add_connection)(struct MHD_Daemon *, MHD_socket,
					  const struct sockaddr *, socklen_t);
	const union MHD_DaemonInfo *(*get_daemon_info)(
		struct MHD_Daemon *, enum MHD_DaemonInfoType, ...);
	struct MHD_Response *(*create_response_from_buffer)(
		size_t, void *, enum MHD_ResponseMemoryMode);
	struct MHD_Response *(*create_response_from_callback)(
		uint64_t, size_t, MHD_ContentReaderCallback, void *,
		MHD_ContentReaderFreeCallback);
	enum MHD_Result (*add_response_header)(struct MHD_Response *,
					       const char *, const char *);
	enum MHD_Result (*queue_response)(struct MHD_Connection *,
					  unsigned int, struct MHD_Response *);
	void (*destroy_response)(struct MHD_Response *);
	const char *(*lookup_connection_value)(struct MHD_Connection *,
					       enum MHD_ValueKind,
					       const char *);
};

extern struct kiln__mhd_api kiln__mhd;

/* Loads the library once; KILN_EIO with a message if it cannot. */
int kiln__mhd_load(kiln_error *err);

#ifndef KILN_MHD_IMPL
#define MHD_start_daemon kiln__mhd.start_daemon
#define MHD_stop_daemon kiln__mhd.stop_daemon
#define MHD_add_connection kiln__mhd.add_connection
#define MHD_get_daemon_info kiln__mhd.get_daemon_info
#define MHD_create_response_from_buffer kiln__mhd.create_response_from_buffer
#define MHD_create_response_from_callback \
	kiln__mhd.create_response_from_callback
#define MHD_add_response_header kiln__mhd.add_response_header
#define MHD_queue_response kiln__mhd.queue_response
#define MHD_destroy_response kiln__mhd.destroy_response
#define MHD_lookup_connection_value kiln__mhd.lookup_connection_value
#endif

#endif
