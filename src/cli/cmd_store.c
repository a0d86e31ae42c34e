/* kiln store: look into a store (read only): its items, and counts by state
 * and kind. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kiln/store.h"
#include "kiln/utf8.h"

static const char usage[] =
"usage: kiln store list [--state STATE] [--json [--request]] STORE\n"
"       kiln store stats [--json] STORE\n"
"\n"
"Reads a store (a path or sqlite:PATH) without writing to it or waiting\n"
"for a run that is using it.\n"
"  list   every item, oldest first: id, task, index, kind, state, attempts,\n"
"         the last error (and the worker and lease of a claimed item)\n"
"  stats  how many items are in each state, overall and for each kind\n"
"\n"
"options:\n"
"      --state STATE   list only pending, done, failed or claimed items\n"
"      --json          one JSON object per item (list), or one object (stats)\n"
"      --request       with list --json: each item's request body too\n"
"  -h, --help          this text\n";

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

static int cmd_store(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "request", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct list_ctx lc = { 0 };
	const char *verb, *state_name = NULL;
	kiln_store *s = NULL;
	kiln_error err;
	int c, state = -1, rc = 1;

	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
			  strcmp(argv[1], "--help") == 0)) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc < 2 || (strcmp(argv[1], "list") != 0 &&
			 strcmp(argv[1], "stats") != 0)) {
		cli_error("store", argc < 2 ? "expected list or stats"
			  : "unknown: '%s' (expected list or stats)",
			  argc < 2 ? "" : argv[1]);
		fputs(usage, stderr);
		return 2;
	}
	verb = argv[1];
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': state_name = optarg; break;
		case 'j': lc.json = 1; break;
		case 'r': lc.request = 1; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc - 2) {
		cli_error("store", "%s: expected exactly one STORE", verb);
		fputs(usage, stderr);
		return 2;
	}
	if (strcmp(verb, "stats") == 0 && (state_name || lc.request)) {
		cli_error("store", "stats: --state and --request are for list");
		return 2;
	}
	if (lc.request && !lc.json) {
		cli_error("store", "list: --request needs --json");
		return 2;
	}
	if (state_name) {
		for (int i = 0; kiln_item_state_name(i); i++)
			if (strcmp(state_name, kiln_item_state_name(i)) == 0)
				state = i;
		if (state < 0) {
			cli_error("store", "--state: expected pending, done, "
				  "failed or claimed, got '%s'", state_name);
			return 2;
		}
	}
	if (kiln_store_open_with(&s, argv[optind + 1], KILN_STORE_READONLY,
				 &err)) {
		cli_error("store", "%s", err.msg);
		return 1;
	}
	if (strcmp(verb, "stats") == 0) {
		rc = stats(s, lc.json);
	} else if ((c = kiln_store_list(s, state, print_item, &lc, &err))) {
		cli_error("store", "%s", c > 0 ? "cannot write the list (out "
			  "of memory, or stdout is closed)" : err.msg);
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

/* Its two verbs keep their own small parser (list, stats, and three
 * flags); it has no option table yet, so 'kiln store --help' prints the
 * usage above. */
const cli_cmd cli_store = {
	.name = "store",
	.summary = "list a store's items, count them by state and kind",
	.run = cmd_store,
	.synopsis = "usage: kiln store list|stats [options] STORE",
};
