/*
 * ratelimit.h - token buckets in Redis, one per (route class, subject).
 * The refill and the take run as one Lua script, so any number of API
 * processes share a bucket without races.
 */
#ifndef CHAT4ALL_RATELIMIT_H
#define CHAT4ALL_RATELIMIT_H

#include "kv.h"

/*
 * ratelimit_take - take one token from bucket @key that refills at @rate
 * tokens a second up to @burst. Returns 0, or ERR_RATELIMITED with
 * *retry_after set to the whole seconds until a token is back. When Redis
 * is unreachable the bucket is this process's own (ratelimit_take_local):
 * a weaker limit, never none.
 *
 * @unless_key (may be NULL) is checked in the same round trip: when that
 * key exists no token is taken and ERR_AUTH is returned. The API passes
 * the revocation mark of the caller's sign-in, so that authenticating and
 * limiting a request cost one trip to Redis, not two. When Redis was
 * unreachable, or came back during the take (a new connection, which
 * revocation_sync has not told yet), that check could not be trusted:
 * ERR_UNAVAILABLE says so (a token was taken), and the caller must ask
 * elsewhere.
 */
int ratelimit_take(struct kv *kv, const char *key, double rate, long burst,
		   const char *unless_key, int *retry_after);

/* One take of ratelimit_take_many: what ratelimit_take takes, and its
 * answer in rc and retry_after. */
struct ratelimit_take {
	const char *key, *unless_key;
	double rate;
	long burst;
	int rc, retry_after;
};

/* ratelimit_take_many - ratelimit_take for each of @t, in one round trip
 * to Redis (the API's send writer takes the tokens of a whole batch). */
void ratelimit_take_many(struct kv *kv, struct ratelimit_take *t, int n);

/* ratelimit_refund - gives back the token just taken from @key (a bucket
 * that counts only failures: the attempt succeeded). */
void ratelimit_refund(struct kv *kv, const char *key, long burst);

/* ratelimit_take_local - the same bucket in this process's memory only. */
int ratelimit_take_local(const char *key, double rate, long burst, int *retry_after);

#endif
