/*
 * api_operations_test - the REST API over real HTTP (lighttpd, the FastCGI
 * responders, PostgreSQL and Redis, as tools/test.sh starts them): administration (moderation queue, dead letters, promote), faults (a poisoned batch, a killed worker, decisions out of order), health and metrics.
 * Every test makes its own users, so the tests are independent.
 */
#include "client.h"
#include "http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <jwt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

/* ----------------------------------------------- administration, faults */


static void test_admin_moderation(void **state)
{
	struct resp r;
	struct user admin, a, b;
	char conv[37], held[37], rejected[37], path[160];
	bool found = false;
	(void)state;

	signup(&admin, "adm");
	signup(&a, "adm");
	signup(&b, "adm");
	private_conv(&a, &b, conv);
	send_text(&r, &a, conv, "h1", "send nudes");	/* held in the test instance */
	snprintf(held, sizeof(held), "%s", jstr(r.json, "id"));
	resp_free(&r);
	send_text(&r, &a, conv, "r1", "you idiot");
	snprintf(rejected, sizeof(rejected), "%s", jstr(r.json, "id"));
	resp_free(&r);
	assert_true(wait_status(&a, held, "held"));
	assert_true(wait_status(&a, rejected, "rejected"));

	/* not an admin (yet): every admin route refuses */
	get(&r, admin.access, "/v1/admin/moderation");
	assert_problem(&r, 403, "forbidden");
	resp_free(&r);
	get(&r, admin.access, "/v1/admin/jobs/dead");
	assert_problem(&r, 403, "forbidden");
	resp_free(&r);
	snprintf(path, sizeof(path), "/v1/admin/moderation/%s", held);
	json_post(&r, path, admin.access, "{\"verdict\":\"approve\"}");
	assert_problem(&r, 403, "forbidden");
	resp_free(&r);

	make_admin(&admin);	/* read from the database: the same token now works */
	for (const char *cursor = ""; !found;) {
		assert_int_equal(get(&r, admin.access, "/v1/admin/moderation?status=held&limit=100%s%s",
				     *cursor ? "&cursor=" : "", cursor), 200);
		struct json_object *items = jget(r.json, "items");
		for (size_t i = 0; i < json_object_array_length(items); i++)
			if (!strcmp(jstr(json_object_array_get_idx(items, i), "id"), held)) {
				found = true;
				assert_string_equal(jstr(json_object_array_get_idx(items, i), "category"), "sexual");
			}
		bool more = jstr(r.json, "next_cursor") != NULL;
		resp_free(&r);
		if (!more)
			break;
	}
	assert_true(found);
	json_post(&r, path, admin.access, "{\"verdict\":\"maybe\"}");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	get(&r, admin.access, "/v1/admin/moderation?status=weird");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	char cur_a[96], cur_b[96];
	assert_int_equal(get(&r, a.access, "/v1/poll?timeout=0"), 200);
	snprintf(cur_a, sizeof(cur_a), "%s", jstr(r.json, "cursor"));
	resp_free(&r);
	assert_int_equal(get(&r, b.access, "/v1/poll?timeout=0"), 200);
	snprintf(cur_b, sizeof(cur_b), "%s", jstr(r.json, "cursor"));
	resp_free(&r);
	json_post(&r, path, admin.access, "{\"verdict\":\"approve\",\"reason\":\"art\"}");
	assert_int_equal(r.status, 200);
	resp_free(&r);
	assert_true(wait_status(&a, held, "sent"));
	assert_int_equal(get(&r, b.access, "/v1/messages/%s", held), 200);
	resp_free(&r);
	/* it took effect at once, and both heard of it: the sender its status,
	 * the other member the message */
	assert_int_equal(get(&r, a.access, "/v1/poll?cursor=%s&timeout=10", cur_a), 200);
	assert_string_equal(jstr(r.json, "events.0.event"), "status");
	assert_string_equal(jstr(r.json, "events.0.data.message_id"), held);
	assert_string_equal(jstr(r.json, "events.0.data.status"), "sent");
	resp_free(&r);
	assert_int_equal(get(&r, b.access, "/v1/poll?cursor=%s&timeout=10", cur_b), 200);
	assert_string_equal(jstr(r.json, "events.0.event"), "message");
	assert_string_equal(jstr(r.json, "events.0.data.id"), held);
	resp_free(&r);
	/* an override of a rejection */
	snprintf(path, sizeof(path), "/v1/admin/moderation/%s", rejected);
	json_post(&r, path, admin.access, "{\"verdict\":\"approve\"}");
	assert_int_equal(r.status, 200);
	resp_free(&r);
	assert_true(wait_status(&a, rejected, "sent"));
	assert_int_equal(history_count(&b, conv), 2);
	/* nothing left to decide */
	json_post(&r, path, admin.access, "{\"verdict\":\"reject\"}");
	assert_problem(&r, 404, "not-found");
	resp_free(&r);
	assert_int_equal(sql_value("SELECT count(*) FROM audit_log WHERE action = 'moderation-override'"
				   " AND subject IN ('%s', '%s')", held, rejected), 2);
}

static void test_dead_letters(void **state)
{
	struct resp r;
	struct user admin;
	char key[64], path[96];
	long long id = 0;
	(void)state;

	signup(&admin, "dead");
	make_admin(&admin);
	signin(&admin, "correct horse");
	/* a job no stage can do: every attempt fails; the instance allows 3 */
	snprintf(key, sizeof(key), "broken-%s", admin.id);
	sql_value("INSERT INTO jobs (kind, key, payload) VALUES ('moderate', '%s', '{}')", key);
	for (int i = 0; i < 600 && !id; i++) {
		assert_int_equal(get(&r, admin.access, "/v1/admin/jobs/dead?limit=100"), 200);
		struct json_object *items = jget(r.json, "items");
		for (size_t k = 0; k < json_object_array_length(items); k++) {
			struct json_object *j = json_object_array_get_idx(items, k);
			if (!strcmp(jstr(j, "key"), key)) {
				id = jint(j, "id");
				assert_int_equal(jint(j, "attempts"), 3);
				assert_non_null(strstr(jstr(j, "last_error"), "message_id"));
			}
		}
		resp_free(&r);
		if (!id)
			usleep(50 * 1000);
	}
	assert_true(id > 0);
	snprintf(path, sizeof(path), "/v1/admin/jobs/dead/%lld/retry", id);
	http(&r, "POST", path, admin.access, "", 0, NULL, NULL);
	assert_int_equal(r.status, 202);
	resp_free(&r);
	assert_int_equal(sql_value("SELECT count(*) FROM dead_jobs WHERE id = %lld", id), 0);
	/* it fails its three attempts again and is back */
	for (int i = 0; i < 600 && !sql_value("SELECT count(*) FROM dead_jobs WHERE id = %lld", id); i++)
		usleep(50 * 1000);
	assert_int_equal(sql_value("SELECT attempts FROM dead_jobs WHERE id = %lld", id), 3);
	http(&r, "POST", "/v1/admin/jobs/dead/999999999/retry", admin.access, "", 0, NULL, NULL);
	assert_problem(&r, 404, "not-found");
	resp_free(&r);
	http(&r, "POST", "/v1/admin/jobs/dead/abc/retry", admin.access, "", 0, NULL, NULL);
	assert_problem(&r, 404, "not-found");
	resp_free(&r);
	get(&r, admin.access, "/v1/admin/jobs/dead?cursor=x");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
}

/* Workers killed with SIGKILL while messages flow: after restarting
 * them, every message is sent once, in order, with one verdict each. */
static void test_worker_sigkill(void **state)
{
	enum { ROUNDS = 3, EACH = 30, TOTAL = ROUNDS * EACH };
	struct resp r;
	struct user u[3];
	char conv[37], key[32], last[37] = "", cmd[1024];
	(void)state;

	for (int i = 0; i < 3; i++)
		signup(&u[i], "kill");
	json_post(&r, "/v1/conversations", u[0].access,
		  "{\"type\":\"group\",\"title\":\"crash\",\"members\":[\"%s\",\"%s\"]}",
		  u[1].id, u[2].id);
	assert_int_equal(r.status, 201);
	snprintf(conv, sizeof(conv), "%s", jstr(r.json, "id"));
	resp_free(&r);
	for (int round = 0; round < ROUNDS; round++) {
		for (int i = 0; i < EACH; i++) {
			snprintf(key, sizeof(key), "k%d-%d", round, i);
			assert_int_equal(send_text(&r, &u[i % 3], conv, key, "survives a crash"), 202);
			snprintf(last, sizeof(last), "%s", jstr(r.json, "id"));
			resp_free(&r);
		}
		snprintf(cmd, sizeof(cmd), "for f in %s/run/worker-*.pid; do kill -9 $(cat $f); done",
			 getenv("VAR"));
		assert_int_equal(system(cmd), 0);
		snprintf(cmd, sizeof(cmd), "%s start >/dev/null", getenv("CHAT4ALL_TEST_STACK"));
		assert_int_equal(system(cmd), 0);
	}
	for (int i = 0; i < 600 && sql_value("SELECT count(*) FROM messages WHERE conversation_id = '%s'"
					     " AND status <> 'sent'", conv); i++)
		usleep(50 * 1000);
	assert_int_equal(get(&r, u[0].access, "/v1/conversations/%s/messages?after=0&limit=100", conv), 200);
	struct json_object *items = jget(r.json, "items");
	assert_int_equal(json_object_array_length(items), TOTAL);
	for (size_t k = 0; k < TOTAL; k++) {
		assert_int_equal(jint(json_object_array_get_idx(items, k), "seq"), (long long)k + 1);
		assert_string_equal(jstr(json_object_array_get_idx(items, k), "status"), "sent");
	}
	resp_free(&r);
	assert_int_equal(sql_value("SELECT count(*) FROM messages WHERE conversation_id = '%s'", conv),
			 TOTAL);
	/* one decision each: no job's effects committed twice */
	assert_int_equal(sql_value("SELECT count(*) FROM moderation_log l JOIN messages m"
				   " ON m.id = l.message_id WHERE m.conversation_id = '%s'", conv),
			 TOTAL);
	assert_int_equal(sql_value("SELECT released_seq FROM release_watermarks WHERE conversation_id = '%s'", conv),
			 TOTAL);
	(void)last;
}

/* Moderation that finishes out of order (seq 2 decided before seq 1)
 * still releases in seq order; releasing again, or a moderate job that
 * runs after its message was decided, changes nothing. The workers are
 * stopped with SIGTERM meanwhile and leave cleanly. */
static void test_out_of_order_decisions(void **state)
{
	struct resp r;
	struct user a, b;
	char conv[37], m1[37], m2[37], cmd[1024], pidfile[512];
	(void)state;

	signup(&a, "ooo");
	signup(&b, "ooo");
	private_conv(&a, &b, conv);
	snprintf(cmd, sizeof(cmd), "for f in %s/run/worker-*.pid; do kill -TERM $(cat $f); done",
		 getenv("VAR"));
	assert_int_equal(system(cmd), 0);
	snprintf(pidfile, sizeof(pidfile), "%s/run/worker-1.pid", getenv("VAR"));
	for (int i = 0; i < 600 && access(pidfile, F_OK) == 0; i++)
		usleep(50 * 1000);
	assert_int_not_equal(access(pidfile, F_OK), 0);	/* gone: a clean exit */

	send_text(&r, &a, conv, "first", "one");
	snprintf(m1, sizeof(m1), "%s", jstr(r.json, "id"));
	resp_free(&r);
	send_text(&r, &a, conv, "second", "two");
	snprintf(m2, sizeof(m2), "%s", jstr(r.json, "id"));
	resp_free(&r);

	/* seq 2's verdict lands first: nothing may reach the recipient */
	sql_value("UPDATE messages SET status = 'approved' WHERE id = '%s'", m2);
	assert_int_equal(sql_value("SELECT released_seq - from_seq FROM release_conversations('{%s}')", conv), 0);
	assert_int_equal(history_count(&b, conv), 0);
	/* then seq 1's: both, in order */
	sql_value("UPDATE messages SET status = 'approved' WHERE id = '%s'", m1);
	assert_int_equal(sql_value("SELECT released_seq - from_seq FROM release_conversations('{%s}')", conv), 2);
	assert_int_equal(get(&r, b.access, "/v1/conversations/%s/messages?after=0", conv), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "items")), 2);
	assert_int_equal(jint(r.json, "items.0.seq"), 1);
	assert_int_equal(jint(r.json, "items.1.seq"), 2);
	resp_free(&r);
	assert_int_equal(sql_value("SELECT released_seq - from_seq FROM release_conversations('{%s}')", conv), 0);

	/* the workers come back and run the two moderate jobs: no-ops now */
	snprintf(cmd, sizeof(cmd), "%s start >/dev/null", getenv("CHAT4ALL_TEST_STACK"));
	assert_int_equal(system(cmd), 0);
	for (int i = 0; i < 600 && sql_value("SELECT count(*) FROM jobs WHERE payload->>'message_id'"
					     " IN ('%s', '%s')", m1, m2); i++)
		usleep(50 * 1000);
	assert_int_equal(sql_value("SELECT count(*) FROM jobs WHERE payload->>'message_id' IN ('%s', '%s')",
				   m1, m2), 0);
	assert_int_equal(sql_value("SELECT count(*) FROM moderation_log WHERE message_id IN ('%s', '%s')",
				   m1, m2), 0);
	assert_true(wait_status(&a, m2, "sent"));
}

/* ---------------------------------------------------------- operations */


/* What the metrics below count, made here: a sign-in, a stream opened,
 * fed and closed, a message approved, one rejected as hate, one held, and
 * a dead job (test_dead_letters makes one too, but a test stands alone). */
static void metrics_fodder(void)
{
	struct user a, b;
	struct resp r;
	struct sse s;
	char conv[37], id[37];

	signup(&a, "metrics");
	signup(&b, "metrics");
	private_conv(&a, &b, conv);
	sse_open(&s, b.access, NULL, NULL);
	assert_true(sse_wait(&s, "retry: 3000", 1));
	send_text(&r, &a, conv, "fine", "hello there");
	resp_free(&r);
	assert_true(sse_wait(&s, "hello there", 1));
	/* the sign-in ends: the gateway closes its stream at once */
	json_post(&r, "/v1/auth/logout", b.access, "{\"refresh_token\":\"%s\"}", b.refresh);
	resp_free(&r);
	sse_close(&s);
	send_text(&r, &a, conv, "hate", "Eu odeio essas pessoas, elas são inferiores");
	snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
	resp_free(&r);
	assert_true(wait_status(&a, id, "rejected"));
	send_text(&r, &a, conv, "held", "send nudes");
	snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
	resp_free(&r);
	assert_true(wait_status(&a, id, "held"));
	/* a job no stage can do: dead after its three attempts */
	sql_value("INSERT INTO jobs (kind, key, payload) VALUES ('moderate', 'broken-%s', '{}')", a.id);
	for (int i = 0; i < 600 && !sql_value("SELECT count(*) FROM dead_jobs WHERE key = 'broken-%s'", a.id); i++)
		usleep(50 * 1000);
}

static void test_health_and_metrics(void **state)
{
	struct resp r;
	long long before, after;
	(void)state;

	metrics_fodder();

	assert_int_equal(get(&r, NULL, "/healthz"), 200);
	resp_free(&r);
	assert_int_equal(get(&r, NULL, "/readyz"), 200);
	assert_string_equal(jstr(r.json, "postgresql"), "up");
	assert_string_equal(jstr(r.json, "redis"), "up");
	resp_free(&r);

	assert_int_equal(get(&r, NULL, "/metrics"), 200);
	before = metric(r.body, "chat4all_http_requests_total{route=\"GET /healthz\",status=\"200\"} ");
	assert_non_null(strstr(r.body, "chat4all_http_request_duration_seconds_bucket{route=\"POST /v1/auth/token\",le=\"+Inf\"}"));
	/* every responder: the REST API's and the files' */
	assert_int_equal(metric(r.body, "\nchat4all_api_processes "),
			 atoi(getenv("API_PROCS")) + atoi(getenv("FILES_PROCS")));
	/* the workers' figures, read from their own metrics file */
	assert_true(metric(r.body, "chat4all_moderation_decisions_total{provider=\"lexicon\","
				   "verdict=\"approve\",category=\"none\"} ") > 0);
	assert_true(metric(r.body, "chat4all_moderation_decisions_total{provider=\"lexicon\","
				   "verdict=\"reject\",category=\"hate\"} ") >= 1);
	assert_true(metric(r.body, "chat4all_moderation_decisions_total{provider=\"lexicon\","
				   "verdict=\"hold\",category=\"sexual\"} ") >= 1);
	assert_non_null(strstr(r.body, "chat4all_moderation_provider_seconds_bucket{provider=\"lexicon\""));
	assert_true(metric(r.body, "chat4all_jobs_queued{kind=\"dead\"} ") >= 1);
	/* the gateway's */
	assert_true(metric(r.body, "chat4all_stream_total{what=\"opened\"} ") >= 1);
	assert_true(metric(r.body, "chat4all_stream_total{what=\"events\"} ") >= 1);
	for (int i = 0; i < 200 && metric(r.body, "chat4all_stream_total{what=\"closed\"} ") < 1; i++) {
		resp_free(&r);
		usleep(50 * 1000);
		assert_int_equal(get(&r, NULL, "/metrics"), 200);
	}
	assert_true(metric(r.body, "chat4all_stream_total{what=\"closed\"} ") >= 1);
	resp_free(&r);
	for (int i = 0; i < 20; i++) {
		get(&r, NULL, "/healthz");
		resp_free(&r);
	}
	/* whichever responder answers, it counts every responder's requests */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(get(&r, NULL, "/metrics"), 200);
		after = metric(r.body, "chat4all_http_requests_total{route=\"GET /healthz\",status=\"200\"} ");
		assert_true(after >= before + 20);
		resp_free(&r);
	}
}

static void test_admin_promote(void **state)
{
	struct resp r;
	struct user u;
	char cmd[512];
	(void)state;

	signup(&u, "boss");
	snprintf(cmd, sizeof(cmd), "%s promote %s >/dev/null", getenv("CHAT4ALL_TEST_ADMIN"), u.name);
	assert_int_equal(system(cmd), 0);
	signin(&u, "correct horse");
	assert_int_equal(get(&r, u.access, "/v1/me"), 200);
	assert_string_equal(jstr(r.json, "role"), "admin");
	resp_free(&r);
	snprintf(cmd, sizeof(cmd), "%s promote nobody_%s 2>/dev/null", getenv("CHAT4ALL_TEST_ADMIN"), run_tag);
	assert_int_not_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_admin_moderation),
		cmocka_unit_test(test_dead_letters),
		cmocka_unit_test(test_worker_sigkill),
		cmocka_unit_test(test_out_of_order_decisions),
		cmocka_unit_test(test_health_and_metrics),
		cmocka_unit_test(test_admin_promote),
	};

	client_begin();
	return cmocka_run_group_tests_name("api_operations", tests, NULL, NULL);
}
