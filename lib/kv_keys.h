/*
 * kv_keys.h - every Redis key and channel Chat4All uses, in one place.
 *
 * Redis holds only the live path: each key here can be lost (a Redis
 * restart, an eviction) and the product stays right, because PostgreSQL
 * is the truth (see each one's "lost:"). The API, the gateway and the jobs
 * all spell their keys from these, so a key read in one process is the key
 * written in another. Formats take the parts in the order shown; every
 * part is one of our ids or a value we checked, never raw input longer
 * than its buffer.
 */
#ifndef CHAT4ALL_KV_KEYS_H
#define CHAT4ALL_KV_KEYS_H

/* A user's replay stream (XADD, the last EVENTS_KEEP events): written by
 * lib/events.c, read by the gateway from a client's cursor. Lost: clients
 * resync from the REST history. Parts: user id. */
#define KV_EVENTS "c4a:ev:%s"

/* A user's live channel (PUBLISH "<stream id>\n<event>\n<data>"), to which
 * the gateway subscribes once per connected user. Parts: user id. */
#define KV_LIVE_PREFIX "c4a:live:"
#define KV_LIVE KV_LIVE_PREFIX "%s"

/* An ended sign-in (SET with the access token's remaining lifetime): the
 * API and the gateway refuse its tokens. Lost: each process asks
 * PostgreSQL (lib/revocation.c). Parts: sign-in id. */
#define KV_REVOKED "c4a:revoked:%.36s"
/* ... and the channel that tells every gateway to close its streams now. */
#define KV_SIGNIN_ENDED "c4a:signin-ended"

/* A token bucket (lib/ratelimit.c: a hash with its level and time).
 * Lost: full buckets. Parts: what is limited ("send", "receipt",
 * "signin:user", "code:to:<channel>", ...), whose. */
#define KV_RATE "c4a:rl:%s:%s"

/* A stream ticket (SET EX 60, taken once with GETDEL by the gateway):
 * holds "<user id> <sign-in id> <token expiry>". Parts: the ticket. */
#define KV_TICKET "c4a:ticket:%s"

/* Someone is typing in a conversation (SET NX EX): the first keystroke of
 * a few seconds tells the others. Parts: conversation id, user id. */
#define KV_TYPING "c4a:typing:%s:%s"

/* A provider's pacing of one chat (a token bucket, as KV_RATE), shared by
 * every deliverer. Parts: channel, address. */
#define KV_PACE "c4a:pace:%s:%s"

/* The channel that wakes the pipeline's workers after a commit queued
 * work (PUBLISH of the job kind). Lost: workers poll anyway. */
#define KV_JOBS_WAKE "c4a:jobs"

#endif
