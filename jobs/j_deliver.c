/*
 * j_deliver.c - the deliverer (`chat4all-jobs deliver`): one job per
 * (message, external address), made by the release (enqueue_deliveries in
 * migrations/0005), sent by a process of its own so that a slow provider
 * never holds moderation or release up.
 *
 * Requests stay in flight through curl multi, at most channel_concurrency
 * per channel; as each answer comes its outcome is recorded (those of one
 * loop turn in one transaction) and its place is claimed again. A provider
 * that answers in 50 ms gives concurrency / 50 ms deliveries a second per
 * channel, however many processes there are. The answer decides
 * (lib/channels.c):
 *   sent    the delivery records the provider's message id;
 *   retry   429 (after its Retry-After / retry_after), 5xx, a timeout or
 *           no answer: a new job later, exponential backoff with jitter;
 *   failed  a 4xx that will never pass, or delivery_max_attempts used:
 *           the delivery is failed, the job goes to dead_jobs and the
 *           sender gets a `status` event.
 * A channel that is down or hangs holds only its own places: its jobs wait
 * (with their run_at, or unclaimed while its places are full), and every
 * other channel goes on. One address gets its messages one at a time, in
 * order (DELIVER_CLAIM): a retrying delivery holds back the later ones to
 * the same address.
 */
#include "stage.h"

#include "../lib/auth.h"
#include "../lib/channels.h"
#include "../lib/err.h"
#include "../lib/events.h"
#include "../lib/log.h"
#include "../lib/netguard.h"
#include "../lib/ratelimit.h"

#include <curl/curl.h>
#include <signal.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ANSWER_MAX (64 * 1024)
#define RETRY_AFTER_MAX 3600	/* seconds: a provider's wish, within reason */

/* One delivery in flight, and then its outcome. */
struct delivery_try {
	long long delivery;
	bool pending;			/* still queued (not done by an earlier run) */
	char channel[16], address[520];
	int attempts;			/* before this one */
	char message[37], conversation[37], sender[37];
	long long seq;
	struct channel_request req;
	CURL *curl;
	struct curl_slist *headers;
	char *answer;
	size_t answer_len;
	char retry_after[16];
	long status;
	enum channel_outcome outcome;
	int retry_after_s;
	char provider_id[128];
	char why[256];
	struct netguard_check guard;	/* where it may connect (an integrator's URL is a stranger's) */
	bool failed_now;		/* for announce(): tell the sender */
	int slot;			/* its job's place in the deliverer's pool */
};

static void cleanup(struct job *j)
{
	struct delivery_try *a = j->state;

	if (a) {
		channel_request_free(&a->req);
		free(a->answer);
		free(a);
	}
	j->state = NULL;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct delivery_try *a = arg;
	size_t len = size * n;

	if (a->answer_len + len < ANSWER_MAX) {
		char *b = realloc(a->answer, a->answer_len + len + 1);
		if (!b)
			return 0;
		memcpy(b + a->answer_len, p, len);
		a->answer = b;
		a->answer_len += len;
		a->answer[a->answer_len] = '\0';
	}
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct delivery_try *a = arg;
	size_t len = size * n;

	if (len > 12 && !strncasecmp(p, "Retry-After:", 12))
		snprintf(a->retry_after, sizeof(a->retry_after), "%.*s", (int)strcspn(p + 12, "\r\n"),
			 p + 12 + strspn(p + 12, " "));
	return len;
}

static long long delivery_id(const struct job *j)
{
	struct json_object *v;

	return j->payload && json_object_object_get_ex(j->payload, "delivery_id", &v)
		       ? json_object_get_int64(v) : 0;
}

/* The file's signed link, absolute: the provider fetches it. */
static void file_link(struct worker *w, const char *file_id, char *out, size_t len)
{
	char sig[65];
	long long exp = (long long)time(NULL) + w->conf.file_link_ttl;

	auth_link_sign(w->conf.jwt_secret, file_id, exp, sig);
	snprintf(out, len, "%s/v1/files/%s/content?expires=%lld&sig=%s", w->conf.public_url, file_id,
		 exp, sig);
}

/* Loads the batch's deliveries and builds their requests. */
static int load(struct worker *w, struct job *jobs, int n)
{
	size_t cap = 3 + (size_t)n * 21;
	char *ids = malloc(cap), *p = ids;
	PGresult *res = NULL;
	int rc;

	if (!ids)
		return ERR_INTERNAL;
	*p++ = '{';
	for (int i = 0; i < n; i++) {
		struct delivery_try *a = calloc(1, sizeof(*a));
		if (!a) {
			free(ids);
			return ERR_INTERNAL;
		}
		a->delivery = delivery_id(&jobs[i]);
		jobs[i].state = a;
		p += sprintf(p, "%s%lld", i ? "," : "", a->delivery);
	}
	strcpy(p, "}");
	const char *params[] = { ids };
	rc = db_exec(w->db, SQL_DELIVERY_LOAD, params, &res);
	free(ids);
	if (rc)
		return rc;
	for (int r = 0; r < PQntuples(res); r++) {
		long long id = atoll(PQgetvalue(res, r, 0));
		for (int i = 0; i < n; i++) {
			struct delivery_try *a = jobs[i].state;
			if (a->delivery != id || a->pending)
				continue;
			a->pending = !strcmp(PQgetvalue(res, r, 3), "queued");
			snprintf(a->channel, sizeof(a->channel), "%s", PQgetvalue(res, r, 1));
			snprintf(a->address, sizeof(a->address), "%s", PQgetvalue(res, r, 2));
			a->attempts = atoi(PQgetvalue(res, r, 4));
			snprintf(a->message, sizeof(a->message), "%s", PQgetvalue(res, r, 10));
			snprintf(a->conversation, sizeof(a->conversation), "%s", PQgetvalue(res, r, 11));
			snprintf(a->sender, sizeof(a->sender), "%s", PQgetvalue(res, r, 12));
			a->seq = atoll(PQgetvalue(res, r, 13));
			char link[512] = "";
			if (!PQgetisnull(res, r, 6))
				file_link(w, PQgetvalue(res, r, 6), link, sizeof(link));
			struct channel_msg m = {
				.channel = a->channel, .address = a->address,
				.message_id = a->message, .conversation_id = a->conversation,
				.sender_id = a->sender,
				.text = PQgetisnull(res, r, 5) ? NULL : PQgetvalue(res, r, 5),
				.file_url = link[0] ? link : NULL,
				.file_name = PQgetvalue(res, r, 7), .file_mime = PQgetvalue(res, r, 8),
				.file_size = atoll(PQgetvalue(res, r, 9)),
				.inbound_age_s = atoll(PQgetvalue(res, r, 14)),
				.sender_name = PQgetvalue(res, r, 15),
			};
			int b = a->pending ? channel_request_build(&w->conf, &m, &a->req) : 0;
			if (b == ERR_UNAVAILABLE) {
				a->outcome = CHANNEL_RETRY;	/* configured later, perhaps */
				snprintf(a->why, sizeof(a->why), "%s is not configured here", a->channel);
			} else if (b == ERR_FORBIDDEN) {
				a->outcome = CHANNEL_FAILED;	/* the provider would refuse it */
				snprintf(a->why, sizeof(a->why), "%s",
					 !strcmp(a->channel, "whatsapp")
						 ? "outside WhatsApp's 24-hour window (no message from this "
						   "number in the last 24 h) and no whatsapp_template configured"
						 : "outside the provider's window: this person has not written "
						   "to us in the last 7 days");
			} else if (b) {
				a->outcome = CHANNEL_FAILED;
				snprintf(a->why, sizeof(a->why), "nothing %s can carry", a->channel);
			}
		}
	}
	PQclear(res);
	return 0;
}

static void start(struct worker *w, CURLM *multi, struct delivery_try *a)
{
	a->curl = curl_easy_init();
	a->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (a->req.auth[0])
		a->headers = curl_slist_append(a->headers, a->req.auth);
	curl_easy_setopt(a->curl, CURLOPT_URL, a->req.url);
	curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, a->req.body);
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, a->headers);
	curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(a->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(a->curl, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(a->curl, CURLOPT_TIMEOUT_MS, w->conf.channel_timeout_ms);
	curl_easy_setopt(a->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(a->curl, CURLOPT_PRIVATE, a);
	a->guard.guard = w->guard;
	netguard_attach(a->curl, &a->guard);
	curl_multi_add_handle(multi, a->curl);
}

/* A chat the provider limits (Telegram: ~1 message a second) gets a token
 * bucket in Redis, shared by every worker; without a token the delivery
 * waits its turn as a new job, spending no attempt. */
static bool paced(struct worker *w, struct delivery_try *a)
{
	char key[600];
	double rate;
	long burst;
	int wait = 0;

	if (!channel_pace(a->channel, a->address, &rate, &burst))
		return false;
	snprintf(key, sizeof(key), "c4a:pace:%s:%s", a->channel, a->address);
	if (ratelimit_take(w->kv, key, rate, burst, NULL, &wait) != ERR_RATELIMITED)
		return false;
	a->outcome = CHANNEL_PACED;
	metrics_observe(w->channel_metrics, channel_series(a->channel, CHANNEL_PACED), 200, 0);
	a->retry_after_s = wait > 0 ? wait : 1;
	snprintf(a->why, sizeof(a->why), "paced: %s allows this chat %.2f messages a second",
		 a->channel, rate);
	return true;
}

/* The outcome of @j into the books, in the open transaction. */
static int record_one(struct worker *w, struct job *j)
{
	struct delivery_try *a = j->state;
	char id[24], delay[24], job_id[24];
	const char *payload = json_object_to_json_string_ext(j->payload, JSON_C_TO_STRING_PLAIN);

	if (!a || !a->pending)
		return 0;	/* done already: the job only goes away */
	snprintf(id, sizeof(id), "%lld", a->delivery);
	if (a->outcome == CHANNEL_SENT) {
		const char *params[] = { id, a->provider_id };
		return db_exec(w->db, SQL_DELIVERY_SENT, params, NULL);
	}
	if (a->outcome == CHANNEL_PACED) {
		snprintf(delay, sizeof(delay), "%d", a->retry_after_s * 1000);
		const char *params[] = { id, delay, j->key, payload };
		return db_exec(w->db, SQL_DELIVERY_DEFER, params, NULL);
	}
	if (a->outcome == CHANNEL_RETRY && a->attempts + 1 < w->conf.delivery_max_attempts) {
		int ms = queue_backoff_ms(a->attempts + 1, (unsigned)rand());
		int wish = a->retry_after_s > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : a->retry_after_s;
		if (wish * 1000 > ms)
			ms = wish * 1000;	/* the provider said when */
		snprintf(delay, sizeof(delay), "%d", ms);
		const char *params[] = { id, a->why, delay, j->key, payload };
		return db_exec(w->db, SQL_DELIVERY_RETRY, params, NULL);
	}
	snprintf(job_id, sizeof(job_id), "%lld", j->id);
	const char *params[] = { id, a->why, job_id, j->key, payload };
	const char *msg[] = { a->message };
	a->failed_now = true;
	int rc = db_exec(w->db, SQL_DELIVERY_FAILED, params, NULL);
	if (rc || !a->message[0])
		return rc;	/* (a code that proves an address belongs to no message) */
	return db_exec(w->db, SQL_MESSAGE_FAIL_IF_UNDELIVERED, msg, NULL);
}

/* After the commit: the logs, and each sender whose delivery failed hears of it. */
static void announce(struct worker *w, struct job *jobs, int n)
{
	struct events_batch *b = events_batch_new();

	for (int i = 0; i < n; i++) {
		struct delivery_try *a = jobs[i].state;
		if (!a || !a->pending)
			continue;
		log_line(a->outcome == CHANNEL_SENT ? LOG_INFO : LOG_WARN,
			 jobs[i].req_id[0] ? jobs[i].req_id : NULL, NULL,
			 "delivery %lld to %s %s: %s (attempt %d)%s%s", a->delivery, a->channel,
			 a->address, a->outcome == CHANNEL_SENT ? "sent"
				     : a->failed_now ? "failed"
				     : a->outcome == CHANNEL_PACED ? "paced" : "retry later",
			 a->attempts + 1, a->outcome == CHANNEL_SENT ? "" : ": ",
			 a->outcome == CHANNEL_SENT ? "" : a->why);
		if (!a->failed_now || !a->message[0])
			continue;
		struct json_object *st = json_object_new_object();
		const char *sender = a->sender;
		json_object_object_add(st, "message_id", json_object_new_string(a->message));
		json_object_object_add(st, "conversation_id", json_object_new_string(a->conversation));
		json_object_object_add(st, "seq", json_object_new_int64(a->seq));
		json_object_object_add(st, "status", json_object_new_string("failed"));
		/* (not the address: a person's number is theirs to show) */
		json_object_object_add(st, "channel", json_object_new_string(a->channel));
		json_object_object_add(st, "reason", json_object_new_string(a->why));
		events_batch_add(b, &sender, 1, "status",
				 json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN), true);
		json_object_put(st);
	}
	events_batch_send(w->kv, b);
}


/* ---- the deliverer: requests kept in flight, results recorded as they come ---- */

#define CLAIM_MAX 64
#define IDLE_CLAIM_MS 1000	/* retries and expired leases come due without a notify */
#define CLAIM_GAP_MS 10
#define STATS_MS 10000

static const char *const CHANNEL_NAMES[] = { "whatsapp", "telegram", "messenger", "instagram",
					     "webhook" };
#define NCHANNELS (int)(sizeof(CHANNEL_NAMES) / sizeof(CHANNEL_NAMES[0]))

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

static int channel_index(const char *channel)
{
	for (int i = 0; i < NCHANNELS; i++)
		if (!strcmp(CHANNEL_NAMES[i], channel))
			return i;
	return -1;
}

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
	char full[128] = "{";
	int busiest = 0, most = 2 * d->limit;

	for (int c = 0; c < NCHANNELS; c++) {
		if (d->held[c] >= most)
			snprintf(full + strlen(full), sizeof(full) - strlen(full), "%s%s",
				 full[1] ? "," : "", CHANNEL_NAMES[c]);
		else if (d->held[c] > busiest)
			busiest = d->held[c];
	}
	strcat(full, "}");
	int want = most - busiest;
	if (want > CLAIM_MAX)
		want = CLAIM_MAX;
	if (want > d->cap - d->used_n)
		want = d->cap - d->used_n;
	if (want <= 0)
		return 0;
	/* the lease outlasts a wait behind a hanging request and its own
	 * slowest answer: no one else claims a job held here */
	int lease = (int)(d->w->conf.worker_lease + 2 * d->w->conf.channel_timeout_ms / 1000 + 1);
	long long t0 = worker_now_ms();
	int n = queue_claim_with(d->w->db, SQL_DELIVER_CLAIM, "deliver", lease, jobs, want, full);
	int loaded = n > 0 ? load(d->w, jobs, n) : 0;
	d->stats.claims++;
	d->stats.claim_ms += worker_now_ms() - t0;
	if (n <= 0)
		return n < 0 ? -1 : 0;
	if (loaded) {
		/* the leases lapse and the jobs come back: nothing was sent */
		for (int i = 0; i < n; i++) {
			cleanup(&jobs[i]);
			job_release(&jobs[i]);
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
		} else if (paced(d->w, a)) {
			finished(d, a);	/* waits its turn as a new job */
		} else {
			start(d->w, d->multi, a);
			d->in_flight[c]++;
			d->running++;
		}
	}
	d->nready = kept;
}

/* The requests that came back: their outcome, their places. */
static void collect(struct deliverer *d)
{
	struct worker *w = d->w;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(d->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct delivery_try *a;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&a);
		if (msg->data.result == CURLE_OK)
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &a->status);
		a->outcome = channel_answer(a->channel, a->status, a->answer,
					    a->retry_after[0] ? a->retry_after : NULL, a->provider_id,
					    &a->retry_after_s, a->why);
		if (msg->data.result != CURLE_OK)
			snprintf(a->why, sizeof(a->why), "%s", curl_easy_strerror(msg->data.result));
		if (a->guard.refused[0]) {
			/* an address no one may make us reach: never worth a retry */
			a->outcome = CHANNEL_FAILED;
			snprintf(a->why, sizeof(a->why), "%s", a->guard.refused);
		}
		double secs = 0;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_TOTAL_TIME, &secs);
		enum channel_outcome counted = a->outcome == CHANNEL_RETRY &&
					       a->attempts + 1 >= w->conf.delivery_max_attempts
						       ? CHANNEL_FAILED : a->outcome;
		metrics_observe(w->channel_metrics, channel_series(a->channel, counted), 200,
				(uint64_t)(secs * 1e6));
		curl_multi_remove_handle(d->multi, msg->easy_handle);
		curl_easy_cleanup(msg->easy_handle);
		curl_slist_free_all(a->headers);
		a->curl = NULL;
		a->headers = NULL;
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
	cleanup(&d->pool[slot]);
	job_release(&d->pool[slot]);
	d->used[slot] = false;
	d->used_n--;
	d->freed++;
}

/* One job in a transaction of its own (after its group failed to commit). */
static void record_alone(struct deliverer *d, struct job *j)
{
	struct worker *w = d->w;
	int rc;

	if (!(rc = db_run(w->db, "BEGIN")) && !(rc = record_one(w, j)) &&
	    !(rc = queue_ack(w->db, j)) && !(rc = db_run(w->db, "COMMIT"))) {
		announce(w, j, 1);
		return;
	}
	db_run(w->db, "ROLLBACK");
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
	if (!(rc = db_run(w->db, "BEGIN"))) {
		for (int i = 0; i < n && !rc; i++)
			rc = record_one(w, &jobs[i]);
		if (!rc)
			rc = queue_ack_many(w->db, jobs, n);
		if (!rc)
			rc = db_run(w->db, "COMMIT");
		if (rc)
			db_run(w->db, "ROLLBACK");
	}
	if (!rc) {
		announce(w, jobs, n);
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
