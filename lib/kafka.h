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

/* kafka_topic - @name under the configured prefix, into @out. */
void kafka_topic(const struct conf *c, const char *name, char *out, size_t len);

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
