/* fuzz_yaml - any bytes through kiln_yaml_parse (src/util/yaml.c), the
 * reader of kiln run's pipeline files. For any input: 0 with a value that
 * jansson can serialise, or an error with a message; never both, never
 * neither. Any failure calls abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/yaml.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kiln_error err = { 0 };
	json_t *j = NULL;
	int rc = kiln_yaml_parse((const char *)data, size, "fuzz", &j, &err);

	if (rc == 0) {
		char *t;

		if (!j)
			FAIL("0 without a value");
		t = json_dumps(j, JSON_ENCODE_ANY);
		if (!t)
			FAIL("a value jansson cannot serialise");
		free(t);
		json_decref(j);
	} else if (j || !err.msg[0]) {
		FAIL("error %d with a value or without a message", rc);
	}
	return 0;
}
