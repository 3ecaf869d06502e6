/*
 * h_users.c - GET /v1/me and the user directory GET /v1/users.
 */
#include "handlers.h"
#include "list.h"

#include "../lib/err.h"
#include "../lib/kv_keys.h"
#include "../lib/validate.h"

#include <stdio.h>
#include <string.h>

int h_users_me(struct req *r)
{
	const char *params[] = { r->user.user_id };
	PGresult *res = NULL;
	int rc;

	if ((rc = db_exec(r->app->db, SQL_USER_GET, params, &res)))
		goto out;
	if (!PQntuples(res)) {
		/* a valid token of a user deleted since */
		req_detail(r, "this user no longer exists");
		rc = ERR_AUTH;
		goto out;
	}
	rc = req_reply(r, 200, PQgetvalue(res, 0, 0));
out:
	PQclear(res);
	return rc;
}

/* ?q= matches the start of a username or any part of a display name;
 * the cursor is the last username of the page. */
int h_users_search(struct req *r)
{
	char q[256] = "", cursor[64] = "", limit_s[16];
	PGresult *res = NULL;
	int limit, rc;

	if (req_query(r, "q", q, sizeof(q)) && validate_utf8_chars(q) > 64)
		req_field_error(r, "q", "must be at most 64 characters");
	if (req_query(r, "cursor", cursor, sizeof(cursor)) && !validate_username(cursor))
		req_field_error(r, "cursor", "is not a cursor of this list");
	if ((limit = req_query_limit(r, 50, 100)) < 0 || r->errors)
		return ERR_VALIDATION;
	snprintf(limit_s, sizeof(limit_s), "%d", limit);
	const char *params[] = { q, cursor, limit_s };
	if ((rc = db_exec(r->app->db, SQL_USER_SEARCH, params, &res)))
		goto out;
	rc = list_reply(r, res, limit,
			PQntuples(res) ? PQgetvalue(res, PQntuples(res) - 1, 1) : NULL,
			false);
out:
	PQclear(res);
	return rc;
}

/* A single-use ticket for EventSource, which cannot send headers: the
 * gateway takes it (GETDEL) once, within a minute. It names the sign-in
 * that took it and when that sign-in's token expires: the stream it opens
 * lives no longer than either (stream/stream.c). */
int h_users_stream_ticket(struct req *r)
{
	char ticket[AUTH_TOKEN_LEN + 1], key[96], body[128], who[128];
	redisReply *rep;

	if (auth_random_token(ticket))
		return ERR_INTERNAL;
	snprintf(key, sizeof(key), KV_TICKET, ticket);
	snprintf(who, sizeof(who), "%s %s %ld", r->user.user_id, r->user.sid, r->user.exp);
	const char *argv[] = { "SET", key, who, "EX", "60" };
	if (!(rep = kv_command(r->app->kv, 5, argv, NULL)) || rep->type == REDIS_REPLY_ERROR) {
		if (rep)
			freeReplyObject(rep);
		req_detail(r, "the live path is unavailable; retry shortly");
		return ERR_UNAVAILABLE;
	}
	freeReplyObject(rep);
	snprintf(body, sizeof(body), "{\"ticket\":\"%s\",\"expires_in\":60}", ticket);
	return req_reply(r, 201, body);
}
