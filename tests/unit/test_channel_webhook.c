/* Unit tests of lib/channel_webhook.c, the integrators' outbound webhook:
 * its body signed as the README says, how its answers count, its URLs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/channels.h"
#include "../../lib/err.h"

/* X-Chat4All-Signature: t=<time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")> */
static void test_signed_body(void **state)
{
	struct conf c = { .webhook_signing_secret = "whsec" };
	struct channel_msg m = { .channel = "webhook", .address = "https://hooks.example.com/in",
				 .message_id = "m1", .conversation_id = "c1", .sender_id = "s1",
				 .text = "hello" };
	struct channel_request r;
	long long t;
	char v1[65], *signed_part = NULL, want[65];
	unsigned char md[32];
	unsigned int n;

	(void)state;
	assert_int_equal(channel_request_build(&c, &m, &r), 0);
	assert_string_equal(r.url, "https://hooks.example.com/in");
	assert_int_equal(sscanf(r.auth, "X-Chat4All-Signature: t=%lld,v1=%64s", &t, v1), 2);
	assert_true(asprintf(&signed_part, "%lld.%s", t, r.body) > 0);
	HMAC(EVP_sha256(), "whsec", 5, (unsigned char *)signed_part, strlen(signed_part), md, &n);
	for (unsigned i = 0; i < 32; i++)
		snprintf(want + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(v1, want);
	struct json_object *o = json_tokener_parse(r.body), *v;
	assert_true(json_object_object_get_ex(o, "text", &v));
	assert_string_equal(json_object_get_string(v), "hello");
	json_object_put(o);
	free(signed_part);
	channel_request_free(&r);
	c.webhook_signing_secret = NULL;	/* no secret: nothing unsigned goes out */
	assert_int_equal(channel_request_build(&c, &m, &r), ERR_UNAVAILABLE);
	channel_request_free(&r);
}

/* The integrators' webhook: any 2xx is delivered, an id of its own if it
 * names one; its error text is not repeated; nothing comes in. */
static void test_webhook_channel(void **state)
{
	const struct channel_ops *wh = channel_find("webhook");
	char id[128], why[256];
	int wish;

	(void)state;
	assert_null(wh->webhook_parse);
	assert_true(wh->addresses_by_admin);
	assert_int_equal(channel_answer("webhook", 204, NULL, NULL, id, &wish, why), CHANNEL_SENT);
	assert_string_equal(id, "webhook-204");
	assert_int_equal(channel_answer("webhook", 200, "{\"message_id\":\"ext-7\"}", NULL, id,
					&wish, why), CHANNEL_SENT);
	assert_string_equal(id, "ext-7");
	assert_int_equal(channel_answer("webhook", 400, "{\"error\":{\"message\":\"secret\"}}", NULL,
					id, &wish, why), CHANNEL_FAILED);
	assert_string_equal(why, "HTTP 400");
	assert_true(wh->address_ok("https://hooks.example.com/chat4all"));
	assert_false(wh->address_ok("ftp://hooks.example.com/"));
	assert_false(wh->address_ok("https://a.example/\"><script>"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signed_body),
		cmocka_unit_test(test_webhook_channel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
