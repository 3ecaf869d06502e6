/*
 * h_admin.c - what admins do through the API: review held messages and
 * override verdicts (/v1/admin/moderation), list and retry dead jobs
 * (/v1/admin/jobs/dead). The role is read from the database on every call,
 * not from the token, so a demotion takes effect at once. Every act is in
 * the audit log.
 */
#include "access.h"
#include "handlers.h"
#include "notify.h"
#include "list.h"

#include "../lib/audit.h"
#include "../lib/err.h"
#include "../lib/queue.h"
#include "../lib/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ?status=held (default) | rejected; oldest first; the cursor is
 * "<created µs>_<id>" of the last item. */
int h_admin_moderation_list(struct req *r)
{
	char status[16] = "held", micros[24], id[37], limit_s[16];
	int limit, rc;

	if ((rc = access_admin(r)))
		return rc;
	if (req_query(r, "status", status, sizeof(status)) && strcmp(status, "held") &&
	    strcmp(status, "rejected"))
		req_field_error(r, "status", "must be held or rejected");
	list_time_cursor(r, micros, id);
	if ((limit = req_query_limit(r, 50, 100)) < 0 || r->errors)
		return ERR_VALIDATION;
	snprintf(limit_s, sizeof(limit_s), "%d", limit);
	const char *params[] = { status, micros, id, limit_s };
	return list_query_by_time(r, SQL_ADMIN_MODERATION_LIST, params, limit);
}

/* A verdict on a message the conversation has already passed (held, or
 * rejected) takes effect at once, so it is announced here: the sender
 * gets its `status`, and an approved message reaches the other members.
 * ("approved" ones wait for their turn: the release stage announces them.) */
static void announce_decision(struct req *r, PGresult *d)
{
	const char *conv = PQgetvalue(d, 0, 0), *status = PQgetvalue(d, 0, 1);
	const char *sender = PQgetvalue(d, 0, 2);
	struct events_batch *b;

	if (strcmp(status, "sent") && strcmp(status, "rejected"))
		return;
	b = events_batch_new();
	events_batch_status(b, sender, &(struct events_status){
		.message_id = r->params[0], .conversation_id = conv,
		.seq = atoll(PQgetvalue(d, 0, 3)), .status = status, .reason = PQgetvalue(d, 0, 4) });
	if (!strcmp(status, "sent"))
		notify_members_add(r, b, conv, sender, "message", PQgetvalue(d, 0, 5), true);
	events_batch_send(r->app->kv, b);
}

/* {verdict: approve | reject, reason?}: an approved message below the
 * release watermark is sent at once; above it, release sends it in order. */
int h_admin_moderation_decide(struct req *r)
{
	struct json_object *o = NULL;
	const char *verdict, *reason;
	PGresult *res = NULL;
	int rc;

	if ((rc = access_admin(r)) || (rc = req_json(r, &o)))
		goto out;
	verdict = req_str(r, o, "verdict", true, 16);
	reason = req_str(r, o, "reason", false, 500);
	if (verdict && strcmp(verdict, "approve") && strcmp(verdict, "reject"))
		req_field_error(r, "verdict", "must be approve or reject");
	if (r->errors) {
		rc = ERR_VALIDATION;
		goto out;
	}
	if ((rc = db_begin(r->app->db)))
		goto out;
	const char *params[] = { r->params[0], verdict, reason };
	if ((rc = db_exec(r->app->db, SQL_ADMIN_MODERATE, params, &res)))
		goto out;
	if (!PQntuples(res)) {
		req_detail(r, "message %s does not exist or was already sent", r->params[0]);
		rc = ERR_NOTFOUND;
		goto out;
	}
	char conv[37], status[16];
	snprintf(conv, sizeof(conv), "%s", PQgetvalue(res, 0, 0));
	snprintf(status, sizeof(status), "%s", PQgetvalue(res, 0, 1));
	PGresult *decided = res;	/* for the events after the commit */
	res = NULL;
	const char *log[] = { r->params[0], "admin", verdict, NULL, NULL, "0",
			      reason ? reason : "" };
	if ((rc = db_exec(r->app->db, SQL_MODLOG_INSERT, log, &res))) {
		PQclear(decided);
		goto out;
	}
	bool deliveries = false;
	if (!strcmp(status, "sent")) {	/* out to the channels too, in this transaction */
		const char *dq[] = { conv, PQgetvalue(decided, 0, 3) };
		PQclear(res);
		res = NULL;
		if ((rc = db_exec(r->app->db, SQL_DELIVERIES_ENQUEUE, dq, &res))) {
			PQclear(decided);
			goto out;
		}
		deliveries = atoi(PQgetvalue(res, 0, 0)) > 0;
	}
	if (!strcmp(status, "approved")) {
		char payload[128];
		snprintf(payload, sizeof(payload), "{\"req_id\":\"%s\"}", r->id);
		if ((rc = queue_enqueue(r->app->db, "release", conv, payload))) {
			PQclear(decided);
			goto out;
		}
	}
	if ((rc = db_commit(r->app->db))) {
		PQclear(decided);
		goto out;
	}
	if (!strcmp(status, "approved"))
		queue_notify(r->app->db, "release");	/* the release waits for a worker */
	if (deliveries)
		queue_notify(r->app->db, "deliver");
	announce_decision(r, decided);
	PQclear(decided);
	char detail[160];
	snprintf(detail, sizeof(detail), "{\"verdict\":\"%s\",\"status\":\"%s\"}", verdict, status);
	audit_write(r->app->db, r->user.user_id, "moderation-override", r->params[0], req_ip(r),
		    detail);
	rc = req_reply(r, 200, detail);
out:
	db_rollback(r->app->db);
	PQclear(res);
	json_object_put(o);
	return rc;
}

int h_admin_dead_list(struct req *r)
{
	char after[24] = "0", limit_s[16];
	PGresult *res = NULL;
	int limit, rc;

	if ((rc = access_admin(r)))
		return rc;
	if (req_query(r, "cursor", after, sizeof(after)) &&
	    (!after[0] || strspn(after, "0123456789") != strlen(after)))
		req_field_error(r, "cursor", "is not a cursor of this list");
	if ((limit = req_query_limit(r, 50, 100)) < 0 || r->errors)
		return ERR_VALIDATION;
	snprintf(limit_s, sizeof(limit_s), "%d", limit);
	const char *params[] = { after, limit_s };
	if ((rc = db_exec(r->app->db, SQL_DEAD_LIST, params, &res)))
		goto out;
	rc = list_reply(r, res, limit,
			PQntuples(res) ? PQgetvalue(res, PQntuples(res) - 1, 1) : NULL, false);
out:
	PQclear(res);
	return rc;
}

int h_admin_dead_retry(struct req *r)
{
	const char *params[] = { r->params[0] };
	PGresult *res = NULL;
	int rc;

	if ((rc = access_admin(r)))
		return rc;
	if ((rc = db_exec(r->app->db, SQL_DEAD_RETRY, params, &res)))
		goto out;
	if (!PQntuples(res)) {
		req_detail(r, "no dead job %s", r->params[0]);
		rc = ERR_NOTFOUND;
		goto out;
	}
	queue_notify(r->app->db, PQgetvalue(res, 0, 1));	/* a wake-up; the poll covers a miss */
	audit_write(r->app->db, r->user.user_id, "dead-job-retry", r->params[0], req_ip(r), NULL);
	char body[64];
	snprintf(body, sizeof(body), "{\"id\":%s,\"status\":\"queued\"}", PQgetvalue(res, 0, 0));
	rc = req_reply(r, 202, body);
out:
	PQclear(res);
	return rc;
}
