/*
 * channels.h - the connectors: how a message for an address on WhatsApp,
 * Telegram, Messenger, Instagram or an integrator's webhook becomes a
 * request to that provider's official API, what its answer means, and
 * what its webhooks say (../shared/reference/protocols.md).
 *
 * Each provider is one module filling one struct channel_ops
 * (channel_whatsapp.c, channel_telegram.c, channel_meta.c for Messenger
 * and Instagram, channel_webhook.c), registered in the table of
 * channels.c; everything else asks the table. No I/O here:
 * jobs/deliverer.c sends the requests (curl multi) and keeps the books,
 * jobs/j_inbound.c applies what a webhook said. Base URLs, ids and tokens
 * come from the configuration, so tests point them at local fakes.
 */
#ifndef CHAT4ALL_CHANNELS_H
#define CHAT4ALL_CHANNELS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

/* What goes out: text, and/or a file by its signed link. */
struct channel_msg {
	const char *channel, *address;
	const char *message_id, *conversation_id, *sender_id;	/* for the webhook's body */
	const char *text;		/* may be NULL */
	const char *file_url;		/* absolute signed link, or NULL */
	const char *file_name, *file_mime;
	long long file_size;
	const char *sender_name;	/* for a template's {{1}} */
	long long inbound_age_s;	/* since the person last wrote to us; -1: never */
};

/* The providers' windows after a person's last message: WhatsApp and
 * Messenger/Instagram take free-form messages for 24 h; Messenger and
 * Instagram then take a human agent's reply (tag HUMAN_AGENT) for 7 days. */
#define CHANNEL_WINDOW_S (24 * 3600)
#define CHANNEL_HUMAN_AGENT_S (7 * 24 * 3600)

struct channel_request {
	char url[1024];
	char auth[600];			/* an Authorization (or signature) header line, or "" */
	char *body;			/* JSON, malloc()ed */
};

enum channel_outcome {
	CHANNEL_SENT,		/* accepted: @provider_id names it */
	CHANNEL_RETRY,		/* try again later (429, 5xx, timeout, no answer) */
	CHANNEL_FAILED,		/* refused for good (a 4xx that will never pass) */
	CHANNEL_PACED,		/* not sent: our own pacing says later (no attempt spent) */
};

/* One message a contact sent, as a webhook told it. The pointers are into
 * the webhook's JSON (which must outlive it), or into its own buffers. */
struct channel_in_msg {
	const char *channel, *address, *provider_id, *text;
	char name[160];			/* the contact's name, valid UTF-8 */
	char id_buf[96];		/* a provider id we compose (Telegram's chat:message) */
	char *own_text;			/* a text we compose (a location, a note), malloc()ed */
	const char *media_ref, *media_mime, *media_name, *media_kind;
};

/* What a provider says of a message we sent: one delivery by the
 * provider's id, or every delivery to @address it accepted before
 * @watermark_ms (Messenger's and Instagram's "delivered/read up to"). */
struct channel_in_status {
	const char *provider_id;	/* or NULL: the watermark */
	const char *address;
	double watermark_ms;
	const char *status;		/* sent, delivered, read, failed */
	const char *error;		/* the provider's reason, or NULL */
};

/* Everything one webhook said. */
struct channel_inbound {
	struct channel_in_msg *msgs;
	size_t n, cap;
	struct channel_in_status *statuses;
	size_t nstatuses, statuses_cap;
};

struct channel_ops {
	const char *name;
	/* -- sending -- */
	/* the request for @m (its text or file present); ERR_UNAVAILABLE when
	 * not configured here, ERR_FORBIDDEN when the provider's window is
	 * closed (see window_closed), ERR_INTERNAL */
	int (*build)(const struct conf *c, const struct channel_msg *m, struct channel_request *out);
	/* from a 2xx answer (@answer NULL when it is no JSON object), the
	 * provider's id of the message, or "" */
	void (*answer_id)(struct json_object *answer, long status, char id[128]);
	/* the provider's reason, for our books; NULL: an answer we do not
	 * repeat (an integrator's server's) */
	void (*answer_error)(struct json_object *answer, char why[256]);
	/* how long the provider asks us to wait, said in its body (seconds;
	 * 0: not said); NULL: it uses only Retry-After */
	int (*answer_retry_after)(struct json_object *answer);
	const char *window_closed;	/* why build() said ERR_FORBIDDEN, for the books */
	/* how fast one chat may be written to; NULL: no limit of its own */
	bool (*pace)(const char *address, double *rate, long *burst);
	/* what an address looks like here */
	bool (*address_ok)(const char *address);
	/* its addresses are servers we POST to, linked by an admin; no one
	 * proves one by a code sent there */
	bool addresses_by_admin;
	/* -- receiving: NULL when the channel has no webhooks of its own -- */
	/* the webhook verifies: @signature is the request's header named
	 * signature_header (CGI form), @body its raw bytes */
	const char *signature_header;
	bool (*webhook_signed)(const struct conf *c, const char *signature, const char *body,
			       size_t len);
	bool subscription_check;	/* answers Meta's GET hub.challenge */
	/* what the webhook said, into @in (messages and statuses) */
	void (*webhook_parse)(struct json_object *body, struct channel_inbound *in);
	/* inbound media: see channel_media_lookup / channel_media_located */
	int (*media_lookup)(const struct conf *c, const char *ref, char url[1024], char auth[600],
			    bool *direct);
	int (*media_located)(const struct conf *c, struct json_object *answer, char url[1024],
			     long long *size);
};

/* The channels, in the order metrics and lists show them. */
#define CHANNEL_COUNT 5
extern const struct channel_ops *const channel_table[CHANNEL_COUNT];

/* channel_find - @name's module, or NULL for a name no channel has. */
const struct channel_ops *channel_find(const char *name);

/* channel_index - @name's place in channel_table, or -1. */
int channel_index(const char *name);

/* channel_known - @name is a channel. */
bool channel_known(const char *name);

/* channel_names - "whatsapp, telegram, ..." for error messages. Made on
 * the first call: a threaded program calls it once before its threads. */
const char *channel_names(void);

/*
 * channel_request_build - the provider request for @m. ERR_UNAVAILABLE when
 * the channel is not configured here (no token or id), ERR_VALIDATION when
 * there is nothing it can carry, ERR_FORBIDDEN when the provider's window
 * is closed (WhatsApp: and no whatsapp_template is configured).
 */
int channel_request_build(const struct conf *c, const struct channel_msg *m,
			  struct channel_request *out);
void channel_request_free(struct channel_request *r);

/*
 * channel_pace - how fast one chat may be written to (Telegram's limits:
 * about one message a second to a chat, twenty a minute to a group).
 * False when the channel sets no such limit.
 */
bool channel_pace(const char *channel, const char *address, double *rate, long *burst);

/* Metrics: one series per (channel, outcome), with the request's latency. */
#define CHANNEL_NSERIES (CHANNEL_COUNT * 4)
unsigned channel_series(const char *channel, enum channel_outcome outcome);
/* channel_outcome_name - "sent", "retried", "failed" or "paced". */
const char *channel_outcome_name(enum channel_outcome outcome);
const char *const *channel_series_labels(void);

/*
 * channel_answer - what @channel's answer (HTTP @status, 0 when none came;
 * @body; the Retry-After header or NULL) means. @retry_after_s gets the
 * provider's wish (Retry-After or Telegram's parameters.retry_after), 0
 * when it said none; @why a short reason for the books.
 */
enum channel_outcome channel_answer(const char *channel, long status, const char *body,
				    const char *retry_after, char provider_id[128],
				    int *retry_after_s, char why[256]);

/*
 * Inbound media. A provider names a photo or a document by a reference:
 * WhatsApp by a media id (GET /{ver}/{media-id} tells the bytes' URL),
 * Telegram by a file_id (getFile tells its file_path), Messenger and
 * Instagram by the bytes' URL itself. Fetching takes one or two GETs:
 *
 * channel_media_lookup - the first GET's URL into @url, and into @auth the
 * header line that this GET and the bytes' GET need ("" for none). Sets
 * @direct when @url is already the bytes. ERR_UNAVAILABLE when the channel
 * is not configured, ERR_VALIDATION when @ref is not a reference of its
 * channel.
 */
int channel_media_lookup(const struct conf *c, const char *channel, const char *ref,
			 char url[1024], char auth[600], bool *direct);

/*
 * channel_media_located - from the lookup's answer @body, the bytes' URL
 * into @url and their size into @size (-1 when not told).
 * ERR_VALIDATION when the answer names none.
 */
int channel_media_located(const struct conf *c, const char *channel, const char *body,
			  char url[1024], long long *size);

/* channel_in_text - @m's text becomes @fmt…, after its own text when it
 * has one (a location, a note that its media could not be fetched). */
void channel_in_text(struct channel_in_msg *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* channel_inbound_free - frees what a parse made (not the JSON it points into). */
void channel_inbound_free(struct channel_inbound *in);

#endif
