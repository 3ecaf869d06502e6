#include "list.h"

#include "../lib/err.h"

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
