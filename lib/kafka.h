/*
 * kafka.h - the Kafka clients Chat4All makes (librdkafka), configured one
 * way: the brokers, then what the role needs, then the operator's own
 * kafka.* properties (conf.h), which win. Used only when bus = kafka.
 */
#ifndef CHAT4ALL_KAFKA_H
#define CHAT4ALL_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "conf.h"

/* The topics, under kafka_topic_prefix: */
#define KAFKA_MESSAGES "messages"	/* sends to moderate, keyed by conversation */
#define KAFKA_DELIVERIES "deliveries"	/* deliveries, keyed by external address */
#define KAFKA_INBOUND "inbound"		/* providers' webhooks, keyed by channel */
#define KAFKA_DEAD "dead"		/* records no stage could take, with their error */

/* The job kinds the relay moves from the outbox to their topics (a text[]
 * literal, for SQL): moderate → messages, inbound → inbound, deliver →
 * deliveries. Any other kind stays the table's (deliver_wait, cron's). */
#define KAFKA_RELAYED_KINDS "{moderate,inbound,deliver}"

/* What /metrics counts of the bus (the "bus" metrics file, one slot per
 * relay or worker process). */
enum kafka_series {
	KAFKA_PUBLISHED,	/* outbox rows the brokers have (the relays) */
	KAFKA_PUBLISH_FAILED,	/* rows whose delivery report failed: published again */
	KAFKA_CONSUMED,		/* records taken by the workers, copies included */
	KAFKA_REBALANCES,	/* partitions assigned or revoked */
	KAFKA_BURIED,		/* records no stage could take */
	KAFKA_HANDED_OVER,	/* deliveries' records that waited in the table (deliverer.c) */
	KAFKA_NSERIES
};
const char *const *kafka_series_labels(void);

/* kafka_topic - @name under the configured prefix, into @out. */
void kafka_topic(const struct conf *c, const char *name, char *out, size_t len);

/* kafka_conf - a client configuration: the brokers, @role's properties
 * ("name=value"), then the operator's kafka.* ones, and our log. NULL and
 * @err when librdkafka refuses one. */
rd_kafka_conf_t *kafka_conf(const struct conf *c, const char *const *role, size_t nrole,
			    char *err, size_t errlen);

/*
 * kafka_producer - an idempotent producer (enable.idempotence, acks=all,
 * keys partitioned by murmur2 as the Java client does, so a key lands where
 * any other client would put it). @on_delivery (may be NULL) hears of every
 * record's fate from rd_kafka_poll / rd_kafka_flush. NULL and @err on failure.
 */
rd_kafka_t *kafka_producer(const struct conf *c,
			   void (*on_delivery)(rd_kafka_t *, const rd_kafka_message_t *, void *),
			   void *opaque, char *err, size_t errlen);

#endif
