/*
 * j_moderate.c - the moderate stage: run the provider chain on a pending
 * message, record every attempt in moderation_log, write the verdict, and
 * release the conversation (a batch does it in the same transaction; a
 * job run alone, after its batch failed, enqueues a release job). A
 * message already decided is left alone (the job ran before), so running
 * it twice changes nothing twice.
 */
#include "jobs.h"

#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct moderate_state {
	char message_id[37];
	char conversation_id[37];
	bool pending;
	bool announce;		/* the batch released this conversation: tell */
	long long from, to;	/* ... what moved, (from, to] */
	enum verdict verdict;
	struct attempt attempts[MODERATION_MAX_ATTEMPTS];
	int nattempts;
};

static int prepare(struct worker *w, struct job *j)
{
	struct json_object *mid;
	struct moderate_state *st = calloc(1, sizeof(*st));
	PGresult *res = NULL;
	int rc;

	if (!st)
		return ERR_INTERNAL;
	j->state = st;
	if (!j->payload || !json_object_object_get_ex(j->payload, "message_id", &mid)) {
		snprintf(w->error, sizeof(w->error), "payload has no message_id");
		return ERR_VALIDATION;
	}
	snprintf(st->message_id, sizeof(st->message_id), "%s", json_object_get_string(mid));
	const char *params[] = { st->message_id };
	if ((rc = db_exec(w->db, SQL_MSG_FOR_MODERATION, params, &res))) {
		snprintf(w->error, sizeof(w->error), "cannot read message: %s", db_sqlstate(w->db));
		return rc;
	}
	if (PQntuples(res) && !strcmp(PQgetvalue(res, 0, 2), "pending")) {
		st->pending = true;
		snprintf(st->conversation_id, sizeof(st->conversation_id), "%s",
			 PQgetvalue(res, 0, 0));
		st->verdict = moderation_decide(w->moderation, PQgetvalue(res, 0, 1),
						st->attempts, &st->nattempts);
		for (int i = 0; i < st->nattempts; i++)
			metrics_observe(w->moderation_metrics, moderation_series(&st->attempts[i]),
					200, (uint64_t)st->attempts[i].latency_ms * 1000u);
	}
	PQclear(res);
	return 0;
}

static const char *status_of(enum verdict v)
{
	return v == VERDICT_APPROVE ? "approved" : v == VERDICT_HOLD ? "held" : "rejected";
}

static int apply(struct worker *w, struct job *j)
{
	struct moderate_state *st = j->state;
	PGresult *res = NULL;
	struct attempt *last;
	char reason[128];
	int rc;

	if (!st->pending)
		return 0;	/* decided by an earlier run */
	last = &st->attempts[st->nattempts - 1];
	if (last->category[0])
		snprintf(reason, sizeof(reason), "%s (%s)", last->category, last->provider);
	else if (st->verdict != VERDICT_APPROVE)
		snprintf(reason, sizeof(reason), "no moderation provider answered");
	const char *decide[] = { st->message_id, status_of(st->verdict),
				 last->category[0] ? last->category : NULL,
				 st->verdict == VERDICT_APPROVE ? NULL : reason };
	if ((rc = db_exec(w->db, SQL_MSG_DECIDE, decide, &res)))
		goto out;
	if (!PQntuples(res))
		goto out;	/* decided meanwhile */
	for (int i = 0; i < st->nattempts; i++) {
		struct attempt *a = &st->attempts[i];
		char score[32], ms[16];
		snprintf(score, sizeof(score), "%g", a->score);
		snprintf(ms, sizeof(ms), "%d", a->latency_ms);
		const char *log[] = { st->message_id, a->provider, verdict_name(a->verdict),
				      a->category[0] ? a->category : NULL, score, ms, a->raw };
		PQclear(res);
		res = NULL;
		if ((rc = db_exec(w->db, SQL_MODLOG_INSERT, log, &res)))
			goto out;
	}
	char payload[200];
	if (j->traceparent[0])	/* (its release is a span of the message's trace too) */
		snprintf(payload, sizeof(payload), "{\"req_id\":\"%s\",\"traceparent\":\"%s\"}",
			 j->req_id, j->traceparent);
	else
		snprintf(payload, sizeof(payload), "{\"req_id\":\"%s\"}", j->req_id);
	rc = queue_enqueue(w->db, "release", st->conversation_id, payload);
out:
	if (rc)
		snprintf(w->error, sizeof(w->error), "cannot record the verdict: %s",
			 db_sqlstate(w->db));
	PQclear(res);
	return rc;
}

static void cleanup(struct job *j)
{
	free(j->state);
	j->state = NULL;
}

/* The whole batch: one read of its messages, then the chain on each. */
static int prepare_batch(struct worker *w, struct job *jobs, int n)
{
	struct db_array ids = { 0 };
	PGresult *res = NULL;
	int rc = ERR_INTERNAL;

	for (int i = 0; i < n; i++) {
		struct json_object *mid;
		struct moderate_state *st = calloc(1, sizeof(*st));
		if (!st)
			goto out;
		jobs[i].state = st;
		if (!jobs[i].payload ||
		    !json_object_object_get_ex(jobs[i].payload, "message_id", &mid) ||
		    !validate_uuid(json_object_get_string(mid))) {
			snprintf(w->error, sizeof(w->error), "payload has no message_id");
			rc = ERR_VALIDATION;
			goto out;
		}
		snprintf(st->message_id, sizeof(st->message_id), "%s", json_object_get_string(mid));
		db_array_add(&ids, st->message_id);
	}
	const char *params[] = { db_array_str(&ids) };
	if (!params[0] || (rc = db_exec(w->db, SQL_MSG_FOR_MODERATION_MANY, params, &res)))
		goto out;
	for (int r = 0; r < PQntuples(res); r++) {
		if (strcmp(PQgetvalue(res, r, 3), "pending"))
			continue;
		for (int i = 0; i < n; i++) {
			struct moderate_state *st = jobs[i].state;
			if (st->pending || strcmp(st->message_id, PQgetvalue(res, r, 0)))
				continue;
			st->pending = true;
			snprintf(st->conversation_id, sizeof(st->conversation_id), "%s",
				 PQgetvalue(res, r, 1));
			st->verdict = moderation_decide(w->moderation, PQgetvalue(res, r, 2),
							st->attempts, &st->nattempts);
			for (int k = 0; k < st->nattempts; k++)
				metrics_observe(w->moderation_metrics, moderation_series(&st->attempts[k]),
						200, (uint64_t)st->attempts[k].latency_ms * 1000u);
			/* one job a message: a record Kafka delivered twice (bus =
			 * kafka is at least once on the wire) is decided once, and
			 * its copy is acknowledged with no effect */
			break;
		}
	}
out:
	PQclear(res);
	db_array_free(&ids);
	return rc;
}

/* One message's verdict, as SQL_MODERATE_DECIDE reads it:
 * {id, status, category, reason (not for an approval)}. */
static struct json_object *decision_json(const struct moderate_state *st)
{
	const struct attempt *last = &st->attempts[st->nattempts - 1];
	struct json_object *d = json_object_new_object();
	char reason[128];

	json_object_object_add(d, "id", json_object_new_string(st->message_id));
	json_object_object_add(d, "status", json_object_new_string(status_of(st->verdict)));
	json_object_object_add(d, "category", last->category[0]
			       ? json_object_new_string(last->category) : NULL);
	if (st->verdict != VERDICT_APPROVE) {
		if (last->category[0])
			snprintf(reason, sizeof(reason), "%s (%s)", last->category, last->provider);
		else
			snprintf(reason, sizeof(reason), "no moderation provider answered");
		json_object_object_add(d, "reason", json_object_new_string(reason));
	}
	return d;
}

/* Every provider asked about one message, for moderation_log, onto @log. */
static void add_attempts(const struct moderate_state *st, struct json_object *log)
{
	for (int k = 0; k < st->nattempts; k++) {
		const struct attempt *a = &st->attempts[k];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "message_id", json_object_new_string(st->message_id));
		json_object_object_add(o, "provider", json_object_new_string(a->provider));
		json_object_object_add(o, "verdict", json_object_new_string(verdict_name(a->verdict)));
		json_object_object_add(o, "category", a->category[0]
				       ? json_object_new_string(a->category) : NULL);
		json_object_object_add(o, "score", json_object_new_double(a->score));
		json_object_object_add(o, "latency_ms", json_object_new_int(a->latency_ms));
		json_object_object_add(o, "raw", json_object_new_string(a->raw));
		json_object_array_add(log, o);
	}
}

/*
 * Moves the watermarks of the batch's conversations over what was just
 * decided (release_conversations() locks their rows in id order, as every
 * release does; sends never touch those rows), and notes on each job what
 * its commit will have released, for after_commit().
 */
static int release_decided(struct worker *w, struct job *jobs, int n)
{
	struct db_array convs = { 0 };
	PGresult *res = NULL;
	int rc;

	for (int i = 0; i < n; i++) {
		struct moderate_state *st = jobs[i].state;
		if (st && st->pending)
			db_array_add(&convs, st->conversation_id);
	}
	const char *params[] = { db_array_str(&convs) };
	rc = params[0] ? db_exec(w->db, SQL_RELEASE_MANY, params, &res) : ERR_INTERNAL;
	db_array_free(&convs);
	for (int r = 0; !rc && r < PQntuples(res); r++) {
		if (atoi(PQgetvalue(res, r, 3)) > 0)
			w->deliveries_queued = true;
		for (int i = 0; i < n; i++) {
			struct moderate_state *st = jobs[i].state;
			if (!st || strcmp(st->conversation_id, PQgetvalue(res, r, 0)))
				continue;
			st->announce = true;
			st->from = atoll(PQgetvalue(res, r, 1));
			st->to = atoll(PQgetvalue(res, r, 2));
			break;
		}
	}
	PQclear(res);
	return rc;
}

/* The batch, decided and released in its one transaction: the verdicts and
 * their log rows in one statement, the release in one more. No release jobs
 * to queue, one commit per batch. */
static int apply_batch(struct worker *w, struct job *jobs, int n)
{
	struct json_object *decisions = json_object_new_array(), *log = json_object_new_array();
	int rc = 0;

	for (int i = 0; i < n; i++) {
		struct moderate_state *st = jobs[i].state;
		if (!st || !st->pending)
			continue;
		json_object_array_add(decisions, decision_json(st));
		add_attempts(st, log);
	}
	if (json_object_array_length(decisions)) {
		const char *params[] = {
			json_object_to_json_string_ext(decisions, JSON_C_TO_STRING_PLAIN),
			json_object_to_json_string_ext(log, JSON_C_TO_STRING_PLAIN),
		};
		if ((rc = db_exec(w->db, SQL_MODERATE_DECIDE, params, NULL)) ||
		    (rc = release_decided(w, jobs, n)))
			snprintf(w->error, sizeof(w->error), "cannot record the verdicts: %s",
				 db_sqlstate(w->db));
	}
	json_object_put(decisions);
	json_object_put(log);
	return rc;
}

static void after_commit(struct worker *w, struct job *jobs, int n)
{
	struct released *r = calloc((size_t)n, sizeof(*r));
	int k = 0;

	if (!r)
		return;
	for (int i = 0; i < n; i++) {
		struct moderate_state *st = jobs[i].state;
		if (st && st->announce)
			r[k++] = (struct released){ st->conversation_id, st->from, st->to };
	}
	release_announce(w, r, k);
	free(r);
}

const struct stage stage_moderate = {
	.kind = "moderate", .prepare = prepare, .apply = apply, .cleanup = cleanup,
	.prepare_batch = prepare_batch, .apply_batch = apply_batch, .after_commit = after_commit,
};
