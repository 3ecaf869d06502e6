/*
 * slots.c - see slots.h.
 */
#include "slots.h"

#include "clock.h"
#include "err.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define POLL_MS 10	/* a taken slot is tried again this often */

int slots_take(struct db *db, const char *name, long n, long wait_ms)
{
	long long deadline = clock_ms() + wait_ms;
	char slot[24];

	for (;;) {
		for (long i = 0; i < n; i++) {
			PGresult *res = NULL;
			snprintf(slot, sizeof(slot), "%ld", i);
			const char *params[] = { name, slot };
			int rc = db_exec(db, SQL_SLOT_TAKE, params, &res);
			bool got = !rc && PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 0), "t");
			PQclear(res);
			if (rc)
				return rc;
			if (got)
				return (int)i;
		}
		if (clock_ms() + POLL_MS > deadline)
			return ERR_RATELIMITED;
		usleep(POLL_MS * 1000);
	}
}

void slots_give(struct db *db, const char *name, int slot)
{
	char s[24];
	PGresult *res = NULL;

	if (slot < 0)
		return;
	snprintf(s, sizeof(s), "%d", slot);
	const char *params[] = { name, s };
	db_exec(db, SQL_SLOT_GIVE, params, &res);
	PQclear(res);
}
