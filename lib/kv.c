#include "kv.h"

#include "clock.h"
#include "err.h"
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct kv {
	redisContext *c;
	char *addr;
	long long last_try;	/* ms, monotonic: the last connection attempt that failed */
	unsigned generation;	/* connections made so far */
	bool subscribed;	/* SUBSCRIBE answered on this connection */
};

/* When a connection of this process last succeeded (ms, monotonic): an
 * API responder has one per thread, and once one of them reaches Redis
 * again the others need not wait out their pause. */
static long long connected_at;

static void kv_connect(struct kv *kv)
{
	struct timeval tv = { 1, 0 };
	long long now = clock_ms();

	/* after a failed attempt, one a second (a connect to a host that is
	 * down can take the whole timeout), unless another connection of
	 * this process got through since */
	if (kv->c || (kv->last_try && now - kv->last_try < 1000 &&
		      __atomic_load_n(&connected_at, __ATOMIC_RELAXED) < kv->last_try))
		return;
	if (!strncmp(kv->addr, "unix:", 5)) {
		kv->c = redisConnectUnixWithTimeout(kv->addr + 5, tv);
	} else {
		char host[256];
		const char *colon = strrchr(kv->addr, ':');
		int port = colon ? atoi(colon + 1) : 6379;
		size_t n = colon ? (size_t)(colon - kv->addr) : strlen(kv->addr);

		if (n >= sizeof(host))
			n = sizeof(host) - 1;
		memcpy(host, kv->addr, n);
		host[n] = '\0';
		kv->c = redisConnectWithTimeout(host, port, tv);
	}
	if (!kv->c || kv->c->err) {
		if (kv->c)
			log_warn(NULL, "cannot connect to redis at %s: %s", kv->addr,
				 kv->c->errstr);
		redisFree(kv->c);
		kv->c = NULL;
		kv->last_try = clock_ms();
	} else {
		redisSetTimeout(kv->c, tv);
		kv->generation++;
		kv->last_try = 0;
		__atomic_store_n(&connected_at, clock_ms(), __ATOMIC_RELAXED);
	}
}

unsigned kv_generation(struct kv *kv)
{
	kv_connect(kv);
	return kv->c ? kv->generation : 0;
}

struct kv *kv_open(const char *addr)
{
	struct kv *kv = calloc(1, sizeof(*kv));

	if (!kv || !(kv->addr = strdup(addr))) {
		free(kv);
		return NULL;
	}
	kv_connect(kv);
	return kv;
}

void kv_free(struct kv *kv)
{
	if (!kv)
		return;
	if (kv->c)
		redisFree(kv->c);
	free(kv->addr);
	free(kv);
}

static void kv_lost(struct kv *kv)
{
	log_warn(NULL, "redis connection lost: %s", kv->c->errstr);
	redisFree(kv->c);
	kv->c = NULL;
	kv->subscribed = false;
}

/*
 * A connection Redis closed (it restarted) fails the first command sent on
 * it, which Redis never saw: such a command is sent again at once on a new
 * connection. An API responder has a connection per thread, and most of
 * them learn of a restart only when a request next uses them. A timeout is
 * not retried: the command may have run.
 */
static bool kv_closed_by_peer(const struct kv *kv, int saved_errno)
{
	return kv->c->err == REDIS_ERR_EOF ||
	       (kv->c->err == REDIS_ERR_IO && (saved_errno == EPIPE || saved_errno == ECONNRESET));
}

static bool kv_reopen(struct kv *kv)
{
	kv_lost(kv);
	kv_connect(kv);
	return kv->c != NULL;
}

redisReply *kv_command(struct kv *kv, int argc, const char **argv,
		       const size_t *lens)
{
	redisReply *r;

	kv_connect(kv);
	if (!kv->c)
		return NULL;
	errno = 0;
	r = redisCommandArgv(kv->c, argc, argv, lens);
	if (!r && !kv->subscribed && kv_closed_by_peer(kv, errno) && kv_reopen(kv))
		r = redisCommandArgv(kv->c, argc, argv, lens);
	if (!r && kv->c)
		kv_lost(kv);
	return r;
}

int kv_subscribe(struct kv *kv, const char *channel)
{
	redisReply *r;

	kv_connect(kv);
	if (!kv->c)
		return ERR_UNAVAILABLE;
	if (kv->subscribed)
		return 0;
	const char *argv[] = { "SUBSCRIBE", channel };
	if (!(r = redisCommandArgv(kv->c, 2, argv, NULL))) {
		kv_lost(kv);
		return ERR_UNAVAILABLE;
	}
	kv->subscribed = r->type == REDIS_REPLY_ARRAY;
	freeReplyObject(r);
	return kv->subscribed ? 0 : ERR_INTERNAL;
}

int kv_fd(struct kv *kv)
{
	return kv->c && kv->subscribed ? kv->c->fd : -1;
}

int kv_drain(struct kv *kv)
{
	struct pollfd p = { .fd = kv_fd(kv), .events = POLLIN };
	void *r;
	int n = 0;

	if (p.fd < 0)
		return 0;
	/* only what is there now: poll first, so a read never waits */
	while (poll(&p, 1, 0) > 0) {
		if (redisBufferRead(kv->c) != REDIS_OK) {
			kv_lost(kv);
			return -1;
		}
		while (redisGetReplyFromReader(kv->c, &r) == REDIS_OK && r) {
			n++;
			freeReplyObject(r);
		}
	}
	return n;
}

int kv_ping(struct kv *kv)
{
	const char *argv[] = { "PING" };
	redisReply *r = kv_command(kv, 1, argv, NULL);
	int rc = r && r->type == REDIS_REPLY_STATUS ? 0 : ERR_UNAVAILABLE;

	if (r)
		freeReplyObject(r);
	return rc;
}

int kv_pipeline_replies(struct kv *kv, int n, const int *argcs, const char *const *const *argvs,
			redisReply **replies)
{
	bool retried = false;
	int got = 0;

	kv_connect(kv);
	if (!kv->c)
		return ERR_UNAVAILABLE;
again:
	for (int i = 0; i < n; i++)
		if (redisAppendCommandArgv(kv->c, argcs[i], (const char **)argvs[i], NULL) != REDIS_OK)
			goto lost;
	for (got = 0; got < n; got++) {
		redisReply *r;
		errno = 0;
		if (redisGetReply(kv->c, (void **)&r) != REDIS_OK || !r) {
			/* nothing answered yet on a connection Redis closed: none ran */
			if (!got && !retried && kv_closed_by_peer(kv, errno) && kv_reopen(kv)) {
				retried = true;
				goto again;
			}
			goto lost;
		}
		replies[got] = r;
	}
	return 0;
lost:
	while (got > 0)
		freeReplyObject(replies[--got]);
	if (kv->c)
		kv_lost(kv);
	return ERR_UNAVAILABLE;
}

int kv_pipeline(struct kv *kv, int n, const int *argcs, const char *const *const *argvs)
{
	redisReply **replies = calloc((size_t)n + 1, sizeof(*replies));
	int rc;

	if (!replies)
		return ERR_INTERNAL;
	if (!(rc = kv_pipeline_replies(kv, n, argcs, argvs, replies)))
		for (int i = 0; i < n; i++) {
			if (replies[i]->type == REDIS_REPLY_ERROR) {
				log_warn(NULL, "redis refused a pipelined command: %s", replies[i]->str);
				rc = ERR_INTERNAL;
			}
			freeReplyObject(replies[i]);
		}
	free(replies);
	return rc;
}
