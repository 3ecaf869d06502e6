/*
 * api_auth_test - the REST API over real HTTP (lighttpd, the FastCGI
 * responders, PostgreSQL and Redis, as tools/test.sh starts them): signing up, in and out, tokens and their refusals.
 * Every test makes its own users, so the tests are independent.
 */
#include "client.h"
#include "http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <jwt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- auth */

static void test_register_rules(void **state)
{
	struct resp r;
	struct user u;
	(void)state;

	signup(&u, "reg");
	json_post(&r, "/v1/auth/register", NULL, "{\"username\":\"%s\",\"password\":\"another one\"}", u.name);
	assert_problem(&r, 409, "conflict");
	resp_free(&r);

	json_post(&r, "/v1/auth/register", NULL, "{\"username\":\"No Caps\",\"password\":\"x\"}");
	assert_problem(&r, 400, "validation");
	assert_field_error(&r, "username");
	assert_field_error(&r, "password");
	resp_free(&r);

	json_post(&r, "/v1/auth/register", NULL, "{\"username\":\"ab\",\"password\":\"long enough\"}");
	assert_problem(&r, 400, "validation");
	resp_free(&r);

	json_post(&r, "/v1/auth/register", NULL, "{\"password\":\"long enough\"}");
	assert_problem(&r, 400, "validation");
	assert_field_error(&r, "username");
	resp_free(&r);

	json_post(&r, "/v1/auth/register", NULL, "{\"username\":42,\"password\":\"long enough\"}");
	assert_problem(&r, 400, "validation");
	resp_free(&r);

	/* a refused sign-up wrote nothing: the name is still free */
	char name[40];
	snprintf(name, sizeof(name), "free_%s", run_tag);
	json_post(&r, "/v1/auth/register", NULL, "{\"username\":\"%s\",\"password\":\"short\"}", name);
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	json_post(&r, "/v1/auth/register", NULL, "{\"username\":\"%s\",\"password\":\"long enough\"}", name);
	assert_int_equal(r.status, 201);
	resp_free(&r);
}

static void test_signin(void **state)
{
	struct resp r, r2;
	struct user u;
	char body[256];
	(void)state;

	signup(&u, "signin");
	/* the OAuth 2 password grant as a form */
	snprintf(body, sizeof(body), "grant_type=password&username=%s&password=correct+horse", u.name);
	http(&r, "POST", "/v1/auth/token", NULL, body, strlen(body),
	     "application/x-www-form-urlencoded", NULL);
	assert_int_equal(r.status, 200);
	assert_non_null(jstr(r.json, "access_token"));
	resp_free(&r);

	/* wrong password and unknown user: the same answer */
	json_post(&r, "/v1/auth/token", NULL, "{\"username\":\"%s\",\"password\":\"wrong horse\"}", u.name);
	json_post(&r2, "/v1/auth/token", NULL, "{\"username\":\"nobody_%s\",\"password\":\"wrong horse\"}", run_tag);
	assert_problem(&r, 401, "unauthorized");
	assert_problem(&r2, 401, "unauthorized");
	assert_string_equal(jstr(r.json, "detail"), jstr(r2.json, "detail"));
	resp_free(&r);
	resp_free(&r2);

	json_post(&r, "/v1/auth/token", NULL, "{\"username\":\"%s\"}", u.name);
	assert_problem(&r, 400, "validation");
	assert_field_error(&r, "password");
	resp_free(&r);

	assert_int_equal(get(&r, u.access, "/v1/me"), 200);
	assert_string_equal(jstr(r.json, "id"), u.id);
	assert_string_equal(jstr(r.json, "username"), u.name);
	assert_string_equal(jstr(r.json, "display_name"), "signin");
	resp_free(&r);
}

static void test_refresh_rotation_and_reuse(void **state)
{
	struct resp r;
	struct user u;
	char old_refresh[64], new_access[1024], new_refresh[64];
	(void)state;

	signup(&u, "refresh");
	snprintf(old_refresh, sizeof(old_refresh), "%s", u.refresh);
	json_post(&r, "/v1/auth/refresh", NULL, "{\"refresh_token\":\"%s\"}", old_refresh);
	assert_int_equal(r.status, 200);
	snprintf(new_access, sizeof(new_access), "%s", jstr(r.json, "access_token"));
	snprintf(new_refresh, sizeof(new_refresh), "%s", jstr(r.json, "refresh_token"));
	assert_string_not_equal(new_refresh, old_refresh);
	resp_free(&r);
	assert_int_equal(get(&r, new_access, "/v1/me"), 200);
	resp_free(&r);

	/* the spent token again: a theft; the whole sign-in ends */
	json_post(&r, "/v1/auth/refresh", NULL, "{\"refresh_token\":\"%s\"}", old_refresh);
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	json_post(&r, "/v1/auth/refresh", NULL, "{\"refresh_token\":\"%s\"}", new_refresh);
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	get(&r, new_access, "/v1/me");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);

	json_post(&r, "/v1/auth/refresh", NULL, "{\"refresh_token\":\"made-up\"}");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	json_post(&r, "/v1/auth/refresh", NULL, "{}");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
}

static void test_logout(void **state)
{
	struct resp r;
	struct user u, other;
	(void)state;

	char conv[37];

	signup(&u, "logout");
	signup(&other, "logout");
	private_conv(&u, &other, conv);
	/* someone else's refresh token: nothing of theirs ends */
	json_post(&r, "/v1/auth/logout", u.access, "{\"refresh_token\":\"%s\"}", other.refresh);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	assert_int_equal(get(&r, other.access, "/v1/me"), 200);
	resp_free(&r);

	json_post(&r, "/v1/auth/logout", u.access, "{\"refresh_token\":\"%s\"}", u.refresh);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	json_post(&r, "/v1/auth/refresh", NULL, "{\"refresh_token\":\"%s\"}", u.refresh);
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	get(&r, u.access, "/v1/me");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	/* the send route checks the sign-in together with its rate limit */
	send_text(&r, &u, conv, "after-logout", "too late");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	assert_int_equal(send_text(&r, &other, conv, "still-in", "fine"), 202);
	resp_free(&r);
}

static char *b64url(const char *s)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n = strlen(s), j = 0;
	char *out = malloc(n * 2 + 4);

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)s[i] << 16;
		if (i + 1 < n) v |= (unsigned char)s[i + 1] << 8;
		if (i + 2 < n) v |= (unsigned char)s[i + 2];
		out[j++] = t[(v >> 18) & 63];
		out[j++] = t[(v >> 12) & 63];
		if (i + 1 < n) out[j++] = t[(v >> 6) & 63];
		if (i + 2 < n) out[j++] = t[v & 63];
	}
	out[j] = '\0';
	return out;
}

static void test_bad_tokens(void **state)
{
	struct resp r;
	struct user u;
	char tok[2048], payload[512];
	(void)state;

	signup(&u, "tokens");
	get(&r, NULL, "/v1/me");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	get(&r, "not.a.token", "/v1/me");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);

	/* signed correctly, but expired */
	char *expired = token_with_exp(&u, -60), *fresh = token_with_exp(&u, 600);
	get(&r, expired, "/v1/me");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	assert_int_equal(get(&r, fresh, "/v1/me"), 200);	/* the same, unexpired, works */
	resp_free(&r);

	/* tampered: the payload changed, the signature kept */
	snprintf(payload, sizeof(payload),
		 "{\"sub\":\"%s\",\"role\":\"admin\",\"sid\":\"00000000-0000-4000-8000-000000000000\",\"exp\":%ld}",
		 u.id, (long)time(NULL) + 600);
	char *p64 = b64url(payload), *dot1 = strchr(u.access, '.'), *dot2 = strrchr(u.access, '.');
	snprintf(tok, sizeof(tok), "%.*s.%s%s", (int)(dot1 - u.access), u.access, p64, dot2);
	get(&r, tok, "/v1/me");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);

	/* alg=none, no signature */
	char *h64 = b64url("{\"alg\":\"none\",\"typ\":\"JWT\"}");
	snprintf(tok, sizeof(tok), "%s.%s.", h64, p64);
	get(&r, tok, "/v1/me");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	free(h64);
	free(p64);
	free(expired);
	free(fresh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_rules),
		cmocka_unit_test(test_signin),
		cmocka_unit_test(test_refresh_rotation_and_reuse),
		cmocka_unit_test(test_logout),
		cmocka_unit_test(test_bad_tokens),
	};

	client_begin();
	return cmocka_run_group_tests_name("api_auth", tests, NULL, NULL);
}
