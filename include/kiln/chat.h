/* kiln/chat.h - the chat template shared by training and serving.
 *
 * A conversation renders as plain text, each message as
 *
 *   <|role|>\n CONTENT \n
 *
 * (role is system, user or assistant), and a prompt that asks the model to
 * answer ends with "<|assistant|>\n". A training sample is the rendered
 * prompt, then the assistant's answer, then the tokenizer's end-of-text token;
 * the loss counts only the answer and the end-of-text token. The markers are
 * ordinary text, so any tokenizer encodes them.
 */
#ifndef KILN_CHAT_H
#define KILN_CHAT_H

#include <jansson.h>

#include "kiln/error.h"

#define KILN_CHAT_ASSISTANT "<|assistant|>\n"

/* Renders messages (a JSON array of {"role": ..., "content": ...}) and, when
 * add_generation_prompt is set, the assistant marker after them. *out is
 * malloc'd and NUL-terminated. KILN_EPARSE names the bad message. */
int kiln_chat_render(const json_t *messages, int add_generation_prompt,
		     char **out, kiln_error *err);

#endif
