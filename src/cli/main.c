/* kiln: verified synthetic training data for code models.
 *
 * One table of commands gives both the dispatch and 'kiln --help'; each
 * command's file holds its option table and its usage text. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "kiln/output.h"

#ifndef KILN_VERSION
#define KILN_VERSION "0.0.0"
#endif

static const cli_cmd *const commands[] = {
	&cli_run,
	&cli_import,
	&cli_bank,
	&cli_generate,
	&cli_verify,
	&cli_test_rates,
	&cli_languages,
	&cli_dedup,
	&cli_eval,
	&cli_select,
	&cli_score,
	&cli_rewrite,
	&cli_decontam,
	&cli_export,
	&cli_report,
	&cli_store,
	&cli_tokenizer,
	&cli_train,
	&cli_teacher,
	&cli_sample,
	&cli_serve,
	NULL,
};

static int run_kiln(int argc, char **argv);

static const cli_cmd kiln = {
	.name = "kiln",
	.summary = "verified synthetic training data for code models",
	.run = run_kiln,
	.subs = commands,
	.synopsis = "usage: kiln [--version] [--help] <command> [options]",
	.about =
"kiln makes verified synthetic training data for code models: candidate\n"
"solutions run against unit tests in a sandbox, and only what passes is kept.\n",
	.after =
"Run 'kiln <command> --help' (or 'kiln help <command>') for a command's\n"
"options. Record formats: docs/FORMATS.md. Design: docs/ARCHITECTURE.md.\n",
};

static int run_kiln(int argc, char **argv)
{
	return cli_dispatch(&kiln, argc, argv);
}

/* OpenMP threads that reach a barrier first spin for a long while
 * (libgomp: 300,000 turns) before they sleep. On a machine where other work
 * competes for the two cores, the spinning thread burns the time slice the
 * thread it waits for needs: a batched decoding step took 87 ms instead of
 * 3. The model's commands therefore run with a short spin unless the user
 * chose a policy; training, whose steps are long next to a wake-up, does
 * not spin at all (OMP_WAIT_POLICY=passive): 60 steps of kiln
 * teacher-train on 2 threads at load average 6 took 101 s with a spin of
 * 10,000 turns, 29 s with 1,000 and 19 s passive, for 23, 17 and 16 s of
 * CPU. libgomp reads its settings once, when it is loaded (OpenBLAS is
 * Debian's OpenMP build, so the same settings hold for it), so kiln
 * executes itself again with the variable set (same pid; if that fails it
 * simply goes on). */
static void short_omp_spin(char **argv, int how)
{
	if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT"))
		return;
	if (how == CLI_OMP_PASSIVE
	    ? setenv("OMP_WAIT_POLICY", "passive", 1) == 0
	    : setenv("GOMP_SPINCOUNT", "10000", 1) == 0)
		execv("/proc/self/exe", argv);
}

/* A signal that ends kiln takes the temporary files of its outputs with
 * it (commands that stop cleanly on a signal, such as verify and train,
 * install their own handlers). */
static void on_fatal_signal(int sig)
{
	kiln_output_unlink_temps();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Before any command: a file size limit (ulimit -f) makes write() fail
 * with EFBIG, which kiln reports with the path, instead of killing it
 * without a word (SIGXFSZ). Programs run in the sandbox get the default
 * back (the harness resets it before an exec). */
static void set_signals(void)
{
	static const int fatal[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = on_fatal_signal };

	signal(SIGXFSZ, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) {
		struct sigaction old;

		/* a signal ignored by whoever started kiln stays ignored */
		if (sigaction(fatal[i], NULL, &old) == 0 &&
		    old.sa_handler != SIG_IGN)
			sigaction(fatal[i], &sa, NULL);
	}
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--version") == 0 ||
			  strcmp(argv[1], "version") == 0)) {
		printf("kiln %s\n", KILN_VERSION);
		return 0;
	}
	for (int i = 0; argc >= 2 && commands[i]; i++)
		if (commands[i]->omp && strcmp(argv[1], commands[i]->name) == 0)
			short_omp_spin(argv, commands[i]->omp);
	set_signals();
	return run_kiln(argc, argv);
}
