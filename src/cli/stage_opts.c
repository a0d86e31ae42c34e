/* Option tables that more than one command includes (KILN_OPT_INCLUDE):
 * the sandbox's limits ('kiln verify', 'kiln eval') and the teacher's
 * request options ('kiln generate', 'kiln eval'). One row per option, so a
 * flag means the same, with the same range, wherever it appears. They are
 * written over the library's own option structs, so a 'kiln run'
 * configuration or a worker payload can be checked with them too. */
#include <stddef.h>
#include <stdlib.h>

#include "cli.h"
#include "kiln/generate.h"
#include "kiln/judge.h"
#include "kiln/mutation.h"
#include "kiln/verify.h"

const char *const cli_on_error[] = { "stop", "skip", NULL };

/* --- the sandbox (over kiln_verify_opts) --------------------------------- */

#define V kiln_verify_opts
const kiln_opt cli_sandbox_opts[] = {
	{ .name = "jobs", .short_name = 'j', .kind = KILN_OPT_INT,
	  KILN_OPT_F_(V, jobs), .lo = 1, .hi = 1024, .arg = "N",
	  .def = "one per core", .help = "parallel sandboxes" },
	KILN_OPT_ROW_DURATION("timeout", 0, V, box.limits.timeout_ms, 1,
		CLI_MAX_DURATION_MS,
		"wall clock per test in the sandbox, e.g. 5s, 500ms"),
	KILN_OPT_ROW_SIZE("memory", 0, V, box.limits.memory, 0, 1LL << 44,
		"address space per process, e.g. 512M; 0 = no limit"),
	KILN_OPT_ROW_SIZE("output-limit", 0, V, box.limits.output, 1,
		1LL << 30, "stdout+stderr bytes per run"),
	{ .name = "cpu", .kind = KILN_OPT_DURATION, .arg = "DUR",
	  KILN_OPT_F_(V, box.limits.cpu_ms), .lo = 1,
	  .hi = CLI_MAX_DURATION_MS, .def = "(tests+1) x timeout",
	  .help = "CPU time per process" },
	KILN_OPT_ROW_INT("nproc", 0, V, box.limits.nproc, 2, 100000, "N",
		"processes per sandbox"),
	KILN_OPT_ROW_SIZE("tmpfs", 0, V, box.limits.tmpfs, 1, 1LL << 40,
		"size of the sandbox's writable /tmp"),
	KILN_OPT_ROW_DURATION("compile-timeout", 0, V, box.limits.compile_ms,
		1, CLI_MAX_DURATION_MS,
		"wall clock of a compiled language's build, apart from "
		"--timeout"),
	KILN_OPT_ROW_SIZE("compile-memory", 0, V, box.limits.compile_memory,
		0, 1LL << 44, "address space of a build (the JVM's javac and "
		"go get more: docs/SANDBOX.md); 0 = no limit"),
	KILN_OPT_ROW_FLAG("cold", 0, V, box.cold,
		"start a fresh interpreter per run (slow; for checking that "
		"the warm zygote agrees)"),
	{ .name = "python", .kind = KILN_OPT_PATH, .arg = "PATH",
	  KILN_OPT_F_(V, box.python), .def = "/usr/bin/python3",
	  .help = "interpreter inside the sandbox" },
	KILN_OPT_ROW_END,
};
#undef V

/* --- the teacher (over kiln_generate_opts) ------------------------------- */

#define G kiln_generate_opts
const kiln_opt cli_teacher_opts[] = {
	KILN_OPT_ROW_STRING("backend", 'b', G, llm.base_url, "URL",
		"base URL ending in /v1 (required); or local:MODEL.bin, a "
		"kiln train checkpoint answered in this process (no "
		"server, no HTTP)"),
	KILN_OPT_ROW_STRING("model", 'm', G, model, "NAME",
		"model name sent with each request"),
	KILN_OPT_ROW_FLAG("completions", 0, G, completions,
		"use /completions instead of /chat/completions"),
	KILN_OPT_ROW_INT("choices", 0, G, n, 1, 128, "N",
		"choices per request, the API's n: k samples take ceil(k/N) "
		"requests"),
	KILN_OPT_ROW_DOUBLE("temperature", 't', G, temperature, 0, 2, "T",
		"sampling temperature, 0 = greedy"),
	KILN_OPT_ROW_INT("best-of", 0, G, best_of, 0, 128, "B",
		"each answer the best of B samples by the model's mean token "
		"log-probability (the API's best_of: B x choices; needs a "
		"temperature > 0; kiln serve, vLLM); 0 or 1 = off"),
	{ .name = "top-p", .kind = KILN_OPT_DOUBLE, KILN_OPT_F_(G, top_p),
	  .dlo = 0, .dhi = 1, .flags = KILN_OPT_LO_OPEN, .arg = "P",
	  .help = "nucleus sampling: the most likely tokens that together "
		  "reach P" },
	KILN_OPT_ROW_INT("max-tokens", 0, G, max_tokens, 1, CLI_MAX_TOKENS,
		"N", "tokens per answer at most"),
	KILN_OPT_ROW_INT("seed", 's', G, seed, 0, CLI_MAX_SEED, "S",
		"request i is sent seed S+i"),
	KILN_OPT_ROW_INT("concurrency", 'c', G, llm.concurrency, 1, 4096, "N",
		"requests in flight"),
	KILN_OPT_ROW_DURATION("request-timeout", 0, G, llm.timeout_ms, 1,
		CLI_MAX_DURATION_MS, "per attempt of a request"),
	KILN_OPT_ROW_INT("attempts", 0, G, llm.max_attempts, 1, 100, "N",
		"attempts per request"),
	{ .name = "max-rpm", .kind = KILN_OPT_DOUBLE, .arg = "N",
	  KILN_OPT_F_(G, llm.max_rpm), .dlo = 0, .dhi = 1e9,
	  .def = "0 = no limit", .help = "requests per minute at most" },
	{ .name = "max-input-tpm", .kind = KILN_OPT_DOUBLE, .arg = "N",
	  KILN_OPT_F_(G, llm.max_input_tpm), .dlo = 0, .dhi = 1e12,
	  .def = "0 = no limit", .help = "prompt tokens per minute at most" },
	{ .name = "max-output-tpm", .kind = KILN_OPT_DOUBLE, .arg = "N",
	  KILN_OPT_F_(G, llm.max_output_tpm), .dlo = 0, .dhi = 1e12,
	  .def = "0 = no limit",
	  .help = "completion tokens per minute at most" },
	KILN_OPT_ROW_END,
};
#undef G

/* --- the mutation score (over kiln_mutation_opts) ----------------------- */

#define M kiln_mutation_opts
const kiln_opt cli_mutation_opts[] = {
	KILN_OPT_ROW_INT("max-mutants", 0, M, max_mutants, 0, 1000000, "N",
		"mutants per record at most (a seeded sample); 0 = all"),
	{ .name = "mutant-seed", .kind = KILN_OPT_INT, .arg = "S",
	  KILN_OPT_F_(M, seed), .lo = 0, .hi = 1LL << 53,
	  .help = "seed of the sample of mutants" },
	KILN_OPT_ROW_DOUBLE("mutant-timeout-factor", 0, M, timeout_factor,
		0.001, 1e6, "K",
		"a mutant's test times out after K x the original's slowest "
		"test"),
	KILN_OPT_ROW_DURATION("mutant-timeout-floor", 0, M, timeout_floor_ms,
		1, 24L * 3600 * 1000,
		"... but never sooner than this"),
	KILN_OPT_ROW_INT("batch", 0, M, batch, 1, 1 << 20, "N",
		"records per round (memory: their mutants)"),
	KILN_OPT_ROW_END,
};
#undef M

/* --- the LLM judge (over kiln_judge_opts) -------------------------------- */

#define J kiln_judge_opts
const kiln_opt cli_judge_opts[] = {
	KILN_OPT_ROW_STRING("judge", 0, J, g.llm.base_url, "URL",
		"score each record with an LLM judge at this OpenAI-"
		"compatible base URL (ending in /v1)"),
	KILN_OPT_ROW_STRING("judge-model", 0, J, g.model, "NAME",
		"the judge's model name"),
	KILN_OPT_ROW_DOUBLE("judge-min", 0, J, lo, -1e9, 1e9, "X",
		"the rubric's lowest score"),
	KILN_OPT_ROW_DOUBLE("judge-max", 0, J, hi, -1e9, 1e9, "X",
		"the rubric's highest score"),
	KILN_OPT_ROW_DOUBLE("judge-temperature", 0, J, g.temperature, 0, 2,
		"T", "the judge's sampling temperature"),
	KILN_OPT_ROW_INT("judge-max-tokens", 0, J, g.max_tokens, 1,
		1 << 20, "N", "tokens per judge answer at most"),
	KILN_OPT_ROW_INT("judge-concurrency", 0, J, g.llm.concurrency, 1,
		4096, "N", "judge requests in flight"),
	KILN_OPT_ROW_END,
};
#undef J

/* --- the teacher, what only the command line holds ----------------------- */

#define T struct cli_teacher
const kiln_opt cli_teacher_cli_opts[] = {
	KILN_OPT_ROW_STRING("api-key-env", 0, T, api_key_env, "VAR",
		"read the API key from this environment variable"),
	KILN_OPT_ROW_PATH("template-solution", 0, T, tmpl_solution, "FILE",
		"the solution prompt's template; variables {prompt}, "
		"{entry_point}, {language}, {language_tag} (default: "
		"data/templates)"),
	KILN_OPT_ROW_END,
};
#undef T

int cli_teacher_key(const char *cmd, const struct cli_teacher *t,
		    const char **key)
{
	if (!t->api_key_env)
		return 0;
	*key = getenv(t->api_key_env);
	if (!*key) {
		cli_error(cmd, "--api-key-env: %s is not set", t->api_key_env);
		return 2;
	}
	return 0;
}
