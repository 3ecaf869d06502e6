#include "audit.h"

#include "log.h"

void audit_write(struct db *db, const char *actor, const char *action,
		 const char *subject, const char *ip, const char *detail_json)
{
	const char *params[] = { actor, action, subject, ip, detail_json };
	PGresult *r;

	if (db_exec(db, SQL_AUDIT_INSERT, params, &r))
		log_error(NULL, "audit record '%s' for '%s' was not written", action,
			  subject ? subject : "");
	PQclear(r);
}
