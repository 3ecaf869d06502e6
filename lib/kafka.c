#include "kafka.h"

#include "log.h"

#include <stdio.h>
#include <string.h>

const char *const *kafka_series_labels(void)
{
	static const char *const labels[KAFKA_NSERIES] = {
		"what=\"published\"", "what=\"publish_failed\"", "what=\"consumed\"",
		"what=\"rebalances\"", "what=\"dead\"", "what=\"handed_over\"",
	};
	return labels;
}

void kafka_topic(const struct conf *c, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s%s", c->kafka_topic_prefix, name);
}

/* librdkafka's own log lines, into ours. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	log_line(level <= 3 ? LOG_ERROR : level <= 4 ? LOG_WARN : LOG_DEBUG, NULL, NULL,
		 "kafka %s: %s", fac, buf);
}

/* Sets each "name=value" of @props on @kc; false (and @err) on the first
 * that librdkafka refuses. */
static bool set_all(rd_kafka_conf_t *kc, const char *const *props, size_t n, char *err,
		    size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		char name[256];
		const char *eq = strchr(props[i], '=');
		if (!eq || (size_t)(eq - props[i]) >= sizeof(name))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(eq - props[i]), props[i]);
		if (rd_kafka_conf_set(kc, name, eq + 1, err, errlen) != RD_KAFKA_CONF_OK)
			return false;
	}
	return true;
}

rd_kafka_conf_t *kafka_conf(const struct conf *c, const char *const *role, size_t nrole,
			    char *err, size_t errlen)
{
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	char brokers[1024];

	snprintf(brokers, sizeof(brokers), "bootstrap.servers=%s", c->kafka_brokers);
	const char *first[] = { brokers };
	if (!set_all(kc, first, 1, err, errlen) || !set_all(kc, role, nrole, err, errlen) ||
	    !set_all(kc, (const char *const *)c->kafka_properties, c->nkafka_properties, err, errlen)) {
		rd_kafka_conf_destroy(kc);
		return NULL;
	}
	rd_kafka_conf_set_log_cb(kc, on_log);
	return kc;
}

rd_kafka_t *kafka_producer(const struct conf *c,
			   void (*on_delivery)(rd_kafka_t *, const rd_kafka_message_t *, void *),
			   void *opaque, char *err, size_t errlen)
{
	const char *role[] = {
		"enable.idempotence=true",	/* no duplicate, no reordering on retry */
		"acks=all",
		"partitioner=murmur2_random",	/* the Java client's keyed partitioning */
		"linger.ms=5",			/* a relay round goes out in few requests */
		"message.timeout.ms=30000",	/* then the row stays, and goes next round */
	};
	rd_kafka_conf_t *kc = kafka_conf(c, role, sizeof(role) / sizeof(role[0]), err, errlen);

	if (!kc)
		return NULL;
	if (on_delivery)
		rd_kafka_conf_set_dr_msg_cb(kc, on_delivery);
	rd_kafka_conf_set_opaque(kc, opaque);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, errlen);
	if (!rk)
		rd_kafka_conf_destroy(kc);	/* (rd_kafka_new owns it only on success) */
	return rk;
}
