#include "ratelimit.h"

#include "err.h"
#include "log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

/*
 * When Redis is away, each process keeps its own buckets: a limit per
 * process (n responders let n times the rate through) is weaker than the
 * shared one, but never none. A small table; a new key takes the slot of
 * the one idle longest among the few it may land in.
 */
#define LOCAL_SLOTS 4096
#define LOCAL_WAYS 4

static struct local_bucket {
	char key[96];
	double tokens;
	double ts;	/* seconds, monotonic */
} local[LOCAL_SLOTS];
static pthread_mutex_t local_lock = PTHREAD_MUTEX_INITIALIZER;	/* the API's threads share it */

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static unsigned key_hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static int take_local(const char *key, double rate, long burst, int *retry_after)
{
	unsigned h = key_hash(key);
	struct local_bucket *b = NULL, *oldest = NULL;
	double now = now_s();

	*retry_after = 0;
	if (rate <= 0)
		return 0;
	for (unsigned i = 0; i < LOCAL_WAYS && !b; i++) {
		struct local_bucket *x = &local[(h + i) % LOCAL_SLOTS];
		if (!strncmp(x->key, key, sizeof(x->key) - 1))
			b = x;
		else if (!oldest || x->ts < oldest->ts)
			oldest = x;
	}
	if (!b) {
		b = oldest;
		snprintf(b->key, sizeof(b->key), "%s", key);
		b->tokens = (double)burst;
		b->ts = now;
	}
	b->tokens += (now - b->ts) * rate;
	if (b->tokens > (double)burst)
		b->tokens = (double)burst;
	b->ts = now;
	if (b->tokens >= 1) {
		b->tokens -= 1;
		return 0;
	}
	*retry_after = (int)((1 - b->tokens) / rate) + 1;
	return ERR_RATELIMITED;
}

int ratelimit_take_local(const char *key, double rate, long burst, int *retry_after)
{
	pthread_mutex_lock(&local_lock);
	int rc = take_local(key, rate, burst, retry_after);
	pthread_mutex_unlock(&local_lock);
	return rc;
}

/* A take's arguments: EVALSHA sha 1|2 KEYS... rate burst. */
struct take_args {
	const char *argv[7];
	int argc;
	char rate[32], burst[32];
};

/* The takes of @t still to answer (rc == 1) with the script, in one
 * round trip; a NOSCRIPT answer (Redis restarted) leaves them to answer.
 * Returns ERR_UNAVAILABLE when Redis cannot be reached. */
static int take_remote(struct kv *kv, const char *sha, struct ratelimit_take *t, int n,
		       struct take_args *args, const char **argvs[], int *argcs, int *idx,
		       redisReply **replies)
{
	int m = 0;

	for (int i = 0; i < n; i++) {
		struct take_args *a = &args[i];
		if (t[i].rc != 1)
			continue;
		snprintf(a->rate, sizeof(a->rate), "%g", t[i].rate);
		snprintf(a->burst, sizeof(a->burst), "%ld", t[i].burst);
		/* KEYS: the bucket [, the mark]; ARGV: rate, burst */
		a->argc = 0;
		a->argv[a->argc++] = "EVALSHA";
		a->argv[a->argc++] = sha;
		a->argv[a->argc++] = t[i].unless_key ? "2" : "1";
		a->argv[a->argc++] = t[i].key;
		if (t[i].unless_key)
			a->argv[a->argc++] = t[i].unless_key;
		a->argv[a->argc++] = a->rate;
		a->argv[a->argc++] = a->burst;
		argvs[m] = a->argv;
		argcs[m] = a->argc;
		idx[m++] = i;
	}
	if (!m)
		return 0;
	if (kv_pipeline_replies(kv, m, argcs, (const char *const *const *)argvs, replies))
		return ERR_UNAVAILABLE;
	for (int k = 0; k < m; k++) {
		struct ratelimit_take *x = &t[idx[k]];
		redisReply *r = replies[k];
		if (r->type == REDIS_REPLY_INTEGER) {
			x->rc = r->integer < 0 ? ERR_AUTH : r->integer ? ERR_RATELIMITED : 0;
			x->retry_after = r->integer > 0 ? (int)((r->integer + 999) / 1000) : 0;
		}
		freeReplyObject(r);
	}
	return 0;
}

void ratelimit_take_many(struct kv *kv, struct ratelimit_take *t, int n)
{
	static _Thread_local char sha[41];	/* per connection: per thread */
	static _Thread_local time_t warned;
	struct take_args *args = calloc((size_t)n + 1, sizeof(*args));
	const char ***argvs = calloc((size_t)n + 1, sizeof(*argvs));
	int *argcs = calloc((size_t)n + 1, sizeof(*argcs)), *idx = calloc((size_t)n + 1, sizeof(*idx));
	redisReply **replies = calloc((size_t)n + 1, sizeof(*replies));
	bool reachable = args && argvs && argcs && idx && replies;
	unsigned gen = kv_generation(kv);

	for (int i = 0; i < n; i++) {
		t[i].retry_after = 0;
		t[i].rc = t[i].rate > 0 ? 1 : 0;	/* 1: not answered yet */
	}
	/* twice: after a NOSCRIPT (a Redis restart), load the script again */
	for (int attempt = 0; attempt < 2 && reachable; attempt++) {
		if (!sha[0]) {
			const char *load[] = { "SCRIPT", "LOAD", bucket_lua };
			redisReply *r = kv_command(kv, 3, load, NULL);
			if (r && r->type == REDIS_REPLY_STRING && r->len == 40)
				memcpy(sha, r->str, 40);
			else
				reachable = false;
			if (r)
				freeReplyObject(r);
			if (!reachable)
				break;
		}
		if (take_remote(kv, sha, t, n, args, argvs, argcs, idx, replies)) {
			reachable = false;
			break;
		}
		bool left = false;
		for (int i = 0; i < n; i++)
			left = left || t[i].rc == 1;
		if (!left)
			break;
		sha[0] = '\0';	/* not answered (NOSCRIPT): load it again */
	}
	free(args);
	free(argvs);
	free(argcs);
	free(idx);
	free(replies);
	/* a connection made meanwhile (Redis came back) reached a Redis that
	 * may not know yet what ended while it was away (revocation_sync):
	 * the marks it did not find prove nothing, the caller must ask */
	if (kv_generation(kv) != gen)
		for (int i = 0; i < n; i++)
			if (!t[i].rc && t[i].unless_key)
				t[i].rc = ERR_UNAVAILABLE;
	for (int i = 0; i < n; i++) {
		if (t[i].rc != 1)
			continue;
		if (time(NULL) - warned >= 10) {
			warned = time(NULL);
			log_warn(NULL, "redis unavailable: rate limits from each process's own buckets");
		}
		int rc = ratelimit_take_local(t[i].key, t[i].rate, t[i].burst, &t[i].retry_after);
		t[i].rc = rc ? rc : t[i].unless_key ? ERR_UNAVAILABLE : 0;
	}
}

int ratelimit_take(struct kv *kv, const char *key, double rate, long burst,
		   const char *unless_key, int *retry_after)
{
	struct ratelimit_take t = { .key = key, .unless_key = unless_key, .rate = rate,
				    .burst = burst };

	ratelimit_take_many(kv, &t, 1);
	*retry_after = t.retry_after;
	return t.rc;
}

/* A token back, never past the burst; a bucket gone (expired) is full. */
static const char refund_lua[] =
	"local t = tonumber(redis.call('HGET', KEYS[1], 'tokens'))\n"
	"if t then redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(tonumber(ARGV[1]), t + 1))) end\n"
	"return 0\n";

void ratelimit_refund(struct kv *kv, const char *key, long burst)
{
	char burst_s[32];
	redisReply *r;

	snprintf(burst_s, sizeof(burst_s), "%ld", burst);
	const char *argv[] = { "EVAL", refund_lua, "1", key, burst_s };
	if ((r = kv_command(kv, 5, argv, NULL))) {
		freeReplyObject(r);
		return;
	}
	/* Redis away: the token was taken here, so it goes back here */
	unsigned h = key_hash(key);
	pthread_mutex_lock(&local_lock);
	for (unsigned i = 0; i < LOCAL_WAYS; i++) {
		struct local_bucket *x = &local[(h + i) % LOCAL_SLOTS];
		if (!strncmp(x->key, key, sizeof(x->key) - 1)) {
			x->tokens = x->tokens + 1 > (double)burst ? (double)burst : x->tokens + 1;
			break;
		}
	}
	pthread_mutex_unlock(&local_lock);
}
