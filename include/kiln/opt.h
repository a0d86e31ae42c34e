/* kiln/opt.h - options as data: one typed table per command or stage.
 *
 * A table is an array of kiln_opt rows ended by KILN_OPT_END. Each row
 * names an option (long name, short letter), its kind and range, its help
 * text, and where its value goes in the caller's options struct (offsetof,
 * sizeof). The same table
 *   - parses command-line flags      (kiln_opts_parse),
 *   - applies a JSON object          (kiln_opts_from_json: `kiln run`
 *                                     configurations, worker payloads),
 *   - prints the usage block         (kiln_opts_usage),
 * so flags, configurations and --help are checked and described by one
 * piece of data and cannot drift apart. Every error names the option and
 * what it allows:
 *   --temperature: -1 is out of range [0, 2]
 *   "temperature": -1 is out of range [0, 2]
 *
 * Kinds and what they store (the field's size must match; integers may be
 * 4 or 8 bytes, signed or not, as long as the range fits the type):
 *   FLAG      int: 1 when given (JSON: true or false)
 *   INT       an integer in [lo, hi]; overflow is an error, never clamped
 *             (JSON: an integer)
 *   DOUBLE    a finite double in [dlo, dhi] (KILN_OPT_LO_OPEN: (dlo, dhi]);
 *             nan and inf are refused (JSON: a number)
 *   SIZE      bytes in [lo, hi]: "512M", "64k", "1G", "1000" (k = 1024;
 *             JSON: an integer or such a string)
 *   DURATION  milliseconds (long) in [lo, hi]: "5s", "200ms", "2m", "1.5"
 *             (seconds; JSON: seconds as a number, or such a string)
 *   ENUM      int: the index of the value in choices (JSON: a string)
 *   STRING    const char *: any text (not copied: it points into argv or
 *             into the JSON object, which must outlive the options)
 *   PATH      const char *: a non-empty file or directory name
 *   LIST      ints in [lo, hi], at most cap of them, into an int array at
 *             off, their number into the int at count_off: "1,10"
 *             (JSON: an array of integers, or such a string)
 *   STRINGS   const char *[cap] at off, number at count_off; repeatable
 *             flag (JSON: an array of strings, or one string)
 *   GROUP     no option: a heading in the usage block (help)
 *   INCLUDE   the rows of another table (sub) whose struct sits at off in
 *             this one: 'kiln eval' includes the teacher's and the
 *             sandbox's rows that 'kiln generate' and 'kiln verify' use
 *
 * Underscores and dashes are the same in JSON keys: "top_p" is --top-p.
 * Not thread-safe per options struct; no global state.
 */
#ifndef KILN_OPT_H
#define KILN_OPT_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "kiln/error.h"

typedef enum kiln_opt_kind {
	KILN_OPT_END = 0,
	KILN_OPT_FLAG,
	KILN_OPT_INT,
	KILN_OPT_DOUBLE,
	KILN_OPT_SIZE,
	KILN_OPT_DURATION,
	KILN_OPT_ENUM,
	KILN_OPT_STRING,
	KILN_OPT_PATH,
	KILN_OPT_LIST,
	KILN_OPT_STRINGS,
	KILN_OPT_GROUP,
	KILN_OPT_INCLUDE,
} kiln_opt_kind;

enum {
	KILN_OPT_LO_OPEN = 1,   /* DOUBLE: the low bound itself is refused */
	KILN_OPT_HIDDEN = 2,    /* an alias kept for old command lines: parsed,
				   not in the usage block, not a JSON key */
	KILN_OPT_NO_JSON = 4,   /* a command-line matter (--quiet, --help) */
	KILN_OPT_NO_RANGE = 8,  /* usage: do not print the range */
};

typedef struct kiln_opt {
	const char *name;         /* long name without "--"; NULL for GROUP */
	char short_name;          /* 0: none */
	kiln_opt_kind kind;
	unsigned flags;           /* KILN_OPT_* above */
	size_t off, size;         /* the field in the options struct */
	long long lo, hi;         /* INT, SIZE, DURATION (ms), LIST items */
	double dlo, dhi;          /* DOUBLE */
	const char *const *choices; /* ENUM: NULL-terminated */
	size_t count_off;         /* LIST, STRINGS: int count */
	int cap;                  /* LIST, STRINGS: most items */
	const char *arg;          /* usage: the value's name (N, DUR, FILE) */
	const char *help;         /* usage: what it does (wrapped) */
	const char *def;          /* usage: the default in words; NULL: the
				     field's value when usage is printed;
				     "": none shown */
	const struct kiln_opt *sub; /* INCLUDE */
} kiln_opt;

/* Row builders. T is the options struct type, M a member designator
 * (a.b.c is allowed). */
#define KILN_OPT_F_(T, M) .off = offsetof(T, M), .size = sizeof(((T *)0)->M)
#define KILN_OPT_ROW_FLAG(L, S, T, M, H) \
	{ .name = L, .short_name = S, .kind = KILN_OPT_FLAG, \
	  KILN_OPT_F_(T, M), .help = H, .def = "" }
#define KILN_OPT_ROW_INT(L, S, T, M, LO, HI, A, H) \
	{ .name = L, .short_name = S, .kind = KILN_OPT_INT, \
	  KILN_OPT_F_(T, M), .lo = LO, .hi = HI, .arg = A, .help = H }
#define KILN_OPT_ROW_DOUBLE(L, S, T, M, LO, HI, A, H) \
	{ .name = L, .short_name = S, .kind = KILN_OPT_DOUBLE, \
	  KILN_OPT_F_(T, M), .dlo = LO, .dhi = HI, .arg = A, .help = H }
#define KILN_OPT_ROW_SIZE(L, S, T, M, LO, HI, H) \
	{ .name = L, .short_name = S, .kind = KILN_OPT_SIZE, \
	  KILN_OPT_F_(T, M), .lo = LO, .hi = HI, .arg = "SIZE", .help = H }
#define KILN_OPT_ROW_DURATION(L, S, T, M, LO, HI, H) \
	{ .name = L, .short_name = S, .kind = KILN_OPT_DURATION, \
	  KILN_OPT_F_(T, M), .lo = LO, .hi = HI, .arg = "DUR", .help = H }
#define KILN_OPT_ROW_ENUM(L, S, T, M, CH, A, H) \
	{ .name = L, .short_name = S, .kind = KILN_OPT_ENUM, \
	  KILN_OPT_F_(T, M), .choices = CH, .arg = A, .help = H }
#define KILN_OPT_ROW_STRING(L, S, T, M, A, H) \
	{ .name = L, .short_name = S, .kind = KILN_OPT_STRING, \
	  KILN_OPT_F_(T, M), .arg = A, .help = H }
#define KILN_OPT_ROW_PATH(L, S, T, M, A, H) \
	{ .name = L, .short_name = S, .kind = KILN_OPT_PATH, \
	  KILN_OPT_F_(T, M), .arg = A, .help = H }
#define KILN_OPT_ROW_LIST(L, S, T, M, N, LO, HI, A, H) \
	{ .name = L, .short_name = S, .kind = KILN_OPT_LIST, \
	  KILN_OPT_F_(T, M), .count_off = offsetof(T, N), \
	  .cap = (int)(sizeof(((T *)0)->M) / sizeof(((T *)0)->M[0])), \
	  .lo = LO, .hi = HI, .arg = A, .help = H }
#define KILN_OPT_ROW_STRINGS(L, S, T, M, N, A, H) \
	{ .name = L, .short_name = S, .kind = KILN_OPT_STRINGS, \
	  KILN_OPT_F_(T, M), .count_off = offsetof(T, N), \
	  .cap = (int)(sizeof(((T *)0)->M) / sizeof(((T *)0)->M[0])), \
	  .arg = A, .help = H, .def = "" }
#define KILN_OPT_ROW_GROUP(H) { .kind = KILN_OPT_GROUP, .help = H }
#define KILN_OPT_ROW_INCLUDE(T, M, SUB) \
	{ .kind = KILN_OPT_INCLUDE, .off = offsetof(T, M), .sub = SUB }
#define KILN_OPT_ROW_END { .kind = KILN_OPT_END }

/* kiln_opts_parse's answer when -h or --help was given. */
#define KILN_OPTS_HELP 1

/* Parses argv[1..argc-1] (argv[0] is the command's name) into opts, which
 * holds its defaults already. Options and operands may be mixed; "--" ends
 * the options; "-" is an operand. Long options may be abbreviated to a
 * unique prefix; "--name=value", "-xVALUE" and bundled short flags ("-qC")
 * work as with getopt. Operands are moved, in order, to argv[1..*npos]
 * (as GNU getopt permutes argv). Returns 0, KILN_OPTS_HELP, or KILN_EINVAL
 * with err naming the option: "--jobs: 0 is out of range [1, 1024]". */
int kiln_opts_parse(const kiln_opt *table, int argc, char **argv, void *opts,
		    int *npos, kiln_error *err);

/* Applies every key of a JSON object to opts, with the same checks (and
 * the same wording, the key in quotes instead of the flag). An unknown key,
 * a value of the wrong JSON type or out of range is an error; nothing is
 * rolled back (start from a copy of the defaults if that matters). */
int kiln_opts_from_json(const kiln_opt *table, const json_t *obj, void *opts,
			kiln_error *err);

/* The options in opts as a JSON object that kiln_opts_from_json reads
 * back to the same values (a worker payload, a configuration to save):
 * sizes and durations as strings ("512M", "200ms"), and a field that holds
 * no value of its row's range (an unset default such as "one per core") is
 * left out. Rows marked NO_JSON or HIDDEN are left out. */
int kiln_opts_to_json(const kiln_opt *table, const void *opts, json_t **out,
		      kiln_error *err);

/* Parses one value for the row named name, as the flag would. */
int kiln_opts_set(const kiln_opt *table, const char *name, const char *value,
		  void *opts, kiln_error *err);

/* The "options:" block of a usage text: one entry a row (headings for
 * GROUP rows), help wrapped at 79 columns, each with its range and its
 * default (read from opts, which should hold the defaults). The caller
 * adds what its parser takes besides (-h, --help). */
void kiln_opts_usage(const kiln_opt *table, const void *opts, FILE *f);

/* Copies the row of a long name (its offsets made relative to this
 * table's struct) to *row. Returns 0, or KILN_EINVAL if there is none. */
int kiln_opts_find(const kiln_opt *table, const char *name, kiln_opt *row);

/* "512M", "1G", "64k", "1000" -> bytes; -1 if malformed. */
long long kiln_parse_size(const char *s);
/* "5s", "500ms", "2m", "1.5" (seconds) -> milliseconds; -1 if malformed. */
long long kiln_parse_duration_ms(const char *s);

#endif
