/*
 * log.h - one JSON object per line:
 *   {"ts":"…","level":"info","proc":"api","pid":1,"req_id":"…","msg":"…",…}
 * The request id follows a message through the pipeline, so grep finds it
 * in every process's log; so does its trace ("trace_id", lib/trace.h) on
 * every line written while a thread works on traced work.
 */
#ifndef CHAT4ALL_LOG_H
#define CHAT4ALL_LOG_H

#include <json-c/json.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* log_open - @path "-" (or NULL) is stderr. Returns 0 or -1. */
int log_open(const char *path, const char *level, const char *proc);

/*
 * log_line - write one line. @fields (may be NULL) adds its members to the
 * line; log_line takes the reference. @req_id may be NULL.
 */
void log_line(enum log_level lvl, const char *req_id, struct json_object *fields,
	      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* log_trace - the trace (32 hex digits) of the work this thread does now:
 * each line it writes has it as trace_id, until the next call (NULL or
 * "": none). */
void log_trace(const char *trace_id);

#define log_error(req_id, ...) log_line(LOG_ERROR, req_id, NULL, __VA_ARGS__)
#define log_warn(req_id, ...) log_line(LOG_WARN, req_id, NULL, __VA_ARGS__)
#define log_info(req_id, ...) log_line(LOG_INFO, req_id, NULL, __VA_ARGS__)

#endif
