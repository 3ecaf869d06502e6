/*
 * revocation.h - ended sign-ins, whose access tokens must stop working
 * before they expire (sign-out, a refresh token reused, …).
 *
 * PostgreSQL is the truth (refresh_tokens.revoked_at of the sign-in's
 * family); Redis holds a mark per ended sign-in (c4a:revoked:<sid>) for
 * as long as its access tokens could live, so that checking a request
 * costs no database round trip. Never fails open: when Redis cannot be
 * asked, PostgreSQL is; and a Redis that was away (or lost its data) is
 * told again what ended meanwhile, once per reconnection.
 */
#ifndef CHAT4ALL_REVOCATION_H
#define CHAT4ALL_REVOCATION_H

#include "db.h"
#include "kv.h"

#include <stdbool.h>

/* revocation_ttl - how long an ended sign-in's mark lives: as long as
 * an access token of it could (@access_ttl), and a minute of clock skew. */
static inline long revocation_ttl(long access_ttl)
{
	return access_ttl + 60;
}

/* revocation_key - the Redis key that marks sign-in @sid as ended. */
void revocation_key(const char *sid, char out[64]);

/*
 * revocation_mark - tells Redis (and through it every stream gateway)
 * that sign-in @sid ended; its mark lives @ttl seconds (the access
 * tokens' lifetime and a margin). The database row is the caller's.
 * 0, or ERR_UNAVAILABLE when Redis cannot be reached (the next
 * revocation_sync after it returns writes the mark).
 */
int revocation_mark(struct kv *kv, const char *sid, long ttl);

/*
 * revocation_check - 0 when sign-in @sid is live, ERR_AUTH when it ended,
 * ERR_UNAVAILABLE when neither Redis nor PostgreSQL can say. Asks Redis,
 * or the database when Redis is away.
 */
int revocation_check(struct db *db, struct kv *kv, const char *sid);

/* revocation_in_db - the same question asked of PostgreSQL only. */
int revocation_in_db(struct db *db, const char *sid);

/*
 * revocation_sync - when @kv has (re)connected since the last call, marks
 * in Redis every sign-in that ended within @ttl seconds, and publishes
 * each on KV_SIGNIN_ENDED (the gateways end its streams). Cheap otherwise
 * (a counter compared). Call before trusting Redis's answer. The pipeline
 * workers call it every second, so that a Redis that came back is told
 * promptly even when no request comes.
 */
void revocation_sync(struct db *db, struct kv *kv, long ttl);

#endif
