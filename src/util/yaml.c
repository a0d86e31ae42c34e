/* YAML (and JSON, which YAML reads too) into jansson values, with libyaml
 * (kiln/yaml.h): what `kiln run` reads its pipeline from.
 *
 * The document is loaded with libyaml's document API, then converted: a
 * mapping to an object (keys must be scalars; a repeated key is an error),
 * a sequence to an array, a plain scalar by YAML's core schema (null, true,
 * false, integers, floats; anything else a string), a quoted one to a
 * string. Aliases are followed, but the converted value is capped in
 * nodes and depth, so that a few lines of nested aliases cannot expand to
 * gigabytes.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "kiln/yaml.h"

#define YAML_MAX_NODES 1000000
#define YAML_MAX_DEPTH 200

struct conv {
	yaml_document_t *doc;
	long nodes;
	kiln_error *err;
	const char *name;
};

static int core_int(const char *s, json_int_t *v)
{
	char *end;
	long long x;

	if (!*s || strspn(s, "+-0123456789") != strlen(s))
		return 0;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (*end || errno)
		return 0;
	*v = (json_int_t)x;
	return 1;
}

static int core_float(const char *s, double *v)
{
	char *end;

	if (!strcmp(s, ".inf") || !strcmp(s, ".Inf") || !strcmp(s, ".nan") ||
	    !strcmp(s, "-.inf"))
		return 0;   /* JSON has no such numbers: left as strings */
	if (!*s || strspn(s, "+-0123456789.eE") != strlen(s) ||
	    !strpbrk(s, "0123456789"))
		return 0;
	errno = 0;
	*v = strtod(s, &end);
	return !*end && !errno && isfinite(*v);
}

static json_t *scalar(const yaml_node_t *n)
{
	const char *s = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	json_int_t i;
	double d;

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
	    strlen(s) != len)
		return json_stringn(s, len);
	if (!*s || !strcmp(s, "~") || !strcmp(s, "null") ||
	    !strcmp(s, "Null") || !strcmp(s, "NULL"))
		return json_null();
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return json_true();
	if (!strcmp(s, "false") || !strcmp(s, "False") ||
	    !strcmp(s, "FALSE"))
		return json_false();
	if (core_int(s, &i))
		return json_integer(i);
	if (core_float(s, &d))
		return json_real(d);
	return json_stringn(s, len);
}

static json_t *convert(struct conv *c, yaml_node_t *n, int depth)
{
	json_t *v;

	if (!n) {
		kiln_error_set(c->err, KILN_EPARSE, "%s: a missing node",
			       c->name);
		return NULL;
	}
	if (++c->nodes > YAML_MAX_NODES || depth > YAML_MAX_DEPTH) {
		kiln_error_set(c->err, KILN_ELIMIT, "%s:%lu: the document "
			       "expands past %d nodes or %d levels (aliases?)",
			       c->name, (unsigned long)n->start_mark.line + 1,
			       YAML_MAX_NODES, YAML_MAX_DEPTH);
		return NULL;
	}
	switch (n->type) {
	case YAML_SCALAR_NODE:
		v = scalar(n);
		if (!v)
			kiln_error_set(c->err, KILN_EPARSE, "%s:%lu: a scalar "
				       "that is not valid UTF-8", c->name,
				       (unsigned long)n->start_mark.line + 1);
		return v;
	case YAML_SEQUENCE_NODE:
		v = json_array();
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     v && it < n->data.sequence.items.top; it++) {
			json_t *x = convert(c, yaml_document_get_node(c->doc,
								      *it),
					    depth + 1);

			if (!x || json_array_append_new(v, x)) {
				json_decref(v);
				return NULL;
			}
		}
		return v;
	case YAML_MAPPING_NODE:
		v = json_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     v && p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
			json_t *x;

			if (!k || k->type != YAML_SCALAR_NODE) {
				kiln_error_set(c->err, KILN_EPARSE, "%s:%lu: a "
					       "key that is not a scalar",
					       c->name, k ? (unsigned long)
					       k->start_mark.line + 1 : 0UL);
				json_decref(v);
				return NULL;
			}
			if (json_object_get(v, (const char *)
					    k->data.scalar.value)) {
				kiln_error_set(c->err, KILN_EPARSE, "%s:%lu: "
					       "key '%s' given twice", c->name,
					       (unsigned long)
					       k->start_mark.line + 1,
					       (const char *)
					       k->data.scalar.value);
				json_decref(v);
				return NULL;
			}
			x = convert(c, yaml_document_get_node(c->doc,
							      p->value),
				    depth + 1);
			if (!x || json_object_set_new(v, (const char *)
						      k->data.scalar.value,
						      x)) {
				if (x)
					kiln_error_set(c->err, KILN_EPARSE,
						       "%s:%lu: a key that is "
						       "not valid UTF-8",
						       c->name, (unsigned long)
						       k->start_mark.line + 1);
				json_decref(v);
				return NULL;
			}
		}
		return v;
	default:
		kiln_error_set(c->err, KILN_EPARSE, "%s: an empty document",
			       c->name);
		return NULL;
	}
}

int kiln_yaml_parse(const char *text, size_t len, const char *name,
		    json_t **out, kiln_error *err)
{
	yaml_parser_t p;
	yaml_document_t doc;
	struct conv c = { .doc = &doc, .err = err, .name = name };
	yaml_node_t *root;
	int rc = 0;

	*out = NULL;
	if (!yaml_parser_initialize(&p))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, &doc)) {
		rc = kiln_error_set(err, KILN_EPARSE, "%s:%lu:%lu: %s%s%s",
				    name, (unsigned long)p.problem_mark.line + 1,
				    (unsigned long)p.problem_mark.column + 1,
				    p.problem ? p.problem : "malformed",
				    p.context ? " " : "",
				    p.context ? p.context : "");
		yaml_parser_delete(&p);
		return rc;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root)
		rc = kiln_error_set(err, KILN_EPARSE, "%s: empty", name);
	else if (!(*out = convert(&c, root, 0)))
		rc = err && err->code ? err->code : KILN_ENOMEM;
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	return rc;
}

int kiln_yaml_load(const char *path, json_t **out, kiln_error *err)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*out = NULL;
	if (!f)
		return kiln_error_set(err, KILN_EIO, "%s: %s", path,
				      strerror(errno));
	for (;;) {
		if (cap - n < 4096) {
			char *nb;

			if (cap > (16u << 20)) {
				fclose(f);
				free(buf);
				return kiln_error_set(err, KILN_ELIMIT, "%s: over "
						      "16 MiB", path);
			}
			nb = realloc(buf, cap ? cap * 2 : 8192);
			if (!nb) {
				fclose(f);
				free(buf);
				return kiln_error_set(err, KILN_ENOMEM,
						      "out of memory");
			}
			buf = nb;
			cap = cap ? cap * 2 : 8192;
		}
		size_t k = fread(buf + n, 1, cap - n, f);

		n += k;
		if (k == 0)
			break;
	}
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return kiln_error_set(err, KILN_EIO, "%s: read error", path);
	}
	fclose(f);
	rc = kiln_yaml_parse(buf ? buf : "", n, path, out, err);
	free(buf);
	return rc;
}
