/*
 * deliverer.c - the deliverer (`chat4all-jobs deliver`): one job per
 * (message, external address), made by the release (enqueue_deliveries in
 * migrations/functions/release.sql), sent by a process of its own so that
 * a slow provider never holds moderation or release up.
 *
 * Requests stay in flight through curl multi, at most channel_concurrency
 * per channel; as each answer comes its outcome is recorded (those of one
 * loop turn in one transaction) and its place is claimed again. A provider
 * that answers in 50 ms gives concurrency / 50 ms deliveries a second per
 * channel, however many processes there are (deliveries.c: one delivery,
 * from its row to its outcome).
 * A channel that is down or hangs holds only its own places: its jobs wait
 * (with their run_at, or unclaimed while its places are full), and every
 * other channel goes on. One address gets its messages one at a time, in
 * order (DELIVER_CLAIM): a retrying delivery holds back the later ones to
 * the same address.
 *
 * With bus = kafka the release's `deliver` rows reach this process as
 * records of <prefix>deliveries keyed by address (the relay), in the
 * consumer group <prefix>deliver; a partition carries the deliveries of
 * many addresses in one order. A record goes out at once when nothing of
 * its address is ahead of it (here or in the table) and its channel has a
 * place; otherwise it is handed over to the per-address queue the table
 * already is, as a `deliver_wait` job (claimed here as above), and so are
 * its retries and its pacing. So a partition never waits for a slow
 * provider or a busy address: the one thing a record holds is its own
 * request, at most channel_timeout_ms, and then only the partition's
 * stored offset, never the reading of its later records. (Pausing the
 * partition instead would stall every other address on it for as long as
 * one address waits, a retry's backoff included.) When a record is handed
 * over while one of its address's records is still in flight here, that
 * one gets a leased stand-in job in the table first, which keeps the order
 * there until its outcome is recorded.
 */
#include "deliveries.h"

#include "../lib/db.h"
#include "../lib/err.h"
#include "../lib/kafka.h"
#include "../lib/log.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLAIM_MAX 64
#define IDLE_CLAIM_MS 1000	/* retries and expired leases come due without a notify */
#define CLAIM_GAP_MS 10
#define STATS_MS 10000

#define NCHANNELS CHANNEL_COUNT

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

/*
 * Each channel holds up to 2 * limit claimed jobs: `limit` requests in
 * flight and as many ready to start the moment a place frees, so a new
 * request never waits for a database round trip (the claim, the load and
 * the recording of the last answer happen while others are in flight).
 */
struct deliverer {
	struct worker *w;
	const char *kinds;		/* the table's jobs it claims (text[]) */
	struct queue_kafka *bus;	/* bus = kafka: <prefix>deliveries, else NULL */
	int bus_fd;			/* readable when records came (bus), else -1 */
	CURLM *multi;			/* kept: its connections are reused */
	int limit;			/* requests in flight per channel */
	int in_flight[NCHANNELS];
	int held[NCHANNELS];		/* claimed and not yet recorded */
	int running;			/* requests in flight in all */
	struct job *pool;		/* claimed jobs, NCHANNELS * 2 * limit places */
	bool *used;
	int cap, used_n;
	int *ready, nready;		/* places to start, oldest first */
	int *done, ndone;		/* places whose outcome waits to be recorded */
	int freed;			/* places freed since the last claim */
	/* where the loop's time goes, logged every STATS_MS when busy */
	struct { long claims, claimed, records, recorded; long long claim_ms, record_ms, since; } stats;
};

static void finished(struct deliverer *d, struct delivery_try *a)
{
	d->done[d->ndone++] = a->slot;
}

static int place(struct deliverer *d, struct job *j)
{
	for (int i = 0; i < d->cap; i++)
		if (!d->used[i]) {
			d->used[i] = true;
			d->used_n++;
			d->pool[i] = *j;	/* the payload and state move with it */
			((struct delivery_try *)d->pool[i].state)->slot = i;
			return i;
		}
	return -1;	/* cannot happen: claims never ask for more than is free */
}

/* Places claimed job @j, counted in its channel's places. Its slot when
 * it has a request to send; else it is finished at once (done already, or
 * unbuildable) and -1. */
static int take_place(struct deliverer *d, struct job *j)
{
	int slot = place(d, j);
	struct delivery_try *a = d->pool[slot].state;
	int c = channel_index(a->channel);

	if (c >= 0)
		d->held[c]++;
	if (a->pending && a->req.body && c >= 0)
		return slot;
	finished(d, a);
	return -1;
}

/* The lease of a claimed job, or a stand-in: it outlasts a wait behind a
 * hanging request and its own slowest answer, so no one else claims it. */
static int lease_s(const struct deliverer *d)
{
	return (int)(d->w->conf.worker_lease + 2 * d->w->conf.channel_timeout_ms / 1000 + 1);
}

/*
 * Claims what fits: never more than any channel not yet full could take,
 * and nothing for the full ones, so no channel ever holds more than
 * 2 * limit jobs (start_ready() keeps `limit` of them in flight) and a
 * channel that hangs holds only its own places. Returns how many were
 * claimed, or -1.
 */
static int claim_table(struct deliverer *d)
{
	struct job jobs[CLAIM_MAX];
	struct db_array full = { 0 };	/* the channels that take no more now */
	int busiest = 0, most = 2 * d->limit;

	for (int c = 0; c < NCHANNELS; c++) {
		if (d->held[c] >= most)
			db_array_add(&full, channel_table[c]->name);
		else if (d->held[c] > busiest)
			busiest = d->held[c];
	}
	int want = most - busiest;
	if (want > CLAIM_MAX)
		want = CLAIM_MAX;
	if (want > d->cap - d->used_n)
		want = d->cap - d->used_n;
	const char *full_list = db_array_str(&full);
	if (want <= 0 || !full_list) {
		db_array_free(&full);
		return 0;
	}
	long long t0 = clock_ms();
	int n = queue_claim_with(d->w->db, SQL_DELIVER_CLAIM, d->kinds, lease_s(d), jobs, want,
				 full_list);
	db_array_free(&full);
	int loaded = n > 0 ? deliveries_load(d->w, jobs, n) : 0;
	d->stats.claims++;
	d->stats.claim_ms += clock_ms() - t0;
	if (n <= 0)
		return n < 0 ? -1 : 0;
	if (loaded) {
		/* the leases lapse and the jobs come back: nothing was sent */
		for (int i = 0; i < n; i++) {
			delivery_free(&jobs[i]);
			job_free(&jobs[i]);
		}
		return -1;
	}
	d->stats.claimed += n;
	for (int i = 0; i < n; i++) {
		int slot = take_place(d, &jobs[i]);
		if (slot >= 0)
			d->ready[d->nready++] = slot;
	}
	return n;
}

/* Starts what is ready, oldest first, where its channel has a place. */
static void start_ready(struct deliverer *d)
{
	int kept = 0;

	for (int i = 0; i < d->nready; i++) {
		struct delivery_try *a = d->pool[d->ready[i]].state;
		int c = channel_index(a->channel);
		if (d->in_flight[c] >= d->limit) {
			d->ready[kept++] = d->ready[i];
		} else if (delivery_paced(d->w, a)) {
			finished(d, a);	/* waits its turn as a new job */
		} else {
			delivery_start(d->w, d->multi, a);
			d->in_flight[c]++;
			d->running++;
		}
	}
	d->nready = kept;
}

/* The requests that came back: their outcome, their places. */
static void collect(struct deliverer *d)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(d->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct delivery_try *a;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&a);
		delivery_finish(d->w, d->multi, a, msg->data.result);
		d->in_flight[channel_index(a->channel)]--;
		d->running--;
		finished(d, a);
	}
}

static void forget(struct deliverer *d, int slot)
{
	int c = channel_index(((struct delivery_try *)d->pool[slot].state)->channel);

	if (c >= 0)
		d->held[c]--;
	delivery_free(&d->pool[slot]);
	job_free(&d->pool[slot]);
	d->used[slot] = false;
	d->used_n--;
	d->freed++;
}

/* Which of @jobs[0..n) have deliveries of their address waiting in the
 * table (@waits[i]); -1 when the database could not say. */
static int waiting_keys(struct deliverer *d, const struct job *jobs, int n, bool *waits)
{
	struct db_array keys = { 0 };
	PGresult *res = NULL;

	for (int i = 0; i < n; i++)
		db_array_add(&keys, jobs[i].key);
	const char *params[] = { db_array_str(&keys) };
	int rc = params[0] ? db_exec(d->w->db, SQL_DELIVER_WAITING, params, &res) : ERR_INTERNAL;
	db_array_free(&keys);
	if (rc)
		return -1;
	for (int i = 0; i < n; i++) {
		waits[i] = false;
		for (int r = 0; r < PQntuples(res) && !waits[i]; r++)
			waits[i] = !strcmp(PQgetvalue(res, r, 0), jobs[i].key);
	}
	PQclear(res);
	return 0;
}

/* Another place holding a delivery to @slot's address, or -1. */
static int ahead_of(const struct deliverer *d, int slot)
{
	for (int i = 0; i < d->cap; i++)
		if (i != slot && d->used[i] && !strcmp(d->pool[i].key, d->pool[slot].key))
			return i;
	return -1;
}

/* The record in @slot, still here, gets its leased stand-in in the table
 * (once): the table's later jobs of its address wait for it. */
static int stand_in(struct deliverer *d, int slot)
{
	struct job *j = &d->pool[slot];
	struct delivery_try *a = j->state;
	char lease[16];
	PGresult *res = NULL;

	if (!j->kafka || a->stand_in || a->handover)
		return 0;	/* a job of the table is its own stand-in; a handover is one */
	snprintf(lease, sizeof(lease), "%d", lease_s(d));
	const char *params[] = { j->key, json_object_to_json_string_ext(j->payload, JSON_C_TO_STRING_PLAIN),
				 lease };
	if (db_exec(d->w->db, SQL_DELIVER_STAND_IN, params, &res))
		return -1;
	a->stand_in = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/*
 * bus = kafka: as many records as there are free places. Each goes out now
 * (ready) or is handed over to the table (done at once: recorded as a
 * `deliver_wait` job with its offset); see the top of this file. Returns
 * how many were claimed, or -1 when the database failed it (what it could
 * not place goes back to be read again).
 */
static int claim_bus(struct deliverer *d)
{
	struct job jobs[CLAIM_MAX];
	bool waits[CLAIM_MAX];
	int want = d->cap - d->used_n, rc;

	if (want > CLAIM_MAX)
		want = CLAIM_MAX;
	int n = want > 0 ? queue_kafka_claim(d->bus, jobs, want, 0) : 0;
	if (n <= 0)
		return n < 0 ? -1 : 0;
	rc = n;
	worker_count_consumed(d->w, n);
	if (deliveries_load(d->w, jobs, n) || waiting_keys(d, jobs, n, waits)) {
		/* read again from memory later: nothing was sent */
		for (int i = 0; i < n; i++) {
			queue_kafka_give_back(d->bus, &jobs[i]);
			delivery_free(&jobs[i]);
			job_free(&jobs[i]);
		}
		return -1;
	}
	for (int i = 0; i < n; i++) {
		int slot = take_place(d, &jobs[i]);
		if (slot < 0)
			continue;
		struct delivery_try *a = d->pool[slot].state;
		int c = channel_index(a->channel);
		int ahead = ahead_of(d, slot);
		if (ahead < 0 && !waits[i] && d->held[c] <= 2 * d->limit) {
			d->ready[d->nready++] = slot;
			continue;
		}
		if (ahead >= 0 && stand_in(d, ahead)) {
			/* without it the table could send this one first: it waits
			 * here, for a claim once the database answers again */
			queue_kafka_give_back(d->bus, &d->pool[slot]);
			forget(d, slot);
			rc = -1;
			continue;
		}
		a->handover = true;
		metrics_observe(d->w->bus_metrics, KAFKA_HANDED_OVER, 200, 0);
		finished(d, a);
	}
	d->stats.claimed += n;
	return rc;
}

/* @jobs[0..n) are done, in the open transaction: the table's jobs (and
 * the records' stand-ins) deleted, the records' offsets stored. */
static int acknowledge(struct deliverer *d, const struct job *jobs, int n)
{
	struct job *rows = calloc(2 * (size_t)n, sizeof(*rows));
	struct job *records = calloc((size_t)n, sizeof(*records));
	int nrows = 0, nrecords = 0, rc = 0;

	if (!rows || !records)
		rc = ERR_INTERNAL;
	for (int i = 0; i < n && !rc; i++) {
		const struct delivery_try *a = jobs[i].state;
		if (jobs[i].kafka)
			records[nrecords++] = jobs[i];
		else
			rows[nrows++] = jobs[i];
		if (a && a->stand_in)
			rows[nrows++].id = a->stand_in;
	}
	if (!rc && nrows)
		rc = queue_ack_many(d->w->db, rows, nrows);
	if (!rc && nrecords)
		rc = queue_kafka_ack(d->bus, records, nrecords);
	free(rows);
	free(records);
	return rc;
}

/* One job in a transaction of its own (after its group failed to commit). */
static void record_alone(struct deliverer *d, struct job *j)
{
	struct worker *w = d->w;
	int rc;

	if (!(rc = db_begin(w->db)) && !(rc = delivery_record(w, j)) &&
	    !(rc = acknowledge(d, j, 1)) && !(rc = db_commit(w->db))) {
		deliveries_announce(w, j, 1);
		return;
	}
	db_rollback(w->db);
	log_warn(j->req_id[0] ? j->req_id : NULL, "recording delivery job %lld failed: %s", j->id,
		 db_sqlstate(w->db));
	/* sent or not, it runs again later: at least once, towards providers too */
	if (j->kafka)
		queue_kafka_fail(d->bus, j, "recording the delivery failed", 1000);
	else if (queue_fail(w->db, j, "recording the delivery failed", 1000) < 0)
		log_error(NULL, "cannot record the failure of job %lld", j->id);
}

/* Everything that finished since the last turn, in one transaction. */
static void record(struct deliverer *d)
{
	struct worker *w = d->w;
	struct job *jobs;
	int n = d->ndone, rc = 0;

	if (!n || !(jobs = malloc((size_t)n * sizeof(*jobs))))
		return;
	long long t0 = clock_ms();
	for (int i = 0; i < n; i++)
		jobs[i] = d->pool[d->done[i]];
	if (!(rc = db_begin(w->db))) {
		for (int i = 0; i < n && !rc; i++)
			rc = delivery_record(w, &jobs[i]);
		if (!rc)
			rc = acknowledge(d, jobs, n);
		if (!rc)
			rc = db_commit(w->db);
		if (rc)
			db_rollback(w->db);
	}
	if (!rc) {
		deliveries_announce(w, jobs, n);
	} else {
		log_warn(NULL, "recording %d deliveries failed (%s); one by one", n,
			 db_sqlstate(w->db));
		for (int i = 0; i < n; i++)
			record_alone(d, &jobs[i]);
	}
	for (int i = 0; i < n; i++)
		forget(d, d->done[i]);
	d->ndone = 0;
	free(jobs);
	d->stats.records++;
	d->stats.recorded += n;
	d->stats.record_ms += clock_ms() - t0;
}

/* Where the time went, for whoever tunes channel_concurrency. */
static void log_stats(struct deliverer *d)
{
	long long now = clock_ms(), span = now - d->stats.since;

	if (span < STATS_MS)
		return;
	if (d->stats.recorded)
		log_info(NULL, "deliverer: %ld recorded in %.1f s (%.0f/s); %ld claims took %lld ms (%ld jobs), "
			 "%ld recordings %lld ms; %d in flight",
			 d->stats.recorded, span / 1000.0, d->stats.recorded * 1000.0 / span,
			 d->stats.claims, d->stats.claim_ms, d->stats.claimed, d->stats.records,
			 d->stats.record_ms, d->running);
	memset(&d->stats, 0, sizeof(d->stats));
	d->stats.since = now;
}

/* Waits for an answer, a notify naming `deliver`, records (bus), or @ms;
 * true when told of the table's new jobs. */
static bool wait_for_work(struct deliverer *d, int ms)
{
	PGconn *c = db_conn(d->w->db);
	struct curl_waitfd fds[2];
	unsigned nfds = 0;
	int pg = PQsocket(c);
	bool woken = false;
	PGnotify *n;

	if (pg >= 0)
		fds[nfds++] = (struct curl_waitfd){ .fd = pg, .events = CURL_WAIT_POLLIN };
	if (d->bus_fd >= 0)
		fds[nfds++] = (struct curl_waitfd){ .fd = d->bus_fd, .events = CURL_WAIT_POLLIN };
	curl_multi_poll(d->multi, nfds ? fds : NULL, nfds, ms, NULL);
	if (pg < 0)
		return false;
	PQconsumeInput(c);
	while ((n = PQnotifies(c))) {
		woken = woken || !strcmp(n->extra, "deliver");
		PQfreemem(n);
	}
	return woken;
}

int deliver_run(struct worker *w)
{
	struct sigaction sa = { .sa_handler = on_term };	/* no SA_RESTART: wake poll() */
	struct deliverer d = { .w = w, .limit = (int)w->conf.channel_concurrency, .bus_fd = -1,
			       .kinds = "{deliver,deliver_wait}" };
	long long next_claim = 0, bus_after = 0;
	bool woken = true;
	int rc = 0;
	char err[512];

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (d.limit < 1)
		d.limit = 1;
	d.cap = NCHANNELS * 2 * d.limit;
	d.pool = calloc((size_t)d.cap, sizeof(*d.pool));
	d.used = calloc((size_t)d.cap, sizeof(*d.used));
	d.ready = calloc((size_t)d.cap, sizeof(*d.ready));
	d.done = calloc((size_t)d.cap, sizeof(*d.done));
	if (!d.pool || !d.used || !d.ready || !d.done || !(d.multi = curl_multi_init())) {
		rc = 1;
		goto out;
	}
	if (!strcmp(w->conf.bus, "kafka")) {
		char group[160];
		/* the table's `deliver` rows are the relay's to publish */
		d.kinds = "{deliver_wait}";
		snprintf(group, sizeof(group), "%sdeliver", w->conf.kafka_topic_prefix);
		if (!(w->kafka_deliveries = queue_kafka_new(&w->conf, w->db, group, KAFKA_DELIVERIES,
							    "deliver", err, sizeof(err))) ||
		    (d.bus_fd = queue_kafka_wake_fd(w->kafka_deliveries)) < 0) {
			log_error(NULL, "deliverer: kafka: %s", w->kafka_deliveries ? "no wake-up pipe" : err);
			rc = 1;
			goto out;
		}
		d.bus = w->kafka_deliveries;
	}
	while (!stopping && queue_listen(w->db)) {
		log_warn(NULL, "waiting for the database");
		sleep(1);
	}
	log_info(NULL, "deliverer ready (%d requests in flight per channel%s)", d.limit,
		 d.bus ? "; records from Kafka" : "");
	/* A claim costs a query (and the loop waits for it): make one when
	 * told of new jobs, when half a channel's places were freed, once a
	 * second (retries coming due), and else at most every CLAIM_GAP_MS
	 * when places were freed and nothing is ready to start: an address's
	 * next message becomes claimable only once the one before it is
	 * recorded, and should not wait for the second. */
	int claim_min = d.limit / 2 > 1 ? d.limit / 2 : 1;
	long long last_claim = 0;
	while (!stopping || d.running || d.nready) {	/* what was claimed is finished */
		long long now = clock_ms();
		if (!stopping && (woken || d.freed >= claim_min || now >= next_claim ||
				  (d.freed > 0 && !d.nready && now - last_claim >= CLAIM_GAP_MS))) {
			woken = false;
			d.freed = 0;
			if (claim_table(&d) < 0) {
				sleep(1);	/* the database went away: db_exec reconnects */
				queue_listen(w->db);
			}
			last_claim = clock_ms();
			next_claim = last_claim + IDLE_CLAIM_MS;
		}
		/* records: whatever has come, each turn (no query when none) */
		if (d.bus && !stopping && now >= bus_after && claim_bus(&d) < 0)
			bus_after = clock_ms() + 1000;	/* the database is away */
		int still;
		start_ready(&d);
		curl_multi_perform(d.multi, &still);
		collect(&d);
		/* the freed places start their next request before the database
		 * hears of the answers */
		start_ready(&d);
		curl_multi_perform(d.multi, &still);
		record(&d);
		log_stats(&d);
		if (d.freed < claim_min || stopping) {
			long long ms = (d.freed && !d.nready ? last_claim + CLAIM_GAP_MS : next_claim) - clock_ms();
			int cap = d.running ? 100 : IDLE_CLAIM_MS;
			woken = wait_for_work(&d, ms < 0 ? 0 : ms > cap ? cap : (int)ms) || woken;
		}
	}
	log_info(NULL, "deliverer stopped");
out:
	queue_kafka_free(w->kafka_deliveries);
	w->kafka_deliveries = NULL;
	if (d.multi)
		curl_multi_cleanup(d.multi);
	free(d.pool);
	free(d.used);
	free(d.ready);
	free(d.done);
	return rc;
}
