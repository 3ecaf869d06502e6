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
	const char *channels;	/* a text[] literal, or NULL: everywhere */
	/* the answer: rc 0 with send_message()'s outcome and body (malloc'd,
	 * send_clear frees them), or the error */
	int rc;
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
