/* Unit tests of lib/queue.c's retry schedule: exponential, capped, jittered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../lib/queue.h"

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
	};
	return cmocka_run_group_tests_name("queue", tests, NULL, NULL);
}
