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
 * is unreachable the request is let through (and a warning logged): a
 * limit is protection, not truth.
 */
int ratelimit_take(struct kv *kv, const char *key, double rate, long burst,
		   int *retry_after);

#endif
