/*
 * worker.c - the worker loop: claim a batch, prepare each job outside any
 * transaction, then apply them all and delete them in one transaction
 * (one commit for the batch). If any job fails, the batch is rolled back
 * and each job runs again in a transaction of its own, so one bad job
 * costs its neighbours a retry, never their work.
 *
 * A batch holds one kind of job. Moderation locks message rows and release
 * locks the conversation row before message rows, while a send holds the
 * conversation row and may wait on a message row: mixing both kinds in one
 * transaction would take the locks in both orders and deadlock. Within a
 * batch, jobs run in key order, so two workers releasing overlapping sets
 * of conversations lock them in the same order and wait instead of
 * deadlocking (a deadlock costs PostgreSQL's deadlock_timeout, 1 s, to
 * every send waiting behind it).
 */
#include "jobs.h"

#include "../lib/err.h"
#include "../lib/kafka.h"
#include "../lib/kv_keys.h"
#include "../lib/log.h"
#include "../lib/revocation.h"
#include "../lib/trace.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 256
#define IDLE_WAIT_MS 1000	/* also when retries and expired leases come due */
#define IDLE_KAFKA_MS 100	/* bus = kafka: the wait in Kafka's poll, which also
				 * bounds how late the table's kinds are seen */

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

/* (deliver jobs have a process of their own: deliverer.c) */
static const struct stage *const stages[] = { &stage_moderate, &stage_release,
					       &stage_file_verify, &stage_inbound };

static const struct stage *stage_for(const char *kind)
{
	for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++)
		if (!strcmp(stages[i]->kind, kind))
			return stages[i];
	return NULL;
}

/*
 * Where a job came from decides how it is acknowledged: a row of the jobs
 * table is deleted, a Kafka record has its partition's offset stored
 * (lib/queue_kafka.h); either way inside the transaction of its effects.
 * The stages never know which.
 */
/* The consumer a kind's records come from (bus = kafka), or NULL. */
static struct queue_kafka *kafka_for(struct worker *w, const char *kind)
{
	return !strcmp(kind, stage_moderate.kind) ? w->kafka_messages
	       : !strcmp(kind, stage_inbound.kind) ? w->kafka_inbound : NULL;
}

static int ack(struct worker *w, const struct job *jobs, int n)
{
	if (n && jobs[0].kafka)
		return queue_kafka_ack(kafka_for(w, jobs[0].kind), jobs, n);
	return n == 1 ? queue_ack(w->db, jobs) : queue_ack_many(w->db, jobs, n);
}

static int fail(struct worker *w, const struct job *j, const char *why, int limit)
{
	if (!j->kafka)
		return queue_fail(w->db, j, why, limit);
	int rc = queue_kafka_fail(kafka_for(w, j->kind), j, why, limit);
	if (rc == 1)
		metrics_observe(w->bus_metrics, KAFKA_BURIED, 500, 0);
	return rc;
}

void worker_count_consumed(struct worker *w, int n)
{
	static long rebalances;
	long now = queue_kafka_rebalances(w->kafka_messages) + queue_kafka_rebalances(w->kafka_inbound) +
		   queue_kafka_rebalances(w->kafka_deliveries);

	for (int i = 0; i < n; i++)
		metrics_observe(w->bus_metrics, KAFKA_CONSUMED, 200, 0);
	for (; rebalances < now; rebalances++)
		metrics_observe(w->bus_metrics, KAFKA_REBALANCES, 200, 0);
}

static int give_back(struct worker *w, const struct job *j)
{
	if (!j->kafka)
		return queue_give_back(w->db, j);
	queue_kafka_give_back(kafka_for(w, j->kind), j);
	return 0;
}

/* Applies @j and acknowledges it, in the open transaction. */
static int apply_one(struct worker *w, struct job *j, int prepared)
{
	const struct stage *s = stage_for(j->kind);
	int rc;

	if (!s) {
		snprintf(w->error, sizeof(w->error), "no stage handles '%s'", j->kind);
		return ERR_INTERNAL;
	}
	if (prepared)
		return prepared;
	w->error[0] = '\0';
	if ((rc = s->apply(w, j)) || (rc = ack(w, j, 1)))
		return rc;
	return 0;
}

static void record_failure(struct worker *w, struct job *j, int rc)
{
	char why[300];

	trace_log_as(j->traceparent);
	snprintf(why, sizeof(why), "%s: %s", err_name(rc), w->error[0] ? w->error : "failed");
	log_line(LOG_WARN, j->req_id[0] ? j->req_id : NULL, NULL,
		 "job %lld (%s, attempt %d) failed: %s", j->id, j->kind, j->attempts, why);
	const struct stage *s = stage_for(j->kind);
	int limit = s && s->max_attempts ? s->max_attempts : (int)w->conf.job_max_attempts;
	if (fail(w, j, why, limit) < 0)
		log_error(NULL, "cannot record the failure of job %lld", j->id);
	trace_log_as(NULL);
}

/* The transactions of a batch or a job: after the commit, the deliverer
 * hears of deliveries it queued (jobs.h). */
static int begin(struct worker *w)
{
	w->deliveries_queued = false;
	return db_begin(w->db);
}

static int commit(struct worker *w)
{
	int rc = db_commit(w->db);

	if (!rc && w->deliveries_queued)
		queue_notify(w->db, "deliver");
	w->deliveries_queued = false;
	return rc;
}

/* One job in a transaction of its own, after its batch failed; true when
 * it committed. */
static bool run_alone(struct worker *w, struct job *j, int prepared)
{
	int rc;

	const struct stage *s = stage_for(j->kind);

	if (begin(w))
		return false;
	if (!(rc = apply_one(w, j, prepared)) && !commit(w)) {
		if (s && s->after_commit)
			s->after_commit(w, j, 1);
		return true;
	}
	db_rollback(w->db);
	record_failure(w, j, rc ? rc : ERR_DB);
	return false;
}

/* Later jobs of a batch with the key of an earlier one (a release of the
 * same conversation) are acknowledged without running again. */
static bool repeats_key(const struct job *jobs, int i)
{
	for (int k = 0; k < i; k++)
		if (!strcmp(jobs[k].key, jobs[i].key))
			return true;
	return false;
}

static int by_key(const void *a, const void *b)
{
	const struct job *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->id > y->id) - (x->id < y->id);
}

static void cleanup_all(const struct stage *s, struct job *jobs, int n)
{
	for (int i = 0; i < n; i++)
		if (s && s->cleanup)
			s->cleanup(&jobs[i]);
}

/* The stage's set-based path: 0 when the batch committed. */
static int run_set(struct worker *w, const struct stage *s, struct job *jobs, int n)
{
	int rc;

	w->error[0] = '\0';
	if (s->prepare_batch && (rc = s->prepare_batch(w, jobs, n)))
		return rc;
	if ((rc = begin(w)))
		return rc;
	if ((rc = s->apply_batch(w, jobs, n)) || (rc = ack(w, jobs, n)) ||
	    (rc = commit(w))) {
		db_rollback(w->db);
		return rc;
	}
	if (s->after_commit)
		s->after_commit(w, jobs, n);
	return 0;
}

/* Job by job in one transaction, for stages without a set-based path. */
static int run_each(struct worker *w, const struct stage *s, struct job *jobs, int n,
		    int *prepared)
{
	bool failed = false;

	bool later = false;

	for (int i = 0; i < n; i++) {
		w->error[0] = '\0';
		w->batch_pos = i;
		trace_log_as(jobs[i].traceparent);
		if (later)	/* the ones after a deferred job wait with it, in order */
			prepared[i] = STAGE_LATER;
		else if (s && s->prepare)
			later = (prepared[i] = s->prepare(w, &jobs[i])) == STAGE_LATER;
	}
	trace_log_as(NULL);
	if (begin(w))
		return ERR_DB;
	for (int i = 0; i < n && !failed; i++)
		failed = prepared[i] == STAGE_LATER ? false
			 : (s && s->apply_once_per_key && repeats_key(jobs, i)
				    ? ack(w, &jobs[i], 1)
				    : apply_one(w, &jobs[i], prepared[i])) != 0;
	if (!failed && commit(w))
		failed = true;
	if (failed)
		db_rollback(w->db);
	else if (s && s->after_commit)
		s->after_commit(w, jobs, n);
	return failed ? ERR_DB : 0;
}

/* Each job of a message's trace is a span of it, from its claim to its
 * batch's end; @failed says which did not commit. */
static void job_spans_start(struct span *spans, const struct job *jobs, int n)
{
	char name[48];

	for (int i = 0; i < n; i++) {
		if (!jobs[i].traceparent[0])
			continue;
		snprintf(name, sizeof(name), "job %s", jobs[i].kind);
		span_start(&spans[i], jobs[i].traceparent, name, SPAN_CONSUMER);
		span_attr_int(&spans[i], "chat4all.job_id", jobs[i].id);
		span_attr_int(&spans[i], "chat4all.attempt", jobs[i].attempts);
	}
}

static void job_spans_end(struct span *spans, const struct job *jobs, int n, const int *prepared,
			  const bool *failed)
{
	for (int i = 0; i < n; i++) {
		if (!jobs[i].traceparent[0])
			continue;
		span_attr(&spans[i], "chat4all.outcome", prepared[i] == STAGE_LATER ? "later"
							 : failed[i] ? "failed" : "done");
		spans[i].error = failed[i];
		span_end(&spans[i]);
	}
}

static void run_batch(struct worker *w, struct job *jobs, int n)
{
	const struct stage *s = stage_for(jobs[0].kind);
	int prepared[MAX_BATCH] = { 0 };
	bool failed[MAX_BATCH] = { false };
	struct span spans[MAX_BATCH];
	int rc;

	qsort(jobs, (size_t)n, sizeof(*jobs), by_key);
	job_spans_start(spans, jobs, n);
	if (s && s->apply_batch) {
		rc = run_set(w, s, jobs, n);
		if (rc) {
			log_warn(NULL, "%s batch of %d failed (%s); running its jobs one by one",
				 jobs[0].kind, n, w->error[0] ? w->error : err_name(rc));
			cleanup_all(s, jobs, n);
			for (int i = 0; i < n; i++) {
				w->error[0] = '\0';
				w->batch_pos = i;
				trace_log_as(jobs[i].traceparent);
				if (s->prepare)
					prepared[i] = s->prepare(w, &jobs[i]);
			}
			trace_log_as(NULL);
		}
	} else {
		rc = run_each(w, s, jobs, n, prepared);
	}
	for (int i = 0; i < n; i++)
		if (prepared[i] == STAGE_LATER) {
			/* not this job's fault: back in the queue, no attempt spent */
			if (give_back(w, &jobs[i]))
				log_warn(NULL, "cannot release job %lld", jobs[i].id);
		} else if (rc) {
			failed[i] = !run_alone(w, &jobs[i], prepared[i]);
		}
	job_spans_end(spans, jobs, n, prepared, failed);
	cleanup_all(s, jobs, n);
	for (int i = 0; i < n; i++)
		job_free(&jobs[i]);
}

/* A Redis that came back learns again, within a second, which sign-ins
 * ended while it was away, whether or not a request comes to make the API
 * tell it: the stream gateway has no database, and until then it would
 * take a stream of such a sign-in (lib/revocation.h). The PING reconnects
 * a connection an idle worker has not used since Redis went. */
static void keep_redis_told(struct worker *w)
{
	static long long next_ms;
	long long now = clock_ms();
	const char *ping[] = { "PING" };

	if (now < next_ms)
		return;
	next_ms = now + 1000;
	redisReply *r = kv_command(w->kv, 1, ping, NULL);
	if (r)
		freeReplyObject(r);
	revocation_sync(w->db, w->kv, revocation_ttl(w->conf.access_ttl));
}

int worker_run(struct worker *w)
{
	struct sigaction sa = { .sa_handler = on_term };	/* no SA_RESTART: wake poll() */
	static struct job jobs[MAX_BATCH];
	int batch = (int)w->conf.worker_batch;
	bool idle = true;
	char err[512];

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (batch < 1 || batch > MAX_BATCH)
		batch = MAX_BATCH;
	while (!stopping && queue_listen(w->db)) {
		log_warn(NULL, "waiting for the database");
		sleep(1);
	}
	/* sends wake us through Redis (lib/queue.h); NOTIFY still does too */
	if (!w->wake && (w->wake = kv_open(w->conf.redis)))
		kv_subscribe(w->wake, KV_JOBS_WAKE);
	if (!strcmp(w->conf.bus, "kafka")) {
		char moderate[160], inbound[160];
		snprintf(moderate, sizeof(moderate), "%smoderate", w->conf.kafka_topic_prefix);
		snprintf(inbound, sizeof(inbound), "%sinbound", w->conf.kafka_topic_prefix);
		if (!(w->kafka_messages = queue_kafka_new(&w->conf, w->db, moderate, KAFKA_MESSAGES,
							  stage_moderate.kind, err, sizeof(err))) ||
		    !(w->kafka_inbound = queue_kafka_new(&w->conf, w->db, inbound, KAFKA_INBOUND,
							 stage_inbound.kind, err, sizeof(err)))) {
			log_error(NULL, "worker: kafka: %s", err);
			queue_kafka_free(w->kafka_messages);
			return 1;
		}
	}
	log_info(NULL, "worker ready (batch %d, lease %ld s, bus %s)", batch, w->conf.worker_lease,
		 w->conf.bus);
	while (!stopping) {
		int total = 0, n = 0;
		keep_redis_told(w);
		for (size_t k = 0; k < sizeof(stages) / sizeof(stages[0]) && !stopping; k++) {
			/* a release batch holds its conversations' rows until it
			 * commits, and sends to them wait: keep those batches short */
			int want = stages[k]->max_batch && stages[k]->max_batch < batch
					   ? stages[k]->max_batch : batch;
			/* the lease runs from the claim: measured before it, never late */
			w->lease_ends_ms = clock_ms() + w->conf.worker_lease * 1000;
			/* with bus = kafka, messages to moderate and webhooks come
			 * from their topics (the relay took their rows); the rest
			 * from the table. An idle worker waits in the messages'
			 * poll, where most work arrives. */
			struct queue_kafka *topic = kafka_for(w, stages[k]->kind);
			bool from_kafka = topic != NULL;
			n = from_kafka ? queue_kafka_claim(topic, jobs, want,
							   idle && topic == w->kafka_messages ? IDLE_KAFKA_MS : 0)
				       : queue_claim(w->db, stages[k]->kind, (int)w->conf.worker_lease, jobs, want);
			if (from_kafka)
				worker_count_consumed(w, n > 0 ? n : 0);
			if (n < 0)
				break;
			/* a claimed batch is always finished, SIGTERM or not */
			if (n > 0)
				run_batch(w, jobs, n);
			total += n;
		}
		if (n < 0) {
			/* the database went away: db_exec reconnects; listen again */
			sleep(1);
			queue_listen(w->db);
		} else if (!total) {
			if (!w->kafka_messages)	/* (with Kafka the poll was the wait) */
				queue_wait(w->db, w->wake, IDLE_WAIT_MS);
		} else if (total < batch / 4 && w->conf.worker_linger_ms > 0) {
			/* a trickle: let a few more jobs gather, so that each
			 * commit carries more of them (bounded extra latency) */
			usleep((useconds_t)w->conf.worker_linger_ms * 1000u);
		}
		idle = !total;
	}
	queue_kafka_free(w->kafka_messages);
	queue_kafka_free(w->kafka_inbound);
	w->kafka_messages = w->kafka_inbound = NULL;
	kv_free(w->wake);
	w->wake = NULL;
	log_info(NULL, "worker stopped");
	return 0;
}
