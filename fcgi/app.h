/*
 * app.h - what one API process holds for its whole life: configuration,
 * its PostgreSQL and Redis connections, its metrics slot.
 */
#ifndef CHAT4ALL_APP_H
#define CHAT4ALL_APP_H

#include "../lib/auth.h"
#include "../lib/conf.h"
#include "../lib/db.h"
#include "../lib/kv.h"
#include "../lib/metrics.h"

struct app {
	struct conf conf;
	struct db *db;
	struct kv *kv;
	struct metrics *metrics;
	/* a password hash of nothing, at the configured cost: a sign-in with
	 * an unknown name is verified against it (the same time as a wrong
	 * password); made once at start, not inside a flood */
	char dummy_hash[AUTH_HASH_MAX];
};

#endif
