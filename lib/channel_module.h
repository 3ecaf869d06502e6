/*
 * channel_module.h - what a channel module (channel_<provider>.c) has at
 * hand, from channels.c: reading a provider's JSON that may lack or
 * mistype anything, building request bodies, collecting what a webhook
 * said, and Meta's webhook signature. Not for the rest of the program:
 * it asks channels.h.
 */
#ifndef CHAT4ALL_CHANNEL_MODULE_H
#define CHAT4ALL_CHANNEL_MODULE_H

#include "channels.h"

#include <json-c/json.h>
#include <stdbool.h>

/* The modules, for the table in channels.c. */
extern const struct channel_ops channel_whatsapp;
extern const struct channel_ops channel_telegram;
extern const struct channel_ops channel_messenger;
extern const struct channel_ops channel_instagram;
extern const struct channel_ops channel_webhook;

/* A setting is there: not NULL, not "". */
bool cm_set(const char *s);

/* -- a provider's JSON: json-c asserts on array calls with a non-array,
 * so every read goes through these; each answers NULL / 0 / false for a
 * member that is absent or of another type -- */
size_t cm_len(struct json_object *a);
struct json_object *cm_at(struct json_object *a, size_t i);
struct json_object *cm_get(struct json_object *o, const char *key);
const char *cm_str(struct json_object *o, const char *key);
/* an id that may be a number (Telegram's chat and message ids) */
const char *cm_id(struct json_object *o, const char *key);
/* a number (coordinates, watermarks) */
bool cm_num(struct json_object *o, const char *key, double *out);

/* -- request bodies -- */
/* a new JSON string */
struct json_object *cm_jstr(const char *s);
/* @o as compact JSON, malloc()ed; @o is freed */
char *cm_dump(struct json_object *o);
/* the text, with the file's link after it when @link and there is a file
 * (a file too large for the provider goes as its link); malloc()ed */
char *cm_text_with_link(const struct channel_msg *m, bool link);

/* -- what a webhook said -- */
/* a new message from @address with the provider's @provider_id; NULL
 * when either is missing (the message is skipped) or out of memory */
struct channel_in_msg *cm_in_msg(struct channel_inbound *in, const char *channel,
				 const char *address, const char *provider_id);
/* a location as text with a map link */
void cm_in_location(struct channel_in_msg *m, double lat, double lon, const char *name,
		    const char *address);
/* a message of a kind we do not carry: said, not dropped */
void cm_in_unsupported(struct channel_in_msg *m, const char *type);
/* a contact's name, cut to a whole character */
void cm_in_name(struct channel_in_msg *m, const char *name);
/* a status of one delivery (@provider_id) or of every one to @address
 * before @watermark_ms; unknown statuses and missing ids are skipped */
void cm_in_status(struct channel_inbound *in, const char *provider_id, const char *address,
		  double watermark_ms, const char *status, const char *error);

/* -- Meta's Graph API (WhatsApp, Messenger, Instagram) -- */
/* its error answer {"error": {"message"}}: the message into @why */
void cm_graph_error(struct json_object *answer, char why[256]);
/* "sha256=" + hex HMAC-SHA256(app secret, raw body), compared in constant time */
bool cm_meta_signed(const struct conf *c, const char *signature, const char *body, size_t len);

#endif
