/*
 * revocation.c - see revocation.h.
 */
#include "kv_keys.h"
#include "revocation.h"

#include "err.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void revocation_key(const char *sid, char out[64])
{
	snprintf(out, 64, KV_REVOKED, sid);
}

int revocation_mark(struct kv *kv, const char *sid, long ttl)
{
	char key[64], ttl_s[24];

	revocation_key(sid, key);
	snprintf(ttl_s, sizeof(ttl_s), "%ld", ttl);
	const char *set[] = { "SET", key, "1", "EX", ttl_s };
	const char *pub[] = { "PUBLISH", KV_SIGNIN_ENDED, sid };
	const int argcs[] = { 5, 3 };
	const char *const *argvs[] = { set, pub };
	int rc = kv_pipeline(kv, 2, argcs, argvs);

	if (rc)
		log_warn(NULL, "redis unavailable: the end of sign-in %s is in the database only "
			       "until it returns", sid);
	return rc;
}

int revocation_in_db(struct db *db, const char *sid)
{
	const char *params[] = { sid };
	PGresult *res = NULL;
	int rc = db_exec(db, SQL_SIGNIN_ENDED, params, &res);

	if (!rc)
		rc = PQntuples(res) && !strcmp(PQgetvalue(res, 0, 0), "t") ? ERR_AUTH : 0;
	else
		rc = ERR_UNAVAILABLE;
	PQclear(res);
	return rc;
}

int revocation_check(struct db *db, struct kv *kv, const char *sid)
{
	char key[64];
	redisReply *rep;

	revocation_key(sid, key);
	unsigned gen = kv_generation(kv);
	const char *argv[] = { "EXISTS", key };
	/* a connection made during the check (Redis came back) reached a Redis
	 * not yet told what ended while it was away: the database says */
	if (!(rep = kv_command(kv, 2, argv, NULL)) || rep->type != REDIS_REPLY_INTEGER ||
	    kv_generation(kv) != gen) {
		if (rep)
			freeReplyObject(rep);
		return revocation_in_db(db, sid);
	}
	int rc = rep->integer > 0 ? ERR_AUTH : 0;
	freeReplyObject(rep);
	return rc;
}

void revocation_sync(struct db *db, struct kv *kv, long ttl)
{
	static _Thread_local unsigned synced;	/* @kv is the thread's own */
	unsigned gen = kv_generation(kv);
	char ttl_s[24];
	PGresult *res = NULL;
	int n = 0;

	if (!gen || gen == synced)
		return;
	snprintf(ttl_s, sizeof(ttl_s), "%ld", ttl);
	const char *params[] = { ttl_s };
	if (db_exec(db, SQL_SIGNINS_ENDED_SINCE, params, &res)) {
		PQclear(res);
		return;	/* tried again on the next call */
	}
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		char key[64];
		revocation_key(PQgetvalue(res, i, 0), key);
		/* the mark, and the news: a stream gateway (which has no
		 * database) may hold streams of it opened while Redis knew
		 * nothing, and ends them when it hears */
		const char *set[] = { "SET", key, "1", "EX", PQgetvalue(res, i, 1) };
		const char *pub[] = { "PUBLISH", KV_SIGNIN_ENDED, PQgetvalue(res, i, 0) };
		const int argcs[] = { 5, 3 };
		const char *const *argvs[] = { set, pub };
		if (kv_pipeline(kv, 2, argcs, argvs)) {
			PQclear(res);
			return;	/* away again: the next generation syncs */
		}
	}
	PQclear(res);
	synced = gen;
	if (n)
		log_info(NULL, "redis told again of %d ended sign-ins", n);
}
