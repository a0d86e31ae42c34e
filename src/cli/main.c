/* kiln: verified synthetic training data for code models. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#ifndef KILN_VERSION
#define KILN_VERSION "0.0.0"
#endif

static const char usage[] =
"usage: kiln [--version] [--help] <command> [options]\n"
"\n"
"kiln makes verified synthetic training data for code models: candidate\n"
"solutions run against unit tests in a sandbox, and only what passes is kept.\n"
"\n"
"commands:\n"
"  import    convert a published benchmark (HumanEval, MBPP) to kiln tasks\n"
"  generate  ask a teacher model (OpenAI-compatible API) for solutions and tests\n"
"  verify    run solutions against their tests in the sandbox; write verdicts\n"
"  eval      a model's pass@k on a benchmark, verified in the sandbox\n"
"  store     list a store's items, count them by state and kind\n"
"  tokenizer train, use and inspect a byte-level BPE tokenizer\n"
"  train     train the small GPT on code files or chat samples (CPU)\n"
"  sample    continue a prompt with a trained model (streams to stdout)\n"
"  serve     serve a model over the OpenAI-compatible HTTP API\n"
"\n"
"Run 'kiln <command> --help' for a command's options.\n"
"Record formats: docs/FORMATS.md. Design: docs/ARCHITECTURE.md.\n";

void cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "kiln: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

long cli_parse_duration_ms(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || !isfinite(v))
		return -1;
	if (strcmp(end, "ms") == 0)
		;
	else if (strcmp(end, "s") == 0 || *end == '\0')
		v *= 1000;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		v *= 60000;
	else
		return -1;
	if (v > 1e12)
		return -1;
	return (long)(v + 0.5);
}

long long cli_parse_size(const char *s)
{
	char *end;
	double v;
	double mul = 1;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || !isfinite(v))
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mul = 1024.0; end++; break;
	case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
	case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
	default: return -1;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0' || v * mul > 9e18)
		return -1;
	return (long long)(v * mul);
}

char *cli_read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    n < (16 << 20) && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) &&
	    fread(buf, 1, (size_t)n, f) == (size_t)n)
		buf[n] = '\0';
	else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* OpenMP threads that reach a barrier first spin for a long while
 * (libgomp: 300,000 turns) before they sleep. On a machine where other work
 * competes for the two cores, the spinning thread burns the time slice the
 * thread it waits for needs: a batched decoding step took 87 ms instead of
 * 3. The model's commands therefore run with a short spin unless the user
 * chose a policy. libgomp reads its settings once, when it is loaded, so
 * kiln executes itself again with the variable set (same pid; if that
 * fails it simply goes on). */
static void short_omp_spin(char **argv)
{
	if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT"))
		return;
	if (setenv("GOMP_SPINCOUNT", "10000", 1) == 0)
		execv("/proc/self/exe", argv);
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("kiln %s\n", KILN_VERSION);
		return 0;
	}
	if (strcmp(cmd, "train") == 0 || strcmp(cmd, "sample") == 0 ||
	    strcmp(cmd, "serve") == 0)
		short_omp_spin(argv);
	if (strcmp(cmd, "import") == 0)
		return cmd_import(argc - 1, argv + 1);
	if (strcmp(cmd, "verify") == 0)
		return cmd_verify(argc - 1, argv + 1);
	if (strcmp(cmd, "generate") == 0)
		return cmd_generate(argc - 1, argv + 1);
	if (strcmp(cmd, "eval") == 0)
		return cmd_eval(argc - 1, argv + 1);
	if (strcmp(cmd, "store") == 0)
		return cmd_store(argc - 1, argv + 1);
	if (strcmp(cmd, "sample") == 0)
		return cmd_sample(argc - 1, argv + 1);
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(cmd, "tokenizer") == 0)
		return cmd_tokenizer(argc - 1, argv + 1);
	if (strcmp(cmd, "train") == 0)
		return cmd_train(argc - 1, argv + 1);
	fprintf(stderr, "kiln: unknown command '%s'\n\n%s", cmd, usage);
	return 2;
}
