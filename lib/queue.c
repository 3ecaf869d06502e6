#include "kv_keys.h"
#include "queue.h"
#include "trace.h"

#include "err.h"
#include "log.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define BACKOFF_BASE_MS 500
#define BACKOFF_MAX_MS (10 * 60 * 1000)

void job_free(struct job *j)
{
	if (!j)
		return;
	json_object_put(j->payload);
	j->payload = NULL;
}

void job_read_payload(struct job *j, const char *text)
{
	struct json_object *v;

	j->payload = text ? json_tokener_parse(text) : NULL;
	if (j->payload && json_object_object_get_ex(j->payload, "req_id", &v))
		snprintf(j->req_id, sizeof(j->req_id), "%s", json_object_get_string(v));
	/* only a traceparent that is one: it is written into JSON and headers again */
	struct trace_ctx c;
	if (j->payload && json_object_object_get_ex(j->payload, "traceparent", &v) &&
	    trace_parse(json_object_get_string(v), &c))
		trace_format(&c, j->traceparent);
}

int queue_listen(struct db *db)
{
	return db_run(db, "LISTEN chat4all_jobs");
}

bool queue_wait(struct db *db, struct kv *wake, int timeout_ms)
{
	PGconn *c = db_conn(db);
	struct pollfd p[2] = { { .fd = PQsocket(c), .events = POLLIN } };
	bool woken = false;
	PGnotify *n;

	if (wake) {
		kv_subscribe(wake, KV_JOBS_WAKE);	/* (again, after a loss) */
		if (kv_drain(wake) > 0)
			return true;	/* what came while we worked */
		p[1].fd = kv_fd(wake);
		p[1].events = POLLIN;
	}
	if (p[0].fd < 0 || poll(p, wake && p[1].fd >= 0 ? 2 : 1, timeout_ms) <= 0)
		return false;
	if (p[1].revents)
		woken = kv_drain(wake) > 0;
	PQconsumeInput(c);
	while ((n = PQnotifies(c))) {
		woken = true;
		PQfreemem(n);
	}
	return woken;
}

int queue_claim(struct db *db, const char *kind, int lease_s, struct job *out, int max)
{
	return queue_claim_with(db, SQL_JOB_CLAIM, kind, lease_s, out, max, NULL);
}

int queue_claim_with(struct db *db, enum sql_stmt claim, const char *kind, int lease_s,
		     struct job *out, int max, const char *extra)
{
	char max_s[16], lease[16];
	PGresult *res = NULL;
	int rc, n;

	snprintf(max_s, sizeof(max_s), "%d", max);
	snprintf(lease, sizeof(lease), "%d", lease_s);
	const char *params[] = { kind, max_s, lease, extra };	/* a statement binds what it takes */
	if ((rc = db_exec(db, claim, params, &res)))
		return rc;
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		struct job *j = &out[i];

		memset(j, 0, sizeof(*j));
		j->id = atoll(PQgetvalue(res, i, 0));
		snprintf(j->kind, sizeof(j->kind), "%s", PQgetvalue(res, i, 1));
		snprintf(j->key, sizeof(j->key), "%s", PQgetvalue(res, i, 2));
		job_read_payload(j, PQgetvalue(res, i, 3));
		j->attempts = atoi(PQgetvalue(res, i, 4));
	}
	PQclear(res);
	return n;
}

static int exec_simple(struct db *db, enum sql_stmt s, const char *const *params)
{
	PGresult *res = NULL;
	int rc = db_exec(db, s, params, &res);

	PQclear(res);
	return rc;
}

int queue_ack(struct db *db, const struct job *j)
{
	char id[24];

	snprintf(id, sizeof(id), "%lld", j->id);
	const char *params[] = { id };
	return exec_simple(db, SQL_JOB_ACK, params);
}

int queue_ack_many(struct db *db, const struct job *jobs, int n)
{
	struct db_array ids = { 0 };
	int rc;

	for (int i = 0; i < n; i++)
		db_array_add_ll(&ids, jobs[i].id);
	const char *params[] = { db_array_str(&ids) };
	rc = params[0] ? exec_simple(db, SQL_JOB_ACK_MANY, params) : ERR_INTERNAL;
	db_array_free(&ids);
	return rc;
}

int queue_give_back(struct db *db, const struct job *j)
{
	char id[24];

	snprintf(id, sizeof(id), "%lld", j->id);
	const char *params[] = { id };
	return exec_simple(db, SQL_JOB_GIVE_BACK, params);
}

int queue_enqueue(struct db *db, const char *kind, const char *key, const char *payload)
{
	const char *params[] = { kind, key, payload };

	return exec_simple(db, SQL_JOB_ENQUEUE, params);
}

int queue_notify(struct db *db, const char *kind)
{
	const char *params[] = { kind };

	return exec_simple(db, SQL_JOB_NOTIFY, params);
}

int queue_backoff_ms(int attempts, unsigned random)
{
	long long d = BACKOFF_BASE_MS;

	for (int i = 1; i < attempts && d < BACKOFF_MAX_MS; i++)
		d *= 2;
	if (d > BACKOFF_MAX_MS)
		d = BACKOFF_MAX_MS;
	/* "equal jitter": half fixed, half random, so retries spread out */
	return (int)(d / 2 + random % (unsigned)(d / 2 + 1));
}

int queue_fail(struct db *db, const struct job *j, const char *error, int max_attempts)
{
	char id[24], delay[16];
	unsigned r = 0;

	snprintf(id, sizeof(id), "%lld", j->id);
	if (j->attempts >= max_attempts) {
		const char *params[] = { id, error };
		int rc = exec_simple(db, SQL_JOB_BURY, params);
		if (!rc)
			log_warn(j->req_id[0] ? j->req_id : NULL,
				 "job %lld (%s) dead after %d attempts: %s", j->id, j->kind,
				 j->attempts, error);
		return rc ? rc : 1;
	}
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (unsigned)j->id;
	snprintf(delay, sizeof(delay), "%d", queue_backoff_ms(j->attempts, r));
	const char *params[] = { id, delay, error };
	return exec_simple(db, SQL_JOB_RETRY, params);
}
