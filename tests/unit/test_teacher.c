/* The teacher engine (kiln/teacher.h) with a two-round stage of its own,
 * as the rewrite stage will be: each unit asks for a critique, and once
 * it is there (settled) for a revision built from it. Against fakeai on
 * loopback (its path: KILN_FAKEAI). Checked: outputs in unit order, the
 * revision sees the critique, a repeated id shares its requests, a second
 * run on the store sends nothing and writes the same, and a run in which
 * every request fails is KILN_EIO with the count and the first error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kiln/teacher.h"

static char dir[] = "/tmp/kiln-teacher-XXXXXX";
static pid_t server;
static char url[64];

static const char *const ids[] = { "u0", "u1", "u0" };

struct stage {
	char out[3][256];       /* what complete wrote, per unit */
	int completed;
	int order_ok;
};

static const char *unit_id(void *ctx, size_t u)
{
	(void)ctx;
	return ids[u];
}

static char *body(const char *text)
{
	json_t *r = json_pack("{ss s[{ss ss}] si}", "model", "m", "messages",
			      "role", "user", "content", text, "seed", 7);
	char *s = json_dumps(r, JSON_COMPACT);
	json_decref(r);
	return s;
}

static const char *text_of(const kiln_teacher_slot *s)
{
	const json_t *c0 = json_array_get(json_object_get(s->answer,
							  "choices"), 0);
	return json_string_value(json_object_get(json_object_get(c0,
						"message"), "content"));
}

static int begin(void *ctx, kiln_teacher *t, size_t u, kiln_error *err)
{
	char prompt[64];
	(void)ctx;
	snprintf(prompt, sizeof(prompt), "critique %s", ids[u]);
	return kiln_teacher_add(t, u, "critique", 0, body(prompt), 1, err);
}

/* The revision, once the critique is there (and only then). */
static int settled(void *ctx, kiln_teacher *t, size_t u,
		   const kiln_teacher_slot *slots, size_t n, kiln_error *err)
{
	char prompt[128];
	(void)ctx;
	if (n != 1 || !slots[0].answer)
		return 0;
	snprintf(prompt, sizeof(prompt), "revise %s after %s", ids[u],
		 text_of(&slots[0]));
	return kiln_teacher_add(t, u, "revise", 0, body(prompt), 2, err);
}

static int complete(void *ctx, size_t u, const kiln_teacher_slot *slots,
		    size_t n, kiln_error *err)
{
	struct stage *st = ctx;
	(void)err;
	if ((int)u != st->completed)
		st->order_ok = 0;
	st->completed++;
	snprintf(st->out[u], sizeof(st->out[u]), "%s: %zu slots: %s | %s",
		 ids[u], n, n > 0 && slots[0].answer ? text_of(&slots[0]) : "-",
		 n > 1 && slots[1].answer ? text_of(&slots[1]) : "-");
	return 0;
}

static int run(const char *base, const char *store_name, struct stage *st,
	       kiln_teacher_stats *stats, kiln_error *err)
{
	char path[128];
	kiln_teacher_opts o;
	kiln_store *store = NULL;
	int rc;

	memset(st, 0, sizeof(*st));
	st->order_ok = 1;
	snprintf(path, sizeof(path), "%s/%s", dir, store_name);
	kiln_teacher_opts_default(&o);
	o.llm.base_url = base;
	o.llm.max_attempts = 1;
	o.units = 3;
	o.unit_id = unit_id;
	o.begin = begin;
	o.settled = settled;
	o.complete = complete;
	o.ctx = st;
	if ((rc = kiln_store_open(&store, path, err)))
		return rc;
	rc = kiln_teacher_run(&o, store, stats, err);
	kiln_store_close(store);
	return rc;
}

static int start_server(void **state)
{
	char script[128], portf[128], port[32] = "";
	FILE *f;
	(void)state;

	if (!mkdtemp(dir))
		return -1;
	snprintf(script, sizeof(script), "%s/script.json", dir);
	snprintf(portf, sizeof(portf), "%s/port", dir);
	f = fopen(script, "w");
	if (!f)
		return -1;
	fputs("{\"answers\": [{\"match\": \"critique u0\", \"text\": \"C0\"},"
	      " {\"match\": \"critique u1\", \"text\": \"C1\"},"
	      " {\"match\": \"after C0\", \"text\": \"R0\"},"
	      " {\"match\": \"after C1\", \"text\": \"R1\"}]}", f);
	fclose(f);
	server = fork();
	if (server == 0) {
		execl(KILN_FAKEAI, "fakeai", "--port", "0", "--port-file",
		      portf, "--script", script, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && !port[0]; i++) {
		usleep(10000);
		if ((f = fopen(portf, "r"))) {
			if (!fgets(port, sizeof(port), f))
				port[0] = '\0';
			fclose(f);
		}
	}
	port[strcspn(port, "\n")] = '\0';
	snprintf(url, sizeof(url), "http://127.0.0.1:%s/v1", port);
	return port[0] ? 0 : -1;
}

static int stop_server(void **state)
{
	char cmd[64];
	(void)state;
	if (server > 0) {
		kill(server, SIGTERM);
		waitpid(server, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void two_rounds_in_order_and_resumed(void **state)
{
	struct stage st, again;
	kiln_teacher_stats s;
	kiln_error err = { 0 };
	(void)state;

	if (run(url, "a.store", &st, &s, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(st.completed, 3);
	assert_true(st.order_ok);
	assert_string_equal(st.out[0], "u0: 2 slots: C0 | R0");
	assert_string_equal(st.out[1], "u1: 2 slots: C1 | R1");
	assert_string_equal(st.out[2], "u0: 2 slots: C0 | R0");
	assert_int_equal(s.sent, 4);     /* the repeat of u0 sends nothing */
	assert_int_equal(s.failed, 0);
	assert_int_equal(s.usage_unknown, 0);
	assert_true(s.input_tokens > 0);
	/* Resumed: nothing sent, the same output. */
	if (run(url, "a.store", &again, &s, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(s.sent + s.cached, 0);
	assert_int_equal(s.already, 6);
	assert_memory_equal(st.out, again.out, sizeof(st.out));
}

static void every_request_failed_is_an_error(void **state)
{
	struct stage st;
	kiln_teacher_stats s;
	kiln_error err = { 0 };
	char bad[64];
	int rc;
	(void)state;

	/* no /v1: a 404 for every request; no revision is asked for */
	snprintf(bad, sizeof(bad), "%.*s", (int)(strlen(url) - 3), url);
	rc = run(bad, "b.store", &st, &s, &err);
	assert_int_equal(rc, KILN_EIO);
	if (!strstr(err.msg, "every request failed (2 of 2)") ||
	    !strstr(err.msg, "HTTP 404"))
		fail_msg("%s", err.msg);
	assert_false(s.resumable);
	assert_int_equal(st.completed, 3); /* each unit was still complete */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(two_rounds_in_order_and_resumed),
		cmocka_unit_test(every_request_failed_is_an_error),
	};
	return cmocka_run_group_tests(tests, start_server, stop_server);
}
