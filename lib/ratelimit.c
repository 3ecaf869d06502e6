#include "ratelimit.h"

#include "err.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

/* Returns 0 when a token was taken, else milliseconds until one is back,
 * or -1 when KEYS[2] exists. Time comes from the Redis server so that API
 * hosts' clocks don't matter. */
static const char bucket_lua[] =
	"if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then return -1 end\n"
	"local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
	"local t = redis.call('TIME')\n"
	"local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
	"local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts')\n"
	"local tokens = tonumber(v[1]) or burst\n"
	"local ts = tonumber(v[2]) or now\n"
	"tokens = math.min(burst, tokens + (now - ts) * rate / 1000)\n"
	"local wait = 0\n"
	"if tokens >= 1 then tokens = tokens - 1\n"
	"else wait = math.ceil((1 - tokens) * 1000 / rate) end\n"
	"redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)\n"
	"redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)\n"
	"return wait\n";

int ratelimit_take(struct kv *kv, const char *key, double rate, long burst,
		   const char *unless_key, int *retry_after)
{
	static char sha[41];
	char rate_s[32], burst_s[32];
	redisReply *r;

	*retry_after = 0;
	if (rate <= 0)
		return 0;
	snprintf(rate_s, sizeof(rate_s), "%g", rate);
	snprintf(burst_s, sizeof(burst_s), "%ld", burst);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!sha[0]) {
			const char *load[] = { "SCRIPT", "LOAD", bucket_lua };
			r = kv_command(kv, 3, load, NULL);
			if (!r || r->type != REDIS_REPLY_STRING || r->len != 40)
				goto unreachable;
			memcpy(sha, r->str, 40);
			freeReplyObject(r);
		}
		/* KEYS: the bucket [, the mark]; ARGV: rate, burst */
		const char *argv[7] = { "EVALSHA", sha, unless_key ? "2" : "1", key };
		int argc = 4;
		if (unless_key)
			argv[argc++] = unless_key;
		argv[argc++] = rate_s;
		argv[argc++] = burst_s;
		if (!(r = kv_command(kv, argc, argv, NULL)))
			goto unreachable;
		if (r->type == REDIS_REPLY_INTEGER) {
			long long wait = r->integer;
			freeReplyObject(r);
			if (wait < 0)
				return ERR_AUTH;
			if (!wait)
				return 0;
			*retry_after = (int)((wait + 999) / 1000);
			return ERR_RATELIMITED;
		}
		/* NOSCRIPT after a Redis restart: load it again */
		freeReplyObject(r);
		sha[0] = '\0';
	}
	return 0;
unreachable:
	if (r)
		freeReplyObject(r);
	log_warn(NULL, "rate limit not applied: redis unavailable");
	return 0;
}
