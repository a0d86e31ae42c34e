/* kiln serve's listening socket (serve_int.h): the head of each
 * connection's first request is checked before libmicrohttpd sees it.
 *
 * libmicrohttpd answers some bad requests itself, before any callback of
 * ours runs, with HTML pages (a Content-Length that is not a number, a
 * head too large for its memory pool, a malformed request line, an
 * unsupported HTTP version); version 0.9.75 even sends the status line
 * twice for a bad Content-Length. An OpenAI client expects JSON errors.
 * So kiln accepts connections itself: a thread per new connection peeks
 * (MSG_PEEK: nothing is consumed) until the head is complete, checks it
 * with the rules below, and either answers a JSON error and closes, or
 * hands the untouched socket to libmicrohttpd (MHD_add_connection).
 *
 * Waiting for more bytes without consuming them: poll() would return at
 * once while peeked bytes wait, so SO_RCVLOWAT is set to one more byte
 * than is there.
 *
 * Only the first request of a connection is checked here; the requests
 * that follow on a kept-alive connection meet libmicrohttpd's own checks
 * (docs/SERVE.md).
 */
#include "serve/serve_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLICE_MS 100 /* how often a waiting check looks at the stop flag */

/* ------------------------------------------------ the rules, on bytes */

static int tchar(int c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

#define HEAD_BAD(e, ...) \
	kiln__apierr_set(e, 400, "invalid_request_error", "bad_request", \
			 NULL, __VA_ARGS__)

/* One header line p[0..n) (no CRLF). */
static int header_line(const char *p, size_t n, size_t max_body,
		       long long *cl, int *chunked, struct kiln__apierr *e)
{
	size_t k = 0, v, end;
	unsigned long long x = 0;

	while (k < n && tchar((unsigned char)p[k]))
		k++;
	if (k == 0 || k == n || p[k] != ':')
		return HEAD_BAD(e, "malformed header line: %.*s%s",
				(int)(n > 60 ? 60 : n), p, n > 60 ? "..." : "");
	v = k + 1;
	while (v < n && (p[v] == ' ' || p[v] == '\t'))
		v++;
	end = n;
	while (end > v && (p[end - 1] == ' ' || p[end - 1] == '\t'))
		end--;
	for (size_t i = v; i < end; i++)
		if ((unsigned char)p[i] < 0x20 && p[i] != '\t')
			return HEAD_BAD(e, "a control character in header %.*s",
					(int)(k > 60 ? 60 : k), p);
	if (k == 14 && !strncasecmp(p, "content-length", 14)) {
		if (v == end || end - v > 19)
			goto bad_length;
		for (size_t i = v; i < end; i++) {
			if (p[i] < '0' || p[i] > '9')
				goto bad_length;
			x = x * 10 + (unsigned)(p[i] - '0');
		}
		if (*cl >= 0 && (unsigned long long)*cl != x)
			return HEAD_BAD(e, "two different Content-Length "
					"headers");
		*cl = (long long)x;
		if (x > max_body)
			return kiln__apierr_set(e, 413, "invalid_request_error",
				"request_too_large", NULL,
				"the request body is larger than %zu bytes",
				max_body);
	} else if (k == 17 && !strncasecmp(p, "transfer-encoding", 17)) {
		if (end - v != 7 || strncasecmp(p + v, "chunked", 7))
			return kiln__apierr_set(e, 501, "invalid_request_error",
				"not_implemented", NULL, "Transfer-Encoding "
				"%.*s: only chunked is supported",
				(int)(end - v > 40 ? 40 : end - v), p + v);
		*chunked = 1;
	}
	return 0;
bad_length:
	if (end - v > 19 && end > v) {
		int digits = 1;

		for (size_t i = v; i < end; i++)
			digits &= p[i] >= '0' && p[i] <= '9';
		if (digits)
			return kiln__apierr_set(e, 413, "invalid_request_error",
				"request_too_large", NULL,
				"the request body is larger than %zu bytes",
				max_body);
	}
	return HEAD_BAD(e, "Content-Length must be a number of bytes, not "
			"'%.*s'", (int)(end - v > 40 ? 40 : end - v), p + v);
}

/* The request line p[0..n) (no CRLF): METHOD SP TARGET SP HTTP/1.x */
static int request_line(const char *p, size_t n, struct kiln__apierr *e)
{
	size_t m = 0, t, te;

	while (m < n && tchar((unsigned char)p[m]))
		m++;
	if (m == 0 || m == n || p[m] != ' ')
		goto bad;
	t = m + 1;
	te = t;
	while (te < n && (unsigned char)p[te] > 0x20 && p[te] != 0x7f)
		te++;
	if (te == t || te == n || p[te] != ' ')
		goto bad;
	if (n - te - 1 != 8 || memcmp(p + te + 1, "HTTP/", 5) ||
	    !isdigit((unsigned char)p[te + 6]) || p[te + 7] != '.' ||
	    !isdigit((unsigned char)p[te + 8]))
		goto bad;
	if (p[te + 6] != '1')
		return kiln__apierr_set(e, 505, "invalid_request_error",
			"http_version_not_supported", NULL,
			"HTTP version %.8s is not supported (use HTTP/1.1)",
			p + te + 1);
	return 0;
bad:
	return HEAD_BAD(e, "malformed request line (expected METHOD /path "
			"HTTP/1.1): %.*s%s", (int)(n > 60 ? 60 : n), p,
			n > 60 ? "..." : "");
}

int kiln__guard_head(const char *p, size_t n, size_t max_head,
		     size_t max_body, struct kiln__apierr *e)
{
	size_t i = 0, line = 0, end, next;
	long long cl = -1;
	int chunked = 0, rc;

	/* leading empty lines are ignored (RFC 9112, 2.2) */
	for (;;) {
		if (i + 1 < n && p[i] == '\r' && p[i + 1] == '\n')
			i += 2;
		else if (i < n && p[i] == '\n')
			i++;
		else
			break;
	}
	for (;;) {
		const char *nl = memchr(p + i, '\n', n - i);

		if (!nl) {
			if (n >= max_head)
				goto too_big;
			return 1;
		}
		end = (size_t)(nl - p);
		if (end + 1 > max_head)
			goto too_big;
		next = end + 1;
		if (end > i && p[end - 1] == '\r')
			end--; /* CR LF, or LF alone (RFC 9112, 2.2) */
		if (end == i)
			break; /* the blank line */
		if (memchr(p + i, '\0', end - i))
			return HEAD_BAD(e, "a NUL byte in the request head");
		if (line == 0)
			rc = request_line(p + i, end - i, e);
		else if (p[i] == ' ' || p[i] == '\t')
			rc = HEAD_BAD(e, "folded header lines are not "
				      "accepted");
		else
			rc = header_line(p + i, end - i, max_body, &cl,
					 &chunked, e);
		if (rc)
			return rc;
		line++;
		i = next;
	}
	if (line == 0)
		return HEAD_BAD(e, "an empty request");
	if (chunked && cl >= 0)
		return HEAD_BAD(e, "both Content-Length and Transfer-Encoding");
	return 0;
too_big:
	return kiln__apierr_set(e, 431, "invalid_request_error",
		"headers_too_large", NULL, "the request head is larger than "
		"%zu bytes", max_head);
}

/* --------------------------------------------------- the socket side */

struct kiln__guard {
	struct kiln__guard_cfg cfg;
	int fd;                  /* listening; -1 once closed */
	int port;
	int wake[2];             /* a pipe: closing wakes the accept loop */
	pthread_t thread;
	int started;
	pthread_mutex_t lock;
	pthread_cond_t gone;     /* checks dropped to 0 */
	int checks;              /* connections being checked */
	int stopping;
};

struct check {
	struct kiln__guard *g;
	int fd;
	struct sockaddr_storage addr;
	socklen_t len;
};

static const char *reason(unsigned status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

static int stopping(struct kiln__guard *g)
{
	int s;

	pthread_mutex_lock(&g->lock);
	s = g->stopping;
	pthread_mutex_unlock(&g->lock);
	return s;
}

/* Answers e as JSON and closes fd. With `drain`, the client's unread
 * bytes are read and dropped for up to a second first: closing with them
 * unread would reset the connection, and the client might lose the
 * answer. (The accept thread answers without: it must not wait.) */
static void answer(struct kiln__guard *g, int fd, const struct kiln__apierr *e,
		   int drain)
{
	json_t *j = kiln__openai_error(e);
	char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	char head[256], sink[4096];
	int hn;
	size_t drained = 0;

	json_decref(j);
	if (body) {
		hn = snprintf(head, sizeof(head), "HTTP/1.1 %u %s\r\n"
			      "Content-Type: application/json\r\n"
			      "Content-Length: %zu\r\nConnection: close\r\n"
			      "%s\r\n", e->status, reason(e->status),
			      strlen(body), e->status == 503 ?
			      "Retry-After: 1\r\n" : "");
		if (send(fd, head, (size_t)hn, MSG_NOSIGNAL) == hn)
			(void)!send(fd, body, strlen(body), MSG_NOSIGNAL);
		free(body);
	}
	shutdown(fd, SHUT_WR);
	for (int t = 0; drain && t < 10 && drained < ((size_t)1 << 20) &&
			!stopping(g); t++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, SLICE_MS) <= 0)
			continue;
		r = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (r <= 0)
			break;
		drained += (size_t)r;
	}
	close(fd);
	if (g->cfg.log) {
		char line[200];

		snprintf(line, sizeof(line), "refused a request head: %u %s",
			 e->status, e->code);
		g->cfg.log(g->cfg.log_ctx, line);
	}
}

static void *check_main(void *arg)
{
	struct check *c = arg;
	struct kiln__guard *g = c->g;
	size_t cap = g->cfg.max_head + 1;
	char *buf = malloc(cap);
	struct kiln__apierr e;
	time_t until = time(NULL) + g->cfg.timeout_s;
	int rc = 1, lowat;
	ssize_t n = 0;

	while (buf && rc == 1) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int pr;

		if (stopping(g) || time(NULL) > until) {
			rc = 2;
			break;
		}
		/* wake only when more than the n bytes seen are there */
		lowat = (int)n + 1;
		setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat,
			   sizeof(lowat));
		pr = poll(&pfd, 1, SLICE_MS);
		if (pr < 0 && errno != EINTR) {
			rc = 2;
			break;
		}
		if (pr <= 0)
			continue;
		n = recv(c->fd, buf, cap, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			rc = 2; /* the client left */
			break;
		}
		if (n < 0) {
			n = 0;
			continue;
		}
		rc = kiln__guard_head(buf, (size_t)n, g->cfg.max_head,
				      g->cfg.max_body, &e);
	}
	free(buf);
	if (rc == 0) {
		lowat = 1;
		setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat,
			   sizeof(lowat));
		g->cfg.pass(g->cfg.pass_ctx, c->fd,
			    (const struct sockaddr *)&c->addr, c->len);
	} else if (rc < 0) {
		answer(g, c->fd, &e, 1);
	} else {
		close(c->fd); /* gone, silent, stopping or out of memory */
	}
	free(c);
	pthread_mutex_lock(&g->lock);
	if (--g->checks == 0)
		pthread_cond_broadcast(&g->gone);
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct kiln__guard *g = arg;

	for (;;) {
		struct pollfd pfd[2] = { { .fd = g->fd, .events = POLLIN },
					 { .fd = g->wake[0], .events = POLLIN } };
		struct check *c;
		pthread_attr_t attr;
		pthread_t t;
		int busy;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		c = calloc(1, sizeof(*c));
		if (!c) {
			struct timespec ts = { 0, 10000000L };

			nanosleep(&ts, NULL);
			continue;
		}
		c->g = g;
		c->len = sizeof(c->addr);
		c->fd = accept4(g->fd, (struct sockaddr *)&c->addr, &c->len,
				SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (c->fd < 0) {
			struct timespec ts = { 0, 10000000L };

			free(c);
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				nanosleep(&ts, NULL); /* EMFILE and the like */
			continue;
		}
		pthread_mutex_lock(&g->lock);
		busy = g->checks >= g->cfg.max_checks;
		if (!busy)
			g->checks++;
		pthread_mutex_unlock(&g->lock);
		if (busy) {
			struct kiln__apierr e;

			kiln__apierr_set(&e, 503, "server_error", "too_many_connections",
					 NULL, "too many connections; try again later");
			answer(g, c->fd, &e, 0);
			free(c);
			continue;
		}
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, check_main, c)) {
			close(c->fd);
			free(c);
			pthread_mutex_lock(&g->lock);
			if (--g->checks == 0)
				pthread_cond_broadcast(&g->gone);
			pthread_mutex_unlock(&g->lock);
		}
		pthread_attr_destroy(&attr);
	}
	return NULL;
}

int kiln__guard_start(struct kiln__guard **out, const struct addrinfo *ai,
		      const struct kiln__guard_cfg *cfg, kiln_error *err)
{
	struct kiln__guard *g = calloc(1, sizeof(*g));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1, rc;

	*out = NULL;
	if (!g)
		return kiln_error_set(err, KILN_ENOMEM, "serve: out of memory");
	g->cfg = *cfg;
	g->fd = -1;
	g->wake[0] = g->wake[1] = -1;
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->gone, NULL);
	g->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		       SOCK_NONBLOCK, ai->ai_protocol);
	if (g->fd < 0 ||
	    setsockopt(g->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(g->fd, ai->ai_addr, ai->ai_addrlen) ||
	    listen(g->fd, 128) ||
	    getsockname(g->fd, (struct sockaddr *)&ss, &sl)) {
		rc = kiln_error_set(err, KILN_EIO, "%s", strerror(errno));
		goto fail;
	}
	g->port = ntohs(ss.ss_family == AF_INET6 ?
			((struct sockaddr_in6 *)&ss)->sin6_port :
			((struct sockaddr_in *)&ss)->sin_port);
	if (pipe2(g->wake, O_CLOEXEC)) {
		rc = kiln_error_set(err, KILN_EIO, "%s", strerror(errno));
		goto fail;
	}
	if (pthread_create(&g->thread, NULL, accept_main, g)) {
		rc = kiln_error_set(err, KILN_ENOMEM,
				    "cannot start the accept thread");
		goto fail;
	}
	g->started = 1;
	*out = g;
	return 0;
fail:
	kiln__guard_free(g);
	return rc;
}

int kiln__guard_port(const struct kiln__guard *g)
{
	return g->port;
}

void kiln__guard_close(struct kiln__guard *g)
{
	if (!g)
		return;
	if (g->started) {
		(void)!write(g->wake[1], "x", 1);
		pthread_join(g->thread, NULL);
		g->started = 0;
	}
	if (g->fd >= 0) {
		close(g->fd);
		g->fd = -1;
	}
}

void kiln__guard_free(struct kiln__guard *g)
{
	if (!g)
		return;
	kiln__guard_close(g);
	pthread_mutex_lock(&g->lock);
	g->stopping = 1;
	while (g->checks > 0)
		pthread_cond_wait(&g->gone, &g->lock);
	pthread_mutex_unlock(&g->lock);
	for (int i = 0; i < 2; i++)
		if (g->wake[i] >= 0)
			close(g->wake[i]);
	pthread_cond_destroy(&g->gone);
	pthread_mutex_destroy(&g->lock);
	free(g);
}
