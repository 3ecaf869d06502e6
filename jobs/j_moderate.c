/*
 * j_moderate.c - the moderate stage: run the provider chain on a pending
 * message, record every attempt in moderation_log, write the verdict, and
 * enqueue the conversation's release. A message already decided is left
 * alone (the job ran before), so running it twice changes nothing twice.
 */
#include "stage.h"

#include "../lib/err.h"
#include "../lib/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct moderate_state {
	char message_id[37];
	char conversation_id[37];
	bool pending;
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
	char payload[128];
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

const struct stage stage_moderate = { "moderate", prepare, apply, cleanup, false };
