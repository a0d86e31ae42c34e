/* What every curation command does around its driver (docs/CURATE.md):
 * inputs (files or stdin), -o, --dropped, --stats, the summary line, and
 * what an error leaves behind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_curate_open(const char *cmd, struct cli_curate *c, int npos,
		    char **operands)
{
	static char dash[] = "-";
	kiln_error err;

	c->nin = npos > 0 ? (size_t)npos : 1;
	c->in = calloc(c->nin, sizeof *c->in);
	c->out = c->dropped = NULL;
	if (!c->in) {
		cli_error(cmd, "out of memory");
		return 1;
	}
	for (size_t i = 0; i < c->nin; i++) {
		const char *path = npos > 0 ? operands[i] : dash;
		if (kiln_output_check_distinct(c->output, path, "an input",
					       &err) ||
		    kiln_output_check_distinct(c->dropped_path, path,
					       "an input", &err) ||
		    kiln_output_check_distinct(c->stats, path, "an input",
					       &err)) {
			cli_error(cmd, "%s", err.msg);
			cli_curate_close(c);
			return 2;
		}
	}
	if (c->dropped_path && c->output &&
	    !strcmp(c->dropped_path, c->output) && strcmp(c->output, "-")) {
		cli_error(cmd, "--dropped and -o are the same file");
		cli_curate_close(c);
		return 2;
	}
	if ((c->stats && kiln_output_check(c->stats, &err))) {
		cli_error(cmd, "--stats: %s", err.msg);
		cli_curate_close(c);
		return 1;
	}
	for (size_t i = 0; i < c->nin; i++)
		if (kiln_jsonl_open(&c->in[i], npos > 0 ? operands[i] : dash,
				    0, &err)) {
			cli_error(cmd, "%s", err.msg);
			cli_curate_close(c);
			return 1;
		}
	if (kiln_out_open(&c->out, c->output, &err) ||
	    (c->dropped_path &&
	     kiln_out_open(&c->dropped, c->dropped_path, &err))) {
		cli_error(cmd, "%s", err.msg);
		cli_curate_close(c);
		return 1;
	}
	return 0;
}

void cli_curate_close(struct cli_curate *c)
{
	for (size_t i = 0; c->in && i < c->nin; i++)
		kiln_jsonl_close(c->in[i]);
	free(c->in);
	c->in = NULL;
	if (c->out)
		kiln_out_abort(c->out);
	if (c->dropped)
		kiln_out_abort(c->dropped);
	c->out = c->dropped = NULL;
}

/* After an error: whole records to FILE.partial, said on stderr. */
static void keep(const char *cmd, kiln_out *o, const char *what)
{
	kiln_error err;
	char *kept = NULL;
	long n = 0;
	int stream = kiln_out_is_stream(o);

	if (kiln_out_keep_partial(o, &kept, &n, &err)) {
		cli_error(cmd, "%s", err.msg);
		return;
	}
	if (kept)
		cli_error(cmd, "the %ld %s record%s written before the error "
			  "%s in %s", n, what, n == 1 ? "" : "s",
			  n == 1 ? "is" : "are", kept);
	else if (!stream)
		cli_error(cmd, "no %s records written", what);
	free(kept);
}

int cli_curate_finish(const char *cmd, struct cli_curate *c, int rc,
		      const kiln_error *derr, kiln_stage_stats *st)
{
	kiln_error err;
	char line[1024];
	int status = 0;

	for (size_t i = 0; i < c->nin; i++)
		kiln_jsonl_close(c->in[i]);
	free(c->in);
	c->in = NULL;
	if (rc) {
		cli_error(cmd, "%s", derr->msg);
		keep(cmd, c->out, "kept");
		if (c->dropped)
			keep(cmd, c->dropped, "dropped");
		c->out = c->dropped = NULL;
		return 1;
	}
	if (c->dropped && kiln_out_commit(c->dropped, &err)) {
		cli_error(cmd, "--dropped: %s", err.msg);
		status = 1;
	}
	c->dropped = NULL;
	if (kiln_out_commit(c->out, &err)) {
		cli_error(cmd, "%s", err.msg);
		status = 1;
	}
	c->out = NULL;
	if (!status && c->stats && kiln_stage_stats_save(st, c->stats, &err)) {
		cli_error(cmd, "--stats: %s", err.msg);
		status = 1;
	}
	if (!c->quiet) {
		kiln_stage_summary(st, line, sizeof line);
		fprintf(stderr, "kiln: %s: %s\n", cmd, line);
	}
	return status;
}

json_t *cli_load_solutions(const char *cmd, const char *input)
{
	kiln_jsonl_reader *in;
	kiln_error err;
	json_t *arr = json_array(), *rec;
	int rc;

	if (!arr || kiln_jsonl_open(&in, input, 0, &err)) {
		cli_error(cmd, "%s", arr ? err.msg : "out of memory");
		json_decref(arr);
		return NULL;
	}
	while ((rc = kiln_jsonl_next(in, &rec, &err)) == 0) {
		if (!json_is_string(json_object_get(rec, "solution"))) {
			cli_error(cmd, "%s:%ld: no \"solution\" (a "
				  "string)", kiln_jsonl_path(in),
				  kiln_jsonl_lineno(in));
			json_decref(rec);
			rc = -1;
			break;
		}
		json_array_append_new(arr, rec);
	}
	if (rc != KILN_EEOF) {
		if (rc != -1)
			cli_error(cmd, "%s", err.msg);
		json_decref(arr);
		arr = NULL;
	}
	kiln_jsonl_close(in);
	return arr;
}
