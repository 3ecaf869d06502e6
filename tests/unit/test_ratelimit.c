/*
 * test_ratelimit - the buckets a process keeps itself while Redis is
 * away: a limit that still holds, and refunds that never pass the burst.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../lib/err.h"
#include "../../lib/kv.h"
#include "../../lib/ratelimit.h"

#include <stdio.h>

static void test_local_bucket(void **state)
{
	int wait = 0;
	(void)state;

	for (int i = 0; i < 5; i++)
		assert_int_equal(ratelimit_take_local("t:a", 0.001, 5, &wait), 0);
	assert_int_equal(ratelimit_take_local("t:a", 0.001, 5, &wait), ERR_RATELIMITED);
	assert_true(wait >= 1);
	/* another key has its own bucket */
	assert_int_equal(ratelimit_take_local("t:b", 0.001, 5, &wait), 0);
	/* no rate: no limit */
	assert_int_equal(ratelimit_take_local("t:c", 0, 1, &wait), 0);
	assert_int_equal(ratelimit_take_local("t:c", 0, 1, &wait), 0);
}

/* With Redis unreachable, ratelimit_take limits from the local bucket,
 * says when a mark it was asked to check could not be, and a refund goes
 * back to the local bucket. */
static void test_redis_away(void **state)
{
	struct kv *kv = kv_open("unix:/nonexistent/redis.sock");
	int wait = 0;
	(void)state;

	assert_non_null(kv);
	assert_int_equal(ratelimit_take(kv, "t:away", 0.001, 2, NULL, &wait), 0);
	assert_int_equal(ratelimit_take(kv, "t:away", 0.001, 2, "t:mark", &wait), ERR_UNAVAILABLE);
	assert_int_equal(ratelimit_take(kv, "t:away", 0.001, 2, NULL, &wait), ERR_RATELIMITED);
	ratelimit_refund(kv, "t:away", 2);
	assert_int_equal(ratelimit_take(kv, "t:away", 0.001, 2, NULL, &wait), 0);
	ratelimit_refund(kv, "t:away", 2);
	ratelimit_refund(kv, "t:away", 2);
	ratelimit_refund(kv, "t:away", 2);	/* never past the burst */
	assert_int_equal(ratelimit_take(kv, "t:away", 0.001, 2, NULL, &wait), 0);
	assert_int_equal(ratelimit_take(kv, "t:away", 0.001, 2, NULL, &wait), 0);
	assert_int_equal(ratelimit_take(kv, "t:away", 0.001, 2, NULL, &wait), ERR_RATELIMITED);
	kv_free(kv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_local_bucket),
		cmocka_unit_test(test_redis_away),
	};
	return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
