/* Unit tests of lib/channel_meta.c (Messenger, Instagram): messages with
 * attachments, echoes, deliveries and reads (by id and by watermark),
 * the subscription check, addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../lib/channels.h"
#include "../../lib/err.h"
#include "payload.h"

static void test_messenger_message(void **state)
{
	struct json_object *body = payload("messenger_message.json", NULL, NULL);
	struct channel_inbound in = { 0 };
	const char *mid = "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_"
			  "5cgXIbu7I3rBN0P";
	char second[96];

	(void)state;
	assert_non_null(body);
	channel_find("messenger")->webhook_parse(body, &in);
	/* the text and the first picture are one message, the second picture
	 * another; the echo of our own reply is none */
	assert_int_equal(in.n, 2);
	assert_string_equal(in.msgs[0].channel, "messenger");
	assert_string_equal(in.msgs[0].address, "1254459154682919");
	assert_string_equal(in.msgs[0].provider_id, mid);
	assert_string_equal(in.msgs[0].text, "Here are the pictures");
	assert_string_equal(in.msgs[0].media_kind, "image");
	assert_string_equal(in.msgs[0].media_ref, "https://scontent.xx.fbcdn.net/v/t1.15752-9/one.jpg");
	snprintf(second, sizeof(second), "%.64s#1", mid);
	assert_string_equal(in.msgs[1].provider_id, second);
	assert_null(in.msgs[1].text);
	assert_string_equal(in.msgs[1].media_ref, "https://scontent.xx.fbcdn.net/v/t1.15752-9/two.jpg");
	assert_int_equal(in.nstatuses, 0);
	channel_inbound_free(&in);
	json_object_put(body);
}

static void test_messenger_receipts(void **state)
{
	struct json_object *body = payload("messenger_receipts.json", NULL, NULL);
	struct channel_inbound in = { 0 };

	(void)state;
	channel_find("messenger")->webhook_parse(body, &in);
	assert_int_equal(in.n, 0);
	assert_int_equal(in.nstatuses, 3);
	assert_string_equal(in.statuses[0].provider_id, "m_1457764197618:41d102a3e1ae206a38");
	assert_string_equal(in.statuses[0].status, "delivered");
	/* and every delivery to that person before the watermark */
	assert_null(in.statuses[1].provider_id);
	assert_string_equal(in.statuses[1].address, "1254459154682919");
	assert_true(in.statuses[1].watermark_ms == 1458668856253.0);
	assert_string_equal(in.statuses[1].status, "delivered");
	assert_null(in.statuses[2].provider_id);
	assert_string_equal(in.statuses[2].status, "read");
	channel_inbound_free(&in);
	json_object_put(body);
}

static void test_instagram(void **state)
{
	struct json_object *body = payload("instagram_message.json", NULL, NULL);
	struct channel_inbound in = { 0 };

	(void)state;
	channel_find("instagram")->webhook_parse(body, &in);
	assert_int_equal(in.n, 2);
	assert_string_equal(in.msgs[0].channel, "instagram");
	assert_string_equal(in.msgs[0].text, "Hello from Instagram");
	/* a shared post: its link, fetched as a file */
	assert_string_equal(in.msgs[1].media_kind, "share");
	assert_non_null(strstr(in.msgs[1].media_ref, "https://lookaside.fbsbx.com/"));
	/* Instagram's read names the message */
	assert_int_equal(in.nstatuses, 1);
	assert_string_equal(in.statuses[0].provider_id, in.msgs[0].provider_id);
	assert_string_equal(in.statuses[0].status, "read");
	channel_inbound_free(&in);
	json_object_put(body);
}

static void test_media_and_addresses(void **state)
{
	struct conf c = { 0 };
	const struct channel_ops *fb = channel_find("messenger");
	char url[1024], auth[600];
	bool direct = false;

	(void)state;
	assert_true(fb->subscription_check);
	assert_int_equal(channel_media_lookup(&c, "instagram", "https://cdn.test/a.jpg", url, auth,
					      &direct), 0);
	assert_true(direct);
	assert_string_equal(url, "https://cdn.test/a.jpg");
	assert_int_equal(channel_media_lookup(&c, "messenger", "file:///etc/passwd", url, auth,
					      &direct), ERR_VALIDATION);
	assert_true(fb->address_ok("1254459154682919"));
	assert_false(fb->address_ok("12544591546829191254459154682919123"));
	assert_false(fb->address_ok("abc"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_messenger_message),
		cmocka_unit_test(test_messenger_receipts),
		cmocka_unit_test(test_instagram),
		cmocka_unit_test(test_media_and_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
