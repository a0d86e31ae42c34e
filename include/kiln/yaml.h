/* kiln/yaml.h - a YAML (or JSON) document as a jansson value, with libyaml.
 *
 * Mappings become objects (a repeated key is an error), sequences arrays,
 * plain scalars follow YAML's core schema (null, true/false, integers,
 * floats; anything else, and every quoted scalar, a string). Aliases are
 * followed with the result capped (1,000,000 nodes, 200 levels). Errors
 * name the file, line and column.
 */
#ifndef KILN_YAML_H
#define KILN_YAML_H

#include <stddef.h>

#include <jansson.h>

#include "kiln/error.h"

int kiln_yaml_parse(const char *text, size_t len, const char *name,
		    json_t **out, kiln_error *err);
int kiln_yaml_load(const char *path, json_t **out, kiln_error *err);

#endif
