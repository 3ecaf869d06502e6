/* Unit tests of fcgi/routes.c: the route table (every route reachable, ids
 * with one spelling, segments bounded, 404 apart from 405) and the one map
 * from an error to its HTTP status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../fcgi/req.h"
#include "../../fcgi/routes.h"
#include "../../lib/err.h"

#define AN_ID "0192f1a2-7b3c-7d4e-8f90-123456789abc"

/* A path the pattern @p matches: each {id} an id, {n} 42, {s} a name. */
static void example(const char *p, char *out, size_t len)
{
	out[0] = '\0';
	while (*p) {
		const char *sub = !strncmp(p, "{id}", 4) ? AN_ID : !strncmp(p, "{n}", 3) ? "42"
				 : !strncmp(p, "{s}", 3) ? "whatsapp" : NULL;
		if (sub) {
			snprintf(out + strlen(out), len - strlen(out), "%s", sub);
			p = strchr(p, '}') + 1;
		} else {
			snprintf(out + strlen(out), len - strlen(out), "%c", *p++);
		}
	}
}

/* No route hides behind an earlier one: each route's own example finds it. */
static void test_every_route_reachable(void **state)
{
	const char *const *names = routes_names();

	(void)state;
	for (unsigned i = 0; i + 1 < routes_count(); i++) {
		char method[16], pattern[96], path[160];
		struct req r = { 0 };
		assert_int_equal(sscanf(names[i], "%15s %95s", method, pattern), 2);
		example(pattern, path, sizeof(path));
		assert_int_equal(routes_find(method, path, &r), (int)i);
		if (strstr(pattern, "{id}"))
			assert_string_equal(r.params[0], AN_ID);
	}
	assert_string_equal(names[routes_count() - 1], "unmatched");
}

static void test_params(void **state)
{
	struct req r = { 0 };

	(void)state;
	assert_true(routes_find("DELETE", "/v1/conversations/" AN_ID "/members/" AN_ID, &r) >= 0);
	assert_string_equal(r.params[0], AN_ID);
	assert_string_equal(r.params[1], AN_ID);
	assert_true(routes_find("POST", "/v1/me/identities/telegram/@chat4all/verify", &r) >= 0);
	assert_string_equal(r.params[0], "telegram");
	assert_string_equal(r.params[1], "@chat4all");
	assert_true(routes_find("POST", "/v1/admin/jobs/dead/123456789012345678/retry", &r) >= 0);
	/* an id has one spelling: "7E69…" and "7e69…" are one row, one file, one lock */
	assert_true(routes_find("GET", "/v1/conversations/0192F1A2-7B3C-7D4E-8F90-123456789ABC", &r) >= 0);
	assert_string_equal(r.params[0], AN_ID);
}

/* What no route takes: not found, or a known path with another method. */
static void test_refused(void **state)
{
	static const char *const missing[] = {
		"/v1/conversations/" AN_ID "/",					/* no trailing / */
		"/v1/conversations/not-an-id",
		"/v1/conversations//messages",
		"/v1/admin/jobs/dead/1234567890123456789/retry",		/* 19 digits */
		"/v1/admin/jobs/dead/-1/retry",
		"/v1/me/identities/tele gram/x/verify",
		"/v1/me/identities/a/b/c/verify",
		"/v1/me/identities/whatsapp/"
		"12345678901234567890123456789012345678901234567890123456789012345/verify",
		"/v1//me",
		"/V1/me",
		"",
		"/",
	};
	struct req r = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		memset(&r, 0, sizeof(r));
		if (routes_find("GET", missing[i], &r) != ROUTES_NO_PATH ||
		    routes_find("POST", missing[i], &r) != ROUTES_NO_PATH)
			fail_msg("%s was routed", missing[i]);
	}
	assert_int_equal(routes_find("PUT", "/v1/me", &r), ROUTES_NO_METHOD);
	assert_int_equal(routes_find("DELETE", "/v1/auth/token", &r), ROUTES_NO_METHOD);
	/* HEAD is GET without the body */
	assert_true(routes_find("HEAD", "/v1/me", &r) >= 0);
	assert_int_equal(routes_find("HEAD", "/v1/me", &r), routes_find("GET", "/v1/me", &r));
}

static void test_statuses(void **state)
{
	(void)state;
	assert_int_equal(routes_status(ERR_VALIDATION), 400);
	assert_int_equal(routes_status(ERR_INVALID_JSON), 400);
	assert_int_equal(routes_status(ERR_AUTH), 401);
	assert_int_equal(routes_status(ERR_FORBIDDEN), 403);
	assert_int_equal(routes_status(ERR_NOTFOUND), 404);
	assert_int_equal(routes_status(ERR_METHOD), 405);
	assert_int_equal(routes_status(ERR_CONFLICT), 409);
	assert_int_equal(routes_status(ERR_GONE), 410);
	assert_int_equal(routes_status(ERR_PRECONDITION), 412);
	assert_int_equal(routes_status(ERR_TOOLARGE), 413);
	assert_int_equal(routes_status(ERR_MEDIATYPE), 415);
	assert_int_equal(routes_status(ERR_RATELIMITED), 429);
	assert_int_equal(routes_status(ERR_CHECKSUM), 460);
	assert_int_equal(routes_status(ERR_UNAVAILABLE), 503);
	assert_int_equal(routes_status(ERR_STORAGE), 507);
	/* a database error, or any code without its own answer, says nothing more */
	assert_int_equal(routes_status(ERR_DB), 500);
	assert_int_equal(routes_status(-12345), 500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_route_reachable),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_statuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
