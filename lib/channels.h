/*
 * channels.h - the connectors: how a message for an address on WhatsApp,
 * Telegram, Messenger or Instagram becomes a request to that provider's
 * official API, and what its answer means (../shared/reference/protocols.md).
 * No I/O here: jobs/deliverer.c sends the requests (curl multi) and keeps
 * the books. Base URLs, ids and tokens come from the configuration, so
 * tests point them at local fakes.
 */
#ifndef CHAT4ALL_CHANNELS_H
#define CHAT4ALL_CHANNELS_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

/* channel_known - one of whatsapp, telegram, messenger, instagram, webhook. */
bool channel_known(const char *channel);

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

/*
 * channel_request_build - the provider request for @m. ERR_UNAVAILABLE when
 * the channel is not configured here (no token or id), ERR_VALIDATION when
 * there is nothing it can carry, ERR_FORBIDDEN when the provider's window
 * is closed (WhatsApp: and no whatsapp_template is configured).
 */
int channel_request_build(const struct conf *c, const struct channel_msg *m,
			  struct channel_request *out);
void channel_request_free(struct channel_request *r);

enum channel_outcome {
	CHANNEL_SENT,		/* accepted: @provider_id names it */
	CHANNEL_RETRY,		/* try again later (429, 5xx, timeout, no answer) */
	CHANNEL_FAILED,		/* refused for good (a 4xx that will never pass) */
	CHANNEL_PACED,		/* not sent: our own pacing says later (no attempt spent) */
};

/*
 * channel_pace - how fast one chat may be written to (Telegram's limits:
 * about one message a second to a chat, twenty a minute to a group).
 * False when the channel sets no such limit.
 */
bool channel_pace(const char *channel, const char *address, double *rate, long *burst);

/* Metrics: one series per (channel, outcome), with the request's latency. */
#define CHANNEL_NSERIES (5 * 4)
unsigned channel_series(const char *channel, enum channel_outcome outcome);
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

#endif
