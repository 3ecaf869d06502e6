/*
 * moderation_test - the provider chain (lib/moderation.c) against
 * tests/fakes/fake_moderation, which speaks the OpenAI and Gemini APIs:
 * verdicts through each provider, fallback on error, timeout, garbage and
 * Gemini's SAFETY block, the policy when all fail, the circuit breaker,
 * and held categories. The fake's address is in CHAT4ALL_TEST_FAKE_URL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/conf.h"
#include "../../lib/moderation.h"

static const char *fake;

static size_t sink(char *p, size_t s, size_t n, void *arg)
{
	strncat(arg, p, s * n < 255 ? s * n : 255);
	return s * n;
}

static void fake_call(const char *path, char out[256])
{
	CURL *c = curl_easy_init();
	char url[512];

	out[0] = '\0';
	snprintf(url, sizeof(url), "%s%s", fake, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (!strncmp(path, "/control", 8))
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_cleanup(c);
}

static void set_mode(const char *mode)
{
	char out[256], path[64];
	snprintf(path, sizeof(path), "/control?mode=%s", mode);
	fake_call(path, out);
}

static int calls(const char *api)
{
	char out[256], key[32];
	fake_call("/stats", out);
	snprintf(key, sizeof(key), "\"%s\":", api);
	return atoi(strstr(out, key) + strlen(key));
}

/* A chain over the fake; @providers like "openai,lexicon". */
static struct moderation *chain(struct conf *c, const char *providers, const char *on_failure)
{
	char err[256];
	struct moderation *m;

	setenv("CHAT4ALL_MODERATION_PROVIDERS", providers, 1);
	setenv("CHAT4ALL_MODERATION_ON_FAILURE", on_failure, 1);
	setenv("CHAT4ALL_OPENAI_BASE_URL", fake, 1);
	setenv("CHAT4ALL_GEMINI_BASE_URL", fake, 1);
	setenv("CHAT4ALL_OPENAI_API_KEY", "test-key", 1);
	setenv("CHAT4ALL_GEMINI_API_KEY", "test-key", 1);
	setenv("CHAT4ALL_MODERATION_TIMEOUT_MS", "400", 1);
	setenv("CHAT4ALL_MODERATION_LEXICON_DIR", "conf/moderation", 1);
	assert_int_equal(conf_load(c, NULL, err, sizeof(err)), 0);
	m = moderation_new(c, err, sizeof(err));
	if (!m)
		print_error("%s\n", err);
	assert_non_null(m);
	set_mode("ok");
	return m;
}

static void done(struct conf *c, struct moderation *m)
{
	moderation_free(m);
	conf_free(c);
	unsetenv("CHAT4ALL_MODERATION_HOLD");
	unsetenv("CHAT4ALL_MODERATION_BREAKER_FAILURES");
	unsetenv("CHAT4ALL_MODERATION_BREAKER_COOLDOWN");
}

static void test_openai_verdicts(void **state)
{
	struct conf c;
	struct attempt a[MODERATION_MAX_ATTEMPTS];
	int n;
	struct moderation *m = chain(&c, "openai,lexicon", "reject");
	(void)state;

	assert_int_equal(moderation_decide(m, "good morning", a, &n), VERDICT_APPROVE);
	assert_int_equal(n, 1);
	assert_string_equal(a[0].provider, "openai");
	assert_int_equal(moderation_decide(m, "x [flag:hate/threatening] y", a, &n), VERDICT_REJECT);
	assert_string_equal(a[0].category, "hate");
	assert_true(a[0].score > 0.9);
	assert_non_null(strstr(a[0].raw, "\"flagged\":true"));
	assert_int_equal(moderation_decide(m, "[flag:self-harm/intent]", a, &n), VERDICT_REJECT);
	assert_string_equal(a[0].category, "violence");
	/* flagged only outside our four categories: approved */
	assert_int_equal(moderation_decide(m, "[flag:illicit]", a, &n), VERDICT_APPROVE);
	done(&c, m);
}

static void test_gemini_verdicts(void **state)
{
	struct conf c;
	struct attempt a[MODERATION_MAX_ATTEMPTS];
	int n;
	struct moderation *m = chain(&c, "gemini,lexicon", "reject");
	(void)state;

	assert_int_equal(moderation_decide(m, "bom dia", a, &n), VERDICT_APPROVE);
	assert_string_equal(a[0].provider, "gemini");
	assert_int_equal(moderation_decide(m, "[flag:harassment]", a, &n), VERDICT_REJECT);
	assert_string_equal(a[0].category, "harassment");
	/* Gemini's own safety block is no verdict: the lexicon decides */
	set_mode("safety");
	assert_int_equal(moderation_decide(m, "vou te matar", a, &n), VERDICT_REJECT);
	assert_int_equal(n, 2);
	assert_int_equal(a[0].verdict, VERDICT_ERROR);
	assert_non_null(strstr(a[0].raw, "SAFETY"));
	assert_string_equal(a[1].provider, "lexicon");
	assert_string_equal(a[1].category, "violence");
	done(&c, m);
}

static void test_fallback_on_timeout_and_garbage(void **state)
{
	struct conf c;
	struct attempt a[MODERATION_MAX_ATTEMPTS];
	int n;
	struct moderation *m = chain(&c, "openai,lexicon", "reject");
	(void)state;

	set_mode("slow");	/* answers after 3 s; the timeout is 400 ms */
	assert_int_equal(moderation_decide(m, "you idiot", a, &n), VERDICT_REJECT);
	assert_int_equal(n, 2);
	assert_int_equal(a[0].verdict, VERDICT_ERROR);
	assert_non_null(strstr(a[0].raw, "imeout"));
	assert_true(a[0].latency_ms < 3000);
	assert_string_equal(a[1].provider, "lexicon");
	set_mode("garbage");
	assert_int_equal(moderation_decide(m, "hello", a, &n), VERDICT_APPROVE);
	assert_int_equal(a[0].verdict, VERDICT_ERROR);
	assert_string_equal(a[1].provider, "lexicon");
	done(&c, m);
}

static void test_all_down_policy(void **state)
{
	struct conf c;
	struct attempt a[MODERATION_MAX_ATTEMPTS];
	int n;
	struct moderation *m = chain(&c, "openai,gemini", "reject");
	(void)state;

	set_mode("error");
	assert_int_equal(moderation_decide(m, "hello", a, &n), VERDICT_REJECT);
	assert_int_equal(n, 3);
	assert_string_equal(a[2].provider, "system");
	done(&c, m);

	m = chain(&c, "openai,gemini", "hold");
	set_mode("error");
	assert_int_equal(moderation_decide(m, "hello", a, &n), VERDICT_HOLD);
	done(&c, m);
}

static void test_circuit_breaker(void **state)
{
	struct conf c;
	struct attempt a[MODERATION_MAX_ATTEMPTS];
	int n, before;
	(void)state;

	setenv("CHAT4ALL_MODERATION_BREAKER_FAILURES", "2", 1);
	setenv("CHAT4ALL_MODERATION_BREAKER_COOLDOWN", "1", 1);
	struct moderation *m = chain(&c, "openai,lexicon", "reject");
	set_mode("error");
	before = calls("openai");
	moderation_decide(m, "one", a, &n);
	moderation_decide(m, "two", a, &n);
	assert_int_equal(calls("openai"), before + 2);
	/* open: openai is not asked, the lexicon answers at once */
	assert_int_equal(moderation_decide(m, "three", a, &n), VERDICT_APPROVE);
	assert_int_equal(n, 1);
	assert_string_equal(a[0].provider, "lexicon");
	assert_int_equal(calls("openai"), before + 2);
	/* after the cool-down one trial call goes through; it succeeds: closed */
	sleep(2);
	set_mode("ok");
	assert_int_equal(moderation_decide(m, "four", a, &n), VERDICT_APPROVE);
	assert_string_equal(a[0].provider, "openai");
	assert_int_equal(calls("openai"), before + 3);
	done(&c, m);
}

static void test_held_category(void **state)
{
	struct conf c;
	struct attempt a[MODERATION_MAX_ATTEMPTS];
	int n;
	(void)state;

	setenv("CHAT4ALL_MODERATION_HOLD", "sexual,hate", 1);
	struct moderation *m = chain(&c, "openai,lexicon", "reject");
	assert_int_equal(moderation_decide(m, "[flag:sexual]", a, &n), VERDICT_HOLD);
	assert_string_equal(a[0].category, "sexual");
	assert_int_equal(moderation_decide(m, "[flag:violence]", a, &n), VERDICT_REJECT);
	done(&c, m);
}

static void test_bad_configuration(void **state)
{
	struct conf c;
	char err[256];
	(void)state;

	setenv("CHAT4ALL_MODERATION_PROVIDERS", "openai,telepathy", 1);
	assert_int_equal(conf_load(&c, NULL, err, sizeof(err)), 0);
	assert_null(moderation_new(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "telepathy"));
	conf_free(&c);
	setenv("CHAT4ALL_MODERATION_PROVIDERS", "openai", 1);
	unsetenv("CHAT4ALL_OPENAI_API_KEY");
	assert_int_equal(conf_load(&c, NULL, err, sizeof(err)), 0);
	assert_null(moderation_new(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "API_KEY"));
	conf_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openai_verdicts),
		cmocka_unit_test(test_gemini_verdicts),
		cmocka_unit_test(test_fallback_on_timeout_and_garbage),
		cmocka_unit_test(test_all_down_policy),
		cmocka_unit_test(test_circuit_breaker),
		cmocka_unit_test(test_held_category),
		cmocka_unit_test(test_bad_configuration),
	};
	if (!(fake = getenv("CHAT4ALL_TEST_FAKE_URL"))) {
		fprintf(stderr, "CHAT4ALL_TEST_FAKE_URL is not set\n");
		return 2;
	}
	unsetenv("CHAT4ALL_CONF");
	return cmocka_run_group_tests_name("moderation", tests, NULL, NULL);
}
