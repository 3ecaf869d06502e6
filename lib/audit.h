/*
 * audit.h - the audit log: sign-ins, failed sign-ins, token reuse,
 * moderation overrides, admin acts. A failure to write one is logged, never
 * hidden, but does not undo the act it records.
 */
#ifndef CHAT4ALL_AUDIT_H
#define CHAT4ALL_AUDIT_H

#include "db.h"

/* audit_write - @actor may be NULL (unknown user); @detail_json may be NULL. */
void audit_write(struct db *db, const char *actor, const char *action,
		 const char *subject, const char *ip, const char *detail_json);

#endif
