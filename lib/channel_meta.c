/*
 * channel_meta.c - Messenger and Instagram through Meta's Send API
 * (../shared/reference/protocols.md "Messenger / Instagram Send API").
 * The two differ in their account (a Page, an Instagram account), token
 * and attachment size; everything else is one code.
 *
 * Out: POST /{ver}/{page or ig id}/messages; within 24 h of the person's
 * last message a RESPONSE, within 7 days a human agent's reply (tag
 * HUMAN_AGENT), after that nothing. In: webhooks signed with the app
 * secret (X-Hub-Signature-256), entry[].messaging[] with messages,
 * deliveries and reads; attachments by their URL.
 */
#include "channel_module.h"

#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What each takes as an attachment by link (larger files go as their link). */
#define MESSENGER_ATTACHMENT_MAX (25LL << 20)
#define INSTAGRAM_ATTACHMENT_MAX (8LL << 20)

static int send_api(const struct conf *c, const struct channel_msg *m, struct channel_request *r,
		    const char *account, const char *token, long long max)
{
	struct json_object *o, *rcpt, *msg;
	bool media = m->file_url && m->file_size <= max;
	char *text;

	if (!cm_set(token) || !cm_set(account))
		return ERR_UNAVAILABLE;
	if (m->inbound_age_s < 0 || m->inbound_age_s >= CHANNEL_HUMAN_AGENT_S)
		return ERR_FORBIDDEN;	/* never wrote, or more than 7 days ago */
	o = json_object_new_object();
	rcpt = json_object_new_object();
	msg = json_object_new_object();
	text = cm_text_with_link(m, !media);
	snprintf(r->url, sizeof(r->url), "%s/%s/%s/messages", c->graph_base_url,
		 c->graph_api_version, account);
	snprintf(r->auth, sizeof(r->auth), "Authorization: Bearer %s", token);
	json_object_object_add(rcpt, "id", cm_jstr(m->address));
	json_object_object_add(o, "recipient", rcpt);
	if (m->inbound_age_s < CHANNEL_WINDOW_S) {
		json_object_object_add(o, "messaging_type", cm_jstr("RESPONSE"));
	} else {
		/* after 24 h, within 7 days: a person's reply, tagged as such */
		json_object_object_add(o, "messaging_type", cm_jstr("MESSAGE_TAG"));
		json_object_object_add(o, "tag", cm_jstr("HUMAN_AGENT"));
	}
	if (media) {
		struct json_object *att = json_object_new_object(), *payload = json_object_new_object();
		bool image = m->file_mime && !strncmp(m->file_mime, "image/", 6);
		json_object_object_add(payload, "url", cm_jstr(m->file_url));
		json_object_object_add(att, "type", cm_jstr(image ? "image" : "file"));
		json_object_object_add(att, "payload", payload);
		json_object_object_add(msg, "attachment", att);
	} else {
		json_object_object_add(msg, "text", cm_jstr(text ? text : ""));
	}
	json_object_object_add(o, "message", msg);
	free(text);
	r->body = cm_dump(o);
	return r->body ? 0 : ERR_INTERNAL;
}

static int messenger_build(const struct conf *c, const struct channel_msg *m,
			   struct channel_request *r)
{
	return send_api(c, m, r, c->messenger_page_id, c->messenger_token, MESSENGER_ATTACHMENT_MAX);
}

static int instagram_build(const struct conf *c, const struct channel_msg *m,
			   struct channel_request *r)
{
	return send_api(c, m, r, c->instagram_account_id, c->instagram_token,
			INSTAGRAM_ATTACHMENT_MAX);
}

/* {"recipient_id", "message_id"} */
static void answer_id(struct json_object *o, long status, char id[128])
{
	struct json_object *mid = cm_get(o, "message_id");

	(void)status;
	if (mid)
		snprintf(id, 128, "%s", json_object_get_string(mid));
}

/* a page- or Instagram-scoped id (PSID / IGSID) */
static bool address_ok(const char *a)
{
	size_t n = strlen(a);

	return n >= 1 && n <= 32 && strspn(a, "0123456789") == n;
}

/* entry[].messaging[]: message {mid, text, attachments[{type, payload{url}}]},
 * delivery {mids, watermark}, read {watermark} (Instagram: read {mid}).
 * The text and the first attachment are one message; each further
 * attachment is one more, its id mid#k. */
static void parse(struct json_object *body, struct channel_inbound *in, const char *channel)
{
	struct json_object *entries = cm_get(body, "entry");

	for (size_t e = 0; e < cm_len(entries); e++) {
		struct json_object *events = cm_get(cm_at(entries, e), "messaging");
		for (size_t i = 0; i < cm_len(events); i++) {
			struct json_object *ev = cm_at(events, i), *msg = cm_get(ev, "message");
			struct json_object *atts = cm_get(msg, "attachments");
			struct json_object *delivery = cm_get(ev, "delivery"), *read = cm_get(ev, "read");
			struct json_object *mids = cm_get(delivery, "mids");
			const char *sender = cm_str(cm_get(ev, "sender"), "id"), *mid = cm_str(msg, "mid");
			double mark;
			for (size_t k = 0; k < cm_len(mids); k++)
				cm_in_status(in, json_object_get_string(cm_at(mids, k)), NULL, 0,
					     "delivered", NULL);
			if (delivery && cm_num(delivery, "watermark", &mark))
				cm_in_status(in, NULL, sender, mark, "delivered", NULL);
			if (read && cm_str(read, "mid"))
				cm_in_status(in, cm_str(read, "mid"), NULL, 0, "read", NULL);
			else if (read && cm_num(read, "watermark", &mark))
				cm_in_status(in, NULL, sender, mark, "read", NULL);
			if (!msg || cm_get(msg, "is_echo"))
				continue;	/* an echo is our own message coming back */
			for (size_t k = 0; k == 0 || k < cm_len(atts); k++) {
				struct json_object *att = cm_at(atts, k), *payload = cm_get(att, "payload");
				const char *type = cm_str(att, "type");
				struct channel_in_msg *m = cm_in_msg(in, channel, sender, mid);
				if (!m)
					break;
				if (k > 0) {
					snprintf(m->id_buf, sizeof(m->id_buf), "%.64s#%zu", mid, k);
					m->provider_id = m->id_buf;
				} else {
					m->text = cm_str(msg, "text");
				}
				if (!att)
					break;
				if (type && !strcmp(type, "location")) {
					struct json_object *co = cm_get(payload, "coordinates");
					double lat, lon;
					if (cm_num(co, "lat", &lat) && cm_num(co, "long", &lon))
						cm_in_location(m, lat, lon, NULL, NULL);
				} else if (type && !strcmp(type, "fallback")) {	/* a shared link */
					if (cm_str(payload, "url"))
						channel_in_text(m, "%s", cm_str(payload, "url"));
				} else if (cm_str(payload, "url")) {
					m->media_kind = type ? type : "file";
					m->media_ref = cm_str(payload, "url");
				}
				if (!m->text && !m->media_ref)
					cm_in_unsupported(m, type);
			}
		}
	}
}

static void messenger_parse(struct json_object *body, struct channel_inbound *in)
{
	parse(body, in, "messenger");
}

static void instagram_parse(struct json_object *body, struct channel_inbound *in)
{
	parse(body, in, "instagram");
}

/* The attachment's URL (from a signed webhook) is the bytes. */
static int media_lookup(const struct conf *c, const char *ref, char url[1024], char auth[600],
			bool *direct)
{
	(void)c;
	(void)auth;
	if ((strncmp(ref, "https://", 8) && strncmp(ref, "http://", 7)) || strlen(ref) >= 1024)
		return ERR_VALIDATION;
	snprintf(url, 1024, "%s", ref);
	*direct = true;
	return 0;
}

#define META_WINDOW_CLOSED \
	"outside the provider's window: this person has not written to us in the last 7 days"

const struct channel_ops channel_messenger = {
	.name = "messenger",
	.build = messenger_build,
	.answer_id = answer_id,
	.answer_error = cm_graph_error,
	.window_closed = META_WINDOW_CLOSED,
	.address_ok = address_ok,
	.signature_header = "HTTP_X_HUB_SIGNATURE_256",
	.webhook_signed = cm_meta_signed,
	.subscription_check = true,
	.webhook_parse = messenger_parse,
	.media_lookup = media_lookup,
};

const struct channel_ops channel_instagram = {
	.name = "instagram",
	.build = instagram_build,
	.answer_id = answer_id,
	.answer_error = cm_graph_error,
	.window_closed = META_WINDOW_CLOSED,
	.address_ok = address_ok,
	.signature_header = "HTTP_X_HUB_SIGNATURE_256",
	.webhook_signed = cm_meta_signed,
	.subscription_check = true,
	.webhook_parse = instagram_parse,
	.media_lookup = media_lookup,
};
