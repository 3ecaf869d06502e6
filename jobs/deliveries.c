/*
 * deliveries.c - one delivery, from its row to its outcome (deliveries.h).
 * The answer decides (lib/channels.c):
 *   sent    the delivery records the provider's message id;
 *   retry   429 (after its Retry-After / retry_after), 5xx, a timeout or
 *           no answer: a new job later, exponential backoff with jitter;
 *   failed  a 4xx that will never pass, or delivery_max_attempts used:
 *           the delivery is failed, the job goes to dead_jobs and the
 *           sender gets a `status` event.
 */
#include "deliveries.h"

#include "../lib/auth.h"
#include "../lib/channels.h"
#include "../lib/err.h"
#include "../lib/events.h"
#include "../lib/kv_keys.h"
#include "../lib/log.h"
#include "../lib/netguard.h"
#include "../lib/ratelimit.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ANSWER_MAX (64 * 1024)
#define RETRY_AFTER_MAX 3600	/* seconds: a provider's wish, within reason */

void delivery_free(struct job *j)
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

int deliveries_load(struct worker *w, struct job *jobs, int n)
{
	struct db_array ids = { 0 };
	PGresult *res = NULL;
	int rc;

	for (int i = 0; i < n; i++) {
		struct delivery_try *a = calloc(1, sizeof(*a));
		if (!a) {
			db_array_free(&ids);
			return ERR_INTERNAL;
		}
		a->delivery = delivery_id(&jobs[i]);
		jobs[i].state = a;
		db_array_add_ll(&ids, a->delivery);
	}
	const char *params[] = { db_array_str(&ids) };
	rc = params[0] ? db_exec(w->db, SQL_DELIVERY_LOAD, params, &res) : ERR_INTERNAL;
	db_array_free(&ids);
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
			snprintf(a->traceparent, sizeof(a->traceparent), "%s", PQgetvalue(res, r, 16));
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
					 channel_find(a->channel)->window_closed);
			} else if (b) {
				a->outcome = CHANNEL_FAILED;
				snprintf(a->why, sizeof(a->why), "nothing %s can carry", a->channel);
			}
		}
	}
	PQclear(res);
	return 0;
}

void delivery_start(struct worker *w, CURLM *multi, struct delivery_try *a)
{
	a->curl = curl_easy_init();
	a->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (a->req.auth[0])
		a->headers = curl_slist_append(a->headers, a->req.auth);
	if (a->traceparent[0]) {
		/* the provider request is a span of its message's trace, and
		 * tells the provider so (W3C traceparent) */
		char name[64], tp[TRACEPARENT_MAX], h[80];
		snprintf(name, sizeof(name), "deliver %s", a->channel);
		span_start(&a->span, a->traceparent, name, SPAN_CLIENT);
		span_attr_int(&a->span, "chat4all.delivery_id", a->delivery);
		span_attr(&a->span, "chat4all.message_id", a->message);
		span_attr_int(&a->span, "chat4all.attempt", a->attempts + 1);
		span_traceparent(&a->span, tp);
		snprintf(h, sizeof(h), "traceparent: %s", tp);
		a->headers = curl_slist_append(a->headers, h);
	}
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
bool delivery_paced(struct worker *w, struct delivery_try *a)
{
	char key[600];
	double rate;
	long burst;
	int wait = 0;

	if (!channel_pace(a->channel, a->address, &rate, &burst))
		return false;
	snprintf(key, sizeof(key), KV_PACE, a->channel, a->address);
	if (ratelimit_take(w->kv, key, rate, burst, NULL, &wait) != ERR_RATELIMITED)
		return false;
	a->outcome = CHANNEL_PACED;
	metrics_observe(w->channel_metrics, channel_series(a->channel, CHANNEL_PACED), 200, 0);
	a->retry_after_s = wait > 0 ? wait : 1;
	snprintf(a->why, sizeof(a->why), "paced: %s allows this chat %.2f messages a second",
		 a->channel, rate);
	return true;
}

const char *deliveries_wait_kind(const struct worker *w)
{
	return strcmp(w->conf.bus, "kafka") ? "deliver" : "deliver_wait";
}

int delivery_record(struct worker *w, struct job *j)
{
	struct delivery_try *a = j->state;
	char id[24], delay[24], job_id[24];
	const char *payload = json_object_to_json_string_ext(j->payload, JSON_C_TO_STRING_PLAIN);

	if (!a || !a->pending)
		return 0;	/* done already: the job only goes away */
	snprintf(id, sizeof(id), "%lld", a->delivery);
	if (a->handover || a->outcome == CHANNEL_PACED) {	/* (neither was sent) */
		snprintf(delay, sizeof(delay), "%d", a->handover ? 0 : a->retry_after_s * 1000);
		const char *params[] = { id, delay, j->key, payload, deliveries_wait_kind(w) };
		return db_exec(w->db, SQL_DELIVERY_DEFER, params, NULL);
	}
	if (a->outcome == CHANNEL_SENT) {
		const char *params[] = { id, a->provider_id };
		return db_exec(w->db, SQL_DELIVERY_SENT, params, NULL);
	}
	if (a->outcome == CHANNEL_RETRY && a->attempts + 1 < w->conf.delivery_max_attempts) {
		int ms = queue_backoff_ms(a->attempts + 1, (unsigned)rand());
		int wish = a->retry_after_s > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : a->retry_after_s;
		if (wish * 1000 > ms)
			ms = wish * 1000;	/* the provider said when */
		snprintf(delay, sizeof(delay), "%d", ms);
		const char *params[] = { id, a->why, delay, j->key, payload, deliveries_wait_kind(w) };
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

void deliveries_announce(struct worker *w, struct job *jobs, int n)
{
	struct events_batch *b = events_batch_new();

	for (int i = 0; i < n; i++) {
		struct delivery_try *a = jobs[i].state;
		if (!a || !a->pending)
			continue;
		trace_log_as(a->traceparent);
		if (a->handover) {
			log_line(LOG_DEBUG, jobs[i].req_id[0] ? jobs[i].req_id : NULL, NULL,
				 "delivery %lld to %s %s waits its turn in the table", a->delivery,
				 a->channel, a->address);
			continue;
		}
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
		/* (not the address: a person's number is theirs to show) */
		events_batch_status(b, a->sender, &(struct events_status){
			.message_id = a->message, .conversation_id = a->conversation,
			.seq = a->seq, .status = "failed", .channel = a->channel, .reason = a->why });
	}
	trace_log_as(NULL);
	events_batch_send(w->kv, b);
}

void delivery_finish(struct worker *w, CURLM *multi, struct delivery_try *a, CURLcode result)
{
	if (result == CURLE_OK)
		curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &a->status);
	a->outcome = channel_answer(a->channel, a->status, a->answer,
				    a->retry_after[0] ? a->retry_after : NULL, a->provider_id,
				    &a->retry_after_s, a->why);
	if (result != CURLE_OK)
		snprintf(a->why, sizeof(a->why), "%s", curl_easy_strerror(result));
	if (a->guard.refused[0]) {
		/* an address no one may make us reach: never worth a retry */
		a->outcome = CHANNEL_FAILED;
		snprintf(a->why, sizeof(a->why), "%s", a->guard.refused);
	}
	double secs = 0;
	curl_easy_getinfo(a->curl, CURLINFO_TOTAL_TIME, &secs);
	enum channel_outcome counted = a->outcome == CHANNEL_RETRY &&
				       a->attempts + 1 >= w->conf.delivery_max_attempts
					       ? CHANNEL_FAILED : a->outcome;
	metrics_observe(w->channel_metrics, channel_series(a->channel, counted), 200,
			(uint64_t)(secs * 1e6));
	if (a->traceparent[0]) {
		span_attr_int(&a->span, "http.response.status_code", a->status);
		span_attr(&a->span, "chat4all.outcome", channel_outcome_name(counted));
		a->span.error = counted == CHANNEL_FAILED || counted == CHANNEL_RETRY;
		span_end(&a->span);
	}
	curl_multi_remove_handle(multi, a->curl);
	curl_easy_cleanup(a->curl);
	curl_slist_free_all(a->headers);
	a->curl = NULL;
	a->headers = NULL;
}
