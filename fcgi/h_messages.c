/*
 * h_messages.c - sending, history, one message, receipts and typing
 * (API.md "Messages").
 *
 * A send is one call of the send_message() SQL function (migrations/functions/send.sql):
 * membership, the next seq under the conversation's row lock, the message
 * and its moderate job, committed together or not at all; under load, with
 * the other sends of its process in one transaction (send_batch.h).
 */
#include "access.h"
#include "handlers.h"
#include "list.h"
#include "notify.h"
#include "routes.h"
#include "send_batch.h"

#include "../lib/channels.h"
#include "../lib/err.h"
#include "../lib/events.h"
#include "../lib/kv_keys.h"
#include "../lib/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT_ID_MAX 64
#define TEXT_MAX 4096

/* The idempotency key: the body's client_id, or the Idempotency-Key header. */
static const char *read_client_id(struct req *r, struct json_object *o)
{
	const char *client_id = req_str(r, o, "client_id", false, CLIENT_ID_MAX);
	const char *header = req_env(r, "HTTP_IDEMPOTENCY_KEY");

	if (!client_id && header && !json_object_object_get_ex(o, "client_id", NULL)) {
		if (!validate_utf8(header, strlen(header)) ||
		    validate_utf8_chars(header) > CLIENT_ID_MAX)
			req_field_error(r, "Idempotency-Key", "must be at most 64 characters");
		else
			client_id = header;
	}
	if (client_id && !*client_id)
		req_field_error(r, "client_id", "must not be empty");
	else if (!client_id && !r->errors)
		req_field_error(r, "client_id", "is required (or the Idempotency-Key header)");
	return client_id;
}

/* "channels": where the message may go outside the app, into @list (an
 * array literal); absent or null: everywhere (@list stays empty). */
static void read_channels(struct req *r, struct json_object *o, struct db_array *list)
{
	struct json_object *channels;

	if (!json_object_object_get_ex(o, "channels", &channels) ||
	    json_object_is_type(channels, json_type_null))
		return;
	bool ok = json_object_is_type(channels, json_type_array) &&
		  json_object_array_length(channels) <= CHANNEL_COUNT;
	for (size_t i = 0; ok && i < json_object_array_length(channels); i++) {
		struct json_object *c = json_object_array_get_idx(channels, i);
		ok = json_object_is_type(c, json_type_string) && channel_known(json_object_get_string(c));
		if (ok)
			db_array_add(list, json_object_get_string(c));
	}
	if (ok && !db_array_str(list))
		ok = false;	/* out of memory */
	if (!ok) {
		char why[160];
		snprintf(why, sizeof(why), "must be a list of %s", channel_names());
		req_field_error(r, "channels", why);
	}
}

/* What the database said of a committed send, as the answer. */
static int answer_send(struct req *r, const struct send *s)
{
	if (!strcmp(s->outcome, "notfound")) {
		req_detail(r, "conversation %s does not exist", s->conv);
		return ERR_NOTFOUND;
	}
	if (!strcmp(s->outcome, "forbidden")) {
		req_detail(r, "you are not a member of conversation %s", s->conv);
		return ERR_FORBIDDEN;
	}
	if (!strcmp(s->outcome, "badfile")) {
		req_field_error(r, "file_id", "must be one of your files, completely uploaded and verified");
		return ERR_VALIDATION;
	}
	if (!strcmp(s->outcome, "conflict")) {
		req_detail(r, "client_id '%s' was used for a message in another conversation",
			   s->client);
		return ERR_CONFLICT;
	}
	if (!strcmp(s->outcome, "existing"))
		req_header(r, "Idempotent-Replayed: true");
	return req_reply(r, 202, s->body);
}

static int send_to(struct req *r, const char *conv, struct json_object *o)
{
	struct db_array channels = { 0 };
	const char *client_id, *text, *file_id;
	char id[37];
	int rc;

	client_id = read_client_id(r, o);
	text = req_str(r, o, "text", false, TEXT_MAX);
	file_id = req_str(r, o, "file_id", false, 36);
	if (file_id && !validate_uuid(file_id))
		req_field_error(r, "file_id", "must be a file id");
	read_channels(r, o, &channels);
	if (!text && !file_id && !json_object_object_get_ex(o, "text", NULL))
		req_field_error(r, "text", "a message needs text or a file_id");
	else if (text && !*text && !file_id)
		req_field_error(r, "text", "must not be empty");
	if (r->errors) {
		db_array_free(&channels);
		return ERR_VALIDATION;
	}
	if (auth_uuid7(id)) {
		db_array_free(&channels);
		return ERR_INTERNAL;
	}
	struct send s = { .id = id, .conv = conv, .sender = r->user.user_id, .client = client_id,
			  .text = text, .file = file_id, .req = r->id, .trace = r->traceparent,
			  .channels = channels.s };
	if (r->send_bucket[0]) {	/* the route's limit, taken with the send (routes.c) */
		s.bucket = r->send_bucket;
		s.sid = r->user.sid;
		s.rate = r->app->conf.send_rate;
		s.burst = r->app->conf.send_burst;
	}
	if ((rc = send_commit(r->app->sends, r->app->db, r->app->kv, &s))) {
		if (s.refused) {
			r->retry_after = s.retry_after;
			routes_limit_detail(r, rc);
		}
	} else {
		rc = answer_send(r, &s);
	}
	send_clear(&s);
	db_array_free(&channels);
	return rc;
}

int h_messages_send(struct req *r)
{
	struct json_object *o = NULL;
	int rc = req_json(r, &o);

	if (!rc)
		rc = send_to(r, r->params[0], o);
	json_object_put(o);
	return rc;
}

int h_messages_send_body(struct req *r)
{
	struct json_object *o = NULL;
	const char *conv;
	int rc = req_json(r, &o);

	if (rc)
		goto out;
	conv = req_str(r, o, "conversation_id", true, 36);
	if (conv && !validate_uuid(conv))
		req_field_error(r, "conversation_id", "must be a conversation id");
	if (r->errors) {
		rc = ERR_VALIDATION;
		goto out;
	}
	char id[37];
	snprintf(id, sizeof(id), "%s", conv);
	validate_uuid_lower(id);
	rc = send_to(r, id, o);
out:
	json_object_put(o);
	return rc;
}

static bool query_seq(struct req *r, const char *name, long long *out)
{
	char buf[24], *end;

	if (!req_query(r, name, buf, sizeof(buf)))
		return false;
	*out = strtoll(buf, &end, 10);
	if (end == buf || *end || *out < 0) {
		req_field_error(r, name, "must be a seq (an integer from 0)");
		return false;
	}
	return true;
}

/*
 * ?after=N: the page after seq N, oldest first; next_cursor is the next
 * "after". Otherwise the newest page before ?before=N (default: the end),
 * still listed oldest first; next_cursor is the next "before".
 */
int h_messages_list(struct req *r)
{
	long long after = 0, before = 0x7fffffffffffffffLL;
	char after_s[24], before_s[24], limit_s[16], next[24];
	struct access a;
	PGresult *res = NULL;
	bool newest, has_after;
	int limit, rc, n;

	has_after = query_seq(r, "after", &after);
	query_seq(r, "before", &before);
	if ((limit = req_query_limit(r, 50, 100)) < 0 || r->errors)
		return ERR_VALIDATION;
	if ((rc = access_conversation(r, r->params[0], &a)))
		return rc;
	newest = !has_after;
	snprintf(after_s, sizeof(after_s), "%lld", after);
	snprintf(before_s, sizeof(before_s), "%lld", before);
	snprintf(limit_s, sizeof(limit_s), "%d", limit);
	const char *params[] = { r->params[0], r->user.user_id, after_s, before_s, limit_s };
	if ((rc = db_exec(r->app->db, newest ? SQL_MSG_LIST_NEWEST : SQL_MSG_LIST_AFTER,
			  params, &res)))
		goto out;
	n = PQntuples(res);
	if (n)
		snprintf(next, sizeof(next), "%s", PQgetvalue(res, n - 1, 1));
	rc = list_reply(r, res, limit, n ? next : NULL, newest);
out:
	PQclear(res);
	return rc;
}

int h_messages_get(struct req *r)
{
	const char *params[] = { r->params[0], r->user.user_id };
	PGresult *res = NULL;
	int rc;

	if ((rc = db_exec(r->app->db, SQL_MSG_GET, params, &res)))
		goto out;
	if (!PQntuples(res) || strcmp(PQgetvalue(res, 0, 1), "t")) {
		req_detail(r, "message %s does not exist", r->params[0]);
		rc = ERR_NOTFOUND;
	} else if (strcmp(PQgetvalue(res, 0, 0), "t")) {
		req_detail(r, "you are not a member of this message's conversation");
		rc = ERR_FORBIDDEN;
	} else {
		rc = req_reply(r, 200, PQgetvalue(res, 0, 2));
	}
out:
	PQclear(res);
	return rc;
}

/* Status events for the messages of others that receipt @moved (new and
 * old horizons) made delivered or read, each to its sender. A failure here
 * costs only events: the receipt stands, and GET shows the status. */
#define STATUS_EVENTS_MAX "100"	/* a long backlog read: the newest; `receipt` covers the rest */

static void announce_crossed(struct req *r, struct events_batch *b, PGresult *moved)
{
	const char *params[] = { r->params[0], r->user.user_id, PQgetvalue(moved, 0, 2),
				 PQgetvalue(moved, 0, 0), PQgetvalue(moved, 0, 3),
				 PQgetvalue(moved, 0, 1), STATUS_EVENTS_MAX };
	PGresult *res = NULL;

	if (!strcmp(params[2], params[3]) && !strcmp(params[4], params[5]))
		return;	/* nothing moved */
	if (db_exec(r->app->db, SQL_RECEIPT_CROSSED, params, &res))
		return;
	for (int i = PQntuples(res) - 1; i >= 0; i--) {	/* oldest first */
		events_batch_status(b, PQgetvalue(res, i, 1), &(struct events_status){
			.message_id = PQgetvalue(res, i, 0), .conversation_id = r->params[0],
			.seq = atoll(PQgetvalue(res, i, 2)), .status = PQgetvalue(res, i, 3) });
	}
	PQclear(res);
}

/* Horizons only move forward (GREATEST in SQL), read implies delivered,
 * and neither passes the conversation's last seq. */
int h_messages_receipts(struct req *r)
{
	struct json_object *o = NULL;
	long long delivered = 0, read = 0;
	char d_s[24], r_s[24];
	struct access a;
	PGresult *res = NULL;
	bool has_d, has_r;
	int rc;

	if ((rc = req_json(r, &o)))
		goto out;
	has_d = req_int(r, o, "delivered_seq", 0, 0x7fffffffffffffffLL, &delivered);
	has_r = req_int(r, o, "read_seq", 0, 0x7fffffffffffffffLL, &read);
	if (!has_d && !has_r && !r->errors)
		req_field_error(r, "read_seq", "send delivered_seq, read_seq or both");
	if (r->errors) {
		rc = ERR_VALIDATION;
		goto out;
	}
	if ((rc = access_conversation(r, r->params[0], &a)))
		goto out;
	snprintf(d_s, sizeof(d_s), "%lld", delivered);
	snprintf(r_s, sizeof(r_s), "%lld", read);
	const char *params[] = { r->params[0], r->user.user_id, d_s, r_s };
	if ((rc = db_exec(r->app->db, SQL_RECEIPT_ADVANCE, params, &res)))
		goto out;
	/* a receipt that moved nothing tells no one: every one that is told
	 * costs an event in each member's stream */
	if (!strcmp(PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2)) &&
	    !strcmp(PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 3))) {
		rc = req_reply(r, 204, NULL);
		goto out;
	}
	char data[256];
	snprintf(data, sizeof(data),
		 "{\"conversation_id\":\"%s\",\"user_id\":\"%s\",\"delivered_seq\":%s,\"read_seq\":%s}",
		 r->params[0], r->user.user_id, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	struct events_batch *b = events_batch_new();
	notify_members_add(r, b, r->params[0], NULL, "receipt", data, true);
	announce_crossed(r, b, res);
	events_batch_send(r->app->kv, b);
	rc = req_reply(r, 204, NULL);
out:
	PQclear(res);
	json_object_put(o);
	return rc;
}

/* Typing reaches the other members at most once every TYPING_EVERY
 * seconds per (conversation, user), and is never stored. */
#define TYPING_EVERY "3"

int h_messages_typing(struct req *r)
{
	char key[128], data[160];
	struct access a;
	redisReply *rep;
	bool first;
	int rc;

	if ((rc = access_conversation(r, r->params[0], &a)))
		return rc;
	snprintf(key, sizeof(key), KV_TYPING, r->params[0], r->user.user_id);
	const char *argv[] = { "SET", key, "1", "NX", "EX", TYPING_EVERY };
	rep = kv_command(r->app->kv, 6, argv, NULL);
	first = rep && rep->type == REDIS_REPLY_STATUS;
	if (rep)
		freeReplyObject(rep);
	if (first) {
		snprintf(data, sizeof(data), "{\"conversation_id\":\"%s\",\"user_id\":\"%s\"}",
			 r->params[0], r->user.user_id);
		notify_members(r, r->params[0], r->user.user_id, "typing", data, false);
	}
	return req_reply(r, 204, NULL);
}
