/* Unit tests of lib/channel_whatsapp.c: what WhatsApp's webhooks say (the
 * messages of a payload, its statuses), its signature, its addresses. The
 * requests and answers are in test_channels.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../../lib/channels.h"
#include "payload.h"

static void test_messages(void **state)
{
	const struct channel_ops *wa = channel_find("whatsapp");
	struct json_object *body = payload("whatsapp_messages.json", NULL, NULL);
	struct channel_inbound in = { 0 };

	(void)state;
	assert_non_null(body);
	wa->webhook_parse(body, &in);
	/* the reaction is no message; the order is said, not dropped */
	assert_int_equal(in.n, 4);
	assert_int_equal(in.nstatuses, 0);
	assert_string_equal(in.msgs[0].channel, "whatsapp");
	assert_string_equal(in.msgs[0].address, "16505551234");
	assert_string_equal(in.msgs[0].provider_id,
			    "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=");
	assert_string_equal(in.msgs[0].name, "Sheena Nelson");
	assert_string_equal(in.msgs[0].text, "Does it come in another color?");
	assert_null(in.msgs[0].media_kind);
	/* an image: fetched later by its media id, its caption the text */
	assert_string_equal(in.msgs[1].media_kind, "image");
	assert_string_equal(in.msgs[1].media_ref, "1003383421387256");
	assert_string_equal(in.msgs[1].media_mime, "image/jpeg");
	assert_string_equal(in.msgs[1].text, "This one");
	/* a location: text with a map link */
	assert_non_null(strstr(in.msgs[2].text, "Paulista Av. Paulista, 1578 -23.561414, -46.655881"));
	assert_non_null(strstr(in.msgs[2].text, "openstreetmap.org/?mlat=-23.561414&mlon=-46.655881"));
	assert_string_equal(in.msgs[3].text, "[an order message, which Chat4All cannot show]");
	channel_inbound_free(&in);
	json_object_put(body);
}

static void test_statuses(void **state)
{
	struct json_object *body = payload("whatsapp_statuses.json", NULL, NULL);
	struct channel_inbound in = { 0 };

	(void)state;
	assert_non_null(body);
	channel_find("whatsapp")->webhook_parse(body, &in);
	assert_int_equal(in.n, 0);
	/* "deleted" is no status we keep */
	assert_int_equal(in.nstatuses, 2);
	assert_string_equal(in.statuses[0].provider_id,
			    "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjY5QjA4NUY4RjlGNTEA");
	assert_string_equal(in.statuses[0].status, "delivered");
	assert_null(in.statuses[0].error);
	assert_string_equal(in.statuses[1].status, "failed");
	assert_string_equal(in.statuses[1].error, "Re-engagement message");
	channel_inbound_free(&in);
	json_object_put(body);
}

/* Whatever a payload lacks or mistypes, nothing is made of it and nothing breaks. */
static void test_malformed(void **state)
{
	static const char *const bodies[] = {
		"{\"entry\":\"not a list\"}",
		"{\"entry\":[{\"changes\":[{\"value\":{\"messages\":[{\"from\":5,\"id\":{},\"text\":7}],"
		"\"statuses\":\"x\"}}]}]}",
		"{\"entry\":[{\"changes\":[{\"value\":{\"messages\":[{\"from\":\"1\",\"id\":\"w\","
		"\"type\":\"image\",\"image\":{}}]}}]}]}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct json_object *o = json_tokener_parse(bodies[i]);
		struct channel_inbound in = { 0 };
		channel_find("whatsapp")->webhook_parse(o, &in);
		if (i < 2) {
			assert_int_equal(in.n, 0);
		} else {	/* an image without its id: kept, to say so */
			assert_int_equal(in.n, 1);
			assert_null(in.msgs[0].media_ref);
		}
		assert_int_equal(in.nstatuses, 0);
		channel_inbound_free(&in);
		json_object_put(o);
	}
}

static void test_signature(void **state)
{
	struct conf c = { .meta_app_secret = "meta-secret" };
	const struct channel_ops *wa = channel_find("whatsapp");
	char *raw = NULL, sig[80] = "sha256=";
	size_t len = 0;
	unsigned char md[32];
	unsigned int n;
	struct json_object *o = payload("whatsapp_messages.json", &raw, &len);

	(void)state;
	HMAC(EVP_sha256(), "meta-secret", 11, (unsigned char *)raw, len, md, &n);
	for (unsigned i = 0; i < 32; i++)
		snprintf(sig + 7 + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(wa->signature_header, "HTTP_X_HUB_SIGNATURE_256");
	assert_true(wa->webhook_signed(&c, sig, raw, len));
	assert_false(wa->webhook_signed(&c, sig, raw, len - 1));	/* another body */
	assert_false(wa->webhook_signed(&c, NULL, raw, len));
	sig[10] ^= 1;
	assert_false(wa->webhook_signed(&c, sig, raw, len));
	c.meta_app_secret = "";					/* not configured: nothing verifies */
	assert_false(wa->webhook_signed(&c, "sha256=", raw, len));
	free(raw);
	json_object_put(o);
}

static void test_addresses(void **state)
{
	const struct channel_ops *wa = channel_find("whatsapp");

	(void)state;
	assert_true(wa->address_ok("5511999990000"));
	assert_false(wa->address_ok("+5511999990000"));
	assert_false(wa->address_ok("12345"));
	assert_false(wa->address_ok("1234567890123456"));
	assert_null(wa->pace);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_statuses),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
