/* emit.c - a pipeline as a Python, C or Lua solution, its tests, and the
 * prompt in one of the phrasing frames (docs/BANK.md). One emitter per
 * language: another language is another case of bk_emit, with its own
 * code column in the tables (prims.c). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "task/bank/bank_int.h"

typedef struct subst {
	const char *I, *N, *O, *M, *X, *P, *Q, *E;
	const long long *p;
	int chr;
} subst;

/* Expands $I, $N, $O, $M, $X, $P, $Q, $E, $1, $2 in tpl. */
static void expand(bk_buf *b, const char *tpl, const subst *s)
{
	for (const char *c = tpl; *c; c++) {
		const char *v = NULL;

		if (*c != '$' || !c[1]) {
			bk_putn(b, c, 1);
			continue;
		}
		switch (*++c) {
		case 'I': v = s->I; break;
		case 'N': v = s->N; break;
		case 'O': v = s->O; break;
		case 'M': v = s->M; break;
		case 'X': v = s->X; break;
		case 'P': v = s->P; break;
		case 'Q': v = s->Q; break;
		case 'E': v = s->E; break;
		case '1':
		case '2':
			if (s->chr)
				bk_printf(b, "%c", (char)s->p[*c - '1']);
			else
				bk_printf(b, "%lld", s->p[*c - '1']);
			continue;
		default:
			bk_putn(b, c - 1, 2);
			continue;
		}
		bk_puts(b, v ? v : "?");
	}
}

/* Appends text with every line indented by ind. */
static void indent(bk_buf *b, const char *text, const char *ind)
{
	const char *line = text;

	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		bk_puts(b, ind);
		bk_putn(b, line, len);
		bk_puts(b, "\n");
		line += len + (nl != NULL);
	}
}

static const char *const py_helpers[][2] = {
	{ "is_prime(",
	  "def is_prime(v):\n    if v < 2:\n        return False\n    d = 2\n"
	  "    while d * d <= v:\n        if v % d == 0:\n"
	  "            return False\n        d += 1\n    return True\n" },
	{ "is_square(",
	  "def is_square(v):\n    if v < 0:\n        return False\n"
	  "    r = int(v ** 0.5)\n    while r * r > v:\n        r -= 1\n"
	  "    while (r + 1) * (r + 1) <= v:\n        r += 1\n"
	  "    return r * r == v\n" },
	{ "digit_sum(",
	  "def digit_sum(v):\n    return sum(int(d) for d in str(abs(v)))\n" },
};

static const char *const c_helpers[][2] = {
	{ "floordiv(",
	  "static long long floordiv(long long a, long long b)\n{\n"
	  "\tlong long q = a / b;\n\n\tif (a % b != 0 && (a < 0) != (b < 0))\n"
	  "\t\tq--;\n\treturn q;\n}\n" },
	{ "floormod(",
	  "static long long floormod(long long a, long long b)\n{\n"
	  "\tlong long r = a % b;\n\n\tif (r != 0 && (r < 0) != (b < 0))\n"
	  "\t\tr += b;\n\treturn r;\n}\n" },
	{ "is_prime(",
	  "static bool is_prime(long long v)\n{\n\tif (v < 2)\n"
	  "\t\treturn false;\n\tfor (long long d = 2; d * d <= v; d++)\n"
	  "\t\tif (v % d == 0)\n\t\t\treturn false;\n\treturn true;\n}\n" },
	{ "is_square(",
	  "static bool is_square(long long v)\n{\n\tlong long r = 0;\n\n"
	  "\tif (v < 0)\n\t\treturn false;\n\twhile (r * r < v)\n\t\tr++;\n"
	  "\treturn r * r == v;\n}\n" },
	{ "digit_sum(",
	  "static long long digit_sum(long long v)\n{\n\tlong long s = 0;\n\n"
	  "\tfor (v = llabs(v); v > 0; v /= 10)\n\t\ts += v % 10;\n"
	  "\treturn s;\n}\n" },
	{ "reverse_digits(",
	  "static long long reverse_digits(long long v)\n{\n"
	  "\tlong long r = 0;\n\n\tfor (v = llabs(v); v > 0; v /= 10)\n"
	  "\t\tr = r * 10 + v % 10;\n\treturn r;\n}\n" },
};

static const char *const lua_helpers[][2] = {
	{ "is_prime(",
	  "local function is_prime(v)\n  if v < 2 then\n    return false\n"
	  "  end\n  local d = 2\n  while d * d <= v do\n"
	  "    if v % d == 0 then\n      return false\n    end\n"
	  "    d = d + 1\n  end\n  return true\nend\n" },
	{ "is_square(",
	  "local function is_square(v)\n  if v < 0 then\n    return false\n"
	  "  end\n  local r = math.floor(math.sqrt(v))\n"
	  "  while r * r > v do\n    r = r - 1\n  end\n"
	  "  while (r + 1) * (r + 1) <= v do\n    r = r + 1\n  end\n"
	  "  return r * r == v\nend\n" },
	{ "digit_sum(",
	  "local function digit_sum(v)\n  local s = 0\n  v = math.abs(v)\n"
	  "  while v > 0 do\n    s = s + v % 10\n    v = v // 10\n  end\n"
	  "  return s\nend\n" },
};

static const char *const arg_name[BK_NTYPES] = { "num", "xs", "s", "b" };

/* An op's statement, on one integer and mapped over a list ($P: the op's
 * expression over $X = x). */
static const char *const op_scalar[BK_NLANGS] = {
	"$O = $P", "$O = $P;", "local $O = $P" };
static const char *const op_map[BK_NLANGS] = {
	"$O = [$P for x in $I]",
	("for (int i = 0; i < $N; i++) {\n\tlong long x = $I[i];\n"
	 "\t$O[$M++] = $P;\n}"),
	"local $O = {}\nfor i, x in ipairs($I) do\n  $O[i] = $P\nend" };

/* The code of stage st (input variable in/inn, output out/outn). */
static void stage_code(const bk_table *tb, int lang, const bk_stage *st,
		       const char *in, const char *inn, const char *out,
		       const char *outn, bk_buf *b)
{
	const bk_tmpl *t = &tb->t[st->t];
	subst s = { .I = in, .N = inn, .O = out, .M = outn, .p = st->p,
		    .chr = t->chr };
	bk_buf e = { 0 };

	if (t->op) {
		s.X = t->in == BK_INT ? in : "x";
		expand(&e, t->op->code[lang], &s);
		s.P = e.p;
		expand(b, t->in == BK_INT ? op_scalar[lang] : op_map[lang], &s);
	} else if (t->cons) {
		s.X = t->in == BK_INT ? in : t->pred->chr ? "ch" : "x";
		expand(&e, t->pred->code[lang], &s);
		s.P = e.p;
		expand(b, t->cons->code[lang], &s);
	} else {
		expand(b, t->spec->code[lang], &s);
	}
	if (e.oom)
		b->oom = 1;
	bk_free(&e);
}

/* A language whose solution is a function of statements, one stage after
 * the other, without declarations of types: Python and Lua. */
typedef struct script_lang {
	const char *const (*helpers)[2];
	size_t nhelpers;
	const char *ind, *def, *body, *end, *after_helper;
} script_lang;

#define HELPERS(h) h, sizeof h / sizeof h[0]

static const script_lang py_script = {
	HELPERS(py_helpers), "    ", "def f(", "):\n", "", "\n\n" };
static const script_lang lua_script = {
	HELPERS(lua_helpers), "  ", "function f(", ")\n", "end\n", "\n" };

static void emit_script(const bk_table *tb, int lang, int in,
			const bk_stage *st, int n, bk_buf *b)
{
	const script_lang *L = lang == BK_LUA ? &lua_script : &py_script;
	bk_buf body = { 0 }, code = { 0 };
	char cur[16], nxt[16];

	snprintf(cur, sizeof cur, "%s", arg_name[in]);
	for (int k = 0; k < n; k++) {
		snprintf(nxt, sizeof nxt, "r%d", k + 1);
		bk_reset(&code);
		stage_code(tb, lang, &st[k], cur, "", nxt, "", &code);
		indent(&body, code.p ? code.p : "", L->ind);
		memcpy(cur, nxt, sizeof cur);
	}
	bk_printf(&body, "%sreturn %s\n", L->ind, cur);
	for (size_t h = 0; h < L->nhelpers; h++)
		if (body.p && strstr(body.p, L->helpers[h][0]))
			bk_printf(b, "%s%s", L->helpers[h][1], L->after_helper);
	bk_printf(b, "%s%s%s", L->def, arg_name[in], L->body);
	bk_puts(b, body.p ? body.p : "");
	bk_puts(b, L->end);
	if (body.oom || code.oom)
		b->oom = 1;
	bk_free(&body);
	bk_free(&code);
}

static const char *const c_ret[BK_NTYPES] = {
	"long long", "int", "char *", "bool" };

void bk_c_signature(int in, int out, bk_buf *b)
{
	bk_printf(b, "%s%sf(%s", c_ret[out], out == BK_STR ? "" : " ",
		  in == BK_INT ? "long long num" : in == BK_LIST
		  ? "const long long *xs, int n" : "const char *s");
	bk_puts(b, out == BK_LIST ? ", long long *out)" : ")");
}

static void emit_c(const bk_table *tb, int in, const bk_stage *st, int n,
		   bk_buf *b)
{
	static const char *const incl[][2] = {
		{ "bool", "stdbool.h" }, { "snprintf(", "stdio.h" },
		{ "llabs(", "stdlib.h" }, { "malloc(", "stdlib.h" },
		{ "strlen(", "string.h" }, { "strchr(", "string.h" },
		{ "memcpy(", "string.h" }, { "toupper(", "ctype.h" },
		{ "tolower(", "ctype.h" }, { "isalpha(", "ctype.h" },
		{ "isdigit(", "ctype.h" }, { "isupper(", "ctype.h" },
		{ "islower(", "ctype.h" },
	};
	bk_buf body = { 0 }, code = { 0 }, all = { 0 };
	char cur[16], curn[16], nxt[16], nxtn[16];
	int type = in;
	const char *done[16];
	int ndone = 0;

	snprintf(cur, sizeof cur, "%s", arg_name[in]);
	snprintf(curn, sizeof curn, "n");
	if (in == BK_STR)
		bk_puts(&body, "\tint n = (int)strlen(s);\n");
	for (int k = 0; k < n; k++) {
		const bk_tmpl *t = &tb->t[st[k].t];

		snprintf(nxt, sizeof nxt, "r%d", k + 1);
		snprintf(nxtn, sizeof nxtn, "n%d", k + 1);
		switch (t->out) {
		case BK_INT:
			bk_printf(&body, "\tlong long %s;\n", nxt);
			break;
		case BK_BOOL:
			bk_printf(&body, "\tbool %s;\n", nxt);
			break;
		case BK_LIST:
			bk_printf(&body, "\tlong long %s[%d];\n\tint %s = 0;\n",
				  nxt, BK_MAX, nxtn);
			break;
		case BK_STR:
			bk_printf(&body, "\tchar %s[%d];\n\tint %s = 0;\n", nxt,
				  BK_MAX + 1, nxtn);
			break;
		}
		bk_reset(&code);
		stage_code(tb, BK_C, &st[k], cur, curn, nxt, nxtn, &code);
		indent(&body, code.p ? code.p : "", "\t");
		memcpy(cur, nxt, sizeof cur);
		memcpy(curn, nxtn, sizeof curn);
		type = t->out;
	}
	if (type == BK_LIST)
		bk_printf(&body, "\tfor (int i = 0; i < %s; i++)\n"
			  "\t\tout[i] = %s[i];\n\treturn %s;\n", curn, cur,
			  curn);
	else if (type == BK_STR)
		bk_printf(&body, "\tchar *res = malloc((size_t)%s + 1);\n\n"
			  "\tif (!res)\n\t\treturn NULL;\n"
			  "\tmemcpy(res, %s, (size_t)%s);\n"
			  "\tres[%s] = '\\0';\n\treturn res;\n", curn, cur, curn,
			  curn);
	else
		bk_printf(&body, "\treturn %s;\n", cur);
	/* helpers, then the function; the includes they all need first */
	for (size_t h = 0; h < sizeof c_helpers / sizeof c_helpers[0]; h++)
		if (body.p && strstr(body.p, c_helpers[h][0]))
			bk_printf(&all, "%s\n", c_helpers[h][1]);
	bk_c_signature(in, type, &all);
	bk_printf(&all, "\n{\n%s}\n", body.p ? body.p : "");
	for (size_t i = 0; i < sizeof incl / sizeof incl[0]; i++) {
		int seen = 0;

		if (!all.p || !strstr(all.p, incl[i][0]))
			continue;
		for (int j = 0; j < ndone; j++)
			seen |= strcmp(done[j], incl[i][1]) == 0;
		if (!seen) {
			done[ndone++] = incl[i][1];
			bk_printf(b, "#include <%s>\n", incl[i][1]);
		}
	}
	if (ndone)
		bk_puts(b, "\n");
	bk_puts(b, all.p ? all.p : "");
	if (body.oom || code.oom || all.oom)
		b->oom = 1;
	bk_free(&body);
	bk_free(&code);
	bk_free(&all);
}

void bk_emit(const bk_table *tb, int lang, int in, const bk_stage *st,
	     int n, bk_buf *b)
{
	if (lang == BK_C)
		emit_c(tb, in, st, n, b);
	else
		emit_script(tb, lang, in, st, n, b);
}

/* The argument list of a C call on v (without the parentheses). */
static void c_args(const bk_val *v, bk_buf *b)
{
	switch (v->type) {
	case BK_INT:
		bk_printf(b, "%lld", v->i);
		break;
	case BK_STR:
		bk_printf(b, "\"%s\"", v->s);
		break;
	default:
		bk_puts(b, "(const long long[]){");
		for (int i = 0; i < v->n; i++)
			bk_printf(b, "%s%lld", i ? ", " : "", v->v[i]);
		bk_printf(b, "%s}, %d", v->n ? "" : "0", v->n);
	}
}

void bk_emit_call(int lang, const bk_val *v, bk_buf *b)
{
	bk_puts(b, "f(");
	if (lang == BK_C)
		c_args(v, b);
	else
		bk_literal_in(lang, v, b);
	bk_puts(b, ")");
}

int bk_io_test(int lang, int out)
{
	return lang == BK_PY || (lang == BK_C && out != BK_LIST);
}

/* Lua's tables compare by identity: a list answer is compared by this
 * function of the tests' set-up (any table: the same keys, with equal
 * values). */
static const char lua_deep_equal[] =
	"function deep_equal(a, b)\n"
	"  if type(a) ~= \"table\" or type(b) ~= \"table\" then\n"
	"    return a == b\n"
	"  end\n"
	"  for k, v in pairs(a) do\n"
	"    if not deep_equal(v, b[k]) then\n"
	"      return false\n"
	"    end\n"
	"  end\n"
	"  for k in pairs(b) do\n"
	"    if a[k] == nil then\n"
	"      return false\n"
	"    end\n"
	"  end\n"
	"  return true\n"
	"end\n";

const char *bk_test_setup(int lang, int out)
{
	return lang == BK_LUA && out == BK_LIST ? lua_deep_equal : NULL;
}

static void c_list_test(const bk_val *in, const bk_val *want, bk_buf *b)
{
	bk_printf(b, "long long out[%d] = {0};\nconst long long want[] = {",
		  BK_MAX);
	for (int i = 0; i < want->n; i++)
		bk_printf(b, "%s%lld", i ? ", " : "", want->v[i]);
	bk_printf(b, "%s};\nint n = f(", want->n ? "" : "0");
	c_args(in, b);
	bk_printf(b, ", out);\nassert(n == %d);\n"
		  "for (int i = 0; i < n; i++)\n\tassert(out[i] == want[i]);",
		  want->n);
}

void bk_emit_code_test(int lang, const bk_val *in, const bk_val *want,
		       bk_buf *b)
{
	if (lang == BK_C) {
		c_list_test(in, want, b);
		return;
	}
	bk_puts(b, want->type == BK_LIST ? "assert(deep_equal(" : "assert(");
	bk_emit_call(lang, in, b);
	bk_puts(b, want->type == BK_LIST ? ", " : " == ");
	bk_literal_in(BK_LUA, want, b);
	bk_puts(b, want->type == BK_LIST ? "))" : ")");
}

/* ---- prompts ---- */

static const char *const lang_name[BK_NLANGS] = { "Python", "C", "Lua" };
static const char *const in_say[BK_NLANGS][BK_NTYPES] = {
	{ "an integer `num`", "a list of integers `xs`", "a string `s`", "" },
	{ "an integer `num`", "an array `xs` of `n` integers",
	  "a NUL-terminated string `s`", "" },
	{ "an integer `num`",
	  "a list of integers `xs` (a sequence table, indexed from 1)",
	  "a string `s`", "" },
};
static const char *const out_say[BK_NLANGS][BK_NTYPES] = {
	{ "an integer", "a list of integers", "a string", "True or False" },
	{ "a `long long`",
	  ("the resulting integers, written into `out` (it has room for 64), "
	   "with their count as the return value"),
	  "a newly allocated string (the caller frees it)",
	  "`true` or `false`" },
	{ "an integer", "a list of integers, as a sequence table", "a string",
	  "`true` or `false`" },
};

/* The phrase of one stage. */
static void step(const bk_table *tb, const bk_stage *st, int alt, bk_buf *b)
{
	const bk_tmpl *t = &tb->t[st->t];
	subst s = { .p = st->p, .chr = t->chr };
	bk_buf q = { 0 };
	const char *const *say;

	if (t->op) {
		s.E = t->in == BK_INT ? "the number" : "each element";
		say = t->op->say;
	} else if (t->cons) {
		const char *pq = t->pred->say[(alt >> 1) & 1];

		expand(&q, pq ? pq : t->pred->say[0], &s);
		s.Q = q.p;
		say = t->cons->say;
	} else {
		say = t->spec->say;
	}
	expand(b, say[alt & 1] ? say[alt & 1] : say[0], &s);
	if (q.oom)
		b->oom = 1;
	bk_free(&q);
}

static void steps(const bk_table *tb, const bk_stage *st, int n,
		  const int *alt, const char *sep, int cap, bk_buf *b)
{
	for (int k = 0; k < n; k++) {
		size_t at;

		if (k)
			bk_puts(b, sep);
		at = b->len;
		step(tb, &st[k], alt[k], b);
		if (cap && !b->oom && b->p)
			b->p[at] = (char)toupper((unsigned char)b->p[at]);
	}
}

static void example(int lang, int out, const bk_val *in, const bk_val *ex,
		    bk_buf *b)
{
	if (lang == BK_PY) {
		bk_emit_call(BK_PY, in, b);
		bk_puts(b, " == ");
		bk_literal(ex, b);
		return;
	}
	if (lang == BK_C && out == BK_LIST) {
		bk_buf call = { 0 };

		bk_emit_call(BK_C, in, &call);
		if (call.p && call.len)
			call.p[--call.len] = '\0';   /* the ')' */
		bk_printf(b, "%s, out) returns %d, with out holding {",
			  call.p ? call.p : "", ex->n);
		for (int i = 0; i < ex->n; i++)
			bk_printf(b, "%s%lld", i ? ", " : "", ex->v[i]);
		bk_puts(b, "}");
		if (call.oom)
			b->oom = 1;
		bk_free(&call);
		return;
	}
	bk_emit_call(lang, in, b);
	bk_puts(b, " returns ");
	if (lang == BK_LUA)
		bk_literal_in(BK_LUA, ex, b);
	else if (out == BK_BOOL)
		bk_puts(b, ex->i ? "true" : "false");
	else if (out == BK_STR)
		bk_printf(b, "\"%s\"", ex->s);
	else
		bk_literal(ex, b);
}

void bk_prompt(const bk_table *tb, int lang, int frame, const int *alt,
	       int in, const bk_stage *st, int n, const bk_val *ex_in,
	       const bk_val *ex_out, bk_buf *b)
{
	int out = ex_out->type;
	const char *ind = in_say[lang][in], *outd = out_say[lang][out];
	const char *L = lang_name[lang];
	bk_buf sig = { 0 };

	if (lang == BK_C)
		bk_c_signature(in, out, &sig);
	else
		bk_printf(&sig, "f(%s)", arg_name[in]);
	switch (frame) {
	case 0:
		bk_printf(b, "Write a %s function `%s` that takes %s and "
			  "returns %s, computed as follows:\n", L,
			  sig.p ? sig.p : "", ind, outd);
		for (int k = 0; k < n; k++) {
			bk_printf(b, "%d. ", k + 1);
			steps(tb, &st[k], 1, &alt[k], "", 1, b);
			bk_puts(b, ".\n");
		}
		bk_puts(b, "Return the result of the last step.");
		break;
	case 1:
		bk_printf(b, "Implement `%s` in %s. Given %s, ",
			  sig.p ? sig.p : "", L, ind);
		steps(tb, st, n, alt, ", then ", 0, b);
		bk_printf(b, ", and return the result (%s).", outd);
		break;
	case 2:
		bk_printf(b, "Complete the %s function below.\n\n", L);
		if (lang == BK_PY) {
			bk_printf(b, "def f(%s):\n    \"\"\"Given %s: ",
				  arg_name[in], ind);
			steps(tb, st, n, alt, ". Then ", 0, b);
			bk_printf(b, ". Return the result (%s).\n\n    >>> ",
				  outd);
			bk_emit_call(BK_PY, ex_in, b);
			bk_puts(b, "\n    ");
			bk_literal(ex_out, b);
			bk_puts(b, "\n    \"\"\"\n");
		} else if (lang == BK_LUA) {
			bk_printf(b, "-- Given %s: ", ind);
			steps(tb, st, n, alt, ". Then ", 0, b);
			bk_printf(b, ". Return the result (%s).\n"
				  "-- Example: ", outd);
			example(lang, out, ex_in, ex_out, b);
			bk_printf(b, ".\nfunction %s\nend\n",
				  sig.p ? sig.p : "");
		} else {
			bk_printf(b, "/* Given %s: ", ind);
			steps(tb, st, n, alt, ". Then ", 0, b);
			bk_printf(b, ". Return the result (%s).\n"
				  " * Example: ", outd);
			example(lang, out, ex_in, ex_out, b);
			bk_printf(b, ". */\n%s;\n", sig.p ? sig.p : "");
		}
		break;
	default:
		bk_printf(b, "Function (%s): `%s`\nInput: %s\nOutput: %s\n"
			  "Steps: ", L, sig.p ? sig.p : "", ind, outd);
		steps(tb, st, n, alt, "; then ", 0, b);
		bk_puts(b, ".\nExample: ");
		example(lang, out, ex_in, ex_out, b);
		break;
	}
	/* the tests are chunks of their own: a local f is not theirs to
	 * call (frame 2's stub shows the global function) */
	if (lang == BK_LUA && frame != 2)
		bk_puts(b, "\nDefine `f` as a global function.");
	if (sig.oom)
		b->oom = 1;
	bk_free(&sig);
}
