/* Test strength: mutation scores (kiln/mutation.h).
 *
 * Records are taken in rounds of o->batch. Each round: (1) every record's
 * own solution runs once in the sandbox (does it pass? how long does its
 * slowest test take?); (2) the mutator makes the mutants of the ones that
 * pass, in one process for the round; (3) every mutant runs in the
 * sandbox through kiln_verify_each, two jobs in flight per box, each
 * test with a timeout scaled from the original's; (4) the records are
 * written in input order with their "mutation" field.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "curate/curate_int.h"
#include "kiln/code.h"
#include "kiln/mutation.h"
#include "kiln/sandbox.h"

extern const char kiln__mutate_py[];
extern const unsigned long kiln__mutate_py_len;

const char *const kiln_mutation_ops[KILN_MUT_OPS] = {
	"cmp", "arith", "bool", "const", "negate", "drop_not", "drop_neg",
	"return_none", "break_continue", "delete",
};

#define SURVIVORS_MAX 5

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int op_index(const char *op)
{
	for (int i = 0; op && i < KILN_MUT_OPS; i++)
		if (strcmp(op, kiln_mutation_ops[i]) == 0)
			return i;
	return -1;
}

void kiln_mutation_opts_default(kiln_mutation_opts *o)
{
	memset(o, 0, sizeof(*o));
	kiln_verify_opts_default(&o->verify);
	o->max_mutants = 0;
	o->timeout_factor = 10;
	o->timeout_floor_ms = 250;
	o->batch = 256;
	o->min_score = -1;
}

/* ------------------------------------------------------------ mutator */

static int write_full(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The requests, one JSON line each, in a memfd the mutator reads as its
 * standard input. */
static int requests_fd(const json_t *reqs, kiln_error *err)
{
	int fd = memfd_create("kiln-mutate-in", MFD_CLOEXEC);
	const json_t *req;
	size_t i;

	if (fd < 0)
		return kiln_error_set(err, KILN_EIO, "mutator: memfd: %s",
				      strerror(errno));
	json_array_foreach(reqs, i, req) {
		char *line = json_dumps(req, JSON_COMPACT);
		int bad = !line || write_full(fd, line, strlen(line)) ||
			  write_full(fd, "\n", 1);

		free(line);
		if (bad) {
			close(fd);
			return kiln_error_set(err, KILN_EIO,
					      "mutator: cannot write its "
					      "input: %s", strerror(errno));
		}
	}
	if (lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return kiln_error_set(err, KILN_EIO, "mutator: lseek: %s",
				      strerror(errno));
	}
	return fd;
}

/* Reads fd to its end into a NUL-terminated buffer. */
static char *slurp(int fd, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);

	while (buf) {
		ssize_t k;

		if (cap - n < 2) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		k = read(fd, buf + n, cap - n - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	if (buf)
		buf[n] = '\0';
	*len = n;
	return buf;
}

int kiln__mutator_call(const json_t *reqs, const char *python,
		       json_t **replies, kiln_error *err)
{
	const char *py = python ? python : "/usr/bin/python3";
	size_t n = json_array_size(reqs);
	int in, out[2], errfd, status;
	char *text, *line, *save = NULL;
	size_t len;
	pid_t pid;
	json_t *arr;

	*replies = NULL;
	in = requests_fd(reqs, err);
	if (in < 0)
		return in;
	errfd = memfd_create("kiln-mutate-err", MFD_CLOEXEC);
	if (errfd < 0 || pipe2(out, O_CLOEXEC) != 0) {
		close(in);
		if (errfd >= 0)
			close(errfd);
		return kiln_error_set(err, KILN_EIO, "mutator: %s",
				      strerror(errno));
	}
	pid = fork();
	if (pid == 0) {
		/* It parses and compiles the code, never runs it; still,
		 * bounded. */
		struct rlimit as = { 4UL << 30, 4UL << 30 };
		struct rlimit cpu = { 600, 600 };
		char *const envp[] = { "PATH=/usr/bin:/bin", "LANG=C.UTF-8",
				       NULL };

		setrlimit(RLIMIT_AS, &as);
		setrlimit(RLIMIT_CPU, &cpu);
		if (dup2(in, 0) < 0 || dup2(out[1], 1) < 0 ||
		    dup2(errfd, 2) < 0)
			_exit(127);
		execle(py, py, "-I", "-B", "-c", kiln__mutate_py,
		       (char *)NULL, envp);
		_exit(127);
	}
	close(in);
	close(out[1]);
	if (pid < 0) {
		close(out[0]);
		close(errfd);
		return kiln_error_set(err, KILN_EIO, "mutator: fork: %s",
				      strerror(errno));
	}
	text = slurp(out[0], &len);
	close(out[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!text || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char tail[300] = "";
		off_t end = lseek(errfd, 0, SEEK_END);
		off_t from = end > (off_t)sizeof(tail) - 1 ?
			     end - (off_t)sizeof(tail) + 1 : 0;
		ssize_t k = pread(errfd, tail, sizeof(tail) - 1, from);

		tail[k > 0 ? k : 0] = '\0';
		close(errfd);
		free(text);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
			return kiln_error_set(err, KILN_EIO, "mutator: cannot "
					      "run %s (install python3)", py);
		return kiln_error_set(err, KILN_EIO, "mutator (%s) failed "
				      "(%s %d): %s", py, WIFEXITED(status) ?
				      "exit" : "signal", WIFEXITED(status) ?
				      WEXITSTATUS(status) : WTERMSIG(status),
				      tail);
	}
	close(errfd);
	arr = json_array();
	for (line = strtok_r(text, "\n", &save); line && arr;
	     line = strtok_r(NULL, "\n", &save)) {
		json_error_t je;
		json_t *r = json_loads(line, 0, &je);

		if (!r || json_array_append_new(arr, r) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	free(text);
	if (!arr || json_array_size(arr) != n) {
		size_t got = arr ? json_array_size(arr) : 0;

		json_decref(arr);
		return kiln_error_set(err, KILN_EIO, "mutator: %zu replies "
				      "for %zu sources", got, n);
	}
	*replies = arr;
	return 0;
}

int kiln_mutants(const char *const *sources, const char *const *languages,
		 size_t n, int max_mutants, uint64_t seed, const char *python,
		 json_t **replies, kiln_error *err)
{
	json_t *reqs = json_array();
	int rc;

	for (size_t i = 0; reqs && i < n; i++)
		if (json_array_append_new(reqs, json_pack(
			    "{s:s, s:s, s:i, s:I}", "source", sources[i],
			    "language", languages[i] ? languages[i] : "python",
			    "max", max_mutants, "seed",
			    (json_int_t)(seed + i))) != 0) {
			json_decref(reqs);
			reqs = NULL;
		}
	if (!reqs)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	rc = kiln__mutator_call(reqs, python, replies, err);
	json_decref(reqs);
	return rc;
}

/* -------------------------------------------------------------- rounds */

struct rec {
	json_t *rec;          /* the input record (owned) */
	long lineno;
	int passes;           /* its own solution passes its tests */
	double slowest_ms;    /* its slowest test */
	const char *why;      /* why it is not scored */
	json_t *reply;        /* the mutator's reply (borrowed) */
	long mutants, killed, timeouts;
	long by_op[KILN_MUT_OPS][2];
	json_t *survivors;
};

struct round {
	const kiln_mutation_opts *o;
	kiln_mutation_stats *st;
	struct rec *r;
	size_t n;
	/* the jobs of a verify pass: (record, mutant) pairs */
	size_t *job_rec;
	json_t **job_mut;      /* the mutant objects (borrowed), NULL: the
				* original */
	size_t njobs, next;
	long done;
	double t0;
	json_t *replies;       /* the mutator's, for this round */
	kiln_box *ebox;        /* C object files compared (opened on need) */
};

static json_t *job_record(const struct round *R, size_t j)
{
	const json_t *orig = R->r[R->job_rec[j]].rec;
	json_t *rec = json_copy((json_t *)orig);   /* shallow */

	if (!rec)
		return NULL;
	json_object_del(rec, "verdict");
	json_object_del(rec, "mutation");
	if (R->job_mut[j] &&
	    json_object_set(rec, "solution", json_object_get(R->job_mut[j],
							      "source")))
		goto fail;
	if (json_object_set_new(rec, "kiln_job", json_integer((json_int_t)j)))
		goto fail;
	return rec;
fail:
	json_decref(rec);
	return NULL;
}

static int round_next(void *ctx, json_t **rec, kiln_error *err)
{
	struct round *R = ctx;

	if (R->next >= R->njobs || (R->o->stop && *R->o->stop))
		return KILN_EEOF;
	*rec = job_record(R, R->next);
	if (!*rec)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	R->next++;
	return 0;
}

static size_t job_of(const json_t *rec)
{
	return (size_t)json_integer_value(json_object_get(rec, "kiln_job"));
}

static long round_timeout(void *ctx, const json_t *rec)
{
	const struct round *R = ctx;
	size_t j = job_of(rec);
	const struct rec *r;
	double t;

	if (j >= R->njobs || !R->job_mut[j])
		return 0;
	r = &R->r[R->job_rec[j]];
	t = R->o->timeout_factor * r->slowest_ms;
	if (!(t < (double)KILN_VERIFY_MAX_TIMEOUT_MS))
		t = (double)KILN_VERIFY_MAX_TIMEOUT_MS;
	return t > (double)R->o->timeout_floor_ms ? (long)t :
	       R->o->timeout_floor_ms;
}

static int original_verdict(void *ctx, const json_t *rec, json_t *v,
			    kiln_error *err)
{
	struct round *R = ctx;
	struct rec *r = &R->r[R->job_rec[job_of(rec)]];
	const json_t *t;
	size_t i;

	(void)err;
	r->passes = strcmp(json_string_value(json_object_get(v, "status")) ?
			   json_string_value(json_object_get(v, "status")) :
			   "", "pass") == 0 &&
		    json_integer_value(json_object_get(v, "tests_total")) > 0;
	if (!r->passes)
		r->why = json_integer_value(json_object_get(v, "tests_total"))
			 ? "the solution does not pass its own tests" :
			 "the record has no tests";
	json_array_foreach(json_object_get(v, "tests"), i, t) {
		double w = json_number_value(json_object_get(t, "wall_ms"));

		if (w > r->slowest_ms)
			r->slowest_ms = w;
	}
	return 0;
}

static int mutant_verdict(void *ctx, const json_t *rec, json_t *v,
			  kiln_error *err)
{
	struct round *R = ctx;
	size_t j = job_of(rec);
	struct rec *r = &R->r[R->job_rec[j]];
	const json_t *m = R->job_mut[j];
	const char *status = json_string_value(json_object_get(v, "status"));
	int killed = !status || strcmp(status, "pass") != 0;
	int op = op_index(json_string_value(json_object_get(m, "op")));

	r->mutants++;
	r->killed += killed;
	if (status && strcmp(status, "timeout") == 0)
		r->timeouts++;
	if (op >= 0) {
		r->by_op[op][0]++;
		r->by_op[op][1] += killed;
	}
	if (!killed && json_array_size(r->survivors) < SURVIVORS_MAX)
		json_array_append_new(r->survivors, json_pack(
			"{s:O, s:O, s:O, s:O}", "op", json_object_get(m, "op"),
			"line", json_object_get(m, "line"),
			"from", json_object_get(m, "from"),
			"to", json_object_get(m, "to")));
	if (R->o->mutants_out) {
		json_t *mr = job_record(R, j);
		int rc;

		if (!mr || json_object_set_new(mr, "mutant", json_pack(
			    "{s:O, s:O, s:O, s:O, s:I, s:s?, s:b}",
			    "op", json_object_get(m, "op"),
			    "line", json_object_get(m, "line"),
			    "from", json_object_get(m, "from"),
			    "to", json_object_get(m, "to"),
			    "timeout_ms", (json_int_t)round_timeout(R, rec),
			    "status", status, "killed", killed))) {
			json_decref(mr);
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
		}
		json_object_del(mr, "kiln_job");
		rc = kiln_out_write(R->o->mutants_out, mr, err);
		json_decref(mr);
		if (rc)
			return rc;
	}
	R->done++;
	if (R->o->progress)
		R->o->progress(R->o->ctx, R->st->records,
			       R->st->mutants + (long)R->njobs, R->st->mutants
			       + R->done, now_s() - R->t0);
	return 0;
}

static int run_jobs(struct round *R, int mutants, kiln_verify_stats *vst,
		    kiln_error *err)
{
	kiln_verify_io io = {
		.next = round_next,
		.verdict = mutants ? mutant_verdict : original_verdict,
		.timeout_ms = mutants ? round_timeout : NULL,
		.ctx = R,
	};
	kiln_verify_opts vo = R->o->verify;

	vo.carry = 0;
	vo.stop = R->o->stop;
	vo.progress = NULL;
	vo.references = NULL;
	vo.timeout_factor = 0;
	R->next = 0;
	R->done = 0;
	return kiln_verify_each(&io, &vo, vst, err);
}

static json_t *mutation_field(const struct rec *r)
{
	json_t *f, *by;

	if (r->why || r->mutants == 0)
		return json_pack("{s:i, s:n, s:s}", "mutants", 0, "score",
				 "error", r->why ? r->why :
				 "no mutation site in the solution");
	by = json_object();
	for (int k = 0; by && k < KILN_MUT_OPS; k++)
		if (r->by_op[k][0])
			json_object_set_new(by, kiln_mutation_ops[k],
					    json_pack("[I, I]",
						      (json_int_t)r->by_op[k][0],
						      (json_int_t)r->by_op[k][1]));
	f = json_pack("{s:I, s:I, s:f, s:O, s:O, s:I, s:o, s:O}",
		      "mutants", (json_int_t)r->mutants,
		      "killed", (json_int_t)r->killed,
		      "score", (double)r->killed / (double)r->mutants,
		      "equivalent", json_object_get(r->reply, "equivalent"),
		      "invalid", json_object_get(r->reply, "invalid"),
		      "timeouts", (json_int_t)r->timeouts,
		      "by_op", by,
		      "survivors", r->survivors);
	return f;
}

/* C's cheap equivalent mutants: the original and each mutant compiled
 * to an object file at -O2 in the sandbox (kiln_job.objects: compiled
 * there, never run); a mutant whose object file is the original's is
 * dropped from the reply's mutants before anything runs and counted in
 * its "equivalent" (and "equivalent_objects"). A record whose job fails
 * (the original does not compile there, a timeout) keeps its mutants. */
static int drop_equivalent_c(struct round *R, struct rec *r,
			     kiln_error *err)
{
	json_t *muts = json_object_get(r->reply, "mutants"), *res = NULL;
	json_t *keep, *tests;
	const char *lang = json_string_value(json_object_get(r->rec,
							     "language"));
	const char *canon = lang ? kiln_lang_canonical(lang) : NULL;
	size_t n = json_array_size(muts), dropped = 0;
	const char **src;
	kiln_job job;
	int rc;

	if (!canon || strcmp(canon, "c") || !n)
		return 0;
	if (!R->ebox) {
		if ((rc = kiln_box_open(&R->ebox, &R->o->verify.box, err)))
			return rc;
	}
	if (!(src = calloc(n, sizeof(*src))))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		src[i] = json_string_value(json_object_get(json_array_get(muts,
								i), "source"));
	memset(&job, 0, sizeof(job));
	job.language = "c";
	job.solution = json_string_value(json_object_get(r->rec, "solution"));
	job.tests = src;
	job.ntests = n;
	job.objects = 1;
	rc = kiln_box_run(R->ebox, &job, &res, err);
	free(src);
	if (rc)
		return rc;
	tests = json_object_get(res, "tests");
	keep = json_array();
	if (!keep) {
		json_decref(res);
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		const char *st = json_string_value(json_object_get(
			json_array_get(tests, i), "status"));
		if (json_array_size(tests) == n && st && !strcmp(st, "pass"))
			dropped++;
		else if (json_array_append(keep, json_array_get(muts, i)))
			rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	json_decref(res);
	if (!rc && (json_object_set_new(r->reply, "mutants", keep) ||
		    json_object_set_new(r->reply, "equivalent", json_integer(
			json_integer_value(json_object_get(r->reply,
							   "equivalent")) +
			(json_int_t)dropped)) ||
		    json_object_set_new(r->reply, "equivalent_objects",
					json_integer((json_int_t)dropped))))
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
	else if (rc)
		json_decref(keep);
	return rc;
}

/* One round over R->r[0..n). */
static int score_round(struct round *R, kiln_error *err)
{
	const kiln_mutation_opts *o = R->o;
	kiln_mutation_stats *st = R->st;
	kiln_verify_stats vst;
	const char **src = NULL, **lang = NULL;
	size_t *which = NULL, m = 0, total = 0;
	json_t *replies = NULL;
	int rc;

	/* (1) the originals */
	R->njobs = R->n;
	R->job_rec = calloc(R->n ? R->n : 1, sizeof(*R->job_rec));
	R->job_mut = calloc(R->n ? R->n : 1, sizeof(*R->job_mut));
	if (!R->job_rec || !R->job_mut)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	for (size_t i = 0; i < R->n; i++)
		R->job_rec[i] = i;
	rc = run_jobs(R, 0, &vst, err);
	if (rc)
		return rc;
	if (vst.stopped || (o->stop && *o->stop)) {
		st->stopped = 1;
		return 0;
	}

	/* (2) the mutants of those that pass */
	src = calloc(R->n ? R->n : 1, sizeof(*src));
	lang = calloc(R->n ? R->n : 1, sizeof(*lang));
	which = calloc(R->n ? R->n : 1, sizeof(*which));
	if (!src || !lang || !which) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < R->n; i++) {
		if (!R->r[i].passes)
			continue;
		src[m] = json_string_value(json_object_get(R->r[i].rec,
							   "solution"));
		lang[m] = json_string_value(json_object_get(R->r[i].rec,
							    "language"));
		which[m++] = i;
	}
	if (m) {
		rc = kiln_mutants(src, lang, m, o->max_mutants, o->seed, o->python,
				  &replies, err);
		if (rc)
			goto out;
	}
	for (size_t k = 0; k < m; k++) {
		struct rec *r = &R->r[which[k]];
		const char *e;

		r->reply = json_array_get(replies, k);
		e = json_string_value(json_object_get(r->reply, "error"));
		if (e) {
			r->why = e;
			continue;
		}
		if ((rc = drop_equivalent_c(R, r, err)))
			goto out;
		total += json_array_size(json_object_get(r->reply, "mutants"));
	}

	/* (3) every mutant in the sandbox */
	free(R->job_rec);
	free(R->job_mut);
	R->job_rec = calloc(total ? total : 1, sizeof(*R->job_rec));
	R->job_mut = calloc(total ? total : 1, sizeof(*R->job_mut));
	if (!R->job_rec || !R->job_mut) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	R->njobs = 0;
	for (size_t k = 0; k < m; k++) {
		struct rec *r = &R->r[which[k]];
		const json_t *mu;
		size_t j;

		if (r->why)
			continue;
		json_array_foreach(json_object_get(r->reply, "mutants"), j,
				   mu) {
			R->job_rec[R->njobs] = which[k];
			R->job_mut[R->njobs++] = (json_t *)mu;
		}
	}
	{
		double t = now_s();

		rc = run_jobs(R, 1, &vst, err);
		st->mutant_seconds += now_s() - t;
	}
	if (vst.stopped || (o->stop && *o->stop))
		st->stopped = 1;
out:
	free(src);
	free(lang);
	free(which);
	R->replies = replies;
	return rc;
}

static void round_free(struct round *R)
{
	for (size_t i = 0; i < R->n; i++) {
		json_decref(R->r[i].rec);
		json_decref(R->r[i].survivors);
	}
	free(R->job_rec);
	free(R->job_mut);
	json_decref(R->replies);
	R->job_rec = NULL;
	R->job_mut = NULL;
	R->replies = NULL;
	R->n = 0;
}

/* A round's record i gets its "mutation" field, and the stats its
 * figures; *score is its score, or -1 when it has none. */
static int annotate(struct round *R, size_t i, double *score,
		    kiln_error *err)
{
	kiln_mutation_stats *st = R->st;
	struct rec *r = &R->r[i];
	json_t *f = mutation_field(r);

	if (!f || json_object_set_new(r->rec, "mutation", f))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	*score = json_is_number(json_object_get(f, "score")) ?
		 json_number_value(json_object_get(f, "score")) : -1;
	if (*score >= 0) {
		st->scored++;
		st->mutants += r->mutants;
		st->killed += r->killed;
		st->timeouts += r->timeouts;
		st->equivalent += (long)json_integer_value(
			json_object_get(r->reply, "equivalent"));
		st->equivalent_objects += (long)json_integer_value(
			json_object_get(r->reply, "equivalent_objects"));
		st->invalid += (long)json_integer_value(
			json_object_get(r->reply, "invalid"));
		for (int k = 0; k < KILN_MUT_OPS; k++) {
			st->by_op[k][0] += r->by_op[k][0];
			st->by_op[k][1] += r->by_op[k][1];
		}
	}
	return 0;
}

/* (4) the round's records, in order, each with its "mutation" field. */
static int write_round(struct round *R, kiln_out *out, kiln_out *dropped,
		       kiln_error *err)
{
	const kiln_mutation_opts *o = R->o;
	kiln_mutation_stats *st = R->st;

	for (size_t i = 0; i < R->n; i++) {
		struct rec *r = &R->r[i];
		const char *reason = NULL;
		double score;
		int rc;

		if ((rc = annotate(R, i, &score, err)))
			return rc;
		if (o->min_score >= 0 && score < 0)
			reason = "not_scored";
		else if (o->min_score >= 0 && score < o->min_score)
			reason = "low_score";
		if (!reason) {
			st->stage.kept++;
			rc = kiln_out_write(out, r->rec, err);
		} else {
			json_t *d = kiln_stage_mark(r->rec, "mutation", reason);

			kiln_stage_drop(&st->stage, reason);
			if (!d)
				return kiln_error_set(err, KILN_ENOMEM,
						      "out of memory");
			if (score >= 0)
				json_object_set_new(d, "score",
						    json_real(score));
			json_object_set_new(d, "min_score",
					    json_real(o->min_score));
			rc = dropped ? kiln_out_write(dropped, r->rec, err)
				     : 0;
		}
		if (rc)
			return rc;
	}
	return 0;
}

static const char *const reasons[] = { "low_score", "not_scored", NULL };

/* What both entry points do first: the stats, the options' check, the
 * round's records (cap of them). */
static int score_start(struct round *R, size_t cap,
		       const kiln_mutation_opts *o, kiln_mutation_stats *st,
		       kiln_error *err)
{
	memset(R, 0, sizeof(*R));
	memset(st, 0, sizeof(*st));
	kiln_stage_stats_init(&st->stage, "mutation", reasons);
	st->stage.params = json_pack(
		"{s:i, s:I, s:f, s:I, s:f}", "max_mutants", o->max_mutants,
		"seed", (json_int_t)o->seed, "timeout_factor",
		o->timeout_factor, "timeout_floor_ms",
		(json_int_t)o->timeout_floor_ms, "min_score", o->min_score);
	if (!isfinite(o->timeout_factor) || o->timeout_factor <= 0)
		return kiln_error_set(err, KILN_EINVAL, "timeout factor %g: "
				      "must be a finite number > 0",
				      o->timeout_factor);
	R->o = o;
	R->st = st;
	R->t0 = now_s();
	R->r = calloc(cap, sizeof(*R->r));
	if (!R->r)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	return 0;
}

int kiln_mutation_score(kiln_jsonl_reader *in, kiln_out *out,
			kiln_out *dropped, const kiln_mutation_opts *o,
			kiln_mutation_stats *st, kiln_error *err)
{
	struct round R;
	size_t cap = (size_t)(o->batch > 0 ? o->batch : 256);
	int rc = 0, eof = 0;

	if ((rc = score_start(&R, cap, o, st, err)))
		return rc;
	while (!eof && !rc && !st->stopped) {
		/* a round's records */
		while (R.n < cap) {
			json_t *rec;
			struct rec *r;

			if (o->stop && *o->stop) {
				st->stopped = 1;
				break;
			}
			rc = kiln_jsonl_next(in, &rec, err);
			if (rc == KILN_EEOF) {
				rc = 0;
				eof = 1;
				break;
			}
			if (rc)
				break;
			st->records++;
			st->stage.entered++;
			if (!json_is_string(json_object_get(rec, "solution"))) {
				rc = kiln_error_set(err, KILN_EPARSE,
						    "%s:%ld: no \"solution\" "
						    "(a string) to mutate",
						    kiln_jsonl_path(in),
						    kiln_jsonl_lineno(in));
				json_decref(rec);
				break;
			}
			r = &R.r[R.n++];
			memset(r, 0, sizeof(*r));
			r->rec = rec;
			r->lineno = kiln_jsonl_lineno(in);
			r->survivors = json_array();
		}
		if (rc || st->stopped || R.n == 0)
			break;
		rc = score_round(&R, err);
		if (!rc && !st->stopped)
			rc = write_round(&R, out, dropped, err);
		round_free(&R);
	}
	round_free(&R);
	free(R.r);
	kiln_box_close(R.ebox);
	st->seconds = now_s() - R.t0;
	st->stage.seconds = st->seconds;
	return rc;
}

int kiln_mutation_score_records(json_t *records, const kiln_mutation_opts *o,
				kiln_mutation_stats *st, kiln_error *err)
{
	struct round R;
	size_t cap = (size_t)(o->batch > 0 ? o->batch : 256);
	size_t n = json_array_size(records), next = 0;
	int rc;

	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < n; i++)
		if (!json_is_string(json_object_get(json_array_get(records, i),
						    "solution")))
			return kiln_error_set(err, KILN_EPARSE, "record %zu: "
					      "no \"solution\" (a string) to "
					      "mutate", i + 1);
	if ((rc = score_start(&R, cap, o, st, err)))
		return rc;
	while (!rc && !st->stopped && next < n) {
		for (; R.n < cap && next < n; next++) {
			struct rec *r = &R.r[R.n++];

			memset(r, 0, sizeof(*r));
			/* the caller's record gets the field */
			r->rec = json_incref(json_array_get(records, next));
			r->lineno = (long)next + 1;
			r->survivors = json_array();
			st->records++;
			st->stage.entered++;
		}
		rc = score_round(&R, err);
		for (size_t i = 0; !rc && !st->stopped && i < R.n; i++) {
			double score;

			rc = annotate(&R, i, &score, err);
			st->stage.kept++;
		}
		round_free(&R);
	}
	round_free(&R);
	free(R.r);
	kiln_box_close(R.ebox);
	st->seconds = now_s() - R.t0;
	st->stage.seconds = st->seconds;
	return rc;
}
