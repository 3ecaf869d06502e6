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
#include <stdlib.h>
#include <string.h>

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

/* Every conversation of the batch once, in id order, in one statement. */
static int apply_batch(struct worker *w, struct job *jobs, int n)
{
	size_t len = 3 + (size_t)n * 40;
	char *keys = malloc(len), *p = keys;
	PGresult *res = NULL;
	int rc;

	if (!keys)
		return ERR_INTERNAL;
	*p++ = '{';
	for (int i = 0; i < n; i++) {
		if (!validate_uuid(jobs[i].key)) {
			snprintf(w->error, sizeof(w->error), "key '%s' is not a conversation",
				 jobs[i].key);
			free(keys);
			return ERR_VALIDATION;
		}
		if (i && !strcmp(jobs[i].key, jobs[i - 1].key))
			continue;	/* the batch is sorted by key */
		p += sprintf(p, "%s%s", p > keys + 1 ? "," : "", jobs[i].key);
	}
	strcpy(p, "}");
	const char *params[] = { keys };
	if ((rc = db_exec(w->db, SQL_RELEASE_MANY, params, &res)))
		snprintf(w->error, sizeof(w->error), "release failed: %s", db_sqlstate(w->db));
	PQclear(res);
	free(keys);
	return rc;
}

const struct stage stage_release = {
	.kind = "release", .apply = apply, .apply_once_per_key = true, .max_batch = 16,
	.apply_batch = apply_batch,
};
