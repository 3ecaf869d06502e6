/*
 * access.h - the membership check every conversation route starts with.
 */
#ifndef CHAT4ALL_ACCESS_H
#define CHAT4ALL_ACCESS_H

#include "req.h"

struct access {
	char type[16];		/* private | group */
	char role[16];		/* admin | member */
	long members;		/* with access_lock only */
};

/*
 * access_conversation - ERR_NOTFOUND when conversation @id does not exist,
 * ERR_FORBIDDEN when the caller is not a member, else 0 and @a filled.
 * access_lock does the same inside a transaction, holding the
 * conversation's row until it ends and counting its members.
 */
int access_conversation(struct req *r, const char *id, struct access *a);
int access_lock(struct req *r, const char *id, struct access *a);

/* access_admin - 0 when the caller is an admin now (the role is read from
 * the database, not the token: a demotion takes effect at once), else
 * ERR_FORBIDDEN. */
int access_admin(struct req *r);

#endif
