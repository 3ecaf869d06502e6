/*
 * channel_webhook.c - the generic outbound webhook, for integrators: the
 * message as JSON, POSTed to the address (a URL), signed like Stripe's:
 * X-Chat4All-Signature is "t=<unix time>,v1=<hex HMAC-SHA256(secret,
 * "<t>.<raw body>")>", so the receiver checks both the body and its age
 * with the secret it shares with us (webhook_signing_secret). Any 2xx is
 * delivered; an integrator's server owes us no id and its error text is
 * not ours to repeat. Nothing comes in this way.
 */
#include "channel_module.h"

#include "err.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int build(const struct conf *c, const struct channel_msg *m, struct channel_request *r)
{
	struct json_object *o;
	unsigned char md[32];
	unsigned int n = 0;
	char hex[65], *signed_part = NULL;
	long long t = (long long)time(NULL);

	if (!cm_set(c->webhook_signing_secret))
		return ERR_UNAVAILABLE;
	o = json_object_new_object();
	snprintf(r->url, sizeof(r->url), "%s", m->address);
	json_object_object_add(o, "type", cm_jstr("message"));
	json_object_object_add(o, "message_id", cm_jstr(m->message_id ? m->message_id : ""));
	json_object_object_add(o, "conversation_id", cm_jstr(m->conversation_id ? m->conversation_id : ""));
	json_object_object_add(o, "sender_id", cm_jstr(m->sender_id ? m->sender_id : ""));
	json_object_object_add(o, "text", m->text ? cm_jstr(m->text) : NULL);
	if (m->file_url) {
		struct json_object *f = json_object_new_object();
		json_object_object_add(f, "url", cm_jstr(m->file_url));
		json_object_object_add(f, "filename", cm_jstr(m->file_name ? m->file_name : "file"));
		json_object_object_add(f, "mime", cm_jstr(m->file_mime ? m->file_mime : "application/octet-stream"));
		json_object_object_add(f, "size", json_object_new_int64(m->file_size));
		json_object_object_add(o, "file", f);
	}
	r->body = cm_dump(o);
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

/* the integrator's own id when it names one ({"message_id"}), else the status */
static void answer_id(struct json_object *o, long status, char id[128])
{
	struct json_object *mid = cm_get(o, "message_id");

	if (mid)
		snprintf(id, 128, "%s", json_object_get_string(mid));
	else
		snprintf(id, 128, "webhook-%ld", status);
}

/* an integrator's URL */
static bool address_ok(const char *a)
{
	size_t n = strlen(a);

	return n <= 512 && (!strncmp(a, "https://", 8) || !strncmp(a, "http://", 7)) &&
	       !strpbrk(a, " \t\r\n\"<>");
}

const struct channel_ops channel_webhook = {
	.name = "webhook",
	.build = build,
	.answer_id = answer_id,
	.address_ok = address_ok,
	.addresses_by_admin = true,
};
