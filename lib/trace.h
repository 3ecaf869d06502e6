/*
 * trace.h - traces across processes: W3C trace context (traceparent) and
 * spans, exported as OTLP/HTTP JSON to otlp_endpoint.
 *
 * A message's trace starts at the API (or continues the client's
 * traceparent): the request's span is stored with the message
 * (messages.traceparent, and its jobs' payloads), and every later stage
 * that works on it - moderation, release, each delivery and its provider
 * request, each stream event - makes a span that is a child of it, so one
 * message is one trace whichever processes and machines it crossed.
 *
 * Exporting never blocks the work: span_end() appends to a bounded list
 * (a full list drops the span and counts it) and one thread per process
 * posts the list every second. Without otlp_endpoint nothing is kept;
 * traceparents still travel and every log line of traced work still has
 * its trace_id (lib/log.h).
 */
#ifndef CHAT4ALL_TRACE_H
#define CHAT4ALL_TRACE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#define TRACEPARENT_MAX 56	/* "00-" 32 hex "-" 16 hex "-" 2 hex, and its '\0' */

struct trace_ctx {
	char trace_id[33];	/* 32 lowercase hex digits, not all zero */
	char span_id[17];	/* 16 */
	bool sampled;		/* flags bit 0: spans of this trace are exported */
};

/* trace_parse - @s a traceparent header (W3C Trace Context level 1:
 * version 00, or a later one read as 00); false when it is not one. */
bool trace_parse(const char *s, struct trace_ctx *out);
/* trace_format - @c as a traceparent header. */
void trace_format(const struct trace_ctx *c, char out[TRACEPARENT_MAX]);

/* trace_log_as - the lines this thread logs from now on carry the trace
 * id of @traceparent (log_trace); NULL, "" or not one: none. */
void trace_log_as(const char *traceparent);

enum span_kind { SPAN_INTERNAL = 1, SPAN_SERVER, SPAN_CLIENT, SPAN_PRODUCER, SPAN_CONSUMER };

struct span {
	struct trace_ctx ctx;		/* the trace, and this span's own id */
	char parent_id[17];		/* "" at the root of a trace */
	char name[96];
	enum span_kind kind;
	uint64_t start_ns;		/* Unix time */
	struct json_object *attrs;	/* OTLP attributes (span_attr*) */
	bool error;			/* status ERROR when ended */
};

/* span_start - a span named @name, a child of @parent (a traceparent:
 * sampled as it says); NULL, "" or not one: the first span of a new trace,
 * sampled (exported) at the ratio trace_sample sets. */
void span_start(struct span *s, const char *parent, const char *name, enum span_kind kind);
void span_attr(struct span *s, const char *key, const char *value);
void span_attr_int(struct span *s, const char *key, long long value);
/* span_traceparent - the traceparent a child of @s carries. */
void span_traceparent(const struct span *s, char out[TRACEPARENT_MAX]);
/* span_end - @s ends now; it goes to the exporter when one runs and its
 * trace is sampled. What span_attr added is freed either way. */
void span_end(struct span *s);

/* span_json - @s ended at @end_ns as an OTLP span object (JSON). */
struct json_object *span_json(const struct span *s, uint64_t end_ns);

/* trace_sample - the share of new traces that are sampled, 0 to 1 (1
 * unless told: otlp_sample). Traces a client started keep its choice. */
void trace_sample(double ratio);

/* trace_exporter_start - posts ended spans to @endpoint (an OTLP/HTTP
 * traces URL: "http://collector:4318/v1/traces") as service @service,
 * from a thread of its own; "" or NULL: spans are not kept. The spans
 * exported and dropped are counted in @metrics_file's "-traces" file (one
 * of @slots processes; NULL: not counted) for /metrics. 0 or -1. */
int trace_exporter_start(const char *endpoint, const char *service, const char *metrics_file,
			 unsigned slots);
/* trace_exporter_stop - posts what is left (a few seconds at most). */
void trace_exporter_stop(void);
/* Spans dropped so far: the list was full, or the endpoint refused them. */
uint64_t trace_dropped(void);

uint64_t trace_now_ns(void);

#endif
