/*
 * relay.c - the outbox relay (`chat4all-jobs relay`, bus = kafka).
 *
 * With bus = kafka the jobs table is the outbox only: a send, a release, a
 * webhook commit their job rows as always (so nothing is ever accepted
 * without its work written down), and the relay moves them to Kafka:
 *   moderate → <prefix>messages    keyed by conversation id
 *   inbound  → <prefix>inbound     keyed by channel
 *   deliver  → <prefix>deliveries  keyed by external address (channel:address)
 * Rows go in id order, which per key is commit order (a conversation's sends
 * take its row lock in turn; an address's deliveries are made in seq order),
 * through an idempotent producer (no duplicate, no reordering on its own
 * retries). A row is deleted only once its delivery report says the brokers
 * have it (acks=all); a row whose report failed stays and goes next round.
 * Killed between the two, a relay produces some rows twice: at least once on
 * the wire; the consumers drop what they have seen (by event id, or
 * (conversation, seq)).
 *
 * One relay is active per outbox shard (a PostgreSQL advisory lock on its
 * connection); others stand by and take over within a second of the active
 * one's end, when PostgreSQL closes its session. A relay whose connection
 * was reopened lost the lock with the old session and stands by again.
 *
 * Every record carries headers: event_id (the job id), conversation_id and
 * seq (a send's), request_id, and traceparent when the request had one.
 */
#include "jobs.h"

#include "../lib/db.h"
#include "../lib/err.h"
#include "../lib/kafka.h"
#include "../lib/kv_keys.h"
#include "../lib/log.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RELAY_BATCH_MAX 1000
#define RELAY_SHARD 0		/* one outbox today; the lock is per shard */
#define RELAY_IDLE_MS 200	/* a round when nothing woke us */
#define RELAY_STANDBY_MS 500	/* how often a standby asks for the lock */
#define RELAY_STATS_MS 10000

static const char *const KINDS = KAFKA_RELAYED_KINDS;

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

/* One row on its way: its delivery report sets @done or @failed. */
struct relay_row {
	long long id;
	bool done, failed;
};

struct relay {
	struct worker *w;
	rd_kafka_t *rk;
	struct { long produced, failed, rounds; long long since; } stats;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct relay_row *row = m->_private;

	(void)rk;
	(void)opaque;
	if (!row)
		return;
	if (m->err) {
		row->failed = true;
		log_warn(NULL, "relay: job %lld not published: %s", row->id, rd_kafka_err2str(m->err));
	} else {
		row->done = true;
	}
}

static const char *topic_of(const char *kind)
{
	return !strcmp(kind, "moderate") ? KAFKA_MESSAGES
	       : !strcmp(kind, "deliver") ? KAFKA_DELIVERIES
	       : !strcmp(kind, "inbound") ? KAFKA_INBOUND : NULL;
}

/* Produces row @r of @res (RELAY_BATCH's columns) with its headers. */
static int produce(struct relay *re, PGresult *res, int r, struct relay_row *row)
{
	const char *kind = PQgetvalue(res, r, 1), *key = PQgetvalue(res, r, 2);
	const char *value = PQgetvalue(res, r, 3), *name = topic_of(kind);
	char topic[256];
	rd_kafka_headers_t *h = rd_kafka_headers_new(5);

	if (!name)
		return ERR_INTERNAL;
	kafka_topic(&re->w->conf, name, topic, sizeof(topic));
	rd_kafka_header_add(h, "event_id", -1, PQgetvalue(res, r, 0), -1);
	if (!PQgetisnull(res, r, 4)) {
		rd_kafka_header_add(h, "conversation_id", -1, PQgetvalue(res, r, 4), -1);
		rd_kafka_header_add(h, "seq", -1, PQgetvalue(res, r, 5), -1);
	}
	if (!PQgetisnull(res, r, 6))
		rd_kafka_header_add(h, "request_id", -1, PQgetvalue(res, r, 6), -1);
	if (!PQgetisnull(res, r, 7))
		rd_kafka_header_add(h, "traceparent", -1, PQgetvalue(res, r, 7), -1);
	rd_kafka_resp_err_t err = rd_kafka_producev(
		re->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
		RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(row), RD_KAFKA_V_END);
	if (err) {
		rd_kafka_headers_destroy(h);	/* (the record owns them only when queued) */
		log_warn(NULL, "relay: job %s not queued for %s: %s", PQgetvalue(res, r, 0), topic,
			 rd_kafka_err2str(err));
		return ERR_UNAVAILABLE;
	}
	return 0;
}

/*
 * One round: the oldest rows, produced, flushed, and those the brokers have
 * deleted. Returns how many were published, or -1 when the database went
 * away (the lock with it).
 */
static int round_trip(struct relay *re)
{
	struct worker *w = re->w;
	PGresult *res = NULL;
	char limit[16];
	int n, published = 0;

	snprintf(limit, sizeof(limit), "%d", RELAY_BATCH_MAX);
	const char *params[] = { KINDS, limit };
	if (db_exec(w->db, SQL_RELAY_BATCH, params, &res))
		return -1;
	if (!(n = PQntuples(res))) {
		PQclear(res);
		return 0;
	}
	struct relay_row *rows = calloc((size_t)n, sizeof(*rows));
	if (!rows) {
		PQclear(res);
		return 0;
	}
	for (int r = 0; r < n; r++) {
		rows[r].id = atoll(PQgetvalue(res, r, 0));
		/* a row that cannot be queued now stops the round: the ones
		 * after it with its key must not go first */
		if (produce(re, res, r, &rows[r]))
			break;
	}
	PQclear(res);
	rd_kafka_flush(re->rk, 30000);
	struct db_array done = { 0 };
	for (int r = 0; r < n; r++) {
		if (rows[r].done) {
			db_array_add_ll(&done, rows[r].id);
			published++;
			metrics_observe(w->bus_metrics, KAFKA_PUBLISHED, 200, 0);
		} else if (rows[r].failed) {
			re->stats.failed++;
			metrics_observe(w->bus_metrics, KAFKA_PUBLISH_FAILED, 500, 0);
		}
	}
	const char *ids[] = { db_array_str(&done) };
	int rc = published && ids[0] ? db_exec(w->db, SQL_JOB_ACK_MANY, ids, NULL) : 0;
	db_array_free(&done);
	free(rows);
	re->stats.produced += published;
	re->stats.rounds++;
	/* not deleted: published again next round, which the consumers drop */
	return rc == ERR_UNAVAILABLE ? -1 : published;
}

static void log_stats(struct relay *re)
{
	long long now = clock_ms(), span = now - re->stats.since;

	if (span < RELAY_STATS_MS)
		return;
	if (re->stats.produced || re->stats.failed)
		log_info(NULL, "relay: %ld published in %.1f s (%.0f/s), %ld failed, %ld rounds",
			 re->stats.produced, span / 1000.0, re->stats.produced * 1000.0 / span,
			 re->stats.failed, re->stats.rounds);
	memset(&re->stats, 0, sizeof(re->stats));
	re->stats.since = now;
}

/* Waits for the lock of RELAY_SHARD: true when this relay is the active one. */
static bool take_lock(struct relay *re)
{
	char shard[8];
	PGresult *res = NULL;
	bool held = false;

	snprintf(shard, sizeof(shard), "%d", RELAY_SHARD);
	const char *params[] = { shard };
	if (!db_exec(re->w->db, SQL_RELAY_LOCK, params, &res))
		held = !strcmp(PQgetvalue(res, 0, 0), "t");
	PQclear(res);
	return held;
}

int relay_run(struct worker *w)
{
	struct sigaction sa = { .sa_handler = on_term };	/* no SA_RESTART: wake poll() */
	struct relay re = { .w = w };
	char err[512];

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (strcmp(w->conf.bus, "kafka")) {
		log_error(NULL, "relay: bus is %s; the relay is for bus = kafka", w->conf.bus);
		return 1;
	}
	if (!(re.rk = kafka_producer(&w->conf, on_delivery, &re, err, sizeof(err)))) {
		log_error(NULL, "relay: %s", err);
		return 1;
	}
	if (!w->wake && (w->wake = kv_open(w->conf.redis)))
		kv_subscribe(w->wake, KV_JOBS_WAKE);
	re.stats.since = clock_ms();
	log_info(NULL, "relay ready: %s → %s%s, %s, %s", KINDS, w->conf.kafka_topic_prefix,
		 KAFKA_MESSAGES, KAFKA_DELIVERIES, KAFKA_INBOUND);
	while (!stopping) {
		/* standing by until this one holds the shard's lock */
		if (!take_lock(&re)) {
			usleep(RELAY_STANDBY_MS * 1000);
			continue;
		}
		unsigned session = db_generation(w->db);
		queue_listen(w->db);	/* a release's deliveries NOTIFY (sends wake through KV_JOBS_WAKE) */
		log_info(NULL, "relay: active for shard %d", RELAY_SHARD);
		while (!stopping && db_generation(w->db) == session) {
			int n = round_trip(&re);
			log_stats(&re);
			if (n < 0)
				break;	/* the database went away, and the lock */
			if (n < RELAY_BATCH_MAX / 4)
				queue_wait(w->db, w->wake, RELAY_IDLE_MS);
		}
		if (!stopping) {
			log_warn(NULL, "relay: lost the database session, and the lock; standing by");
			sleep(1);
		}
	}
	rd_kafka_flush(re.rk, 10000);
	rd_kafka_destroy(re.rk);
	kv_free(w->wake);
	w->wake = NULL;
	log_info(NULL, "relay stopped");
	return 0;
}
