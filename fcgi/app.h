/*
 * app.h - what one request thread of an API process holds for its whole
 * life: configuration, its own PostgreSQL and Redis connections, and what
 * the process's threads share: its metrics slot and its send writer.
 */
#ifndef CHAT4ALL_APP_H
#define CHAT4ALL_APP_H

#include "../lib/auth.h"
#include "../lib/conf.h"
#include "../lib/db.h"
#include "../lib/kv.h"
#include "../lib/metrics.h"

struct send_batch;

struct app {
	struct conf conf;
	struct db *db;
	struct kv *kv;
	struct metrics *metrics;
	struct send_batch *sends;	/* NULL: each send commits alone */
	/* a password hash of nothing, at the configured cost: a sign-in with
	 * an unknown name is verified against it (the same time as a wrong
	 * password); made once at start, not inside a flood */
	char dummy_hash[AUTH_HASH_MAX];
};

#endif
