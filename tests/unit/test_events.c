/* Unit tests of lib/events.c's pure parts: the payloads it builds (one home
 * for each event's shape) and the stream ids clients send back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <string.h>

#include "../../lib/events.h"

static void test_conversation_event(void **state)
{
	char out[EVENTS_CONVERSATION_MAX];
	const char *id = "0192f1a2-7b3c-7d4e-8f90-123456789abc";

	(void)state;
	events_conversation(out, id, "created", NULL);
	assert_string_equal(out, "{\"id\":\"0192f1a2-7b3c-7d4e-8f90-123456789abc\",\"change\":\"created\"}");
	events_conversation(out, id, "member_removed", id);
	struct json_object *o = json_tokener_parse(out), *v;
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "user_id", &v));
	assert_string_equal(json_object_get_string(v), id);
	json_object_put(o);
}

static void test_stream_ids(void **state)
{
	(void)state;
	assert_true(events_id_valid("1733011200000-0"));
	assert_true(events_id_valid("1733011200000"));
	assert_false(events_id_valid(""));
	assert_false(events_id_valid("-1"));
	assert_false(events_id_valid("12-"));
	assert_false(events_id_valid("12-3-4"));
	assert_false(events_id_valid("$"));
	assert_false(events_id_valid("1 2"));
	assert_true(events_id_cmp("10-1", "9-5") > 0);
	assert_true(events_id_cmp("10-1", "10-2") < 0);
	assert_int_equal(events_id_cmp("10-1", "10-1"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conversation_event),
		cmocka_unit_test(test_stream_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
