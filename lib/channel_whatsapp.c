/*
 * channel_whatsapp.c - WhatsApp through Meta's Cloud API
 * (../shared/reference/protocols.md "WhatsApp Cloud API").
 *
 * Out: POST /{ver}/{phone_number_id}/messages, text or a document/image by
 * link; outside the 24-hour customer service window only an approved
 * template goes (whatsapp_template: {{1}} the sender, {{2}} the text).
 * In: webhooks signed with the app secret (X-Hub-Signature-256), messages
 * and statuses under entry[].changes[].value; media by id (GET
 * /{ver}/{media-id} tells the bytes' URL, fetched with the token).
 */
#include "channel_module.h"

#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What WhatsApp takes by link (larger files go as their link in the text). */
#define DOCUMENT_MAX (100LL << 20)
#define IMAGE_MAX (5LL << 20)
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
	json_object_object_add(o, "type", cm_jstr("text"));
	json_object_object_add(o, "text", cm_jstr(flat && *flat ? flat : "-"));
	free(flat);
	return o;
}

/* {"name", "language": {"code"}, "components": [{"type": "body",
 * "parameters": [{{1}} the sender, {{2}} the text]}]} */
static struct json_object *template(const struct conf *c, const char *sender, const char *text)
{
	struct json_object *t = json_object_new_object(), *lang = json_object_new_object();
	struct json_object *body = json_object_new_object(), *params = json_object_new_array();
	struct json_object *components = json_object_new_array();

	json_object_object_add(t, "name", cm_jstr(c->whatsapp_template));
	json_object_object_add(lang, "code", cm_jstr(c->whatsapp_template_language));
	json_object_object_add(t, "language", lang);
	json_object_array_add(params, template_text(sender && *sender ? sender : "Chat4All"));
	json_object_array_add(params, template_text(text));
	json_object_object_add(body, "type", cm_jstr("body"));
	json_object_object_add(body, "parameters", params);
	json_object_array_add(components, body);
	json_object_object_add(t, "components", components);
	return t;
}

static int build(const struct conf *c, const struct channel_msg *m, struct channel_request *r)
{
	struct json_object *o = json_object_new_object();
	bool media = m->file_url && m->file_size <= DOCUMENT_MAX;
	bool image = media && m->file_mime && !strncmp(m->file_mime, "image/", 6) &&
		     m->file_size <= IMAGE_MAX;
	char *text = cm_text_with_link(m, !media);

	if (!cm_set(c->whatsapp_token) || !cm_set(c->whatsapp_phone_number_id)) {
		free(text);
		json_object_put(o);
		return ERR_UNAVAILABLE;
	}
	snprintf(r->url, sizeof(r->url), "%s/%s/%s/messages", c->graph_base_url,
		 c->graph_api_version, c->whatsapp_phone_number_id);
	snprintf(r->auth, sizeof(r->auth), "Authorization: Bearer %s", c->whatsapp_token);
	json_object_object_add(o, "messaging_product", cm_jstr("whatsapp"));
	json_object_object_add(o, "recipient_type", cm_jstr("individual"));
	json_object_object_add(o, "to", cm_jstr(m->address));
	if (m->inbound_age_s < 0 || m->inbound_age_s >= CHANNEL_WINDOW_S) {
		/* outside the customer service window only an approved template
		 * goes: ours takes the sender's name and the text (files as their
		 * link), so the person can answer and reopen the window */
		free(text);
		text = cm_text_with_link(m, true);
		if (!cm_set(c->whatsapp_template)) {
			free(text);
			json_object_put(o);
			return ERR_FORBIDDEN;
		}
		json_object_object_add(o, "type", cm_jstr("template"));
		json_object_object_add(o, "template", template(c, m->sender_name, text ? text : ""));
	} else if (media) {
		struct json_object *doc = json_object_new_object();
		json_object_object_add(doc, "link", cm_jstr(m->file_url));
		if (!image && m->file_name)
			json_object_object_add(doc, "filename", cm_jstr(m->file_name));
		if (text && *text)
			json_object_object_add(doc, "caption", cm_jstr(text));
		json_object_object_add(o, "type", cm_jstr(image ? "image" : "document"));
		json_object_object_add(o, image ? "image" : "document", doc);
	} else {
		struct json_object *t = json_object_new_object();
		json_object_object_add(t, "body", cm_jstr(text ? text : ""));
		json_object_object_add(t, "preview_url", json_object_new_boolean(false));
		json_object_object_add(o, "type", cm_jstr("text"));
		json_object_object_add(o, "text", t);
	}
	free(text);
	r->body = cm_dump(o);
	return r->body ? 0 : ERR_INTERNAL;
}

/* {"messages": [{"id": "wamid..."}]} */
static void answer_id(struct json_object *o, long status, char id[128])
{
	const char *wamid = cm_str(cm_at(cm_get(o, "messages"), 0), "id");

	(void)status;
	if (wamid)
		snprintf(id, 128, "%s", wamid);
}

/* E.164 digits, without the + */
static bool address_ok(const char *a)
{
	size_t n = strlen(a);

	return n >= 6 && n <= 15 && strspn(a, "0123456789") == n;
}

/* entry[].changes[].value.{messages, contacts, statuses}; each message has
 * a type and a member of that name. */
static void webhook_parse(struct json_object *body, struct channel_inbound *in)
{
	static const char *const media[] = { "image", "document", "audio", "video", "sticker" };
	struct json_object *entries = cm_get(body, "entry");

	for (size_t e = 0; e < cm_len(entries); e++) {
		struct json_object *changes = cm_get(cm_at(entries, e), "changes");
		for (size_t c = 0; c < cm_len(changes); c++) {
			struct json_object *value = cm_get(cm_at(changes, c), "value");
			struct json_object *contacts = cm_get(value, "contacts");
			struct json_object *msgs = cm_get(value, "messages");
			struct json_object *sts = cm_get(value, "statuses");
			for (size_t i = 0; i < cm_len(msgs); i++) {
				struct json_object *wm = cm_at(msgs, i);
				const char *type = cm_str(wm, "type");
				struct channel_in_msg *m;
				if (type && !strcmp(type, "reaction"))
					continue;	/* a reaction is no message */
				if (!(m = cm_in_msg(in, "whatsapp", cm_str(wm, "from"), cm_str(wm, "id"))))
					continue;
				for (size_t k = 0; k < cm_len(contacts); k++) {
					struct json_object *ct = cm_at(contacts, k);
					const char *wa = cm_str(ct, "wa_id"), *name;
					if (wa && !strcmp(wa, m->address) &&
					    (name = cm_str(cm_get(ct, "profile"), "name")))
						cm_in_name(m, name);
				}
				if (!type || !strcmp(type, "text")) {
					m->text = cm_str(cm_get(wm, "text"), "body");
					continue;
				}
				for (size_t k = 0; k < sizeof(media) / sizeof(media[0]); k++) {
					struct json_object *o = cm_get(wm, media[k]);
					if (strcmp(type, media[k]) || !o)
						continue;
					m->media_kind = media[k];
					m->media_ref = cm_id(o, "id");
					m->media_mime = cm_str(o, "mime_type");
					m->media_name = cm_str(o, "filename");
					m->text = cm_str(o, "caption");
				}
				if (m->media_kind)
					continue;
				if (!strcmp(type, "location")) {
					struct json_object *loc = cm_get(wm, "location");
					double lat, lon;
					if (cm_num(loc, "latitude", &lat) && cm_num(loc, "longitude", &lon))
						cm_in_location(m, lat, lon, cm_str(loc, "name"),
							       cm_str(loc, "address"));
				} else if (!strcmp(type, "button")) {	/* a template's quick reply */
					m->text = cm_str(cm_get(wm, "button"), "text");
				} else if (!strcmp(type, "interactive")) {
					struct json_object *it = cm_get(wm, "interactive");
					m->text = cm_str(cm_get(it, "button_reply"), "title");
					if (!m->text)
						m->text = cm_str(cm_get(it, "list_reply"), "title");
				}
				if (!m->text)
					cm_in_unsupported(m, type);
			}
			for (size_t i = 0; i < cm_len(sts); i++) {
				struct json_object *st = cm_at(sts, i), *err = cm_at(cm_get(st, "errors"), 0);
				cm_in_status(in, cm_str(st, "id"), NULL, 0, cm_str(st, "status"),
					     err ? cm_str(err, "title") : NULL);
			}
		}
	}
}

static int media_lookup(const struct conf *c, const char *ref, char url[1024], char auth[600],
			bool *direct)
{
	size_t n = strlen(ref);

	(void)direct;
	if (!cm_set(c->whatsapp_token))
		return ERR_UNAVAILABLE;
	if (!n || n >= 512 || strspn(ref, "0123456789") != n)	/* a media id */
		return ERR_VALIDATION;
	snprintf(url, 1024, "%s/%s/%s", c->graph_base_url, c->graph_api_version, ref);
	snprintf(auth, 600, "Authorization: Bearer %s", c->whatsapp_token);
	return 0;
}

/* {"url", "mime_type", "sha256", "file_size", "id"} */
static int media_located(const struct conf *c, struct json_object *o, char url[1024],
			 long long *size)
{
	const char *u = cm_str(o, "url");
	struct json_object *v;

	(void)c;
	if (!u || (strncmp(u, "https://", 8) && strncmp(u, "http://", 7)) || strlen(u) >= 1024)
		return ERR_VALIDATION;
	snprintf(url, 1024, "%s", u);
	if ((v = cm_get(o, "file_size")))
		*size = json_object_get_int64(v);
	return 0;
}

const struct channel_ops channel_whatsapp = {
	.name = "whatsapp",
	.build = build,
	.answer_id = answer_id,
	.answer_error = cm_graph_error,
	.window_closed = "outside WhatsApp's 24-hour window (no message from this number in the "
			 "last 24 h) and no whatsapp_template configured",
	.address_ok = address_ok,
	.signature_header = "HTTP_X_HUB_SIGNATURE_256",
	.webhook_signed = cm_meta_signed,
	.subscription_check = true,
	.webhook_parse = webhook_parse,
	.media_lookup = media_lookup,
	.media_located = media_located,
};
