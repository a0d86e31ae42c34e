/* kiln/code.h - language-aware code text (src/code/): language names,
 * code out of a model's answer, tests out of code.
 *
 * A teacher's answer is prose, fenced blocks (with or without a language
 * tag), several blocks, no fence at all, or an answer cut off by max_tokens
 * in the middle of a block. kiln_extract_code() picks the code; garbage in
 * gives KILN_EPARSE with a reason, never a crash.
 *
 * Both functions take UTF-8 text: a NUL byte or invalid UTF-8 is
 * KILN_EPARSE ("... at byte N"), more than 4 MiB is KILN_ELIMIT. CRLF line
 * ends are accepted and come out as LF. language is a name or alias in
 * any case (kiln_lang_canonical); NULL or "" means "python", as in the
 * sandbox.
 */
#ifndef KILN_CODE_H
#define KILN_CODE_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/error.h"

/* Language names: one table for every module (src/code/lang_names.c).
 * Each language has a canonical name ("python", "c"), which the sandbox's
 * table is keyed by, and aliases ("python3", "py"); case does not matter
 * ("Python", "PY", "C").
 *
 * kiln_lang_canonical: the canonical name for a task's language name, or
 * NULL if kiln knows no such language (NULL and "" included: callers
 * decide what a missing language means; kiln reads it as "python").
 *
 * kiln_lang_of_tag: the same for a Markdown fence's tag tag[0, len), which
 * may also be a name only fences use ("py3", "ipython", "h"). */
const char *kiln_lang_canonical(const char *name);
const char *kiln_lang_of_tag(const char *tag, size_t len);
/* The name people write in prose for a language ("Python", "C++",
 * "JavaScript"), from any of its names; a name kiln does not know comes
 * back as given (NULL and "" give "Python", as a missing language reads). */
const char *kiln_lang_display(const char *name);

#define KILN_EXTRACT_MAX_ANSWER (4u << 20) /* bytes of an answer */
#define KILN_EXTRACT_MAX_BLOCKS 1000       /* fenced blocks in an answer */
#define KILN_SPLIT_MAX_CODE (4u << 20)     /* bytes of test code */
#define KILN_SPLIT_MAX_TESTS 10000         /* snippets from one input */
#define KILN_SPLIT_MAX_OUT (64u << 20)     /* preamble + all snippets */
#define KILN_SPLIT_MAX_LINES 200000        /* code lines (C: 1M tokens) */

typedef struct kiln_extracted {
	char *code;        /* NUL-terminated, owned: free() it */
	int blocks;        /* fenced blocks seen in the answer */
	int truncated;     /* the last block was never closed */
	const char *how;   /* "fenced", "fenced-untagged" or "unfenced" */
	int parts;         /* blocks (or unfenced runs) joined into code */
} kiln_extracted;

/* language: "python", "c", ... (guides the choice among blocks).
 *
 * The rules, in order:
 *  - If the answer contains "</think>", only the text after the last one
 *    is read (reasoning models draft code in their thoughts).
 *  - Fences are CommonMark's: a line of 3+ '`' or '~' indented by at most
 *    3 spaces opens a block; it closes at a line of the same character, at
 *    least as long, with nothing after it. The opening indentation is
 *    removed from the block's lines. The first word of the info string is
 *    the tag ("python", "py", "python3", "c", "{.python}", "Python": case
 *    does not matter). In a Python block, a bare fence line inside a
 *    triple-quoted string does not close the block (unless the block would
 *    then never close). A block still open at the end of the answer is
 *    taken as it is and sets truncated.
 *  - Candidates: the non-empty blocks tagged for the language ("fenced");
 *    if there are none, the untagged ones ("fenced-untagged"). Blocks
 *    tagged for another language are never used.
 *  - No fence at all ("unfenced", python and c only): runs of lines that
 *    look like code (not prose) are the candidates, each dedented; a run
 *    counts only if it has a line that surely starts code (def, class,
 *    import, from .. import, a decorator; #include, #define, a function
 *    head in C).
 *  - Among candidates, a block that defines something other than tests
 *    (def/class at column 0; a C function definition) is part of the
 *    program; blocks that define only test*, check or main functions are
 *    tests, and blocks that define nothing (usage examples, output) are
 *    used only when nothing else is there (then the longest one alone).
 *    The program is its parts joined in order, except that a part is
 *    dropped when a later part defines one of the same names (a newer
 *    version, or the full listing at the end of a step-by-step answer).
 *  - A block that only sets up (Python: imports, not of the solution nor
 *    of unittest/pytest, and constants, "MOD = ..."; C: directives, types,
 *    declarations without a call) is part of the program too, unless a later part holds every
 *    line of it (the full listing repeats it).
 *  - Nothing left: KILN_EPARSE "no code in the answer".
 *
 * On success out->code is set (free it); on error it is NULL. */
int kiln_extract_code(const char *answer, size_t len, const char *language,
		      kiln_extracted *out, kiln_error *err);

/* The same for an answer that should hold tests: the candidates are the
 * blocks (or unfenced runs) with tests in them -- Python: an assert at
 * column 0, def test*, class Test*, import unittest/pytest; C: an assert
 * at file scope or in a block that defines main or test* -- joined by the
 * same later-wins rule. Blocks that only restate the solution are left
 * out, so its definitions do not end up in the tests' preamble (where
 * they would replace the candidate's). None: KILN_EPARSE "no tests in the
 * answer". */
int kiln_extract_tests(const char *answer, size_t len, const char *language,
		       kiln_extracted *out, kiln_error *err);

/* Splits test code into independent test snippets: for Python, each
 * top-level assert statement, and each top-level test_* function (as its
 * definition followed by a call), becomes one snippet; the other top-level
 * statements (imports, helpers, constants) go into *preamble, to be run
 * before every test. Returns the count in *n; free with kiln_tests_free.
 *
 * Python, statement by statement at top level (a small scanner tracks
 * strings with their r/b/f/u prefixes, comments, brackets and backslash
 * continuations; decorators go with the definition they decorate):
 *  - a statement containing an assert (an assert, or an if/for/with/try
 *    around asserts) is one test, dedented;
 *  - def test*(...) is one test: its text, then "test_x()";
 *  - class X(...TestCase...) goes to the preamble, and each of its test*
 *    methods is one test that runs X("test_m") through a unittest suite
 *    (so setUp/setUpClass/skips behave as under unittest) and raises
 *    AssertionError with the failure's last line; a class Test* that is
 *    not a TestCase (pytest style) gives one "TestX().test_m()" per test
 *    method;
 *  - if __name__ == "__main__": its body is split by these same rules (an
 *    else branch is dropped);
 *  - dropped: "from solution import ..." and "import solution" (the
 *    solution is already in scope), any statement calling unittest.main(
 *    or pytest.main(, and a bare call "f(...)" of a test function that is
 *    already a test; a bare call of a helper def whose body asserts (e.g.
 *    HumanEval's "check(candidate)") is a test;
 *  - everything else goes to the preamble, in order.
 * Known limits: a test that depends on an earlier assert's side effects
 * fails when run alone; test functions that take pytest fixtures or
 * parameters are called without arguments.
 *
 * C (a scanner tracks strings, character constants, comments, directives
 * and brackets; statements end at ';' or at the '}' of a block):
 *  - each top-level statement containing assert(...) is one test;
 *  - a function "test*(void)" stays in the preamble and "test_x();" is
 *    one test;
 *  - in main(), each statement containing assert( is one test, preceded by
 *    the statements of main before it that are not tests (declarations and
 *    set-up the assert may need); return statements, statements naming
 *    argc/argv and calls of test functions are dropped;
 *  - top-level expression statements (not valid at file scope) become
 *    set-up that precedes later tests, as in main;
 *  - #include "solution..." is dropped (the solution is in the unit);
 *  - directives, declarations and other functions go to the preamble.
 * Snippets are function bodies (kiln_job's C tests).
 *
 * Unterminated strings or comments and unbalanced brackets give
 * KILN_EPARSE "line N: ...". No test found is not an error: *n is 0 (the
 * caller may run the code as one program; *tests may then be NULL).
 * *preamble is "" when empty. Other languages: KILN_EINVAL. On error
 * *preamble and *tests are NULL and *n is 0. */
int kiln_split_tests(const char *code, size_t len, const char *language,
		     char **preamble, char ***tests, size_t *n,
		     kiln_error *err);
void kiln_tests_free(char **tests, size_t n);

/* ------------------------------------------------ tokens (src/code/tokens.c)
 *
 * kiln_code_lex: the tokens of s[0, len), in order, to fn (which returns 0
 * to go on; anything else stops the scan and is returned). Two families of
 * rules: Python (language NULL, "", "python" and its aliases: # comments,
 * '...', "...", triple-quoted strings, r/b/u/f prefixes) and the C family
 * for every other name (c, cpp, java, js, go, rust: // and block comments,
 * "..." and `...` strings, '...' character literals; a quote that closes
 * nothing within 12 bytes, a Rust lifetime, is punctuation). It never
 * fails: an unterminated one-line string ends at its line's end, a block
 * comment or long string at the end of the text; every byte that is not
 * white space lies in exactly one token, and tokens come in text order.
 * Numbers take letters, digits, '.', and a sign after e/E; names are runs
 * of letters, digits, '_' and bytes >= 0x80 (not starting with a digit);
 * punctuation is the longest of the common two- and three-byte operators
 * (->, ::, ==, **=, ...) or one byte. Text is taken as bytes (no UTF-8
 * check). */
typedef enum kiln_token_kind {
	KILN_TOK_NAME,      /* identifiers and keywords */
	KILN_TOK_NUMBER,
	KILN_TOK_STRING,    /* quotes and prefix included */
	KILN_TOK_COMMENT,   /* markers included */
	KILN_TOK_PUNCT,
} kiln_token_kind;

typedef struct kiln_token {
	kiln_token_kind kind;
	size_t off, len;
} kiln_token;

int kiln_code_lex(const char *s, size_t len, const char *language,
		  int (*fn)(void *ctx, const kiln_token *t), void *ctx);

/* A normalised token stream, for comparing code by its tokens rather than
 * its layout: one 64-bit value a token (an XXH64 of the normalised text,
 * seeded by the token's kind), with bit 0 set when the token carries
 * content (a word, a number, a string, a kept name) and clear for
 * punctuation and the name placeholder, and bit 1 set for a number (in
 * code; a number in prose or a string is a word). White space, line breaks and
 * indentation never make tokens, so re-wrapped or re-laid-out text gives
 * the same stream.
 *
 * flags:
 *   KILN_NORM_CODE   names and punctuation as written, strings whole,
 *                    comments dropped (select: are two solutions the same
 *                    code?)
 *   KILN_NORM_NAMES  names become one placeholder, except keywords and
 *                    builtins of the languages above (def, return, len,
 *                    range, int, printf, ...) and names right after '.',
 *                    '->' or '::' (attributes, methods: library names):
 *                    renaming identifiers does not change the stream
 *   KILN_NORM_WORDS  strings and comments become their words, lower-cased
 *                    (quotes, prefixes and punctuation dropped), as
 *                    KILN_NORM_PROSE reads text: a docstring matches the
 *                    same prose wrapped otherwise
 *   KILN_NORM_PROSE  the text is prose: only its words (runs of letters,
 *                    digits, '_', bytes >= 0x80), lower-cased
 * kiln_code_normalize appends to st (so a record's fields make one
 * stream); KILN_ENOMEM, or KILN_ELIMIT past KILN_NORM_MAX_TOKENS. */
#define KILN_NORM_MAX_TOKENS (1u << 24)
enum {
	KILN_NORM_CODE = 0,
	KILN_NORM_NAMES = 1,
	KILN_NORM_WORDS = 2,
	KILN_NORM_PROSE = 4,
};

typedef struct kiln_norm {
	uint64_t *v;
	size_t n, cap;
} kiln_norm;

int kiln_code_normalize(kiln_norm *st, const char *s, size_t len,
			const char *language, unsigned flags, kiln_error *err);
void kiln_norm_free(kiln_norm *st);

/* One 64-bit digest of s's KILN_NORM_CODE stream: equal for code that
 * differs only in white space, layout and comments. */
int kiln_code_digest(const char *s, size_t len, const char *language,
		     uint64_t *digest, kiln_error *err);

#endif
