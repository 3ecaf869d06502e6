/*
 * conf.h - Chat4All configuration: one key = value file, every key
 * overridable by the environment variable CHAT4ALL_<KEY> (upper case).
 *
 * Secrets (jwt_secret) are never read from the file: they come from the
 * environment or from the file named by <key>_file.
 */
#ifndef CHAT4ALL_CONF_H
#define CHAT4ALL_CONF_H

#include <stdbool.h>
#include <stddef.h>

struct conf {
	char *database_url;	/* libpq conninfo */
	char *redis;		/* "unix:/path/redis.sock" or "host:port" */
	char *jwt_secret;	/* HMAC key for access tokens, >= 32 bytes */
	char *log_file;		/* JSON log lines; "-" is stderr */
	char *metrics_file;	/* shared counters of all API processes */
	char *migrations_dir;
	char *log_level;	/* debug | info | warn | error */
	long access_ttl;	/* seconds */
	long refresh_ttl;	/* seconds */
	long max_body;		/* bytes of a JSON request body */
	long json_max_depth;
	long group_member_limit;
	long argon2_iterations;
	long argon2_memory_kib;
	double send_rate;	/* messages per second per user */
	long send_burst;
	double signin_rate;	/* sign-in attempts per second per username */
	long signin_burst;
	double register_rate;	/* sign-ups per second per client address */
	long register_burst;
	double signin_address_rate;	/* failed sign-ins per second per client address */
	long signin_address_burst;
	long argon2_concurrency;	/* password hashes running at once, all responders */
	long argon2_wait_ms;		/* how long a sign-in waits for one, then 429 */
	long metrics_slots;	/* processes the metrics file can hold */
	long api_threads;	/* requests one API responder serves at once */
	/* the pipeline (chat4all-jobs) */
	char *moderation_providers;	/* chain, in order: "openai,gemini,lexicon" */
	char *moderation_lexicon_dir;
	char *moderation_hold;		/* categories held for an admin: "sexual,hate" */
	char *moderation_on_failure;	/* when every provider fails: reject | approve | hold */
	long moderation_timeout_ms;	/* per provider call */
	long moderation_breaker_failures;	/* in a row, to open the breaker */
	long moderation_breaker_cooldown;	/* seconds a tripped provider is skipped */
	char *openai_base_url;		/* OpenAI-compatible /v1/moderations */
	char *openai_api_key;
	char *openai_model;
	char *gemini_base_url;
	char *gemini_api_key;
	char *gemini_model;
	char *stream_socket;		/* chat4all-stream listens on this unix socket, */
	char *stream_bind;		/* ... or (empty) on this address */
	long stream_port;		/* ... and port */
	long stream_heartbeat;		/* seconds between SSE comments on a quiet stream */
	long stream_max_buffer;		/* bytes queued for a client before it is dropped */
	long stream_per_user;		/* streams and polls one user holds open; the oldest ends first */
	long worker_batch;		/* jobs claimed and committed together */
	long worker_linger_ms;		/* wait after a small batch for more to gather */
	long worker_lease;		/* seconds a claim lasts before others may take it */
	long job_max_attempts;
	char *files_dir;		/* where uploaded bytes live */
	long file_max_size;		/* bytes; larger uploads get 413 */
	long file_quota;		/* bytes of files a user may hold */
	long upload_expiry;		/* seconds an unfinished upload lives after its last PATCH */
	long file_link_ttl;		/* seconds a signed download link is valid */
	long upload_concurrency;	/* PATCHes (or creations with bytes) one user runs at once */
	long file_count_max;		/* files (and unfinished uploads) one user may hold */
	long audit_retention;		/* seconds the audit log keeps a row */
	double receipt_rate;		/* receipts per second per user */
	long receipt_burst;
	/* channels: base URLs (tests point them at local fakes), ids, secrets */
	char *public_url;		/* how providers reach us (file links): https://chat.example.com */
	char *channel_owner;		/* who gets conversations started from a channel: a username,
					 * or several, comma-separated (a group of agents) */
	char *graph_base_url;		/* WhatsApp Cloud, Messenger and Instagram: Meta's Graph API */
	char *graph_api_version;
	char *whatsapp_phone_number_id;
	char *whatsapp_token;
	char *whatsapp_template;	/* outside the 24 h window: its name ({{1}} sender, {{2}} text) */
	char *whatsapp_template_language;
	char *messenger_page_id;
	char *messenger_token;
	char *instagram_account_id;
	char *instagram_token;
	char *meta_app_secret;		/* signs Meta's webhooks (X-Hub-Signature-256) */
	char *meta_verify_token;	/* hub.verify_token of the webhook subscription */
	char *telegram_base_url;
	char *telegram_bot_token;
	char *telegram_webhook_secret;	/* X-Telegram-Bot-Api-Secret-Token */
	char *webhook_signing_secret;	/* signs our outbound webhooks to integrators */
	long channel_timeout_ms;	/* a provider's answer, at most */
	long channel_concurrency;	/* requests in flight per worker batch */
	long delivery_max_attempts;	/* then the delivery is failed */
	char *outbound_allow;		/* private addresses our own requests may reach:
					 * "10.0.0.0/8, 127.0.0.1/32:8099" (lib/netguard.h) */
	/* the bus between accepting and processing (lib/queue.h) */
	char *bus;			/* postgres (the jobs table) | kafka */
	char *kafka_brokers;		/* bootstrap list: "k1:9092,k2:9092" */
	char *kafka_topic_prefix;	/* topics <prefix>messages, deliveries, inbound, dead */
	long kafka_partitions;		/* of each topic, fixed at its creation (README) */
	/* the web server's: tools/stack.sh renders them into lighttpd's
	 * configuration (none of our programs serves HTTPS or reads a proxy's
	 * headers itself) */
	char *tls_cert;			/* PEM certificate (chain) of https on PORT */
	char *tls_key;			/* its private key */
	char *trusted_proxies;		/* "10.0.0.5, 192.168.0.0/16": whose X-Forwarded-For/Proto count */
	char *metrics_allow;		/* who may read /metrics (a scraper): addresses, address/bits */
	char *otlp_endpoint;		/* traces go there (OTLP/HTTP JSON, lib/trace.h); "" none */
	double otlp_sample;		/* the share of new traces exported, 0 to 1 */
	/* kafka.<librdkafka property> = value (security.protocol, sasl.*, …),
	 * as "property=value", handed to every Kafka client unchanged */
	char **kafka_properties;
	size_t nkafka_properties;
};

/*
 * conf_load - fill @c with defaults, then the file at @path (NULL: the
 * CHAT4ALL_CONF environment variable, or no file), then the environment.
 * On error returns -1 and writes a lowercase message to @errbuf.
 * The strings belong to @c; conf_free() frees them.
 */
int conf_load(struct conf *c, const char *path, char *errbuf, unsigned errlen);
void conf_free(struct conf *c);

/* conf_format - the value of setting @name as text, for scripts
 * (chat4all-admin conf NAME); -1 for an unknown name or a secret. */
int conf_format(const struct conf *c, const char *name, char *buf, size_t len);

/* Passed through to librdkafka: in the file `kafka.<property> = value`; in
 * the environment CHAT4ALL_KAFKA__<PROPERTY> with '_' for '.'
 * (CHAT4ALL_KAFKA__SASL_PASSWORD is sasl.password). Secret ones (a
 * password, a key) never from the file: the environment, or
 * `kafka.<property>_file = /path`. */
#define CONF_KAFKA_PREFIX "kafka."

#endif
