/* Parallel verification with ordered output.
 *
 * The calling thread reads records and writes verdicts; N worker threads,
 * each owning one box, take records in sequence. A ring of slots between
 * them bounds memory (a few records per worker in flight) and lets
 * verdicts leave in input order whatever order they finish in.
 */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kiln/task.h"
#include "kiln/verify.h"

static const char *const status_names[KILN_NSTATUS] = {
	"pass", "fail", "error", "timeout", "memory", "output_limit",
	"killed", "sandbox_error",
};

const char *kiln_status_name(kiln_status s)
{
	return s < KILN_NSTATUS ? status_names[s] : "unknown";
}

kiln_status kiln_status_parse(const char *name)
{
	for (int i = 0; i < KILN_NSTATUS; i++)
		if (name && strcmp(name, status_names[i]) == 0)
			return (kiln_status)i;
	return KILN_NSTATUS;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sends a record's job to the box (the job's text is rendered now: the
 * record may change afterwards without harm). */
static int submit_record(kiln_box *box, const json_t *rec, long timeout_ms,
			 int no_batch, kiln_error *err)
{
	kiln_job job;
	int rc = kiln_job_from_record(rec, &job, err);

	if (rc)
		return rc;
	job.timeout_ms = timeout_ms;
	job.no_batch = no_batch;
	rc = kiln_box_submit(box, &job, err);
	kiln_job_release(&job);
	return rc;
}

/* Collects the oldest job's result and makes it the record's verdict. */
static int collect_verdict(kiln_box *box, const json_t *rec, long timeout_ms,
			   int carry, json_t **verdict, kiln_error *err)
{
	const json_t *cand = json_object_get(rec, "candidate");
	json_t *res = NULL, *v;
	int rc = kiln_box_collect(box, &res, err);

	*verdict = NULL;
	if (rc)
		return rc;
	v = json_pack("{sO}", "id", json_object_get(rec, "id"));
	if (!v) {
		json_decref(res);
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	if (cand)
		json_object_set(v, "candidate", (json_t *)cand);
	json_object_update(v, res);
	json_decref(res);
	if (timeout_ms > 0)
		json_object_set_new(v, "timeout_ms", json_integer(timeout_ms));
	if (carry) {
		/* The record as it came, its verdict one field of it (the
		 * record's "tests" are code, the verdict's their results). */
		json_t *c = json_deep_copy(rec);

		if (!c || json_object_set_new(c, "verdict", v) != 0) {
			json_decref(c);
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
		}
		json_object_del(v, "id");
		json_object_del(v, "candidate");
		v = c;
	}
	*verdict = v;
	return 0;
}

int kiln_verify_record(kiln_box *box, const json_t *rec, long timeout_ms,
		       json_t **verdict, kiln_error *err)
{
	int rc = submit_record(box, rec, timeout_ms, 0, err);

	*verdict = NULL;
	return rc ? rc : collect_verdict(box, rec, timeout_ms, 0, verdict,
					 err);
}

struct slot {
	json_t *rec;
	json_t *verdict;
	int done;
	int rc;           /* a job that could not run at all */
	kiln_error err;
};

void kiln_verify_opts_default(kiln_verify_opts *o)
{
	memset(o, 0, sizeof(*o));
	kiln_limits_default(&o->box.limits);
	o->timeout_floor_ms = 1000;
}

struct run {
	const kiln_verify_opts *o;
	const kiln_verify_io *io;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	struct slot **ring;  /* cap pointers; slot of seq q at q % cap */
	size_t cap, cap_max;
	unsigned long next_read, next_claim, next_write;
	int eof;
	int opened;       /* workers that have tried to open their box */
	int open_rc;      /* the first failure among them */
	kiln_error open_err;
	json_t *ref_ms;   /* id -> slowest reference test, ms (cache) */
};

/* The timeout for a record under relative timeouts, or 0 for the default.
 * Runs the task's reference solution once per task id. */
static long relative_timeout(struct run *r, kiln_box *box, const json_t *rec)
{
	const kiln_verify_opts *o = r->o;
	const char *id = json_string_value(json_object_get(rec, "id"));
	const json_t *ref, *cached;
	json_t *verdict = NULL;
	double slowest = -1;
	long t;

	if (o->timeout_factor <= 0 || !o->references || !id)
		return 0;
	ref = json_object_get(o->references, id);
	if (!ref)
		return 0;
	pthread_mutex_lock(&r->mu);
	cached = json_object_get(r->ref_ms, id);
	if (cached)
		slowest = json_real_value(cached);
	pthread_mutex_unlock(&r->mu);
	if (!cached) {
		if (kiln_verify_record(box, ref, 0, &verdict, NULL) == 0 &&
		    strcmp(json_string_value(json_object_get(verdict,
				"status")), "pass") == 0) {
			size_t i;
			json_t *tr;
			slowest = 0;
			json_array_foreach(json_object_get(verdict, "tests"),
					   i, tr) {
				double w = json_number_value(
					json_object_get(tr, "wall_ms"));
				if (w > slowest)
					slowest = w;
			}
		}
		json_decref(verdict);
		pthread_mutex_lock(&r->mu);
		json_object_set_new(r->ref_ms, id, json_real(slowest));
		pthread_mutex_unlock(&r->mu);
	}
	if (slowest < 0)
		return 0; /* the reference itself fails: keep the default */
	{
		/* In double, checked before the cast: a huge factor (or
		 * time) is the longest timeout, never an overflow. */
		double x = o->timeout_factor * slowest;

		t = x < (double)KILN_VERIFY_MAX_TIMEOUT_MS ? (long)x :
		    KILN_VERIFY_MAX_TIMEOUT_MS;
	}
	return t > o->timeout_floor_ms ? t : o->timeout_floor_ms;
}

struct worker {
	struct run *r;
	kiln_box *box;
	pthread_t th;
	int cpu;        /* kiln_box_config.cpu for this worker's box */
};

/* The i-th CPU this process may run on, round robin, as
 * kiln_box_config.cpu (k + 1), or 0 if that cannot be told. */
static int nth_cpu(int i)
{
	cpu_set_t set;
	int n, k = 0;

	if (sched_getaffinity(0, sizeof(set), &set) != 0 ||
	    (n = CPU_COUNT(&set)) <= 0)
		return 0;
	i %= n;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set) && k++ == i)
			return c + 1;
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->r;
	kiln_error err;
	kiln_box_config cfg = r->o->box;
	int rc;

	if (!cfg.cpu)
		cfg.cpu = w->cpu;
	/* Boxes start in parallel: a start-up is mostly the interpreter
	 * importing the harness, tens of milliseconds each. */
	rc = kiln_box_open(&w->box, &cfg, &err);

	pthread_mutex_lock(&r->mu);
	r->opened++;
	if (rc && !r->open_rc) {
		r->open_rc = rc;
		r->open_err = err;
	}
	pthread_cond_broadcast(&r->done);
	if (rc) {
		pthread_mutex_unlock(&r->mu);
		return NULL;
	}
	/* Two records in flight per box when it can be (not with relative
	 * timeouts, which run a reference on the box first): the box starts
	 * the next job while this thread turns the last result into a
	 * verdict. */
	int pipeline = r->io->timeout_ms ||
		       !(r->o->timeout_factor > 0 && r->o->references);
	/* Relative timeouts measure each test's own time: no batches, in
	 * which a candidate can spend one test's time on a later one. */
	int no_batch = r->o->no_batch ||
		       (r->o->timeout_factor > 0 && r->o->references);
	struct slot *s = NULL, *nx = NULL;
	long t = 0, tn = 0;

	for (;;) {
		if (!s) {
			while (r->next_claim == r->next_read && !r->eof)
				pthread_cond_wait(&r->work, &r->mu);
			if (r->next_claim == r->next_read)
				break;
			s = r->ring[r->next_claim++ % r->cap];
			pthread_mutex_unlock(&r->mu);
			t = r->io->timeout_ms ?
			    r->io->timeout_ms(r->io->ctx, s->rec) :
			    relative_timeout(r, w->box, s->rec);
			s->rc = submit_record(w->box, s->rec, t, no_batch,
					      &s->err);
			pthread_mutex_lock(&r->mu);
			if (s->rc) {
				s->done = 1;
				pthread_cond_broadcast(&r->done);
				s = NULL;
				continue;
			}
		}
		if (pipeline && r->next_claim < r->next_read) {
			nx = r->ring[r->next_claim++ % r->cap];
			pthread_mutex_unlock(&r->mu);
			tn = r->io->timeout_ms ?
			     r->io->timeout_ms(r->io->ctx, nx->rec) : 0;
			nx->rc = submit_record(w->box, nx->rec, tn, no_batch,
					       &nx->err);
			pthread_mutex_lock(&r->mu);
			if (nx->rc) {
				nx->done = 1;
				pthread_cond_broadcast(&r->done);
				nx = NULL;
			}
		}
		pthread_mutex_unlock(&r->mu);
		s->rc = collect_verdict(w->box, s->rec, t, r->o->carry,
					&s->verdict, &s->err);
		pthread_mutex_lock(&r->mu);
		s->done = 1;
		pthread_cond_broadcast(&r->done);
		s = nx;
		t = tn;
		nx = NULL;
	}
	pthread_mutex_unlock(&r->mu);
	/* Boxes close in parallel too (kill, reap, remove the cgroup). */
	kiln_box_close(w->box);
	w->box = NULL;
	return NULL;
}

static void count(kiln_verify_stats *st, const json_t *v)
{
	/* with carry, the verdict is the record's "verdict" field */
	if (json_is_object(json_object_get(v, "verdict")))
		v = json_object_get(v, "verdict");
	kiln_status s = kiln_status_parse(
		json_string_value(json_object_get(v, "status")));
	if (s < KILN_NSTATUS)
		st->status[s]++;
	st->verdicts++;
	st->tests += (long)json_integer_value(json_object_get(v,
							      "tests_total"));
}

/* Asked to stop (opts->stop): the records read but not started are
 * dropped, the runs in flight finish. Called with the lock, from the
 * calling thread (the only one that moves next_read). */
static void stop_now(struct run *r, kiln_verify_stats *st)
{
	for (unsigned long q = r->next_claim; q < r->next_read; q++) {
		json_decref(r->ring[q % r->cap]->rec);
		r->ring[q % r->cap]->rec = NULL;
	}
	r->next_read = r->next_claim;
	st->stopped = 1;
}

static int stop_asked(const struct run *r)
{
	return r->o->stop && *r->o->stop;
}

/* Waits for r->done; with a stop flag to watch (set by a signal handler,
 * which cannot signal a condition variable), 100 ms at a time. */
static void wait_done(struct run *r)
{
	struct timespec ts;

	if (!r->o->stop) {
		pthread_cond_wait(&r->done, &r->mu);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 100 * 1000 * 1000;
	if (ts.tv_nsec >= 1000 * 1000 * 1000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000 * 1000 * 1000;
	}
	pthread_cond_timedwait(&r->done, &r->mu, &ts);
}

/* Writes finished verdicts in order. With wait_for set, blocks until the
 * slot of that sequence number has been written. Called without the lock. */
static int drain(struct run *r, kiln_verify_stats *st,
		 unsigned long wait_for, double t0, kiln_error *err)
{
	int rc = 0;

	for (;;) {
		struct slot *s;

		pthread_mutex_lock(&r->mu);
		while (r->next_write < wait_for &&
		       r->next_write < r->next_read &&
		       !r->ring[r->next_write % r->cap]->done) {
			if (!st->stopped && stop_asked(r)) {
				stop_now(r, st);
				continue;
			}
			wait_done(r);
		}
		if (r->next_write == r->next_claim ||
		    !r->ring[r->next_write % r->cap]->done) {
			pthread_mutex_unlock(&r->mu);
			return rc;
		}
		s = r->ring[r->next_write % r->cap];
		pthread_mutex_unlock(&r->mu);

		if (!rc && s->rc) {
			rc = s->rc;
			if (err)
				*err = s->err;
		}
		if (!rc && s->verdict) {
			rc = r->io->verdict(r->io->ctx, s->rec, s->verdict,
					    err);
			if (!rc)
				count(st, s->verdict);
			st->seconds = now_s() - t0;
			if (r->o->progress)
				r->o->progress(r->o->ctx, st);
		}
		json_decref(s->rec);
		json_decref(s->verdict);
		memset(s, 0, sizeof(*s));
		pthread_mutex_lock(&r->mu);
		r->next_write++;
		pthread_cond_broadcast(&r->done);
		pthread_mutex_unlock(&r->mu);
	}
}

/* Doubles the reorder window, with r->mu held: the slots of the records
 * in flight keep their addresses (workers hold them) and move to their new
 * places; the spare ones are freed. */
static int grow(struct run *r)
{
	size_t cap = r->cap * 2;
	struct slot **ring = calloc(cap, sizeof(*ring));

	if (!ring)
		return -1;
	for (unsigned long q = r->next_write; q < r->next_read; q++) {
		ring[q % cap] = r->ring[q % r->cap];
		r->ring[q % r->cap] = NULL;
	}
	for (size_t i = 0; i < r->cap; i++)
		free(r->ring[i]);
	free(r->ring);
	r->ring = ring;
	r->cap = cap;
	return 0;
}

static int default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

int kiln_verify_each(const kiln_verify_io *io, const kiln_verify_opts *o,
		     kiln_verify_stats *st, kiln_error *err)
{
	struct run r;
	struct worker *ws = NULL;
	int nw = o->jobs > 0 ? o->jobs : default_jobs();
	int started = 0, rc = 0;
	double t0 = now_s();

	memset(st, 0, sizeof(*st));
	/* NaN or inf would reach a cast to long (undefined behaviour) */
	if (!isfinite(o->timeout_factor) || o->timeout_factor < 0)
		return kiln_error_set(err, KILN_EINVAL, "timeout factor %g: "
				      "must be a finite number >= 0",
				      o->timeout_factor);
	memset(&r, 0, sizeof(r));
	r.o = o;
	r.io = io;
	/* The reorder window: wide enough that one slow record (100+ ms
	 * among 2 ms ones) does not leave the other boxes idle while
	 * output waits for it; measured +24% on HumanEval at -j 2 against
	 * 4 per worker. It grows (below) while the oldest record is still
	 * running, up to 64 times that: one record that computes for
	 * seconds (MBPP's mbpp/123) no longer stalls the other boxes. */
	r.cap = (size_t)nw * 128;
	r.cap_max = r.cap * 64;
	r.ring = calloc(r.cap, sizeof(*r.ring));
	ws = calloc((size_t)nw, sizeof(*ws));
	r.ref_ms = json_object();
	if (!r.ring || !ws || !r.ref_ms) {
		free(r.ring);
		free(ws);
		json_decref(r.ref_ms);
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.work, NULL);
	pthread_cond_init(&r.done, NULL);

	for (int i = 0; i < nw; i++) {
		ws[i].r = &r;
		ws[i].cpu = nth_cpu(i);
		if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i])) {
			rc = kiln_error_set(err, KILN_ENOMEM,
					    "cannot start a thread");
			goto stop;
		}
		started++;
	}
	pthread_mutex_lock(&r.mu);
	while (r.opened < started)
		pthread_cond_wait(&r.done, &r.mu);
	rc = r.open_rc;
	if (rc && err)
		*err = r.open_err;
	pthread_mutex_unlock(&r.mu);
	if (rc)
		goto stop;

	for (;;) {
		json_t *rec = NULL;
		kiln_error lerr;
		kiln_job probe;
		unsigned long seq;
		size_t cap;
		int full;

		if (stop_asked(&r) || st->stopped)
			break;
		rc = io->next(io->ctx, &rec, &lerr);
		if (rc == KILN_EEOF) {
			rc = 0;
			break;
		}
		if (rc && stop_asked(&r)) {
			/* a read that the stop interrupted
			 * (kiln_jsonl_set_stop) */
			json_decref(rec);
			rc = 0;
			break;
		}
		if (rc == 0) {
			/* Check the record now, so that its error carries
			 * its line number and comes in order. */
			rc = kiln_job_from_record(rec, &probe, &lerr);
			if (rc == 0)
				kiln_job_release(&probe);
			else if (io->where)
				io->where(io->ctx, &lerr);
		}
		if (rc) {
			json_decref(rec);
			if (rc == KILN_EIO || rc == KILN_ENOMEM ||
			    !o->skip_bad) {
				if (err)
					*err = lerr;
				break;
			}
			st->bad_lines++;
			if (o->bad_line)
				o->bad_line(o->ctx, &lerr);
			rc = 0;
			continue;
		}
		pthread_mutex_lock(&r.mu);
		seq = r.next_read;
		/* The window is full and its oldest record still runs: widen
		 * it rather than leave the other boxes idle. */
		if (seq - r.next_write >= r.cap && r.cap < r.cap_max &&
		    !r.ring[r.next_write % r.cap]->done && grow(&r) != 0) {
			pthread_mutex_unlock(&r.mu);
			json_decref(rec);
			rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
			break;
		}
		full = seq - r.next_write >= r.cap;
		cap = r.cap;
		pthread_mutex_unlock(&r.mu);
		if (full) {
			rc = drain(&r, st, seq - cap + 1, t0, err);
			if (rc || st->stopped) {
				json_decref(rec);
				break;
			}
		}
		pthread_mutex_lock(&r.mu);
		if (!r.ring[seq % r.cap] &&
		    !(r.ring[seq % r.cap] = calloc(1, sizeof(struct slot)))) {
			pthread_mutex_unlock(&r.mu);
			json_decref(rec);
			rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
			break;
		}
		r.ring[seq % r.cap]->rec = rec;
		r.next_read++;
		pthread_cond_signal(&r.work);
		pthread_mutex_unlock(&r.mu);
		rc = drain(&r, st, 0, t0, err);
		if (rc)
			break;
	}
stop:
	pthread_mutex_lock(&r.mu);
	r.eof = 1;
	if (!st->stopped && stop_asked(&r))
		stop_now(&r, st);
	pthread_cond_broadcast(&r.work);
	pthread_mutex_unlock(&r.mu);
	{
		/* Finish what is in flight: verdicts already computed are
		 * written even when the run stops on an error. */
		kiln_error e2;
		int rc2 = drain(&r, st, r.next_read, t0, rc ? &e2 : err);
		if (!rc)
			rc = rc2;
	}
	for (int i = 0; i < started; i++)
		pthread_join(ws[i].th, NULL);
	for (int i = 0; i < nw; i++)
		kiln_box_close(ws[i].box);
	st->seconds = now_s() - t0;
	pthread_mutex_destroy(&r.mu);
	pthread_cond_destroy(&r.work);
	pthread_cond_destroy(&r.done);
	for (size_t i = 0; i < r.cap; i++)
		free(r.ring[i]);
	free(r.ring);
	free(ws);
	json_decref(r.ref_ms);
	return rc;
}

/* kiln_verify_stream over kiln_verify_each: records from a JSONL reader,
 * verdicts to a kiln_out. */
struct stream_io {
	kiln_jsonl_reader *in;
	kiln_out *out;
};

static int stream_next(void *ctx, json_t **rec, kiln_error *err)
{
	return kiln_jsonl_next(((struct stream_io *)ctx)->in, rec, err);
}

static int stream_verdict(void *ctx, const json_t *rec, json_t *verdict,
			  kiln_error *err)
{
	(void)rec;
	return kiln_out_write(((struct stream_io *)ctx)->out, verdict, err);
}

static void stream_where(void *ctx, kiln_error *err)
{
	kiln_jsonl_reader *in = ((struct stream_io *)ctx)->in;

	kiln_error_prefix(err, "%s:%ld: ", kiln_jsonl_path(in),
			  kiln_jsonl_lineno(in));
}

int kiln_verify_stream(kiln_jsonl_reader *in, kiln_out *out,
		       const kiln_verify_opts *o, kiln_verify_stats *st,
		       kiln_error *err)
{
	struct stream_io sio = { in, out };
	kiln_verify_io io = {
		.next = stream_next, .verdict = stream_verdict,
		.where = stream_where, .ctx = &sio,
	};

	return kiln_verify_each(&io, o, st, err);
}
