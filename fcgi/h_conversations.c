/*
 * h_conversations.c - private and group conversations and their members
 * (API.md "Conversations").
 */
#include "access.h"
#include "handlers.h"
#include "list.h"
#include "notify.h"

#include "../lib/err.h"
#include "../lib/events.h"
#include "../lib/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TITLE_MAX 200

static void notify_change(struct req *r, const char *conv, const char *change,
			  const char *user)
{
	char data[EVENTS_CONVERSATION_MAX];

	events_conversation(data, conv, change, user);
	notify_members(r, conv, NULL, "conversation", data, true);
}

/* Answers @status with the conversation as GET /v1/conversations/{id} shows it. */
static int reply_conversation(struct req *r, const char *id, int status)
{
	const char *params[] = { id };
	PGresult *res = NULL;
	int rc;

	if ((rc = db_exec(r->app->db, SQL_CONV_GET, params, &res)))
		goto out;
	if (!PQntuples(res)) {
		rc = ERR_NOTFOUND;
		goto out;
	}
	rc = req_reply(r, status, PQgetvalue(res, 0, 0));
out:
	PQclear(res);
	return rc;
}

/*
 * Reads "members": an array of distinct user ids other than the caller's,
 * as a PostgreSQL array literal in *out (malloc()ed). Returns the count,
 * or -1 after recording a field error.
 */
static long read_members(struct req *r, struct json_object *o, char **out)
{
	struct json_object *arr;
	struct db_array lit = { 0 };
	size_t n;
	long count = 0;

	*out = NULL;
	if (!json_object_object_get_ex(o, "members", &arr)) {
		req_field_error(r, "members", "is required");
		return -1;
	}
	if (!json_object_is_type(arr, json_type_array)) {
		req_field_error(r, "members", "must be an array of user ids");
		return -1;
	}
	n = json_object_array_length(arr);
	if (n > (size_t)r->app->conf.group_member_limit) {
		req_field_error(r, "members", "has more members than a conversation may have");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);
		const char *id = json_object_get_string(v);
		if (!json_object_is_type(v, json_type_string) || !validate_uuid(id)) {
			req_field_error(r, "members", "must be an array of user ids");
			db_array_free(&lit);
			return -1;
		}
		if (!strcasecmp(id, r->user.user_id) || (lit.s && strcasestr(lit.s, id)))
			continue;	/* the creator is always in; repeats count once */
		db_array_add(&lit, id);
		count++;
	}
	const char *s = db_array_str(&lit);
	*out = s ? strdup(s) : NULL;
	db_array_free(&lit);
	return *out ? count : -1;
}

/*
 * The users of @ids (a uuid[] literal) the caller may put in a
 * conversation: a business's customers on a channel (contacts) only by
 * the agents of their inbox. Anyone else is told, as for an id that does
 * not exist, that there is no such user.
 */
static int check_reachable(struct req *r, const char *ids, const char *field)
{
	const char *params[] = { ids, r->user.user_id };
	PGresult *res = NULL;
	int rc = db_exec(r->app->db, SQL_USERS_UNREACHABLE, params, &res);

	if (!rc && PQntuples(res)) {
		req_field_error(r, field, "names a user that does not exist");
		rc = ERR_VALIDATION;
	}
	PQclear(res);
	return rc;
}

static int create_private(struct req *r, const char *other)
{
	const char *me = r->user.user_id;
	char pair[80], id[37];
	PGresult *res = NULL;
	int rc, status = 201;

	/* one conversation a pair, whoever opened it */
	if (strcmp(me, other) < 0)
		snprintf(pair, sizeof(pair), "%s:%s", me, other);
	else
		snprintf(pair, sizeof(pair), "%s:%s", other, me);
	const char *params[] = { me, other, pair };
	if ((rc = db_exec(r->app->db, SQL_CONV_CREATE_PRIVATE, params, &res))) {
		if (rc == ERR_VALIDATION)
			req_field_error(r, "members", "no such user");
		goto out;
	}
	if (!PQntuples(res)) {
		/* it exists (perhaps since a concurrent request just now) */
		PQclear(res);
		status = 200;
		const char *p2[] = { pair };
		if ((rc = db_exec(r->app->db, SQL_CONV_BY_PAIR, p2, &res)))
			goto out;
		if (!PQntuples(res)) {
			rc = ERR_INTERNAL;
			goto out;
		}
	}
	snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
	rc = reply_conversation(r, id, status);
	if (!rc && status == 201)
		notify_change(r, id, "created", NULL);
out:
	PQclear(res);
	return rc;
}

int h_conversations_create(struct req *r)
{
	struct json_object *o = NULL;
	const char *type, *title = NULL;
	char *members = NULL;
	PGresult *res = NULL;
	long count;
	int rc;

	if ((rc = req_json(r, &o)))
		goto out;
	type = req_str(r, o, "type", true, 16);
	if (type && strcmp(type, "private") && strcmp(type, "group"))
		req_field_error(r, "type", "must be private or group");
	count = read_members(r, o, &members);
	if (type && !strcmp(type, "group")) {
		title = req_str(r, o, "title", true, TITLE_MAX);
		if (title && !*title)
			req_field_error(r, "title", "must not be empty");
		if (count + 1 > r->app->conf.group_member_limit)
			req_field_error(r, "members", "has more members than a conversation may have");
	} else if (type && count >= 0 && count != 1) {
		req_field_error(r, "members", "must name exactly one other user");
	}
	if (r->errors) {
		rc = ERR_VALIDATION;
		goto out;
	}
	if (!members) {
		rc = ERR_INTERNAL;	/* out of memory */
		goto out;
	}
	if ((rc = check_reachable(r, members, "members")))
		goto out;
	if (!strcmp(type, "private")) {
		char other[37];
		memcpy(other, members + 1, 36);
		other[36] = '\0';
		rc = create_private(r, other);
		goto out;
	}
	const char *params[] = { r->user.user_id, title, members };
	if ((rc = db_exec(r->app->db, SQL_CONV_CREATE_GROUP, params, &res))) {
		if (rc == ERR_VALIDATION)
			req_field_error(r, "members", "names a user that does not exist");
		goto out;
	}
	char id[37];
	snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
	rc = reply_conversation(r, id, 201);
	if (!rc)
		notify_change(r, id, "created", NULL);
out:
	PQclear(res);
	free(members);
	json_object_put(o);
	return rc;
}

/* Most recent activity first; the cursor is "<activity µs>_<id>" of the
 * last item of the page. */
int h_conversations_list(struct req *r)
{
	char micros[24], cid[37], limit_s[16];
	int limit;

	list_time_cursor(r, micros, cid);
	if ((limit = req_query_limit(r, 50, 100)) < 0 || r->errors)
		return ERR_VALIDATION;
	snprintf(limit_s, sizeof(limit_s), "%d", limit);
	const char *params[] = { r->user.user_id, micros, cid, limit_s };
	return list_query_by_time(r, SQL_CONV_LIST, params, limit);
}

int h_conversations_get(struct req *r)
{
	struct access a;
	int rc;

	if ((rc = access_conversation(r, r->params[0], &a)))
		return rc;
	return reply_conversation(r, r->params[0], 200);
}

int h_conversations_member_add(struct req *r)
{
	struct json_object *o = NULL;
	const char *user;
	struct access a;
	PGresult *res = NULL;
	int rc;

	if ((rc = req_json(r, &o)))
		goto out;
	user = req_str(r, o, "user_id", true, 36);
	if (user && !validate_uuid(user))
		req_field_error(r, "user_id", "must be a user id");
	if (r->errors) {
		rc = ERR_VALIDATION;
		goto out;
	}
	char one[40];
	snprintf(one, sizeof(one), "{%s}", user);
	if ((rc = check_reachable(r, one, "user_id")))
		goto out;
	if ((rc = db_begin(r->app->db)))
		goto out;
	if ((rc = access_lock(r, r->params[0], &a)))
		goto out;
	if (strcmp(a.type, "group")) {
		req_detail(r, "a private conversation has exactly two members");
		rc = ERR_CONFLICT;
		goto out;
	}
	if (strcmp(a.role, "admin")) {
		req_detail(r, "only the group's admins add members");
		rc = ERR_FORBIDDEN;
		goto out;
	}
	if (a.members >= r->app->conf.group_member_limit) {
		req_detail(r, "the group has %ld members, its limit", a.members);
		rc = ERR_CONFLICT;
		goto out;
	}
	const char *params[] = { r->params[0], user };
	if ((rc = db_exec(r->app->db, SQL_MEMBER_ADD, params, &res))) {
		if (rc == ERR_CONFLICT)
			req_detail(r, "%s is a member already", user);
		else if (rc == ERR_VALIDATION)
			req_field_error(r, "user_id", "no such user");
		goto out;
	}
	if ((rc = db_commit(r->app->db)))
		goto out;
	rc = req_reply(r, 201, PQgetvalue(res, 0, 0));
	notify_change(r, r->params[0], "member_added", user);
out:
	db_rollback(r->app->db);
	PQclear(res);
	json_object_put(o);
	return rc;
}

int h_conversations_member_remove(struct req *r)
{
	const char *conv = r->params[0], *user = r->params[1];
	struct access a;
	PGresult *res = NULL;
	int rc;

	if ((rc = db_begin(r->app->db)))
		goto out;
	if ((rc = access_lock(r, conv, &a)))
		goto out;
	if (strcmp(a.type, "group")) {
		req_detail(r, "members cannot leave a private conversation");
		rc = ERR_CONFLICT;
		goto out;
	}
	if (strcasecmp(user, r->user.user_id) && strcmp(a.role, "admin")) {
		req_detail(r, "only admins remove other members");
		rc = ERR_FORBIDDEN;
		goto out;
	}
	const char *params[] = { conv, user };
	if ((rc = db_exec(r->app->db, SQL_MEMBER_REMOVE, params, &res)))
		goto out;
	if (!PQntuples(res)) {
		req_detail(r, "%s is not a member", user);
		rc = ERR_NOTFOUND;
		goto out;
	}
	PQclear(res);
	/* the last admin left: the longest-standing member takes over */
	if ((rc = db_exec(r->app->db, SQL_MEMBER_PROMOTE_IF_NO_ADMIN, params, &res)) ||
	    (rc = db_commit(r->app->db)))
		goto out;
	rc = req_reply(r, 204, NULL);
	notify_change(r, conv, "member_removed", user);
	char data[EVENTS_CONVERSATION_MAX];	/* the one who left no longer hears the others */
	events_conversation(data, conv, "member_removed", user);
	notify_user(r, user, "conversation", data);
out:
	db_rollback(r->app->db);
	PQclear(res);
	return rc;
}
