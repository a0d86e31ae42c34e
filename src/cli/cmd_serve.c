/* kiln serve: the OpenAI-compatible server over a checkpoint. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kiln/model.h"
#include "kiln/serve.h"
#include "kiln/tokenizer.h"

struct serve_args {
	kiln_serve_config c;
	const char *model;
	long drain_ms;
	int quiet;
};

#define A struct serve_args
static const kiln_opt serve_opts[] = {
	KILN_OPT_ROW_PATH("model", 'm', A, model, "FILE",
		"a checkpoint from 'kiln train' (required)"),
	KILN_OPT_ROW_STRING("host", 0, A, c.host, "ADDR",
		"address to listen on"),
	KILN_OPT_ROW_INT("port", 'p', A, c.port, 0, 65535, "N",
		"port; 0 = any free port, printed"),
	{ .name = "model-name", .kind = KILN_OPT_STRING, .arg = "NAME",
	  KILN_OPT_F_(A, c.model_name),
	  .def = "the file's name without directory and .bin",
	  .help = "the model's name in answers" },
	KILN_OPT_ROW_INT("max-batch", 0, A, c.max_batch, 1, 4096, "N",
		"sequences decoded together"),
	KILN_OPT_ROW_INT("queue", 0, A, c.queue, 0, 1000000, "N",
		"requests waiting for a slot; more get 503"),
	KILN_OPT_ROW_SIZE("max-body", 0, A, c.max_body, 1, 1LL << 30,
		"largest request body; more gets 413"),
	KILN_OPT_ROW_DURATION("drain-timeout", 0, A, drain_ms, 0,
		CLI_MAX_DURATION_MS, "on SIGTERM/SIGINT, wait this long for "
		"requests in flight"),
	CLI_OPT_QUIET(A, quiet, "no line per request on stderr"),
	KILN_OPT_ROW_END,
};
#undef A

static void log_line(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "kiln serve: %s\n", line);
}

/* "dir/name.bin" -> "name" (malloc'd). */
static char *name_of(const char *path)
{
	const char *b = strrchr(path, '/');
	char *n = strdup(b ? b + 1 : path);
	size_t len = n ? strlen(n) : 0;

	if (len > 4 && !strcmp(n + len - 4, ".bin"))
		n[len - 4] = '\0';
	return n;
}

static int run_serve(int argc, char **argv)
{
	struct serve_args a;
	kiln_serve_config cfg;
	kiln_error err = { 0, "" };
	kiln_gpt *m = NULL;
	kiln_tok *tok = NULL;
	kiln_server *srv = NULL;
	const char *model;
	char *name = NULL;
	long drain_ms;
	sigset_t sigs;
	int sig, rc, quiet, v6, npos;

	memset(&a, 0, sizeof(a));
	kiln_serve_config_default(&a.c);
	a.c.model_name = NULL;
	a.drain_ms = 120000;
	if ((rc = cli_parse(&cli_serve, argc, argv, &a, sizeof a, &npos)) !=
	    CLI_GO)
		return rc;
	rc = 1;
	cfg = a.c, model = a.model, drain_ms = a.drain_ms, quiet = a.quiet;
	if (npos > 0) {
		cli_error("serve", "unexpected argument '%s'", argv[1]);
		return 2;
	}
	if (!model) {
		cli_error("serve", "give --model FILE (see --help)");
		return 2;
	}
	if (!cfg.model_name) {
		if (!(name = name_of(model))) {
			cli_error("serve", "out of memory");
			return 1;
		}
		cfg.model_name = name;
	} else if (!*cfg.model_name) {
		cli_error("serve", "--model-name must not be empty");
		return 2;
	}
	if (!quiet)
		cfg.log = log_line;

	/* Every thread the server starts inherits this mask: the signals
	 * reach only sigwait below. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (kiln_model_open(model, &m, &tok, NULL, NULL, &err) ||
	    kiln_serve_start(&srv, m, tok, &cfg, &err)) {
		cli_error("serve", "%s", err.msg);
		goto out;
	}
	v6 = strchr(cfg.host, ':') != NULL;
	fprintf(stderr, "kiln serve: listening on http://%s%s%s:%d/v1 (model "
		"%s: %d layers, d_model %d, context %d, vocab %d; max batch %d, "
		"queue %d)\n", v6 ? "[" : "", cfg.host, v6 ? "]" : "",
		kiln_serve_port(srv), cfg.model_name, m->cfg.n_layer,
		m->cfg.d_model, m->cfg.n_ctx, m->cfg.vocab, cfg.max_batch,
		cfg.queue);
	if (sigwait(&sigs, &sig)) {
		cli_error("serve", "sigwait failed");
		goto out;
	}
	fprintf(stderr, "kiln serve: %s: draining (requests in flight finish)\n",
		sig == SIGINT ? "SIGINT" : "SIGTERM");
	if (kiln_serve_drain(srv, drain_ms, &err)) {
		cli_error("serve", "%s", err.msg);
		goto out;
	}
	fprintf(stderr, "kiln serve: stopped\n");
	rc = 0;
out:
	kiln_serve_free(srv);
	kiln_tok_free(tok);
	kiln_gpt_free(m);
	free(name);
	return rc;
}

const cli_cmd cli_serve = {
	.name = "serve", .run = run_serve, .opts = serve_opts,
	.summary = "serve a model over the OpenAI-compatible HTTP API",
	.omp = CLI_OMP_SPIN,
	.synopsis = "usage: kiln serve --model MODEL.bin [options]",
	.about =
"Serves the model over the OpenAI-compatible API that 'kiln generate', 'kiln\n"
"eval' and other clients speak (docs/SERVE.md):\n"
"\n"
"  POST /v1/chat/completions   messages -> the chat template -> an answer\n"
"  POST /v1/completions        prompt -> its continuation\n"
"  GET  /v1/models             the model's name and configuration\n"
"  GET  /health                status, sequences decoding, requests queued\n"
"\n"
"Parameters: temperature, top_p, top_k, max_tokens, stop (a string or an\n"
"array), seed (choice i uses seed+i), n, stream (server-sent events). Requests\n"
"are decoded together: up to --max-batch sequences share each step of the\n"
"model. A prompt that leaves no room in the model's context is refused (400).\n",
	.after =
"On SIGTERM or SIGINT it stops accepting connections, answers the requests\n"
"it has, and exits 0. Threads: OMP_NUM_THREADS (default: one per core).\n",
};
