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
 */
#include "deliveries.h"

#include "../lib/db.h"
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

/*
 * Claims what fits: never more than any channel not yet full could take,
 * and nothing for the full ones, so no channel ever holds more than
 * 2 * limit jobs (start_ready() keeps `limit` of them in flight) and a
 * channel that hangs holds only its own places. Returns how many were
 * claimed, or -1.
 */
static int claim(struct deliverer *d)
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
	/* the lease outlasts a wait behind a hanging request and its own
	 * slowest answer: no one else claims a job held here */
	int lease = (int)(d->w->conf.worker_lease + 2 * d->w->conf.channel_timeout_ms / 1000 + 1);
	long long t0 = worker_now_ms();
	int n = queue_claim_with(d->w->db, SQL_DELIVER_CLAIM, "deliver", lease, jobs, want, full_list);
	db_array_free(&full);
	int loaded = n > 0 ? deliveries_load(d->w, jobs, n) : 0;
	d->stats.claims++;
	d->stats.claim_ms += worker_now_ms() - t0;
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
		int slot = place(d, &jobs[i]);
		struct delivery_try *a = d->pool[slot].state;
		int c = channel_index(a->channel);
		if (c >= 0)
			d->held[c]++;
		if (a->pending && a->req.body && c >= 0)
			d->ready[d->nready++] = slot;
		else
			finished(d, a);	/* nothing to send: done already, or unbuildable */
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

/* One job in a transaction of its own (after its group failed to commit). */
static void record_alone(struct deliverer *d, struct job *j)
{
	struct worker *w = d->w;
	int rc;

	if (!(rc = db_begin(w->db)) && !(rc = delivery_record(w, j)) &&
	    !(rc = queue_ack(w->db, j)) && !(rc = db_commit(w->db))) {
		deliveries_announce(w, j, 1);
		return;
	}
	db_rollback(w->db);
	log_warn(j->req_id[0] ? j->req_id : NULL, "recording delivery job %lld failed: %s", j->id,
		 db_sqlstate(w->db));
	/* sent or not, it runs again later: at least once, towards providers too */
	if (queue_fail(w->db, j, "recording the delivery failed", 1000) < 0)
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
	long long t0 = worker_now_ms();
	for (int i = 0; i < n; i++)
		jobs[i] = d->pool[d->done[i]];
	if (!(rc = db_begin(w->db))) {
		for (int i = 0; i < n && !rc; i++)
			rc = delivery_record(w, &jobs[i]);
		if (!rc)
			rc = queue_ack_many(w->db, jobs, n);
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
	d->stats.record_ms += worker_now_ms() - t0;
}

/* Where the time went, for whoever tunes channel_concurrency. */
static void log_stats(struct deliverer *d)
{
	long long now = worker_now_ms(), span = now - d->stats.since;

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

/* Waits for an answer, a notify naming `deliver`, or @ms. */
static bool wait_for_work(struct deliverer *d, int ms)
{
	PGconn *c = db_conn(d->w->db);
	struct curl_waitfd pg = { .fd = PQsocket(c), .events = CURL_WAIT_POLLIN };
	bool woken = false;
	PGnotify *n;

	curl_multi_poll(d->multi, pg.fd >= 0 ? &pg : NULL, pg.fd >= 0 ? 1 : 0, ms, NULL);
	if (pg.fd < 0)
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
	struct deliverer d = { .w = w, .limit = (int)w->conf.channel_concurrency };
	long long next_claim = 0;
	bool woken = true;
	int rc = 0;

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
	while (!stopping && queue_listen(w->db)) {
		log_warn(NULL, "waiting for the database");
		sleep(1);
	}
	log_info(NULL, "deliverer ready (%d requests in flight per channel)", d.limit);
	/* A claim costs a query (and the loop waits for it): make one when
	 * told of new jobs, when half a channel's places were freed, once a
	 * second (retries coming due), and else at most every CLAIM_GAP_MS
	 * when places were freed and nothing is ready to start: an address's
	 * next message becomes claimable only once the one before it is
	 * recorded, and should not wait for the second. */
	int claim_min = d.limit / 2 > 1 ? d.limit / 2 : 1;
	long long last_claim = 0;
	while (!stopping || d.running || d.nready) {	/* what was claimed is finished */
		long long now = worker_now_ms();
		if (!stopping && (woken || d.freed >= claim_min || now >= next_claim ||
				  (d.freed > 0 && !d.nready && now - last_claim >= CLAIM_GAP_MS))) {
			woken = false;
			d.freed = 0;
			if (claim(&d) < 0) {
				sleep(1);	/* the database went away: db_exec reconnects */
				queue_listen(w->db);
			}
			last_claim = worker_now_ms();
			next_claim = last_claim + IDLE_CLAIM_MS;
		}
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
			long long ms = (d.freed && !d.nready ? last_claim + CLAIM_GAP_MS : next_claim) - worker_now_ms();
			int cap = d.running ? 100 : IDLE_CLAIM_MS;
			woken = wait_for_work(&d, ms < 0 ? 0 : ms > cap ? cap : (int)ms) || woken;
		}
	}
	log_info(NULL, "deliverer stopped");
out:
	if (d.multi)
		curl_multi_cleanup(d.multi);
	free(d.pool);
	free(d.used);
	free(d.ready);
	free(d.done);
	return rc;
}
