/* bank_int.h - the procedural task bank's internals (docs/BANK.md).
 *
 * A task is a pipeline of stages, each a template (a primitive) with up
 * to two integer parameters: the input (an integer, a list of integers or
 * a string) goes through every stage in turn and the last stage's value
 * is the answer. One table of templates (prims.c) gives, for each, its
 * types, its semantics (kiln's reference interpreter), its Python and C
 * code, its phrasings and its wrong variants; emit.c turns a pipeline
 * into a solution and a prompt, bank.c draws tasks, runs the interpreter
 * for the hidden tests and plants the wrong variants.
 *
 * Values are bounded so that Python and C agree: integers stay within
 * +-BK_LIM (the C code uses long long and never overflows), lists and
 * strings hold at most BK_MAX items (the C code's arrays). An input whose
 * run leaves the bounds is not used as a test.
 */
#ifndef KILN_BANK_INT_H
#define KILN_BANK_INT_H

#include <stddef.h>

/* A growing string with a sticky out-of-memory flag (as SQLite's): the
 * emitters append without checking, the caller checks oom once. */
typedef struct bk_buf {
	char *p;
	size_t len, cap;
	int oom;
} bk_buf;

void bk_puts(bk_buf *b, const char *s);
void bk_putn(bk_buf *b, const char *s, size_t n);
void bk_printf(bk_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void bk_reset(bk_buf *b);       /* empty, memory kept */
void bk_free(bk_buf *b);

enum { BK_INT, BK_LIST, BK_STR, BK_BOOL, BK_NTYPES };

/* Languages of emit.c: the code columns of the rows of prims.c. */
enum { BK_PY, BK_C, BK_LUA, BK_NLANGS };

#define BK_MAX 64
#define BK_LIM 1000000000LL

typedef struct bk_val {
	int type;
	int n;                  /* list or string length */
	long long i;            /* BK_INT, BK_BOOL (0/1) */
	long long v[BK_MAX];    /* BK_LIST */
	char s[BK_MAX + 1];     /* BK_STR, NUL-terminated */
} bk_val;

/* Kinds of wrong variant (docs/BANK.md). */
enum {
	BK_OFF_BY_ONE, BK_WRONG_BRANCH, BK_WRONG_OP, BK_DROPPED_CASE,
	BK_DROPPED_STEP, BK_WRONG_ORDER, BK_NKINDS
};
extern const char *const bk_kind_names[BK_NKINDS];

/* How a variant's parameters come from the original's. */
enum { PT_SAME, PT_NEG0, PT_FIRST, PT_SECOND, PT_SET0 };

typedef struct bk_var {
	int kind;               /* BK_*; 0 with to NULL ends a list */
	const char *to;         /* the name of the variant's op/pred/... */
	int pt, k;              /* PT_*, and PT_SET0's value */
} bk_var;

#define BK_NVAR 3

/* An operation on one integer: a scalar template and a map over lists. */
typedef struct bk_op {
	const char *name;
	int np, lo[2], hi[2];
	const char *code[BK_NLANGS]; /* expressions over $X, $1, $2 */
	const char *say[2];     /* verb phrases over $E (the operand) */
	int (*eval)(long long x, const long long *p, long long *r);
	bk_var var[BK_NVAR];
	int hidden;             /* only a variant's target, never drawn */
} bk_op;

/* A predicate on an integer or a character. */
typedef struct bk_pred {
	const char *name;
	int np, lo[2], hi[2];
	const char *code[BK_NLANGS]; /* conditions over $X, $1, $2 */
	const char *say[2];     /* "is even": singular, third person */
	int (*eval)(long long x, const long long *p);
	const char *neg;        /* the predicate that is its negation */
	bk_var var[BK_NVAR];
	int hidden, chr;        /* chr: a character predicate */
} bk_pred;

/* What a consumer does (bk_cons.id). */
enum {
	C_IS, C_FILTER, C_COUNT, C_ANY, C_ALL, C_INDEX, C_TAKEWHILE,
	C_DROPWHILE, C_SUMIF, C_ZERO, C_PARTITION, C_ALLNE, C_INDEX1,
	C_INDEXLEN,
};

/* A consumer of a predicate: filter_<pred>, count_<pred>, ... */
typedef struct bk_cons {
	const char *prefix;     /* "filter" gives filter_even */
	int in, out, chr;       /* chr: over the characters of a string */
	int id;                 /* what bk_apply does (CONS_*) */
	const char *code[BK_NLANGS]; /* over $I, $O, $N, $M, $P (the
				      * condition) */
	const char *say[2];     /* over $Q (the predicate's phrase) */
	bk_var var[BK_NVAR];    /* to: another consumer's prefix */
	int hidden;
} bk_cons;

/* A template of its own (sort, sum, reverse a string, ...). */
typedef struct bk_spec {
	const char *name;
	int in, out, np, lo[2], hi[2], chr; /* chr: parameters are letters */
	const char *code[BK_NLANGS];
	const char *say[2];
	int (*eval)(const bk_val *in, const long long *p, bk_val *out);
	bk_var var[BK_NVAR];
	int hidden;
} bk_spec;

enum { G_OP, G_MAP, G_PRED, G_CHARPRED, G_LIST, G_STR, G_CONV, BK_NGROUPS };

/* One template of the table (built once from the rows above). */
typedef struct bk_tmpl {
	char name[32];
	int in, out, np, lo[2], hi[2], chr;
	int group, hidden, heldout;
	const bk_op *op;        /* G_OP (scalar) and G_MAP */
	const bk_pred *pred;    /* with cons */
	const bk_cons *cons;
	const bk_spec *spec;
} bk_tmpl;

typedef struct bk_table {
	bk_tmpl *t;
	size_t n;
} bk_table;

/* The rows (prims.c). */
extern const bk_op bk_ops[];
extern const bk_pred bk_preds[];
extern const bk_cons bk_conses[];
extern const bk_spec bk_specs[];

/* Builds the table (all families expanded). Returns 0 or -1 (memory). */
int bk_table_build(bk_table *tb);
void bk_table_free(bk_table *tb);
/* The index of the template so named, or -1. */
int bk_find(const bk_table *tb, const char *name);

/* A stage: a template and its parameters. */
typedef struct bk_stage {
	int t;
	long long p[2];
} bk_stage;

#define BK_MAXDEPTH 8

/* Runs one stage; 0, or -1 when a value leaves the bounds. */
int bk_apply(const bk_tmpl *t, const long long *p, const bk_val *in,
	     bk_val *out);
/* Runs a pipeline of n stages on in (n may be 0: the input itself). */
int bk_run(const bk_table *tb, const bk_stage *st, int n, const bk_val *in,
	   bk_val *out);

/* The value as a Python literal (1, [1, 2], 'ab', True). */
void bk_literal(const bk_val *v, bk_buf *b);
/* ... or as a Lua literal (lang BK_LUA: 1, {1, 2}, "ab", true; other
 * bytes than printable ASCII as \ddd). */
void bk_literal_in(int lang, const bk_val *v, bk_buf *b);
/* Two values equal (same type and contents). */
int bk_equal(const bk_val *a, const bk_val *b);

/* The composition as text: "filter_gt(3) | map_add(2) | sum". */
void bk_compose_text(const bk_table *tb, const bk_stage *st, int n,
		     bk_buf *b);
/* Parses such text (and a literal input) back: 0 or -1 (bad text). */
int bk_compose_parse(const bk_table *tb, const char *text, bk_stage *st,
		     int *n);
int bk_literal_parse(const char *text, bk_val *v);

/* A solution of the pipeline in language lang, input of type in. */
void bk_emit(const bk_table *tb, int lang, int in, const bk_stage *st,
	     int n, bk_buf *b);
/* The tests: I/O tests (1) in Python, and in C for answers other than
 * lists; code tests (0) in C for lists and in Lua. */
int bk_io_test(int lang, int out);
/* The call of an I/O test on input v. */
void bk_emit_call(int lang, const bk_val *v, bk_buf *b);
/* A code test: f on input in answers want (C: assert on the array out;
 * Lua: assert(f(...) == want), or deep_equal of the set-up for lists). */
void bk_emit_code_test(int lang, const bk_val *in, const bk_val *want,
		       bk_buf *b);
/* The test set-up of the tests of an answer of type out, or NULL. */
const char *bk_test_setup(int lang, int out);
void bk_c_signature(int in, int out, bk_buf *b);

/* The prompt: phrasing frame (0..BK_NFRAMES-1), the wording choices
 * (one per stage: 0 or 1) and an example. */
#define BK_NFRAMES 4
void bk_prompt(const bk_table *tb, int lang, int frame, const int *alt,
	       int in, const bk_stage *st, int n, const bk_val *ex_in,
	       const bk_val *ex_out, bk_buf *b);

#endif
