/* kiln export (kiln/export.h): verified records to chat samples,
 * preference pairs, the funnel and the manifest. */
#include "kiln/export.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "util/buf.h"

#ifndef KILN_VERSION
#define KILN_VERSION "0.0.0"
#endif

/* Fractions of the same tests are compared with this slack: 7/10 - 3/10
 * is 0.39999999999999997 in doubles and must count as 0.4. */
#define FRACTION_EPS 1e-9

static const char *const reasons[] = { "license", "failed", "unverified",
				       NULL };

/* The curation fields of earlier stages that go, as JSON text, into
 * meta.provenance.stages (their shapes differ by stage: Arrow needs one
 * type per column). */
static const char *const stage_fields[] = {
	"select", "mutation", "reward", "rewrite", "dedup", "decontam",
	"extraction", "tests_source", NULL,
};

void kiln_export_opts_default(kiln_export_opts *o)
{
	memset(o, 0, sizeof *o);
	o->pair_min_pass = KILN_EXPORT_PAIR_MIN_PASS;
	o->pair_min_gap = KILN_EXPORT_PAIR_MIN_GAP;
	o->pairs_per_task = KILN_EXPORT_PAIRS_PER_TASK;
}

void kiln_export_stats_free(kiln_export_stats *st)
{
	kiln_stage_stats_free(&st->stage);
	json_decref(st->inputs);
	st->inputs = NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- sha256 */

static void to_hex(const uint8_t *d, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 15];
	}
	hex[2 * n] = '\0';
}

/* Hashes fd to its end; *sb is its fstat after. */
static int sha256_fd(int fd, const char *path, char hex[65],
		     unsigned long long *bytes, struct stat *sb,
		     kiln_error *err)
{
	struct sha256_ctx ctx;
	uint8_t digest[SHA256_DIGEST_SIZE];
	unsigned char buf[65536];
	unsigned long long total = 0;
	ssize_t n;

	sha256_init(&ctx);
	for (;;) {
		n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kiln_error_set(err, KILN_EIO, "%s: read failed: "
					      "%s", path, strerror(errno));
		if (n == 0)
			break;
		sha256_update(&ctx, (size_t)n, buf);
		total += (unsigned long long)n;
	}
	if (fstat(fd, sb) != 0)
		return kiln_error_set(err, KILN_EIO, "%s: %s", path,
				      strerror(errno));
	sha256_digest(&ctx, sizeof digest, digest);
	to_hex(digest, sizeof digest, hex);
	*bytes = total;
	return 0;
}

static int hash_path(const char *path, char hex[65], unsigned long long *bytes,
		     struct stat *sb, kiln_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return kiln_error_set(err, KILN_EIO, "%s: cannot open: %s",
				      path, strerror(errno));
	rc = sha256_fd(fd, path, hex, bytes, sb, err);
	close(fd);
	return rc;
}

int kiln_sha256_file(const char *path, char hex[65], unsigned long long *bytes,
		     kiln_error *err)
{
	struct stat sb;

	return hash_path(path, hex, bytes, &sb, err);
}

/* An input file: hashed and listed in st->inputs before it is read; *sb
 * says what it was, for changed() after. Standard input and anything but
 * a regular file (a FIFO, a device: reading it to hash it would consume
 * it) are listed with null hash and size. */
static int add_input(kiln_export_stats *st, const char *role,
		     const char *path, struct stat *sb, kiln_error *err)
{
	char hex[65];
	unsigned long long bytes = 0;
	json_t *e;
	int rc;

	memset(sb, 0, sizeof *sb);
	if (strcmp(path, "-") != 0 && stat(path, sb) != 0)
		return kiln_error_set(err, KILN_EIO, "%s: cannot open: %s",
				      path, strerror(errno));
	if (strcmp(path, "-") == 0 || !S_ISREG(sb->st_mode))
		e = json_pack("{s:s, s:s, s:n, s:n}", "role", role, "path", path,
			      "sha256", "bytes");
	else {
		if ((rc = hash_path(path, hex, &bytes, sb, err)) != 0)
			return rc;
		e = json_pack("{s:s, s:s, s:s, s:I}", "role", role, "path",
			      path, "sha256", hex, "bytes", (json_int_t)bytes);
	}
	if (!e || json_array_append_new(st->inputs, e) != 0)
		return kiln_error_set(err, KILN_ENOMEM, "export: out of memory");
	return 0;
}

/* A file that changed between its hash and the end of its reading would
 * make the manifest lie. */
static int changed(const char *path, const struct stat *before,
		   kiln_error *err)
{
	struct stat now_sb;

	if (strcmp(path, "-") == 0 || !S_ISREG(before->st_mode))
		return 0;
	if (stat(path, &now_sb) != 0 || now_sb.st_ino != before->st_ino ||
	    now_sb.st_dev != before->st_dev ||
	    now_sb.st_size != before->st_size ||
	    now_sb.st_mtim.tv_sec != before->st_mtim.tv_sec ||
	    now_sb.st_mtim.tv_nsec != before->st_mtim.tv_nsec)
		return kiln_error_set(err, KILN_EIO, "%s: changed while it "
				      "was read (its sha256 would not be what "
				      "was exported)", path);
	return 0;
}

/* ----------------------------------------------------------- the records */

/* A record kept for pairing. */
struct cand {
	json_t *rec;            /* a reference */
	const json_t *task;     /* borrowed from the task map, or NULL */
	const json_t *prompt;   /* a string in rec or task */
	const char *path;
	long line;
	long long passed, total;
	size_t seq, group;
};

struct exporter {
	const kiln_export_opts *o;
	kiln_export_stats *st;
	kiln_out *samples, *pairs, *dropped;
	json_t *tasks;          /* id -> task record, or NULL */
	json_t *cands;          /* "candidate:id" -> candidate, or NULL */
	json_t *groups;         /* "total:id" -> group index */
	struct cand *c;
	size_t nc, capc, ngroups;
	kiln_error *err;
};

static int nomem(kiln_error *err)
{
	return kiln_error_set(err, KILN_ENOMEM, "export: out of memory");
}

static int bad_field(kiln_error *err, const char *path, long line,
		     const char *field, const char *what)
{
	return kiln_error_set(err, KILN_EPARSE, "%s:%ld: '%s': %s", path,
			      line, field, what);
}

/* The join key of a candidate record: "candidate:id". */
static char *cand_key(long long cand, const char *id)
{
	char *key;

	return asprintf(&key, "%lld:%s", cand, id) < 0 ? NULL : key;
}

/* A task's key is its id; a candidate's "candidate:id". 0 and a malloc'd
 * *key, or an error naming the field. */
static int join_key(const json_t *rec, int by_candidate, const char *path,
		    long line, char **key, kiln_error *err)
{
	const char *id = json_string_value(json_object_get(rec, "id"));
	const json_t *c = json_object_get(rec, "candidate");

	*key = NULL;
	if (!id)
		return bad_field(err, path, line, "id",
				 "missing or not a string");
	if (by_candidate && !json_is_integer(c))
		return bad_field(err, path, line, "candidate",
				 "missing or not an integer");
	*key = by_candidate ? cand_key(json_integer_value(c), id) :
			      strdup(id);
	return *key ? 0 : nomem(err);
}

/* Task records (by id) or candidate records (by candidate and id) into
 * *map; a key twice is an error. */
static int load_map(struct exporter *x, const char *role, const char *path,
		    int by_candidate, json_t **map)
{
	kiln_jsonl_reader *r = NULL;
	struct stat sb;
	json_t *rec;
	int rc;

	*map = json_object();
	if (!*map)
		return nomem(x->err);
	if ((rc = add_input(x->st, role, path, &sb, x->err)) ||
	    (rc = kiln_jsonl_open(&r, path, 0, x->err)))
		return rc;
	while ((rc = kiln_jsonl_next(r, &rec, x->err)) == 0) {
		long line = kiln_jsonl_lineno(r);
		char *key;

		rc = join_key(rec, by_candidate, path, line, &key, x->err);
		if (!rc && json_object_get(*map, key))
			rc = bad_field(x->err, path, line, by_candidate ?
				       "candidate" : "id", by_candidate ?
				       "a second record of this id and index" :
				       "a second task with this id");
		else if (!rc && json_object_set(*map, key, rec) != 0)
			rc = nomem(x->err);
		free(key);
		json_decref(rec);
		if (rc)
			break;
	}
	kiln_jsonl_close(r);
	if (rc == KILN_EEOF)
		rc = changed(path, &sb, x->err);
	return rc;
}

/* A record takes from its candidate the fields it lacks. */
static int join_candidate(struct exporter *x, json_t *rec, const char *path,
			  long line)
{
	const json_t *id = json_object_get(rec, "id");
	const json_t *c = json_object_get(rec, "candidate");
	const char *k;
	json_t *v, *cand;
	char *key;

	if (!json_is_string(id) || !json_is_integer(c))
		return 0;   /* named by the checks after */
	key = cand_key(json_integer_value(c), json_string_value(id));
	if (!key)
		return nomem(x->err);
	cand = json_object_get(x->cands, key);
	free(key);
	if (!cand) {
		if (json_object_get(rec, "solution"))
			return 0;
		return bad_field(x->err, path, line, "solution", "missing, "
				 "and no record of --candidates has this id "
				 "and candidate");
	}
	json_object_foreach(cand, k, v)
		if (!json_object_get(rec, k) && json_object_set(rec, k, v))
			return nomem(x->err);
	return 0;
}

/* A string field of the record, else of its task, else NULL. */
static const char *field_str(const json_t *rec, const json_t *task,
			     const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));

	if (!s && task)
		s = json_string_value(json_object_get(task, key));
	return s;
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* Where the content came from: the record's "source", its generated
 * candidate's "task_source", else its task's "source". */
static const char *source_of(const json_t *rec, const json_t *task)
{
	const char *s = json_string_value(json_object_get(rec, "source"));

	if (!s)
		s = json_string_value(json_object_get(rec, "task_source"));
	if (!s && task)
		s = json_string_value(json_object_get(task, "source"));
	return s;
}

/* The teacher in one shape on every line: empty strings and -1 for what
 * the record does not say (a human reference solution has no teacher). */
static json_t *teacher_meta(const json_t *rec)
{
	const json_t *t = json_object_get(rec, "teacher");
	const json_t *temp = json_object_get(t, "temperature");
	const json_t *seed = json_object_get(t, "seed");

	return json_pack("{s:s, s:s, s:f, s:I}",
		"backend", or_empty(json_string_value(
			json_object_get(t, "backend"))),
		"model", or_empty(json_string_value(
			json_object_get(t, "model"))),
		"temperature", json_is_number(temp) ?
			json_number_value(temp) : -1.0,
		"seed", json_is_integer(seed) ?
			json_integer_value(seed) : (json_int_t)-1);
}

/* A cluster id as text: the dedup stage's, else a top-level one. */
static json_t *cluster_meta(const json_t *rec)
{
	const json_t *d = json_object_get(rec, "dedup");
	const json_t *c = json_object_get(d, "cluster");
	char num[32];

	if (!c)
		c = json_object_get(rec, "cluster");
	if (json_is_string(c))
		return json_string(json_string_value(c));
	if (json_is_integer(c)) {
		snprintf(num, sizeof num, "%lld",
			 (long long)json_integer_value(c));
		return json_string(num);
	}
	return json_string("");
}

/* The record's reward when it has one: a number, or an object with a
 * number "score". */
static int reward_of(const json_t *rec, double *v)
{
	const json_t *r = json_object_get(rec, "reward");

	if (json_is_object(r))
		r = json_object_get(r, "score");
	if (!json_is_number(r))
		return 0;
	*v = json_number_value(r);
	return 1;
}

/* Measurements of one run (times, memory) say nothing about a sample and
 * differ between two runs that made the same decisions: they stay out of
 * the dataset, so that the same inputs give the same bytes. */
static const char *const measured[] = {
	"wall_ms", "cpu_ms", "max_rss_kb", "seconds", "output_bytes",
	"stderr", NULL,
};

static void drop_measured(json_t *v, int depth)
{
	const char *k;
	json_t *x;
	size_t i;

	if (depth > 64)
		return;
	if (json_is_object(v)) {
		for (i = 0; measured[i]; i++)
			json_object_del(v, measured[i]);
		json_object_foreach(v, k, x)
			drop_measured(x, depth + 1);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			drop_measured(x, depth + 1);
	}
}

/* The curation fields the record carries, as compact JSON text ("{}"
 * when none), without run measurements. */
static json_t *stages_text(const json_t *rec)
{
	json_t *o = json_object(), *s = NULL;
	char *text;

	for (size_t i = 0; o && stage_fields[i]; i++) {
		json_t *v = json_object_get(rec, stage_fields[i]);

		if (v && json_object_set_new(o, stage_fields[i],
					     json_deep_copy(v)) != 0)
			goto out;
	}
	drop_measured(o, 0);
	text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
			      JSON_REAL_PRECISION(15)) : NULL;
	if (text) {
		s = json_string(text);
		free(text);
	}
out:
	json_decref(o);
	return s;
}

static double fraction(long long passed, long long total)
{
	return total > 0 ? (double)passed / (double)total : -1.0;
}

/* The test counts a record carries: *have 0 when it has none. */
static int test_counts(const json_t *rec, const char *path, long line,
		       int *have, long long *passed, long long *total,
		       kiln_error *err)
{
	const json_t *v = kiln_rec_verdict(rec);
	const json_t *p = json_object_get(v, "tests_passed");
	const json_t *t = json_object_get(v, "tests_total");

	*have = 0;
	*passed = *total = 0;
	if (!p && !t)
		return 0;
	if (!json_is_integer(t) || json_integer_value(t) < 0)
		return bad_field(err, path, line, "tests_total",
				 t ? "not a non-negative integer" :
				 "missing (tests_passed is there)");
	if (!json_is_integer(p) || json_integer_value(p) < 0)
		return bad_field(err, path, line, "tests_passed",
				 p ? "not a non-negative integer" :
				 "missing (tests_total is there)");
	if (json_integer_value(p) > json_integer_value(t))
		return bad_field(err, path, line, "tests_passed",
				 "more than tests_total");
	*have = 1;
	*passed = json_integer_value(p);
	*total = json_integer_value(t);
	return 0;
}

static json_t *sample_meta(const json_t *rec, const json_t *task,
			   const char *path, long line, int have,
			   long long passed, long long total)
{
	const json_t *cand = json_object_get(rec, "candidate");
	const char *status = json_string_value(json_object_get(
		kiln_rec_verdict(rec), "status"));
	double reward = 0;
	int has_reward = reward_of(rec, &reward);

	return json_pack(
		"{s:s, s:I, s:s, s:o, s:{s:s, s:I, s:I, s:f, s:f, s:b}, "
		"s:o, s:s, s:s, s:s, s:{s:s, s:s, s:I, s:o}}",
		"id", json_string_value(json_object_get(rec, "id")),
		"candidate", json_is_integer(cand) ?
			json_integer_value(cand) : (json_int_t)-1,
		"language", field_str(rec, task, "language") ?
			field_str(rec, task, "language") : "python",
		"teacher", teacher_meta(rec),
		"scores",
		  "status", or_empty(status),
		  "tests_passed", (json_int_t)(have ? passed : -1),
		  "tests_total", (json_int_t)(have ? total : -1),
		  "pass_fraction", have ? fraction(passed, total) : -1.0,
		  "reward", reward,
		  "has_reward", has_reward,
		"cluster", cluster_meta(rec),
		"origin", or_empty(field_str(rec, task, "origin")),
		"license", or_empty(field_str(rec, task, "license")),
		"source", or_empty(source_of(rec, task)),
		"provenance",
		  "source_id", or_empty(field_str(rec, task, "source_id")),
		  "file", path,
		  "line", (json_int_t)line,
		  "stages", stages_text(rec));
}

static int licence_allowed(const kiln_export_opts *o, const char *lic)
{
	if (!o->nlicenses)
		return 1;
	for (size_t i = 0; lic && i < o->nlicenses; i++)
		if (strcasecmp(o->licenses[i], lic) == 0)
			return 1;
	return 0;
}

static int write_dropped(struct exporter *x, const json_t *rec,
			 const char *reason, json_t *details)
{
	json_t *copy = json_copy((json_t *)rec), *mark;
	int rc = 0;

	kiln_stage_drop(&x->st->stage, reason);
	if (!x->dropped) {
		json_decref(details);
		json_decref(copy);
		return 0;
	}
	mark = copy ? kiln_stage_mark(copy, "export", reason) : NULL;
	if (!mark || (details && json_object_update(mark, details) != 0))
		rc = nomem(x->err);
	else
		rc = kiln_out_write(x->dropped, copy, x->err);
	json_decref(details);
	json_decref(copy);
	return rc;
}

static int remember(struct exporter *x, json_t *rec, const json_t *task,
		    const json_t *prompt, const char *path, long line,
		    long long passed, long long total)
{
	const char *id = json_string_value(json_object_get(rec, "id"));
	char *key;
	json_t *g;
	struct cand *c;

	if (x->nc == x->capc) {
		size_t cap = x->capc ? 2 * x->capc : 256;
		c = realloc(x->c, cap * sizeof *c);
		if (!c)
			return nomem(x->err);
		x->c = c, x->capc = cap;
	}
	if (asprintf(&key, "%lld:%s", total, id) < 0)
		return nomem(x->err);
	g = json_object_get(x->groups, key);
	if (!g) {
		g = json_integer((json_int_t)x->ngroups);
		if (!g || json_object_set_new(x->groups, key, g) != 0) {
			free(key);
			return nomem(x->err);
		}
		x->ngroups++;
	}
	free(key);
	c = &x->c[x->nc];
	*c = (struct cand){ .rec = json_incref(rec), .task = task,
			    .prompt = prompt, .path = path, .line = line,
			    .passed = passed, .total = total, .seq = x->nc,
			    .group = (size_t)json_integer_value(g) };
	x->nc++;
	return 0;
}

static int one_record(struct exporter *x, json_t *rec, const char *path,
		      long line)
{
	const json_t *id = json_object_get(rec, "id");
	const json_t *sol;
	const json_t *prompt;
	const json_t *status;
	const json_t *cand = json_object_get(rec, "candidate");
	const json_t *task = NULL;
	const char *lic;
	long long passed, total;
	int have, rc;

	x->st->stage.entered++;
	if (x->cands && (rc = join_candidate(x, rec, path, line)) != 0)
		return rc;
	sol = json_object_get(rec, "solution");
	/* a plain verdict, or a record with its verdict (verify --carry) */
	status = json_object_get(kiln_rec_verdict(rec), "status");
	if (!json_is_string(id))
		return bad_field(x->err, path, line, "id",
				 "missing or not a string");
	if (x->tasks)
		task = json_object_get(x->tasks, json_string_value(id));
	if (!json_is_string(sol))
		return bad_field(x->err, path, line, "solution",
				 "missing or not a string");
	prompt = json_object_get(rec, "prompt");
	if (!prompt && task)
		prompt = json_object_get(task, "prompt");
	if (!json_is_string(prompt))
		return bad_field(x->err, path, line, "prompt",
			prompt ? "not a string" : !x->o->tasks ?
			"missing (give --tasks FILE to take it from the task "
			"records)" : task ? "missing, and the task has none" :
			"missing, and no task has this id");
	if (status && !json_is_string(status))
		return bad_field(x->err, path, line, "status",
				 "not a string");
	if (cand && !json_is_integer(cand))
		return bad_field(x->err, path, line, "candidate",
				 "not an integer");
	if ((rc = test_counts(rec, path, line, &have, &passed, &total,
			      x->err)) != 0)
		return rc;

	lic = field_str(rec, task, "license");
	if (!licence_allowed(x->o, lic))
		return write_dropped(x, rec, "license", json_pack("{s:s?}",
				     "license", lic));
	if (x->pairs && have && total > 0 &&
	    (rc = remember(x, rec, task, prompt, path, line, passed, total)))
		return rc;
	if (!status)
		return write_dropped(x, rec, "unverified", NULL);
	if (strcmp(json_string_value(status), "pass") != 0)
		return write_dropped(x, rec, "failed", have ?
			json_pack("{s:O, s:I, s:I}", "status", status,
				  "tests_passed", (json_int_t)passed,
				  "tests_total", (json_int_t)total) :
			json_pack("{s:O}", "status", status));

	json_t *meta = sample_meta(rec, task, path, line, have, passed, total);
	json_t *s = meta ? json_pack("{s:[{s:s, s:O}, {s:s, s:O}], s:o}",
		"messages", "role", "user", "content", prompt,
		"role", "assistant", "content", sol, "meta", meta) : NULL;

	if (!s)
		return nomem(x->err);
	rc = kiln_out_write(x->samples, s, x->err);
	json_decref(s);
	if (!rc)
		x->st->stage.kept++;
	return rc;
}

static int read_records(struct exporter *x, const char *path)
{
	kiln_jsonl_reader *r = NULL;
	struct stat sb;
	json_t *rec;
	int rc;

	if ((rc = add_input(x->st, "records", path, &sb, x->err)) ||
	    (rc = kiln_jsonl_open(&r, path, 0, x->err)))
		return rc;
	while ((rc = kiln_jsonl_next(r, &rec, x->err)) == 0) {
		rc = one_record(x, rec, path, kiln_jsonl_lineno(r));
		json_decref(rec);
		if (rc)
			break;
	}
	kiln_jsonl_close(r);
	if (rc == KILN_EEOF)
		rc = changed(path, &sb, x->err);
	return rc;
}

/* ------------------------------------------------------------------ pairs */

/* Groups in order of first appearance; in a group, more tests passed
 * first (the same tests: passed orders the fractions exactly), then input
 * order. */
static int by_group_rank(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	if (x->passed != y->passed)
		return x->passed > y->passed ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static json_t *pair_side(const struct cand *c)
{
	const json_t *cand = json_object_get(c->rec, "candidate");

	return json_pack("{s:I, s:s, s:I, s:f, s:o, s:s, s:I}",
		"candidate", json_is_integer(cand) ?
			json_integer_value(cand) : (json_int_t)-1,
		"status", or_empty(json_string_value(json_object_get(
			kiln_rec_verdict(c->rec), "status"))),
		"tests_passed", (json_int_t)c->passed,
		"pass_fraction", fraction(c->passed, c->total),
		"teacher", teacher_meta(c->rec),
		"file", c->path,
		"line", (json_int_t)c->line);
}

static int write_pair(struct exporter *x, const struct cand *ch,
		      const struct cand *rj)
{
	const json_t *id = json_object_get(ch->rec, "id");
	json_t *p;
	int rc;

	p = json_pack("{s:O, s:O, s:O, s:{s:O, s:I, s:f, s:o, s:o, s:s, "
		      "s:s, s:s}}",
		"prompt", ch->prompt,
		"chosen", json_object_get(ch->rec, "solution"),
		"rejected", json_object_get(rj->rec, "solution"),
		"meta",
		  "id", id,
		  "tests_total", (json_int_t)ch->total,
		  "gap", fraction(ch->passed, ch->total) -
			 fraction(rj->passed, rj->total),
		  "chosen", pair_side(ch),
		  "rejected", pair_side(rj),
		  "origin", or_empty(field_str(ch->rec, ch->task, "origin")),
		  "license", or_empty(field_str(ch->rec, ch->task, "license")),
		  "source", or_empty(source_of(ch->rec, ch->task)));
	if (!p)
		return nomem(x->err);
	rc = kiln_out_write(x->pairs, p, x->err);
	json_decref(p);
	if (!rc)
		x->st->pairs++;
	return rc;
}

/* One group, c[a..b) ranked: the best against the worst ones. */
static int pair_group(struct exporter *x, size_t a, size_t b)
{
	const struct cand *ch = &x->c[a];
	double best = fraction(ch->passed, ch->total);
	int made = 0;

	if (best < x->o->pair_min_pass - FRACTION_EPS)
		return 0;
	/* lowest fraction first; equal fractions in input order */
	for (size_t j = b; j > a + 1 && made < x->o->pairs_per_task;) {
		size_t k = j - 1;

		while (k > a + 1 && x->c[k - 1].passed == x->c[j - 1].passed)
			k--;
		if (best - fraction(x->c[k].passed, x->c[k].total) <
		    x->o->pair_min_gap - FRACTION_EPS)
			break;  /* and every one above it */
		for (size_t i = k; i < j && made < x->o->pairs_per_task; i++) {
			if (json_equal(json_object_get(ch->rec, "solution"),
				       json_object_get(x->c[i].rec,
						       "solution")))
				continue;
			int rc = write_pair(x, ch, &x->c[i]);
			if (rc)
				return rc;
			made++;
		}
		j = k;
	}
	if (made)
		x->st->pair_tasks++;
	return 0;
}

static int make_pairs(struct exporter *x)
{
	size_t a = 0;
	int rc = 0;

	if (x->nc)
		qsort(x->c, x->nc, sizeof *x->c, by_group_rank);
	while (a < x->nc && !rc) {
		size_t b = a + 1;

		while (b < x->nc && x->c[b].group == x->c[a].group)
			b++;
		rc = pair_group(x, a, b);
		a = b;
	}
	return rc;
}

/* ------------------------------------------------------------- the stage */

static json_t *export_params(const kiln_export_opts *o, int pairs)
{
	json_t *lic = json_array(), *p;

	for (size_t i = 0; lic && i < o->nlicenses; i++)
		if (json_array_append_new(lic, json_string(o->licenses[i])))
			break;
	if (lic && !o->nlicenses) {
		json_decref(lic);
		lic = json_null();
	}
	p = json_pack("{s:o?, s:s?, s:s?, s:b, s:f, s:f, s:i}",
		      "allow_license", lic, "tasks", o->tasks,
		      "candidates", o->candidates,
		      "pairs", pairs, "pair_min_pass", o->pair_min_pass,
		      "pair_min_gap", o->pair_min_gap,
		      "pairs_per_task", o->pairs_per_task);
	return p;
}

int kiln_export(const char *const *paths, size_t npaths, kiln_out *samples,
		kiln_out *pairs, kiln_out *dropped,
		const kiln_export_opts *o, kiln_export_stats *st,
		kiln_error *err)
{
	struct exporter x = { .o = o, .st = st, .samples = samples,
			      .pairs = pairs, .dropped = dropped, .err = err };
	double t0 = now();
	int rc = 0;

	memset(st, 0, sizeof *st);
	kiln_stage_stats_init(&st->stage, "export", reasons);
	if (!(o->pair_min_pass >= 0 && o->pair_min_pass <= 1) ||
	    !(o->pair_min_gap > 0 && o->pair_min_gap <= 1) ||
	    o->pairs_per_task < 1 || (o->nlicenses && !o->licenses))
		return kiln_error_set(err, KILN_EINVAL, "export: bad options "
				      "(pair_min_pass in [0, 1], pair_min_gap "
				      "in (0, 1], pairs_per_task >= 1)");
	st->inputs = json_array();
	st->stage.params = export_params(o, pairs != NULL);
	x.groups = json_object();
	if (!st->inputs || !st->stage.params || !x.groups) {
		rc = nomem(err);
		goto out;
	}
	if (o->tasks && (rc = load_map(&x, "tasks", o->tasks, 0,
				       &x.tasks)) != 0)
		goto out;
	if (o->candidates && (rc = load_map(&x, "candidates", o->candidates,
					    1, &x.cands)) != 0)
		goto out;
	for (size_t i = 0; i < npaths && !rc; i++)
		rc = read_records(&x, paths[i]);
	if (!rc && pairs)
		rc = make_pairs(&x);
	st->stage.seconds = now() - t0;
	if (!rc) {
		st->stage.extra = json_pack("{s:I, s:I}", "pairs",
					    (json_int_t)st->pairs, "pair_tasks",
					    (json_int_t)st->pair_tasks);
		if (!st->stage.extra)
			rc = nomem(err);
	}
out:
	for (size_t i = 0; i < x.nc; i++)
		json_decref(x.c[i].rec);
	free(x.c);
	json_decref(x.groups);
	json_decref(x.tasks);
	json_decref(x.cands);
	return rc;
}

/* ----------------------------------------------------------- the funnel */

static json_int_t dropped_total(const json_t *row)
{
	const char *k;
	json_t *v;
	json_int_t n = 0;

	json_object_foreach((json_t *)json_object_get(row, "dropped"), k, v)
		n += json_integer_value(v);
	return n;
}

/* Notes where the counts do not add up. */
static int check_row(json_t *notes, const json_t *row, const json_t *prev)
{
	const char *stage = json_string_value(json_object_get(row, "stage"));
	json_int_t in = json_integer_value(json_object_get(row, "entered"));
	json_int_t kept = json_integer_value(json_object_get(row, "kept"));
	json_int_t drop = dropped_total(row);
	char text[512];

	if (in != kept + drop) {
		snprintf(text, sizeof text, "%s: entered %lld, but kept %lld "
			 "+ dropped %lld = %lld", stage, (long long)in,
			 (long long)kept, (long long)drop,
			 (long long)(kept + drop));
		if (json_array_append_new(notes, json_string(text)))
			return -1;
	}
	if (prev) {
		json_int_t pk = json_integer_value(json_object_get(prev,
								   "kept"));
		if (in != pk) {
			snprintf(text, sizeof text, "%s: entered %lld, but %s "
				 "before it kept %lld", stage, (long long)in,
				 json_string_value(json_object_get(prev,
								   "stage")),
				 (long long)pk);
			if (json_array_append_new(notes, json_string(text)))
				return -1;
		}
	}
	return 0;
}

/* A stats file's dropped counts must be non-negative integers. */
static int check_dropped(const json_t *row, const char *path, kiln_error *err)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)json_object_get(row, "dropped"), k, v)
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return kiln_error_set(err, KILN_EPARSE, "%s: dropped."
					      "%s: not a non-negative integer",
					      path, k);
	if (json_integer_value(json_object_get(row, "entered")) < 0 ||
	    json_integer_value(json_object_get(row, "kept")) < 0)
		return kiln_error_set(err, KILN_EPARSE, "%s: entered and kept "
				      "must be non-negative", path);
	return 0;
}

json_t *kiln_export_funnel(const char *const *stats_paths, size_t n,
			   kiln_export_stats *st, kiln_error *err)
{
	json_t *f = json_pack("{s:[], s:[]}", "stages", "notes");
	json_t *stages = json_object_get(f, "stages");
	json_t *notes = json_object_get(f, "notes");
	json_t *row = NULL, *prev = NULL;
	struct stat sb;

	if (!f)
		goto oom;
	for (size_t i = 0; i <= n; i++) {
		if (i < n) {
			if (add_input(st, "funnel", stats_paths[i], &sb, err))
				goto fail;
			row = kiln_stage_stats_load(stats_paths[i], err);
			if (!row)
				goto fail;
			if (check_dropped(row, stats_paths[i], err) ||
			    changed(stats_paths[i], &sb, err))
				goto fail;
			if (json_object_set_new(row, "file",
					json_string(stats_paths[i])))
				goto oom;
		} else if (!(row = kiln_stage_stats_json(&st->stage)))
			goto oom;
		if (json_object_set_new(row, "dropped_total",
					json_integer(dropped_total(row))) ||
		    check_row(notes, row, prev) ||
		    json_array_append_new(stages, row)) {
			row = NULL;
			goto oom;
		}
		prev = row;
		row = NULL;
	}
	return f;
oom:
	nomem(err);
fail:
	json_decref(row);
	json_decref(f);
	return NULL;
}

char *kiln_export_funnel_table(const json_t *funnel)
{
	const json_t *stages = json_object_get(funnel, "stages");
	const json_t *row, *notes = json_object_get(funnel, "notes");
	kiln_buf b = { .max = (size_t)16 << 20 };
	char line[1024];
	size_t i;
	int bad = 0;

#define ADD(s) (bad |= kiln__buf_add(&b, (s), strlen(s)) != 0)
	snprintf(line, sizeof line, "  %-12s %10s %10s %10s  %s\n", "stage",
		 "entered", "kept", "dropped", "dropped per reason");
	ADD(line);
	json_array_foreach(stages, i, row) {
		const char *k;
		json_t *v;
		int first = 1;

		snprintf(line, sizeof line, "  %-12s %10lld %10lld %10lld  ",
			 json_string_value(json_object_get(row, "stage")),
			 (long long)json_integer_value(json_object_get(row,
								"entered")),
			 (long long)json_integer_value(json_object_get(row,
								"kept")),
			 (long long)dropped_total(row));
		ADD(line);
		json_object_foreach((json_t *)json_object_get(row, "dropped"),
				    k, v) {
			snprintf(line, sizeof line, "%s%s %lld",
				 first ? "" : ", ", k,
				 (long long)json_integer_value(v));
			ADD(line);
			first = 0;
		}
		if (first)
			ADD("-");
		ADD("\n");
	}
	json_array_foreach(notes, i, row) {
		snprintf(line, sizeof line, "  note: %s\n",
			 json_string_value(row));
		ADD(line);
	}
#undef ADD
	if (bad) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* --------------------------------------------------------- the manifest */

static int add_output(json_t *outs, const char *key, const char *path,
		      json_int_t records, kiln_error *err)
{
	json_t *e;
	char hex[65];
	unsigned long long bytes;
	struct stat sb;

	if (!path)
		return 0;
	e = json_pack("{s:s}", "path", path);
	if (!e)
		return nomem(err);
	if (records >= 0)
		json_object_set_new(e, "records", json_integer(records));
	/* a stream (standard output, a pipe) cannot be read back */
	if (strcmp(path, "-") && stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
		if (hash_path(path, hex, &bytes, &sb, err)) {
			json_decref(e);
			return KILN_EIO;
		}
		json_object_set_new(e, "sha256", json_string(hex));
		json_object_set_new(e, "bytes", json_integer((json_int_t)bytes));
	}
	if (json_object_set_new(outs, key, e) != 0)
		return nomem(err);
	return 0;
}

json_t *kiln_export_manifest(const kiln_export_stats *st, const json_t *funnel,
			     const kiln_export_outputs *outs, kiln_error *err)
{
	const kiln_stage_stats *s = &st->stage;
	json_t *own = kiln_stage_stats_json(s);
	json_t *m = NULL, *o;
	size_t dropped = 0;

	for (size_t i = 0; i < s->nreasons; i++)
		dropped += s->dropped[i];
	if (!own)
		goto oom;
	m = json_pack("{s:s, s:s, s:O?, s:O, s:{}, "
		      "s:{s:I, s:I, s:I, s:O?, s:I, s:I}, s:O?}",
		      "kiln_version", KILN_VERSION, "command", "export",
		      "params", s->params, "inputs", st->inputs, "outputs",
		      "counts", "entered", (json_int_t)s->entered,
		      "samples", (json_int_t)s->kept,
		      "dropped", (json_int_t)dropped,
		      "dropped_per_reason", json_object_get(own, "dropped"),
		      "pairs", (json_int_t)st->pairs,
		      "pair_tasks", (json_int_t)st->pair_tasks,
		      "funnel", funnel);
	if (!m)
		goto oom;
	if (!funnel) {
		/* export's own row alone (no file is read for it) */
		json_t *f = kiln_export_funnel(NULL, 0,
					       (kiln_export_stats *)st, err);

		if (!f || json_object_set_new(m, "funnel", f))
			goto fail;
	}
	o = json_object_get(m, "outputs");
	if (outs && (add_output(o, "samples", outs->samples,
				(json_int_t)s->kept, err) ||
		     add_output(o, "pairs", outs->pairs,
				(json_int_t)st->pairs, err) ||
		     add_output(o, "dropped", outs->dropped,
				(json_int_t)dropped, err) ||
		     add_output(o, "stats", outs->stats, -1, err)))
		goto fail;
	json_decref(own);
	return m;
oom:
	nomem(err);
fail:
	json_decref(own);
	json_decref(m);
	return NULL;
}
