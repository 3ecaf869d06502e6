/*
 * kafka_relay_test - the outbox relay (jobs/relay.c) against a Kafka
 * cluster (tests/kafka/mock_cluster.c, its bootstrap list in
 * CHAT4ALL_TEST_KAFKA_BOOTSTRAP): sends accepted by the API reach
 * <prefix>messages keyed by conversation, in seq order per conversation,
 * with their headers, and leave the outbox only once the brokers have them;
 * one relay is active, the other takes over when it is killed.
 *
 * The instance's workers are stopped for the test (so that the sends stay
 * in the outbox for the relays) and started again after it; its bus stays
 * postgres: only the relays run with bus = kafka.
 */
#include "client.h"
#include "http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CONVS 20

/* The instance's pipeline workers: stopped, or started again. */
static void workers(const char *what)
{
	char cmd[1024];

	if (!strcmp(what, "stop"))
		snprintf(cmd, sizeof(cmd), "for f in %s/run/worker-[0-9]*.pid; do [ -e \"$f\" ] && "
			 "kill \"$(cat \"$f\")\"; done; for i in $(seq 100); do "
			 "ls %s/run/worker-[0-9]*.pid >/dev/null 2>&1 || break; sleep 0.1; done",
			 getenv("CHAT4ALL_TEST_VAR"), getenv("CHAT4ALL_TEST_VAR"));
	else
		snprintf(cmd, sizeof(cmd), "%s start >/dev/null", getenv("CHAT4ALL_TEST_STACK"));
	assert_int_equal(system(cmd), 0);
}

static pid_t relays[8];	/* started by this test; ended by teardown */
static int nrelays;

/* A relay of the instance, with bus = kafka: its pid. */
static pid_t start_relay(void)
{
	char cmd[2048];
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		snprintf(cmd, sizeof(cmd), "eval \"$(%s env)\"; export CHAT4ALL_BUS=kafka "
			 "CHAT4ALL_KAFKA_BROKERS='%s'; exec \"$(%s paths | sed -n 's/^APP=//p')\"/build/chat4all-jobs relay"
			 " </dev/null >/dev/null 2>&1",
			 getenv("CHAT4ALL_TEST_STACK"), kafka_bootstrap(), getenv("CHAT4ALL_TEST_STACK"));
		execl("/bin/bash", "bash", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	relays[nrelays++] = pid;
	return pid;
}

/* Whatever happened: no relay left behind, the workers back. */
static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < nrelays; i++) {
		kill(relays[i], SIGTERM);
		waitpid(relays[i], NULL, 0);
	}
	nrelays = 0;
	workers("start");
	return 0;
}

/* What the topic holds: per event id, its key, conversation, seq, request id. */
struct seen {
	long long event;
	char key[40], conv[40], req[80];
	long long seq;
	int partition;
};

static const char *header(rd_kafka_headers_t *h, const char *name, char *buf, size_t len)
{
	const void *v;
	size_t n;

	buf[0] = '\0';
	if (!h || rd_kafka_header_get_last(h, name, &v, &n))
		return NULL;
	snprintf(buf, len, "%.*s", (int)n, (const char *)v);
	return buf;
}

/* Reads <prefix>messages from the start until @want distinct events of
 * @conv's conversations (or 60 s: the topic holds earlier runs' records
 * too); returns every record of theirs read, in order, duplicates included. */
static int read_topic(struct seen *out, int max, int want, char conv[][37])
{
	char err[512], buf[128];
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	int n = 0, distinct = 0;

	assert_int_equal(rd_kafka_conf_set(kc, "bootstrap.servers", kafka_bootstrap(), err, sizeof(err)), 0);
	rd_kafka_conf_set(kc, "group.id", "kafka-relay-test", err, sizeof(err));
	rd_kafka_conf_set(kc, "enable.auto.commit", "false", err, sizeof(err));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
	assert_non_null(rk);
	const struct rd_kafka_metadata *md;
	assert_int_equal(rd_kafka_metadata(rk, 0, NULL, &md, 10000), 0);
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(64);
	for (int t = 0; t < md->topic_cnt; t++)
		if (!strcmp(md->topics[t].topic, "chat4all.messages"))
			for (int p = 0; p < md->topics[t].partition_cnt; p++)
				rd_kafka_topic_partition_list_add(parts, "chat4all.messages", p)->offset =
					RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_metadata_destroy(md);
	assert_true(parts->cnt > 1);
	assert_int_equal(rd_kafka_assign(rk, parts), 0);
	rd_kafka_topic_partition_list_destroy(parts);
	time_t until = time(NULL) + 60;
	while (distinct < want && n < max && time(NULL) < until) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
		if (!m)
			continue;
		if (!m->err) {
			rd_kafka_headers_t *h = NULL;
			struct seen *s = &out[n];
			rd_kafka_message_headers(m, &h);
			s->event = atoll(header(h, "event_id", buf, sizeof(buf)) ? buf : "0");
			snprintf(s->key, sizeof(s->key), "%.*s", (int)m->key_len, (const char *)m->key);
			header(h, "conversation_id", s->conv, sizeof(s->conv));
			s->seq = atoll(header(h, "seq", buf, sizeof(buf)) ? buf : "0");
			header(h, "request_id", s->req, sizeof(s->req));
			s->partition = m->partition;
			bool ours = false, dup = false;
			for (int c = 0; c < CONVS && !ours; c++)
				ours = !strcmp(s->key, conv[c]);
			for (int k = 0; ours && k < n && !dup; k++)
				dup = out[k].event == s->event;
			distinct += ours && !dup;
			n += ours;
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return n;
}

static long long outbox(void)
{
	return sql_value("SELECT count(*) FROM jobs WHERE kind = 'moderate'");
}

static void send_round(struct user *u, char conv[][37], int per_conv, const char *tag)
{
	for (int i = 0; i < per_conv; i++)
		for (int c = 0; c < CONVS; c++) {
			struct resp r;
			char key[64];
			snprintf(key, sizeof(key), "%s-%d-%d", tag, c, i);
			assert_int_equal(send_text(&r, &u[c], conv[c], key, "over kafka"), 202);
			resp_free(&r);
		}
}

static void test_relay(void **state)
{
	struct user a[CONVS], b[CONVS];
	char conv[CONVS][37];
	static struct seen seen[4096];
	(void)state;

	for (int c = 0; c < CONVS; c++) {
		signup(&a[c], "relay");
		signup(&b[c], "relay");
		private_conv(&a[c], &b[c], conv[c]);
	}
	workers("stop");
	long long before = outbox();
	send_round(a, conv, 10, "first");
	assert_int_equal(outbox(), before + 10 * CONVS);

	/* one relay: it takes the lock and empties the outbox; a second one
	 * stands by */
	pid_t r1 = start_relay();
	for (int i = 0; i < 300 && outbox() > 0; i++)
		usleep(100 * 1000);
	assert_int_equal(outbox(), 0);	/* deleted: the brokers have every row */
	pid_t r2 = start_relay();
	usleep(500 * 1000);

	/* the active one dies without a word; the other takes over */
	pid_t active = r1;
	kill(active, SIGKILL);
	waitpid(active, NULL, 0);
	send_round(a, conv, 5, "second");
	for (int i = 0; i < 300 && outbox() > 0; i++)
		usleep(100 * 1000);
	assert_int_equal(outbox(), 0);

	int n = read_topic(seen, 4096, 15 * CONVS, conv);
	int distinct = 0;
	for (int c = 0; c < CONVS; c++) {
		long long last = 0;
		int count = 0, part = -1;
		for (int k = 0; k < n; k++) {
			if (strcmp(seen[k].key, conv[c]))
				continue;
			/* keyed by conversation: one partition, the conversation in its headers */
			assert_string_equal(seen[k].conv, conv[c]);
			assert_true(part < 0 || part == seen[k].partition);
			part = seen[k].partition;
			assert_true(seen[k].req[0] != '\0');
			if (seen[k].seq <= last)
				continue;	/* a record published twice (a killed relay) */
			assert_int_equal(seen[k].seq, last + 1);	/* in seq order, none missing */
			last = seen[k].seq;
			count++;
		}
		assert_int_equal(count, 15);
		distinct += count;
	}
	assert_int_equal(distinct, 15 * CONVS);
	(void)r2;	/* ended by teardown */
}

/* The instance itself: stopped and started again with @bus (its workers
 * and, for kafka, its relays). */
static void restart(const char *bus)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "%s stop >/dev/null 2>&1; CHAT4ALL_BUS=%s CHAT4ALL_KAFKA_BROKERS='%s' "
		 "%s start >/dev/null", getenv("CHAT4ALL_TEST_STACK"), bus, kafka_bootstrap(),
		 getenv("CHAT4ALL_TEST_STACK"));
	assert_int_equal(system(cmd), 0);
}

static int switch_teardown(void **state)
{
	(void)state;
	restart("postgres");
	return 0;
}

/* README "Growing past one machine": a running instance moves from the
 * table's queue to Kafka with work queued (the workers stopped, sends
 * accepted meanwhile): stop, start with bus = kafka; the relays publish
 * what the table holds, and every message is released once. */
static void test_switch_with_queued_work(void **state)
{
	struct user a[CONVS], b[CONVS];
	char conv[CONVS][37], ids[CONVS * 5][37];
	int n = 0;
	(void)state;

	for (int c = 0; c < CONVS; c++) {
		signup(&a[c], "switch");
		signup(&b[c], "switch");
		private_conv(&a[c], &b[c], conv[c]);
	}
	workers("stop");
	for (int i = 0; i < 5; i++)
		for (int c = 0; c < CONVS; c++) {
			struct resp r;
			char key[64];
			snprintf(key, sizeof(key), "switch-%d-%d", c, i);
			assert_int_equal(send_text(&r, &a[c], conv[c], key, "queued before the switch"), 202);
			snprintf(ids[n++], 37, "%s", jstr(r.json, "id"));
			resp_free(&r);
		}
	assert_true(outbox() >= n);
	restart("kafka");
	for (int i = 0; i < n; i++) {
		assert_true(wait_status(&a[i % CONVS], ids[i], "sent"));
		assert_int_equal(sql_value("SELECT count(*) FROM moderation_log WHERE message_id = '%s'", ids[i]), 1);
	}
	for (int c = 0; c < CONVS; c++)
		assert_int_equal(sql_value("SELECT released_seq FROM release_watermarks WHERE "
					   "conversation_id = '%s'", conv[c]), 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_relay, teardown),
		cmocka_unit_test_teardown(test_switch_with_queued_work, switch_teardown),
	};

	client_begin();
	return cmocka_run_group_tests_name("kafka_relay", tests, NULL, NULL);
}
