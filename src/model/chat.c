/* The chat template (kiln/chat.h). */
#include "kiln/chat.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

static int known_role(const char *r)
{
	return !strcmp(r, "system") || !strcmp(r, "user") ||
	       !strcmp(r, "assistant");
}

int kiln_chat_render(const json_t *messages, int add_generation_prompt,
		     char **out, kiln_error *err)
{
	*out = NULL;
	if (!json_is_array(messages))
		return kiln_error_set(err, KILN_EPARSE,
				      "messages: expected an array");
	kiln_buf b = { 0 };
	b.max = (size_t)1 << 30;
	size_t i;
	json_t *msg;
	json_array_foreach(messages, i, msg) {
		const char *role = json_string_value(json_object_get(msg, "role"));
		json_t *c = json_object_get(msg, "content");
		if (!role || !known_role(role)) {
			free(b.p);
			return kiln_error_set(err, KILN_EPARSE,
				"messages[%zu]: role must be system, user or assistant",
				i);
		}
		if (!json_is_string(c)) {
			free(b.p);
			return kiln_error_set(err, KILN_EPARSE,
				"messages[%zu]: content must be a string", i);
		}
		if (kiln__buf_add(&b, "<|", 2) || kiln__buf_add(&b, role, strlen(role)) ||
		    kiln__buf_add(&b, "|>\n", 3) ||
		    kiln__buf_add(&b, json_string_value(c), json_string_length(c)) ||
		    kiln__buf_add(&b, "\n", 1))
			goto nomem;
	}
	if (add_generation_prompt &&
	    kiln__buf_add(&b, KILN_CHAT_ASSISTANT, strlen(KILN_CHAT_ASSISTANT)))
		goto nomem;
	if (!b.p && kiln__buf_add(&b, "", 0))
		goto nomem;
	*out = b.p;
	return 0;
nomem:
	free(b.p);
	return kiln_error_set(err, KILN_ENOMEM, "chat template: out of memory");
}
