/*
 * queue_kafka.h - the queue's other transport (bus = kafka): a consumer
 * group's records as jobs for the same stages (jobs.h), acknowledged by
 * writing the group's next offsets into PostgreSQL (bus_offsets) in the
 * transaction that commits the records' effects. Kafka delivers at least
 * once; the database holds each effect once: the stages are idempotent (a
 * decided message is not decided again) and a partition's stored offset
 * never passes a record that is not done.
 *
 * A record that fails is tried again from memory after a backoff, and
 * after job_max_attempts goes to dead_jobs (the admin's dead letters, from
 * where a retry puts it back in the outbox) and to <prefix>dead; the
 * partition's offset then moves past it. Partitions are assigned with the
 * cooperative-sticky assignor and start, when assigned, from their offset
 * in bus_offsets (the beginning when none is stored).
 */
#ifndef CHAT4ALL_QUEUE_KAFKA_H
#define CHAT4ALL_QUEUE_KAFKA_H

#include "conf.h"
#include "db.h"
#include "queue.h"

struct queue_kafka;

/* queue_kafka_new - a member of @group reading <prefix>@topic; its records
 * become jobs of @kind. NULL and @err on failure. */
struct queue_kafka *queue_kafka_new(const struct conf *c, struct db *db, const char *group,
				    const char *topic, const char *kind, char *err, size_t errlen);
void queue_kafka_free(struct queue_kafka *q);

/* queue_kafka_claim - up to @max jobs: retries that came due first, then
 * records, waiting up to @wait_ms for the first. The count, or a negative
 * enum err. */
int queue_kafka_claim(struct queue_kafka *q, struct job *out, int max, int wait_ms);

/* queue_kafka_wake_fd - a descriptor that becomes readable when records
 * (or a rebalance) arrive while this member has none waiting, for a caller
 * that waits on other things too (the deliverer's curl_multi_poll); each
 * claim empties it. -1 on failure. */
int queue_kafka_wake_fd(struct queue_kafka *q);

/* queue_kafka_ack - @jobs are done: inside the caller's transaction, the
 * next offset of each of their partitions (never past one not done;
 * nothing for a partition revoked since they were claimed). */
int queue_kafka_ack(struct queue_kafka *q, const struct job *jobs, int n);

/* queue_kafka_fail - @j failed: tried again after a backoff, or dead once
 * it has had @max_attempts (in a transaction of its own). 1 when dead. */
int queue_kafka_fail(struct queue_kafka *q, const struct job *j, const char *error,
		     int max_attempts);

/* queue_kafka_give_back - @j goes back unattempted (STAGE_LATER). */
void queue_kafka_give_back(struct queue_kafka *q, const struct job *j);

/* queue_kafka_rebalances - rebalances seen (for /metrics and tests). */
long queue_kafka_rebalances(const struct queue_kafka *q);

#endif
