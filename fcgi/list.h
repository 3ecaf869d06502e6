/*
 * list.h - the paginated list answer {"items": [...], "next_cursor": …}
 * built from rows whose column 0 is an item's JSON text.
 */
#ifndef CHAT4ALL_LIST_H
#define CHAT4ALL_LIST_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "req.h"

/*
 * list_reply - answer 200 with the rows of @res as items. When the page is
 * full (@limit rows), next_cursor is @cursor (copied), else null.
 * @reverse lists the rows last to first.
 */
int list_reply(struct req *r, PGresult *res, int limit, const char *cursor,
	       bool reverse);

#endif
