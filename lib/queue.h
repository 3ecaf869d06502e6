/*
 * queue.h - the PostgreSQL job queue of DESIGN §3: the jobs table is the
 * transactional outbox and the queue at once.
 *
 * A job is claimed with a lease (FOR UPDATE SKIP LOCKED, so workers never
 * wait on each other) and acknowledged late: queue_ack() deletes it inside
 * the transaction that commits its effects, so a worker that dies mid-job
 * loses nothing — its lease expires and another worker takes the job.
 * Handlers must therefore be idempotent. A failed job is retried with
 * exponential backoff and jitter, then buried in dead_jobs.
 */
#ifndef CHAT4ALL_QUEUE_H
#define CHAT4ALL_QUEUE_H

#include <json-c/json.h>
#include <stdbool.h>

#include "db.h"
#include "kv.h"

struct job {
	long long id;
	char kind[32];
	char key[64];		/* jobs with one key are work on one thing */
	int attempts;		/* this claim included */
	struct json_object *payload;	/* owned by the job: job_free() */
	char req_id[65];	/* the request that made it, for the logs */
	char traceparent[56];	/* its span (lib/trace.h), "" when untraced */
	void *state;		/* a handler's own, between prepare and apply */
	/* a record of a Kafka partition (queue_kafka.h), not a row of jobs */
	bool kafka;
	int partition;
	long long offset;
};

void job_free(struct job *j);
/* job_read_payload - sets @j's payload from @text and what the payload
 * says of where the job came from (req_id, traceparent). */
void job_read_payload(struct job *j, const char *text);

/* queue_listen - subscribe this connection to enqueue notifications. */
int queue_listen(struct db *db);

/*
 * A send does not NOTIFY in its transaction: a notifying commit takes a
 * database-wide lock until its WAL is flushed, so every send would commit
 * one after another (measured with pgbench, 16 clients: send_message 1.5k
 * a second with the NOTIFY, 3.5k without). The API wakes the workers on
 * KV_JOBS_WAKE (kv_keys.h) after the commit instead, in the round trip
 * that tells the sender (PostgreSQL's NOTIFY when Redis is away).
 */

/*
 * queue_wait - sleep until a job is enqueued (a NOTIFY on @db's LISTEN, or
 * a message on @wake, a connection subscribed to KV_JOBS_WAKE; NULL:
 * none) or @timeout_ms pass; true when woken.
 */
bool queue_wait(struct db *db, struct kv *wake, int timeout_ms);

/*
 * queue_claim - lease up to @max ready jobs of @kind ("moderate") for
 * @lease_s seconds, oldest first: an index walk of that kind's jobs in
 * order (jobs_claim, migrations/0012), however long another kind's
 * backlog. Returns the number claimed into @out, or a negative enum err.
 */
int queue_claim(struct db *db, const char *kind, int lease_s, struct job *out, int max);
/* queue_claim_with - the same with another claim statement of those
 * parameters and, when it takes one, a fourth: @extra
 * (SQL_DELIVER_CLAIM: in order per key, without the channels in @extra). */
int queue_claim_with(struct db *db, enum sql_stmt claim, const char *kind, int lease_s,
		     struct job *out, int max, const char *extra);

/* Inside the caller's transaction: */
int queue_ack(struct db *db, const struct job *j);
int queue_ack_many(struct db *db, const struct job *jobs, int n);
/* (it does not wake anyone: a worker enqueuing for itself finds the job on
 * its next pass; others call queue_notify after their commit) */
int queue_enqueue(struct db *db, const char *kind, const char *key, const char *payload);

/* queue_notify - wakes the workers listening for @kind's jobs: after the
 * commit, in a transaction of its own (see KV_JOBS_WAKE for why). */
int queue_notify(struct db *db, const char *kind);

/*
 * queue_fail - retry @j after a backoff (base * 2^(attempts-1), capped,
 * with jitter), or bury it in dead_jobs once it has had @max_attempts.
 * Returns 1 when buried, 0 when scheduled again, or a negative enum err.
 */
int queue_fail(struct db *db, const struct job *j, const char *error, int max_attempts);

/* queue_give_back - gives a claimed @j back untouched: no lease, and the
 * attempt its claim counted taken back (the worker ran out of time, not
 * the job). */
int queue_give_back(struct db *db, const struct job *j);

/* queue_backoff_ms - the delay before attempt @attempts + 1 (exposed for tests). */
int queue_backoff_ms(int attempts, unsigned random);

#endif
