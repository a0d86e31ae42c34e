/* What every command shares: parsing with its table, usage, errors,
 * small files. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

volatile int cli_stop_sig;

static void on_stop_signal(int sig)
{
	cli_stop_sig = sig;
}

void cli_catch_stop(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "kiln: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_print_json(const char *cmd, const json_t *j, size_t flags)
{
	/* every step checked: a full stdout (>/dev/full) is an error */
	if (!j || json_dumpf(j, stdout, flags) != 0 || putchar('\n') == EOF ||
	    fflush(stdout) != 0) {
		cli_error(cmd, "standard output: %s", j ? strerror(errno) :
			  "out of memory");
		return 1;
	}
	return 0;
}

/* "verify" or "tokenizer: train", for messages. */
static void where_of(const cli_cmd *cmd, char *b, size_t n)
{
	if (cmd->parent)
		snprintf(b, n, "%s: %s", cmd->parent, cmd->name);
	else
		snprintf(b, n, "%s", cmd->name);
}

void cli_usage(const cli_cmd *cmd, const void *opts, FILE *f)
{
	fprintf(f, "%s\n", cmd->synopsis);
	if (cmd->about)
		fprintf(f, "\n%s", cmd->about);
	fputc('\n', f);
	if (cmd->opts) {
		kiln_opts_usage(cmd->opts, opts, f);
		fputs("      --config FILE        these options as a JSON object "
		      "{\"name\": value, ...};\n"
		      "                           flags given too win\n"
		      "      --print-config       print the options as such an "
		      "object, and exit\n"
		      "  -h, --help               this text\n", f);
	}
	if (cmd->subs) {
		int w = 0;

		/* One column for the summaries, as wide as the longest name. */
		for (int i = 0; cmd->subs[i]; i++)
			if ((int)strlen(cmd->subs[i]->name) > w)
				w = (int)strlen(cmd->subs[i]->name);
		fputs("commands:\n", f);
		for (int i = 0; cmd->subs[i]; i++)
			fprintf(f, "  %-*s  %s\n", w, cmd->subs[i]->name,
				cmd->subs[i]->summary);
	}
	if (cmd->after)
		fprintf(f, "\n%s", cmd->after);
}

/* The objects read by --config: their strings are the options' values, so
 * they live until the process ends. */
static json_t *configs;

static void free_configs(void)
{
	json_decref(configs);
}

/* --config FILE (or --config=FILE), before the flags: applies the JSON
 * object in FILE to opts through the command's table, and takes the two
 * words out of argv; --print-config sets *print and goes likewise.
 * Returns 0, or KILN_EINVAL with err set. */
static int apply_config(const cli_cmd *cmd, int *argc, char **argv,
			void *opts, int *print, kiln_error *err)
{
	for (int i = 1; i < *argc && strcmp(argv[i], "--"); i++) {
		const char *path;
		json_error_t jerr;
		json_t *j;
		int n;

		if (strcmp(argv[i], "--print-config") == 0) {
			*print = 1;
			memmove(argv + i, argv + i + 1,
				(size_t)(*argc - i) * sizeof *argv);
			(*argc)--;
			i--;
			continue;
		}
		if (strcmp(argv[i], "--config") == 0 && i + 1 < *argc)
			path = argv[i + 1], n = 2;
		else if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9, n = 1;
		else
			continue;
		if (!configs) {
			if (!(configs = json_array()))
				return kiln_error_set(err, KILN_ENOMEM,
						      "out of memory");
			atexit(free_configs);
		}
		j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
		if (!j)
			return kiln_error_set(err, KILN_EINVAL, "--config: %s:%d:"
					      " %s", path, jerr.line, jerr.text);
		json_array_append_new(configs, j);
		if (kiln_opts_from_json(cmd->opts, j, opts, err))
			return kiln_error_prefix(err, "--config: %s: ", path);
		memmove(argv + i, argv + i + n,
			(size_t)(*argc - i - n + 1) * sizeof *argv);
		*argc -= n;
		i--;
	}
	return 0;
}

int cli_parse(const cli_cmd *cmd, int argc, char **argv, void *opts,
	      size_t opts_size, int *npos)
{
	void *defaults = malloc(opts_size);
	char where[64];
	kiln_error err;
	int rc, print = 0;

	where_of(cmd, where, sizeof where);
	if (!defaults) {
		cli_error(where, "out of memory");
		return 1;
	}
	memcpy(defaults, opts, opts_size);
	rc = apply_config(cmd, &argc, argv, opts, &print, &err);
	if (rc == 0)
		rc = kiln_opts_parse(cmd->opts, argc, argv, opts, npos, &err);
	if (rc == 0 && print) {
		json_t *j = NULL;

		/* what --config would take to do the same */
		rc = kiln_opts_to_json(cmd->opts, opts, &j, &err);
		if (rc)
			cli_error(where, "%s", err.msg);
		else
			rc = cli_print_json(where, j, JSON_INDENT(2) |
					    JSON_PRESERVE_ORDER |
					    JSON_REAL_PRECISION(15));
		json_decref(j);
		free(defaults);
		return rc ? 1 : 0;
	}
	if (rc == KILN_OPTS_HELP) {
		cli_usage(cmd, defaults, stdout);
		rc = 0;
	} else if (rc) {
		cli_error(where, "%s", err.msg);
		fprintf(stderr, "Run 'kiln %s%s%s --help' for the options.\n",
			cmd->parent ? cmd->parent : "", cmd->parent ? " " : "",
			cmd->name);
		rc = 2;
	} else {
		rc = CLI_GO;
	}
	free(defaults);
	return rc;
}

int cli_dispatch(const cli_cmd *cmd, int argc, char **argv)
{
	char *help_argv[4] = { "help", NULL, "--help", NULL };
	const char *sub;

	if (argc < 2) {
		cli_usage(cmd, NULL, stderr);
		return 2;
	}
	sub = argv[1];
	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
		cli_usage(cmd, NULL, stdout);
		return 0;
	}
	if (strcmp(sub, "help") == 0 && argc == 3) {
		/* 'kiln help verify' is 'kiln verify --help' */
		help_argv[1] = argv[2];
		argv = help_argv, argc = 3, sub = help_argv[1];
	} else if (strcmp(sub, "help") == 0) {
		cli_usage(cmd, NULL, stdout);
		return 0;
	}
	for (int i = 0; cmd->subs[i]; i++)
		if (strcmp(sub, cmd->subs[i]->name) == 0)
			return cmd->subs[i]->run(argc - 1, argv + 1);
	if (cmd->parent || strcmp(cmd->name, "kiln"))
		cli_error(cmd->name, "unknown command '%s'", sub);
	else
		fprintf(stderr, "kiln: unknown command '%s'\n", sub);
	fputc('\n', stderr);
	cli_usage(cmd, NULL, stderr);
	return 2;
}

char *cli_read_file(const char *path)
{
	enum { CAP = 16 << 20 };
	FILE *f = fopen(path, "rb");
	struct stat sb;
	char *buf = NULL, *p;
	size_t n = 0, size = 0;

	if (!f)
		return NULL;
	if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
		fclose(f);
		errno = EISDIR;
		return NULL;
	}
	/* read as it comes: a pipe or /dev/stdin has no size to ask for */
	for (;;) {
		if (n == size) {
			if (size > CAP) {
				errno = EFBIG;
				goto fail;
			}
			size = size ? size * 2 : 4096;
			if (!(p = realloc(buf, size + 1)))
				goto fail;
			buf = p;
		}
		n += fread(buf + n, 1, size - n, f);
		if (n < size)
			break;
	}
	if (ferror(f) || n > CAP) {
		errno = ferror(f) ? EIO : EFBIG;
		goto fail;
	}
	fclose(f);
	buf[n] = '\0';
	return buf;
fail:
	free(buf);
	fclose(f);
	return NULL;
}

int cli_read_option_file(const char *cmd, const char *opt, const char *path,
			 char **text)
{
	*text = cli_read_file(path);
	if (!*text) {
		cli_error(cmd, "--%s: %s: %s", opt, path, errno == EFBIG
			  ? "larger than 16 MiB" : strerror(errno));
		return 1;
	}
	if (!**text) {
		cli_error(cmd, "--%s: %s is empty", opt, path);
		free(*text);
		*text = NULL;
		return 1;
	}
	return 0;
}
