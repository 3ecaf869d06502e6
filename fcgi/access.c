#include "access.h"

#include "../lib/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check(struct req *r, enum sql_stmt stmt, const char *id, struct access *a)
{
	const char *params[] = { id, r->user.user_id };
	PGresult *res = NULL;
	int rc;

	if ((rc = db_exec(r->app->db, stmt, params, &res)))
		goto out;
	if (!PQntuples(res)) {
		req_detail(r, "conversation %s does not exist", id);
		rc = ERR_NOTFOUND;
	} else if (PQgetisnull(res, 0, 1)) {
		req_detail(r, "you are not a member of conversation %s", id);
		rc = ERR_FORBIDDEN;
	} else {
		snprintf(a->type, sizeof(a->type), "%s", PQgetvalue(res, 0, 0));
		snprintf(a->role, sizeof(a->role), "%s", PQgetvalue(res, 0, 1));
		a->members = PQnfields(res) > 2 ? atol(PQgetvalue(res, 0, 2)) : 0;
	}
out:
	PQclear(res);
	return rc;
}

int access_conversation(struct req *r, const char *id, struct access *a)
{
	return check(r, SQL_CONV_ACCESS, id, a);
}

int access_lock(struct req *r, const char *id, struct access *a)
{
	return check(r, SQL_CONV_LOCK, id, a);
}

int access_admin(struct req *r)
{
	const char *params[] = { r->user.user_id };
	PGresult *res = NULL;
	int rc = db_exec(r->app->db, SQL_USER_ROLE, params, &res);

	if (!rc && (!PQntuples(res) || strcmp(PQgetvalue(res, 0, 0), "admin"))) {
		req_detail(r, "only admins may do this");
		rc = ERR_FORBIDDEN;
	}
	PQclear(res);
	return rc;
}
