/* Reading an LLM judge's reply (kiln/reward.h).
 *
 * Judges fail in practice: replies with no verdict, several verdicts,
 * a verdict quoted from the judged code, scores out of range. The rules
 * here never turn such a reply into a score: the verdict is the last JSON
 * object that starts a line and has a numeric top-level "score" in range;
 * anything else is a missing score with the reason.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kiln/reward.h"

/* s[0..n) without blanks, NUL-terminated (malloc'd). */
static char *squeeze(const char *s, size_t n)
{
	char *o = malloc(n + 1);
	size_t k = 0;

	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!isspace((unsigned char)s[i]))
			o[k++] = s[i];
	o[k] = '\0';
	return o;
}

/* Does the object text t[0..n) occur in the judged code (blanks
 * ignored)? Then the judge quoted it from there. */
static int quoted_from(const char *judged_sq, const char *t, size_t n)
{
	char *sq;
	int found;

	if (!judged_sq || !*judged_sq)
		return 0;
	sq = squeeze(t, n);
	found = sq && *sq && strstr(judged_sq, sq) != NULL;
	free(sq);
	return found;
}

/* Does the line from t mention a "score" key (a verdict that did not
 * parse still counts as the judge's last word)? */
static int mentions_score(const char *t, const char *end)
{
	const char *nl = memchr(t, '\n', (size_t)(end - t));
	size_t n = (size_t)((nl ? nl : end) - t);

	for (size_t i = 0; i + 7 <= n; i++)
		if (memcmp(t + i, "\"score\"", 7) == 0)
			return 1;
	return 0;
}

int kiln_judge_parse(const char *reply, size_t len, const char *judged,
		     double lo, double hi, double *score, kiln_error *why)
{
	const char *end = reply + len;
	char *judged_sq = judged ? squeeze(judged, strlen(judged)) : NULL;
	int have = 0;           /* the last anchored verdict was readable */
	int seen = 0;           /* some anchored verdict was seen */
	double last = 0;
	char reason[200] = "no verdict: no line starts with a JSON object "
			   "with a \"score\"";

	if (judged && !judged_sq)
		return kiln_error_set(why, KILN_ENOMEM, "out of memory");
	for (const char *line = reply; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *p = line;

		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++;
		if (p < end && *p == '{') {
			json_error_t je;
			json_t *o = json_loadb(p, (size_t)(end - p),
					       JSON_DISABLE_EOF_CHECK |
					       JSON_REJECT_DUPLICATES, &je);
			const json_t *s = o ? json_object_get(o, "score") :
					  NULL;

			if (o && json_is_object(o) && s) {
				size_t used = (size_t)je.position;

				if (!quoted_from(judged_sq, p, used)) {
					double v = json_number_value(s);

					seen = 1;
					have = 0;
					if (!json_is_number(s))
						snprintf(reason, sizeof reason,
							 "the last verdict's "
							 "score is not a "
							 "number");
					else if (!isfinite(v) || v < lo ||
						 v > hi)
						snprintf(reason, sizeof reason,
							 "the last verdict's "
							 "score %g is out of "
							 "[%g, %g]", v, lo,
							 hi);
					else
						have = 1, last = v;
				}
			} else if (!o && mentions_score(p, end)) {
				/* a verdict that is not valid JSON (cut off,
				 * duplicate keys): the judge's last word is
				 * unreadable, not an earlier one */
				seen = 1;
				have = 0;
				snprintf(reason, sizeof reason, "the last "
					 "verdict is not valid JSON: %s",
					 je.text);
			}
			json_decref(o);
		}
		line = nl ? nl + 1 : end;
	}
	free(judged_sq);
	(void)seen;
	if (!have)
		return kiln_error_set(why, KILN_EPARSE, "%s", reason);
	*score = last;
	return 0;
}
