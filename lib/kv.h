/*
 * kv.h - one synchronous Redis connection ("unix:/path" or "host:port").
 * Redis is speed, never truth: a caller that cannot reach it decides
 * whether to go on without it. A broken connection is reopened on the next
 * command, at most once a second.
 */
#ifndef CHAT4ALL_KV_H
#define CHAT4ALL_KV_H

#include <hiredis.h>
#include <stddef.h>

struct kv;

struct kv *kv_open(const char *addr);	/* never NULL unless out of memory */
void kv_free(struct kv *kv);

/*
 * kv_command - run one command, argv style. Returns the reply (the caller
 * freeReplyObject()s it; a Redis error is a REDIS_REPLY_ERROR reply) or
 * NULL when Redis cannot be reached.
 */
redisReply *kv_command(struct kv *kv, int argc, const char **argv,
		       const size_t *lens);

/*
 * kv_pipeline - send @n commands (argv style, @argcs[i] words each) in one
 * round trip and discard the replies. Returns 0, or ERR_UNAVAILABLE when
 * Redis cannot be reached, or ERR_INTERNAL when a command was refused.
 */
int kv_pipeline(struct kv *kv, int n, const int *argcs, const char *const *const *argvs);
/* kv_pipeline_replies - the same, keeping each reply in @replies[i] (the
 * caller freeReplyObject()s them; a refused command is a REDIS_REPLY_ERROR
 * reply). Returns 0, or ERR_UNAVAILABLE with no replies kept. */
int kv_pipeline_replies(struct kv *kv, int n, const int *argcs, const char *const *const *argvs,
			redisReply **replies);

/* kv_generation - how many times the connection was made (it changes
 * after each reconnection), or 0 while Redis cannot be reached. What
 * Redis may have missed while away is resent when this changes. */
unsigned kv_generation(struct kv *kv);

/*
 * A connection that listens: kv_subscribe (re)subscribes it to @channel
 * when it is not (a lost connection is reopened, at most once a second);
 * kv_fd is its socket to poll (-1 while Redis cannot be reached); kv_drain
 * reads what arrived without waiting for more and says how many messages
 * it was (-1: the connection was lost).
 */
int kv_subscribe(struct kv *kv, const char *channel);
int kv_fd(struct kv *kv);
int kv_drain(struct kv *kv);

/* kv_ping - 0 when Redis answers PING, or ERR_UNAVAILABLE. */
int kv_ping(struct kv *kv);

#endif
