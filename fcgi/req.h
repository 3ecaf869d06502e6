/*
 * req.h - one HTTP request as a handler sees it, and the ways to answer.
 *
 * A handler returns 0 after req_reply(), or a negative enum err after
 * (optionally) req_detail() / req_field_error(); routes.c turns the code
 * into the problem+json answer. Everything a request allocates is freed by
 * req_free() when it is answered: nothing outlives the request.
 */
#ifndef CHAT4ALL_REQ_H
#define CHAT4ALL_REQ_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "../lib/auth.h"
#include "../lib/trace.h"
#include "app.h"

#define REQ_MAX_PARAMS 2
#define REQ_PARAM_MAX 64	/* bytes of a path segment: a UUID, an address */

struct req {
	struct app *app;
	void *fcgi;			/* the FCGX_Request; only req.c looks inside */

	const char *method;
	char *path;			/* without the query string */
	const char *query;		/* after '?', or "" */
	char params[REQ_MAX_PARAMS][REQ_PARAM_MAX + 1];	/* path segments, in order */
	char id[65];			/* request id, echoed as X-Request-Id */
	struct span span;		/* this request's, in the client's trace (traceparent) or a new one */
	char traceparent[TRACEPARENT_MAX];	/* a child of span: what the request hands on */
	bool authed;
	struct auth_claims user;	/* valid when authed */
	/* a send's token bucket, when its token and the sign-in check are
	 * taken with the send, in its batch (send_batch.h); "" otherwise */
	char send_bucket[80];

	char *body;			/* read on demand by req_body() */
	size_t body_len;
	bool body_read;

	int status;			/* the answer */
	char *out;			/* its body (JSON text), malloc()ed */
	const char *content_type;	/* of the answer when not JSON */
	char *detail;			/* problem detail, malloc()ed */
	struct json_object *errors;	/* problem "errors" array */
	int retry_after;
	char headers[4096];		/* extra response header lines */
	char *sendfile;			/* lighttpd sends this file as the body (X-Sendfile), malloc()ed */
	char file_type[128];		/* the sent file's Content-Type */
	size_t headers_len;
};

/* Reads request parameters (HTTP_X_REQUEST_ID, …); NULL when absent. */
const char *req_env(const struct req *r, const char *name);

/* req_body - read the body once, refusing one over conf.max_body. */
int req_body(struct req *r);

/*
 * For bodies too large to hold (uploads): req_content_length is the
 * declared length (-1 when none); req_read reads up to @len bytes of the
 * body as they arrive, 0 at its end or when the client went away.
 */
long long req_content_length(const struct req *r);
/* req_content_type_is - the request's media type (parameters ignored). */
bool req_content_type_is(const struct req *r, const char *type);
int req_read(struct req *r, char *buf, int len);

/*
 * req_json - the body as a strict JSON object (Content-Type
 * application/json). The caller puts the object.
 */
int req_json(struct req *r, struct json_object **out);

/*
 * Field readers: each returns the value, or records a field error (wrong
 * type, missing when @required, too long, …) and returns NULL / false.
 * Strings belong to @o.
 */
const char *req_str(struct req *r, struct json_object *o, const char *field,
		    bool required, size_t max_chars);
bool req_int(struct req *r, struct json_object *o, const char *field,
	     long long min, long long max, long long *out);

/* req_form_value - decode @name's value from an a=b&c=d string into @buf;
 * false when absent, too long or not UTF-8. */
bool req_form_value(const char *form, size_t formlen, const char *name,
		    char *buf, size_t len);

/* req_query - the decoded value of ?@name=…, into @buf; false if absent. */
bool req_query(const struct req *r, const char *name, char *buf, size_t len);

/* req_query_limit - ?limit= within 1..max (default @def), or a field error. */
int req_query_limit(struct req *r, int def, int max);

void req_field_error(struct req *r, const char *field, const char *msg);
void req_detail(struct req *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void req_header(struct req *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* req_reply - answer @status with @json (copied; NULL for no body). */
int req_reply(struct req *r, int status, const char *json);
/* req_reply_take - the same, taking a malloc()ed @json. */
int req_reply_take(struct req *r, int status, char *json);

/* req_ip - the client address, for audit and rate limits. */
const char *req_ip(const struct req *r);

/* For the dispatcher (routes.c): set up from an FCGX_Request, write the
 * answer, free everything. */
void req_init(struct req *r, struct app *app, void *fcgi);
void req_send(struct req *r);
void req_free(struct req *r);

#endif
