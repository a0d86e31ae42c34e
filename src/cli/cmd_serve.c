/* kiln serve: the OpenAI-compatible server over a checkpoint. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kiln/model.h"
#include "kiln/serve.h"
#include "kiln/tokenizer.h"

static const char help[] =
"usage: kiln serve --model MODEL.bin [options]\n"
"\n"
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
"model. A prompt that leaves no room in the model's context is refused (400).\n"
"\n"
"options:\n"
"  -m, --model FILE         a checkpoint from 'kiln train' (required)\n"
"      --host ADDR          address to listen on (default 127.0.0.1)\n"
"  -p, --port N             port (default 8080; 0 = any free port, printed)\n"
"      --model-name NAME    the model's name in answers (default: the file's\n"
"                           name without directory and .bin)\n"
"      --max-batch N        sequences decoded together (default 8)\n"
"      --queue N            requests waiting for a slot; more get 503\n"
"                           (default 64)\n"
"      --max-body SIZE      largest request body; more gets 413 (default 4M)\n"
"      --drain-timeout DUR  on SIGTERM/SIGINT, wait this long for requests\n"
"                           in flight (default 120s)\n"
"  -q, --quiet              no line per request on stderr\n"
"  -h, --help               this text\n"
"\n"
"On SIGTERM or SIGINT it stops accepting connections, answers the requests\n"
"it has, and exits 0. Threads: OMP_NUM_THREADS (default: one per core).\n";

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

static int parse_int(const char *s, long lo, long hi, int *v)
{
	char *end;
	long x;

	errno = 0;
	x = strtol(s, &end, 10);
	if (errno || end == s || *end || x < lo || x > hi)
		return -1;
	*v = (int)x;
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	enum { O_HOST = 256, O_NAME, O_BATCH, O_QUEUE, O_BODY, O_DRAIN };
	static const struct option opts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "host", required_argument, NULL, O_HOST },
		{ "port", required_argument, NULL, 'p' },
		{ "model-name", required_argument, NULL, O_NAME },
		{ "max-batch", required_argument, NULL, O_BATCH },
		{ "queue", required_argument, NULL, O_QUEUE },
		{ "max-body", required_argument, NULL, O_BODY },
		{ "drain-timeout", required_argument, NULL, O_DRAIN },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	kiln_serve_config cfg;
	kiln_error err = { 0, "" };
	kiln_gpt *m = NULL;
	kiln_tok *tok = NULL;
	kiln_blob blob = { 0 };
	kiln_server *srv = NULL;
	const char *model = NULL;
	char *name = NULL;
	long drain_ms = 120000;
	long long body;
	sigset_t sigs;
	int c, sig, rc = 1, quiet = 0, v6;

	kiln_serve_config_default(&cfg);
	cfg.model_name = NULL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "m:p:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model = optarg; break;
		case O_HOST: cfg.host = optarg; break;
		case O_NAME: cfg.model_name = optarg; break;
		case 'q': quiet = 1; break;
		case 'p':
			if (parse_int(optarg, 0, 65535, &cfg.port)) {
				cli_error("serve", "--port %s: expected 0..65535",
					  optarg);
				return 2;
			}
			break;
		case O_BATCH:
			if (parse_int(optarg, 1, 4096, &cfg.max_batch)) {
				cli_error("serve", "--max-batch %s: expected "
					  "1..4096", optarg);
				return 2;
			}
			break;
		case O_QUEUE:
			if (parse_int(optarg, 0, 1000000, &cfg.queue)) {
				cli_error("serve", "--queue %s: expected "
					  "0..1000000", optarg);
				return 2;
			}
			break;
		case O_BODY:
			body = cli_parse_size(optarg);
			if (body < 1) {
				cli_error("serve", "--max-body %s: expected a "
					  "size such as 4M", optarg);
				return 2;
			}
			cfg.max_body = (size_t)body;
			break;
		case O_DRAIN:
			drain_ms = cli_parse_duration_ms(optarg);
			if (drain_ms < 0) {
				cli_error("serve", "--drain-timeout %s: expected "
					  "a duration such as 30s", optarg);
				return 2;
			}
			break;
		case 'h':
			fputs(help, stdout);
			return 0;
		default:
			fputs(help, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		cli_error("serve", "unexpected argument '%s'", argv[optind]);
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

	if (kiln_gpt_load(model, &m, &blob, NULL, &err) ||
	    kiln_tok_deserialize(&tok, blob.data, blob.len, &err) ||
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
	free(blob.data);
	free(name);
	return rc;
}
