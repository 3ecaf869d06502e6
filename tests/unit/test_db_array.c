/* Unit tests of lib/db.c's array literals (the parameters of set-based
 * statements: = ANY($1), unnest($1, $2)). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "../../lib/db.h"

static void test_empty_is_braces(void **state)
{
	struct db_array a = { 0 };
	(void)state;

	assert_string_equal(db_array_str(&a), "{}");
	db_array_free(&a);
}

static void test_elements_in_order(void **state)
{
	struct db_array ids = { 0 }, nums = { 0 };
	(void)state;

	db_array_add(&ids, "0190d3c2-0000-7000-8000-000000000001");
	db_array_add(&ids, "0190d3c2-0000-7000-8000-000000000002");
	db_array_add_ll(&nums, 0);
	db_array_add_ll(&nums, -7);
	db_array_add_ll(&nums, 9007199254740993LL);
	assert_string_equal(db_array_str(&ids), "{0190d3c2-0000-7000-8000-000000000001,"
						"0190d3c2-0000-7000-8000-000000000002}");
	assert_string_equal(db_array_str(&nums), "{0,-7,9007199254740993}");
	db_array_free(&ids);
	db_array_free(&nums);
}

static void test_grows_past_its_first_buffer(void **state)
{
	struct db_array a = { 0 };
	char expect[16];
	(void)state;

	for (int i = 0; i < 5000; i++)
		db_array_add_ll(&a, i);
	const char *s = db_array_str(&a);
	assert_non_null(s);
	assert_true(s[0] == '{' && s[strlen(s) - 1] == '}');
	snprintf(expect, sizeof(expect), ",4999}");
	assert_string_equal(s + strlen(s) - strlen(expect), expect);
	assert_int_equal(a.n, 5000);
	db_array_free(&a);
	assert_null(a.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_is_braces),
		cmocka_unit_test(test_elements_in_order),
		cmocka_unit_test(test_grows_past_its_first_buffer),
	};
	return cmocka_run_group_tests_name("db_array", tests, NULL, NULL);
}
