/*
 * events.h - the live path of DESIGN §4. Each user has a bounded replay
 * stream in Redis (c4a:ev:<user id>, the last EVENTS_KEEP events); an
 * event is appended to each recipient's stream and published on
 * c4a:live:<user id> as "<stream id>\n<event>\n<data>" (then
 * "\n<traceparent>" when it is traced), so a gateway that
 * holds the user's connection forwards it at once, and a client that
 * reconnects replays exactly what it missed from the stream.
 *
 * Redis is speed, not truth: when it is down the event is lost (logged)
 * and clients resync through the REST API.
 */
#ifndef CHAT4ALL_EVENTS_H
#define CHAT4ALL_EVENTS_H

#include <stdbool.h>

#include "kv.h"

#define EVENTS_KEEP 1000	/* events each user can replay (approximate) */

/*
 * events_emit - event @name with @data (JSON) to each of @users. @stored
 * false (typing) publishes without appending: the event has no id and is
 * never replayed. One pipelined round trip for all recipients.
 */
int events_emit(struct kv *kv, const char *const *users, int nusers, const char *name,
		const char *data, bool stored);

/*
 * A batch: several events, each to its own users, sent in one pipelined
 * round trip (a release announces a status to each sender and a message
 * to the others). The batch copies what it is given.
 */
struct events_batch;

struct events_batch *events_batch_new(void);
void events_batch_add(struct events_batch *b, const char *const *users, int nusers,
		      const char *name, const char *data, bool stored);
/* events_batch_add_traced - the same, for an event of a traced message:
 * the gateway that forwards it makes a span of @traceparent's trace
 * (lib/trace.h). The traceparent travels on the live path only: a replay
 * is not traced, and no client ever sees it. */
void events_batch_add_traced(struct events_batch *b, const char *const *users, int nusers,
			     const char *name, const char *data, bool stored,
			     const char *traceparent);
/*
 * A message's status as its sender hears it: the `status` event of
 * API.md. The one place its shape is written; every stage that moves a
 * message (release, an admin's verdict, receipts, deliveries) tells the
 * sender through it.
 */
struct events_status {
	const char *message_id, *conversation_id;
	long long seq;
	const char *status;	/* sent, rejected, held, delivered, read, failed */
	const char *channel;	/* NULL: in the app */
	const char *address;	/* NULL: not shown (a person's number is theirs to show) */
	const char *reason;	/* NULL or "": none */
	const char *traceparent;	/* the message's trace, NULL: untraced */
};

/* events_batch_status - adds @st as a `status` event to @sender. */
void events_batch_status(struct events_batch *b, const char *sender,
			 const struct events_status *st);

/* events_conversation - the `conversation` event's data (API.md): @conv
 * changed (@change: created, member_added, member_removed, …; @user the
 * member it was about, or NULL), into @out. */
#define EVENTS_CONVERSATION_MAX 200
void events_conversation(char out[EVENTS_CONVERSATION_MAX], const char *conv, const char *change,
			 const char *user);

/* events_batch_publish - adds a plain PUBLISH of @message on @channel
 * (a wake-up for the workers, KV_JOBS_WAKE) to the batch. */
void events_batch_publish(struct events_batch *b, const char *channel, const char *message);

/* events_batch_send - sends what was added (nothing: no round trip) and
 * frees @b. 0, or ERR_UNAVAILABLE / ERR_INTERNAL as kv_pipeline. */
int events_batch_send(struct kv *kv, struct events_batch *b);
/* events_batch_free - drops what was added, sending nothing. */
void events_batch_free(struct events_batch *b);

/* events_id_valid - @s is a stream id as a client sends it back (a
 * cursor, Last-Event-ID): "ms" or "ms-seq", decimal. */
bool events_id_valid(const char *s);

/* events_id_cmp - the order of two stream ids ("ms-seq", numerically). */
int events_id_cmp(const char *a, const char *b);

/* events_stream_key / events_live_channel - the Redis names for @user. */
void events_stream_key(const char *user, char out[64]);
void events_live_channel(const char *user, char out[64]);

#endif
