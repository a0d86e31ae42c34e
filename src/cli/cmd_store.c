/* kiln store: look into a store (read only): its items, and counts by state
 * and kind. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kiln/store.h"
#include "kiln/utf8.h"

struct list_ctx {
	int json, request;
};

/* A JSON string of text that may not be UTF-8 (a server's error message
 * cut at a byte count): each part that does not decode is written as one
 * '?', as kiln serve writes U+FFFD. */
static json_t *text_json(const char *s)
{
	json_t *j;
	char *copy;
	size_t n, k = 0;

	if (!s)
		return json_null();
	if ((j = json_string(s)))
		return j;
	n = strlen(s);
	if (!(copy = malloc(n + 1)))
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t bad;
		int l = kiln_utf8_decode(s + i, n - i, NULL, &bad);

		if (l > 0) {
			memcpy(copy + k, s + i, (size_t)l);
			k += (size_t)l, i += (size_t)l;
		} else {
			copy[k++] = '?', i += bad;
		}
	}
	copy[k] = '\0';
	j = json_string(copy);
	free(copy);
	return j;
}

static int print_item(void *ctx, const kiln_store_item *it)
{
	struct list_ctx *c = ctx;
	const char *state = kiln_item_state_name(it->state);
	json_t *o;
	char *line;
	int bad;

	if (!state)
		state = "?";
	if (!c->json) {
		/* the error's first line, which is what tells one from another */
		const char *e = it->error ? it->error : "";
		int elen = (int)strcspn(e, "\n");

		printf("%lld\t%s\t%d\t%s\t%s\t%d\t%.*s", (long long)it->id,
		       it->task_id, it->index, it->kind, state, it->attempts,
		       elen > 200 ? 200 : elen, e);
		if (it->state == KILN_ITEM_CLAIMED)
			printf("\t%s until %.3f", it->worker ? it->worker : "?",
			       it->lease_until);
		putchar('\n');
		return ferror(stdout) ? 1 : 0;
	}
	o = json_pack("{sIsssisssssiso}", "id", (json_int_t)it->id, "task",
		      it->task_id, "index", it->index, "kind", it->kind,
		      "state", state, "attempts", it->attempts, "error",
		      text_json(it->error));
	bad = !o;
	if (o && it->state == KILN_ITEM_CLAIMED)
		bad |= json_object_set_new(o, "worker", text_json(it->worker)) ||
		       json_object_set_new(o, "lease_until",
					   json_real(it->lease_until));
	if (o && c->request)
		bad |= json_object_set_new(o, "request",
					   text_json(it->request));
	line = bad ? NULL : json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!line)
		return 1;
	puts(line);
	free(line);
	return ferror(stdout) ? 1 : 0;
}

struct stats_ctx {
	json_t *kinds;
	long states[4], total;
};

static json_t *zero_states(void)
{
	return json_pack("{sisisisi}", "pending", 0, "done", 0, "failed", 0,
			 "claimed", 0);
}

static int count(void *ctx, const char *kind, kiln_item_state state, long n)
{
	struct stats_ctx *c = ctx;
	const char *name = kiln_item_state_name(state);
	json_t *k = json_object_get(c->kinds, kind);

	if (!name || state > KILN_ITEM_CLAIMED)
		return 0; /* a state this kiln does not know: not counted */
	if (!k && (!(k = zero_states()) ||
		   json_object_set_new(c->kinds, kind, k)))
		return 1;
	c->states[state] += n;
	c->total += n;
	return json_object_set_new(k, name, json_integer(n)) ? 1 : 0;
}

static int stats(kiln_store *s, int json)
{
	struct stats_ctx c = { .kinds = json_object() };
	kiln_error err;
	json_t *o = NULL;
	char *text = NULL;
	int rc = 1;

	if (!c.kinds || (rc = kiln_store_stats(s, count, &c, &err))) {
		cli_error("store", "%s", c.kinds && rc < 0 ? err.msg
			  : "out of memory");
		rc = 1;
		goto out;
	}
	if (!json) {
		const char *key;
		json_t *k;

		printf("%s (%s): %ld items: %ld pending, %ld done, %ld failed, "
		       "%ld claimed\n", kiln_store_where(s),
		       kiln_store_backend(s), c.total, c.states[0],
		       c.states[1], c.states[2], c.states[3]);
		json_object_foreach(c.kinds, key, k)
			printf("  %-10s %lld pending, %lld done, %lld failed, "
			       "%lld claimed\n", key,
			       json_integer_value(json_object_get(k, "pending")),
			       json_integer_value(json_object_get(k, "done")),
			       json_integer_value(json_object_get(k, "failed")),
			       json_integer_value(json_object_get(k,
								  "claimed")));
		rc = 0;
		goto out;
	}
	o = json_pack("{sssssIs{sIsIsIsI}sO}", "store", kiln_store_where(s),
		      "backend", kiln_store_backend(s), "items",
		      (json_int_t)c.total, "states",
		      "pending", (json_int_t)c.states[0],
		      "done", (json_int_t)c.states[1],
		      "failed", (json_int_t)c.states[2],
		      "claimed", (json_int_t)c.states[3], "kinds", c.kinds);
	if (!o || !(text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS))) {
		cli_error("store", "out of memory");
		goto out;
	}
	puts(text);
	rc = 0;
out:
	free(text);
	json_decref(o);
	json_decref(c.kinds);
	return rc;
}

/* The two verbs, as subcommands with option tables (docs/OPTIONS.md). */
struct store_args {
	const char *state;
	int json, request;
};

#define A struct store_args
static const kiln_opt list_opts[] = {
	KILN_OPT_ROW_STRING("state", 0, A, state, "STATE",
		"only pending, done, failed or claimed items"),
	KILN_OPT_ROW_FLAG("json", 0, A, json, "one JSON object per item"),
	KILN_OPT_ROW_FLAG("request", 0, A, request,
		"with --json: each item's request body too"),
	KILN_OPT_ROW_END,
};

static const kiln_opt stats_opts[] = {
	KILN_OPT_ROW_FLAG("json", 0, A, json, "one JSON object"),
	KILN_OPT_ROW_END,
};
#undef A

static int run_list(int argc, char **argv);
static int run_stats(int argc, char **argv);

static const cli_cmd store_list = {
	.name = "list", .parent = "store", .run = run_list,
	.summary = "every item, oldest first", .opts = list_opts,
	.synopsis = "usage: kiln store list [--state STATE] [--json "
		    "[--request]] STORE",
	.about =
"Lists a store's items (a path or sqlite:PATH, read without writing to it\n"
"or waiting for a run that uses it): id, task, index, kind, state,\n"
"attempts, the last error, and the worker and lease of a claimed item.\n",
};

static const cli_cmd store_stats = {
	.name = "stats", .parent = "store", .run = run_stats,
	.summary = "items in each state, overall and for each kind",
	.opts = stats_opts,
	.synopsis = "usage: kiln store stats [--json] STORE",
	.about =
"Counts a store's items in each state, overall and for each kind (read\n"
"without writing to it or waiting for a run that uses it).\n",
};

static const cli_cmd *const store_cmds[] = { &store_list, &store_stats,
					     NULL };

/* Opens the one STORE operand read-only and runs the verb. */
static int store_verb(const cli_cmd *cmd, int argc, char **argv)
{
	struct store_args a = { 0 };
	struct list_ctx lc = { 0 };
	kiln_store *s = NULL;
	kiln_error err;
	int npos, state = -1, rc;

	rc = cli_parse(cmd, argc, argv, &a, sizeof a, &npos);
	if (rc != CLI_GO)
		return rc;
	if (npos != 1) {
		cli_error("store", "%s: expected exactly one STORE", cmd->name);
		cli_usage(cmd, &a, stderr);
		return 2;
	}
	if (a.request && !a.json) {
		cli_error("store", "list: --request needs --json");
		return 2;
	}
	if (a.state) {
		for (int i = 0; kiln_item_state_name(i); i++)
			if (strcmp(a.state, kiln_item_state_name(i)) == 0)
				state = i;
		if (state < 0) {
			cli_error("store", "--state: expected pending, done, "
				  "failed or claimed, got '%s'", a.state);
			return 2;
		}
	}
	lc.json = a.json;
	lc.request = a.request;
	if (kiln_store_open_with(&s, argv[1], KILN_STORE_READONLY, &err)) {
		cli_error("store", "%s", err.msg);
		return 1;
	}
	rc = 1;
	if (cmd == &store_stats) {
		rc = stats(s, lc.json);
	} else if ((npos = kiln_store_list(s, state, print_item, &lc,
					   &err))) {
		cli_error("store", "%s", npos > 0 ? "cannot write the list "
			  "(out of memory, or stdout is closed)" : err.msg);
	} else {
		rc = 0;
	}
	kiln_store_close(s);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_error("store", "cannot write to stdout");
		rc = 1;
	}
	return rc;
}

static int run_list(int argc, char **argv)
{
	return store_verb(&store_list, argc, argv);
}

static int run_stats(int argc, char **argv)
{
	return store_verb(&store_stats, argc, argv);
}

static int run_store(int argc, char **argv)
{
	return cli_dispatch(&cli_store, argc, argv);
}

const cli_cmd cli_store = {
	.name = "store", .run = run_store,
	.summary = "list a store's items, count them by state and kind",
	.subs = store_cmds,
	.synopsis = "usage: kiln store <command> [options] STORE",
	.about =
"Looks into a store (a path or sqlite:PATH) without writing to it.\n",
	.after = "Run 'kiln store <command> --help' for its options.\n",
};
