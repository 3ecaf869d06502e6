/*
 * notify.h - the API's live events (lib/events.h) to a user or to the
 * members of a conversation. Called after the change has committed; a
 * failure is logged and never fails the request: the change is in
 * PostgreSQL, and clients resync from there.
 */
#ifndef CHAT4ALL_NOTIFY_H
#define CHAT4ALL_NOTIFY_H

#include <stdbool.h>

#include "req.h"
#include "../lib/events.h"

void notify_user(struct req *r, const char *user, const char *event, const char *data);

/* notify_members - every member of @conv but @except (may be NULL). */
void notify_members(struct req *r, const char *conv, const char *except, const char *event,
		    const char *data, bool stored);

/* notify_members_add - the same, added to @b (sent by the caller). */
void notify_members_add(struct req *r, struct events_batch *b, const char *conv, const char *except,
			const char *event, const char *data, bool stored);

#endif
