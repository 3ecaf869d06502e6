/* Unit tests of lib/conf.c: defaults, the file, the environment, secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/conf.h"

static char path[64];

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "/tmp/c4a-conf-test-%d", getpid());
	unsetenv("CHAT4ALL_CONF");
	unsetenv("CHAT4ALL_SEND_RATE");
	unsetenv("CHAT4ALL_JWT_SECRET");
	unsetenv("CHAT4ALL_JWT_SECRET_FILE");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void test_defaults(void **state)
{
	struct conf c;
	char err[256];
	(void)state;

	assert_int_equal(conf_load(&c, NULL, err, sizeof(err)), 0);
	assert_int_equal(c.access_ttl, 900);
	assert_int_equal(c.group_member_limit, 1000);
	assert_null(c.jwt_secret);
	/* what scripts read (chat4all-admin conf KEY); never a secret */
	char v[64];
	assert_int_equal(conf_format(&c, "max_body", v, sizeof(v)), 0);
	assert_string_equal(v, "65536");
	assert_int_equal(conf_format(&c, "signin_rate", v, sizeof(v)), 0);
	assert_string_equal(v, "0.2");
	assert_int_equal(conf_format(&c, "jwt_secret", v, sizeof(v)), -1);
	assert_int_equal(conf_format(&c, "no_such_key", v, sizeof(v)), -1);
	conf_free(&c);
}

static void test_file_then_environment(void **state)
{
	struct conf c;
	char err[256];
	(void)state;

	write_file("# comment\n\nsend_rate = 7.5\n  max_body=1024  \nlog_level = warn\n");
	setenv("CHAT4ALL_SEND_RATE", "9", 1);
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), 0);
	assert_true(c.send_rate == 9.0);	/* the environment wins */
	assert_int_equal(c.max_body, 1024);
	assert_string_equal(c.log_level, "warn");
	conf_free(&c);
	unsetenv("CHAT4ALL_SEND_RATE");
}

static void test_errors(void **state)
{
	struct conf c;
	char err[256];
	(void)state;

	write_file("sned_rate = 1\n");
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown key 'sned_rate'"));
	conf_free(&c);

	write_file("max_body = lots\n");
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a number"));
	conf_free(&c);

	write_file("just words\n");
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), -1);
	conf_free(&c);

	assert_int_equal(conf_load(&c, "/nonexistent/chat4all.conf", err, sizeof(err)), -1);
	conf_free(&c);
}

static void test_secrets(void **state)
{
	struct conf c;
	char err[256], secret_path[80];
	(void)state;

	/* never in the file itself */
	write_file("jwt_secret = hunter2\n");
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "secret"));
	conf_free(&c);

	/* from a file the configuration names */
	snprintf(secret_path, sizeof(secret_path), "%s.secret", path);
	FILE *f = fopen(secret_path, "w");
	fputs("from-a-file\n", f);
	fclose(f);
	char line[160];
	snprintf(line, sizeof(line), "jwt_secret_file = %s\n", secret_path);
	write_file(line);
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), 0);
	assert_string_equal(c.jwt_secret, "from-a-file");
	conf_free(&c);

	/* the environment, directly or by file */
	setenv("CHAT4ALL_JWT_SECRET", "from-env", 1);
	assert_int_equal(conf_load(&c, NULL, err, sizeof(err)), 0);
	assert_string_equal(c.jwt_secret, "from-env");
	conf_free(&c);
	unsetenv("CHAT4ALL_JWT_SECRET");
	setenv("CHAT4ALL_JWT_SECRET_FILE", secret_path, 1);
	assert_int_equal(conf_load(&c, NULL, err, sizeof(err)), 0);
	assert_string_equal(c.jwt_secret, "from-a-file");
	conf_free(&c);
	unsetenv("CHAT4ALL_JWT_SECRET_FILE");
	unlink(secret_path);
}

/* The bus: postgres unless told; kafka needs its brokers; librdkafka's own
 * properties pass through, secret ones never from the file. */
static const char *property(const struct conf *c, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < c->nkafka_properties; i++)
		if (!strncmp(c->kafka_properties[i], name, n) && c->kafka_properties[i][n] == '=')
			return c->kafka_properties[i] + n + 1;
	return NULL;
}

static void test_bus_settings(void **state)
{
	struct conf c;
	char err[256], secret[] = "/tmp/chat4all-test-kafka-secret-XXXXXX", text[512];
	(void)state;

	write_file("");
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), 0);
	assert_string_equal(c.bus, "postgres");
	assert_string_equal(c.kafka_topic_prefix, "chat4all.");
	assert_int_equal(c.kafka_partitions, 32);
	assert_int_equal(c.nkafka_properties, 0);
	conf_free(&c);

	write_file("bus = rabbit\n");
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not postgres or kafka"));
	conf_free(&c);
	write_file("bus = kafka\n");
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "kafka_brokers"));
	conf_free(&c);
	write_file("bus = kafka\nkafka_brokers = k1:9092\nkafka.sasl.password = hunter2\n");
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is a secret"));
	conf_free(&c);

	int fd = mkstemp(secret);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "from-a-file\n", 12), 12);
	close(fd);
	snprintf(text, sizeof(text), "bus = kafka\nkafka_brokers = k1:9092,k2:9092\n"
		 "kafka.security.protocol = SASL_SSL\nkafka.sasl.mechanism = SCRAM-SHA-256\n"
		 "kafka.sasl.password_file = %s\n", secret);
	write_file(text);
	setenv("CHAT4ALL_KAFKA__SASL_MECHANISM", "PLAIN", 1);	/* the environment wins */
	setenv("CHAT4ALL_KAFKA__SASL_USERNAME", "chat4all", 1);
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), 0);
	assert_string_equal(c.kafka_brokers, "k1:9092,k2:9092");
	assert_string_equal(property(&c, "security.protocol"), "SASL_SSL");
	assert_string_equal(property(&c, "sasl.mechanism"), "PLAIN");
	assert_string_equal(property(&c, "sasl.username"), "chat4all");
	assert_string_equal(property(&c, "sasl.password"), "from-a-file");
	assert_int_equal(c.nkafka_properties, 4);
	conf_free(&c);
	unsetenv("CHAT4ALL_KAFKA__SASL_MECHANISM");
	unsetenv("CHAT4ALL_KAFKA__SASL_USERNAME");
	unlink(secret);

	write_file("kafka_partitions = 0\n");
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), -1);
	conf_free(&c);
}

/* The web server's settings: a certificate comes with its key, and
 * trusted_proxies holds addresses only, since it is written into lighttpd's
 * configuration as it is (a quote there would be configuration). */
static void test_web_server_settings(void **state)
{
	struct conf c;
	char err[256], v[128];
	(void)state;

	write_file("tls_cert = /etc/ssl/c.pem\ntls_key = /etc/ssl/k.pem\n"
		   "trusted_proxies = 10.0.0.5, 192.168.0.0/16 ::1\t2001:db8::/32\n");
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), 0);
	assert_int_equal(conf_format(&c, "trusted_proxies", v, sizeof(v)), 0);
	assert_string_equal(v, "10.0.0.5, 192.168.0.0/16 ::1\t2001:db8::/32");
	conf_free(&c);

	write_file("tls_cert = /etc/ssl/c.pem\n");
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tls_key"));
	conf_free(&c);

	static const char *bad[] = {
		"10.0.0.5\" => \"trust\"", "all", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/0",
		"::1/129", "example.com", "10.0.0.5/8x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128];
		snprintf(text, sizeof(text), "trusted_proxies = 127.0.0.1, %s\n", bad[i]);
		write_file(text);
		assert_int_equal(conf_load(&c, path, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "trusted_proxies"));
		conf_free(&c);
		snprintf(text, sizeof(text), "metrics_allow = 10.9.0.0/16 %s\n", bad[i]);
		write_file(text);
		assert_int_equal(conf_load(&c, path, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "metrics_allow"));
		conf_free(&c);
	}
	/* /metrics is loopback's unless told (a scraper elsewhere is named) */
	write_file("");
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), 0);
	assert_string_equal(c.metrics_allow, "127.0.0.1, ::1");
	conf_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_then_environment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secrets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bus_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_web_server_settings, setup, teardown),
	};
	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
