/*
 * trace.c - W3C traceparent, spans, and the OTLP/HTTP JSON exporter
 * (trace.h). The exporter is one thread with a bounded list: span_end()
 * only takes a lock and appends, whatever the collector does.
 */
#include "trace.h"

#include "log.h"
#include "metrics.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define EXPORT_MAX 4096		/* spans waiting; past that they are dropped */
#define EXPORT_BATCH 512	/* a post as soon as this many wait */
#define EXPORT_EVERY_MS 1000	/* else every second */

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool all_zero(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != '0')
			return false;
	return true;
}

bool trace_parse(const char *s, struct trace_ctx *out)
{
	/* version "-" trace-id "-" parent-id "-" flags: 2-32-16-2 */
	if (!s || strlen(s) < 55 || !all_hex(s, 2) || !strncmp(s, "ff", 2) || s[2] != '-' ||
	    !all_hex(s + 3, 32) || s[35] != '-' || !all_hex(s + 36, 16) || s[52] != '-' ||
	    !all_hex(s + 53, 2) || all_zero(s + 3, 32) || all_zero(s + 36, 16))
		return false;
	/* version 00 is exactly that long; a later one may add fields after a '-' */
	if (s[55] && (!strncmp(s, "00", 2) || s[55] != '-'))
		return false;
	memcpy(out->trace_id, s + 3, 32);
	out->trace_id[32] = '\0';
	memcpy(out->span_id, s + 36, 16);
	out->span_id[16] = '\0';
	out->sampled = strtol((char[]){ s[53], s[54], '\0' }, NULL, 16) & 1;
	return true;
}

void trace_format(const struct trace_ctx *c, char out[TRACEPARENT_MAX])
{
	snprintf(out, TRACEPARENT_MAX, "00-%s-%s-%02x", c->trace_id, c->span_id, c->sampled ? 1 : 0);
}

void trace_log_as(const char *traceparent)
{
	struct trace_ctx c;

	log_trace(traceparent && trace_parse(traceparent, &c) ? c.trace_id : NULL);
}

static void random_hex(char *out, size_t bytes)
{
	unsigned char raw[16];

	if (getrandom(raw, bytes, 0) != (ssize_t)bytes)
		for (size_t i = 0; i < bytes; i++)
			raw[i] = (unsigned char)rand();
	raw[bytes - 1] |= 1;	/* never all zero */
	for (size_t i = 0; i < bytes; i++)
		sprintf(out + 2 * i, "%02x", raw[i]);
}

uint64_t trace_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double sample_ratio = 1.0;

void trace_sample(double ratio)
{
	sample_ratio = ratio < 0 ? 0 : ratio > 1 ? 1 : ratio;
}

/* A new trace is sampled with probability sample_ratio. */
static bool sampled_new(void)
{
	uint32_t r;

	if (sample_ratio >= 1)
		return true;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint32_t)rand();
	return r < sample_ratio * 4294967296.0;
}

void span_start(struct span *s, const char *parent, const char *name, enum span_kind kind)
{
	struct trace_ctx p;

	memset(s, 0, sizeof(*s));
	if (parent && trace_parse(parent, &p)) {
		memcpy(s->ctx.trace_id, p.trace_id, sizeof(p.trace_id));
		memcpy(s->parent_id, p.span_id, sizeof(p.span_id));
		s->ctx.sampled = p.sampled;
	} else {
		random_hex(s->ctx.trace_id, 16);
		s->ctx.sampled = sampled_new();
	}
	random_hex(s->ctx.span_id, 8);
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->kind = kind;
	s->start_ns = trace_now_ns();
}

static void add_attr(struct span *s, const char *key, struct json_object *value, const char *type)
{
	struct json_object *a = json_object_new_object(), *v = json_object_new_object();

	if (!s->attrs)
		s->attrs = json_object_new_array();
	json_object_object_add(v, type, value);
	json_object_object_add(a, "key", json_object_new_string(key));
	json_object_object_add(a, "value", v);
	json_object_array_add(s->attrs, a);
}

void span_attr(struct span *s, const char *key, const char *value)
{
	add_attr(s, key, json_object_new_string(value ? value : ""), "stringValue");
}

void span_attr_int(struct span *s, const char *key, long long value)
{
	char n[24];

	/* (OTLP's JSON writes a 64-bit integer as a string) */
	snprintf(n, sizeof(n), "%lld", value);
	add_attr(s, key, json_object_new_string(n), "intValue");
}

void span_traceparent(const struct span *s, char out[TRACEPARENT_MAX])
{
	trace_format(&s->ctx, out);
}

struct json_object *span_json(const struct span *s, uint64_t end_ns)
{
	struct json_object *o = json_object_new_object(), *st = json_object_new_object();
	char n[24];

	json_object_object_add(o, "traceId", json_object_new_string(s->ctx.trace_id));
	json_object_object_add(o, "spanId", json_object_new_string(s->ctx.span_id));
	if (s->parent_id[0])
		json_object_object_add(o, "parentSpanId", json_object_new_string(s->parent_id));
	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "kind", json_object_new_int(s->kind));
	snprintf(n, sizeof(n), "%llu", (unsigned long long)s->start_ns);
	json_object_object_add(o, "startTimeUnixNano", json_object_new_string(n));
	snprintf(n, sizeof(n), "%llu", (unsigned long long)end_ns);
	json_object_object_add(o, "endTimeUnixNano", json_object_new_string(n));
	json_object_object_add(o, "attributes", s->attrs ? json_object_get(s->attrs)
							: json_object_new_array());
	/* STATUS_CODE_OK 1, STATUS_CODE_ERROR 2 */
	json_object_object_add(st, "code", json_object_new_int(s->error ? 2 : 1));
	json_object_object_add(o, "status", st);
	return o;
}

/* ---- the exporter ---- */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool running, stopping;
	char *endpoint, *service;
	struct json_object *spans;	/* waiting: an array */
	uint64_t dropped;
	struct metrics *counts;	/* TRACE_EXPORTED, TRACE_DROPPED of every process */
} ex = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

void span_end(struct span *s)
{
	/* (built outside the lock: the request threads only queue behind an append) */
	struct json_object *o = __atomic_load_n(&ex.running, __ATOMIC_ACQUIRE) && s->ctx.sampled
					? span_json(s, trace_now_ns()) : NULL;

	if (o) {
		pthread_mutex_lock(&ex.mu);
		if (ex.running && json_object_array_length(ex.spans) < EXPORT_MAX) {
			json_object_array_add(ex.spans, o);
			o = NULL;
			if (json_object_array_length(ex.spans) >= EXPORT_BATCH)
				pthread_cond_signal(&ex.cv);
		} else if (ex.running) {
			ex.dropped++;
			metrics_count(ex.counts, TRACE_DROPPED, 1);
		}
		pthread_mutex_unlock(&ex.mu);
		json_object_put(o);	/* (dropped) */
	}
	json_object_put(s->attrs);
	s->attrs = NULL;
}

uint64_t trace_dropped(void)
{
	pthread_mutex_lock(&ex.mu);
	uint64_t n = ex.dropped;
	pthread_mutex_unlock(&ex.mu);
	return n;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* One OTLP ExportTraceServiceRequest of @spans (taken). */
static bool post(CURL *c, struct json_object *spans)
{
	struct json_object *req = json_object_new_object(), *rs = json_object_new_array(),
			   *r = json_object_new_object(), *res = json_object_new_object(),
			   *attrs = json_object_new_array(), *a = json_object_new_object(),
			   *v = json_object_new_object(), *ss = json_object_new_array(),
			   *sc = json_object_new_object(), *scope = json_object_new_object();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	long status = 0;
	size_t n = json_object_array_length(spans);

	json_object_object_add(v, "stringValue", json_object_new_string(ex.service));
	json_object_object_add(a, "key", json_object_new_string("service.name"));
	json_object_object_add(a, "value", v);
	json_object_array_add(attrs, a);
	json_object_object_add(res, "attributes", attrs);
	json_object_object_add(scope, "name", json_object_new_string("chat4all"));
	json_object_object_add(sc, "scope", scope);
	json_object_object_add(sc, "spans", spans);
	json_object_array_add(ss, sc);
	json_object_object_add(r, "resource", res);
	json_object_object_add(r, "scopeSpans", ss);
	json_object_array_add(rs, r);
	json_object_object_add(req, "resourceSpans", rs);

	curl_easy_setopt(c, CURLOPT_URL, ex.endpoint);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	json_object_put(req);
	if (rc == CURLE_OK && status >= 200 && status < 300) {
		metrics_count(ex.counts, TRACE_EXPORTED, n);
		return true;
	}
	pthread_mutex_lock(&ex.mu);
	ex.dropped += n;
	pthread_mutex_unlock(&ex.mu);
	metrics_count(ex.counts, TRACE_DROPPED, n);
	return false;
}

static void *export_run(void *arg)
{
	CURL *c = curl_easy_init();
	time_t warned = 0;
	(void)arg;

	pthread_mutex_lock(&ex.mu);
	for (;;) {
		if (!ex.stopping && json_object_array_length(ex.spans) < EXPORT_BATCH) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += EXPORT_EVERY_MS / 1000;
			pthread_cond_timedwait(&ex.cv, &ex.mu, &until);
		}
		bool last = ex.stopping;
		struct json_object *batch = NULL;
		if (json_object_array_length(ex.spans)) {
			batch = ex.spans;
			ex.spans = json_object_new_array();
		}
		pthread_mutex_unlock(&ex.mu);
		if (batch && c && !post(c, batch) && time(NULL) - warned >= 60) {
			warned = time(NULL);	/* (once a minute: the collector may be away for long) */
			log_warn(NULL, "traces: %s did not take the spans; %llu dropped so far",
				 ex.endpoint, (unsigned long long)trace_dropped());
		} else if (batch && !c) {
			json_object_put(batch);
		}
		pthread_mutex_lock(&ex.mu);
		if (last)
			break;
	}
	pthread_mutex_unlock(&ex.mu);
	if (c)
		curl_easy_cleanup(c);
	return NULL;
}

int trace_exporter_start(const char *endpoint, const char *service, const char *metrics_file,
			 unsigned slots)
{
	if (!endpoint || !*endpoint || ex.running)
		return 0;
	char *path = metrics_file ? metrics_path_for(metrics_file, "traces") : NULL;
	ex.counts = path ? metrics_open(path, TRACE_NSERIES, slots) : NULL;
	free(path);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	ex.endpoint = strdup(endpoint);
	ex.service = strdup(service);
	ex.spans = json_object_new_array();
	ex.running = true;
	if (!ex.endpoint || !ex.service || pthread_create(&ex.thread, NULL, export_run, NULL)) {
		ex.running = false;
		return -1;
	}
	return 0;
}

void trace_exporter_stop(void)
{
	pthread_mutex_lock(&ex.mu);
	if (!ex.running) {
		pthread_mutex_unlock(&ex.mu);
		return;
	}
	ex.stopping = true;
	pthread_cond_signal(&ex.cv);
	pthread_mutex_unlock(&ex.mu);
	pthread_join(ex.thread, NULL);
	pthread_mutex_lock(&ex.mu);
	ex.running = false;
	json_object_put(ex.spans);
	ex.spans = NULL;
	metrics_free(ex.counts);
	ex.counts = NULL;
	pthread_mutex_unlock(&ex.mu);
}
