/* Options as data (kiln/opt.h): one table parses flags, applies JSON
 * objects and prints the usage block, with one set of checks. */
#include "kiln/opt.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ numbers */

/* "512M" -> 536870912.0; -1 if malformed. A double, so that a value too
 * large for any integer type is still "out of range", not "malformed". */
static double size_value(const char *s)
{
	char *end;
	double v, mul = 1;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || v < 0 || isnan(v) || (errno && !isinf(v)))
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mul = 1024.0; end++; break;
	case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
	case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
	case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
	default: return -1;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	return *end ? -1 : v * mul;
}

/* "5s" -> 5000.0 ms; -1 if malformed. */
static double duration_value(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || v < 0 || isnan(v) || (errno && !isinf(v)))
		return -1;
	if (strcmp(end, "ms") == 0)
		return v;
	if (strcmp(end, "s") == 0 || *end == '\0')
		return v * 1000;
	if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		return v * 60000;
	if (strcmp(end, "h") == 0)
		return v * 3600000;
	return -1;
}

long long kiln_parse_size(const char *s)
{
	double v = size_value(s);

	return v < 0 || v > 9e18 ? -1 : (long long)v;
}

long long kiln_parse_duration_ms(const char *s)
{
	double v = duration_value(s);

	return v < 0 || v > 1e15 ? -1 : (long long)(v + 0.5);
}

static void fmt_size(char *b, size_t n, long long v)
{
	static const char unit[] = "kMGT";
	int u = -1;

	while (v != 0 && v % 1024 == 0 && u < 3)
		v /= 1024, u++;
	if (u < 0)
		snprintf(b, n, "%lld", v);
	else
		snprintf(b, n, "%lld%c", v, unit[u]);
}

static void fmt_duration(char *b, size_t n, long long ms)
{
	if (ms == 0)
		snprintf(b, n, "0");
	else if (ms % 3600000 == 0)
		snprintf(b, n, "%lldh", ms / 3600000);
	else if (ms % 1000 == 0)
		snprintf(b, n, "%llds", ms / 1000);
	else
		snprintf(b, n, "%lldms", ms);
}

/* The row's range as "[lo, hi]" in its own units. */
static void fmt_range(const kiln_opt *r, char *b, size_t n)
{
	char lo[32], hi[32];

	switch (r->kind) {
	case KILN_OPT_DOUBLE:
		snprintf(b, n, "%c%.15g, %.15g]",
			 r->flags & KILN_OPT_LO_OPEN ? '(' : '[', r->dlo, r->dhi);
		return;
	case KILN_OPT_SIZE:
		fmt_size(lo, sizeof lo, r->lo);
		fmt_size(hi, sizeof hi, r->hi);
		break;
	case KILN_OPT_DURATION:
		fmt_duration(lo, sizeof lo, r->lo);
		fmt_duration(hi, sizeof hi, r->hi);
		break;
	default:
		snprintf(lo, sizeof lo, "%lld", r->lo);
		snprintf(hi, sizeof hi, "%lld", r->hi);
	}
	snprintf(b, n, "[%s, %s]", lo, hi);
}

/* ------------------------------------------------------------ fields */

static void put_int(const kiln_opt *r, void *opts, long long v)
{
	char *p = (char *)opts + r->off;

	/* a table's own mistake, not input: KILN_OPT_F_ gives the size */
	assert(r->size == sizeof(int32_t) || r->size == sizeof(int64_t));
	if (r->size == sizeof(int32_t)) {
		int32_t x = (int32_t)v;
		memcpy(p, &x, sizeof x);
	} else {
		int64_t x = (int64_t)v;
		memcpy(p, &x, sizeof x);
	}
}

static long long get_int(const kiln_opt *r, const void *opts)
{
	const char *p = (const char *)opts + r->off;

	if (r->size == sizeof(int32_t)) {
		int32_t x;
		memcpy(&x, p, sizeof x);
		return x;
	}
	{
		int64_t x;
		memcpy(&x, p, sizeof x);
		return x;
	}
}

static int *count_of(const kiln_opt *r, void *opts)
{
	return (int *)(void *)((char *)opts + r->count_off);
}

/* ------------------------------------------------------------ checks */

/* where: "--name" or "\"key\"". shown: the value as the user wrote it. */
static int out_of_range(const kiln_opt *r, const char *where,
			const char *shown, kiln_error *err)
{
	char range[96];

	fmt_range(r, range, sizeof range);
	return kiln_error_set(err, KILN_EINVAL, "%s: %s is out of range %s",
			      where, shown, range);
}

static int check_int(const kiln_opt *r, long long v, const char *where,
		     const char *shown, kiln_error *err)
{
	if (v < r->lo || v > r->hi)
		return out_of_range(r, where, shown, err);
	return 0;
}

/* A whole decimal integer; ERANGE is "out of range", never clamped. */
static int parse_ll(const kiln_opt *r, const char *s, const char *where,
		    long long *v, kiln_error *err)
{
	char *end;

	errno = 0;
	*v = strtoll(s, &end, 10);
	if (end == s || *end || *s == ' ' || *s == '\t')
		return kiln_error_set(err, KILN_EINVAL,
				      "%s: '%s' is not an integer", where, s);
	if (errno == ERANGE)
		return out_of_range(r, where, s, err);
	return check_int(r, *v, where, s, err);
}

static int set_double(const kiln_opt *r, double v, const char *where,
		      const char *shown, void *opts, kiln_error *err)
{
	int low_ok = r->flags & KILN_OPT_LO_OPEN ? v > r->dlo : v >= r->dlo;

	assert(r->size == sizeof(double));
	/* nan fails every comparison: it is out of every range */
	if (!isfinite(v) || !low_ok || !(v <= r->dhi))
		return out_of_range(r, where, shown, err);
	memcpy((char *)opts + r->off, &v, sizeof v);
	return 0;
}

/* A size or duration measured as a double (-1: malformed), then stored. */
static int set_measure(const kiln_opt *r, double v, const char *where,
		       const char *shown, void *opts, kiln_error *err)
{
	long long x;

	if (v < 0)
		return kiln_error_set(err, KILN_EINVAL, "%s: '%s' is not a %s",
			where, shown, r->kind == KILN_OPT_SIZE
			? "size (e.g. 512M, 64k, 1G)"
			: "duration (e.g. 5s, 200ms, 2m)");
	if (r->kind == KILN_OPT_DURATION)
		v += 0.5; /* to the nearest millisecond */
	else if (v != floor(v) && isfinite(v))
		/* half a byte is no size ("--memory 0.4" is not "no limit") */
		return kiln_error_set(err, KILN_EINVAL, "%s: '%s' is not a "
				      "whole number of bytes", where, shown);
	if (!(v >= (double)r->lo && v < (double)r->hi + 1))
		return out_of_range(r, where, shown, err);
	x = (long long)v;
	if (x < r->lo || x > r->hi)
		return out_of_range(r, where, shown, err);
	put_int(r, opts, x);
	return 0;
}

static int set_list(const kiln_opt *r, const char *s, const char *where,
		    void *opts, kiln_error *err)
{
	int *items = (int *)(void *)((char *)opts + r->off), n = 0;
	const char *p = s;

	if (!*s)
		return kiln_error_set(err, KILN_EINVAL, "%s: an empty list",
				      where);
	while (*p) {
		char item[32];
		size_t len = strcspn(p, ",");
		long long v;

		if (n == r->cap)
			return kiln_error_set(err, KILN_EINVAL, "%s: more than "
					      "%d values", where, r->cap);
		if (len == 0 || len >= sizeof item)
			return kiln_error_set(err, KILN_EINVAL, "%s: '%s' is not "
					      "a list of integers (e.g. 1,10)",
					      where, s);
		memcpy(item, p, len);
		item[len] = '\0';
		if (parse_ll(r, item, where, &v, err))
			return err ? err->code : KILN_EINVAL;
		items[n++] = (int)v;
		p += len;
		if (*p == ',' && !*++p)
			return kiln_error_set(err, KILN_EINVAL, "%s: '%s' ends "
					      "with a comma", where, s);
	}
	*count_of(r, opts) = n;
	return 0;
}

static int add_string(const kiln_opt *r, const char *s, const char *where,
		      void *opts, kiln_error *err)
{
	const char **items = (const char **)(void *)((char *)opts + r->off);
	int *n = count_of(r, opts);

	if (!*s)
		return kiln_error_set(err, KILN_EINVAL, "%s: an empty value",
				      where);
	if (*n >= r->cap)
		return kiln_error_set(err, KILN_EINVAL, "%s: at most %d value%s",
				      where, r->cap, r->cap == 1 ? "" : "s");
	items[(*n)++] = s;
	return 0;
}

/* One value given as text (a flag's argument, or a JSON string). */
static int set_text(const kiln_opt *r, const char *s, const char *where,
		    void *opts, kiln_error *err)
{
	long long v;

	switch (r->kind) {
	case KILN_OPT_INT:
		if (parse_ll(r, s, where, &v, err))
			return KILN_EINVAL;
		put_int(r, opts, v);
		return 0;
	case KILN_OPT_DOUBLE: {
		char *end;
		double d;

		d = strtod(s, &end);
		if (end == s || *end)
			return kiln_error_set(err, KILN_EINVAL,
					      "%s: '%s' is not a number",
					      where, s);
		return set_double(r, d, where, s, opts, err);
	}
	case KILN_OPT_SIZE:
		return set_measure(r, size_value(s), where, s, opts, err);
	case KILN_OPT_DURATION:
		return set_measure(r, duration_value(s), where, s, opts, err);
	case KILN_OPT_ENUM: {
		char list[256] = "";

		for (int i = 0; r->choices[i]; i++) {
			if (strcmp(s, r->choices[i]) == 0) {
				put_int(r, opts, i);
				return 0;
			}
			snprintf(list + strlen(list), sizeof list - strlen(list),
				 "%s%s", i ? ", " : "", r->choices[i]);
		}
		return kiln_error_set(err, KILN_EINVAL, "%s: '%s' is not one "
				      "of %s", where, s, list);
	}
	case KILN_OPT_PATH:
		if (!*s)
			return kiln_error_set(err, KILN_EINVAL,
					      "%s: an empty name", where);
		/* fall through */
	case KILN_OPT_STRING:
		assert(r->size == sizeof s);
		memcpy((char *)opts + r->off, &s, sizeof s);
		return 0;
	case KILN_OPT_LIST:
		return set_list(r, s, where, opts, err);
	case KILN_OPT_STRINGS:
		return add_string(r, s, where, opts, err);
	default:
		return kiln_error_set(err, KILN_EINVAL, "%s: takes no value",
				      where);
	}
}

/* ------------------------------------------------------------ lookup */

/* Calls fn for every row of table, INCLUDE rows expanded, each row's
 * offsets shifted by base; stops at the first fn that returns non-zero. */
typedef int (*row_fn)(const kiln_opt *r, void *ctx);

static int walk(const kiln_opt *t, size_t base, row_fn fn, void *ctx)
{
	for (; t->kind != KILN_OPT_END; t++) {
		kiln_opt r = *t;
		int rc;

		if (t->kind == KILN_OPT_INCLUDE) {
			rc = walk(t->sub, base + t->off, fn, ctx);
		} else {
			r.off += base;
			r.count_off += base;
			rc = fn(&r, ctx);
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* Long names match exactly; JSON keys may use '_' for '-'. */
static int name_eq(const char *name, const char *key, size_t klen, int json)
{
	size_t i;

	for (i = 0; i < klen; i++) {
		char a = name[i], b = key[i];

		if (!a)
			return 0;
		if (json && b == '_')
			b = '-';
		if (a != b)
			return 0;
	}
	return name[i] == '\0';
}

struct find {
	const char *key;
	size_t klen;
	char short_name;
	int mode;        /* 0 exact, 1 prefix, 2 JSON key, 3 short letter */
	int hits;
	kiln_opt row;
	char names[256]; /* mode 1: the names that begin so */
};

static int find_row(const kiln_opt *r, void *ctx)
{
	struct find *f = ctx;
	int hit;

	if (!r->name)
		return 0;
	switch (f->mode) {
	case 0: hit = name_eq(r->name, f->key, f->klen, 0); break;
	case 1: hit = strncmp(r->name, f->key, f->klen) == 0 &&
		      !(r->flags & KILN_OPT_HIDDEN); break;
	case 2: hit = !(r->flags & (KILN_OPT_NO_JSON | KILN_OPT_HIDDEN)) &&
		      name_eq(r->name, f->key, f->klen, 1); break;
	default: hit = r->short_name == f->short_name; break;
	}
	if (!hit)
		return 0;
	f->row = *r;
	f->hits++;
	if (f->mode == 1)
		snprintf(f->names + strlen(f->names),
			 sizeof f->names - strlen(f->names), "%s--%s",
			 f->hits > 1 ? ", " : "", r->name);
	return f->mode != 1; /* a prefix goes on: is it unique? */
}

int kiln_opts_find(const kiln_opt *table, const char *name, kiln_opt *row)
{
	struct find f = { .key = name, .klen = strlen(name) };

	walk(table, 0, find_row, &f);
	if (!f.hits)
		return KILN_EINVAL;
	*row = f.row;
	return 0;
}

/* --name or a unique prefix of one (as getopt_long). */
static int find_long(const kiln_opt *table, const char *key, size_t klen,
		     kiln_opt *row, kiln_error *err)
{
	struct find f = { .key = key, .klen = klen };

	walk(table, 0, find_row, &f);
	if (!f.hits) {
		f.mode = 1;
		walk(table, 0, find_row, &f);
	}
	if (f.hits == 1) {
		*row = f.row;
		return 0;
	}
	if (f.hits)
		return kiln_error_set(err, KILN_EINVAL, "ambiguous option "
				      "'--%.*s': %s", (int)klen, key, f.names);
	return kiln_error_set(err, KILN_EINVAL, "unknown option '--%.*s'",
			      (int)klen, key);
}

static int find_short(const kiln_opt *table, char c, kiln_opt *row)
{
	struct find f = { .short_name = c, .mode = 3 };

	if (!c)
		return KILN_EINVAL;
	walk(table, 0, find_row, &f);
	*row = f.row;
	return f.hits ? 0 : KILN_EINVAL;
}

/* ------------------------------------------------------------ argv */

int kiln_opts_set(const kiln_opt *table, const char *name, const char *value,
		  void *opts, kiln_error *err)
{
	kiln_opt r;
	char where[96];

	if (kiln_opts_find(table, name, &r))
		return kiln_error_set(err, KILN_EINVAL, "unknown option '--%s'",
				      name);
	snprintf(where, sizeof where, "--%s", r.name);
	if (r.kind == KILN_OPT_FLAG) {
		put_int(&r, opts, 1);
		return 0;
	}
	return set_text(&r, value, where, opts, err);
}

int kiln_opts_parse(const kiln_opt *table, int argc, char **argv, void *opts,
		    int *npos, kiln_error *err)
{
	int i, only_operands = 0;

	*npos = 0;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		kiln_opt r;
		char where[96];

		if (only_operands || a[0] != '-' || a[1] == '\0') {
			argv[1 + (*npos)++] = argv[i]; /* never ahead of i */
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_operands = 1;
			continue;
		}
		if (a[1] == '-') {                    /* --name[=value] */
			const char *eq = strchr(a + 2, '=');
			size_t klen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);

			if (name_eq("help", a + 2, klen, 0))
				return KILN_OPTS_HELP;
			if (find_long(table, a + 2, klen, &r, err))
				return KILN_EINVAL;
			snprintf(where, sizeof where, "--%s", r.name);
			if (r.kind == KILN_OPT_FLAG) {
				if (eq)
					return kiln_error_set(err, KILN_EINVAL,
						"%s takes no value", where);
				put_int(&r, opts, 1);
				continue;
			}
			val = eq ? eq + 1 : NULL;
		} else {                              /* -x, -xVALUE, -qC */
			const char *p = a + 1;

			for (;;) {
				if (*p == 'h')
					return KILN_OPTS_HELP;
				if (find_short(table, *p, &r))
					return kiln_error_set(err, KILN_EINVAL,
						"unknown option '-%c'", *p);
				/* named as typed, and by its long name */
				snprintf(where, sizeof where, "-%c (--%s)", *p,
					 r.name);
				if (r.kind != KILN_OPT_FLAG)
					break;
				put_int(&r, opts, 1);
				if (!*++p)
					break;
			}
			if (r.kind == KILN_OPT_FLAG)
				continue;
			val = p[1] ? p + 1 : NULL;
		}
		if (!val) {
			if (i + 1 >= argc)
				return kiln_error_set(err, KILN_EINVAL, "%s needs "
					"a value (%s)", where,
					r.arg ? r.arg : "see --help");
			val = argv[++i];
		}
		if (set_text(&r, val, where, opts, err))
			return KILN_EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------ JSON */

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE: case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

static int wrong_type(const char *where, const char *want, const json_t *v,
		      kiln_error *err)
{
	return kiln_error_set(err, KILN_EINVAL, "%s: expected %s, got %s",
			      where, want, json_kind(v));
}

/* A JSON number as the user most likely wrote it: 1e+300, 0.1. */
static void fmt_number(char *b, size_t n, double v)
{
	snprintf(b, n, "%.15g", v);
	if (strtod(b, NULL) != v)
		snprintf(b, n, "%.17g", v);
}

static int json_value(const kiln_opt *r, const json_t *v, const char *where,
		      void *opts, kiln_error *err)
{
	char shown[64];

	switch (r->kind) {
	case KILN_OPT_FLAG:
		if (!json_is_boolean(v))
			return wrong_type(where, "true or false", v, err);
		put_int(r, opts, json_is_true(v));
		return 0;
	case KILN_OPT_INT:
		if (!json_is_integer(v))
			return wrong_type(where, "an integer", v, err);
		snprintf(shown, sizeof shown, "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
		if (check_int(r, json_integer_value(v), where, shown, err))
			return KILN_EINVAL;
		put_int(r, opts, json_integer_value(v));
		return 0;
	case KILN_OPT_DOUBLE:
		if (!json_is_number(v))
			return wrong_type(where, "a number", v, err);
		fmt_number(shown, sizeof shown, json_number_value(v));
		return set_double(r, json_number_value(v), where, shown, opts,
				  err);
	case KILN_OPT_SIZE:
	case KILN_OPT_DURATION:
		if (json_is_string(v))
			return set_text(r, json_string_value(v), where, opts,
					err);
		if (!json_is_number(v) ||
		    (r->kind == KILN_OPT_SIZE && !json_is_integer(v)))
			return wrong_type(where, r->kind == KILN_OPT_SIZE
				? "bytes (an integer) or a size such as \"512M\""
				: "seconds or a duration such as \"200ms\"",
				v, err);
		fmt_number(shown, sizeof shown, json_number_value(v));
		return set_measure(r, r->kind == KILN_OPT_SIZE
				   ? json_number_value(v)
				   : json_number_value(v) * 1000, where,
				   shown, opts, err);
	case KILN_OPT_LIST:
		if (json_is_array(v)) {
			int *items = (int *)(void *)((char *)opts + r->off);
			size_t i;
			const json_t *x;

			if (json_array_size(v) == 0)
				return kiln_error_set(err, KILN_EINVAL,
					"%s: an empty list", where);
			if (json_array_size(v) > (size_t)r->cap)
				return kiln_error_set(err, KILN_EINVAL,
					"%s: more than %d values", where, r->cap);
			json_array_foreach(v, i, x) {
				if (!json_is_integer(x))
					return wrong_type(where,
						"an array of integers", x, err);
				snprintf(shown, sizeof shown, "%"
					 JSON_INTEGER_FORMAT,
					 json_integer_value(x));
				if (check_int(r, json_integer_value(x), where,
					      shown, err))
					return KILN_EINVAL;
				items[i] = (int)json_integer_value(x);
			}
			*count_of(r, opts) = (int)json_array_size(v);
			return 0;
		}
		break;
	case KILN_OPT_STRINGS:
		if (json_is_array(v)) {
			size_t i;
			const json_t *x;

			*count_of(r, opts) = 0;
			json_array_foreach(v, i, x) {
				if (!json_is_string(x))
					return wrong_type(where,
						"an array of strings", x, err);
				if (add_string(r, json_string_value(x), where,
					       opts, err))
					return KILN_EINVAL;
			}
			return 0;
		}
		if (json_is_string(v))
			*count_of(r, opts) = 0;
		break;
	default:
		break;
	}
	if (!json_is_string(v))
		return wrong_type(where, r->kind == KILN_OPT_LIST
				  ? "an array of integers" : "a string", v, err);
	return set_text(r, json_string_value(v), where, opts, err);
}

int kiln_opts_from_json(const kiln_opt *table, const json_t *obj, void *opts,
			kiln_error *err)
{
	const char *key;
	json_t *v;

	if (!json_is_object(obj))
		return wrong_type("options", "an object", obj, err);
	json_object_foreach((json_t *)obj, key, v) {
		struct find f = { .key = key, .klen = strlen(key), .mode = 2 };
		char where[96];

		snprintf(where, sizeof where, "\"%s\"", key);
		walk(table, 0, find_row, &f);
		if (!f.hits)
			return kiln_error_set(err, KILN_EINVAL,
					      "%s: unknown option", where);
		if (json_value(&f.row, v, where, opts, err))
			return KILN_EINVAL;
	}
	return 0;
}

/* The value of a row as JSON, or NULL when the field holds no value of
 * the row's range: an unset default ("one per core", "lr/10") is left out,
 * so that the object reads back through kiln_opts_from_json. */
static json_t *row_json(const kiln_opt *r, const void *opts)
{
	const char *p = (const char *)opts + r->off;
	char b[64];

	switch (r->kind) {
	case KILN_OPT_FLAG:
		return json_boolean(get_int(r, opts));
	case KILN_OPT_INT: {
		long long v = get_int(r, opts);
		return v < r->lo || v > r->hi ? NULL : json_integer(v);
	}
	case KILN_OPT_DOUBLE: {
		double d;
		memcpy(&d, p, sizeof d);
		if (!isfinite(d) || d > r->dhi || d < r->dlo ||
		    (d == r->dlo && (r->flags & KILN_OPT_LO_OPEN)))
			return NULL;
		return json_real(d);
	}
	case KILN_OPT_SIZE:
	case KILN_OPT_DURATION: {
		long long v = get_int(r, opts);
		if (v < r->lo || v > r->hi)
			return NULL;
		if (r->kind == KILN_OPT_SIZE)
			fmt_size(b, sizeof b, v);
		else
			fmt_duration(b, sizeof b, v);
		return json_string(b);
	}
	case KILN_OPT_ENUM: {
		long long i = get_int(r, opts);
		for (long long k = 0; r->choices[k]; k++)
			if (k == i)
				return json_string(r->choices[k]);
		return NULL;
	}
	case KILN_OPT_STRING:
	case KILN_OPT_PATH: {
		const char *v;
		memcpy(&v, p, sizeof v);
		return v && (*v || r->kind == KILN_OPT_STRING) ?
			json_string(v) : NULL;
	}
	case KILN_OPT_LIST:
	case KILN_OPT_STRINGS: {
		int n = *(const int *)(const void *)((const char *)opts +
						     r->count_off);
		json_t *a = json_array();

		for (int i = 0; a && i < n && i < r->cap; i++)
			json_array_append_new(a, r->kind == KILN_OPT_LIST
				? json_integer(((const int *)(const void *)p)[i])
				: json_string(((const char *const *)
					       (const void *)p)[i]));
		if (a && n == 0 && r->kind == KILN_OPT_STRINGS) {
			json_decref(a);
			return NULL; /* none given */
		}
		return a;
	}
	default:
		return NULL;
	}
}

struct to_json {
	const void *opts;
	json_t *obj;
	int rc;
};

static int json_row(const kiln_opt *r, void *ctx)
{
	struct to_json *t = ctx;
	json_t *v;

	if (!r->name || (r->flags & (KILN_OPT_NO_JSON | KILN_OPT_HIDDEN)))
		return 0;
	v = row_json(r, t->opts);
	if (v && json_object_set_new(t->obj, r->name, v)) {
		t->rc = KILN_ENOMEM;
		return 1;
	}
	return 0;
}

int kiln_opts_to_json(const kiln_opt *table, const void *opts, json_t **out,
		      kiln_error *err)
{
	struct to_json t = { opts, json_object(), 0 };

	if (!t.obj || (walk(table, 0, json_row, &t), t.rc)) {
		json_decref(t.obj);
		return kiln_error_set(err, KILN_ENOMEM, "options: out of memory");
	}
	*out = t.obj;
	return 0;
}

/* ------------------------------------------------------------ usage */

#define HELP_COL 27
#define WIDTH 79

/* Writes text from column col, wrapped at WIDTH, continuation lines
 * indented to HELP_COL; "\n" in text breaks the line. */
static void wrap(FILE *f, int col, const char *text)
{
	const char *p = text;

	while (*p) {
		size_t w = strcspn(p, " \n");

		/* a range "[1, 1024]" is one word */
		if (memchr(p, '[', w) && !memchr(p, ']', w) &&
		    strchr(p, ']') && p[w] == ' ')
			w = (size_t)(strchr(p, ']') - p) + 1;
		if (p[w] && p[w] != ' ' && p[w] != '\n')
			w += strcspn(p + w, " \n");

		if (w && col > HELP_COL && col + 1 + (int)w > WIDTH) {
			fprintf(f, "\n%*s", HELP_COL, "");
			col = HELP_COL;
		} else if (w && col > HELP_COL) {
			fputc(' ', f);
			col++;
		}
		fwrite(p, 1, w, f);
		col += (int)w;
		p += w;
		if (*p == '\n') {
			fprintf(f, "\n%*s", HELP_COL, "");
			col = HELP_COL;
		}
		while (*p == ' ' || *p == '\n')
			p++;
	}
	fputc('\n', f);
}

/* The default, from the field's current value. "" when there is none. */
static void fmt_default(const kiln_opt *r, const void *opts, char *b,
			size_t n)
{
	const char *p = (const char *)opts + r->off;

	b[0] = '\0';
	if (r->def) {
		snprintf(b, n, "%s", r->def);
		return;
	}
	switch (r->kind) {
	case KILN_OPT_INT:
		snprintf(b, n, "%lld", get_int(r, opts));
		break;
	case KILN_OPT_DOUBLE: {
		double d;
		memcpy(&d, p, sizeof d);
		snprintf(b, n, "%g", d);
		break;
	}
	case KILN_OPT_SIZE:
		fmt_size(b, n, get_int(r, opts));
		break;
	case KILN_OPT_DURATION:
		fmt_duration(b, n, get_int(r, opts));
		break;
	case KILN_OPT_ENUM: {
		long long i = get_int(r, opts);
		for (long long k = 0; r->choices[k]; k++)
			if (k == i)
				snprintf(b, n, "%s", r->choices[k]);
		break;
	}
	case KILN_OPT_STRING:
	case KILN_OPT_PATH: {
		const char *s;
		memcpy(&s, p, sizeof s);
		if (s)
			snprintf(b, n, "%s", s);
		break;
	}
	case KILN_OPT_LIST: {
		const int *items = (const int *)(const void *)p;
		int c = *(const int *)(const void *)((const char *)opts +
						     r->count_off);
		for (int i = 0; i < c && strlen(b) + 16 < n; i++)
			snprintf(b + strlen(b), n - strlen(b), "%s%d",
				 i ? "," : "", items[i]);
		break;
	}
	default:
		break;
	}
}

static int has_group(const kiln_opt *r, void *ctx)
{
	(void)ctx;
	return r->kind == KILN_OPT_GROUP;
}

struct usage {
	const void *opts;
	FILE *f;
};

static int usage_row(const kiln_opt *r, void *ctx)
{
	const void *opts = ((struct usage *)ctx)->opts;
	FILE *f = ((struct usage *)ctx)->f;
	char left[320], def[128], range[96], text[1024], arg[128];
	int col;

	if (r->kind == KILN_OPT_GROUP) {
		fprintf(f, "%s\n", r->help);
		return 0;
	}
	if (r->flags & KILN_OPT_HIDDEN)
		return 0;
	arg[0] = '\0';
	if (r->kind == KILN_OPT_ENUM && !r->arg)
		for (int i = 0; r->choices[i]; i++)
			snprintf(arg + strlen(arg), sizeof arg - strlen(arg),
				 "%s%s", i ? "|" : "", r->choices[i]);
	else if (r->arg)
		snprintf(arg, sizeof arg, "%s", r->arg);
	if (r->short_name)
		snprintf(left, sizeof left, "  -%c, --%s%s%s", r->short_name,
			 r->name, *arg ? " " : "", arg);
	else
		snprintf(left, sizeof left, "      --%s%s%s", r->name,
			 *arg ? " " : "", arg);
	fputs(left, f);
	col = (int)strlen(left);
	if (col >= HELP_COL - 1)
		fprintf(f, "\n%*s", HELP_COL, "");
	else
		fprintf(f, "%*s", HELP_COL - col, "");
	range[0] = '\0';
	if (!(r->flags & KILN_OPT_NO_RANGE) &&
	    (r->kind == KILN_OPT_INT || r->kind == KILN_OPT_DOUBLE ||
	     r->kind == KILN_OPT_SIZE || r->kind == KILN_OPT_DURATION ||
	     r->kind == KILN_OPT_LIST))
		fmt_range(r, range, sizeof range);
	def[0] = '\0';
	if (opts)
		fmt_default(r, opts, def, sizeof def);
	snprintf(text, sizeof text, "%s%s%s%s%s%s%s%s", r->help,
		 *range || *def ? " (" : "", *def ? "default " : "", def,
		 *range && *def ? "; " : "",
		 *range ? (r->kind == KILN_OPT_LIST ? "each in " : "range ")
			: "", range, *range || *def ? ")" : "");
	wrap(f, HELP_COL, text);
	return 0;
}

void kiln_opts_usage(const kiln_opt *table, const void *opts, FILE *f)
{
	struct usage u = { opts, f };

	if (!walk(table, 0, has_group, NULL))
		fputs("options:\n", f);
	walk(table, 0, usage_row, &u);
}
