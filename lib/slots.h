/*
 * slots.h - a few places of one kind shared by every process: at most @n
 * holders at once of the slots named @name, across all responders. Each
 * slot is a PostgreSQL session advisory lock (key: the name's hash,
 * slot number): a process that dies lets go of it with its connection, so
 * no slot is ever lost.
 *
 * Used for what costs a responder a long time: an upload's bytes (per
 * user) and password hashing (for everyone).
 */
#ifndef CHAT4ALL_SLOTS_H
#define CHAT4ALL_SLOTS_H

#include "db.h"

/*
 * slots_take - one of @n slots of @name, waiting up to @wait_ms for one to
 * be free. The slot (>= 0) to give back, ERR_RATELIMITED when all stayed
 * taken, or ERR_DB.
 */
int slots_take(struct db *db, const char *name, long n, long wait_ms);

/* slots_give - gives slot @slot of @name back; a negative @slot is none. */
void slots_give(struct db *db, const char *name, int slot);

#endif
