/* Unit tests of lib/queue.c's retry schedule: exponential, capped, jittered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../lib/queue.h"

/* What a payload says of its origin; a traceparent only when it is one
 * (j_moderate.c writes it into the next job's JSON). */
static void test_payload_origin(void **state)
{
	struct job j = { 0 };
	(void)state;

	job_read_payload(&j, "{\"req_id\":\"r1\",\"traceparent\":"
			     "\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"}");
	assert_string_equal(j.req_id, "r1");
	assert_string_equal(j.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
	job_free(&j);
	static const char *bad[] = {
		"{\"traceparent\":\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\\\",\\\"x\"}",
		"{\"traceparent\":42}", "{\"traceparent\":\"\"}", "not json",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&j, 0, sizeof(j));
		job_read_payload(&j, bad[i]);
		assert_string_equal(j.traceparent, "");
		job_free(&j);
	}
}

static void test_backoff_grows_and_caps(void **state)
{
	(void)state;
	/* equal jitter: between half and all of base * 2^(attempts-1) */
	assert_int_equal(queue_backoff_ms(1, 0), 250);
	assert_int_equal(queue_backoff_ms(1, 250), 500);
	assert_int_equal(queue_backoff_ms(2, 0), 500);
	assert_int_equal(queue_backoff_ms(3, 0), 1000);
	for (int a = 1; a < 20; a++)
		for (unsigned r = 0; r < 5000; r += 997) {
			int d = queue_backoff_ms(a, r), lo = queue_backoff_ms(a, 0);
			assert_true(d >= lo && d <= 2 * lo);
			assert_true(d <= 10 * 60 * 1000);	/* never past the cap */
		}
	assert_int_equal(queue_backoff_ms(40, 0), 5 * 60 * 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_grows_and_caps),
		cmocka_unit_test(test_payload_origin),
	};
	return cmocka_run_group_tests_name("queue", tests, NULL, NULL);
}
