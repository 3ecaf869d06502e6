#include "notify.h"

#include "../lib/events.h"

#include <stdlib.h>
#include <string.h>

void notify_user(struct req *r, const char *user, const char *event, const char *data)
{
	const char *users[] = { user };

	events_emit(r->app->kv, users, 1, event, data, true);
}

void notify_members(struct req *r, const char *conv, const char *except, const char *event,
		    const char *data, bool stored)
{
	struct events_batch *b = events_batch_new();

	notify_members_add(r, b, conv, except, event, data, stored);
	events_batch_send(r->app->kv, b);
}

void notify_members_add(struct req *r, struct events_batch *b, const char *conv, const char *except,
			const char *event, const char *data, bool stored)
{
	const char *params[] = { conv };
	PGresult *res = NULL;
	const char **users = NULL;
	int n = 0;

	if (db_exec(r->app->db, SQL_MEMBER_IDS, params, &res))
		return;
	users = calloc((size_t)PQntuples(res) + 1, sizeof(*users));
	for (int i = 0; users && i < PQntuples(res); i++)
		if (!except || strcmp(PQgetvalue(res, i, 0), except))
			users[n++] = PQgetvalue(res, i, 0);
	if (users)
		events_batch_add(b, users, n, event, data, stored);
	free(users);
	PQclear(res);
}
