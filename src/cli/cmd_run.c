/* kiln run: prompts to a curated, verified dataset in one command.
 *
 * A pipeline file (YAML or JSON, docs/RUN.md) names the task source, the
 * teacher, and each stage's options. kiln run resolves it into a plan of
 * stages, each one kiln's own subcommand run as a child process with the
 * stage's options as its --config (so a bad option in the pipeline reads
 * like a bad flag, checked by the same table before anything runs), each
 * reading the previous stage's file in the run folder and writing its own
 * atomically. state.json records each finished stage (its command, its
 * options, the SHA-256 of its inputs): a run killed at any moment and
 * started again skips what is finished and unchanged, and the stages that
 * talk to a teacher resume request by request from their job store.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "kiln/curate.h"
#include "kiln/export.h"
#include "kiln/jsonl.h"
#include "kiln/output.h"
#include "kiln/report.h"
#include "kiln/yaml.h"

extern const char kiln__default_pipeline[];

struct run_args {
	const char *out;
	int dry_run, quiet, fresh;
};

#define A struct run_args
static const kiln_opt run_opts[] = {
	KILN_OPT_ROW_PATH("out", 'o', A, out, "DIR",
		"the run folder (default: the pipeline's \"out\", else "
		"kiln-run)"),
	KILN_OPT_ROW_FLAG("dry-run", 'n', A, dry_run,
		"check the pipeline and print the resolved stages, run "
		"nothing"),
	KILN_OPT_ROW_FLAG("fresh", 0, A, fresh,
		"run every stage again, even those finished before"),
	CLI_OPT_QUIET(A, quiet, "no progress and no summary"),
	KILN_OPT_ROW_END,
};
#undef A

/* The stages, in order. */
enum { S_BANK, S_GENERATE, S_TESTS, S_VERIFY, S_SELECT, S_MUTATION, S_REWARD,
       S_REWRITE, S_DEDUP, S_DECONTAM, S_EXPORT, S_N };

static const struct stage_def {
	const char *key;       /* its section in the pipeline */
	const char *cmd;       /* kiln's command */
	const char *mode;      /* a flag that selects the command's mode */
	const char *out;       /* its output in the run folder */
	int optional;          /* a section set to false skips it */
	int funnel;            /* writes --stats (2: and --dropped) */
	int teacher;           /* asks the teacher (--backend ...) */
} stages[S_N] = {
	[S_BANK] = { "bank", "bank", NULL, "tasks.jsonl", 1, 0, 0 },
	[S_GENERATE] = { "generate", "generate", NULL, "candidates.jsonl", 0,
			 0, 1 },
	/* beside the chain: the tasks and the candidates in, the teacher
	 * tests' validity and discrimination out (for the report) */
	[S_TESTS] = { "test-rates", "test-rates", NULL, "stats/tests.json", 1,
		      0, 0 },
	[S_VERIFY] = { "verify", "verify", "--carry", "verified.jsonl", 0, 0,
		       0 },
	[S_SELECT] = { "select", "select", NULL, "selected.jsonl", 1, 2, 0 },
	[S_MUTATION] = { "mutation", "score", "--mutation", "scored.jsonl", 1,
			 2, 0 },
	[S_REWARD] = { "reward", "score", "--reward", "rewarded.jsonl", 1, 2,
		       0 },
	[S_REWRITE] = { "rewrite", "rewrite", NULL, "rewritten.jsonl", 1, 1,
			1 },
	[S_DEDUP] = { "dedup", "dedup", NULL, "deduped.jsonl", 1, 2, 0 },
	[S_DECONTAM] = { "decontam", "decontam", NULL, "clean.jsonl", 1, 2,
			 0 },
	[S_EXPORT] = { "export", "export", NULL, "dataset.jsonl", 0, 2, 0 },
};

static const char *const known_keys[] = {
	"out", "tasks", "teacher", "generate", "test-rates", "verify", "select",
	"mutation", "reward", "rewrite", "dedup", "decontam", "export", NULL,
};

struct plan {
	const char *pipeline;  /* its path, for messages */
	json_t *cfg;
	char dir[2048];
	char tasks_buf[2100];  /* the bank's output, when it is the source */
	char teacher_buf[2100]; /* the default teacher's checkpoint */
	int default_teacher;   /* built on first use (kiln teacher-train) */
	char self[4096];       /* this kiln binary */
	const char *tasks;     /* the task file */
	const char *url, *model, *key_env, *local;
	int on[S_N];
	json_t *argv[S_N];     /* each stage's command line (JSON strings) */
	json_t *inputs[S_N];   /* the files it reads */
	char cfgpath[S_N][2100];
};

/* The default teacher's file name, in the cache and in data/models/ (a
 * new recipe gets a new name, so an old cached teacher is not reused). */
#define TEACHER_FILE "teacher-v3.bin"

static int path_in(const struct plan *p, char *buf, size_t n,
		   const char *name)
{
	int k = snprintf(buf, n, "%s/%s", p->dir, name);

	return k < 0 || (size_t)k >= n ? -1 : 0;
}

static int add_arg(json_t *argv, const char *s)
{
	return json_array_append_new(argv, json_string(s));
}

/* ----------------------------------------------------------- the plan */

static int plan_error(const struct plan *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int plan_error(const struct plan *p, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cli_error("run", "%s: %s", p->pipeline, msg);
	return 2;
}

static int resolve(struct plan *p, const char *out_override)
{
	const json_t *t, *teacher;
	const char *key;
	json_t *v;
	char prev[2100], buf[2100];

	json_object_foreach(p->cfg, key, v) {
		int known = 0;

		for (int i = 0; known_keys[i]; i++)
			known |= strcmp(key, known_keys[i]) == 0;
		if (!known)
			return plan_error(p, "unknown key '%s' (known: out, "
					  "tasks, teacher, generate, "
					  "test-rates, verify, select, "
					  "mutation, reward, rewrite, dedup, "
					  "decontam, export)", key);
	}
	t = json_object_get(p->cfg, "out");
	if (t && !json_is_string(t))
		return plan_error(p, "'out' must be a folder name");
	snprintf(p->dir, sizeof p->dir, "%s", out_override ? out_override :
		 t ? json_string_value(t) : "kiln-run");
	t = json_object_get(p->cfg, "tasks");
	if (json_is_object(t) && json_object_size(t) == 1 &&
	    json_is_object(json_object_get(t, "bank"))) {
		/* kiln bank writes the tasks: the first stage */
		snprintf(p->tasks_buf, sizeof p->tasks_buf, "%s/tasks.jsonl",
			 p->dir);
		p->tasks = p->tasks_buf;
	} else if (json_is_string(t)) {
		p->tasks = json_string_value(t);
	} else {
		return plan_error(p, "'tasks' must name a task file (JSON "
				  "Lines: kiln import's or kiln bank's), or be "
				  "{bank: {kiln bank's options}}");
	}
	teacher = json_object_get(p->cfg, "teacher");
	if (!teacher || (json_is_string(teacher) &&
			 !strcmp(json_string_value(teacher), "default"))) {
		/* the embedded default: a small model trained on bank tasks
		 * disjoint from the ones it is asked. The one in the cache
		 * (trained here) if there is one, else the one shipped in
		 * data/models/ (docs/RUN.md: its command), else one trained
		 * into the cache on first use */
		const char *c = getenv("KILN_CACHE"), *x = getenv(
			"XDG_CACHE_HOME"), *h = getenv("HOME");

		if (c)
			snprintf(p->teacher_buf, sizeof p->teacher_buf,
				 "%s/" TEACHER_FILE, c);
		else if (x)
			snprintf(p->teacher_buf, sizeof p->teacher_buf,
				 "%s/kiln/" TEACHER_FILE, x);
		else
			snprintf(p->teacher_buf, sizeof p->teacher_buf,
				 "%s/.cache/kiln/" TEACHER_FILE, h ? h : "/tmp");
		p->default_teacher = 1;
		if (access(p->teacher_buf, R_OK) != 0 &&
		    access(KILN_DATA_DIR "/models/" TEACHER_FILE, R_OK) == 0) {
			snprintf(p->teacher_buf, sizeof p->teacher_buf, "%s",
				 KILN_DATA_DIR "/models/" TEACHER_FILE);
			p->default_teacher = 0;
		}
		p->local = p->teacher_buf;
		teacher = NULL;
	} else if (!json_is_object(teacher)) {
		return plan_error(p, "'teacher' must be {url: http://HOST/v1, "
				  "model: NAME}, {local: MODEL.bin}, or "
				  "default (the embedded one)");
	}
	if (teacher) {
	json_object_foreach((json_t *)teacher, key, v)
		if (strcmp(key, "url") && strcmp(key, "model") &&
		    strcmp(key, "local") && strcmp(key, "api_key_env"))
			return plan_error(p, "teacher: unknown key '%s' "
					  "(known: url, model, local, "
					  "api_key_env)", key);
	p->url = json_string_value(json_object_get(teacher, "url"));
	p->model = json_string_value(json_object_get(teacher, "model"));
	p->local = json_string_value(json_object_get(teacher, "local"));
	p->key_env = json_string_value(json_object_get(teacher,
						       "api_key_env"));
	if (!!p->url == !!p->local)
		return plan_error(p, "teacher: give 'url' (an OpenAI-compatible "
				  "server) or 'local' (a kiln train "
				  "checkpoint), one of them");
	}

	for (int s = 0; s < S_N; s++) {
		const json_t *sec = json_object_get(p->cfg, stages[s].key);

		p->on[s] = 1;
		if (s == S_BANK) {
			p->on[s] = p->tasks == p->tasks_buf;
			continue;
		}
		if (json_is_false(sec)) {
			if (!stages[s].optional)
				return plan_error(p, "'%s' cannot be turned "
						  "off", stages[s].key);
			p->on[s] = 0;
		} else if (sec && !json_is_object(sec) && !json_is_true(sec)) {
			return plan_error(p, "'%s' must be the stage's options "
					  "(a mapping), or false to skip it",
					  stages[s].key);
		}
		/* stages that need something the pipeline must give */
		if (s == S_DEDUP || s == S_DECONTAM || s == S_REWRITE)
			p->on[s] = p->on[s] && sec && !json_is_false(sec);
	}

	/* command lines, each reading the last stage's output */
	snprintf(prev, sizeof prev, "%s", p->tasks);
	for (int s = 0; s < S_N; s++) {
		json_t *av, *in;
		const struct stage_def *d = &stages[s];

		if (!p->on[s])
			continue;
		av = p->argv[s] = json_array();
		in = p->inputs[s] = json_array();
		if (!av || !in)
			return 1;
		snprintf(p->cfgpath[s], sizeof p->cfgpath[s],
			 "%s/config/%s.json", p->dir, d->key);
		add_arg(av, d->cmd);
		if (d->mode)
			add_arg(av, d->mode);
		add_arg(av, "--config");
		add_arg(av, p->cfgpath[s]);
		if (s == S_BANK) {
			add_arg(av, "-o");
			add_arg(av, p->tasks);
			continue;
		}
		if (s == S_TESTS) {
			/* reads what generate wrote; the chain goes on from
			 * generate's output (prev is left as it is) */
			add_arg(av, "--tasks");
			add_arg(av, p->tasks);
			json_array_append_new(in, json_string(p->tasks));
			add_arg(av, prev);
			json_array_append_new(in, json_string(prev));
			path_in(p, buf, sizeof buf, d->out);
			add_arg(av, "-o");
			add_arg(av, buf);
			continue;
		}
		if (d->teacher) {
			if (p->url) {
				add_arg(av, "--backend");
				add_arg(av, p->url);
			}
			if (p->model) {
				add_arg(av, "-m");
				add_arg(av, p->model);
			}
			if (p->key_env) {
				add_arg(av, "--api-key-env");
				add_arg(av, p->key_env);
			}
			snprintf(buf, sizeof buf, "%s/%s.store", p->dir,
				 s == S_GENERATE ? "teacher" : d->key);
			add_arg(av, "--store");
			add_arg(av, buf);
			/* a run started again after a failure (the server was
			 * down) sends again what failed; what was answered is
			 * kept in the store */
			add_arg(av, "--retry-failed");
			/* a local teacher is one of the stage's inputs: a
			 * changed checkpoint reruns it */
			if (p->local)
				json_array_append_new(in,
						      json_string(p->local));
		}
		if (s == S_REWARD) {
			path_in(p, buf, sizeof buf, "judge.store");
			add_arg(av, "--store");
			add_arg(av, buf);
		}
		if (s == S_EXPORT) {
			add_arg(av, "--tasks");
			add_arg(av, p->tasks);
			json_array_append_new(in, json_string(p->tasks));
			path_in(p, buf, sizeof buf, "manifest.json");
			add_arg(av, "--manifest");
			add_arg(av, buf);
			for (int f = 0; f < s; f++) {
				if (!p->on[f] || !stages[f].funnel)
					continue;
				snprintf(buf, sizeof buf, "%s/stats/%s.json",
					 p->dir, stages[f].key);
				add_arg(av, "--funnel");
				add_arg(av, buf);
				json_array_append_new(in, json_string(buf));
			}
		}
		if (d->funnel) {
			snprintf(buf, sizeof buf, "%s/stats/%s.json", p->dir,
				 d->key);
			add_arg(av, "--stats");
			add_arg(av, buf);
		}
		if (d->funnel == 2) {
			snprintf(buf, sizeof buf, "%s/dropped/%s.jsonl", p->dir,
				 d->key);
			add_arg(av, "--dropped");
			add_arg(av, buf);
		}
		add_arg(av, prev);
		json_array_append_new(in, json_string(prev));
		path_in(p, buf, sizeof buf, d->out);
		add_arg(av, "-o");
		add_arg(av, buf);
		snprintf(prev, sizeof prev, "%s", buf);
	}
	return 0;
}

/* The stage's section as the JSON its --config reads (an absent or true
 * section: the command's defaults). */
static json_t *stage_config(const struct plan *p, int s)
{
	json_t *sec = s == S_BANK ?
		      json_object_get(json_object_get(p->cfg, "tasks"), "bank") :
		      json_object_get(p->cfg, stages[s].key);

	return json_is_object(sec) ? json_deep_copy(sec) : json_object();
}

/* ----------------------------------------------------------- children */

static volatile sig_atomic_t stop_sig;
static volatile pid_t child_pid;

static void on_signal(int sig)
{
	stop_sig = sig;
	if (child_pid > 0)
		kill(child_pid, sig);
}

/* Runs this kiln with av (a JSON array of strings). Returns the exit
 * status (128 + n for a signal), or -1 if it could not start. With
 * capture, the child's stderr goes to that fd. */
static int run_kiln(const struct plan *p, const json_t *av, int err_fd,
		    int quiet)
{
	size_t n = json_array_size(av);
	char **argv = calloc(n + 3, sizeof(*argv));
	pid_t pid, parent;
	int st;

	if (!argv)
		return -1;
	argv[0] = (char *)p->self;
	for (size_t i = 0; i < n; i++)
		argv[i + 1] = (char *)json_string_value(json_array_get(av, i));
	if (quiet)   /* not part of the stage's recorded command line */
		argv[n + 1] = "-q";
	parent = getpid();
	pid = fork();
	if (pid == 0) {
		/* a stage never outlives kiln run (kill -9 included): it
		 * gets SIGTERM and stops as it does on one, keeping what it
		 * finished. If kiln run died before the prctl, the child has
		 * a new parent already (init, or a subreaper: not always pid
		 * 1) and must not start. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(128 + SIGTERM);
		if (err_fd >= 0)
			dup2(err_fd, 2);
		execv(p->self, argv);
		_exit(127);
	}
	free(argv);
	if (pid < 0)
		return -1;
	child_pid = pid;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	child_pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A stage of a run killed with SIGKILL gets SIGTERM (PR_SET_PDEATHSIG)
 * and stops as on one: it may take a moment to finish the request or the
 * test it is in, holding its store's run lock until it exits. A run
 * started again waits for it (for up to a minute), rather than failing
 * with "in use"; the stage itself still refuses a store that stays
 * busy. */
static void wait_for_lock(const char *path, int quiet)
{
	char lpath[2300];
	int fd;

	snprintf(lpath, sizeof lpath, "%s-lock", path);
	if ((fd = open(lpath, O_RDONLY | O_CLOEXEC)) < 0)
		return;     /* never locked: nobody to wait for */
	for (int tries = 0; tries < 1200 && !stop_sig; tries++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			flock(fd, LOCK_UN);
			break;
		}
		if (tries == 20 && !quiet)
			fprintf(stderr, "kiln run: waiting for the stage "
				"stopped before to let go of %s\n", path);
		usleep(50 * 1000);
	}
	close(fd);
}

static void wait_for_stores(const json_t *av, int quiet)
{
	for (size_t i = 0; i + 1 < json_array_size(av); i++) {
		const char *a = json_string_value(json_array_get(av, i));
		if (a && !strcmp(a, "--store"))
			wait_for_lock(json_string_value(json_array_get(av,
							i + 1)), quiet);
	}
}

/* 1 if the task file is there and has nothing but white space (a
 * missing or unreadable one is the generate stage's to report). */
static int no_tasks(const char *path)
{
	char buf[4096];
	size_t n;
	int empty = 1;
	FILE *f = fopen(path, "rb");

	if (!f)
		return 0;
	while (empty && (n = fread(buf, 1, sizeof buf, f)) > 0)
		for (size_t i = 0; i < n && empty; i++)
			empty = buf[i] == ' ' || buf[i] == '\n' ||
				buf[i] == '\r' || buf[i] == '\t';
	fclose(f);
	return empty;
}

static int mkdirs(const char *dir)
{
	char buf[2200];
	static const char *const subs[] = { "", "/config", "/stats",
					    "/dropped", NULL };

	for (int i = 0; subs[i]; i++) {
		snprintf(buf, sizeof buf, "%s%s", dir, subs[i]);
		if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
			cli_error("run", "%s: %s", buf, strerror(errno));
			return 1;
		}
	}
	return 0;
}

/* Every stage's options checked by its own command (--print-config)
 * before anything runs: a bad key or value is named as the command names
 * a bad flag, with the pipeline's section in front. */
static int check_configs(struct plan *p, int print)
{
	kiln_error err;

	for (int s = 0; s < S_N; s++) {
		json_t *c, *av;
		char *text;
		int fd, rc;

		if (!p->on[s])
			continue;
		c = stage_config(p, s);
		text = c ? json_dumps(c, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
			 : NULL;
		json_decref(c);
		if (!text || kiln_output_save(p->cfgpath[s], text,
					      strlen(text), &err)) {
			cli_error("run", "%s", text ? err.msg :
				  "out of memory");
			free(text);
			return 1;
		}
		free(text);
		av = json_array();
		add_arg(av, stages[s].cmd);
		if (stages[s].mode)
			add_arg(av, stages[s].mode);
		add_arg(av, "--config");
		add_arg(av, p->cfgpath[s]);
		add_arg(av, "--print-config");
		fd = memfd_create("kiln-run-check", MFD_CLOEXEC);
		/* the resolved options go to stdout: only with --dry-run */
		if (!print) {
			int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
			int saved = dup(1);

			fflush(stdout);
			dup2(devnull, 1);
			rc = run_kiln(p, av, fd, 0);
			dup2(saved, 1);
			close(saved);
			close(devnull);
		} else {
			printf("# %s: kiln", stages[s].key);
			for (size_t i = 0; i < json_array_size(p->argv[s]); i++)
				printf(" %s", json_string_value(
					json_array_get(p->argv[s], i)));
			printf("\n");
			fflush(stdout);
			rc = run_kiln(p, av, fd, 0);
		}
		json_decref(av);
		if (rc != 0) {
			char msg[1024] = "";
			ssize_t k = pread(fd, msg, sizeof msg - 1, 0);

			msg[k > 0 ? k : 0] = '\0';
			msg[strcspn(msg, "\n")] = '\0';
			cli_error("run", "%s: %s: %s", p->pipeline,
				  stages[s].key, msg[0] ? msg : "refused");
			close(fd);
			return 2;
		}
		close(fd);
	}
	return 0;
}

/* ------------------------------------------------------------ state */

static json_t *load_state(const char *dir)
{
	char path[2200];
	json_t *s;

	snprintf(path, sizeof path, "%s/state.json", dir);
	s = json_load_file(path, 0, NULL);
	if (!json_is_object(s)) {
		json_decref(s);
		s = json_pack("{s:{}}", "stages");
	}
	return s;
}

static int save_state(const char *dir, json_t *state)
{
	char path[2200], *text = json_dumps(state, JSON_INDENT(1) |
					    JSON_PRESERVE_ORDER);
	kiln_error err;
	int rc;

	snprintf(path, sizeof path, "%s/state.json", dir);
	if (!text)
		return -1;
	rc = kiln_output_save(path, text, strlen(text), &err);
	free(text);
	if (rc)
		cli_error("run", "%s", err.msg);
	return rc;
}

/* {path: sha256} of the stage's inputs, or NULL if one is missing. */
static json_t *input_hashes(const json_t *inputs)
{
	json_t *h = json_object(), *v;
	size_t i;

	json_array_foreach(inputs, i, v) {
		char hex[65];
		unsigned long long bytes;
		kiln_error err;

		if (kiln_sha256_file(json_string_value(v), hex, &bytes, &err)) {
			json_decref(h);
			return NULL;
		}
		json_object_set_new(h, json_string_value(v),
				    json_string(hex));
	}
	return h;
}

static int done_before(const json_t *state, int s, const json_t *argv,
		       const json_t *cfg, const json_t *hashes,
		       const char *out)
{
	const json_t *e = json_object_get(json_object_get(state, "stages"),
					  stages[s].key);

	return e && hashes && access(out, F_OK) == 0 &&
	       json_equal(json_object_get(e, "argv"), argv) &&
	       json_equal(json_object_get(e, "config"), cfg) &&
	       json_equal(json_object_get(e, "inputs"), hashes);
}

/* The embedded default teacher: trained on first use by kiln
 * teacher-train (bank tasks disjoint from those it is asked) and cached;
 * the cache's directory is made as needed. */
static int build_default_teacher(const struct plan *p, int quiet)
{
	char dir[2200], *slash;
	json_t *av;
	int rc;

	if (access(p->local, R_OK) == 0)
		return 0;
	snprintf(dir, sizeof dir, "%s", p->local);
	for (char *c = dir + 1; (slash = strchr(c, '/')); c = slash + 1) {
		*slash = '\0';
		if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
			cli_error("run", "teacher: %s: %s", dir,
				  strerror(errno));
			return -1;
		}
		*slash = '/';
	}
	if (!quiet)
		fprintf(stderr, "kiln run: the default teacher is not built "
			"yet: training it once (kiln teacher-train -o %s)\n",
			p->local);
	/* trained under another name and renamed when it finished: a
	 * training stopped by a signal saves what it has, and that must not
	 * become the cached teacher */
	snprintf(dir, sizeof dir, "%s.training", p->local);
	av = json_pack("[s, s, s]", "teacher-train", "-o", dir);
	rc = av ? run_kiln(p, av, -1, quiet) : -1;
	json_decref(av);
	if (rc != 0) {
		unlink(dir);
		cli_error("run", "teacher: kiln teacher-train failed (exit "
			  "%d)", rc);
		return -1;
	}
	if (rename(dir, p->local) != 0) {
		cli_error("run", "teacher: %s: %s", p->local,
			  strerror(errno));
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------- main */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int execute(struct plan *p, int fresh, int quiet)
{
	json_t *state = load_state(p->dir);
	char url[2200], out[2200];
	int status = 0, n_on = 0, k = 0;
	double t_all = now_s();

	for (int s = 0; s < S_N; s++)
		n_on += p->on[s];
	if (fresh)
		json_object_set_new(state, "stages", json_object());
	if (!p->on[S_TESTS]) {
		/* turned off: an earlier run's figures must not reach this
		 * run's report */
		path_in(p, out, sizeof out, stages[S_TESTS].out);
		unlink(out);
		json_object_del(json_object_get(state, "stages"),
				stages[S_TESTS].key);
	}
	for (int s = 0; s < S_N && !status; s++) {
		json_t *cfg, *hashes, *e;
		double t0;
		int rc;

		if (!p->on[s])
			continue;
		k++;
		path_in(p, out, sizeof out, stages[s].out);
		cfg = stage_config(p, s);
		hashes = input_hashes(p->inputs[s]);
		if (done_before(state, s, p->argv[s], cfg, hashes, out)) {
			if (!quiet)
				fprintf(stderr, "kiln run: [%d/%d] %s: done "
					"before, unchanged\n", k, n_on,
					stages[s].key);
			json_decref(cfg);
			json_decref(hashes);
			continue;
		}
		/* this stage runs: every later one must too (but for
		 * test-rates, whose output no later stage reads) */
		for (int l = s; l < (s == S_TESTS ? s + 1 : S_N); l++)
			json_object_del(json_object_get(state, "stages"),
					stages[l].key);
		if (save_state(p->dir, state)) {
			status = 1;
			json_decref(cfg);
			json_decref(hashes);
			break;
		}
		if (stages[s].teacher && p->default_teacher &&
		    build_default_teacher(p, quiet) != 0) {
			status = 1;
			json_decref(cfg);
			json_decref(hashes);
			break;
		}
		if (stages[s].teacher && p->local) {
			/* the checkpoint answers in the stage's own process
			 * (kiln generate --backend local:MODEL.bin: no
			 * server, no HTTP); the backend goes after the
			 * stage's own flags */
			snprintf(url, sizeof url, "local:%s", p->local);
			json_array_insert_new(p->argv[s], 3,
					      json_string("--backend"));
			json_array_insert_new(p->argv[s], 4, json_string(url));
		}
		if (s == S_GENERATE && no_tasks(p->tasks)) {
			/* an empty task file is a mistake, not an empty
			 * dataset to report */
			cli_error("run", "%s holds no tasks: nothing to "
				  "generate", p->tasks);
			status = 1;
			json_decref(cfg);
			json_decref(hashes);
			break;
		}
		if (!quiet)
			fprintf(stderr, "kiln run: [%d/%d] %s\n", k, n_on,
				stages[s].key);
		wait_for_stores(p->argv[s], quiet);
		t0 = now_s();
		rc = run_kiln(p, p->argv[s], -1, quiet);
		if (stages[s].teacher && p->local) {
			json_array_remove(p->argv[s], 3);
			json_array_remove(p->argv[s], 3);
		}
		if (rc != 0) {
			if (stop_sig)
				cli_error("run", "stopped in stage %s by a "
					  "signal; run again to resume",
					  stages[s].key);
			else
				cli_error("run", "stage %s failed (exit %d); "
					  "the stages before it are kept: "
					  "fix the cause and run again",
					  stages[s].key, rc);
			status = stop_sig ? 128 + stop_sig : 1;
			json_decref(cfg);
			json_decref(hashes);
			break;
		}
		/* an input made for the stage (the default teacher, trained
		 * on first use) is there now */
		if (!hashes)
			hashes = input_hashes(p->inputs[s]);
		e = json_pack("{s:O, s:o, s:o, s:f}", "argv", p->argv[s],
			      "config", cfg, "inputs", hashes ? hashes :
			      json_object(), "seconds", now_s() - t0);
		json_object_set_new(json_object_get(state, "stages"),
				    stages[s].key, e);
		if (save_state(p->dir, state))
			status = 1;
	}
	if (!status) {
		kiln_error err;
		char rep[2200];

		path_in(p, rep, sizeof rep, "report.html");
		if (kiln_report_write(p->dir, rep, &err)) {
			cli_error("run", "report: %s", err.msg);
			status = 1;
		}
	}
	if (!status && !quiet) {
		struct stat sb;

		path_in(p, out, sizeof out, stages[S_EXPORT].out);
		if (stat(out, &sb) == 0 && sb.st_size == 0)
			fprintf(stderr, "kiln run: the dataset is empty: every "
				"candidate was dropped (the funnel in the report "
				"says where and why)\n");
		fprintf(stderr, "kiln run: done in %.1fs: the dataset is %s, "
			"the report %s/report.html\n", now_s() - t_all, out,
			p->dir);
	}
	json_decref(state);
	return status;
}

static int run_run(int argc, char **argv)
{
	struct run_args a;
	struct plan p;
	kiln_error err;
	int rc, npos;
	ssize_t n;

	memset(&a, 0, sizeof(a));
	memset(&p, 0, sizeof(p));
	if ((rc = cli_parse(&cli_run, argc, argv, &a, sizeof a, &npos)) !=
	    CLI_GO)
		return rc;
	if (npos > 1) {
		cli_error("run", "expected one PIPELINE file (YAML or JSON; "
			  "docs/RUN.md), or none for the default");
		return 2;
	}
	p.pipeline = npos ? argv[1] : "the default pipeline";
	if (npos ? kiln_yaml_load(p.pipeline, &p.cfg, &err) :
	    kiln_yaml_parse(kiln__default_pipeline,
			    strlen(kiln__default_pipeline), p.pipeline, &p.cfg,
			    &err)) {
		cli_error("run", "%s", err.msg);
		return 2;
	}
	if (!json_is_object(p.cfg)) {
		cli_error("run", "%s: a pipeline is a mapping of keys (out, "
			  "tasks, teacher, stages...)", p.pipeline);
		rc = 2;
		goto out;
	}
	n = readlink("/proc/self/exe", p.self, sizeof p.self - 1);
	if (n <= 0) {
		cli_error("run", "cannot find kiln's own binary: %s",
			  strerror(errno));
		rc = 1;
		goto out;
	}
	p.self[n] = '\0';
	if ((rc = resolve(&p, a.out)) != 0)
		goto out;
	if (p.tasks != p.tasks_buf && access(p.tasks, R_OK) != 0) {
		cli_error("run", "%s: tasks: %s: %s", p.pipeline, p.tasks,
			  strerror(errno));
		rc = 2;
		goto out;
	}
	if (mkdirs(p.dir)) {
		rc = 1;
		goto out;
	}
	if (a.dry_run) {
		if (p.url)
			printf("# teacher: %s (model %s)\n", p.url,
			       p.model ? p.model : "default");
		else
			printf("# teacher: %s%s\n", p.local,
			       !p.default_teacher ? "" :
			       access(p.local, R_OK) == 0 ? " (trained before)" :
			       " (trained on first use: kiln teacher-train)");
	}
	if ((rc = check_configs(&p, a.dry_run)) != 0 || a.dry_run)
		goto out;
	{
		struct sigaction sa = { .sa_handler = on_signal };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
	}
	rc = execute(&p, a.fresh, a.quiet);
out:
	for (int s = 0; s < S_N; s++) {
		json_decref(p.argv[s]);
		json_decref(p.inputs[s]);
	}
	json_decref(p.cfg);
	return rc;
}

const cli_cmd cli_run = {
	.name = "run",
	.summary = "the main job: tasks to a verified, curated dataset",
	.run = run_run,
	.opts = run_opts,
	.synopsis = "usage: kiln run [options] [PIPELINE]",
	.about =
"Runs a pipeline (a YAML or JSON file, docs/RUN.md) from tasks to a\n"
"dataset: generate (the teacher writes solutions and tests), test-rates\n"
"(the teacher's tests against tasks' ground truth, for the report), verify\n"
"(in the sandbox), select, mutation (test strength), reward (and an\n"
"optional LLM judge), dedup, decontam, export, each stage kiln's own\n"
"command with the pipeline's section as its options. Files go to the run\n"
"folder; a run killed at any moment resumes where it stopped when started\n"
"again.\n"
"Without PIPELINE: the default (data/pipelines/default.yaml): 100 tasks of\n"
"the procedural bank and kiln's own small teacher, trained once on bank\n"
"tasks it will not be asked and cached; offline, no GPU.\n",
	.after =
"Each stage's options are checked by its command before anything runs.\n"
"Finished stages whose command, options and inputs are unchanged are not\n"
"run again (state.json); --fresh runs them all.\n",
};
