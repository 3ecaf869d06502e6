/*
 * routes.c - which handler answers which request, authentication, the
 * problem+json answers of API.md, and one log line and one metrics sample
 * per request.
 */
#include "routes.h"

#include "handlers.h"
#include "req.h"

#include "../lib/err.h"
#include "../lib/kv_keys.h"
#include "../lib/log.h"
#include "../lib/ratelimit.h"
#include "../lib/revocation.h"
#include "../lib/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* AUTH: a valid token is required; AUTH_IF_SENT: checked when one is sent
 * (the handler has another way in: a signed link). */
enum { PUBLIC = 0, AUTH = 1, AUTH_IF_SENT = 2 };

/* Route classes with a per-user token bucket (sign-in and sign-up have
 * their own, by username and address, in h_auth.c). */
enum limit { NO_LIMIT, LIMIT_SEND, LIMIT_RECEIPT };

struct route {
	const char *method;
	const char *path;	/* "{id}" segments match a UUID, "{n}" a positive integer,
				 * "{s}" a name or an address ([A-Za-z0-9_.@+-], 1 to 64) */
	int (*handler)(struct req *);
	int flags;
	enum limit limit;
};

static const struct route routes[] = {
	{ "POST", "/v1/auth/register", h_auth_register, PUBLIC, NO_LIMIT },
	{ "POST", "/v1/auth/token", h_auth_token, PUBLIC, NO_LIMIT },
	{ "POST", "/v1/auth/refresh", h_auth_refresh, PUBLIC, NO_LIMIT },
	{ "POST", "/v1/auth/logout", h_auth_logout, AUTH, NO_LIMIT },
	{ "GET", "/v1/me", h_users_me, AUTH, NO_LIMIT },
	{ "GET", "/v1/users", h_users_search, AUTH, NO_LIMIT },
	{ "POST", "/v1/stream/ticket", h_users_stream_ticket, AUTH, NO_LIMIT },
	{ "POST", "/v1/conversations", h_conversations_create, AUTH, NO_LIMIT },
	{ "GET", "/v1/conversations", h_conversations_list, AUTH, NO_LIMIT },
	{ "GET", "/v1/conversations/{id}", h_conversations_get, AUTH, NO_LIMIT },
	{ "POST", "/v1/conversations/{id}/members", h_conversations_member_add, AUTH, NO_LIMIT },
	{ "DELETE", "/v1/conversations/{id}/members/{id}", h_conversations_member_remove, AUTH, NO_LIMIT },
	{ "POST", "/v1/conversations/{id}/messages", h_messages_send, AUTH, LIMIT_SEND },
	{ "GET", "/v1/conversations/{id}/messages", h_messages_list, AUTH, NO_LIMIT },
	{ "POST", "/v1/conversations/{id}/receipts", h_messages_receipts, AUTH, LIMIT_RECEIPT },
	{ "POST", "/v1/conversations/{id}/typing", h_messages_typing, AUTH, NO_LIMIT },
	{ "POST", "/v1/messages", h_messages_send_body, AUTH, LIMIT_SEND },
	{ "GET", "/v1/messages/{id}", h_messages_get, AUTH, NO_LIMIT },
	{ "GET", "/v1/messages/{id}/deliveries", h_messages_deliveries, AUTH, NO_LIMIT },
	{ "GET", "/v1/me/identities", h_identities_list, AUTH, NO_LIMIT },
	{ "POST", "/v1/me/identities", h_identities_add, AUTH, NO_LIMIT },
	{ "DELETE", "/v1/me/identities", h_identities_delete, AUTH, NO_LIMIT },
	{ "POST", "/v1/me/identities/{s}/{s}/verify", h_identities_verify, AUTH, NO_LIMIT },
	{ "GET", "/v1/webhooks/whatsapp", h_webhook_verify, PUBLIC, NO_LIMIT },
	{ "GET", "/v1/webhooks/messenger", h_webhook_verify, PUBLIC, NO_LIMIT },
	{ "GET", "/v1/webhooks/instagram", h_webhook_verify, PUBLIC, NO_LIMIT },
	{ "POST", "/v1/webhooks/whatsapp", h_webhook_receive, PUBLIC, NO_LIMIT },
	{ "POST", "/v1/webhooks/telegram", h_webhook_receive, PUBLIC, NO_LIMIT },
	{ "POST", "/v1/webhooks/messenger", h_webhook_receive, PUBLIC, NO_LIMIT },
	{ "POST", "/v1/webhooks/instagram", h_webhook_receive, PUBLIC, NO_LIMIT },
	{ "GET", "/v1/admin/moderation", h_admin_moderation_list, AUTH, NO_LIMIT },
	{ "POST", "/v1/admin/moderation/{id}", h_admin_moderation_decide, AUTH, NO_LIMIT },
	{ "GET", "/v1/admin/jobs/dead", h_admin_dead_list, AUTH, NO_LIMIT },
	{ "POST", "/v1/admin/jobs/dead/{n}/retry", h_admin_dead_retry, AUTH, NO_LIMIT },
	{ "OPTIONS", "/v1/files", h_files_options, PUBLIC, NO_LIMIT },
	{ "POST", "/v1/files", h_files_create, AUTH, NO_LIMIT },
	{ "HEAD", "/v1/files/{id}", h_files_head, AUTH, NO_LIMIT },
	{ "PATCH", "/v1/files/{id}", h_files_patch, AUTH, NO_LIMIT },
	{ "DELETE", "/v1/files/{id}", h_files_delete, AUTH, NO_LIMIT },
	{ "GET", "/v1/files/{id}", h_files_get, AUTH, NO_LIMIT },
	{ "GET", "/v1/files/{id}/content", h_files_content, AUTH_IF_SENT, NO_LIMIT },
	{ "GET", "/healthz", h_health_live, PUBLIC, NO_LIMIT },
	{ "GET", "/readyz", h_health_ready, PUBLIC, NO_LIMIT },
	{ "GET", "/metrics", h_health_metrics, PUBLIC, NO_LIMIT },
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))
#define ROUTE_UNMATCHED NROUTES	/* metrics of requests no route took */

unsigned routes_count(void)
{
	return NROUTES + 1;
}

const char *const *routes_names(void)
{
	static char names[NROUTES + 1][96];
	static const char *ptrs[NROUTES + 1];

	if (!ptrs[0]) {
		for (size_t i = 0; i < NROUTES; i++) {
			snprintf(names[i], sizeof(names[i]), "%s %s", routes[i].method,
				 routes[i].path);
			ptrs[i] = names[i];
		}
		ptrs[NROUTES] = "unmatched";
	}
	return ptrs;
}

/* Matches @path against @pattern, collecting the {id}, {n} and {s} segments. */
static bool path_match(const char *pattern, const char *path, struct req *r)
{
	int np = 0;

	while (*pattern && *path) {
		char kind = pattern[0] == '{' ? pattern[1] : 0;
		if (kind == 'i' || kind == 'n' || kind == 's') {
			const char *end = strchr(path, '/');
			size_t n = end ? (size_t)(end - path) : strlen(path);
			char seg[REQ_PARAM_MAX + 1];
			if (n > REQ_PARAM_MAX || np >= REQ_MAX_PARAMS)
				return false;
			memcpy(seg, path, n);
			seg[n] = '\0';
			/* an id has one spelling: "7E69…" and "7e69…" are one row,
			 * one file on disk, one lock */
			if (kind == 'i' ? !validate_uuid_lower(seg)
			    : kind == 'n' ? !n || n > 18 || strspn(seg, "0123456789") != n
			    : !n || strspn(seg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
						"0123456789_.@+-") != n)
				return false;
			memcpy(r->params[np++], seg, n + 1);
			pattern = strchr(pattern, '}') + 1;
			path += n;
			continue;
		}
		if (*pattern++ != *path++)
			return false;
	}
	return !*pattern && !*path;
}

static const struct {
	int code, status;
	const char *slug, *title;
} problems[] = {
	{ ERR_INVALID_JSON, 400, "invalid-json", "The body is not valid JSON" },
	{ ERR_VALIDATION, 400, "validation", "The request has invalid fields" },
	{ ERR_AUTH, 401, "unauthorized", "Authentication is required" },
	{ ERR_FORBIDDEN, 403, "forbidden", "You may not do this" },
	{ ERR_NOTFOUND, 404, "not-found", "Not found" },
	{ ERR_METHOD, 405, "method-not-allowed", "Method not allowed" },
	{ ERR_CONFLICT, 409, "conflict", "Conflict" },
	{ ERR_TOOLARGE, 413, "too-large", "Too large" },
	{ ERR_MEDIATYPE, 415, "unsupported-media-type", "Unsupported media type" },
	{ ERR_GONE, 410, "gone", "Gone" },
	{ ERR_PRECONDITION, 412, "precondition-failed", "Precondition failed" },
	{ ERR_CHECKSUM, 460, "checksum-mismatch", "Checksum mismatch" },
	{ ERR_STORAGE, 507, "insufficient-storage", "Insufficient storage" },
	{ ERR_RATELIMITED, 429, "rate-limited", "Too many requests" },
	{ ERR_UNAVAILABLE, 503, "unavailable", "Temporarily unavailable" },
	{ ERR_INTERNAL, 500, "internal", "Internal error" },
};

/* The problem of @code: unknown codes, ERR_DB among them, are internal. */
static size_t problem_of(int code)
{
	size_t i = 0, n = sizeof(problems) / sizeof(problems[0]);

	while (i < n - 1 && problems[i].code != code)
		i++;
	return i;
}

int routes_status(int err)
{
	return problems[problem_of(err)].status;
}

/* Turns a handler's error into the problem+json answer. */
static void problem(struct req *r, int code)
{
	size_t i = problem_of(code);
	struct json_object *o = json_object_new_object();
	char type[64];
	snprintf(type, sizeof(type), "/problems/%s", problems[i].slug);
	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "title", json_object_new_string(problems[i].title));
	json_object_object_add(o, "status", json_object_new_int(problems[i].status));
	if (r->detail)
		json_object_object_add(o, "detail", json_object_new_string(r->detail));
	if (r->errors) {
		json_object_object_add(o, "errors", r->errors);
		r->errors = NULL;
	}
	if (code == ERR_RATELIMITED)
		req_header(r, "Retry-After: %d", r->retry_after > 0 ? r->retry_after : 1);
	if (code == ERR_AUTH)
		req_header(r, "WWW-Authenticate: Bearer");
	req_reply(r, problems[i].status,
		  json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* Bearer token → r->user. A sign-in that ended (sid) is refused even
 * while its access tokens have not expired: Redis marks those, and when
 * Redis is away PostgreSQL is asked instead (never fail open). For a
 * rate-limited route the same round trip takes the token. */
void routes_limit_detail(struct req *r, int rc)
{
	if (rc == ERR_RATELIMITED)
		req_detail(r, "too fast; retry in %d s", r->retry_after);
	else if (rc == ERR_AUTH)
		req_detail(r, "this sign-in has ended");
	else if (rc == ERR_UNAVAILABLE)
		req_detail(r, "sign-ins cannot be checked now; retry shortly");
}

static int authenticate(struct req *r, enum limit limit)
{
	const char *h = req_env(r, "HTTP_AUTHORIZATION");
	char key[64], bucket[80];
	int rc;

	if (!h || strncasecmp(h, "Bearer ", 7)) {
		req_detail(r, "send Authorization: Bearer <access token>");
		return ERR_AUTH;
	}
	if (auth_access_verify(r->app->conf.jwt_secret, h + 7, time(NULL), &r->user)) {
		req_detail(r, "the access token is invalid or expired");
		return ERR_AUTH;
	}
	/* a Redis that was away learns again what ended meanwhile */
	revocation_sync(r->app->db, r->app->kv, revocation_ttl(r->app->conf.access_ttl));
	double rate = limit == LIMIT_SEND ? r->app->conf.send_rate
		    : limit == LIMIT_RECEIPT ? r->app->conf.receipt_rate : 0;
	long burst = limit == LIMIT_SEND ? r->app->conf.send_burst : r->app->conf.receipt_burst;
	if (limit == LIMIT_SEND && rate > 0 && r->app->sends) {
		/* taken by the send writer with the rest of its batch: one
		 * round trip to Redis for them all (send_batch.h) */
		snprintf(r->send_bucket, sizeof(r->send_bucket), KV_RATE, "send", r->user.user_id);
		rc = 0;
	} else if (limit != NO_LIMIT && rate > 0) {
		revocation_key(r->user.sid, key);
		snprintf(bucket, sizeof(bucket), KV_RATE, limit == LIMIT_SEND ? "send" : "receipt",
			 r->user.user_id);
		rc = ratelimit_take(r->app->kv, bucket, rate, burst, key, &r->retry_after);
		if (rc == ERR_UNAVAILABLE)	/* Redis is away: the database says */
			rc = revocation_in_db(r->app->db, r->user.sid);
	} else {
		rc = revocation_check(r->app->db, r->app->kv, r->user.sid);
	}
	if (rc) {
		routes_limit_detail(r, rc);
		return rc;
	}
	r->authed = true;
	return 0;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int routes_find(const char *method, const char *path, struct req *r)
{
	bool path_known = false;

	for (size_t i = 0; i < NROUTES; i++) {
		memset(r->params, 0, sizeof(r->params));
		if (!path_match(routes[i].path, path, r))
			continue;
		path_known = true;
		if (!strcmp(routes[i].method, method) ||
		    (!strcmp(method, "HEAD") && !strcmp(routes[i].method, "GET")))
			return (int)i;
	}
	memset(r->params, 0, sizeof(r->params));
	return path_known ? ROUTES_NO_METHOD : ROUTES_NO_PATH;
}

void routes_handle(struct app *app, void *fcgi)
{
	struct req r;
	uint64_t start = now_us();
	size_t found = ROUTE_UNMATCHED;
	int rc, at;

	req_init(&r, app, fcgi);
	if ((at = routes_find(r.method, r.path, &r)) >= 0)
		found = (size_t)at;
	/* the request's span: its route is its name (never the path, which
	 * holds ids), in the trace the client's traceparent names */
	span_start(&r.span, req_env(&r, "HTTP_TRACEPARENT"), routes_names()[found], SPAN_SERVER);
	span_traceparent(&r.span, r.traceparent);
	log_trace(r.span.ctx.trace_id);
	if (at == ROUTES_NO_METHOD) {
		rc = ERR_METHOD;
		req_detail(&r, "%s is not allowed on %s", r.method, r.path);
	} else if (at == ROUTES_NO_PATH) {
		rc = ERR_NOTFOUND;
		req_detail(&r, "%s does not exist", r.path);
	} else if ((routes[found].flags & AUTH ||
		    (routes[found].flags & AUTH_IF_SENT && req_env(&r, "HTTP_AUTHORIZATION"))) &&
		   (rc = authenticate(&r, routes[found].limit))) {
		/* answered below */
	} else {
		rc = routes[found].handler(&r);
	}
	if (rc)
		problem(&r, rc);
	req_send(&r);

	uint64_t dur = now_us() - start;
	metrics_observe(app->metrics, (unsigned)found, r.status, dur);
	struct json_object *f = json_object_new_object();
	json_object_object_add(f, "method", json_object_new_string(r.method));
	json_object_object_add(f, "path", json_object_new_string(r.path));
	json_object_object_add(f, "status", json_object_new_int(r.status));
	json_object_object_add(f, "dur_us", json_object_new_int64((int64_t)dur));
	if (r.authed)
		json_object_object_add(f, "user_id", json_object_new_string(r.user.user_id));
	if (rc)
		json_object_object_add(f, "error", json_object_new_string(err_name(rc)));
	log_line(r.status >= 500 ? LOG_ERROR : LOG_INFO, r.id, f, "request");
	span_attr(&r.span, "http.request.method", r.method);
	span_attr(&r.span, "http.route", found == ROUTE_UNMATCHED ? "" : routes[found].path);
	span_attr_int(&r.span, "http.response.status_code", r.status);
	span_attr(&r.span, "chat4all.request_id", r.id);
	r.span.error = r.status >= 500;
	span_end(&r.span);
	log_trace(NULL);
	req_free(&r);
}
