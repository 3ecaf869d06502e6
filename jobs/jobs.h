/*
 * jobs.h - chat4all-jobs: its worker, the stages it runs (one j_<kind>.c
 * each), the deliverer and cron.
 *
 * A stage is the handler of one job kind.
 *
 * prepare() runs outside any transaction (slow work: a provider's HTTP
 * call); it may answer STAGE_LATER when its job cannot be done within the
 * batch's lease through no fault of its own (the batch's earlier jobs used
 * the time): that job and the ones after it in the batch go back to the
 * queue as they were, keeping their order and their attempts. apply()
 * runs inside the batch's transaction, which also deletes
 * the job, so its effects and the acknowledgement commit together. Both
 * must be idempotent: a job can run again after a crash. A stage sees
 * only struct job: how the job reached it is lib/queue.c's business.
 *
 * A stage may also do a whole batch at once (prepare_batch/apply_batch):
 * a few set-based statements instead of a few per job, which is where a
 * worker's time goes. When a batch fails, its jobs run again one by one
 * through prepare/apply, so one bad job never holds the others back.
 */
#ifndef CHAT4ALL_JOBS_H
#define CHAT4ALL_JOBS_H

#include <stdbool.h>

#include "../lib/clock.h"
#include "../lib/conf.h"
#include "../lib/db.h"
#include "../lib/kv.h"
#include "../lib/metrics.h"
#include "../lib/moderation.h"
#include "../lib/queue.h"
#include "../lib/queue_kafka.h"

#define STAGE_LATER 1	/* prepare(): not in this batch (see above) */

struct worker {
	struct conf conf;
	struct db *db;
	struct moderation *moderation;
	struct metrics *moderation_metrics;	/* decisions and provider latency */
	struct metrics *channel_metrics;	/* deliveries by channel and outcome, latency */
	struct kv *kv;				/* the live path: events after commit */
	struct kv *wake;			/* subscribed to KV_JOBS_WAKE (pipeline workers) */
	/* bus = kafka: the kinds whose jobs come from a topic (worker.c) */
	struct queue_kafka *kafka_messages;	/* moderate, from <prefix>messages */
	struct queue_kafka *kafka_inbound;	/* inbound, from <prefix>inbound */
	struct queue_kafka *kafka_deliveries;	/* deliver, from <prefix>deliveries (deliverer.c) */
	struct metrics *bus_metrics;		/* bus = kafka: published, consumed, rebalances */
	struct netguard *guard;			/* where deliveries and media fetches may go */
	char error[256];	/* why the last prepare/apply failed */
	long long lease_ends_ms;	/* the current batch's lease, on clock_ms()'s clock */
	int batch_pos;		/* the place in its batch of the job being prepared (0: first) */
	/* the open transaction queued deliveries: the deliverer is woken
	 * after its commit (a NOTIFY inside would serialise commits) */
	bool deliveries_queued;
};

struct stage {
	const char *kind;
	int (*prepare)(struct worker *w, struct job *j);	/* may be NULL */
	int (*apply)(struct worker *w, struct job *j);
	void (*cleanup)(struct job *j);				/* frees j->state */
	bool apply_once_per_key;	/* one run covers every job of a key in a batch */
	int max_batch;			/* 0: worker_batch */
	int max_attempts;		/* 0: job_max_attempts */
	int (*prepare_batch)(struct worker *w, struct job *jobs, int n);	/* may be NULL */
	int (*apply_batch)(struct worker *w, struct job *jobs, int n);	/* may be NULL */
	/* after the batch committed (only then may others hear of it) */
	void (*after_commit)(struct worker *w, struct job *jobs, int n);	/* may be NULL */
};

extern const struct stage stage_moderate;	/* j_moderate.c */
extern const struct stage stage_release;	/* j_release.c */
extern const struct stage stage_file_verify;	/* j_file_verify.c */
extern const struct stage stage_inbound;	/* j_inbound.c */

/* What a commit released: @conv's watermark moved from @from to @to. */
struct released {
	const char *conv;
	long long from, to;
};

/* release_announce - after a commit that released @r[0..n): message events
 * to the members, status events to the senders; one query and one Redis
 * round trip for them all. */
void release_announce(struct worker *w, const struct released *r, int n);

/* deliver_run - the deliverer (deliverer.c): deliveries only (`deliver`
 * jobs, or with bus = kafka <prefix>deliveries' records and the table's
 * `deliver_wait` jobs), kept flowing through curl multi, until
 * SIGTERM/SIGINT; 0 on a clean stop. */
int deliver_run(struct worker *w);

/* relay_run - the outbox relay (relay.c, bus = kafka): job rows to Kafka,
 * one active relay per shard, the others standing by. */
int relay_run(struct worker *w);

/* worker_count_consumed - @n records taken from Kafka, and the rebalances
 * this process's consumers saw since the last call, into /metrics. */
void worker_count_consumed(struct worker *w, int n);

/* worker_run - claim and run jobs until SIGTERM/SIGINT; 0 on a clean stop. */
int worker_run(struct worker *w);

/* cron_run - housekeeping (cron.c) once (@every 0), or every @every
 * seconds until SIGTERM/SIGINT. */
int cron_run(struct worker *w, int every);

#endif
