/* Unit tests of lib/channels.c: the providers' requests, what their
 * answers mean, and how an inbound media reference becomes a URL (a
 * reference from outside must never become another path). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/channels.h"
#include "../../lib/err.h"

static struct conf conf;

static int setup(void **state)
{
	char err[256];
	(void)state;
	unsetenv("CHAT4ALL_CONF");
	setenv("CHAT4ALL_GRAPH_BASE_URL", "http://graph.test", 1);
	setenv("CHAT4ALL_TELEGRAM_BASE_URL", "http://tg.test", 1);
	setenv("CHAT4ALL_WHATSAPP_TOKEN", "wa-token", 1);
	setenv("CHAT4ALL_WHATSAPP_PHONE_NUMBER_ID", "1055", 1);
	setenv("CHAT4ALL_TELEGRAM_BOT_TOKEN", "123:abc", 1);
	setenv("CHAT4ALL_MESSENGER_PAGE_ID", "2066", 1);
	setenv("CHAT4ALL_MESSENGER_TOKEN", "fb-token", 1);
	unsetenv("CHAT4ALL_INSTAGRAM_TOKEN");
	return conf_load(&conf, NULL, err, sizeof(err));
}

static int teardown(void **state)
{
	(void)state;
	conf_free(&conf);
	return 0;
}

/* @r's body, parsed; the member at @path ("a.b") as a string. */
static const char *member(struct json_object *o, const char *path)
{
	char key[64];
	const char *dot;

	while ((dot = strchr(path, '.'))) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		if (!json_object_object_get_ex(o, key, &o))
			return NULL;
		path = dot + 1;
	}
	return json_object_object_get_ex(o, path, &o) ? json_object_get_string(o) : NULL;
}

static void test_whatsapp_text_and_media(void **state)
{
	struct channel_msg m = { .channel = "whatsapp", .address = "5511999", .text = "hello" };
	struct channel_request r;
	(void)state;

	assert_int_equal(channel_request_build(&conf, &m, &r), 0);
	assert_string_equal(r.url, "http://graph.test/v21.0/1055/messages");
	assert_string_equal(r.auth, "Authorization: Bearer wa-token");
	struct json_object *o = json_tokener_parse(r.body);
	assert_string_equal(member(o, "messaging_product"), "whatsapp");
	assert_string_equal(member(o, "to"), "5511999");
	assert_string_equal(member(o, "type"), "text");
	assert_string_equal(member(o, "text.body"), "hello");
	json_object_put(o);
	channel_request_free(&r);

	/* a small image goes as an image by link, a big file as its link in the text */
	m.file_url = "https://chat.test/f/1?sig=x";
	m.file_mime = "image/png";
	m.file_name = "a.png";
	m.file_size = 1000;
	assert_int_equal(channel_request_build(&conf, &m, &r), 0);
	o = json_tokener_parse(r.body);
	assert_string_equal(member(o, "type"), "image");
	assert_string_equal(member(o, "image.link"), m.file_url);
	assert_string_equal(member(o, "image.caption"), "hello");
	json_object_put(o);
	channel_request_free(&r);
	m.file_size = 2LL << 30;
	assert_int_equal(channel_request_build(&conf, &m, &r), 0);
	o = json_tokener_parse(r.body);
	assert_string_equal(member(o, "type"), "text");
	assert_non_null(strstr(member(o, "text.body"), m.file_url));
	json_object_put(o);
	channel_request_free(&r);
}

/* Outside WhatsApp's 24 h window only a template goes, or nothing. */
static void test_whatsapp_window(void **state)
{
	struct channel_msg m = { .channel = "whatsapp", .address = "5511999", .sender_name = "Ana",
				 .text = "line one\nline two", .inbound_age_s = -1 };
	struct channel_request r;
	char *saved = conf.whatsapp_template;
	(void)state;

	assert_int_equal(channel_request_build(&conf, &m, &r), ERR_FORBIDDEN);
	conf.whatsapp_template = "new_message";
	assert_int_equal(channel_request_build(&conf, &m, &r), 0);
	struct json_object *o = json_tokener_parse(r.body), *params;
	assert_string_equal(member(o, "type"), "template");
	assert_string_equal(member(o, "template.name"), "new_message");
	assert_string_equal(member(o, "template.language.code"), "en_US");
	json_object_object_get_ex(json_object_array_get_idx(
		json_object_object_get(json_object_object_get(o, "template"), "components"), 0),
		"parameters", &params);
	assert_int_equal(json_object_array_length(params), 2);
	assert_string_equal(member(json_object_array_get_idx(params, 0), "text"), "Ana");
	assert_string_equal(member(json_object_array_get_idx(params, 1), "text"), "line one line two");
	json_object_put(o);
	channel_request_free(&r);
	conf.whatsapp_template = saved;
}

/* Messenger: a reply within 24 h, a human agent's within 7 days, else nothing. */
static void test_messenger_window(void **state)
{
	struct channel_msg m = { .channel = "messenger", .address = "7001", .text = "hi" };
	struct channel_request r;
	struct json_object *o;
	(void)state;

	m.inbound_age_s = 3600;
	assert_int_equal(channel_request_build(&conf, &m, &r), 0);
	o = json_tokener_parse(r.body);
	assert_string_equal(member(o, "messaging_type"), "RESPONSE");
	assert_null(member(o, "tag"));
	json_object_put(o);
	channel_request_free(&r);
	m.inbound_age_s = 2 * 24 * 3600;
	assert_int_equal(channel_request_build(&conf, &m, &r), 0);
	o = json_tokener_parse(r.body);
	assert_string_equal(member(o, "messaging_type"), "MESSAGE_TAG");
	assert_string_equal(member(o, "tag"), "HUMAN_AGENT");
	json_object_put(o);
	channel_request_free(&r);
	m.inbound_age_s = 8 * 24 * 3600;
	assert_int_equal(channel_request_build(&conf, &m, &r), ERR_FORBIDDEN);
	m.inbound_age_s = -1;	/* never wrote: a page may not start the conversation */
	assert_int_equal(channel_request_build(&conf, &m, &r), ERR_FORBIDDEN);
}

static void test_telegram_chat_ids(void **state)
{
	struct channel_msg m = { .channel = "telegram", .address = "-100123", .text = "hi" };
	struct channel_request r;
	struct json_object *o, *id;
	(void)state;

	assert_int_equal(channel_request_build(&conf, &m, &r), 0);
	assert_string_equal(r.url, "http://tg.test/bot123:abc/sendMessage");
	o = json_tokener_parse(r.body);
	assert_true(json_object_object_get_ex(o, "chat_id", &id));
	assert_true(json_object_is_type(id, json_type_int));	/* ids are integers */
	json_object_put(o);
	channel_request_free(&r);
	m.address = "@mychannel";
	assert_int_equal(channel_request_build(&conf, &m, &r), 0);
	o = json_tokener_parse(r.body);
	assert_true(json_object_object_get_ex(o, "chat_id", &id));
	assert_true(json_object_is_type(id, json_type_string));
	json_object_put(o);
	channel_request_free(&r);
}

static void test_unconfigured_channel(void **state)
{
	struct channel_msg m = { .channel = "instagram", .address = "1784", .text = "hi" };
	struct channel_request r;
	(void)state;

	assert_int_equal(channel_request_build(&conf, &m, &r), ERR_UNAVAILABLE);
}

static void test_answers(void **state)
{
	char id[128], why[256];
	int after;
	(void)state;

	assert_int_equal(channel_answer("whatsapp", 200, "{\"messages\":[{\"id\":\"wamid.X\"}]}", NULL,
					id, &after, why), CHANNEL_SENT);
	assert_string_equal(id, "wamid.X");
	assert_int_equal(channel_answer("telegram", 200, "{\"ok\":true,\"result\":{\"message_id\":42}}",
					NULL, id, &after, why), CHANNEL_SENT);
	assert_string_equal(id, "42");
	assert_int_equal(channel_answer("messenger", 429, "{\"error\":{\"message\":\"slow\"}}", "7", id,
					&after, why), CHANNEL_RETRY);
	assert_int_equal(after, 7);
	assert_int_equal(channel_answer("telegram", 429,
					"{\"ok\":false,\"parameters\":{\"retry_after\":5}}", NULL, id,
					&after, why), CHANNEL_RETRY);
	assert_int_equal(after, 5);
	assert_int_equal(channel_answer("whatsapp", 400, "{\"error\":{\"message\":\"bad number\"}}",
					NULL, id, &after, why), CHANNEL_FAILED);
	assert_non_null(strstr(why, "bad number"));
	/* no answer, no JSON, JSON of another shape, an ok without an id */
	assert_int_equal(channel_answer("whatsapp", 0, NULL, NULL, id, &after, why), CHANNEL_RETRY);
	assert_int_equal(channel_answer("whatsapp", 502, "<html>", NULL, id, &after, why), CHANNEL_RETRY);
	assert_int_equal(channel_answer("whatsapp", 200, "[1,2]", NULL, id, &after, why), CHANNEL_RETRY);
	assert_int_equal(channel_answer("whatsapp", 200, "{\"messages\":\"x\"}", NULL, id, &after, why),
			 CHANNEL_RETRY);
	assert_int_equal(channel_answer("webhook", 204, "", NULL, id, &after, why), CHANNEL_SENT);
}

static void test_media_lookup(void **state)
{
	char url[1024], auth[600];
	bool direct;
	(void)state;

	assert_int_equal(channel_media_lookup(&conf, "whatsapp", "12345", url, auth, &direct), 0);
	assert_string_equal(url, "http://graph.test/v21.0/12345");
	assert_string_equal(auth, "Authorization: Bearer wa-token");
	assert_false(direct);
	assert_int_equal(channel_media_lookup(&conf, "telegram", "AgAC-x_9", url, auth, &direct), 0);
	assert_string_equal(url, "http://tg.test/bot123:abc/getFile?file_id=AgAC-x_9");
	assert_string_equal(auth, "");
	assert_int_equal(channel_media_lookup(&conf, "messenger", "https://cdn.test/a.jpg", url, auth,
					      &direct), 0);
	assert_true(direct);
	assert_string_equal(url, "https://cdn.test/a.jpg");
	/* references that would reach elsewhere */
	static const char *const bad_wa[] = { "", "1/../me", "12?x=1", "12 3", "abc" };
	for (size_t i = 0; i < sizeof(bad_wa) / sizeof(bad_wa[0]); i++)
		assert_int_equal(channel_media_lookup(&conf, "whatsapp", bad_wa[i], url, auth, &direct),
				 ERR_VALIDATION);
	assert_int_equal(channel_media_lookup(&conf, "telegram", "a&chat_id=1", url, auth, &direct),
			 ERR_VALIDATION);
	assert_int_equal(channel_media_lookup(&conf, "telegram", "../x", url, auth, &direct),
			 ERR_VALIDATION);
	assert_int_equal(channel_media_lookup(&conf, "messenger", "file:///etc/passwd", url, auth,
					      &direct), ERR_VALIDATION);
	assert_int_equal(channel_media_lookup(&conf, "whatsapp", NULL, url, auth, &direct),
			 ERR_VALIDATION);
	assert_int_equal(channel_media_lookup(&conf, "instagram", "https://cdn.test/b", url, auth,
					      &direct), 0);	/* the URL needs no token */
}

static void test_media_located(void **state)
{
	char url[1024];
	long long size;
	(void)state;

	assert_int_equal(channel_media_located(&conf, "whatsapp",
					       "{\"url\":\"https://lookaside.test/m?x=1\",\"file_size\":300}",
					       url, &size), 0);
	assert_string_equal(url, "https://lookaside.test/m?x=1");
	assert_int_equal(size, 300);
	assert_int_equal(channel_media_located(&conf, "telegram",
					       "{\"ok\":true,\"result\":{\"file_path\":\"photos/f_1.jpg\","
					       "\"file_size\":9}}", url, &size), 0);
	assert_string_equal(url, "http://tg.test/file/bot123:abc/photos/f_1.jpg");
	assert_int_equal(size, 9);
	static const char *const bad[][2] = {
		{ "whatsapp", "{\"url\":\"file:///etc/passwd\"}" },
		{ "whatsapp", "{\"url\":42}" },
		{ "whatsapp", "{}" },
		{ "whatsapp", "not json" },
		{ "telegram", "{\"ok\":true,\"result\":{\"file_path\":\"../../bot1/getMe\"}}" },
		{ "telegram", "{\"ok\":true,\"result\":{\"file_path\":\"/abs\"}}" },
		{ "telegram", "{\"ok\":true,\"result\":{\"file_path\":\"a?b\"}}" },
		{ "telegram", "{\"ok\":false,\"description\":\"invalid file_id\"}" },
		{ "telegram", "[]" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (channel_media_located(&conf, bad[i][0], bad[i][1], url, &size) != ERR_VALIDATION)
			print_error("accepted: %s %s\n", bad[i][0], bad[i][1]);
		assert_int_equal(channel_media_located(&conf, bad[i][0], bad[i][1], url, &size),
				 ERR_VALIDATION);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whatsapp_text_and_media),
		cmocka_unit_test(test_whatsapp_window),
		cmocka_unit_test(test_messenger_window),
		cmocka_unit_test(test_telegram_chat_ids),
		cmocka_unit_test(test_unconfigured_channel),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_media_lookup),
		cmocka_unit_test(test_media_located),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
