/* Unit tests of lib/channel_telegram.c: what an Update says, the secret
 * token, chat ids, pacing. The requests and answers are in test_channels.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../lib/channels.h"
#include "payload.h"

static struct channel_inbound parse(const char *file)
{
	struct json_object *body = payload(file, NULL, NULL);
	struct channel_inbound in = { 0 };

	assert_non_null(body);
	channel_find("telegram")->webhook_parse(body, &in);
	/* the messages point into the body: keep it for the test's length */
	json_object_put(body);
	return in;
}

static void test_text(void **state)
{
	struct json_object *body = payload("telegram_text.json", NULL, NULL);
	struct channel_inbound in = { 0 };

	(void)state;
	channel_find("telegram")->webhook_parse(body, &in);
	assert_int_equal(in.n, 1);
	assert_string_equal(in.msgs[0].address, "1111111");
	/* message ids count per chat: the provider id is chat:message */
	assert_string_equal(in.msgs[0].provider_id, "1111111:1365");
	assert_string_equal(in.msgs[0].name, "Ivan Petrov");
	assert_string_equal(in.msgs[0].text, "Privet");
	assert_null(in.msgs[0].media_kind);
	channel_inbound_free(&in);
	json_object_put(body);
}

static void test_photo(void **state)
{
	struct json_object *body = payload("telegram_photo.json", NULL, NULL);
	struct channel_inbound in = { 0 };

	(void)state;
	channel_find("telegram")->webhook_parse(body, &in);
	assert_int_equal(in.n, 1);
	assert_string_equal(in.msgs[0].address, "-1001234567890");
	assert_string_equal(in.msgs[0].name, "Ivan");
	assert_string_equal(in.msgs[0].media_kind, "photo");
	/* the largest size is the last */
	assert_string_equal(in.msgs[0].media_ref, "AgACAgIAAxkBAAIBZ2large");
	assert_string_equal(in.msgs[0].media_mime, "image/jpeg");
	assert_string_equal(in.msgs[0].text, "The view");
	channel_inbound_free(&in);
	json_object_put(body);
}

static void test_venue_and_edits(void **state)
{
	struct json_object *body = payload("telegram_venue.json", NULL, NULL);
	struct channel_inbound in = { 0 };

	(void)state;
	channel_find("telegram")->webhook_parse(body, &in);
	assert_int_equal(in.n, 1);
	assert_string_equal(in.msgs[0].text, "📍 Red Square Moscow 55.751244, 37.618423 "
			    "https://www.openstreetmap.org/?mlat=55.751244&mlon=37.618423");
	channel_inbound_free(&in);
	json_object_put(body);
	/* an edit is no new message */
	in = parse("telegram_edited.json");
	assert_int_equal(in.n, 0);
	assert_int_equal(in.nstatuses, 0);
	channel_inbound_free(&in);
}

static void test_secret_token(void **state)
{
	struct conf c = { .telegram_webhook_secret = "tg-secret" };
	const struct channel_ops *tg = channel_find("telegram");

	(void)state;
	assert_string_equal(tg->signature_header, "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN");
	assert_true(tg->webhook_signed(&c, "tg-secret", "{}", 2));
	assert_false(tg->webhook_signed(&c, "tg-secreT", "{}", 2));
	assert_false(tg->webhook_signed(&c, "tg-secret-and-more", "{}", 2));
	assert_false(tg->webhook_signed(&c, NULL, "{}", 2));
	c.telegram_webhook_secret = NULL;
	assert_false(tg->webhook_signed(&c, "", "{}", 2));
	assert_false(tg->subscription_check);
}

static void test_addresses_and_pace(void **state)
{
	const struct channel_ops *tg = channel_find("telegram");
	double rate;
	long burst;

	(void)state;
	assert_true(tg->address_ok("1111111"));
	assert_true(tg->address_ok("-1001234567890"));
	assert_true(tg->address_ok("@chat4all"));
	assert_false(tg->address_ok("-"));
	assert_false(tg->address_ok("12a"));
	assert_true(channel_pace("telegram", "1111111", &rate, &burst));
	assert_true(rate == 1.0 && burst == 1);
	assert_true(channel_pace("telegram", "-1001234567890", &rate, &burst));
	assert_true(rate < 0.34 && burst == 3);
	assert_false(channel_pace("whatsapp", "5511999990000", &rate, &burst));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_photo),
		cmocka_unit_test(test_venue_and_edits),
		cmocka_unit_test(test_secret_token),
		cmocka_unit_test(test_addresses_and_pace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
