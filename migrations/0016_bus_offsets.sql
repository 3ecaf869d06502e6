-- bus = kafka: where each consumer group is in each partition, kept in
-- PostgreSQL and written in the transaction that commits the records'
-- effects (lib/queue_kafka.c), so a record's effects happen once however
-- often Kafka delivers it. next_offset is the first record not yet done;
-- high_watermark the partition's end as its consumer last saw it (every few
-- seconds), so /metrics tells each partition's lag without a Kafka client.
CREATE TABLE bus_offsets (
	group_id    text NOT NULL,
	topic       text NOT NULL,
	partition   int NOT NULL,
	next_offset bigint NOT NULL,
	high_watermark bigint,
	updated_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (group_id, topic, partition)
);
