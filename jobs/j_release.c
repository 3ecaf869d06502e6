/*
 * j_release.c - the release stage: advance the conversation's watermark
 * over every contiguous decided message, in seq order, so that recipients
 * never see seq n+1 before seq n however moderation finished
 * (release_conversations() in migrations/functions/release.sql). Idempotent by construction.
 *
 * After the commit, everyone concerned hears of it: each released message
 * goes to the other members as a `message` event and to its sender as a
 * `status` (sent); a rejected or held one goes to its sender alone.
 */
#include "jobs.h"

#include "../lib/err.h"
#include "../lib/events.h"
#include "../lib/log.h"
#include "../lib/trace.h"
#include "../lib/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the released messages of one announcement that get a span (the rest of
 * a larger one, rare, still carry their traceparent to the gateway) */
#define RELEASE_SPANS_MAX 256

/* What a release moved over: (from, to] of the job's conversation. */
struct range {
	long long from, to;
};

static void set_range(struct job *j, const char *from, const char *to)
{
	struct range *rg = j->state ? j->state : calloc(1, sizeof(*rg));

	if (!rg)
		return;
	rg->from = atoll(from);
	rg->to = atoll(to);
	j->state = rg;
}

static void cleanup(struct job *j)
{
	free(j->state);
	j->state = NULL;
}

/* What RELEASE_MANY answered: each job of a released conversation (the
 * first of its key) carries what its release moved. */
static void read_ranges(struct worker *w, struct job *jobs, int n, PGresult *res)
{
	for (int r = 0; r < PQntuples(res); r++) {
		if (atoi(PQgetvalue(res, r, 3)) > 0)
			w->deliveries_queued = true;
		for (int i = 0; i < n; i++)
			if (!strcmp(jobs[i].key, PQgetvalue(res, r, 0))) {
				set_range(&jobs[i], PQgetvalue(res, r, 1), PQgetvalue(res, r, 2));
				break;
			}
	}
}

/* The batch's conversations in one statement (release_conversations()
 * locks them in id order and reads each once, however many jobs name it). */
static int apply_batch(struct worker *w, struct job *jobs, int n)
{
	struct db_array keys = { 0 };
	PGresult *res = NULL;
	int rc;

	for (int i = 0; i < n; i++) {
		if (!validate_uuid(jobs[i].key)) {
			snprintf(w->error, sizeof(w->error), "key '%s' is not a conversation",
				 jobs[i].key);
			db_array_free(&keys);
			return ERR_VALIDATION;
		}
		db_array_add(&keys, jobs[i].key);
	}
	const char *params[] = { db_array_str(&keys) };
	if (!params[0])
		rc = ERR_INTERNAL;
	else if ((rc = db_exec(w->db, SQL_RELEASE_MANY, params, &res)))
		snprintf(w->error, sizeof(w->error), "release failed: %s", db_sqlstate(w->db));
	else
		read_ranges(w, jobs, n, res);
	PQclear(res);
	db_array_free(&keys);
	return rc;
}

/* One job, after its batch failed: the same, for its conversation. */
static int apply(struct worker *w, struct job *j)
{
	return apply_batch(w, j, 1);
}

/* The ids in @list, PostgreSQL's text of a uuid[] ("{a,b}"), split in
 * place into a new array of *n pointers; NULL when out of memory. */
static const char **split_ids(char *list, int *n)
{
	int max = 1;
	const char **out;

	for (const char *p = list; *p; p++)
		max += *p == ',';
	if (!(out = calloc((size_t)max, sizeof(*out))))
		return NULL;
	*n = 0;
	for (char *p = list + (*list == '{'); *p && *p != '}';) {
		out[(*n)++] = p;
		p += strcspn(p, ",}");
		if (*p == ',')
			*p++ = '\0';
		else
			*p = '\0';
	}
	return out;
}

void release_announce(struct worker *w, const struct released *r, int n)
{
	struct db_array convs = { 0 }, froms = { 0 }, tos = { 0 };
	struct events_batch *batch = NULL;
	PGresult *msgs = NULL;
	int wanted = 0, nspans = 0;
	static struct span spans[RELEASE_SPANS_MAX];	/* (one worker thread) */

	for (int i = 0; i < n; i++)
		if (r[i].to > r[i].from) {
			db_array_add(&convs, r[i].conv);
			db_array_add_ll(&froms, r[i].from);
			db_array_add_ll(&tos, r[i].to);
			wanted++;
		}
	const char *params[] = { db_array_str(&convs), db_array_str(&froms), db_array_str(&tos) };
	if (!wanted || !params[0] || !params[1] || !params[2] ||
	    db_exec(w->db, SQL_RELEASED_EVENTS, params, &msgs) || !(batch = events_batch_new()))
		goto out;
	/* rows come by conversation, each with its people */
	const char **people = NULL, **others = NULL;
	char *list = NULL;
	int np = 0;
	for (int m = 0; m < PQntuples(msgs); m++) {
		const char *id = PQgetvalue(msgs, m, 0), *sender = PQgetvalue(msgs, m, 2);
		const char *status = PQgetvalue(msgs, m, 3), *reason = PQgetvalue(msgs, m, 4);
		const char *conv = PQgetvalue(msgs, m, 6);
		int k = 0;

		if (!m || strcmp(conv, PQgetvalue(msgs, m - 1, 6))) {
			free(list);
			free(people);
			free(others);
			np = 0;
			people = others = NULL;
			if ((list = strdup(PQgetvalue(msgs, m, 7))) && (people = split_ids(list, &np)))
				others = calloc((size_t)np + 1, sizeof(*others));
			if (!others)
				np = 0;
		}
		const char *traceparent = PQgetvalue(msgs, m, 8);
		if (*traceparent && nspans < RELEASE_SPANS_MAX) {
			/* its release is a span of its trace, until everyone has heard */
			struct span *sp = &spans[nspans++];
			span_start(sp, traceparent, "release", SPAN_INTERNAL);
			span_attr(sp, "chat4all.message_id", id);
			span_attr(sp, "chat4all.status", status);
			span_attr_int(sp, "chat4all.seq", atoll(PQgetvalue(msgs, m, 1)));
		}
		events_batch_status(batch, sender, &(struct events_status){
			.message_id = id, .conversation_id = conv,
			.seq = atoll(PQgetvalue(msgs, m, 1)), .status = status, .reason = reason,
			.traceparent = traceparent });
		if (strcmp(status, "sent"))
			continue;	/* rejected and held: the sender's alone */
		for (int u = 0; u < np; u++)
			if (strcmp(people[u], sender))
				others[k++] = people[u];
		events_batch_add_traced(batch, others, k, "message", PQgetvalue(msgs, m, 5), true,
					traceparent);
	}
	free(list);
	free(people);
	free(others);
	events_batch_send(w->kv, batch);	/* one round trip for them all */
	batch = NULL;
	for (int i = 0; i < nspans; i++)
		span_end(&spans[i]);
out:
	if (batch)
		events_batch_free(batch);
	PQclear(msgs);
	db_array_free(&convs);
	db_array_free(&froms);
	db_array_free(&tos);
}

/* Tells everyone concerned what the batch released. */
static void after_commit(struct worker *w, struct job *jobs, int n)
{
	struct released *r = calloc((size_t)n, sizeof(*r));
	int k = 0;

	if (!r)
		return;
	for (int i = 0; i < n; i++) {
		struct range *rg = jobs[i].state;
		if (rg)
			r[k++] = (struct released){ jobs[i].key, rg->from, rg->to };
	}
	release_announce(w, r, k);
	free(r);
}

const struct stage stage_release = {
	.kind = "release", .apply = apply, .cleanup = cleanup, .apply_once_per_key = true,
	.max_batch = 16, .apply_batch = apply_batch, .after_commit = after_commit,
};
