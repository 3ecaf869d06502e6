/*
 * cron.c - housekeeping that no request triggers (chat4all-jobs cron):
 *   - unfinished uploads past their Upload-Expires: row, quota and bytes;
 *   - orphaned bytes: a stored file with no row (a crash between a row's
 *     deletion and the unlink, or before an upload's row committed),
 *     once older than ORPHAN_GRACE so that no upload in flight is touched.
 * Runs once, or every N seconds until SIGTERM.
 */
#include "stage.h"

#include "../lib/err.h"
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
	size_t len = 3 + (size_t)o->n * 38;
	char *arr = malloc(len), *p = arr;
	PGresult *res = NULL;

	if (!o->n || !arr) {
		free(arr);
		o->n = 0;
		return;
	}
	*p++ = '{';
	for (int i = 0; i < o->n; i++)
		p += sprintf(p, "%s%s", i ? "," : "", o->ids[i]);
	strcpy(p, "}");
	const char *params[] = { arr };
	if ((o->rc = db_exec(o->w->db, SQL_FILES_UNKNOWN, params, &res)) == 0)
		for (int i = 0; i < PQntuples(res); i++) {
			if (!filestore_remove(o->w->conf.files_dir, PQgetvalue(res, i, 0)))
				o->removed++;
		}
	PQclear(res);
	free(arr);
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
	log_info(NULL, "cron: %ld expired uploads and %ld orphaned files removed%s", expired,
		 o->removed, rc ? " (stopped by an error)" : "");
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
