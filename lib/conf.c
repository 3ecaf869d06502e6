/*
 * conf.c - the configuration table. Each key has a type, a default and an
 * offset into struct conf, so adding a key is one line here and one field.
 */
#include "conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum conf_type { CONF_STR, CONF_LONG, CONF_DOUBLE };

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t offset;
	const char *def;
	bool secret;		/* never from the file; <name>_file may name one */
};

#define KEY(n, t, d) { #n, t, offsetof(struct conf, n), d, false }
#define SECRET(n) { #n, CONF_STR, offsetof(struct conf, n), NULL, true }

static const struct conf_key conf_keys[] = {
	KEY(database_url, CONF_STR, "dbname=chat4all"),
	KEY(redis, CONF_STR, "127.0.0.1:6379"),
	SECRET(jwt_secret),
	KEY(log_file, CONF_STR, "-"),
	KEY(metrics_file, CONF_STR, "/tmp/chat4all-metrics"),
	KEY(migrations_dir, CONF_STR, "migrations"),
	KEY(log_level, CONF_STR, "info"),
	KEY(access_ttl, CONF_LONG, "900"),
	KEY(refresh_ttl, CONF_LONG, "2592000"),
	KEY(max_body, CONF_LONG, "65536"),
	KEY(json_max_depth, CONF_LONG, "16"),
	KEY(group_member_limit, CONF_LONG, "1000"),
	KEY(argon2_iterations, CONF_LONG, "3"),
	KEY(argon2_memory_kib, CONF_LONG, "65536"),
	KEY(send_rate, CONF_DOUBLE, "20"),
	KEY(send_burst, CONF_LONG, "100"),
	KEY(signin_rate, CONF_DOUBLE, "0.2"),
	KEY(signin_burst, CONF_LONG, "10"),
	KEY(register_rate, CONF_DOUBLE, "0.1"),
	KEY(register_burst, CONF_LONG, "20"),
	KEY(signin_address_rate, CONF_DOUBLE, "0.5"),
	KEY(signin_address_burst, CONF_LONG, "10"),
	KEY(argon2_concurrency, CONF_LONG, "2"),
	KEY(argon2_wait_ms, CONF_LONG, "2000"),
	KEY(metrics_slots, CONF_LONG, "256"),
	KEY(api_threads, CONF_LONG, "16"),
	KEY(moderation_providers, CONF_STR, "lexicon"),
	KEY(moderation_lexicon_dir, CONF_STR, "conf/moderation"),
	KEY(moderation_hold, CONF_STR, ""),
	KEY(moderation_on_failure, CONF_STR, "reject"),
	KEY(moderation_timeout_ms, CONF_LONG, "2000"),
	KEY(moderation_breaker_failures, CONF_LONG, "5"),
	KEY(moderation_breaker_cooldown, CONF_LONG, "30"),
	KEY(openai_base_url, CONF_STR, "https://api.openai.com"),
	SECRET(openai_api_key),
	KEY(openai_model, CONF_STR, "omni-moderation-latest"),
	KEY(gemini_base_url, CONF_STR, "https://generativelanguage.googleapis.com"),
	SECRET(gemini_api_key),
	KEY(gemini_model, CONF_STR, "gemini-2.0-flash"),
	KEY(stream_socket, CONF_STR, ""),
	KEY(stream_bind, CONF_STR, "127.0.0.1"),
	KEY(stream_port, CONF_LONG, "8090"),
	KEY(stream_heartbeat, CONF_LONG, "15"),
	KEY(stream_max_buffer, CONF_LONG, "1048576"),
	KEY(stream_per_user, CONF_LONG, "10"),
	KEY(worker_batch, CONF_LONG, "64"),
	KEY(worker_linger_ms, CONF_LONG, "10"),
	KEY(worker_lease, CONF_LONG, "30"),
	KEY(job_max_attempts, CONF_LONG, "8"),
	KEY(files_dir, CONF_STR, "var/files"),
	KEY(file_max_size, CONF_LONG, "2147483648"),
	KEY(file_quota, CONF_LONG, "10737418240"),
	KEY(upload_expiry, CONF_LONG, "86400"),
	KEY(file_link_ttl, CONF_LONG, "3600"),
	KEY(upload_concurrency, CONF_LONG, "2"),
	KEY(file_count_max, CONF_LONG, "100000"),
	KEY(audit_retention, CONF_LONG, "31536000"),
	KEY(receipt_rate, CONF_DOUBLE, "10"),
	KEY(receipt_burst, CONF_LONG, "100"),
	KEY(public_url, CONF_STR, "http://127.0.0.1:8080"),
	KEY(channel_owner, CONF_STR, "support"),
	KEY(graph_base_url, CONF_STR, "https://graph.facebook.com"),
	KEY(graph_api_version, CONF_STR, "v21.0"),
	KEY(whatsapp_phone_number_id, CONF_STR, ""),
	SECRET(whatsapp_token),
	KEY(whatsapp_template, CONF_STR, ""),
	KEY(whatsapp_template_language, CONF_STR, "en_US"),
	KEY(messenger_page_id, CONF_STR, ""),
	SECRET(messenger_token),
	KEY(instagram_account_id, CONF_STR, ""),
	SECRET(instagram_token),
	SECRET(meta_app_secret),
	SECRET(meta_verify_token),
	KEY(telegram_base_url, CONF_STR, "https://api.telegram.org"),
	SECRET(telegram_bot_token),
	SECRET(telegram_webhook_secret),
	SECRET(webhook_signing_secret),
	KEY(channel_timeout_ms, CONF_LONG, "10000"),
	KEY(channel_concurrency, CONF_LONG, "16"),
	KEY(delivery_max_attempts, CONF_LONG, "6"),
	KEY(outbound_allow, CONF_STR, ""),
	KEY(bus, CONF_STR, "postgres"),
	KEY(kafka_brokers, CONF_STR, ""),
	KEY(kafka_topic_prefix, CONF_STR, "chat4all."),
	KEY(kafka_partitions, CONF_LONG, "32"),
	KEY(tls_cert, CONF_STR, ""),
	KEY(tls_key, CONF_STR, ""),
	KEY(trusted_proxies, CONF_STR, ""),
	KEY(metrics_allow, CONF_STR, "127.0.0.1, ::1"),
	KEY(otlp_endpoint, CONF_STR, ""),
	KEY(otlp_sample, CONF_DOUBLE, "1"),
};

#define NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

static const struct conf_key *conf_find(const char *name, size_t len)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strlen(conf_keys[i].name) == len &&
		    !strncmp(conf_keys[i].name, name, len))
			return &conf_keys[i];
	return NULL;
}

static int conf_set(struct conf *c, const struct conf_key *k, const char *val,
		    char *errbuf, unsigned errlen)
{
	char *p = (char *)c + k->offset, *end;

	switch (k->type) {
	case CONF_STR: {
		char *dup = strdup(val);
		if (!dup)
			return -1;
		free(*(char **)p);
		*(char **)p = dup;
		return 0;
	}
	case CONF_LONG:
		errno = 0;
		*(long *)p = strtol(val, &end, 10);
		break;
	case CONF_DOUBLE:
		errno = 0;
		/* p points at a double member (KEY's offsetof), not at chars */
		// cppcheck-suppress invalidPointerCast
		*(double *)p = strtod(val, &end);
		break;
	}
	if (errno || end == val || *end) {
		snprintf(errbuf, errlen, "%s: '%s' is not a number", k->name, val);
		return -1;
	}
	return 0;
}

/* Reads a whole small file (a secret) with its trailing newline removed. */
static char *conf_read_secret(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[4096];
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	return strdup(buf);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* A librdkafka property that holds a secret: never from the file. */
static bool kafka_secret(const char *prop)
{
	return strstr(prop, "password") || strstr(prop, "secret") || strstr(prop, ".key.pem") ||
	       !strcmp(prop, "ssl.key.password") || strstr(prop, "oauthbearer.config");
}

/* Sets "@prop=@value" among the Kafka properties (a later one replaces). */
static int kafka_property(struct conf *c, const char *prop, const char *value)
{
	size_t n = strlen(prop);
	char *kv;

	if (asprintf(&kv, "%s=%s", prop, value) < 0)
		return -1;
	for (size_t i = 0; i < c->nkafka_properties; i++)
		if (!strncmp(c->kafka_properties[i], prop, n) && c->kafka_properties[i][n] == '=') {
			free(c->kafka_properties[i]);
			c->kafka_properties[i] = kv;
			return 0;
		}
	char **more = realloc(c->kafka_properties, (c->nkafka_properties + 1) * sizeof(*more));
	if (!more) {
		free(kv);
		return -1;
	}
	c->kafka_properties = more;
	c->kafka_properties[c->nkafka_properties++] = kv;
	return 0;
}

/* A `kafka.<property>[_file] = value` line of the file. */
static int kafka_line(struct conf *c, const char *name, const char *value, const char *path,
		      int lineno, char *errbuf, unsigned errlen)
{
	char prop[256];
	size_t n;

	snprintf(prop, sizeof(prop), "%s", name + strlen(CONF_KAFKA_PREFIX));
	n = strlen(prop);
	if (n > 5 && !strcmp(prop + n - 5, "_file")) {
		prop[n - 5] = '\0';
		char *v = conf_read_secret(value);
		int rc = v ? kafka_property(c, prop, v) : -1;
		free(v);
		if (rc)
			snprintf(errbuf, errlen, "%s:%d: cannot read %s", path, lineno, name);
		return rc;
	}
	if (kafka_secret(prop)) {
		snprintf(errbuf, errlen, "%s:%d: %s is a secret: set it in the environment or %s_file",
			 path, lineno, name, name);
		return -1;
	}
	return kafka_property(c, prop, value);
}

/* Parses "key = value" lines; '#' starts a comment line. */
static int conf_read_file(struct conf *c, const char *path, char *errbuf,
			  unsigned errlen)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int lineno = 0, rc = 0;

	if (!f) {
		snprintf(errbuf, errlen, "cannot open '%s': %s", path,
			 strerror(errno));
		return -1;
	}
	while (!rc && fgets(line, sizeof(line), f)) {
		char *s = trim(line), *eq, *name;
		const struct conf_key *k;

		lineno++;
		if (!*s || *s == '#')
			continue;
		if (!(eq = strchr(s, '='))) {
			snprintf(errbuf, errlen, "%s:%d: expected key = value",
				 path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		name = trim(s);
		k = conf_find(name, strlen(name));
		if (!k && !strncmp(name, CONF_KAFKA_PREFIX, strlen(CONF_KAFKA_PREFIX)) &&
		    name[strlen(CONF_KAFKA_PREFIX)]) {
			rc = kafka_line(c, name, trim(eq + 1), path, lineno, errbuf, errlen);
		} else if (!k) {
			size_t n = strlen(name);
			/* jwt_secret_file names the file a secret is kept in */
			if (n > 5 && !strcmp(name + n - 5, "_file") &&
			    (k = conf_find(name, n - 5)) && k->secret) {
				char *v = conf_read_secret(trim(eq + 1));
				if (!v) {
					snprintf(errbuf, errlen,
						 "%s:%d: cannot read %s", path,
						 lineno, name);
					rc = -1;
					break;
				}
				free(*(char **)((char *)c + k->offset));
				*(char **)((char *)c + k->offset) = v;
				continue;
			}
			snprintf(errbuf, errlen, "%s:%d: unknown key '%s'",
				 path, lineno, name);
			rc = -1;
		} else if (k->secret) {
			snprintf(errbuf, errlen,
				 "%s:%d: %s is a secret: set CHAT4ALL_%s or %s_file",
				 path, lineno, name, name, name);
			rc = -1;
		} else {
			rc = conf_set(c, k, trim(eq + 1), errbuf, errlen);
		}
	}
	fclose(f);
	return rc;
}

static void env_name(char *out, size_t outlen, const char *key, const char *suffix)
{
	size_t i = 0;

	i = (size_t)snprintf(out, outlen, "CHAT4ALL_");
	for (; *key && i + 1 < outlen; key++)
		out[i++] = (char)toupper((unsigned char)*key);
	out[i] = '\0';
	if (suffix)
		strncat(out, suffix, outlen - strlen(out) - 1);
}

/* trusted_proxies, metrics_allow: addresses and CIDRs, separated by
 * commas or spaces. tools/lighttpd-conf.sh writes them into lighttpd's
 * configuration as they are, so nothing but an address may get through. */
static int address_list_check(const char *name, const char *list, char *errbuf, unsigned errlen)
{
	const char *p = list;

	while (*p) {
		size_t n = strcspn(p, ", \t");
		char item[64], *slash;
		unsigned char addr[16];
		long bits = -1;

		if (n >= sizeof(item))
			goto bad;
		if (n) {
			memcpy(item, p, n);
			item[n] = '\0';
			if ((slash = strchr(item, '/'))) {
				char *end;
				*slash = '\0';
				bits = strtol(slash + 1, &end, 10);
				if (end == slash + 1 || *end)
					goto bad;
			}
			if (inet_pton(AF_INET, item, addr) == 1) {
				if (bits > 32 || (slash && bits < 1))
					goto bad;
			} else if (inet_pton(AF_INET6, item, addr) == 1) {
				if (bits > 128 || (slash && bits < 1))
					goto bad;
			} else {
				goto bad;
			}
		}
		p += n;
		p += strspn(p, ", \t");
	}
	return 0;
bad:
	snprintf(errbuf, errlen, "%s: '%.*s' is not an address or address/bits", name,
		 (int)strcspn(p, ", \t"), p);
	return -1;
}

int conf_load(struct conf *c, const char *path, char *errbuf, unsigned errlen)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NKEYS; i++)
		if (conf_keys[i].def &&
		    conf_set(c, &conf_keys[i], conf_keys[i].def, errbuf, errlen))
			return -1;

	if (!path)
		path = getenv("CHAT4ALL_CONF");
	if (path && *path && conf_read_file(c, path, errbuf, errlen))
		return -1;

	for (size_t i = 0; i < NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];
		char name[128];
		const char *v;

		env_name(name, sizeof(name), k->name, NULL);
		if ((v = getenv(name)) && conf_set(c, k, v, errbuf, errlen))
			return -1;
		if (!k->secret)
			continue;
		env_name(name, sizeof(name), k->name, "_FILE");
		if ((v = getenv(name))) {
			char *s = conf_read_secret(v);
			if (!s) {
				snprintf(errbuf, errlen, "cannot read %s '%s'", name, v);
				return -1;
			}
			free(*(char **)((char *)c + k->offset));
			*(char **)((char *)c + k->offset) = s;
		}
	}
	/* CHAT4ALL_KAFKA__SASL_PASSWORD → sasl.password */
	for (char **e = environ; *e; e++) {
		static const char pre[] = "CHAT4ALL_KAFKA__";
		const char *eq = strchr(*e, '=');
		char prop[256];
		size_t n = 0;
		if (strncmp(*e, pre, sizeof(pre) - 1) || !eq)
			continue;
		for (const char *p = *e + sizeof(pre) - 1; p < eq && n + 1 < sizeof(prop); p++)
			prop[n++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
		prop[n] = '\0';
		if (n && kafka_property(c, prop, eq + 1))
			return -1;
	}
	if (strcmp(c->bus, "postgres") && strcmp(c->bus, "kafka")) {
		snprintf(errbuf, errlen, "bus: '%s' is not postgres or kafka", c->bus);
		return -1;
	}
	if (!strcmp(c->bus, "kafka") && !*c->kafka_brokers) {
		snprintf(errbuf, errlen, "bus = kafka needs kafka_brokers");
		return -1;
	}
	if (c->kafka_partitions < 1 || c->kafka_partitions > 10000) {
		snprintf(errbuf, errlen, "kafka_partitions: %ld is not 1 to 10000", c->kafka_partitions);
		return -1;
	}
	if (c->otlp_sample < 0 || c->otlp_sample > 1) {
		snprintf(errbuf, errlen, "otlp_sample: %g is not from 0 to 1", c->otlp_sample);
		return -1;
	}
	if (!*c->tls_cert != !*c->tls_key) {
		snprintf(errbuf, errlen, "tls_cert and tls_key go together: set both or neither");
		return -1;
	}
	if (address_list_check("trusted_proxies", c->trusted_proxies, errbuf, errlen) ||
	    address_list_check("metrics_allow", c->metrics_allow, errbuf, errlen))
		return -1;
	return 0;
}

int conf_format(const struct conf *c, const char *name, char *buf, size_t len)
{
	const struct conf_key *k = conf_find(name, strlen(name));
	const char *p;

	if (!k || k->secret)
		return -1;
	p = (const char *)c + k->offset;
	switch (k->type) {
	case CONF_STR:
		snprintf(buf, len, "%s", *(char *const *)p ? *(char *const *)p : "");
		break;
	case CONF_LONG:
		snprintf(buf, len, "%ld", *(const long *)p);
		break;
	case CONF_DOUBLE:
		// cppcheck-suppress invalidPointerCast
		snprintf(buf, len, "%g", *(const double *)p);
		break;
	}
	return 0;
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nkafka_properties; i++)
		free(c->kafka_properties[i]);
	free(c->kafka_properties);
	c->kafka_properties = NULL;
	c->nkafka_properties = 0;
	for (size_t i = 0; i < NKEYS; i++)
		if (conf_keys[i].type == CONF_STR) {
			char **p = (char **)((char *)c + conf_keys[i].offset);
			free(*p);
			*p = NULL;
		}
}
