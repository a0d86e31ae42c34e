/* The one table of language names (kiln/code.h): which words name which
 * of kiln's languages, in a task's "language" field and in a Markdown
 * fence's tag. The sandbox's table of what runs a language
 * (src/sandbox/lang.c) is keyed by the canonical names given here.
 *
 * Names compare ignoring ASCII case ("Python", "C"). To add a language,
 * add its canonical name first (name == canonical), then its aliases.
 */

#include <string.h>

#include "code/code_int.h"

static const struct lang_name {
	const char *name;
	const char *canonical;
	int tag_only; /* a fence tag ("```h"), not a task's language */
} names[] = {
	{ "python", "python", 0 },
	{ "python3", "python", 0 },
	{ "py", "python", 0 },
	{ "py3", "python", 1 },
	{ "ipython", "python", 1 },
	{ "c", "c", 0 },
	{ "h", "c", 1 },
	{ "cpp", "cpp", 0 },
	{ "c++", "cpp", 0 },
	{ "cxx", "cpp", 0 },
	{ "cc", "cpp", 1 },
	{ "hpp", "cpp", 1 },
	{ "js", "js", 0 },
	{ "javascript", "js", 0 },
	{ "node", "js", 0 },
	{ "mjs", "js", 1 },
	{ "go", "go", 0 },
	{ "golang", "go", 0 },
	{ "java", "java", 0 },
	{ "rust", "rust", 0 },
	{ "rs", "rust", 0 },
	{ "lua", "lua", 0 },
	{ "ocaml", "ocaml", 0 },
	{ "ml", "ocaml", 1 },
	{ "tcl", "tcl", 0 },
	{ "tclsh", "tcl", 1 },
	{ "racket", "racket", 0 },
	{ "rkt", "racket", 1 },
};

static const char *lookup(const char *s, size_t len, int tags)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((tags || !names[i].tag_only) && eq_ci(s, len, names[i].name))
			return names[i].canonical;
	return NULL;
}

const char *kiln_lang_canonical(const char *name)
{
	return name ? lookup(name, strlen(name), 0) : NULL;
}

const char *kiln_lang_of_tag(const char *tag, size_t len)
{
	return tag ? lookup(tag, len, 1) : NULL;
}

enum code_lang kiln__code_lang(const char *name)
{
	const char *c;

	if (!name || !*name)
		return CODE_PY;
	c = kiln_lang_canonical(name);
	if (c && !strcmp(c, "python"))
		return CODE_PY;
	if (c && !strcmp(c, "c"))
		return CODE_C;
	return CODE_OTHER;
}

/* Prose names, by canonical name (kiln_lang_display). */
static const struct {
	const char *canonical, *display;
} displays[] = {
	{ "python", "Python" }, { "c", "C" }, { "cpp", "C++" },
	{ "js", "JavaScript" }, { "go", "Go" }, { "java", "Java" },
	{ "rust", "Rust" }, { "lua", "Lua" }, { "ocaml", "OCaml" },
	{ "tcl", "Tcl" }, { "racket", "Racket" }, { "r", "R" },
};

const char *kiln_lang_display(const char *name)
{
	const char *c;

	if (!name || !*name)
		return "Python";
	c = kiln_lang_canonical(name);
	for (size_t i = 0; c && i < sizeof(displays) / sizeof(displays[0]); i++)
		if (!strcmp(displays[i].canonical, c))
			return displays[i].display;
	return name;
}
