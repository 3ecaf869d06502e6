/*
 * j_release.c - the release stage: advance the conversation's watermark
 * over every contiguous decided message, in seq order, so that recipients
 * never see seq n+1 before seq n however moderation finished
 * (release_conversation() in migrations/0003). Idempotent by construction.
 */
#include "stage.h"

#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/validate.h"

#include <stdio.h>

static int apply(struct worker *w, struct job *j)
{
	PGresult *res = NULL;
	int rc;

	if (!validate_uuid(j->key)) {
		snprintf(w->error, sizeof(w->error), "key '%s' is not a conversation", j->key);
		return ERR_VALIDATION;
	}
	const char *params[] = { j->key };
	if ((rc = db_exec(w->db, SQL_RELEASE, params, &res))) {
		snprintf(w->error, sizeof(w->error), "release failed: %s", db_sqlstate(w->db));
		return rc;
	}
	PQclear(res);
	return 0;
}

const struct stage stage_release = { "release", NULL, apply, NULL, true };
