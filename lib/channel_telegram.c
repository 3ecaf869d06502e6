/*
 * channel_telegram.c - the Telegram Bot API
 * (../shared/reference/protocols.md "Telegram Bot API").
 *
 * Out: sendMessage, or sendDocument by URL; the token is in the path. A
 * chat takes about a message a second, a group twenty a minute: paced.
 * In: one Update per webhook, with the secret token we registered in
 * X-Telegram-Bot-Api-Secret-Token; media by file_id (getFile tells its
 * file_path, fetched from /file/bot<token>/<path>).
 */
#include "channel_module.h"

#include "auth.h"
#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What Telegram fetches by URL (larger files go as their link in the text). */
#define URL_MAX (20LL << 20)

static int build(const struct conf *c, const struct channel_msg *m, struct channel_request *r)
{
	struct json_object *o = json_object_new_object();
	bool media = m->file_url && m->file_size <= URL_MAX;
	char *text = cm_text_with_link(m, !media);

	if (!cm_set(c->telegram_bot_token)) {
		free(text);
		json_object_put(o);
		return ERR_UNAVAILABLE;
	}
	snprintf(r->url, sizeof(r->url), "%s/bot%s/%s", c->telegram_base_url, c->telegram_bot_token,
		 media ? "sendDocument" : "sendMessage");
	r->auth[0] = '\0';	/* the token is in the path */
	/* chat ids are integers; "@channel" names stay strings */
	char *end;
	long long id = strtoll(m->address, &end, 10);
	json_object_object_add(o, "chat_id", *end || !*m->address ? cm_jstr(m->address)
								  : json_object_new_int64(id));
	if (media) {
		json_object_object_add(o, "document", cm_jstr(m->file_url));
		if (text && *text)
			json_object_object_add(o, "caption", cm_jstr(text));
	} else {
		json_object_object_add(o, "text", cm_jstr(text ? text : ""));
	}
	free(text);
	r->body = cm_dump(o);
	return r->body ? 0 : ERR_INTERNAL;
}

/* {"ok": true, "result": {"message_id": 42}} */
static void answer_id(struct json_object *o, long status, char id[128])
{
	struct json_object *ok = cm_get(o, "ok"), *mid = cm_get(cm_get(o, "result"), "message_id");

	(void)status;
	if (json_object_get_boolean(ok) && mid)
		snprintf(id, 128, "%s", json_object_get_string(mid));
}

/* {"ok": false, "description": "..."} */
static void answer_error(struct json_object *o, char why[256])
{
	const char *d = cm_str(o, "description");

	if (d)
		snprintf(why, 256, "%s", d);
}

/* 429: {"parameters": {"retry_after": 5}} */
static int answer_retry_after(struct json_object *o)
{
	struct json_object *v = cm_get(cm_get(o, "parameters"), "retry_after");

	return v ? json_object_get_int(v) : 0;
}

static bool pace(const char *address, double *rate, long *burst)
{
	if (address[0] == '-') {	/* a group or channel */
		*rate = 20.0 / 60.0;
		*burst = 3;
	} else {
		*rate = 1.0;
		*burst = 1;
	}
	return true;
}

/* a chat id (digits, a group's after a minus), or @username */
static bool address_ok(const char *a)
{
	size_t n = strlen(a), minus = a[0] == '-' ? 1 : 0;

	return (n > minus && n <= 20 && strspn(a + minus, "0123456789") == n - minus) ||
	       (n >= 2 && n <= 33 && a[0] == '@');
}

static bool webhook_signed(const struct conf *c, const char *got, const char *body, size_t len)
{
	const char *secret = c->telegram_webhook_secret;

	(void)body;
	(void)len;
	return got && cm_set(secret) && strlen(got) == strlen(secret) &&
	       auth_equal(got, secret, strlen(secret));
}

/* One Update; its `message` (edits, reactions, … are not messages). Media
 * come as a file_id: a photo's largest size is last. The provider id is
 * chat:message (message ids count per chat). */
static void webhook_parse(struct json_object *body, struct channel_inbound *in)
{
	static const char *const media[] = { "document", "audio", "video", "voice",
					     "animation", "video_note", "sticker" };
	struct json_object *tm = cm_get(body, "message"), *chat = cm_get(tm, "chat");
	struct json_object *from = cm_get(tm, "from");
	const char *chat_id = cm_id(chat, "id"), *mid = cm_id(tm, "message_id");
	struct channel_in_msg *m;

	if (!tm || !chat_id || !mid || !(m = cm_in_msg(in, "telegram", chat_id, mid)))
		return;
	snprintf(m->id_buf, sizeof(m->id_buf), "%s:%s", chat_id, mid);
	m->provider_id = m->id_buf;
	char *full = NULL;
	const char *first = cm_str(from, "first_name"), *last = cm_str(from, "last_name");
	if (asprintf(&full, "%s%s%s", first ? first : "", last ? " " : "", last ? last : "") >= 0) {
		cm_in_name(m, full);
		free(full);
	}
	m->text = cm_str(tm, "text");
	if (m->text)
		return;
	m->text = cm_str(tm, "caption");
	struct json_object *photo = cm_get(tm, "photo");
	if (cm_len(photo)) {
		m->media_kind = "photo";
		m->media_ref = cm_str(cm_at(photo, cm_len(photo) - 1), "file_id");
		m->media_mime = "image/jpeg";	/* Telegram re-encodes photos as JPEG */
		return;
	}
	for (size_t k = 0; k < sizeof(media) / sizeof(media[0]); k++) {
		struct json_object *o = cm_get(tm, media[k]);
		if (!o)
			continue;
		m->media_kind = media[k];
		m->media_ref = cm_str(o, "file_id");
		m->media_mime = cm_str(o, "mime_type");
		m->media_name = cm_str(o, "file_name");
		return;
	}
	struct json_object *venue = cm_get(tm, "venue"), *contact = cm_get(tm, "contact");
	struct json_object *loc = venue ? cm_get(venue, "location") : cm_get(tm, "location");
	double lat, lon;
	if (loc && cm_num(loc, "latitude", &lat) && cm_num(loc, "longitude", &lon))
		cm_in_location(m, lat, lon, venue ? cm_str(venue, "title") : NULL,
			       venue ? cm_str(venue, "address") : NULL);
	else if (!venue && !cm_get(tm, "location") && contact)
		channel_in_text(m, "👤 %s %s", cm_str(contact, "first_name") ? cm_str(contact, "first_name") : "",
			   cm_str(contact, "phone_number") ? cm_str(contact, "phone_number") : "");
	if (!m->text)
		cm_in_unsupported(m, NULL);
}

/* A file_id: URL-safe base64 as it stands. */
static int media_lookup(const struct conf *c, const char *ref, char url[1024], char auth[600],
			bool *direct)
{
	const char *b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
	size_t n = strlen(ref);

	(void)auth;
	(void)direct;
	if (!cm_set(c->telegram_bot_token))
		return ERR_UNAVAILABLE;
	if (!n || n >= 512 || strspn(ref, b64url) != n)
		return ERR_VALIDATION;
	snprintf(url, 1024, "%s/bot%s/getFile?file_id=%s", c->telegram_base_url,
		 c->telegram_bot_token, ref);
	return 0;
}

/* {"ok":true,"result":{"file_id","file_size","file_path"}}: the path must
 * stay a path under /file/bot<token>/ */
static int media_located(const struct conf *c, struct json_object *o, char url[1024],
			 long long *size)
{
	struct json_object *r = cm_get(o, "result"), *v;
	const char *path = cm_str(r, "file_path");

	if (!path || !*path || *path == '/' || strstr(path, "..") || strpbrk(path, "?# \r\n"))
		return ERR_VALIDATION;
	snprintf(url, 1024, "%s/file/bot%s/%s", c->telegram_base_url, c->telegram_bot_token, path);
	if ((v = cm_get(r, "file_size")))
		*size = json_object_get_int64(v);
	return 0;
}

const struct channel_ops channel_telegram = {
	.name = "telegram",
	.build = build,
	.answer_id = answer_id,
	.answer_error = answer_error,
	.answer_retry_after = answer_retry_after,
	.pace = pace,
	.address_ok = address_ok,
	.signature_header = "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN",
	.webhook_signed = webhook_signed,
	.webhook_parse = webhook_parse,
	.media_lookup = media_lookup,
	.media_located = media_located,
};
