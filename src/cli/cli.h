/* The command-line front end: a table of commands (main.c), each a thin
 * file with an option table (kiln/opt.h) that fills its options struct.
 * The CLI uses only the public headers under include/kiln/; the helpers
 * every command shares live in common.c, so commands and main.c do not
 * import each other. */
#ifndef KILN_CLI_H
#define KILN_CLI_H

#include <stddef.h>

#include <jansson.h>

#include "kiln/curate.h"
#include "kiln/jsonl.h"
#include "kiln/opt.h"

/* A command (defined at the end of its file, after its entry function). */
typedef struct cli_cmd {
	const char *name;        /* "verify"; for a subcommand, "train" */
	const char *parent;      /* "tokenizer" for its subcommands, or NULL */
	const char *summary;     /* one line for 'kiln --help' */
	int (*run)(int argc, char **argv);
	const kiln_opt *opts;    /* its option table (NULL: subcommands) */
	const struct cli_cmd *const *subs; /* NULL-terminated, or NULL */
	const char *synopsis;    /* "usage: kiln verify [options] [FILE|-]" */
	const char *about;       /* the text before the options */
	const char *after;       /* the text after them, or NULL */
	int omp;                 /* runs the model: CLI_OMP_SPIN (decoding) or
				    CLI_OMP_PASSIVE (training), main.c */
} cli_cmd;

enum { CLI_OMP_NONE, CLI_OMP_SPIN, CLI_OMP_PASSIVE };

/* The commands, in 'kiln --help' order (main.c's table). */
extern const cli_cmd cli_import, cli_generate, cli_verify, cli_eval,
	cli_store, cli_tokenizer, cli_train, cli_sample, cli_serve, cli_score;
extern const cli_cmd cli_export;
extern const cli_cmd cli_select, cli_decontam, cli_run, cli_report;
extern const cli_cmd cli_rewrite;
extern const cli_cmd cli_dedup;
extern const cli_cmd cli_bank;
extern const cli_cmd cli_teacher;
extern const cli_cmd cli_languages;
extern const cli_cmd cli_test_rates;

/* -q, --quiet: a terminal matter, not an option of a JSON configuration. */
#define CLI_OPT_QUIET(T, M, H) \
	{ .name = "quiet", .short_name = 'q', .kind = KILN_OPT_FLAG, \
	  KILN_OPT_F_(T, M), .flags = KILN_OPT_NO_JSON, .def = "", .help = H }

/* --on-error stop|skip: what a bad input line does, in every command that
 * reads records (an int: 1 = skip). */
extern const char *const cli_on_error[];
#define CLI_OPT_ON_ERROR(T, M) \
	KILN_OPT_ROW_ENUM("on-error", 0, T, M, cli_on_error, "MODE", \
			  "stop at a bad input line, or skip it")

/* cli_parse's answer when the command goes on. */
#define CLI_GO (-1)

/* Parses argv (argv[0] is the command's name) with cmd's table into opts,
 * which holds the defaults (opts_size bytes: --help shows them). Operands
 * end up in argv[1..*npos]. Returns CLI_GO, or the exit status: 0 after
 * --help (usage on stdout), 2 after an error (named on stderr). */
int cli_parse(const cli_cmd *cmd, int argc, char **argv, void *opts,
	      size_t opts_size, int *npos);

/* The command's usage text: synopsis, about, options (defaults from
 * opts), after. */
void cli_usage(const cli_cmd *cmd, const void *opts, FILE *f);

/* A dispatcher over cmd->subs (kiln tokenizer train ...); also 'kiln'. */
int cli_dispatch(const cli_cmd *cmd, int argc, char **argv);

/* SIGINT and SIGTERM for the commands that stop cleanly (the work in
 * flight finishes; what is done is kept or nothing is written):
 * cli_catch_stop() installs handlers that only set cli_stop_sig to the
 * signal's number (0 until then; the exit status is 128 + it), the flag
 * a library's opts.stop points at. */
extern volatile int cli_stop_sig;
void cli_catch_stop(void);

/* "kiln: <cmd>: <msg>" on stderr. */
void cli_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prints j and a newline on stdout and flushes, every step checked.
 * Returns 0, or 1 after saying why on stderr (a full or closed stdout; j
 * NULL: out of memory). */
int cli_print_json(const char *cmd, const json_t *j, size_t flags);

/* A whole small file (templates, prompts; < 16 MiB) as a string, or NULL
 * with errno set (EFBIG when too large). */
char *cli_read_file(const char *path);

/* Reads a text file named by an option into *text, or says why not
 * ("kiln: generate: --template-solution: FILE: No such file ..."); an
 * empty file is an error too. Returns 0 or 1 (the exit status). */
int cli_read_option_file(const char *cmd, const char *opt, const char *path,
			 char **text);

/* Limits every command keeps to. A seed stays exact in every JSON client
 * (2^53) and seed + i cannot overflow. */
#define CLI_MAX_SEED ((1LL << 53) - 1)
#define CLI_MAX_TOKENS (1 << 20)
#define CLI_MAX_DURATION_MS (24LL * 3600 * 1000)

/* Tables that several commands include (stage_opts.c). */
extern const kiln_opt cli_sandbox_opts[];   /* over kiln_verify_opts */
extern const kiln_opt cli_teacher_opts[];   /* over kiln_generate_opts */
extern const kiln_opt cli_mutation_opts[];  /* over kiln_mutation_opts (no
					     * sandbox rows) */
extern const kiln_opt cli_judge_opts[];     /* over kiln_judge_opts */
struct cli_teacher {                        /* the teacher's CLI-only part */
	const char *api_key_env;
	const char *tmpl_solution;           /* a path */
};
extern const kiln_opt cli_teacher_cli_opts[]; /* over struct cli_teacher */

/* The API key named by --api-key-env (if given) into *key. Returns 0 or 2
 * (said on stderr). */
int cli_teacher_key(const char *cmd, const struct cli_teacher *t,
		    const char **key);

/* What every curation command (select, decontam, ...) does around its
 * driver (curate_io.c, docs/CURATE.md): the inputs (operands, or stdin),
 * -o, --dropped and --stats. */
struct cli_curate {
	const char *output, *dropped_path, *stats;   /* options */
	int quiet;
	kiln_jsonl_reader **in;
	size_t nin;
	kiln_out *out, *dropped;
};

#define CLI_CURATE_OPTS(T, M) \
	KILN_OPT_ROW_PATH("output", 'o', T, M.output, "FILE", \
		"write the kept records here (atomically; after an error " \
		"the records written go to FILE.partial)"), \
	KILN_OPT_ROW_PATH("dropped", 0, T, M.dropped_path, "FILE", \
		"write the dropped records here, each with the reason"), \
	KILN_OPT_ROW_PATH("stats", 0, T, M.stats, "FILE", \
		"write the stage's counts as one JSON object (the funnel)"), \
	CLI_OPT_QUIET(T, M.quiet, "no summary line")

/* Checks that no output is an input and opens everything. Returns 0, or
 * the exit status after saying why (everything closed). */
int cli_curate_open(const char *cmd, struct cli_curate *c, int npos,
		    char **operands);
/* After the driver returned rc (derr its error): commits the outputs and
 * the stats and prints the summary, or keeps the partial outputs. Returns
 * the exit status. */
int cli_curate_finish(const char *cmd, struct cli_curate *c, int rc,
		      const kiln_error *derr, kiln_stage_stats *st);
/* Closes and drops everything (an error before the driver ran). */
void cli_curate_close(struct cli_curate *c);

/* Every record of input ("-": stdin), in order, into an array; each must
 * have a string "solution" (else the file and line are named). NULL after
 * saying why on stderr. */
json_t *cli_load_solutions(const char *cmd, const char *input);

#endif
