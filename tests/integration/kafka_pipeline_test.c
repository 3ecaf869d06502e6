/*
 * kafka_pipeline_test - the message path with bus = kafka, against the
 * mock cluster (CHAT4ALL_TEST_KAFKA_BOOTSTRAP; faults through the FIFO in
 * CHAT4ALL_TEST_KAFKA_CONTROL): sends → the outbox → 2 relays → the
 * messages topic → 3 workers of one consumer group, moderating and
 * releasing. Meanwhile a worker and a relay are killed -9, a broker is down
 * for 2 s and produce requests fail: every message is still stored once,
 * moderated once, released, in seq order per conversation.
 *
 * The instance is restarted with bus = kafka for the test and with its own
 * bus again after it.
 */
#include "client.h"
#include "http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SENDERS 200
#define EACH 50		/* 10 000 messages; the send burst is raised to it for the test */
#define THREADS 8
#define TEXT_(x) #x
#define TEXT(x) TEXT_(x)

static void stack(const char *bus)
{
	char cmd[2048];

	bool kafka = !strcmp(bus, "kafka");

	snprintf(cmd, sizeof(cmd), "%s stop >/dev/null 2>&1; CHAT4ALL_BUS=%s CHAT4ALL_KAFKA_BROKERS='%s' "
		 "WORKERS=%d RELAYS=2 %s%s%s start >/dev/null", getenv("CHAT4ALL_TEST_STACK"), bus,
		 kafka_bootstrap(), kafka ? 3 : 2, kafka ? "CHAT4ALL_SEND_BURST=" : "",
		 kafka ? TEXT(EACH) " " : "", getenv("CHAT4ALL_TEST_STACK"));
	assert_int_equal(system(cmd), 0);
}

/* A fault for the cluster (tests/kafka/mock_cluster.c's commands). */
static void fault(const char *what)
{
	FILE *f = fopen(getenv("CHAT4ALL_TEST_KAFKA_CONTROL"), "w");

	assert_non_null(f);
	fprintf(f, "%s\n", what);
	fclose(f);
}

static void kill_pidfile(const char *name)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "kill -9 \"$(cat %s/run/%s.pid)\"", getenv("CHAT4ALL_TEST_VAR"), name);
	assert_int_equal(system(cmd), 0);
}

static struct user senders[SENDERS], peer;
static char convs[SENDERS][37];
static int accepted[THREADS];

static void *send_share(void *arg)
{
	int t = (int)(intptr_t)arg;

	for (int i = 0; i < EACH; i++)
		for (int s = t; s < SENDERS; s += THREADS) {
			struct resp r;
			char key[64];
			snprintf(key, sizeof(key), "kp-%s-%d", senders[s].id, i);
			if (send_text(&r, &senders[s], convs[s], key, "hello through kafka") == 202)
				accepted[t]++;
			resp_free(&r);
		}
	return NULL;
}

static int group_setup(void **state)
{
	(void)state;
	stack("kafka");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	stack("postgres");
	return 0;
}

static void test_pipeline(void **state)
{
	pthread_t t[THREADS];
	(void)state;

	signup(&peer, "kpeer");
	for (int s = 0; s < SENDERS; s++) {
		signup(&senders[s], "kp");
		private_conv(&senders[s], &peer, convs[s]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, send_share, (void *)(intptr_t)i);
	/* faults while the sends flow */
	usleep(500 * 1000);
	kill_pidfile("worker-1");
	fault("produce-errors 5");
	usleep(300 * 1000);
	kill_pidfile("worker-relay-1");
	fault("down 1");
	sleep(2);
	fault("up 1");
	int total = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		total += accepted[i];
	}
	assert_int_equal(total, SENDERS * EACH);

	/* every message released, once, in order */
	char ours[160];
	snprintf(ours, sizeof(ours), "m.client_id LIKE 'kp-%%' AND m.sender_id IN (SELECT id FROM users "
		 "WHERE username LIKE 'kp_%s%%')", run_tag);
	long long sent = 0;
	for (int i = 0; i < 1200 && sent < SENDERS * EACH; i++) {
		sent = sql_value("SELECT count(*) FROM messages m WHERE %s AND m.status = 'sent'", ours);
		if (sent < SENDERS * EACH)
			usleep(100 * 1000);
	}
	assert_int_equal(sent, SENDERS * EACH);
	assert_int_equal(sql_value("SELECT count(*) FROM messages m WHERE %s", ours), SENDERS * EACH);
	/* moderated once each, however often Kafka delivered the record */
	assert_int_equal(sql_value("SELECT count(*) FROM moderation_log l JOIN messages m "
				   "ON m.id = l.message_id WHERE %s", ours),
			 SENDERS * EACH);
	/* each conversation: seqs 1..EACH, all released */
	assert_int_equal(sql_value("SELECT count(*) FROM (SELECT m.conversation_id FROM messages m "
				   "WHERE %s GROUP BY 1 HAVING count(*) = %d AND min(seq) = 1 AND "
				   "max(seq) = %d) x", ours, EACH, EACH),
			 SENDERS);
	assert_int_equal(sql_value("SELECT count(*) FROM release_watermarks w WHERE w.released_seq = %d "
				   "AND w.conversation_id IN (SELECT m.conversation_id FROM messages m "
				   "WHERE %s)", EACH, ours),
			 SENDERS);
	/* the group's offsets are kept in PostgreSQL */
	assert_true(sql_value("SELECT count(*) FROM bus_offsets WHERE group_id = 'chat4all.moderate'") > 0);
	/* and the outbox is empty */
	assert_int_equal(sql_value("SELECT count(*) FROM jobs WHERE kind = 'moderate'"), 0);

	/* what /metrics tells of it: rows published, records consumed (copies
	 * too), the group's rebalances (three members joined, one was lost),
	 * each partition's lag, the relay's */
	struct resp r;
	assert_int_equal(get(&r, NULL, "/metrics"), 200);
	assert_true(metric(r.body, "chat4all_bus_total{what=\"published\"} ") >= SENDERS * EACH);
	assert_true(metric(r.body, "chat4all_bus_total{what=\"consumed\"} ") >= SENDERS * EACH);
	assert_true(metric(r.body, "chat4all_bus_total{what=\"rebalances\"} ") >= 3);
	assert_non_null(strstr(r.body, "chat4all_bus_consumer_lag{group=\"chat4all.moderate\","
				       "topic=\"chat4all.messages\",partition=\"0\"} "));
	assert_non_null(strstr(r.body, "\nchat4all_bus_relay_lag_seconds "));
	resp_free(&r);
}

/* A record Kafka delivers three times, two copies in one batch (produced
 * together while the workers and the relays were away): the message is
 * decided once. */
static void test_duplicates_decided_once(void **state)
{
	struct user a, b;
	struct resp r;
	char conv[37], id[37], value[256], err[512], cmd[1024];
	(void)state;

	signup(&a, "dup");
	signup(&b, "dup");
	private_conv(&a, &b, conv);
	/* the workers and the relays away: the copies come first, together */
	snprintf(cmd, sizeof(cmd), "cd %s/run; for f in worker-[0-9]*.pid worker-relay-*.pid; do "
		 "[ -e \"$f\" ] || continue; kill \"$(cat \"$f\")\" 2>/dev/null || rm -f \"$f\"; done; "
		 "for i in $(seq 100); do ls worker-[0-9]*.pid worker-relay-*.pid >/dev/null 2>&1 || break; "
		 "sleep 0.1; done", getenv("CHAT4ALL_TEST_VAR"));
	assert_int_equal(system(cmd), 0);
	const char *done = "SELECT coalesce(sum(next_offset), 0) FROM bus_offsets "
			   "WHERE group_id = 'chat4all.moderate'";
	long long before = sql_value("%s", done);
	assert_int_equal(send_text(&r, &a, conv, "dup-1", "said once, delivered thrice"), 202);
	snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
	resp_free(&r);
	/* two copies of its record, as a relay killed after publishing sends
	 * again; the relay publishes the third once it is back */
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	assert_int_equal(rd_kafka_conf_set(kc, "bootstrap.servers", kafka_bootstrap(), err, sizeof(err)), 0);
	rd_kafka_conf_set(kc, "partitioner", "murmur2_random", err, sizeof(err));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
	assert_non_null(rk);
	snprintf(value, sizeof(value), "{\"message_id\":\"%s\",\"req_id\":\"dup\"}", id);
	for (int k = 0; k < 2; k++)
		assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("chat4all.messages"),
						   RD_KAFKA_V_KEY(conv, strlen(conv)),
						   RD_KAFKA_V_VALUE(value, strlen(value)),
						   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
				 0);
	assert_int_equal(rd_kafka_flush(rk, 10000), 0);
	rd_kafka_destroy(rk);
	snprintf(cmd, sizeof(cmd), "CHAT4ALL_BUS=kafka CHAT4ALL_KAFKA_BROKERS='%s' WORKERS=3 RELAYS=2 "
		 "%s start >/dev/null", kafka_bootstrap(), getenv("CHAT4ALL_TEST_STACK"));
	assert_int_equal(system(cmd), 0);
	assert_true(wait_status(&a, id, "sent"));
	/* the copies are behind it in its partition: once all three records
	 * are done, the message still has one decision */
	for (int i = 0; i < 300 && sql_value("%s", done) < before + 3; i++)
		usleep(100 * 1000);
	assert_int_equal(sql_value("%s", done), before + 3);
	assert_int_equal(sql_value("SELECT count(*) FROM moderation_log WHERE message_id = '%s'", id), 1);
}

/* A record no stage can take (no message_id) fails its attempts, then goes
 * to the dead letters the admin sees (and retries from), and its
 * partition moves on past it. */
static void test_poison_record_buried(void **state)
{
	char err[512], event[32];
	const char *value = "{\"req_id\":\"poison\"}";
	(void)state;

	/* an event id no outbox row will have: it becomes the dead job's id */
	snprintf(event, sizeof(event), "%lld", 900000000000LL + getpid());
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	assert_int_equal(rd_kafka_conf_set(kc, "bootstrap.servers", kafka_bootstrap(), err, sizeof(err)), 0);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
	assert_non_null(rk);
	rd_kafka_headers_t *h = rd_kafka_headers_new(1);
	rd_kafka_header_add(h, "event_id", -1, event, -1);
	assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("chat4all.messages"),
					   RD_KAFKA_V_KEY("poison", 6),
					   RD_KAFKA_V_VALUE((void *)value, strlen(value)),
					   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
					   RD_KAFKA_V_END),
			 0);
	assert_int_equal(rd_kafka_flush(rk, 10000), 0);
	rd_kafka_destroy(rk);
	for (int i = 0; i < 600 && !sql_value("SELECT count(*) FROM dead_jobs WHERE id = %s", event); i++)
		usleep(100 * 1000);
	assert_int_equal(sql_value("SELECT attempts FROM dead_jobs WHERE id = %s", event),
			 atoi(getenv("CHAT4ALL_JOB_MAX_ATTEMPTS")));
	assert_int_equal(sql_value("SELECT count(*) FROM dead_jobs WHERE id = %s AND kind = 'moderate' "
				   "AND last_error LIKE '%%message_id%%'", event), 1);
	/* and /metrics counted it */
	struct resp r;
	assert_int_equal(get(&r, NULL, "/metrics"), 200);
	assert_true(metric(r.body, "chat4all_bus_total{what=\"dead\"} ") >= 1);
	resp_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipeline),
		cmocka_unit_test(test_duplicates_decided_once),
		cmocka_unit_test(test_poison_record_buried),
	};

	client_begin();
	return cmocka_run_group_tests_name("kafka_pipeline", tests, group_setup, group_teardown);
}
