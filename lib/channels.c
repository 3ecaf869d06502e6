#include "channels.h"

#include "err.h"

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What each channel takes as a media attachment by link (bytes); larger
 * files go as their link in the text. */
#define WHATSAPP_DOCUMENT_MAX (100LL << 20)
#define TELEGRAM_URL_MAX (20LL << 20)
#define MESSENGER_ATTACHMENT_MAX (25LL << 20)
#define INSTAGRAM_ATTACHMENT_MAX (8LL << 20)

bool channel_known(const char *ch)
{
	return ch && (!strcmp(ch, "whatsapp") || !strcmp(ch, "telegram") ||
		      !strcmp(ch, "messenger") || !strcmp(ch, "instagram") || !strcmp(ch, "webhook"));
}

bool channel_pace(const char *channel, const char *address, double *rate, long *burst)
{
	if (strcmp(channel, "telegram"))
		return false;
	if (address[0] == '-') {	/* a group or channel */
		*rate = 20.0 / 60.0;
		*burst = 3;
	} else {
		*rate = 1.0;
		*burst = 1;
	}
	return true;
}

static bool set(const char *s)
{
	return s && *s;
}

/* The text, with the file's link after it when the file goes as a link. */
static char *text_with_link(const struct channel_msg *m, bool link)
{
	char *out = NULL;

	if (link && m->file_url)
		return asprintf(&out, "%s%s%s (%s)", m->text ? m->text : "", m->text ? "\n" : "",
				m->file_url, m->file_name ? m->file_name : "file") < 0 ? NULL : out;
	return m->text ? strdup(m->text) : NULL;
}

static char *dump(struct json_object *o)
{
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

static struct json_object *str(const char *s)
{
	return json_object_new_string(s);
}

/* A template parameter holds at most this many characters. */
#define TEMPLATE_PARAM_MAX 1024

/* A text parameter, cut to what a template takes (UTF-8 safe). */
static struct json_object *template_text(const char *s)
{
	size_t n = 0, chars = 0;

	while (s[n] && chars < TEMPLATE_PARAM_MAX) {
		n++;
		while ((s[n] & 0xC0) == 0x80)
			n++;	/* the rest of a UTF-8 sequence */
		chars++;
	}
	/* WhatsApp refuses new lines and tabs in parameters */
	char *flat = strndup(s, n);
	for (char *p = flat; p && *p; p++)
		if (*p == '\n' || *p == '\t' || *p == '\r')
			*p = ' ';
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("text"));
	json_object_object_add(o, "text", json_object_new_string(flat && *flat ? flat : "-"));
	free(flat);
	return o;
}

/* {"name", "language": {"code"}, "components": [{"type": "body",
 * "parameters": [{{1}} the sender, {{2}} the text]}]} */
static struct json_object *whatsapp_template(const struct conf *c, const char *sender,
					     const char *text)
{
	struct json_object *t = json_object_new_object(), *lang = json_object_new_object();
	struct json_object *body = json_object_new_object(), *params = json_object_new_array();
	struct json_object *components = json_object_new_array();

	json_object_object_add(t, "name", json_object_new_string(c->whatsapp_template));
	json_object_object_add(lang, "code", json_object_new_string(c->whatsapp_template_language));
	json_object_object_add(t, "language", lang);
	json_object_array_add(params, template_text(sender && *sender ? sender : "Chat4All"));
	json_object_array_add(params, template_text(text));
	json_object_object_add(body, "type", json_object_new_string("body"));
	json_object_object_add(body, "parameters", params);
	json_object_array_add(components, body);
	json_object_object_add(t, "components", components);
	return t;
}

/* WhatsApp Cloud API: POST /{ver}/{phone_number_id}/messages */
static int whatsapp(const struct conf *c, const struct channel_msg *m, struct channel_request *r)
{
	struct json_object *o = json_object_new_object();
	bool media = m->file_url && m->file_size <= WHATSAPP_DOCUMENT_MAX;
	bool image = media && m->file_mime && !strncmp(m->file_mime, "image/", 6) &&
		     m->file_size <= (5LL << 20);
	char *text = text_with_link(m, !media);

	if (!set(c->whatsapp_token) || !set(c->whatsapp_phone_number_id)) {
		free(text);
		json_object_put(o);
		return ERR_UNAVAILABLE;
	}
	snprintf(r->url, sizeof(r->url), "%s/%s/%s/messages", c->graph_base_url,
		 c->graph_api_version, c->whatsapp_phone_number_id);
	snprintf(r->auth, sizeof(r->auth), "Authorization: Bearer %s", c->whatsapp_token);
	json_object_object_add(o, "messaging_product", str("whatsapp"));
	json_object_object_add(o, "recipient_type", str("individual"));
	json_object_object_add(o, "to", str(m->address));
	if (m->inbound_age_s < 0 || m->inbound_age_s >= CHANNEL_WINDOW_S) {
		/* outside the customer service window only an approved template
		 * goes: ours takes the sender's name and the text (files as their
		 * link), so the person can answer and reopen the window */
		free(text);
		text = text_with_link(m, true);
		if (!set(c->whatsapp_template)) {
			free(text);
			json_object_put(o);
			return ERR_FORBIDDEN;
		}
		json_object_object_add(o, "type", str("template"));
		json_object_object_add(o, "template",
				       whatsapp_template(c, m->sender_name, text ? text : ""));
	} else if (media) {
		struct json_object *doc = json_object_new_object();
		json_object_object_add(doc, "link", str(m->file_url));
		if (!image && m->file_name)
			json_object_object_add(doc, "filename", str(m->file_name));
		if (text && *text)
			json_object_object_add(doc, "caption", str(text));
		json_object_object_add(o, "type", str(image ? "image" : "document"));
		json_object_object_add(o, image ? "image" : "document", doc);
	} else {
		struct json_object *t = json_object_new_object();
		json_object_object_add(t, "body", str(text ? text : ""));
		json_object_object_add(t, "preview_url", json_object_new_boolean(false));
		json_object_object_add(o, "type", str("text"));
		json_object_object_add(o, "text", t);
	}
	free(text);
	r->body = dump(o);
	return 0;
}

/* Telegram Bot API: sendMessage, or sendDocument by URL */
static int telegram(const struct conf *c, const struct channel_msg *m, struct channel_request *r)
{
	struct json_object *o = json_object_new_object();
	bool media = m->file_url && m->file_size <= TELEGRAM_URL_MAX;
	char *text = text_with_link(m, !media);

	if (!set(c->telegram_bot_token)) {
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
	json_object_object_add(o, "chat_id", *end || !*m->address ? str(m->address)
								  : json_object_new_int64(id));
	if (media) {
		json_object_object_add(o, "document", str(m->file_url));
		if (text && *text)
			json_object_object_add(o, "caption", str(text));
	} else {
		json_object_object_add(o, "text", str(text ? text : ""));
	}
	free(text);
	r->body = dump(o);
	return 0;
}

/* Messenger and Instagram Send API: POST /{ver}/{page or ig id}/messages */
static int meta_send(const struct conf *c, const struct channel_msg *m, struct channel_request *r,
		     const char *account, const char *token, long long max)
{
	struct json_object *o = json_object_new_object(), *rcpt = json_object_new_object();
	struct json_object *msg = json_object_new_object();
	bool media = m->file_url && m->file_size <= max;
	char *text = text_with_link(m, !media);

	if (!set(token) || !set(account)) {
		free(text);
		json_object_put(o);
		json_object_put(rcpt);
		json_object_put(msg);
		return ERR_UNAVAILABLE;
	}
	snprintf(r->url, sizeof(r->url), "%s/%s/%s/messages", c->graph_base_url,
		 c->graph_api_version, account);
	snprintf(r->auth, sizeof(r->auth), "Authorization: Bearer %s", token);
	json_object_object_add(rcpt, "id", str(m->address));
	json_object_object_add(o, "recipient", rcpt);
	if (m->inbound_age_s >= 0 && m->inbound_age_s < CHANNEL_WINDOW_S) {
		json_object_object_add(o, "messaging_type", str("RESPONSE"));
	} else if (m->inbound_age_s >= 0 && m->inbound_age_s < CHANNEL_HUMAN_AGENT_S) {
		/* after 24 h, within 7 days: a person's reply, tagged as such */
		json_object_object_add(o, "messaging_type", str("MESSAGE_TAG"));
		json_object_object_add(o, "tag", str("HUMAN_AGENT"));
	} else {
		free(text);
		json_object_put(o);
		json_object_put(msg);
		return ERR_FORBIDDEN;	/* never wrote, or more than 7 days ago */
	}
	if (media) {
		struct json_object *att = json_object_new_object(), *payload = json_object_new_object();
		bool image = m->file_mime && !strncmp(m->file_mime, "image/", 6);
		json_object_object_add(payload, "url", str(m->file_url));
		json_object_object_add(att, "type", str(image ? "image" : "file"));
		json_object_object_add(att, "payload", payload);
		json_object_object_add(msg, "attachment", att);
	} else {
		json_object_object_add(msg, "text", str(text ? text : ""));
	}
	json_object_object_add(o, "message", msg);
	free(text);
	r->body = dump(o);
	return 0;
}

/*
 * The generic outbound webhook, for integrators: the message as JSON,
 * POSTed to the address (a URL), signed like Stripe's: X-Chat4All-Signature
 * is "t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>", so the
 * receiver checks both the body and its age with the secret it shares
 * with us (webhook_signing_secret).
 */
static int webhook(const struct conf *c, const struct channel_msg *m, struct channel_request *r)
{
	struct json_object *o = json_object_new_object();
	unsigned char md[32];
	unsigned int n = 0;
	char hex[65], *signed_part = NULL;
	long long t = (long long)time(NULL);

	if (!set(c->webhook_signing_secret)) {
		json_object_put(o);
		return ERR_UNAVAILABLE;
	}
	snprintf(r->url, sizeof(r->url), "%s", m->address);
	json_object_object_add(o, "type", str("message"));
	json_object_object_add(o, "message_id", str(m->message_id ? m->message_id : ""));
	json_object_object_add(o, "conversation_id", str(m->conversation_id ? m->conversation_id : ""));
	json_object_object_add(o, "sender_id", str(m->sender_id ? m->sender_id : ""));
	json_object_object_add(o, "text", m->text ? str(m->text) : NULL);
	if (m->file_url) {
		struct json_object *f = json_object_new_object();
		json_object_object_add(f, "url", str(m->file_url));
		json_object_object_add(f, "filename", str(m->file_name ? m->file_name : "file"));
		json_object_object_add(f, "mime", str(m->file_mime ? m->file_mime : "application/octet-stream"));
		json_object_object_add(f, "size", json_object_new_int64(m->file_size));
		json_object_object_add(o, "file", f);
	}
	r->body = dump(o);
	if (!r->body || asprintf(&signed_part, "%lld.%s", t, r->body) < 0)
		return ERR_INTERNAL;
	HMAC(EVP_sha256(), c->webhook_signing_secret, (int)strlen(c->webhook_signing_secret),
	     (const unsigned char *)signed_part, strlen(signed_part), md, &n);
	free(signed_part);
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(r->auth, sizeof(r->auth), "X-Chat4All-Signature: t=%lld,v1=%s", t, hex);
	return 0;
}

int channel_request_build(const struct conf *c, const struct channel_msg *m,
			  struct channel_request *out)
{
	memset(out, 0, sizeof(*out));
	if (!channel_known(m->channel))
		return ERR_VALIDATION;
	if (!(m->text && *m->text) && !m->file_url)
		return ERR_VALIDATION;
	if (!strcmp(m->channel, "whatsapp"))
		return whatsapp(c, m, out);
	if (!strcmp(m->channel, "telegram"))
		return telegram(c, m, out);
	if (!strcmp(m->channel, "webhook"))
		return webhook(c, m, out);
	if (!strcmp(m->channel, "messenger"))
		return meta_send(c, m, out, c->messenger_page_id, c->messenger_token,
				 MESSENGER_ATTACHMENT_MAX);
	return meta_send(c, m, out, c->instagram_account_id, c->instagram_token,
			 INSTAGRAM_ATTACHMENT_MAX);
}

void channel_request_free(struct channel_request *r)
{
	free(r->body);
	r->body = NULL;
}

/* The provider's error text, for the books. */
static void error_text(struct json_object *o, char why[256])
{
	struct json_object *e, *m;

	if (json_object_object_get_ex(o, "description", &m))	/* Telegram */
		snprintf(why, 256, "%s", json_object_get_string(m));
	else if (json_object_object_get_ex(o, "error", &e) &&
		 json_object_object_get_ex(e, "message", &m))	/* Graph API */
		snprintf(why, 256, "%s", json_object_get_string(m));
}

enum channel_outcome channel_answer(const char *channel, long status, const char *body,
				    const char *retry_after, char provider_id[128],
				    int *retry_after_s, char why[256])
{
	struct json_object *o = body ? json_tokener_parse(body) : NULL, *v, *arr, *p;

	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;	/* an answer that is no JSON object says nothing */
	}
	enum channel_outcome out;

	provider_id[0] = '\0';
	*retry_after_s = retry_after ? atoi(retry_after) : 0;
	snprintf(why, 256, status ? "HTTP %ld" : "no answer", status);
	/* a provider's error text is for the books; an integrator's server's
	 * is not ours to repeat */
	if (o && strcmp(channel, "webhook"))
		error_text(o, why);
	if (status >= 200 && status < 300 && o) {
		if (!strcmp(channel, "whatsapp") && json_object_object_get_ex(o, "messages", &arr) &&
		    json_object_is_type(arr, json_type_array) && json_object_array_length(arr) &&
		    (v = json_object_array_get_idx(arr, 0)) && json_object_object_get_ex(v, "id", &p))
			snprintf(provider_id, 128, "%s", json_object_get_string(p));
		else if (!strcmp(channel, "telegram") && json_object_object_get_ex(o, "ok", &v) &&
			 json_object_get_boolean(v) && json_object_object_get_ex(o, "result", &v) &&
			 json_object_object_get_ex(v, "message_id", &p))
			snprintf(provider_id, 128, "%s", json_object_get_string(p));
		else if (json_object_object_get_ex(o, "message_id", &p))	/* Messenger, Instagram */
			snprintf(provider_id, 128, "%s", json_object_get_string(p));
	}
	/* an integrator's webhook owes us no id: any 2xx is delivered */
	if (!strcmp(channel, "webhook") && status >= 200 && status < 300 && !provider_id[0])
		snprintf(provider_id, 128, "webhook-%ld", status);
	if (provider_id[0]) {
		out = CHANNEL_SENT;
	} else if (status == 429 || status == 0 || status >= 500) {
		/* Telegram says how long in its body */
		if (o && json_object_object_get_ex(o, "parameters", &p) &&
		    json_object_object_get_ex(p, "retry_after", &v))
			*retry_after_s = json_object_get_int(v);
		out = CHANNEL_RETRY;
	} else if (status >= 200 && status < 300) {
		snprintf(why, 256, "the answer named no message id");
		out = CHANNEL_RETRY;
	} else {
		out = CHANNEL_FAILED;	/* 4xx: bad address, no permission, outside the window */
	}
	json_object_put(o);
	return out;
}

static const char *const CHANNELS[] = { "whatsapp", "telegram", "messenger", "instagram", "webhook" };
static const char *const OUTCOMES[] = { "sent", "retried", "failed", "paced" };

unsigned channel_series(const char *channel, enum channel_outcome outcome)
{
	unsigned c = 0;

	while (c < 4 && strcmp(CHANNELS[c], channel))
		c++;
	return c * 4 + (unsigned)outcome;
}

const char *const *channel_series_labels(void)
{
	static char labels[CHANNEL_NSERIES][64];
	static const char *ptrs[CHANNEL_NSERIES];

	if (!ptrs[0])
		for (unsigned i = 0; i < CHANNEL_NSERIES; i++) {
			snprintf(labels[i], sizeof(labels[i]), "channel=\"%s\",outcome=\"%s\"",
				 CHANNELS[i / 4], OUTCOMES[i % 4]);
			ptrs[i] = labels[i];
		}
	return ptrs;
}

/* A Telegram file_id or a Graph media id: URL-safe as it stands. */
static bool ref_ok(const char *s, const char *allowed)
{
	return *s && strlen(s) < 512 && strspn(s, allowed) == strlen(s);
}

static bool http_url(const char *s)
{
	return !strncmp(s, "https://", 8) || !strncmp(s, "http://", 7);
}

int channel_media_lookup(const struct conf *c, const char *channel, const char *ref,
			 char url[1024], char auth[600], bool *direct)
{
	const char *b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

	*direct = false;
	auth[0] = '\0';
	if (!ref)
		return ERR_VALIDATION;
	if (!strcmp(channel, "whatsapp")) {
		if (!set(c->whatsapp_token))
			return ERR_UNAVAILABLE;
		if (!ref_ok(ref, "0123456789"))
			return ERR_VALIDATION;
		snprintf(url, 1024, "%s/%s/%s", c->graph_base_url, c->graph_api_version, ref);
		snprintf(auth, 600, "Authorization: Bearer %s", c->whatsapp_token);
		return 0;
	}
	if (!strcmp(channel, "telegram")) {
		if (!set(c->telegram_bot_token))
			return ERR_UNAVAILABLE;
		if (!ref_ok(ref, b64url))
			return ERR_VALIDATION;
		snprintf(url, 1024, "%s/bot%s/getFile?file_id=%s", c->telegram_base_url,
			 c->telegram_bot_token, ref);
		return 0;
	}
	/* Messenger, Instagram: the attachment's URL (from a signed webhook) */
	if (!http_url(ref) || strlen(ref) >= 1024)
		return ERR_VALIDATION;
	snprintf(url, 1024, "%s", ref);
	*direct = true;
	return 0;
}

int channel_media_located(const struct conf *c, const char *channel, const char *body,
			  char url[1024], long long *size)
{
	struct json_object *o = body ? json_tokener_parse(body) : NULL, *v, *r;
	int rc = ERR_VALIDATION;

	*size = -1;
	if (!json_object_is_type(o, json_type_object))
		goto out;
	if (!strcmp(channel, "whatsapp")) {
		/* {"url", "mime_type", "sha256", "file_size", "id"} */
		if (json_object_object_get_ex(o, "url", &v) && json_object_is_type(v, json_type_string) &&
		    http_url(json_object_get_string(v)) && strlen(json_object_get_string(v)) < 1024) {
			snprintf(url, 1024, "%s", json_object_get_string(v));
			if (json_object_object_get_ex(o, "file_size", &v))
				*size = json_object_get_int64(v);
			rc = 0;
		}
	} else if (!strcmp(channel, "telegram")) {
		/* {"ok":true,"result":{"file_id","file_size","file_path"}} */
		if (json_object_object_get_ex(o, "result", &r) &&
		    json_object_object_get_ex(r, "file_path", &v) &&
		    json_object_is_type(v, json_type_string)) {
			const char *path = json_object_get_string(v);
			if (*path && *path != '/' && !strstr(path, "..") && !strpbrk(path, "?# \r\n")) {
				snprintf(url, 1024, "%s/file/bot%s/%s", c->telegram_base_url,
					 c->telegram_bot_token, path);
				if (json_object_object_get_ex(r, "file_size", &v))
					*size = json_object_get_int64(v);
				rc = 0;
			}
		}
	}
out:
	json_object_put(o);
	return rc;
}
