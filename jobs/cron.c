/*
 * cron.c - housekeeping that no request triggers (chat4all-jobs cron):
 *   - unfinished uploads past their Upload-Expires: row, quota and bytes;
 *   - orphaned bytes: a stored file with no row (a crash between a row's
 *     deletion and the unlink, or before an upload's row committed),
 *     once older than ORPHAN_GRACE so that no upload in flight is touched;
 *   - refresh tokens a day past their expiry, audit rows past
 *     audit_retention, and the replay streams of contacts in Redis (a
 *     contact never reads one: events for it are not kept).
 * Runs once, or every N seconds until SIGTERM.
 */
#include "jobs.h"

#include "../lib/err.h"
#include "../lib/events.h"
#include "../lib/filestore.h"
#include "../lib/log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXPIRE_BATCH "500"
#define ORPHAN_GRACE 3600	/* seconds */
#define ORPHAN_BATCH 500

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static int expire_uploads(struct worker *w, long *removed)
{
	const char *params[] = { EXPIRE_BATCH };
	PGresult *res = NULL;
	int rc, n;

	do {
		if ((rc = db_exec(w->db, SQL_FILES_EXPIRE, params, &res)))
			return rc;
		n = PQntuples(res);
		for (int i = 0; i < n; i++)
			if (filestore_remove(w->conf.files_dir, PQgetvalue(res, i, 0)))
				log_warn(NULL, "expired upload %s: cannot remove its bytes",
					 PQgetvalue(res, i, 0));
		*removed += n;
		PQclear(res);
	} while (n == atoi(EXPIRE_BATCH) && !stopping);
	return 0;
}

/* Orphan candidates gather here and are checked against the table in
 * batches. */
struct orphans {
	struct worker *w;
	char ids[ORPHAN_BATCH][37];
	int n;
	long removed;
	int rc;
};

static void orphans_check(struct orphans *o)
{
	struct db_array arr = { 0 };
	PGresult *res = NULL;

	if (!o->n)
		return;
	for (int i = 0; i < o->n; i++)
		db_array_add(&arr, o->ids[i]);
	const char *params[] = { db_array_str(&arr) };
	if (params[0] && (o->rc = db_exec(o->w->db, SQL_FILES_UNKNOWN, params, &res)) == 0)
		for (int i = 0; i < PQntuples(res); i++) {
			if (!filestore_remove(o->w->conf.files_dir, PQgetvalue(res, i, 0)))
				o->removed++;
		}
	PQclear(res);
	db_array_free(&arr);
	o->n = 0;
}

static void orphan_seen(const char *path, const char *id, long age, void *arg)
{
	struct orphans *o = arg;
	(void)path;

	if (age < ORPHAN_GRACE || o->rc)
		return;
	if (strpbrk(id, "ABCDEF") || strncmp(path + strlen(path) - 36 - 6, id + 32, 2) ||
	    strncmp(path + strlen(path) - 36 - 3, id + 34, 2)) {
		/* not where the store puts it (an older version wrote upper-case
		 * ids as files of their own): no row can ever name it */
		if (!unlink(path))
			o->removed++;
		return;
	}
	snprintf(o->ids[o->n++], 37, "%s", id);
	if (o->n == ORPHAN_BATCH)
		orphans_check(o);
}

/* Rows that only grow: refresh tokens long expired, old audit rows. */
static int prune_rows(struct worker *w, long *tokens, long *audits)
{
	char keep[24];
	PGresult *res = NULL;
	int rc;

	if ((rc = db_exec(w->db, SQL_REFRESH_PRUNE, NULL, &res)))
		return rc;
	*tokens = atol(PQcmdTuples(res));
	PQclear(res);
	snprintf(keep, sizeof(keep), "%ld", w->conf.audit_retention);
	const char *params[] = { keep };
	if ((rc = db_exec(w->db, SQL_AUDIT_PRUNE, params, &res)))
		return rc;
	*audits = atol(PQcmdTuples(res));
	PQclear(res);
	return 0;
}

/* Contacts' replay streams: whatever put events there (a status of a
 * message a contact sent), no one will read them. */
static int prune_contact_streams(struct worker *w, long *removed)
{
	char after[37] = "00000000-0000-0000-0000-000000000000";
	int n;

	do {
		PGresult *res = NULL;
		const char *params[] = { after, "500" };
		int rc = db_exec(w->db, SQL_CONTACTS_AFTER, params, &res);
		if (rc)
			return rc;
		n = PQntuples(res);
		char (*keys)[64] = n ? calloc((size_t)n, sizeof(*keys)) : NULL;
		const char **argv = n ? calloc((size_t)n + 1, sizeof(*argv)) : NULL;
		if (n && (!keys || !argv)) {
			free(keys);
			free(argv);
			PQclear(res);
			return ERR_INTERNAL;
		}
		if (n) {
			argv[0] = "UNLINK";
			for (int i = 0; i < n; i++) {
				events_stream_key(PQgetvalue(res, i, 0), keys[i]);
				argv[i + 1] = keys[i];
			}
			snprintf(after, sizeof(after), "%s", PQgetvalue(res, n - 1, 0));
			redisReply *rep = kv_command(w->kv, n + 1, argv, NULL);
			if (rep && rep->type == REDIS_REPLY_INTEGER)
				*removed += rep->integer;
			if (rep)
				freeReplyObject(rep);
		}
		free(keys);
		free(argv);
		PQclear(res);
	} while (n == 500 && !stopping);
	return 0;
}

static int cron_once(struct worker *w)
{
	struct orphans *o = calloc(1, sizeof(*o));
	long expired = 0;
	int rc;

	if (!o)
		return ERR_INTERNAL;
	o->w = w;
	if ((rc = expire_uploads(w, &expired)))
		log_error(NULL, "cron: expiring uploads failed: %s", db_sqlstate(w->db));
	if (!rc && !(rc = filestore_walk(w->conf.files_dir, orphan_seen, o)))
		orphans_check(o);
	if (!rc)
		rc = o->rc;
	long tokens = 0, audits = 0, streams = 0;
	if (!rc && (rc = prune_rows(w, &tokens, &audits)))
		log_error(NULL, "cron: pruning failed: %s", db_sqlstate(w->db));
	if (!rc && (rc = prune_contact_streams(w, &streams)))
		log_error(NULL, "cron: pruning contacts' streams failed");
	log_info(NULL, "cron: %ld expired uploads and %ld orphaned files removed; %ld refresh tokens, "
		 "%ld audit rows and %ld contacts' streams pruned%s", expired, o->removed, tokens,
		 audits, streams, rc ? " (stopped by an error)" : "");
	free(o);
	return rc;
}

int cron_run(struct worker *w, int every)
{
	struct sigaction sa = { .sa_handler = on_term };
	int rc;

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	do {
		rc = cron_once(w);
		for (int i = 0; i < every && !stopping; i++)
			sleep(1);
	} while (every > 0 && !stopping);
	return every > 0 ? 0 : rc;
}
