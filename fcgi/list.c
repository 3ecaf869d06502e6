#include "list.h"

#include "../lib/err.h"
#include "../lib/validate.h"

#include <stdio.h>

#include <stdlib.h>
#include <string.h>

int list_reply(struct req *r, PGresult *res, int limit, const char *cursor,
	       bool reverse)
{
	int n = PQntuples(res);
	size_t len = 64 + (cursor ? strlen(cursor) * 2 : 0);
	char *out, *p;

	for (int i = 0; i < n; i++)
		len += (size_t)PQgetlength(res, i, 0) + 1;
	if (!(out = malloc(len)))
		return ERR_INTERNAL;
	p = stpcpy(out, "{\"items\":[");
	for (int i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		p = stpcpy(p, PQgetvalue(res, reverse ? n - 1 - i : i, 0));
	}
	p = stpcpy(p, "],\"next_cursor\":");
	if (n == limit && cursor) {
		/* cursors are made of [A-Za-z0-9_.:-] and need no escaping */
		*p++ = '"';
		p = stpcpy(p, cursor);
		*p++ = '"';
	} else {
		p = stpcpy(p, "null");
	}
	strcpy(p, "}");
	return req_reply_take(r, 200, out);
}

void list_time_cursor(struct req *r, char micros[24], char id[37])
{
	char cursor[80];
	const char *us;

	strcpy(micros, "0");
	id[0] = '\0';
	if (!req_query(r, "cursor", cursor, sizeof(cursor)))
		return;
	us = strchr(cursor, '_');
	if (!us || us == cursor || us - cursor >= 24 ||
	    strspn(cursor, "0123456789") != (size_t)(us - cursor) || !validate_uuid(us + 1)) {
		req_field_error(r, "cursor", "is not a cursor of this list");
		return;
	}
	snprintf(micros, 24, "%.*s", (int)(us - cursor), cursor);
	snprintf(id, 37, "%s", us + 1);
}

int list_reply_by_time(struct req *r, PGresult *res, int limit)
{
	int n = PQntuples(res);
	char next[80];

	if (n)
		snprintf(next, sizeof(next), "%s_%s", PQgetvalue(res, n - 1, 1),
			 PQgetvalue(res, n - 1, 2));
	return list_reply(r, res, limit, n ? next : NULL, false);
}

int list_query_by_time(struct req *r, enum sql_stmt stmt, const char *const *params, int limit)
{
	PGresult *res = NULL;
	int rc = db_exec(r->app->db, stmt, params, &res);

	if (!rc)
		rc = list_reply_by_time(r, res, limit);
	PQclear(res);
	return rc;
}
