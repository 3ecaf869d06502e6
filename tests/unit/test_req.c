/* Unit tests of fcgi/req.c's readers of strangers' bytes: form and query
 * decoding, the JSON field readers and the errors they record, ?limit=.
 * (Reading the FastCGI request itself is reached end to end.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../fcgi/req.h"

static bool form(const char *f, const char *name, char *buf, size_t len)
{
	return req_form_value(f, strlen(f), name, buf, len);
}

static void test_form_values(void **state)
{
	char buf[32];

	(void)state;
	assert_true(form("username=alice&password=p%40ss+word", "password", buf, sizeof(buf)));
	assert_string_equal(buf, "p@ss word");
	assert_true(form("username=alice&password=x", "username", buf, sizeof(buf)));
	assert_string_equal(buf, "alice");
	/* a name is matched whole, not as a prefix of another */
	assert_false(form("usernames=bob", "username", buf, sizeof(buf)));
	assert_false(form("xusername=bob", "username", buf, sizeof(buf)));
	/* the first of two wins */
	assert_true(form("a=1&a=2", "a", buf, sizeof(buf)));
	assert_string_equal(buf, "1");
	assert_true(form("a=", "a", buf, sizeof(buf)));
	assert_string_equal(buf, "");
	assert_false(form("a", "a", buf, sizeof(buf)));
	assert_false(form("", "a", buf, sizeof(buf)));
	/* bad escapes, invalid UTF-8, too long: refused, never cut */
	assert_false(form("a=%4", "a", buf, sizeof(buf)));
	assert_false(form("a=%zz", "a", buf, sizeof(buf)));
	assert_false(form("a=%C3%28", "a", buf, sizeof(buf)));
	assert_true(form("a=%C3%A9", "a", buf, sizeof(buf)));
	assert_string_equal(buf, "é");
	assert_false(form("a=0123456789", "a", buf, 10));
	assert_true(form("a=012345678", "a", buf, 10));
}

static void test_query(void **state)
{
	struct req r = { .query = "cursor=abc&limit=20" };
	char buf[16];

	(void)state;
	assert_true(req_query(&r, "cursor", buf, sizeof(buf)));
	assert_string_equal(buf, "abc");
	assert_int_equal(req_query_limit(&r, 50, 100), 20);
	r.query = "";
	assert_int_equal(req_query_limit(&r, 50, 100), 50);
	assert_null(r.errors);
	static const char *const bad[] = { "limit=0", "limit=101", "limit=1x", "limit=", "limit=-5" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r.query = bad[i];
		assert_int_equal(req_query_limit(&r, 50, 100), -1);
	}
	assert_int_equal(json_object_array_length(r.errors), 5);
	json_object_put(r.errors);
}

/* The field errors a request collected, as "field: message; ...". */
static const char *errors(struct req *r)
{
	static char out[512];

	out[0] = '\0';
	for (size_t i = 0; r->errors && i < json_object_array_length(r->errors); i++) {
		struct json_object *e = json_object_array_get_idx(r->errors, i), *f, *m;
		json_object_object_get_ex(e, "field", &f);
		json_object_object_get_ex(e, "message", &m);
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s: %s", out[0] ? "; " : "",
			 json_object_get_string(f), json_object_get_string(m));
	}
	json_object_put(r->errors);
	r->errors = NULL;
	return out;
}

static void test_strings(void **state)
{
	struct req r = { 0 };
	struct json_object *o = json_tokener_parse(
		"{\"name\":\"Zoë\",\"n\":5,\"nul\":\"a\\u0000b\",\"long\":\"ééééé\",\"null\":null,"
		"\"raw\":\"\xff\"}");

	(void)state;
	assert_string_equal(req_str(&r, o, "name", true, 3), "Zoë");	/* characters, not bytes */
	assert_null(r.errors);
	assert_null(req_str(&r, o, "long", true, 4));
	assert_string_equal(errors(&r), "long: must be at most 4 characters");
	assert_null(req_str(&r, o, "absent", true, 10));
	assert_string_equal(errors(&r), "absent: is required");
	assert_null(req_str(&r, o, "absent", false, 10));
	assert_null(req_str(&r, o, "null", false, 10));
	assert_null(r.errors);
	assert_null(req_str(&r, o, "n", false, 10));
	assert_string_equal(errors(&r), "n: must be a string");
	assert_null(req_str(&r, o, "nul", false, 10));
	assert_string_equal(errors(&r), "nul: must not contain NUL characters");
	/* bytes that are no UTF-8 (json-c passes them; a lone \ud800 it makes U+FFFD) */
	assert_null(req_str(&r, o, "raw", false, 10));
	assert_string_equal(errors(&r), "raw: must be valid UTF-8");
	json_object_put(o);
}

static void test_integers(void **state)
{
	struct req r = { 0 };
	struct json_object *o = json_tokener_parse(
		"{\"ok\":7,\"low\":0,\"float\":1.5,\"text\":\"7\",\"huge\":99999999999999999999}");
	long long v = -1;

	(void)state;
	assert_true(req_int(&r, o, "ok", 1, 10, &v));
	assert_int_equal(v, 7);
	assert_false(req_int(&r, o, "absent", 1, 10, &v));
	assert_null(r.errors);
	assert_false(req_int(&r, o, "low", 1, 10, &v));
	assert_string_equal(errors(&r), "low: must be from 1 to 10");
	assert_false(req_int(&r, o, "float", 1, 10, &v));
	assert_false(req_int(&r, o, "text", 1, 10, &v));
	assert_string_equal(errors(&r), "float: must be an integer; text: must be an integer");
	assert_false(req_int(&r, o, "huge", 1, 10, &v));
	assert_string_equal(errors(&r), "huge: must be from 1 to 10");
	json_object_put(o);
}

static void test_answers(void **state)
{
	struct req r = { 0 };

	(void)state;
	req_detail(&r, "first %d", 1);
	req_detail(&r, "second %s", "try");	/* the last one counts */
	assert_string_equal(r.detail, "second try");
	req_header(&r, "Retry-After: %d", 5);
	assert_string_equal(r.headers, "Retry-After: 5\r\n");
	/* a header that does not fit is left out whole, and what is kept
	 * stays a string of whole lines */
	char big[5000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	req_header(&r, "X-Big: %s", big);
	assert_string_equal(r.headers, "Retry-After: 5\r\n");
	assert_int_equal(req_reply(&r, 201, "{\"ok\":true}"), 0);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.out, "{\"ok\":true}");
	free(r.out);
	free(r.detail);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_form_values),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
