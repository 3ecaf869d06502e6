#include "kv.h"

#include "err.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct kv {
	redisContext *c;
	char *addr;
	time_t last_try;
	unsigned generation;	/* connections made so far */
};

static void kv_connect(struct kv *kv)
{
	struct timeval tv = { 1, 0 };
	time_t now = time(NULL);

	if (kv->c || now == kv->last_try)
		return;
	kv->last_try = now;
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
	if (kv->c && kv->c->err) {
		log_warn(NULL, "cannot connect to redis at %s: %s", kv->addr,
			 kv->c->errstr);
		redisFree(kv->c);
		kv->c = NULL;
	} else if (kv->c) {
		redisSetTimeout(kv->c, tv);
		kv->generation++;
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

redisReply *kv_command(struct kv *kv, int argc, const char **argv,
		       const size_t *lens)
{
	redisReply *r;

	kv_connect(kv);
	if (!kv->c)
		return NULL;
	r = redisCommandArgv(kv->c, argc, argv, lens);
	if (!r) {
		log_warn(NULL, "redis connection lost: %s", kv->c->errstr);
		redisFree(kv->c);
		kv->c = NULL;
	}
	return r;
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

int kv_pipeline(struct kv *kv, int n, const int *argcs, const char *const *const *argvs)
{
	int rc = 0;

	kv_connect(kv);
	if (!kv->c)
		return ERR_UNAVAILABLE;
	for (int i = 0; i < n; i++)
		if (redisAppendCommandArgv(kv->c, argcs[i], (const char **)argvs[i], NULL) != REDIS_OK)
			goto lost;
	for (int i = 0; i < n; i++) {
		redisReply *r;
		if (redisGetReply(kv->c, (void **)&r) != REDIS_OK || !r)
			goto lost;
		if (r->type == REDIS_REPLY_ERROR) {
			log_warn(NULL, "redis refused a pipelined command: %s", r->str);
			rc = ERR_INTERNAL;
		}
		freeReplyObject(r);
	}
	return rc;
lost:
	log_warn(NULL, "redis connection lost: %s", kv->c->errstr);
	redisFree(kv->c);
	kv->c = NULL;
	return ERR_UNAVAILABLE;
}
