/* prims.c - the bank's templates: for each, its semantics (the reference
 * interpreter), its code in each language ({ Python, C, Lua }), its
 * phrasings and its wrong variants (docs/BANK.md). Families expand into
 * many templates: an op on one integer is a scalar template and a map
 * over lists, a predicate meets every consumer (filter, count, any, all,
 * index, ...).
 *
 * Code templates use $I (the input variable), $N (its length), $O (the
 * output), $M (the output's length: the C code's lists and strings are
 * arrays and counts), $1 and $2 (the parameters), $X (an op's or a
 * predicate's operand) and $P (a consumer's condition). Lua code declares
 * its output (local $O = ...) and counts from 1 where the semantics count
 * from 0; its values stay integers (//, never /). The interpreter here and
 * the emitted code must agree exactly: tests/unit/test_bank.c checks known
 * answers, tests/integration/test_bank.py (Python, C) and
 * test_bank_lua.py (Lua) run the emitted code in the sandbox against the
 * interpreter's answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task/bank/bank_int.h"

const char *const bk_kind_names[BK_NKINDS] = {
	"off_by_one", "wrong_branch", "wrong_op", "dropped_case",
	"dropped_step", "wrong_order",
};

#define OB BK_OFF_BY_ONE
#define WB BK_WRONG_BRANCH
#define WO BK_WRONG_OP
#define DC BK_DROPPED_CASE

static int ok(long long v)
{
	return v >= -BK_LIM && v <= BK_LIM;
}

/* Python's // and % (the divisor is never 0). */
static long long fdiv(long long a, long long b)
{
	long long q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static long long fmodl_(long long a, long long b)
{
	long long r = a % b;

	return (r != 0 && (r < 0) != (b < 0)) ? r + b : r;
}

static long long absl(long long a)
{
	return a < 0 ? -a : a;
}

#define RET(v) do { *r = (v); return ok(*r) ? 0 : -1; } while (0)

/* ---- operations on one integer ---- */

static int o_add(long long x, const long long *p, long long *r) { RET(x + p[0]); }
static int o_sub(long long x, const long long *p, long long *r) { RET(x - p[0]); }
static int o_mul(long long x, const long long *p, long long *r) { RET(x * p[0]); }
static int o_fdiv(long long x, const long long *p, long long *r)
{
	if (p[0] == 0)
		return -1;
	RET(fdiv(x, p[0]));
}
static int o_tdiv(long long x, const long long *p, long long *r)
{
	if (p[0] == 0)
		return -1;
	RET(x / p[0]);
}
static int o_mod(long long x, const long long *p, long long *r)
{
	if (p[0] == 0)
		return -1;
	RET(fmodl_(x, p[0]));
}
static int o_tmod(long long x, const long long *p, long long *r)
{
	if (p[0] == 0)
		return -1;
	RET(x % p[0]);
}
static int o_neg(long long x, const long long *p, long long *r) { (void)p; RET(-x); }
static int o_abs(long long x, const long long *p, long long *r) { (void)p; RET(absl(x)); }
static int o_square(long long x, const long long *p, long long *r) { (void)p; RET(x * x); }
static int o_atleast(long long x, const long long *p, long long *r) { RET(x > p[0] ? x : p[0]); }
static int o_atmost(long long x, const long long *p, long long *r) { RET(x < p[0] ? x : p[0]); }
static int o_sign(long long x, const long long *p, long long *r) { (void)p; RET((x > 0) - (x < 0)); }
static int o_sign2(long long x, const long long *p, long long *r) { (void)p; RET(x > 0 ? 1 : -1); }
static int o_digsum(long long x, const long long *p, long long *r)
{
	long long s = 0;

	(void)p;
	for (x = absl(x); x > 0; x /= 10)
		s += x % 10;
	RET(s);
}
static int o_lastdig(long long x, const long long *p, long long *r) { (void)p; RET(absl(x) % 10); }
static int o_lastdigs(long long x, const long long *p, long long *r) { (void)p; RET(fmodl_(x, 10)); }
static int o_revdig(long long x, const long long *p, long long *r)
{
	long long s = 0;

	(void)p;
	for (x = absl(x); x > 0; x /= 10)
		s = s * 10 + x % 10;
	RET(s);
}
static int o_absdiff(long long x, const long long *p, long long *r) { RET(absl(x - p[0])); }
static int o_collatz(long long x, const long long *p, long long *r)
{
	(void)p;
	RET(x % 2 == 0 ? x / 2 : 3 * x + 1);
}
static int o_collatzs(long long x, const long long *p, long long *r)
{
	(void)p;
	RET(x % 2 == 0 ? 3 * x + 1 : fdiv(x, 2));
}
static int o_evenadd(long long x, const long long *p, long long *r)
{
	RET(x % 2 == 0 ? x + p[0] : x - p[0]);
}
static int o_gtdouble(long long x, const long long *p, long long *r) { RET(x > p[0] ? 2 * x : x); }
static int o_ledouble(long long x, const long long *p, long long *r) { RET(x <= p[0] ? 2 * x : x); }
static int o_gedouble(long long x, const long long *p, long long *r) { RET(x >= p[0] ? 2 * x : x); }
static int o_oddsquare(long long x, const long long *p, long long *r)
{
	(void)p;
	RET(x % 2 != 0 ? x * x : x / 2);
}
static int o_evensquare(long long x, const long long *p, long long *r)
{
	(void)p;
	RET(x % 2 == 0 ? x * x : fdiv(x, 2));
}
static int o_clamp(long long x, const long long *p, long long *r)
{
	RET(x < p[0] ? p[0] : x > p[1] ? p[1] : x);
}

#define P1(a, b) 1, { a, 0 }, { b, 0 }
#define P0 0, { 0, 0 }, { 0, 0 }

const bk_op bk_ops[] = {
	{ "add", P1(1, 9), { "$X + $1", "$X + $1", "$X + $1" },
	  { "add $1 to $E", "increase $E by $1" }, o_add,
	  { { WO, "sub", PT_SAME, 0 } }, 0 },
	{ "sub", P1(1, 9), { "$X - $1", "$X - $1", "$X - $1" },
	  { "subtract $1 from $E", "decrease $E by $1" }, o_sub,
	  { { WO, "add", PT_SAME, 0 } }, 0 },
	{ "mul", P1(2, 5), { "$X * $1", "$X * $1", "$X * $1" },
	  { "multiply $E by $1", "scale $E by a factor of $1" }, o_mul,
	  { { WO, "add", PT_SAME, 0 } }, 0 },
	{ "fdiv", P1(2, 5), { "$X // $1", "floordiv($X, $1)", "$X // $1" },
	  { "divide $E by $1, rounding down (towards minus infinity)",
	    "replace $E by the floor of its quotient by $1" }, o_fdiv,
	  { { DC, "tdiv", PT_SAME, 0 } }, 0 },
	{ "mod", P1(2, 7), { "$X % $1", "floormod($X, $1)", "$X % $1" },
	  { "replace $E by its remainder modulo $1 (never negative)",
	    "reduce $E modulo $1, giving a result from 0 to $1 minus 1" },
	  o_mod, { { DC, "tmod", PT_SAME, 0 } }, 0 },
	{ "neg", P0, { "-$X", "-$X", "-$X" },
	  { "negate $E", "flip the sign of $E" },
	  o_neg, { { WO, "abs", PT_SAME, 0 } }, 0 },
	{ "abs", P0, { "abs($X)", "llabs($X)", "math.abs($X)" },
	  { "replace $E by its absolute value",
	    "take the absolute value of $E" }, o_abs,
	  { { WO, "neg", PT_SAME, 0 } }, 0 },
	{ "square", P0, { "$X * $X", "$X * $X", "$X * $X" },
	  { "square $E", "replace $E by its square" }, o_square,
	  { { WO, "mul", PT_SET0, 2 } }, 0 },
	{ "atleast", P1(-5, 5), { "max($X, $1)", "($X > $1 ? $X : $1)",
	    "math.max($X, $1)" },
	  { "replace $E by the larger of it and $1",
	    "raise $E to at least $1" }, o_atleast,
	  { { WB, "atmost", PT_SAME, 0 } }, 0 },
	{ "atmost", P1(-5, 5), { "min($X, $1)", "($X < $1 ? $X : $1)",
	    "math.min($X, $1)" },
	  { "replace $E by the smaller of it and $1", "cap $E at $1" },
	  o_atmost, { { WB, "atleast", PT_SAME, 0 } }, 0 },
	{ "sign", P0, { "($X > 0) - ($X < 0)", "(($X > 0) - ($X < 0))",
	    "($X > 0 and 1 or $X < 0 and -1 or 0)" },
	  { "replace $E by its sign (-1, 0 or 1)",
	    "replace $E by 1 if it is positive, -1 if it is negative and 0 "
	    "if it is zero" }, o_sign,
	  { { DC, "sign2", PT_SAME, 0 } }, 0 },
	{ "digsum", P0, { "digit_sum($X)", "digit_sum($X)", "digit_sum($X)" },
	  { "replace $E by the sum of the decimal digits of its absolute "
	    "value", "replace $E by its digit sum (ignoring the sign)" },
	  o_digsum, { { WO, "lastdig", PT_SAME, 0 } }, 0 },
	{ "lastdig", P0, { "abs($X) % 10", "llabs($X) % 10",
	    "math.abs($X) % 10" },
	  { "replace $E by the last decimal digit of its absolute value",
	    "keep only the units digit of $E (ignoring the sign)" },
	  o_lastdig, { { DC, "lastdigs", PT_SAME, 0 } }, 0 },
	{ "revdig", P0, { "int(str(abs($X))[::-1])", "reverse_digits($X)",
	    "tonumber(tostring(math.abs($X)):reverse())" },
	  { "replace $E by the number written with the decimal digits of "
	    "its absolute value in reverse order", NULL }, o_revdig,
	  { { WO, "abs", PT_SAME, 0 } }, 0 },
	{ "absdiff", P1(-5, 5), { "abs($X - $1)", "llabs($X - $1)",
	    "math.abs($X - $1)" },
	  { "replace $E by its distance from $1",
	    "replace $E by the absolute difference between it and $1" },
	  o_absdiff, { { DC, "sub", PT_SAME, 0 } }, 0 },
	{ "collatz", P0, { "($X // 2 if $X % 2 == 0 else 3 * $X + 1)",
	    "($X % 2 == 0 ? $X / 2 : 3 * $X + 1)",
	    "($X % 2 == 0 and $X // 2 or 3 * $X + 1)" },
	  { "halve $E if it is even, otherwise triple it and add 1",
	    "apply one Collatz step to $E (half of it when even, three "
	    "times it plus one when odd)" }, o_collatz,
	  { { WB, "collatzs", PT_SAME, 0 }, { DC, "fdiv", PT_SET0, 2 } }, 0 },
	{ "evenadd", P1(1, 9), { "($X + $1 if $X % 2 == 0 else $X - $1)",
	    "($X % 2 == 0 ? $X + $1 : $X - $1)",
	    "($X % 2 == 0 and $X + $1 or $X - $1)" },
	  { "add $1 to $E if it is even, otherwise subtract $1 from it",
	    NULL }, o_evenadd,
	  { { WB, "evenadd", PT_NEG0, 0 }, { DC, "add", PT_SAME, 0 } }, 0 },
	{ "gtdouble", P1(-5, 5), { "($X * 2 if $X > $1 else $X)",
	    "($X > $1 ? $X * 2 : $X)",
	    "($X > $1 and $X * 2 or $X)" },
	  { "double $E if it is greater than $1, otherwise leave it as it "
	    "is", NULL }, o_gtdouble,
	  { { WB, "ledouble", PT_SAME, 0 }, { OB, "gedouble", PT_SAME, 0 },
	    { DC, "mul", PT_SET0, 2 } }, 0 },
	{ "oddsquare", P0, { "($X * $X if $X % 2 != 0 else $X // 2)",
	    "($X % 2 != 0 ? $X * $X : $X / 2)",
	    "($X % 2 ~= 0 and $X * $X or $X // 2)" },
	  { "square $E if it is odd, otherwise halve it", NULL },
	  o_oddsquare,
	  { { WB, "evensquare", PT_SAME, 0 }, { DC, "square", PT_SAME, 0 } },
	  0 },
	{ "clamp", 2, { -5, 1 }, { 0, 6 }, { "min(max($X, $1), $2)",
	    "($X < $1 ? $1 : $X > $2 ? $2 : $X)",
	    "math.min(math.max($X, $1), $2)" },
	  { "clamp $E to the range from $1 to $2",
	    "limit $E to lie between $1 and $2 (inclusive)" }, o_clamp,
	  { { DC, "atleast", PT_FIRST, 0 }, { DC, "atmost", PT_SECOND, 0 } },
	  0 },
	/* only wrong variants' */
	{ "tdiv", P1(2, 5), { "int($X / $1)", "$X / $1",
	    "($X - math.fmod($X, $1)) // $1" }, { NULL, NULL }, o_tdiv,
	  { { 0 } }, 1 },
	{ "tmod", P1(2, 7), { "($X % $1 if $X >= 0 else -(-$X % $1))",
	    "$X % $1",
	    "math.fmod($X, $1)" }, { NULL, NULL }, o_tmod, { { 0 } }, 1 },
	{ "sign2", P0, { "(1 if $X > 0 else -1)", "($X > 0 ? 1 : -1)",
	    "($X > 0 and 1 or -1)" },
	  { NULL, NULL }, o_sign2, { { 0 } }, 1 },
	{ "lastdigs", P0, { "$X % 10", "floormod($X, 10)", "$X % 10" },
	  { NULL, NULL },
	  o_lastdigs, { { 0 } }, 1 },
	{ "collatzs", P0, { "(3 * $X + 1 if $X % 2 == 0 else $X // 2)",
	    "($X % 2 == 0 ? 3 * $X + 1 : floordiv($X, 2))",
	    "($X % 2 == 0 and 3 * $X + 1 or $X // 2)" }, { NULL, NULL },
	  o_collatzs, { { 0 } }, 1 },
	{ "ledouble", P1(-5, 5), { "($X * 2 if $X <= $1 else $X)",
	    "($X <= $1 ? $X * 2 : $X)",
	    "($X <= $1 and $X * 2 or $X)" },
	  { NULL, NULL }, o_ledouble, { { 0 } }, 1 },
	{ "gedouble", P1(-5, 5), { "($X * 2 if $X >= $1 else $X)",
	    "($X >= $1 ? $X * 2 : $X)",
	    "($X >= $1 and $X * 2 or $X)" },
	  { NULL, NULL }, o_gedouble, { { 0 } }, 1 },
	{ "evensquare", P0, { "($X * $X if $X % 2 == 0 else $X // 2)",
	    "($X % 2 == 0 ? $X * $X : floordiv($X, 2))",
	    "($X % 2 == 0 and $X * $X or $X // 2)" }, { NULL, NULL },
	  o_evensquare, { { 0 } }, 1 },
	{ 0 },
};

/* ---- predicates on an integer, and on a character ---- */

static int is_prime(long long x)
{
	if (x < 2)
		return 0;
	for (long long d = 2; d * d <= x; d++)
		if (x % d == 0)
			return 0;
	return 1;
}

static int is_square(long long x)
{
	long long r = 0;

	if (x < 0)
		return 0;
	while (r * r < x)
		r++;
	return r * r == x;
}

static int p_even(long long x, const long long *p) { (void)p; return x % 2 == 0; }
static int p_odd(long long x, const long long *p) { (void)p; return x % 2 != 0; }
static int p_gt(long long x, const long long *p) { return x > p[0]; }
static int p_le(long long x, const long long *p) { return x <= p[0]; }
static int p_lt(long long x, const long long *p) { return x < p[0]; }
static int p_ge(long long x, const long long *p) { return x >= p[0]; }
static int p_eq(long long x, const long long *p) { return x == p[0]; }
static int p_ne(long long x, const long long *p) { return x != p[0]; }
static int p_div(long long x, const long long *p) { return p[0] != 0 && x % p[0] == 0; }
static int p_ndiv(long long x, const long long *p) { return p[0] != 0 && x % p[0] != 0; }
static int p_pos(long long x, const long long *p) { (void)p; return x > 0; }
static int p_nonpos(long long x, const long long *p) { (void)p; return x <= 0; }
static int p_neg(long long x, const long long *p) { (void)p; return x < 0; }
static int p_nonneg(long long x, const long long *p) { (void)p; return x >= 0; }
static int p_inrange(long long x, const long long *p) { return x >= p[0] && x <= p[1]; }
static int p_outrange(long long x, const long long *p) { return x < p[0] || x > p[1]; }
static int p_prime(long long x, const long long *p) { (void)p; return is_prime(x); }
static int p_nonprime(long long x, const long long *p) { (void)p; return !is_prime(x); }
static int p_prime1(long long x, const long long *p) { (void)p; return x == 1 || is_prime(x); }
static int p_square(long long x, const long long *p) { (void)p; return is_square(x); }
static int p_nonsquare(long long x, const long long *p) { (void)p; return !is_square(x); }

static int c_vowel(long long c, const long long *p)
{
	(void)p;
	return c != 0 && strchr("aeiouAEIOU", (int)c) != NULL;
}
static int c_nonvowel(long long c, const long long *p) { return !c_vowel(c, p); }
static int c_letter(long long c, const long long *p)
{
	(void)p;
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static int c_nonletter(long long c, const long long *p) { return !c_letter(c, p); }
static int c_digit(long long c, const long long *p) { (void)p; return c >= '0' && c <= '9'; }
static int c_nondigit(long long c, const long long *p) { return !c_digit(c, p); }
static int c_space(long long c, const long long *p) { (void)p; return c == ' '; }
static int c_nonspace(long long c, const long long *p) { (void)p; return c != ' '; }
static int c_upper(long long c, const long long *p) { (void)p; return c >= 'A' && c <= 'Z'; }
static int c_nonupper(long long c, const long long *p) { return !c_upper(c, p); }
static int c_lower(long long c, const long long *p) { (void)p; return c >= 'a' && c <= 'z'; }
static int c_nonlower(long long c, const long long *p) { return !c_lower(c, p); }
static int c_char(long long c, const long long *p) { return c == p[0]; }
static int c_nonchar(long long c, const long long *p) { return c != p[0]; }

#define L1 1, { 'a', 0 }, { 'z', 0 }

const bk_pred bk_preds[] = {
	{ "even", P0, { "$X % 2 == 0", "$X % 2 == 0", "$X % 2 == 0" },
	  { "is even", NULL },
	  p_even, "odd", { { 0 } }, 0, 0 },
	{ "odd", P0, { "$X % 2 == 1", "$X % 2 != 0", "$X % 2 == 1" },
	  { "is odd", NULL },
	  p_odd, "even", { { 0 } }, 0, 0 },
	{ "gt", P1(-5, 5), { "$X > $1", "$X > $1", "$X > $1" },
	  { "is greater than $1", "exceeds $1" }, p_gt, "le",
	  { { OB, "ge", PT_SAME, 0 } }, 0, 0 },
	{ "le", P1(-5, 5), { "$X <= $1", "$X <= $1", "$X <= $1" },
	  { "is at most $1", "is less than or equal to $1" }, p_le, "gt",
	  { { OB, "lt", PT_SAME, 0 } }, 0, 0 },
	{ "lt", P1(-5, 5), { "$X < $1", "$X < $1", "$X < $1" },
	  { "is less than $1", "is below $1" }, p_lt, "ge",
	  { { OB, "le", PT_SAME, 0 } }, 0, 0 },
	{ "ge", P1(-5, 5), { "$X >= $1", "$X >= $1", "$X >= $1" },
	  { "is at least $1", "is greater than or equal to $1" }, p_ge, "lt",
	  { { OB, "gt", PT_SAME, 0 } }, 0, 0 },
	{ "eq", P1(-5, 5), { "$X == $1", "$X == $1", "$X == $1" },
	  { "equals $1", "is equal to $1" }, p_eq, "ne", { { 0 } }, 0, 0 },
	{ "ne", P1(-5, 5), { "$X != $1", "$X != $1", "$X ~= $1" },
	  { "is different from $1", "is not equal to $1" }, p_ne, "eq",
	  { { 0 } }, 0, 0 },
	{ "div", P1(2, 5), { "$X % $1 == 0", "$X % $1 == 0", "$X % $1 == 0" },
	  { "is divisible by $1", "is a multiple of $1" }, p_div, "ndiv",
	  { { 0 } }, 0, 0 },
	{ "ndiv", P1(2, 5), { "$X % $1 != 0", "$X % $1 != 0", "$X % $1 ~= 0" },
	  { "is not divisible by $1", "is not a multiple of $1" }, p_ndiv,
	  "div", { { 0 } }, 0, 0 },
	{ "pos", P0, { "$X > 0", "$X > 0", "$X > 0" },
	  { "is positive", NULL }, p_pos,
	  "nonpos", { { OB, "nonneg", PT_SAME, 0 } }, 0, 0 },
	{ "nonpos", P0, { "$X <= 0", "$X <= 0", "$X <= 0" },
	  { "is zero or negative", "is not positive" }, p_nonpos, "pos",
	  { { OB, "neg", PT_SAME, 0 } }, 0, 0 },
	{ "neg", P0, { "$X < 0", "$X < 0", "$X < 0" },
	  { "is negative", NULL }, p_neg,
	  "nonneg", { { OB, "nonpos", PT_SAME, 0 } }, 0, 0 },
	{ "nonneg", P0, { "$X >= 0", "$X >= 0", "$X >= 0" },
	  { "is zero or positive", "is not negative" }, p_nonneg, "neg",
	  { { OB, "pos", PT_SAME, 0 } }, 0, 0 },
	{ "inrange", 2, { -5, 1 }, { 0, 6 }, { "$1 <= $X <= $2",
	    "($X >= $1 && $X <= $2)",
	    "($X >= $1 and $X <= $2)" },
	  { "lies between $1 and $2 (inclusive)",
	    "is in the range from $1 to $2, both ends included" }, p_inrange,
	  "outrange", { { 0 } }, 0, 0 },
	{ "outrange", 2, { -5, 1 }, { 0, 6 }, { "($X < $1 or $X > $2)",
	    "($X < $1 || $X > $2)",
	    "($X < $1 or $X > $2)" },
	  { "lies outside the range from $1 to $2",
	    "is less than $1 or greater than $2" }, p_outrange, "inrange",
	  { { 0 } }, 0, 0 },
	{ "prime", P0, { "is_prime($X)", "is_prime($X)", "is_prime($X)" },
	  { "is a prime number", "is prime" }, p_prime, "nonprime",
	  { { DC, "prime1", PT_SAME, 0 } }, 0, 0 },
	{ "nonprime", P0, { "not is_prime($X)", "!is_prime($X)",
	    "not is_prime($X)" },
	  { "is not a prime number", "is not prime" }, p_nonprime, "prime",
	  { { 0 } }, 0, 0 },
	{ "square", P0, { "is_square($X)", "is_square($X)", "is_square($X)" },
	  { "is a perfect square (0, 1, 4, 9, ...)", NULL }, p_square,
	  "nonsquare", { { 0 } }, 0, 0 },
	{ "nonsquare", P0, { "not is_square($X)", "!is_square($X)",
	    "not is_square($X)" },
	  { "is not a perfect square (0, 1, 4, 9, ...)", NULL },
	  p_nonsquare, "square", { { 0 } }, 0, 0 },
	{ "prime1", P0, { "($X == 1 or is_prime($X))",
	    "($X == 1 || is_prime($X))",
	    "($X == 1 or is_prime($X))" }, { NULL, NULL }, p_prime1, "nonprime",
	  { { 0 } }, 1, 0 },

	{ "vowel", P0, { "$X in 'aeiouAEIOU'",
	    "strchr(\"aeiouAEIOU\", $X) != NULL",
	    "$X:match(\"[aeiouAEIOU]\") ~= nil" },
	  { "is a vowel (a, e, i, o or u, in either case)", NULL }, c_vowel,
	  "nonvowel", { { 0 } }, 0, 1 },
	{ "nonvowel", P0, { "$X not in 'aeiouAEIOU'",
	    "strchr(\"aeiouAEIOU\", $X) == NULL",
	    "$X:match(\"[aeiouAEIOU]\") == nil" },
	  { "is not a vowel (a, e, i, o or u, in either case)", NULL },
	  c_nonvowel, "vowel", { { 0 } }, 0, 1 },
	{ "letter", P0, { "$X.isalpha()", "isalpha((unsigned char)$X)",
	    "$X:match(\"[A-Za-z]\") ~= nil" },
	  { "is a letter", NULL }, c_letter, "nonletter", { { 0 } }, 0, 1 },
	{ "nonletter", P0, { "not $X.isalpha()", "!isalpha((unsigned char)$X)",
	    "$X:match(\"[A-Za-z]\") == nil" },
	  { "is not a letter", NULL }, c_nonletter, "letter", { { 0 } }, 0, 1 },
	{ "digit", P0, { "$X.isdigit()", "isdigit((unsigned char)$X)",
	    "$X:match(\"[0-9]\") ~= nil" },
	  { "is a decimal digit", NULL }, c_digit, "nondigit", { { 0 } }, 0,
	  1 },
	{ "nondigit", P0, { "not $X.isdigit()", "!isdigit((unsigned char)$X)",
	    "$X:match(\"[0-9]\") == nil" },
	  { "is not a decimal digit", NULL }, c_nondigit, "digit", { { 0 } },
	  0, 1 },
	{ "space", P0, { "$X == ' '", "$X == ' '", "$X == \" \"" },
	  { "is a space", NULL },
	  c_space, "nonspace", { { 0 } }, 0, 1 },
	{ "nonspace", P0, { "$X != ' '", "$X != ' '", "$X ~= \" \"" },
	  { "is not a space", NULL },
	  c_nonspace, "space", { { 0 } }, 0, 1 },
	{ "upper", P0, { "$X.isupper()", "isupper((unsigned char)$X)",
	    "$X:match(\"[A-Z]\") ~= nil" },
	  { "is an uppercase letter", NULL }, c_upper, "nonupper", { { 0 } },
	  0, 1 },
	{ "nonupper", P0, { "not $X.isupper()", "!isupper((unsigned char)$X)",
	    "$X:match(\"[A-Z]\") == nil" },
	  { "is not an uppercase letter", NULL }, c_nonupper, "upper",
	  { { 0 } }, 0, 1 },
	{ "lower", P0, { "$X.islower()", "islower((unsigned char)$X)",
	    "$X:match(\"[a-z]\") ~= nil" },
	  { "is a lowercase letter", NULL }, c_lower, "nonlower", { { 0 } },
	  0, 1 },
	{ "nonlower", P0, { "not $X.islower()", "!islower((unsigned char)$X)",
	    "$X:match(\"[a-z]\") == nil" },
	  { "is not a lowercase letter", NULL }, c_nonlower, "lower",
	  { { 0 } }, 0, 1 },
	{ "char", L1, { "$X == '$1'", "$X == '$1'", "$X == \"$1\"" },
	  { "is the letter '$1'", "is a lowercase '$1'" }, c_char, "nonchar",
	  { { 0 } }, 0, 1 },
	{ "nonchar", L1, { "$X != '$1'", "$X != '$1'", "$X ~= \"$1\"" },
	  { "is not the letter '$1'", "is anything but a lowercase '$1'" },
	  c_nonchar, "char", { { 0 } }, 0, 1 },
	{ 0 },
};

/* ---- consumers of a predicate ---- */


#define LOOP "for (int i = 0; i < $N; i++) {\n\tlong long x = $I[i];\n"
#define CLOOP "for (int i = 0; i < $N; i++) {\n\tchar ch = $I[i];\n"
#define LLOOP "for _, x in ipairs($I) do\n"
#define LILOOP "for i, x in ipairs($I) do\n"
#define LCLOOP "for i = 1, #$I do\n  local ch = $I:sub(i, i)\n"

const bk_cons bk_conses[] = {
	{ "is", BK_INT, BK_BOOL, 0, C_IS, { "$O = $P", "$O = $P;",
	    "local $O = $P" },
	  { "check whether the number $Q", "decide if the number $Q" },
	  { { 0 } }, 0 },
	{ "filter", BK_LIST, BK_LIST, 0, C_FILTER,
	  { "$O = [x for x in $I if $P]",
	    LOOP "\tif ($P)\n\t\t$O[$M++] = x;\n}",
	    "local $O = {}\n" LLOOP "  if $P then\n    $O[#$O + 1] = x\n"
	    "  end\nend" },
	  { "keep each element that $Q, dropping the rest",
	    "discard every element unless it $Q" },
	  { { WO, "zero", PT_SAME, 0 } }, 0 },
	{ "count", BK_LIST, BK_INT, 0, C_COUNT,
	  { "$O = sum(1 for x in $I if $P)",
	    "$O = 0;\n" LOOP "\tif ($P)\n\t\t$O++;\n}",
	    "local $O = 0\n" LLOOP "  if $P then\n    $O = $O + 1\n  end\nend" },
	  { "count every element that $Q",
	    "find how many of the elements satisfy this: the element $Q" },
	  { { WO, "sumif", PT_SAME, 0 } }, 0 },
	{ "any", BK_LIST, BK_BOOL, 0, C_ANY, { "$O = any($P for x in $I)",
	    "$O = false;\n" LOOP "\tif ($P) {\n\t\t$O = true;\n\t\tbreak;\n"
	    "\t}\n}",
	    "local $O = false\n" LLOOP "  if $P then\n    $O = true\n"
	    "    break\n  end\nend" },
	  { "check whether at least one element $Q",
	    "decide if some element $Q" },
	  { { WO, "all", PT_SAME, 0 } }, 0 },
	{ "all", BK_LIST, BK_BOOL, 0, C_ALL, { "$O = all($P for x in $I)",
	    "$O = true;\n" LOOP "\tif (!($P)) {\n\t\t$O = false;\n\t\tbreak;\n"
	    "\t}\n}",
	    "local $O = true\n" LLOOP "  if not ($P) then\n    $O = false\n"
	    "    break\n  end\nend" },
	  { "check whether every element $Q (an empty list counts as yes)",
	    "decide if each element $Q (yes for an empty list)" },
	  { { WO, "any", PT_SAME, 0 }, { DC, "allne", PT_SAME, 0 } }, 0 },
	{ "index", BK_LIST, BK_INT, 0, C_INDEX,
	  { "$O = next((i for i, x in enumerate($I) if $P), -1)",
	    "$O = -1;\n" LOOP "\tif ($P) {\n\t\t$O = i;\n\t\tbreak;\n\t}\n}",
	    "local $O = -1\n" LILOOP "  if $P then\n    $O = i - 1\n"
	    "    break\n  end\nend" },
	  { "find the position (counting from 0) of the first element that "
	    "$Q, or -1 if no element does",
	    "return the index of the first element that $Q (-1 if there is "
	    "none)" },
	  { { OB, "index1", PT_SAME, 0 }, { DC, "indexlen", PT_SAME, 0 } }, 0 },
	{ "takewhile", BK_LIST, BK_LIST, 0, C_TAKEWHILE,
	  { "$O = []\nfor x in $I:\n    if not ($P):\n        break\n"
	    "    $O.append(x)",
	    LOOP "\tif (!($P))\n\t\tbreak;\n\t$O[$M++] = x;\n}",
	    "local $O = {}\n" LLOOP "  if not ($P) then\n    break\n  end\n"
	    "  $O[#$O + 1] = x\nend" },
	  { "keep the elements from the start for as long as each $Q, "
	    "stopping before the first one that does not",
	    "take the longest prefix of the list in which every element $Q" },
	  { { WO, "filter", PT_SAME, 0 }, { WO, "dropwhile", PT_SAME, 0 } },
	  0 },
	{ "dropwhile", BK_LIST, BK_LIST, 0, C_DROPWHILE,
	  { "$O = []\nfor x in $I:\n    if $O or not ($P):\n"
	    "        $O.append(x)",
	    LOOP "\tif ($M == 0 && ($P))\n\t\tcontinue;\n\t$O[$M++] = x;\n}",
	    "local $O = {}\n" LLOOP "  if #$O > 0 or not ($P) then\n"
	    "    $O[#$O + 1] = x\n  end\nend" },
	  { "skip the elements at the start for as long as each $Q, and keep "
	    "everything from the first one that does not",
	    "remove the longest prefix of the list in which every element $Q" },
	  { { WO, "takewhile", PT_SAME, 0 } }, 0 },
	{ "sumif", BK_LIST, BK_INT, 0, C_SUMIF,
	  { "$O = sum(x for x in $I if $P)",
	    "$O = 0;\n" LOOP "\tif ($P)\n\t\t$O += x;\n}",
	    "local $O = 0\n" LLOOP "  if $P then\n    $O = $O + x\n  end\nend" },
	  { "add up every element that $Q (0 if there is none)",
	    "compute the sum of the elements that satisfy this: the element "
	    "$Q" },
	  { { WO, "count", PT_SAME, 0 } }, 0 },
	{ "zero", BK_LIST, BK_LIST, 0, C_ZERO,
	  { "$O = [0 if $P else x for x in $I]",
	    LOOP "\t$O[$M++] = ($P) ? 0 : x;\n}",
	    "local $O = {}\n" LILOOP "  if $P then\n    $O[i] = 0\n  else\n"
	    "    $O[i] = x\n  end\nend" },
	  { "replace every element that $Q by 0",
	    "set to 0 each element that $Q, keeping the others" },
	  { { WO, "filter", PT_SAME, 0 } }, 0 },
	{ "partition", BK_LIST, BK_LIST, 0, C_PARTITION,
	  { "$O = [x for x in $I if $P] + [x for x in $I if not ($P)]",
	    LOOP "\tif ($P)\n\t\t$O[$M++] = x;\n}\n"
	    LOOP "\tif (!($P))\n\t\t$O[$M++] = x;\n}",
	    "local $O = {}\n" LLOOP "  if $P then\n    $O[#$O + 1] = x\n"
	    "  end\nend\n" LLOOP "  if not ($P) then\n    $O[#$O + 1] = x\n"
	    "  end\nend" },
	  { "move every element that $Q to the front, keeping the order "
	    "within both groups",
	    "reorder the list: first the elements that satisfy this: the "
	    "element $Q; then the others, each group in its original order" },
	  { { WO, "filter", PT_SAME, 0 } }, 0 },
	{ "allne", BK_LIST, BK_BOOL, 0, C_ALLNE,
	  { "$O = len($I) > 0 and all($P for x in $I)",
	    "$O = $N > 0;\n" LOOP "\tif (!($P)) {\n\t\t$O = false;\n\t\tbreak;\n"
	    "\t}\n}",
	    "local $O = #$I > 0\n" LLOOP "  if not ($P) then\n"
	    "    $O = false\n    break\n  end\nend" },
	  { NULL, NULL }, { { 0 } }, 1 },
	{ "index1", BK_LIST, BK_INT, 0, C_INDEX1,
	  { "$O = next((i + 1 for i, x in enumerate($I) if $P), -1)",
	    "$O = -1;\n" LOOP "\tif ($P) {\n\t\t$O = i + 1;\n\t\tbreak;\n\t}\n}",
	    "local $O = -1\n" LILOOP "  if $P then\n    $O = i\n    break\n"
	    "  end\nend" },
	  { NULL, NULL }, { { 0 } }, 1 },
	{ "indexlen", BK_LIST, BK_INT, 0, C_INDEXLEN,
	  { "$O = next((i for i, x in enumerate($I) if $P), len($I))",
	    "$O = $N;\n" LOOP "\tif ($P) {\n\t\t$O = i;\n\t\tbreak;\n\t}\n}",
	    "local $O = #$I\n" LILOOP "  if $P then\n    $O = i - 1\n"
	    "    break\n  end\nend" },
	  { NULL, NULL }, { { 0 } }, 1 },

	{ "keep", BK_STR, BK_STR, 1, C_FILTER,
	  { "$O = ''.join(ch for ch in $I if $P)",
	    CLOOP "\tif ($P)\n\t\t$O[$M++] = ch;\n}",
	    "local $O = \"\"\n" LCLOOP "  if $P then\n    $O = $O .. ch\n"
	    "  end\nend" },
	  { "keep each character that $Q, dropping the rest",
	    "remove every character unless it $Q" }, { { 0 } }, 0 },
	{ "count", BK_STR, BK_INT, 1, C_COUNT,
	  { "$O = sum(1 for ch in $I if $P)",
	    "$O = 0;\n" CLOOP "\tif ($P)\n\t\t$O++;\n}",
	    "local $O = 0\n" LCLOOP "  if $P then\n    $O = $O + 1\n  end\n"
	    "end" },
	  { "count every character that $Q",
	    "find how many of the characters satisfy this: the character $Q" },
	  { { 0 } }, 0 },
	{ "any", BK_STR, BK_BOOL, 1, C_ANY, { "$O = any($P for ch in $I)",
	    "$O = false;\n" CLOOP "\tif ($P) {\n\t\t$O = true;\n\t\tbreak;\n"
	    "\t}\n}",
	    "local $O = false\n" LCLOOP "  if $P then\n    $O = true\n"
	    "    break\n  end\nend" },
	  { "check whether at least one character $Q",
	    "decide if some character $Q" },
	  { { WO, "all", PT_SAME, 0 } }, 0 },
	{ "all", BK_STR, BK_BOOL, 1, C_ALL, { "$O = all($P for ch in $I)",
	    "$O = true;\n" CLOOP "\tif (!($P)) {\n\t\t$O = false;\n\t\tbreak;\n"
	    "\t}\n}",
	    "local $O = true\n" LCLOOP "  if not ($P) then\n    $O = false\n"
	    "    break\n  end\nend" },
	  { "check whether every character $Q (an empty string counts as yes)",
	    "decide if each character $Q (yes for an empty string)" },
	  { { WO, "any", PT_SAME, 0 }, { DC, "allne", PT_SAME, 0 } }, 0 },
	{ "find", BK_STR, BK_INT, 1, C_INDEX,
	  { "$O = next((i for i, ch in enumerate($I) if $P), -1)",
	    "$O = -1;\n" CLOOP "\tif ($P) {\n\t\t$O = i;\n\t\tbreak;\n\t}\n}",
	    "local $O = -1\n" LCLOOP "  if $P then\n    $O = i - 1\n"
	    "    break\n  end\nend" },
	  { "find the position (counting from 0) of the first character that "
	    "$Q, or -1 if no character does",
	    "return the index of the first character that $Q (-1 if there is "
	    "none)" },
	  { { OB, "find1", PT_SAME, 0 }, { DC, "findlen", PT_SAME, 0 } }, 0 },
	{ "allne", BK_STR, BK_BOOL, 1, C_ALLNE,
	  { "$O = len($I) > 0 and all($P for ch in $I)",
	    "$O = $N > 0;\n" CLOOP "\tif (!($P)) {\n\t\t$O = false;\n\t\tbreak;\n"
	    "\t}\n}",
	    "local $O = #$I > 0\n" LCLOOP "  if not ($P) then\n"
	    "    $O = false\n    break\n  end\nend" },
	  { NULL, NULL }, { { 0 } }, 1 },
	{ "find1", BK_STR, BK_INT, 1, C_INDEX1,
	  { "$O = next((i + 1 for i, ch in enumerate($I) if $P), -1)",
	    "$O = -1;\n" CLOOP "\tif ($P) {\n\t\t$O = i + 1;\n\t\tbreak;\n\t}\n}",
	    "local $O = -1\n" LCLOOP "  if $P then\n    $O = i\n    break\n"
	    "  end\nend" },
	  { NULL, NULL }, { { 0 } }, 1 },
	{ "findlen", BK_STR, BK_INT, 1, C_INDEXLEN,
	  { "$O = next((i for i, ch in enumerate($I) if $P), len($I))",
	    "$O = $N;\n" CLOOP "\tif ($P) {\n\t\t$O = i;\n\t\tbreak;\n\t}\n}",
	    "local $O = #$I\n" LCLOOP "  if $P then\n    $O = i - 1\n"
	    "    break\n  end\nend" },
	  { NULL, NULL }, { { 0 } }, 1 },
	{ 0 },
};

/* ---- templates of their own ---- */

static int push(bk_val *o, long long x)
{
	if (o->n >= BK_MAX || !ok(x))
		return -1;
	o->v[o->n++] = x;
	return 0;
}

static int pushc(bk_val *o, int c)
{
	if (o->n >= BK_MAX)
		return -1;
	o->s[o->n++] = (char)c;
	o->s[o->n] = '\0';
	return 0;
}

static int pushs(bk_val *o, const char *s)
{
	for (; *s; s++)
		if (pushc(o, *s))
			return -1;
	return 0;
}

#define SP(name) static int name(const bk_val *in, const long long *p, \
				 bk_val *o)
#define UNUSED (void)p
#define EACH for (int i = 0; i < in->n; i++)
#define TRY(e) do { if (e) return -1; } while (0)
#define SETI(v) do { o->i = (v); return ok(o->i) ? 0 : -1; } while (0)

static void isort(long long *v, int n, int desc, int byabs)
{
	for (int i = 1; i < n; i++) {
		long long x = v[i];
		int j = i;

		while (j > 0 && (byabs ? absl(v[j - 1]) > absl(x)
				 : desc ? v[j - 1] < x : v[j - 1] > x)) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
}

static void copyv(const bk_val *in, bk_val *o)
{
	memcpy(o->v, in->v, sizeof o->v[0] * (size_t)in->n);
	o->n = in->n;
}

SP(s_sort) { UNUSED; copyv(in, o); isort(o->v, o->n, 0, 0); return 0; }
SP(s_sortdesc) { UNUSED; copyv(in, o); isort(o->v, o->n, 1, 0); return 0; }
SP(s_sortabs) { UNUSED; copyv(in, o); isort(o->v, o->n, 0, 1); return 0; }
SP(s_rev) { UNUSED; for (int i = in->n - 1; i >= 0; i--) TRY(push(o, in->v[i])); return 0; }
SP(s_unique)
{
	UNUSED;
	EACH {
		int seen = 0;

		for (int j = 0; j < o->n; j++)
			seen |= o->v[j] == in->v[i];
		if (!seen)
			TRY(push(o, in->v[i]));
	}
	return 0;
}
SP(s_dedup)
{
	UNUSED;
	EACH if (i == 0 || in->v[i] != in->v[i - 1])
		TRY(push(o, in->v[i]));
	return 0;
}
SP(s_take) { EACH if (i < p[0]) TRY(push(o, in->v[i])); return 0; }
SP(s_drop) { EACH if (i >= p[0]) TRY(push(o, in->v[i])); return 0; }
SP(s_takelast) { EACH if (i >= in->n - p[0]) TRY(push(o, in->v[i])); return 0; }
SP(s_droplast) { EACH if (i < in->n - p[0]) TRY(push(o, in->v[i])); return 0; }
SP(s_psum)
{
	long long t = 0;

	UNUSED;
	EACH {
		t += in->v[i];
		TRY(push(o, t));
	}
	return 0;
}
SP(s_psumx)
{
	long long t = 0;

	UNUSED;
	EACH {
		TRY(push(o, t));
		t += in->v[i];
	}
	return 0;
}
SP(s_diffs) { UNUSED; for (int i = 0; i + 1 < in->n; i++) TRY(push(o, in->v[i + 1] - in->v[i])); return 0; }
SP(s_diffsrev) { UNUSED; for (int i = 0; i + 1 < in->n; i++) TRY(push(o, in->v[i] - in->v[i + 1])); return 0; }
SP(s_pairsums) { UNUSED; for (int i = 0; i + 1 < in->n; i++) TRY(push(o, in->v[i] + in->v[i + 1])); return 0; }
SP(s_rotl) { EACH TRY(push(o, in->v[(i + p[0]) % in->n])); return 0; }
SP(s_rotr) { EACH TRY(push(o, in->v[fmodl_(i - p[0], in->n)])); return 0; }
SP(s_evenpos) { UNUSED; for (int i = 0; i < in->n; i += 2) TRY(push(o, in->v[i])); return 0; }
SP(s_oddpos) { UNUSED; for (int i = 1; i < in->n; i += 2) TRY(push(o, in->v[i])); return 0; }
SP(s_append) { EACH TRY(push(o, in->v[i])); return push(o, p[0]); }
SP(s_prepend) { TRY(push(o, p[0])); EACH TRY(push(o, in->v[i])); return 0; }
SP(s_removefirst)
{
	int done = 0;

	EACH {
		if (!done && in->v[i] == p[0]) {
			done = 1;
			continue;
		}
		TRY(push(o, in->v[i]));
	}
	return 0;
}
SP(s_mirror)
{
	UNUSED;
	EACH TRY(push(o, in->v[i]));
	for (int i = in->n - 1; i >= 0; i--)
		TRY(push(o, in->v[i]));
	return 0;
}
SP(s_runmax)
{
	UNUSED;
	EACH TRY(push(o, i > 0 && o->v[i - 1] > in->v[i] ? o->v[i - 1] : in->v[i]));
	return 0;
}
SP(s_runmin)
{
	UNUSED;
	EACH TRY(push(o, i > 0 && o->v[i - 1] < in->v[i] ? o->v[i - 1] : in->v[i]));
	return 0;
}
SP(s_addidx) { UNUSED; EACH TRY(push(o, in->v[i] + i)); return 0; }
SP(s_addidx1) { UNUSED; EACH TRY(push(o, in->v[i] + i + 1)); return 0; }
SP(s_mulidx) { UNUSED; EACH TRY(push(o, in->v[i] * i)); return 0; }
SP(s_mulidx1) { UNUSED; EACH TRY(push(o, in->v[i] * (i + 1))); return 0; }
SP(s_swappairs)
{
	UNUSED;
	copyv(in, o);
	for (int i = 0; i + 1 < o->n; i += 2) {
		long long t = o->v[i];

		o->v[i] = o->v[i + 1];
		o->v[i + 1] = t;
	}
	return 0;
}
SP(s_dupeach)
{
	UNUSED;
	EACH {
		TRY(push(o, in->v[i]));
		TRY(push(o, in->v[i]));
	}
	return 0;
}

/* list -> int, bool */
SP(s_sum) { long long s = 0; UNUSED; EACH { s += in->v[i]; TRY(!ok(s)); } SETI(s); }
SP(s_prod) { long long s = 1; UNUSED; EACH { s *= in->v[i]; TRY(!ok(s)); } SETI(s); }
SP(s_len) { UNUSED; SETI(in->n); }
static long long vmax(const bk_val *in, long long init, int from0, int min)
{
	long long m = init;

	for (int i = 0; i < in->n; i++)
		if ((i == 0 && !from0) || (min ? in->v[i] < m : in->v[i] > m))
			m = in->v[i];
	return m;
}
SP(s_max) { UNUSED; SETI(vmax(in, 0, 0, 0)); }
SP(s_max0) { UNUSED; SETI(vmax(in, 0, 1, 0)); }
SP(s_min) { UNUSED; SETI(vmax(in, 0, 0, 1)); }
SP(s_min0) { UNUSED; SETI(vmax(in, 0, 1, 1)); }
SP(s_first) { UNUSED; SETI(in->n ? in->v[0] : 0); }
SP(s_last) { UNUSED; SETI(in->n ? in->v[in->n - 1] : 0); }
SP(s_spread) { UNUSED; SETI(in->n ? vmax(in, 0, 0, 0) - vmax(in, 0, 0, 1) : 0); }
SP(s_altsum) { long long s = 0; UNUSED; EACH s += i % 2 ? -in->v[i] : in->v[i]; SETI(s); }
SP(s_altsumneg) { long long s = 0; UNUSED; EACH s += i % 2 ? in->v[i] : -in->v[i]; SETI(s); }
SP(s_sumsq) { long long s = 0; UNUSED; EACH { s += in->v[i] * in->v[i]; TRY(!ok(s)); } SETI(s); }
static long long argm(const bk_val *in, int min, int last)
{
	long long m = -1;

	for (int i = 0; i < in->n; i++) {
		long long a = in->v[i], b = m < 0 ? 0 : in->v[m];

		if (m < 0 || (min ? (last ? a <= b : a < b)
				  : (last ? a >= b : a > b)))
			m = i;
	}
	return m;
}
SP(s_argmax) { UNUSED; SETI(argm(in, 0, 0)); }
SP(s_argmaxlast) { UNUSED; SETI(argm(in, 0, 1)); }
SP(s_argmin) { UNUSED; SETI(argm(in, 1, 0)); }
SP(s_argminlast) { UNUSED; SETI(argm(in, 1, 1)); }
static int ndistinct(const bk_val *in)
{
	int k = 0;

	for (int i = 0; i < in->n; i++) {
		int seen = 0;

		for (int j = 0; j < i; j++)
			seen |= in->type == BK_STR ? in->s[j] == in->s[i]
						   : in->v[j] == in->v[i];
		k += !seen;
	}
	return k;
}
SP(s_ndistinct) { UNUSED; SETI(ndistinct(in)); }
SP(s_distinct) { UNUSED; SETI(ndistinct(in) == in->n); }
SP(s_sorted) { long long r = 1; UNUSED; for (int i = 0; i + 1 < in->n; i++) r &= in->v[i] <= in->v[i + 1]; SETI(r); }
SP(s_ssorted) { long long r = 1; UNUSED; for (int i = 0; i + 1 < in->n; i++) r &= in->v[i] < in->v[i + 1]; SETI(r); }
SP(s_palin) { long long r = 1; UNUSED; EACH r &= in->v[i] == in->v[in->n - 1 - i]; SETI(r); }

/* int -> list, string */
SP(s_range) { UNUSED; TRY(in->i > BK_MAX); for (long long i = 0; i < in->i; i++) TRY(push(o, i)); return 0; }
SP(s_range1) { UNUSED; TRY(in->i > BK_MAX); for (long long i = 0; i <= in->i; i++) TRY(push(o, i)); return 0; }
SP(s_digits)
{
	char buf[24];

	UNUSED;
	snprintf(buf, sizeof buf, "%lld", absl(in->i));
	for (char *c = buf; *c; c++)
		TRY(push(o, *c - '0'));
	return 0;
}
static int divisors(const bk_val *in, bk_val *o, int proper)
{
	long long a = absl(in->i);

	TRY(a > 10000);
	for (long long d = 1; proper ? d < a : d <= a; d++)
		if (in->i % d == 0)
			TRY(push(o, d));
	return 0;
}
SP(s_divisors) { UNUSED; return divisors(in, o, 0); }
SP(s_pdivisors) { UNUSED; return divisors(in, o, 1); }
SP(s_multiples) { for (long long k = 1; k <= p[0]; k++) TRY(push(o, in->i * k)); return 0; }
static int bitlen(long long v)
{
	int len = 1;

	while ((v >> len) > 0)
		len++;
	return len;
}
SP(s_bits)
{
	long long v = absl(in->i);

	UNUSED;
	for (int i = bitlen(v) - 1; i >= 0; i--)
		TRY(push(o, (v >> i) & 1));
	return 0;
}
SP(s_tostr)
{
	char buf[24];

	UNUSED;
	snprintf(buf, sizeof buf, "%lld", in->i);
	return pushs(o, buf);
}
SP(s_binstr)
{
	long long v = absl(in->i);

	UNUSED;
	for (int i = bitlen(v) - 1; i >= 0; i--)
		TRY(pushc(o, '0' + (int)((v >> i) & 1)));
	return 0;
}

/* string -> string */
static int up(int c) { return c >= 'a' && c <= 'z' ? c - 32 : c; }
static int lo(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
#define CH ((unsigned char)in->s[i])
SP(s_upper) { UNUSED; EACH TRY(pushc(o, up(CH))); return 0; }
SP(s_lower) { UNUSED; EACH TRY(pushc(o, lo(CH))); return 0; }
SP(s_swapcase) { UNUSED; EACH TRY(pushc(o, CH >= 'a' && CH <= 'z' ? up(CH) : lo(CH))); return 0; }
SP(s_shift) { EACH TRY(pushc(o, CH >= 'a' && CH <= 'z' ? 'a' + (int)((CH - 'a' + p[0]) % 26) : CH)); return 0; }
SP(s_shiftnowrap) { EACH TRY(pushc(o, CH >= 'a' && CH <= 'z' ? CH + (int)p[0] : CH)); return 0; }
SP(s_atbash) { UNUSED; EACH TRY(pushc(o, CH >= 'a' && CH <= 'z' ? 219 - CH : CH)); return 0; }
SP(s_replc) { EACH TRY(pushc(o, CH == p[0] ? (int)p[1] : CH)); return 0; }
SP(s_srev) { UNUSED; for (int i = in->n - 1; i >= 0; i--) TRY(pushc(o, CH)); return 0; }
SP(s_stake) { EACH if (i < p[0]) TRY(pushc(o, CH)); return 0; }
SP(s_sdrop) { EACH if (i >= p[0]) TRY(pushc(o, CH)); return 0; }
SP(s_sdedup) { UNUSED; EACH if (i == 0 || in->s[i] != in->s[i - 1]) TRY(pushc(o, CH)); return 0; }
SP(s_suniq)
{
	UNUSED;
	EACH if (!memchr(o->s, in->s[i], (size_t)o->n))
		TRY(pushc(o, CH));
	return 0;
}
static int strip(const bk_val *in, bk_val *o, int right)
{
	int a = 0, b = in->n;

	while (a < b && in->s[a] == ' ')
		a++;
	while (right && b > a && in->s[b - 1] == ' ')
		b--;
	for (int i = a; i < b; i++)
		TRY(pushc(o, CH));
	return 0;
}
SP(s_strip) { UNUSED; return strip(in, o, 1); }
SP(s_lstrip) { UNUSED; return strip(in, o, 0); }
SP(s_squeeze)
{
	UNUSED;
	EACH {
		if (in->s[i] == ' ')
			continue;
		if (o->n > 0 && in->s[i - 1] == ' ')
			TRY(pushc(o, ' '));
		TRY(pushc(o, CH));
	}
	return 0;
}
SP(s_ssort)
{
	UNUSED;
	EACH {
		int j = o->n;

		TRY(pushc(o, CH));
		while (j > 0 && (unsigned char)o->s[j - 1] > CH) {
			o->s[j] = o->s[j - 1];
			j--;
		}
		o->s[j] = (char)CH;
	}
	return 0;
}
SP(s_sdouble) { UNUSED; EACH { TRY(pushc(o, CH)); TRY(pushc(o, CH)); } return 0; }
SP(s_capwords) { UNUSED; EACH TRY(pushc(o, i == 0 || in->s[i - 1] == ' ' ? up(CH) : CH)); return 0; }
SP(s_capfirst) { UNUSED; EACH TRY(pushc(o, i == 0 ? up(CH) : CH)); return 0; }
SP(s_smirror)
{
	UNUSED;
	EACH TRY(pushc(o, CH));
	for (int i = in->n - 1; i >= 0; i--)
		TRY(pushc(o, CH));
	return 0;
}

/* string -> int, bool, list */
SP(s_slen) { UNUSED; SETI(in->n); }
SP(s_nwords) { long long k = 0; UNUSED; EACH k += in->s[i] != ' ' && (i == 0 || in->s[i - 1] == ' '); SETI(k); }
SP(s_nwordssp) { long long k = 1; UNUSED; EACH k += in->s[i] == ' '; SETI(k); }
SP(s_ordsum) { long long k = 0; UNUSED; EACH k += CH; SETI(k); }
SP(s_maxword)
{
	long long run = 0, m = 0;

	UNUSED;
	EACH {
		run = in->s[i] == ' ' ? 0 : run + 1;
		if (run > m)
			m = run;
	}
	SETI(m);
}
SP(s_sdistinct) { UNUSED; SETI(ndistinct(in)); }
SP(s_spalin) { long long r = 1; UNUSED; EACH r &= in->s[i] == in->s[in->n - 1 - i]; SETI(r); }
SP(s_startsc) { SETI(in->n > 0 && in->s[0] == p[0]); }
SP(s_endsc) { SETI(in->n > 0 && in->s[in->n - 1] == p[0]); }
SP(s_ords) { UNUSED; EACH TRY(push(o, CH)); return 0; }
SP(s_wordlens)
{
	int run = 0;

	UNUSED;
	for (int i = 0; i <= in->n; i++) {
		if (i < in->n && in->s[i] != ' ')
			run++;
		else if (run > 0) {
			TRY(push(o, run));
			run = 0;
		}
	}
	return 0;
}
SP(s_alphapos) { UNUSED; EACH TRY(push(o, CH >= 'a' && CH <= 'z' ? CH - 96 : 0)); return 0; }
SP(s_alphapos0) { UNUSED; EACH TRY(push(o, CH >= 'a' && CH <= 'z' ? CH - 97 : 0)); return 0; }

/* list -> string */
SP(s_letters) { UNUSED; EACH TRY(pushc(o, 97 + (int)fmodl_(in->v[i], 26))); return 0; }
SP(s_letters1) { UNUSED; EACH TRY(pushc(o, 97 + (int)fmodl_(in->v[i] - 1, 26))); return 0; }
SP(s_csv)
{
	char buf[32];

	UNUSED;
	EACH {
		snprintf(buf, sizeof buf, i ? ",%lld" : "%lld", in->v[i]);
		TRY(pushs(o, buf));
	}
	return 0;
}

#define LL BK_LIST
#define II BK_INT
#define SS BK_STR
#define BB BK_BOOL
#define N0 0, { 0, 0 }, { 0, 0 }, 0
#define N1(a, b) 1, { a, 0 }, { b, 0 }, 0
#define NC 1, { 'a', 0 }, { 'z', 0 }, 1
#define COPY "for (int i = 0; i < $N; i++)\n\t$O[$M++] = $I[i];"
#define REV "for (int i = $N - 1; i >= 0; i--)\n\t$O[$M++] = $I[i];"
#define LCOPY "local $O = table.move($I, 1, #$I, 1, {})"
#define LREV "for i = #$I, 1, -1 do\n  $O[#$O + 1] = $I[i]\nend"
#define ISORT(cmp) \
	"for (int i = 0; i < $N; i++) {\n\tlong long x = $I[i];\n" \
	"\tint j = $M++;\n\twhile (j > 0 && " cmp ") {\n" \
	"\t\t$O[j] = $O[j - 1];\n\t\tj--;\n\t}\n\t$O[j] = x;\n}"
#define V1(k, to) { { k, to, PT_SAME, 0 } }
#define V2(k, to, k2, to2) { { k, to, PT_SAME, 0 }, { k2, to2, PT_SAME, 0 } }
#define NOV { { 0 } }
#define ONE(s) { s, NULL }
#define HID(name, in, out, np, py, c, lua, f) \
	{ name, in, out, np, { py, c, lua }, { NULL, NULL }, f, NOV, 1 }

const bk_spec bk_specs[] = {
	/* list -> list */
	{ "sort", LL, LL, N0, { "$O = sorted($I)", ISORT("$O[j - 1] > x"),
	    LCOPY "\ntable.sort($O)" },
	  { "sort the elements in ascending order",
	    "arrange the elements from smallest to largest" }, s_sort,
	  V1(WB, "sortdesc"), 0 },
	{ "sortdesc", LL, LL, N0, { "$O = sorted($I, reverse=True)",
	    ISORT("$O[j - 1] < x"),
	    LCOPY "\ntable.sort($O, function(a, b) return a > b end)" },
	  { "sort the elements in descending order",
	    "arrange the elements from largest to smallest" }, s_sortdesc,
	  V1(WB, "sort"), 0 },
	{ "sortabs", LL, LL, N0, { "$O = sorted($I, key=abs)",
	    ISORT("llabs($O[j - 1]) > llabs(x)"),
	    "local $O = {}\n" LLOOP "  local j = #$O\n"
	    "  while j > 0 and math.abs($O[j]) > math.abs(x) do\n"
	    "    $O[j + 1] = $O[j]\n    j = j - 1\n  end\n  $O[j + 1] = x\n"
	    "end" },
	  ONE("sort the elements by absolute value, keeping the original "
	      "order of elements with the same absolute value"), s_sortabs,
	  V1(WO, "sort"), 0 },
	{ "rev", LL, LL, N0, { "$O = $I[::-1]", REV, "local $O = {}\n" LREV },
	  { "reverse the order of the elements", "reverse the list" }, s_rev,
	  NOV, 0 },
	{ "unique", LL, LL, N0,
	  { "$O = []\nfor x in $I:\n    if x not in $O:\n        $O.append(x)",
	    "for (int i = 0; i < $N; i++) {\n\tint seen = 0;\n"
	    "\tfor (int j = 0; j < $M; j++)\n\t\tif ($O[j] == $I[i])\n"
	    "\t\t\tseen = 1;\n\tif (!seen)\n\t\t$O[$M++] = $I[i];\n}",
	    "local $O = {}\nlocal seen = {}\n" LLOOP "  if not seen[x] then\n"
	    "    seen[x] = true\n    $O[#$O + 1] = x\n  end\nend" },
	  { "remove repeated values, keeping only the first occurrence of each",
	    "drop every element that already appeared earlier in the list" },
	  s_unique, V1(DC, "dedup"), 0 },
	{ "dedup", LL, LL, N0,
	  { "$O = [x for i, x in enumerate($I) if i == 0 or x != $I[i - 1]]",
	    "for (int i = 0; i < $N; i++)\n\tif (i == 0 || $I[i] != $I[i - 1])\n"
	    "\t\t$O[$M++] = $I[i];",
	    "local $O = {}\n" LILOOP "  if i == 1 or x ~= $I[i - 1] then\n"
	    "    $O[#$O + 1] = x\n  end\nend" },
	  ONE("collapse every run of equal neighbouring elements into one "
	      "element"), s_dedup, V1(WO, "unique"), 0 },
	{ "take", LL, LL, N1(1, 4), { "$O = $I[:$1]",
	    "for (int i = 0; i < $N && i < $1; i++)\n\t$O[$M++] = $I[i];",
	    "local $O = table.move($I, 1, math.min($1, #$I), 1, {})" },
	  { "keep only the first $1 elements (all of them if there are fewer)",
	    NULL }, s_take, V1(WO, "drop"), 0 },
	{ "drop", LL, LL, N1(1, 4), { "$O = $I[$1:]",
	    "for (int i = $1; i < $N; i++)\n\t$O[$M++] = $I[i];",
	    "local $O = table.move($I, $1 + 1, #$I, 1, {})" },
	  { "remove the first $1 elements (all of them if there are fewer)",
	    NULL }, s_drop, V1(WO, "take"), 0 },
	{ "takelast", LL, LL, N1(1, 4), { "$O = $I[max(len($I) - $1, 0):]",
	    "for (int i = $N > $1 ? $N - $1 : 0; i < $N; i++)\n"
	    "\t$O[$M++] = $I[i];",
	    "local $O = table.move($I, math.max(#$I - $1, 0) + 1, #$I, 1, {})" },
	  ONE("keep only the last $1 elements (all of them if there are "
	      "fewer)"), s_takelast, V1(WO, "take"), 0 },
	{ "droplast", LL, LL, N1(1, 4), { "$O = $I[:max(len($I) - $1, 0)]",
	    "for (int i = 0; i < $N - $1; i++)\n\t$O[$M++] = $I[i];",
	    "local $O = table.move($I, 1, #$I - $1, 1, {})" },
	  ONE("remove the last $1 elements (all of them if there are fewer)"),
	  s_droplast, V1(WO, "drop"), 0 },
	{ "psum", LL, LL, N0,
	  { "$O = []\ntotal = 0\nfor x in $I:\n    total += x\n"
	    "    $O.append(total)",
	    "{\n\tlong long total = 0;\n\tfor (int i = 0; i < $N; i++) {\n"
	    "\t\ttotal += $I[i];\n\t\t$O[$M++] = total;\n\t}\n}",
	    "local $O = {}\nlocal total = 0\n" LLOOP "  total = total + x\n"
	    "  $O[#$O + 1] = total\nend" },
	  { "replace each element by the sum of all the elements up to and "
	    "including it (running totals)",
	    "compute the running totals of the list" }, s_psum,
	  V1(OB, "psumx"), 0 },
	{ "diffs", LL, LL, N0,
	  { "$O = [$I[i + 1] - $I[i] for i in range(len($I) - 1)]",
	    "for (int i = 0; i + 1 < $N; i++)\n\t$O[$M++] = $I[i + 1] - $I[i];",
	    "local $O = {}\nfor i = 1, #$I - 1 do\n"
	    "  $O[i] = $I[i + 1] - $I[i]\nend" },
	  ONE("make the list of the differences between neighbouring "
	      "elements, each element minus the one before it (one element "
	      "shorter; empty for fewer than two)"), s_diffs,
	  V2(WO, "diffsrev", WO, "pairsums"), 0 },
	{ "pairsums", LL, LL, N0,
	  { "$O = [$I[i] + $I[i + 1] for i in range(len($I) - 1)]",
	    "for (int i = 0; i + 1 < $N; i++)\n\t$O[$M++] = $I[i] + $I[i + 1];",
	    "local $O = {}\nfor i = 1, #$I - 1 do\n"
	    "  $O[i] = $I[i] + $I[i + 1]\nend" },
	  ONE("make the list of the sums of each pair of neighbouring "
	      "elements (one element shorter; empty for fewer than two)"),
	  s_pairsums, V1(WO, "diffs"), 0 },
	{ "rotl", LL, LL, N1(1, 3),
	  { "$O = [$I[(i + $1) % len($I)] for i in range(len($I))]",
	    "for (int i = 0; i < $N; i++)\n\t$O[$M++] = $I[(i + $1) % $N];",
	    "local $O = {}\nfor i = 0, #$I - 1 do\n"
	    "  $O[i + 1] = $I[(i + $1) % #$I + 1]\nend" },
	  ONE("rotate the list left by $1 positions (the first element moves "
	      "to the end, $1 times)"), s_rotl, V1(WB, "rotr"), 0 },
	{ "rotr", LL, LL, N1(1, 3),
	  { "$O = [$I[(i - $1) % len($I)] for i in range(len($I))]",
	    "for (int i = 0; i < $N; i++)\n\t$O[$M++] = $I[floormod(i - $1, $N)];",
	    "local $O = {}\nfor i = 0, #$I - 1 do\n"
	    "  $O[i + 1] = $I[(i - $1) % #$I + 1]\nend" },
	  ONE("rotate the list right by $1 positions (the last element moves "
	      "to the front, $1 times)"), s_rotr, V1(WB, "rotl"), 0 },
	{ "evenpos", LL, LL, N0, { "$O = $I[::2]",
	    "for (int i = 0; i < $N; i += 2)\n\t$O[$M++] = $I[i];",
	    "local $O = {}\nfor i = 1, #$I, 2 do\n  $O[#$O + 1] = $I[i]\nend" },
	  ONE("keep the elements at even positions counting from 0 (the "
	      "first, third, fifth, ...)"), s_evenpos, V1(OB, "oddpos"), 0 },
	{ "oddpos", LL, LL, N0, { "$O = $I[1::2]",
	    "for (int i = 1; i < $N; i += 2)\n\t$O[$M++] = $I[i];",
	    "local $O = {}\nfor i = 2, #$I, 2 do\n  $O[#$O + 1] = $I[i]\nend" },
	  ONE("keep the elements at odd positions counting from 0 (the "
	      "second, fourth, ...)"), s_oddpos, V1(OB, "evenpos"), 0 },
	{ "append", LL, LL, N1(-5, 5), { "$O = $I + [$1]", COPY "\n$O[$M++] = $1;",
	    LCOPY "\n$O[#$O + 1] = $1" },
	  { "append $1 at the end", "add $1 after the last element" },
	  s_append, V1(WO, "prepend"), 0 },
	{ "prepend", LL, LL, N1(-5, 5), { "$O = [$1] + $I",
	    "$O[$M++] = $1;\n" COPY,
	    "local $O = table.move($I, 1, #$I, 2, {$1})" },
	  { "insert $1 at the front", "put $1 before the first element" },
	  s_prepend, V1(WO, "append"), 0 },
	{ "removefirst", LL, LL, N1(-3, 3),
	  { "$O = list($I)\nif $1 in $O:\n    $O.remove($1)",
	    "{\n\tint done = 0;\n\tfor (int i = 0; i < $N; i++) {\n"
	    "\t\tif (!done && $I[i] == $1) {\n\t\t\tdone = 1;\n\t\t\tcontinue;\n"
	    "\t\t}\n\t\t$O[$M++] = $I[i];\n\t}\n}",
	    "local $O = {}\nlocal removed = false\n" LLOOP
	    "  if x == $1 and not removed then\n    removed = true\n  else\n"
	    "    $O[#$O + 1] = x\n  end\nend" },
	  ONE("remove the first occurrence of $1, if there is one (later "
	      "ones stay)"), s_removefirst, V1(DC, "filter_ne"), 0 },
	{ "mirror", LL, LL, N0, { "$O = $I + $I[::-1]", COPY "\n" REV,
	    LCOPY "\n" LREV },
	  ONE("append a reversed copy of the list to the list"), s_mirror,
	  V1(WO, "rev"), 0 },
	{ "runmax", LL, LL, N0,
	  { "$O = [max($I[:i + 1]) for i in range(len($I))]",
	    "for (int i = 0; i < $N; i++) {\n\tlong long x = $I[i];\n"
	    "\tif (i > 0 && $O[i - 1] > x)\n\t\tx = $O[i - 1];\n\t$O[$M++] = x;\n}",
	    "local $O = {}\n" LILOOP
	    "  $O[i] = i > 1 and math.max($O[i - 1], x) or x\nend" },
	  ONE("replace each element by the largest value seen so far "
	      "(running maximum)"), s_runmax, V1(WB, "runmin"), 0 },
	{ "runmin", LL, LL, N0,
	  { "$O = [min($I[:i + 1]) for i in range(len($I))]",
	    "for (int i = 0; i < $N; i++) {\n\tlong long x = $I[i];\n"
	    "\tif (i > 0 && $O[i - 1] < x)\n\t\tx = $O[i - 1];\n\t$O[$M++] = x;\n}",
	    "local $O = {}\n" LILOOP
	    "  $O[i] = i > 1 and math.min($O[i - 1], x) or x\nend" },
	  ONE("replace each element by the smallest value seen so far "
	      "(running minimum)"), s_runmin, V1(WB, "runmax"), 0 },
	{ "addidx", LL, LL, N0, { "$O = [x + i for i, x in enumerate($I)]",
	    "for (int i = 0; i < $N; i++)\n\t$O[$M++] = $I[i] + i;",
	    "local $O = {}\nfor i, x in ipairs($I) do\n  $O[i] = x + i - 1\n"
	    "end" },
	  ONE("add to each element its position (counting from 0)"), s_addidx,
	  V1(OB, "addidx1"), 0 },
	{ "mulidx", LL, LL, N0, { "$O = [x * i for i, x in enumerate($I)]",
	    "for (int i = 0; i < $N; i++)\n\t$O[$M++] = $I[i] * i;",
	    "local $O = {}\nfor i, x in ipairs($I) do\n"
	    "  $O[i] = x * (i - 1)\nend" },
	  ONE("multiply each element by its position (counting from 0)"),
	  s_mulidx, V1(OB, "mulidx1"), 0 },
	{ "swappairs", LL, LL, N0,
	  { "$O = list($I)\nfor i in range(0, len($O) - 1, 2):\n"
	    "    $O[i], $O[i + 1] = $O[i + 1], $O[i]",
	    COPY "\nfor (int i = 0; i + 1 < $M; i += 2) {\n"
	    "\tlong long t = $O[i];\n\t$O[i] = $O[i + 1];\n\t$O[i + 1] = t;\n}",
	    LCOPY "\nfor i = 1, #$O - 1, 2 do\n"
	    "  $O[i], $O[i + 1] = $O[i + 1], $O[i]\nend" },
	  ONE("swap the first and second elements, the third and fourth, "
	      "and so on (a last unpaired element stays where it is)"),
	  s_swappairs, NOV, 0 },
	{ "dupeach", LL, LL, N0, { "$O = [x for x in $I for _ in range(2)]",
	    "for (int i = 0; i < $N; i++) {\n\t$O[$M++] = $I[i];\n"
	    "\t$O[$M++] = $I[i];\n}",
	    "local $O = {}\n" LLOOP "  $O[#$O + 1] = x\n  $O[#$O + 1] = x\n"
	    "end" },
	  ONE("repeat each element twice in a row"), s_dupeach, NOV, 0 },
	HID("psumx", LL, LL, N0,
	    "$O = []\ntotal = 0\nfor x in $I:\n    $O.append(total)\n"
	    "    total += x",
	    "{\n\tlong long total = 0;\n\tfor (int i = 0; i < $N; i++) {\n"
	    "\t\t$O[$M++] = total;\n\t\ttotal += $I[i];\n\t}\n}",
	    "local $O = {}\nlocal total = 0\n" LLOOP "  $O[#$O + 1] = total\n"
	    "  total = total + x\nend", s_psumx),
	HID("diffsrev", LL, LL, N0,
	    "$O = [$I[i] - $I[i + 1] for i in range(len($I) - 1)]",
	    "for (int i = 0; i + 1 < $N; i++)\n\t$O[$M++] = $I[i] - $I[i + 1];",
	    "local $O = {}\nfor i = 1, #$I - 1 do\n"
	    "  $O[i] = $I[i] - $I[i + 1]\nend",
	    s_diffsrev),
	HID("addidx1", LL, LL, N0, "$O = [x + i + 1 for i, x in enumerate($I)]",
	    "for (int i = 0; i < $N; i++)\n\t$O[$M++] = $I[i] + i + 1;",
	    "local $O = {}\nfor i, x in ipairs($I) do\n  $O[i] = x + i\nend",
	    s_addidx1),
	HID("mulidx1", LL, LL, N0,
	    "$O = [x * (i + 1) for i, x in enumerate($I)]",
	    "for (int i = 0; i < $N; i++)\n\t$O[$M++] = $I[i] * (i + 1);",
	    "local $O = {}\nfor i, x in ipairs($I) do\n  $O[i] = x * i\nend",
	    s_mulidx1),

	/* list -> int, bool */
	{ "sum", LL, II, N0, { "$O = sum($I)",
	    "$O = 0;\nfor (int i = 0; i < $N; i++)\n\t$O += $I[i];",
	    "local $O = 0\n" LLOOP "  $O = $O + x\nend" },
	  { "add up all the elements", "compute the sum of the elements" },
	  s_sum, V1(WO, "altsum"), 0 },
	{ "prod", LL, II, N0, { "$O = 1\nfor x in $I:\n    $O *= x",
	    "$O = 1;\nfor (int i = 0; i < $N; i++)\n\t$O *= $I[i];",
	    "local $O = 1\n" LLOOP "  $O = $O * x\nend" },
	  ONE("multiply all the elements together (1 for an empty list)"),
	  s_prod, V1(WO, "sum"), 0 },
	{ "len", LL, II, N0, { "$O = len($I)", "$O = $N;", "local $O = #$I" },
	  { "count the elements", "take the length of the list" }, s_len,
	  V1(WO, "ndistinct"), 0 },
	{ "max", LL, II, N0, { "$O = max($I) if $I else 0",
	    "$O = 0;\nfor (int i = 0; i < $N; i++)\n\tif (i == 0 || $I[i] > $O)\n"
	    "\t\t$O = $I[i];",
	    "local $O = #$I > 0 and math.max(table.unpack($I)) or 0" },
	  { "take the largest element (0 for an empty list)",
	    "find the maximum of the list (0 if it is empty)" }, s_max,
	  V2(WB, "min", DC, "max0"), 0 },
	{ "min", LL, II, N0, { "$O = min($I) if $I else 0",
	    "$O = 0;\nfor (int i = 0; i < $N; i++)\n\tif (i == 0 || $I[i] < $O)\n"
	    "\t\t$O = $I[i];",
	    "local $O = #$I > 0 and math.min(table.unpack($I)) or 0" },
	  { "take the smallest element (0 for an empty list)",
	    "find the minimum of the list (0 if it is empty)" }, s_min,
	  V2(WB, "max", DC, "min0"), 0 },
	{ "first", LL, II, N0, { "$O = $I[0] if $I else 0",
	    "$O = $N > 0 ? $I[0] : 0;",
	    "local $O = $I[1] or 0" },
	  ONE("take the first element (0 for an empty list)"), s_first,
	  V1(WO, "last"), 0 },
	{ "last", LL, II, N0, { "$O = $I[-1] if $I else 0",
	    "$O = $N > 0 ? $I[$N - 1] : 0;",
	    "local $O = $I[#$I] or 0" },
	  ONE("take the last element (0 for an empty list)"), s_last,
	  V1(WO, "first"), 0 },
	{ "spread", LL, II, N0, { "$O = max($I) - min($I) if $I else 0",
	    "$O = 0;\nif ($N > 0) {\n\tlong long hi = $I[0], lo = $I[0];\n"
	    "\tfor (int i = 1; i < $N; i++) {\n\t\tif ($I[i] > hi)\n"
	    "\t\t\thi = $I[i];\n\t\tif ($I[i] < lo)\n\t\t\tlo = $I[i];\n\t}\n"
	    "\t$O = hi - lo;\n}",
	    "local $O = #$I > 0 and math.max(table.unpack($I)) -\n"
	    "  math.min(table.unpack($I)) or 0" },
	  ONE("compute the largest element minus the smallest one (0 for an "
	      "empty list)"), s_spread, V1(WO, "max"), 0 },
	{ "altsum", LL, II, N0,
	  { "$O = sum(x if i % 2 == 0 else -x for i, x in enumerate($I))",
	    "$O = 0;\nfor (int i = 0; i < $N; i++)\n"
	    "\t$O += i % 2 == 0 ? $I[i] : -$I[i];",
	    "local $O = 0\n" LILOOP "  $O = $O + (i % 2 == 1 and x or -x)\n"
	    "end" },
	  ONE("compute the alternating sum: the first element, minus the "
	      "second, plus the third, and so on"), s_altsum,
	  V1(WB, "altsumneg"), 0 },
	{ "sumsq", LL, II, N0, { "$O = sum(x * x for x in $I)",
	    "$O = 0;\nfor (int i = 0; i < $N; i++)\n\t$O += $I[i] * $I[i];",
	    "local $O = 0\n" LLOOP "  $O = $O + x * x\nend" },
	  ONE("add up the squares of the elements"), s_sumsq, V1(WO, "sum"),
	  0 },
	{ "argmax", LL, II, N0, { "$O = $I.index(max($I)) if $I else -1",
	    "$O = -1;\nfor (int i = 0; i < $N; i++)\n"
	    "\tif ($O < 0 || $I[i] > $I[$O])\n\t\t$O = i;",
	    "local $O = -1\n" LILOOP "  if $O < 0 or x > $I[$O + 1] then\n"
	    "    $O = i - 1\n  end\nend" },
	  ONE("find the position (counting from 0) of the largest element, "
	      "the first one if it occurs more than once (-1 for an empty "
	      "list)"), s_argmax, V2(OB, "argmaxlast", WB, "argmin"), 0 },
	{ "argmin", LL, II, N0, { "$O = $I.index(min($I)) if $I else -1",
	    "$O = -1;\nfor (int i = 0; i < $N; i++)\n"
	    "\tif ($O < 0 || $I[i] < $I[$O])\n\t\t$O = i;",
	    "local $O = -1\n" LILOOP "  if $O < 0 or x < $I[$O + 1] then\n"
	    "    $O = i - 1\n  end\nend" },
	  ONE("find the position (counting from 0) of the smallest element, "
	      "the first one if it occurs more than once (-1 for an empty "
	      "list)"), s_argmin, V2(OB, "argminlast", WB, "argmax"), 0 },
	{ "ndistinct", LL, II, N0, { "$O = len(set($I))",
	    "$O = 0;\nfor (int i = 0; i < $N; i++) {\n\tint seen = 0;\n"
	    "\tfor (int j = 0; j < i; j++)\n\t\tif ($I[j] == $I[i])\n"
	    "\t\t\tseen = 1;\n\tif (!seen)\n\t\t$O++;\n}",
	    "local $O = 0\nlocal seen = {}\n" LLOOP "  if not seen[x] then\n"
	    "    seen[x] = true\n    $O = $O + 1\n  end\nend" },
	  ONE("count the distinct values in the list"), s_ndistinct,
	  V1(WO, "len"), 0 },
	{ "sorted", LL, BB, N0,
	  { "$O = all($I[i] <= $I[i + 1] for i in range(len($I) - 1))",
	    "$O = true;\nfor (int i = 0; i + 1 < $N; i++)\n"
	    "\tif ($I[i] > $I[i + 1])\n\t\t$O = false;",
	    "local $O = true\nfor i = 1, #$I - 1 do\n"
	    "  if $I[i] > $I[i + 1] then\n    $O = false\n  end\nend" },
	  ONE("check whether the elements are in non-decreasing order"),
	  s_sorted, V1(OB, "ssorted"), 0 },
	{ "ssorted", LL, BB, N0,
	  { "$O = all($I[i] < $I[i + 1] for i in range(len($I) - 1))",
	    "$O = true;\nfor (int i = 0; i + 1 < $N; i++)\n"
	    "\tif ($I[i] >= $I[i + 1])\n\t\t$O = false;",
	    "local $O = true\nfor i = 1, #$I - 1 do\n"
	    "  if $I[i] >= $I[i + 1] then\n    $O = false\n  end\nend" },
	  ONE("check whether the elements are strictly increasing"),
	  s_ssorted, V1(OB, "sorted"), 0 },
	{ "palin", LL, BB, N0, { "$O = $I == $I[::-1]",
	    "$O = true;\nfor (int i = 0; i < $N; i++)\n"
	    "\tif ($I[i] != $I[$N - 1 - i])\n\t\t$O = false;",
	    "local $O = true\nfor i = 1, #$I do\n"
	    "  if $I[i] ~= $I[#$I + 1 - i] then\n    $O = false\n  end\nend" },
	  ONE("check whether the list reads the same backwards"), s_palin,
	  NOV, 0 },
	{ "distinct", LL, BB, N0, { "$O = len(set($I)) == len($I)",
	    "$O = true;\nfor (int i = 0; i < $N; i++)\n"
	    "\tfor (int j = 0; j < i; j++)\n\t\tif ($I[j] == $I[i])\n"
	    "\t\t\t$O = false;",
	    "local $O = true\nlocal seen = {}\n" LLOOP "  if seen[x] then\n"
	    "    $O = false\n  end\n  seen[x] = true\nend" },
	  ONE("check whether all the elements are different from each other"),
	  s_distinct, NOV, 0 },
	HID("max0", LL, II, N0, "$O = max([0] + $I)",
	    "$O = 0;\nfor (int i = 0; i < $N; i++)\n\tif ($I[i] > $O)\n"
	    "\t\t$O = $I[i];",
	    "local $O = math.max(0, table.unpack($I))", s_max0),
	HID("min0", LL, II, N0, "$O = min([0] + $I)",
	    "$O = 0;\nfor (int i = 0; i < $N; i++)\n\tif ($I[i] < $O)\n"
	    "\t\t$O = $I[i];",
	    "local $O = math.min(0, table.unpack($I))", s_min0),
	HID("altsumneg", LL, II, N0,
	    "$O = sum(-x if i % 2 == 0 else x for i, x in enumerate($I))",
	    "$O = 0;\nfor (int i = 0; i < $N; i++)\n"
	    "\t$O += i % 2 == 0 ? -$I[i] : $I[i];",
	    "local $O = 0\n" LILOOP "  $O = $O + (i % 2 == 1 and -x or x)\n"
	    "end", s_altsumneg),
	HID("argmaxlast", LL, II, N0,
	    "$O = len($I) - 1 - $I[::-1].index(max($I)) if $I else -1",
	    "$O = -1;\nfor (int i = 0; i < $N; i++)\n"
	    "\tif ($O < 0 || $I[i] >= $I[$O])\n\t\t$O = i;",
	    "local $O = -1\n" LILOOP "  if $O < 0 or x >= $I[$O + 1] then\n"
	    "    $O = i - 1\n  end\nend", s_argmaxlast),
	HID("argminlast", LL, II, N0,
	    "$O = len($I) - 1 - $I[::-1].index(min($I)) if $I else -1",
	    "$O = -1;\nfor (int i = 0; i < $N; i++)\n"
	    "\tif ($O < 0 || $I[i] <= $I[$O])\n\t\t$O = i;",
	    "local $O = -1\n" LILOOP "  if $O < 0 or x <= $I[$O + 1] then\n"
	    "    $O = i - 1\n  end\nend", s_argminlast),

	/* int -> list, string */
	{ "range", II, LL, N0, { "$O = list(range($I))",
	    "for (long long i = 0; i < $I; i++)\n\t$O[$M++] = i;",
	    "local $O = {}\nfor i = 0, $I - 1 do\n  $O[#$O + 1] = i\nend" },
	  ONE("make the list 0, 1, 2, ... of the numbers from 0 up to but "
	      "not including the number (empty if it is not positive)"),
	  s_range, V1(OB, "range1"), 0 },
	{ "digits", II, LL, N0, { "$O = [int(d) for d in str(abs($I))]",
	    "{\n\tchar buf[24];\n"
	    "\tint len = snprintf(buf, sizeof buf, \"%lld\", llabs($I));\n"
	    "\tfor (int i = 0; i < len; i++)\n\t\t$O[$M++] = buf[i] - '0';\n}",
	    "local $O = {}\n"
	    "for d in tostring(math.abs($I)):gmatch(\"%d\") do\n"
	    "  $O[#$O + 1] = tonumber(d)\nend" },
	  ONE("make the list of the decimal digits of the number's absolute "
	      "value, most significant first"), s_digits, V1(WO, "bits"), 0 },
	{ "divisors", II, LL, N0,
	  { "$O = [d for d in range(1, abs($I) + 1) if $I % d == 0]",
	    "for (long long d = 1; d <= llabs($I); d++)\n\tif ($I % d == 0)\n"
	    "\t\t$O[$M++] = d;",
	    "local $O = {}\nfor d = 1, math.abs($I) do\n"
	    "  if $I % d == 0 then\n    $O[#$O + 1] = d\n  end\nend" },
	  ONE("make the list of the positive divisors of the number, in "
	      "increasing order (empty for 0)"), s_divisors,
	  V1(DC, "pdivisors"), 0 },
	{ "multiples", II, LL, N1(2, 5), { "$O = [$I * k for k in range(1, $1 + 1)]",
	    "for (int k = 1; k <= $1; k++)\n\t$O[$M++] = $I * k;",
	    "local $O = {}\nfor k = 1, $1 do\n  $O[k] = $I * k\nend" },
	  ONE("make the list of the number times 1, times 2, and so on up to "
	      "times $1"), s_multiples, NOV, 0 },
	{ "bits", II, LL, N0, { "$O = [int(b) for b in bin(abs($I))[2:]]",
	    "{\n\tlong long v = llabs($I);\n\tint len = 1;\n"
	    "\twhile ((v >> len) > 0)\n\t\tlen++;\n"
	    "\tfor (int i = len - 1; i >= 0; i--)\n\t\t$O[$M++] = (v >> i) & 1;\n}",
	    "local $O = {}\nlocal v = math.abs($I)\nrepeat\n"
	    "  table.insert($O, 1, v % 2)\n  v = v // 2\nuntil v == 0" },
	  ONE("make the list of the binary digits of the number's absolute "
	      "value, most significant first"), s_bits, V1(WO, "digits"), 0 },
	{ "tostr", II, SS, N0, { "$O = str($I)",
	    "$M = snprintf($O, sizeof $O, \"%lld\", $I);",
	    "local $O = tostring($I)" },
	  ONE("write the number in decimal as a string"), s_tostr, NOV, 0 },
	{ "binstr", II, SS, N0, { "$O = bin(abs($I))[2:]",
	    "{\n\tlong long v = llabs($I);\n\tint len = 1;\n"
	    "\twhile ((v >> len) > 0)\n\t\tlen++;\n"
	    "\tfor (int i = len - 1; i >= 0; i--)\n"
	    "\t\t$O[$M++] = (char)('0' + ((v >> i) & 1));\n}",
	    "local $O = \"\"\nlocal v = math.abs($I)\nrepeat\n"
	    "  $O = tostring(v % 2) .. $O\n  v = v // 2\nuntil v == 0" },
	  ONE("write the absolute value of the number in binary as a string "
	      "of 0s and 1s (no prefix)"), s_binstr, V1(WO, "tostr"), 0 },
	HID("range1", II, LL, N0, "$O = list(range($I + 1))",
	    "for (long long i = 0; i <= $I; i++)\n\t$O[$M++] = i;",
	    "local $O = {}\nfor i = 0, $I do\n  $O[#$O + 1] = i\nend",
	    s_range1),
	HID("pdivisors", II, LL, N0,
	    "$O = [d for d in range(1, abs($I)) if $I % d == 0]",
	    "for (long long d = 1; d < llabs($I); d++)\n\tif ($I % d == 0)\n"
	    "\t\t$O[$M++] = d;",
	    "local $O = {}\nfor d = 1, math.abs($I) - 1 do\n"
	    "  if $I % d == 0 then\n    $O[#$O + 1] = d\n  end\nend",
	    s_pdivisors),

	/* string -> string */
#define CMAP(e) "for (int i = 0; i < $N; i++) {\n\tchar ch = $I[i];\n" \
	"\t$O[$M++] = " e ";\n}"
	{ "upper", SS, SS, N0, { "$O = $I.upper()",
	    CMAP("(char)toupper((unsigned char)ch)"),
	    "local $O = $I:upper()" },
	  { "convert every letter to uppercase", "upper-case the string" },
	  s_upper, V1(WO, "lower"), 0 },
	{ "lower", SS, SS, N0, { "$O = $I.lower()",
	    CMAP("(char)tolower((unsigned char)ch)"),
	    "local $O = $I:lower()" },
	  { "convert every letter to lowercase", "lower-case the string" },
	  s_lower, V1(WO, "upper"), 0 },
	{ "swapcase", SS, SS, N0, { "$O = $I.swapcase()",
	    CMAP("islower((unsigned char)ch) ? (char)toupper((unsigned char)ch)"
	         " : (char)tolower((unsigned char)ch)"),
	    "local $O = ($I:gsub(\"[A-Za-z]\", function(ch)\n"
	    "  if ch:match(\"[a-z]\") then\n    return ch:upper()\n  end\n"
	    "  return ch:lower()\nend))" },
	  ONE("swap the case of every letter (lowercase becomes uppercase "
	      "and the other way round)"), s_swapcase, V1(WO, "upper"), 0 },
	{ "shift", SS, SS, N1(1, 4),
	  { "$O = ''.join(chr((ord(ch) - 97 + $1) % 26 + 97) if 'a' <= ch <= 'z'"
	    " else ch for ch in $I)",
	    CMAP("ch >= 'a' && ch <= 'z' ? (char)('a' + (ch - 'a' + $1) % 26)"
	         " : ch"),
	    "local $O = ($I:gsub(\"[a-z]\", function(ch)\n"
	    "  return string.char((ch:byte() - 97 + $1) % 26 + 97)\nend))" },
	  ONE("shift every lowercase letter $1 places forward in the "
	      "alphabet, wrapping around from z to a; other characters stay"),
	  s_shift, V1(DC, "shiftnowrap"), 0 },
	{ "atbash", SS, SS, N0,
	  { "$O = ''.join(chr(219 - ord(ch)) if 'a' <= ch <= 'z' else ch for "
	    "ch in $I)",
	    CMAP("ch >= 'a' && ch <= 'z' ? (char)(219 - ch) : ch"),
	    "local $O = ($I:gsub(\"[a-z]\", function(ch)\n"
	    "  return string.char(219 - ch:byte())\nend))" },
	  ONE("replace every lowercase letter by its mirror in the alphabet "
	      "(a and z swap, b and y, and so on); other characters stay"),
	  s_atbash, NOV, 0 },
	{ "replc", SS, SS, 2, { 'a', 'a' }, { 'z', 'z' }, 1,
	  { "$O = $I.replace('$1', '$2')", CMAP("ch == '$1' ? '$2' : ch"),
	    "local $O = ($I:gsub(\"$1\", \"$2\"))" },
	  ONE("replace every '$1' by '$2'"), s_replc, NOV, 0 },
	{ "srev", SS, SS, N0, { "$O = $I[::-1]", REV,
	    "local $O = $I:reverse()" },
	  { "reverse the string", "write the string backwards" }, s_srev, NOV,
	  0 },
	{ "stake", SS, SS, N1(1, 5), { "$O = $I[:$1]",
	    "for (int i = 0; i < $N && i < $1; i++)\n\t$O[$M++] = $I[i];",
	    "local $O = $I:sub(1, $1)" },
	  ONE("keep only the first $1 characters (all of them if there are "
	      "fewer)"), s_stake, V1(WO, "sdrop"), 0 },
	{ "sdrop", SS, SS, N1(1, 5), { "$O = $I[$1:]",
	    "for (int i = $1; i < $N; i++)\n\t$O[$M++] = $I[i];",
	    "local $O = $I:sub($1 + 1)" },
	  ONE("remove the first $1 characters (all of them if there are "
	      "fewer)"), s_sdrop, V1(WO, "stake"), 0 },
	{ "sdedup", SS, SS, N0,
	  { "$O = ''.join(ch for i, ch in enumerate($I) if i == 0 or ch != "
	    "$I[i - 1])",
	    "for (int i = 0; i < $N; i++)\n\tif (i == 0 || $I[i] != $I[i - 1])\n"
	    "\t\t$O[$M++] = $I[i];",
	    "local $O = \"\"\n" LCLOOP
	    "  if i == 1 or ch ~= $I:sub(i - 1, i - 1) then\n"
	    "    $O = $O .. ch\n  end\nend" },
	  ONE("collapse every run of the same character into one character"),
	  s_sdedup, V1(WO, "suniq"), 0 },
	{ "suniq", SS, SS, N0,
	  { "$O = ''\nfor ch in $I:\n    if ch not in $O:\n        $O += ch",
	    "for (int i = 0; i < $N; i++) {\n\tint seen = 0;\n"
	    "\tfor (int j = 0; j < $M; j++)\n\t\tif ($O[j] == $I[i])\n"
	    "\t\t\tseen = 1;\n\tif (!seen)\n\t\t$O[$M++] = $I[i];\n}",
	    "local $O = \"\"\n" LCLOOP "  if not $O:find(ch, 1, true) then\n"
	    "    $O = $O .. ch\n  end\nend" },
	  ONE("keep only the first occurrence of each character"), s_suniq,
	  V1(DC, "sdedup"), 0 },
	{ "strip", SS, SS, N0, { "$O = $I.strip(' ')",
	    "{\n\tint a = 0, b = $N;\n\twhile (a < b && $I[a] == ' ')\n\t\ta++;\n"
	    "\twhile (b > a && $I[b - 1] == ' ')\n\t\tb--;\n"
	    "\tfor (int i = a; i < b; i++)\n\t\t$O[$M++] = $I[i];\n}",
	    "local $O = $I:match(\"^ *(.-) *$\")" },
	  ONE("remove the spaces at the start and at the end of the string"),
	  s_strip, V1(DC, "lstrip"), 0 },
	{ "squeeze", SS, SS, N0, { "$O = ' '.join($I.split())",
	    "for (int i = 0; i < $N; i++) {\n\tif ($I[i] == ' ')\n\t\tcontinue;\n"
	    "\tif ($M > 0 && $I[i - 1] == ' ')\n\t\t$O[$M++] = ' ';\n"
	    "\t$O[$M++] = $I[i];\n}",
	    "local words = {}\nfor w in $I:gmatch(\"%S+\") do\n"
	    "  words[#words + 1] = w\nend\n"
	    "local $O = table.concat(words, \" \")" },
	  ONE("remove the spaces at both ends and replace every run of spaces "
	      "inside by a single space"), s_squeeze, V1(WO, "strip"), 0 },
	{ "ssort", SS, SS, N0, { "$O = ''.join(sorted($I))",
	    "for (int i = 0; i < $N; i++) {\n\tchar ch = $I[i];\n"
	    "\tint j = $M++;\n"
	    "\twhile (j > 0 && (unsigned char)$O[j - 1] > (unsigned char)ch) {\n"
	    "\t\t$O[j] = $O[j - 1];\n\t\tj--;\n\t}\n\t$O[j] = ch;\n}",
	    "local codes = {$I:byte(1, -1)}\ntable.sort(codes)\n"
	    "local $O = string.char(table.unpack(codes))" },
	  ONE("sort the characters by their ASCII codes (spaces, then digits, "
	      "then uppercase, then lowercase letters)"), s_ssort, NOV, 0 },
	{ "sdouble", SS, SS, N0, { "$O = ''.join(ch * 2 for ch in $I)",
	    "for (int i = 0; i < $N; i++) {\n\t$O[$M++] = $I[i];\n"
	    "\t$O[$M++] = $I[i];\n}",
	    "local $O = ($I:gsub(\".\", \"%0%0\"))" },
	  ONE("write every character twice in a row"), s_sdouble, NOV, 0 },
	{ "capwords", SS, SS, N0,
	  { "$O = ''.join(ch.upper() if i == 0 or $I[i - 1] == ' ' else ch for "
	    "i, ch in enumerate($I))",
	    "for (int i = 0; i < $N; i++)\n\t$O[$M++] = i == 0 || $I[i - 1] == "
	    "' ' ? (char)toupper((unsigned char)$I[i]) : $I[i];",
	    "local $O = \"\"\n" LCLOOP
	    "  if i == 1 or $I:sub(i - 1, i - 1) == \" \" then\n"
	    "    ch = ch:upper()\n  end\n  $O = $O .. ch\nend" },
	  ONE("make the first character of every word uppercase (words are "
	      "separated by spaces), leaving the other characters as they are"),
	  s_capwords, V1(DC, "capfirst"), 0 },
	{ "smirror", SS, SS, N0, { "$O = $I + $I[::-1]", COPY "\n" REV,
	    "local $O = $I .. $I:reverse()" },
	  ONE("append a reversed copy of the string to the string"),
	  s_smirror, V1(WO, "srev"), 0 },
	HID("shiftnowrap", SS, SS, N1(1, 4),
	    "$O = ''.join(chr(ord(ch) + $1) if 'a' <= ch <= 'z' else ch for "
	    "ch in $I)", CMAP("ch >= 'a' && ch <= 'z' ? (char)(ch + $1) : ch"),
	    "local $O = ($I:gsub(\"[a-z]\", function(ch)\n"
	    "  return string.char(ch:byte() + $1)\nend))",
	    s_shiftnowrap),
	HID("lstrip", SS, SS, N0, "$O = $I.lstrip(' ')",
	    "{\n\tint a = 0;\n\twhile (a < $N && $I[a] == ' ')\n\t\ta++;\n"
	    "\tfor (int i = a; i < $N; i++)\n\t\t$O[$M++] = $I[i];\n}",
	    "local $O = $I:match(\"^ *(.*)$\")",
	    s_lstrip),
	HID("capfirst", SS, SS, N0,
	    "$O = ''.join(ch.upper() if i == 0 else ch for i, ch in "
	    "enumerate($I))",
	    "for (int i = 0; i < $N; i++)\n\t$O[$M++] = i == 0 ? "
	    "(char)toupper((unsigned char)$I[i]) : $I[i];",
	    "local $O = $I:sub(1, 1):upper() .. $I:sub(2)", s_capfirst),

	/* string -> int, bool, list */
	{ "slen", SS, II, N0, { "$O = len($I)", "$O = $N;", "local $O = #$I" },
	  { "count the characters", "take the length of the string" }, s_slen,
	  V1(WO, "sdistinct"), 0 },
	{ "nwords", SS, II, N0, { "$O = len($I.split())",
	    "$O = 0;\nfor (int i = 0; i < $N; i++)\n"
	    "\tif ($I[i] != ' ' && (i == 0 || $I[i - 1] == ' '))\n\t\t$O++;",
	    "local $O = 0\nfor _ in $I:gmatch(\"%S+\") do\n  $O = $O + 1\n"
	    "end" },
	  ONE("count the words (maximal runs of characters other than "
	      "spaces)"), s_nwords, V1(DC, "nwordssp"), 0 },
	{ "ordsum", SS, II, N0, { "$O = sum(ord(ch) for ch in $I)",
	    "$O = 0;\nfor (int i = 0; i < $N; i++)\n\t$O += (unsigned char)$I[i];",
	    "local $O = 0\nfor i = 1, #$I do\n  $O = $O + $I:byte(i)\nend" },
	  ONE("add up the ASCII codes of all the characters"), s_ordsum, NOV,
	  0 },
	{ "maxword", SS, II, N0,
	  { "$O = max((len(w) for w in $I.split()), default=0)",
	    "$O = 0;\n{\n\tlong long run = 0;\n\tfor (int i = 0; i < $N; i++) {\n"
	    "\t\trun = $I[i] == ' ' ? 0 : run + 1;\n\t\tif (run > $O)\n"
	    "\t\t\t$O = run;\n\t}\n}",
	    "local $O = 0\nfor w in $I:gmatch(\"%S+\") do\n"
	    "  $O = math.max($O, #w)\nend" },
	  ONE("find the length of the longest word (words are separated by "
	      "spaces; 0 if there is none)"), s_maxword, V1(WO, "nwords"), 0 },
	{ "sdistinct", SS, II, N0, { "$O = len(set($I))",
	    "$O = 0;\nfor (int i = 0; i < $N; i++) {\n\tint seen = 0;\n"
	    "\tfor (int j = 0; j < i; j++)\n\t\tif ($I[j] == $I[i])\n"
	    "\t\t\tseen = 1;\n\tif (!seen)\n\t\t$O++;\n}",
	    "local $O = 0\nlocal seen = {}\n" LCLOOP
	    "  if not seen[ch] then\n    seen[ch] = true\n    $O = $O + 1\n"
	    "  end\nend" },
	  ONE("count the distinct characters"), s_sdistinct, V1(WO, "slen"),
	  0 },
	{ "spalin", SS, BB, N0, { "$O = $I == $I[::-1]",
	    "$O = true;\nfor (int i = 0; i < $N; i++)\n"
	    "\tif ($I[i] != $I[$N - 1 - i])\n\t\t$O = false;",
	    "local $O = $I == $I:reverse()" },
	  ONE("check whether the string reads the same backwards"), s_spalin,
	  NOV, 0 },
	{ "startsc", SS, BB, NC, { "$O = $I.startswith('$1')",
	    "$O = $N > 0 && $I[0] == '$1';",
	    "local $O = $I:sub(1, 1) == \"$1\"" },
	  ONE("check whether the string starts with the letter '$1'"),
	  s_startsc, V1(WO, "endsc"), 0 },
	{ "endsc", SS, BB, NC, { "$O = $I.endswith('$1')",
	    "$O = $N > 0 && $I[$N - 1] == '$1';",
	    "local $O = $I:sub(-1) == \"$1\"" },
	  ONE("check whether the string ends with the letter '$1'"), s_endsc,
	  V1(WO, "startsc"), 0 },
	{ "ords", SS, LL, N0, { "$O = [ord(ch) for ch in $I]",
	    "for (int i = 0; i < $N; i++)\n\t$O[$M++] = (unsigned char)$I[i];",
	    "local $O = {$I:byte(1, -1)}" },
	  ONE("make the list of the ASCII codes of the characters"), s_ords,
	  NOV, 0 },
	{ "wordlens", SS, LL, N0, { "$O = [len(w) for w in $I.split()]",
	    "{\n\tint run = 0;\n\tfor (int i = 0; i <= $N; i++) {\n"
	    "\t\tif (i < $N && $I[i] != ' ') {\n\t\t\trun++;\n"
	    "\t\t} else if (run > 0) {\n\t\t\t$O[$M++] = run;\n\t\t\trun = 0;\n"
	    "\t\t}\n\t}\n}",
	    "local $O = {}\nfor w in $I:gmatch(\"%S+\") do\n"
	    "  $O[#$O + 1] = #w\nend" },
	  ONE("make the list of the lengths of the words (words are "
	      "separated by spaces)"), s_wordlens, NOV, 0 },
	{ "alphapos", SS, LL, N0,
	  { "$O = [ord(ch) - 96 if 'a' <= ch <= 'z' else 0 for ch in $I]",
	    "for (int i = 0; i < $N; i++)\n\t$O[$M++] = $I[i] >= 'a' && $I[i] <= "
	    "'z' ? $I[i] - 96 : 0;",
	    "local $O = {}\nfor i = 1, #$I do\n  local c = $I:byte(i)\n"
	    "  if c >= 97 and c <= 122 then\n    $O[i] = c - 96\n  else\n"
	    "    $O[i] = 0\n  end\nend" },
	  ONE("make the list that gives, for each character, its place in the "
	      "alphabet if it is a lowercase letter (a is 1, z is 26) and 0 "
	      "otherwise"), s_alphapos, V1(OB, "alphapos0"), 0 },
	HID("nwordssp", SS, II, N0, "$O = $I.count(' ') + 1",
	    "$O = 1;\nfor (int i = 0; i < $N; i++)\n\tif ($I[i] == ' ')\n"
	    "\t\t$O++;",
	    "local $O = 1\nfor _ in $I:gmatch(\" \") do\n  $O = $O + 1\nend",
	    s_nwordssp),
	HID("alphapos0", SS, LL, N0,
	    "$O = [ord(ch) - 97 if 'a' <= ch <= 'z' else 0 for ch in $I]",
	    "for (int i = 0; i < $N; i++)\n\t$O[$M++] = $I[i] >= 'a' && $I[i] "
	    "<= 'z' ? $I[i] - 97 : 0;",
	    "local $O = {}\nfor i = 1, #$I do\n  local c = $I:byte(i)\n"
	    "  if c >= 97 and c <= 122 then\n    $O[i] = c - 97\n  else\n"
	    "    $O[i] = 0\n  end\nend", s_alphapos0),

	/* list -> string */
	{ "letters", LL, SS, N0, { "$O = ''.join(chr(97 + x % 26) for x in $I)",
	    "for (int i = 0; i < $N; i++)\n"
	    "\t$O[$M++] = (char)(97 + floormod($I[i], 26));",
	    "local $O = \"\"\n" LLOOP
	    "  $O = $O .. string.char(97 + x % 26)\nend" },
	  ONE("turn each element into a letter (0 is a, 1 is b, ..., 25 is "
	      "z, counting modulo 26, so 26 is a again and -1 is z) and join "
	      "the letters into a string"), s_letters, V1(OB, "letters1"), 0 },
	{ "csv", LL, SS, N0, { "$O = ','.join(str(x) for x in $I)",
	    "for (int i = 0; i < $N; i++)\n\t$M += snprintf($O + $M, sizeof $O - "
	    "(size_t)$M, i ? \",%lld\" : \"%lld\", $I[i]);",
	    "local $O = table.concat($I, \",\")" },
	  ONE("write the elements in decimal, separated by commas without "
	      "spaces, as one string"), s_csv, NOV, 0 },
	HID("letters1", LL, SS, N0,
	    "$O = ''.join(chr(97 + (x - 1) % 26) for x in $I)",
	    "for (int i = 0; i < $N; i++)\n"
	    "\t$O[$M++] = (char)(97 + floormod($I[i] - 1, 26));",
	    "local $O = \"\"\n" LLOOP
	    "  $O = $O .. string.char(97 + (x - 1) % 26)\nend", s_letters1),
	{ 0 },
};
