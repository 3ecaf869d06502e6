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

/*
 * Lists ordered by (time, id) page with the cursor "<µs since 1970>_<uuid>":
 * list_time_cursor reads ?cursor= into @micros ("0" when absent) and @id
 * ("" when absent), recording a field error when it is not one of ours;
 * list_reply_by_time answers with rows whose columns 1 and 2 are the time
 * in µs and the id, making the next cursor of the last row.
 */
void list_time_cursor(struct req *r, char micros[24], char id[37]);
int list_reply_by_time(struct req *r, PGresult *res, int limit);

/* list_query_by_time - run @stmt with @params and answer its rows as above. */
int list_query_by_time(struct req *r, enum sql_stmt stmt, const char *const *params, int limit);

#endif
