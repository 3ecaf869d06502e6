/* Unit tests of lib/validate.c: what untrusted input gets past it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../lib/filestore.h"
#include "../../lib/validate.h"

static struct json_object *parse(const char *s, const char **why)
{
	return validate_json_object(s, strlen(s), 16, why);
}

static void test_json_accepts_one_object(void **state)
{
	const char *why;
	struct json_object *o;
	(void)state;

	o = parse("{\"a\": [1, 2, {\"b\": \"é\"}]}", &why);
	assert_non_null(o);
	assert_null(why);
	json_object_put(o);
	o = parse("  {\"a\":1}\n", &why);	/* white space around is fine */
	assert_non_null(o);
	json_object_put(o);
}

static void test_json_refuses(void **state)
{
	static const char *bad[] = {
		"", "{", "{\"a\":1} x", "{\"a\":1}{}", "[1]", "\"s\"", "42", "null",
		"{'a':1}", "{\"a\":'b'}",
		"{\"a\":\"\xff\"}", "{\"a\":\"\xc3\"}", "{a:1}", "{\"a\":1,}",
	};
	const char *why;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_object *o = parse(bad[i], &why);
		if (o)
			print_error("accepted: %s\n", bad[i]);
		assert_null(o);
		assert_non_null(why);
	}
}

static void test_json_depth(void **state)
{
	char deep[64];
	const char *why;
	(void)state;

	/* 16 levels pass, 17 do not */
	memset(deep, 0, sizeof(deep));
	strcat(deep, "{\"a\":");
	for (int i = 0; i < 14; i++)
		strcat(deep, "[");
	strcat(deep, "1");
	for (int i = 0; i < 14; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	struct json_object *o = parse(deep, &why);
	assert_non_null(o);
	json_object_put(o);

	char deeper[64] = "{\"a\":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}";
	assert_null(parse(deeper, &why));
	assert_string_equal(why, "the JSON is nested too deeply");
}

static void test_utf8(void **state)
{
	(void)state;
	assert_true(validate_utf8("plain", 5));
	assert_true(validate_utf8("ação", strlen("ação")));
	assert_true(validate_utf8("\xf0\x9f\x98\x80", 4));	/* emoji */
	assert_false(validate_utf8("\xc0\xaf", 2));		/* overlong '/' */
	assert_false(validate_utf8("\xed\xa0\x80", 3));		/* surrogate */
	assert_false(validate_utf8("\xf4\x90\x80\x80", 4));	/* past U+10FFFF */
	assert_false(validate_utf8("a\0b", 3));
	assert_false(validate_utf8("\xe2\x82", 2));		/* cut short */
	assert_int_equal(validate_utf8_chars("ação"), 4);
	assert_int_equal(validate_utf8_chars("\xf0\x9f\x98\x80!"), 2);
}

static void test_uuid_and_username(void **state)
{
	(void)state;
	assert_true(validate_uuid("0f8fad5b-d9cb-469f-a165-70867728950e"));
	assert_true(validate_uuid("0F8FAD5B-D9CB-469F-A165-70867728950E"));
	assert_false(validate_uuid("0f8fad5b-d9cb-469f-a165-70867728950"));
	assert_false(validate_uuid("0f8fad5bxd9cb-469f-a165-70867728950e"));
	assert_false(validate_uuid("0f8fad5b-d9cb-469f-a165-70867728950g"));
	assert_false(validate_uuid(NULL));
	char loud[] = "0F8FAD5B-D9CB-469F-A165-70867728950E", bad[] = "0F8FAD5B-D9CB-469F-A165-70867728950G";
	assert_true(validate_uuid_lower(loud));
	assert_string_equal(loud, "0f8fad5b-d9cb-469f-a165-70867728950e");
	assert_false(validate_uuid_lower(bad));
	assert_string_equal(bad, "0F8FAD5B-D9CB-469F-A165-70867728950G");	/* untouched */
	assert_true(validate_username("alice"));
	assert_true(validate_username("a.b_c-9"));
	assert_false(validate_username("al"));
	assert_false(validate_username("Alice"));
	assert_false(validate_username("with space"));
	assert_false(validate_username("abcdefghijklmnopqrstuvwxyz0123456"));	/* 33 */
}

static void test_utf8_copy(void **state)
{
	char out[8], name[16];
	(void)state;

	validate_utf8_copy(out, sizeof(out), "abc");
	assert_string_equal(out, "abc");
	validate_utf8_copy(out, sizeof(out), "\xc3\x84\xc3\x84\xc3\x84\xc3\x84");	/* ÄÄÄÄ: 8 bytes */
	assert_string_equal(out, "\xc3\x84\xc3\x84\xc3\x84");			/* 3 whole, not 3.5 */
	assert_true(validate_utf8(out, strlen(out)));
	validate_utf8_copy(out, sizeof(out), "abcdef\xf0\x9f\x98\x80");		/* an emoji at the edge */
	assert_string_equal(out, "abcdef");
	validate_utf8_copy(out, 1, "abc");
	assert_string_equal(out, "");
	/* a file's name: the last segment, cut between characters too */
	filestore_safe_name("../x/\xc3\xa7\xc3\xa3\xc3\xa7\xc3\xa3\xc3\xa7\xc3\xa3\xc3\xa7\xc3\xa3", name, 10);
	assert_string_equal(name, "\xc3\xa7\xc3\xa3\xc3\xa7\xc3\xa3");		/* 4 characters in 9 bytes */
	filestore_safe_name("a\001b", name, sizeof(name));
	assert_string_equal(name, "ab");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_accepts_one_object),
		cmocka_unit_test(test_json_refuses),
		cmocka_unit_test(test_json_depth),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_uuid_and_username),
		cmocka_unit_test(test_utf8_copy),
	};
	return cmocka_run_group_tests_name("validate", tests, NULL, NULL);
}
