/*
 * send_batch.h - group commit of sends. A responder serves several
 * requests at once (api_threads, fcgi/main.c); the sends among them go to
 * the process's one writer thread, which commits everything waiting in
 * one transaction, then tells each sender's devices and wakes the workers
 * in one Redis round trip, then answers each request's thread.
 *
 * There is no timer: a batch is whatever arrived while the previous one
 * was committing. A lone send commits at once; under load each commit (and
 * its WAL flush, its round trips, its context switches) carries dozens.
 */
#ifndef CHAT4ALL_SEND_BATCH_H
#define CHAT4ALL_SEND_BATCH_H

#include "../lib/conf.h"
#include "../lib/db.h"
#include "../lib/kv.h"

#include <stdbool.h>

/* One send, as SQL_MSG_SEND's parameters; the answer comes back in it. */
struct send {
	const char *id, *conv, *sender, *client, *text, *file, *req;
	const char *trace;	/* the request's span (a traceparent) */
	const char *channels;	/* a text[] literal, or NULL: everywhere */
	/* when not NULL, the writer takes a token from this bucket and checks
	 * the sign-in @sid has not ended, for the whole batch in one round
	 * trip (what routes.c's authenticate does for other limited routes) */
	const char *bucket, *sid;
	double rate;
	long burst;
	/* the answer: rc 0 with send_message()'s outcome and body (malloc'd,
	 * send_clear frees them), or the error (ERR_RATELIMITED with
	 * retry_after, ERR_AUTH for an ended sign-in, ...) */
	int rc, retry_after;
	bool refused;		/* by its token or its sign-in, not the database */
	char *outcome, *body;
	/* the writer's */
	int n;
	bool done;
	struct send *next;
};

struct send_batch;

/* send_batch_start - the writer thread with its own connections; NULL
 * (sends then commit one by one in their own threads) when it cannot. */
struct send_batch *send_batch_start(const struct conf *conf);

/* send_commit - commits @s and tells its sender's devices and the workers
 * of a new message: through @b when there is one, else alone on @db and
 * @kv (the caller's connections). Returns s->rc. */
int send_commit(struct send_batch *b, struct db *db, struct kv *kv, struct send *s);

/* send_clear - frees the answer of @s. */
void send_clear(struct send *s);

#endif
