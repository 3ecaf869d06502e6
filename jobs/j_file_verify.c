/*
 * j_file_verify.c - the last byte of an upload came: compute the whole
 * file's SHA-256 off the request path, compare it with what the client
 * said it would be, and make the file `ready` (sendable) or `corrupt`.
 * The owner hears of it as a `file` event.
 *
 * Reading a 2 GiB file takes seconds: one job per batch, and the lease
 * (worker_lease) must outlast the slowest disk's read of the largest file.
 */
#include "jobs.h"

#include "../lib/err.h"
#include "../lib/events.h"
#include "../lib/filestore.h"
#include "../lib/log.h"
#include "../lib/validate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What prepare found, for apply and after_commit. */
struct file_check {
	bool pending;		/* the file was still waiting for this */
	bool unreadable;	/* its bytes are gone: corrupt */
	char sha256[65];
	char owner[37];
	char status[16];	/* after apply: ready | corrupt */
};

static void cleanup(struct job *j)
{
	free(j->state);
	j->state = NULL;
}

static int prepare(struct worker *w, struct job *j)
{
	struct file_check *v = calloc(1, sizeof(*v));
	PGresult *res = NULL;
	char path[4096];
	int rc;

	if (!v)
		return ERR_INTERNAL;
	j->state = v;
	if (!validate_uuid(j->key)) {
		snprintf(w->error, sizeof(w->error), "key '%s' is not a file", j->key);
		return ERR_VALIDATION;
	}
	const char *params[] = { j->key };
	if ((rc = db_exec(w->db, SQL_FILE_FOR_VERIFY, params, &res)))
		return rc;
	v->pending = PQntuples(res) == 1;	/* else: verified already, or deleted */
	PQclear(res);
	if (!v->pending || (rc = filestore_path(w->conf.files_dir, j->key, path, sizeof(path))))
		return rc;
	if (filestore_sha256(path, v->sha256)) {
		if (access(path, F_OK) && errno == ENOENT) {
			v->unreadable = true;
			return 0;
		}
		snprintf(w->error, sizeof(w->error), "cannot read the bytes of file %s", j->key);
		return ERR_INTERNAL;	/* retried */
	}
	return 0;
}

static int apply(struct worker *w, struct job *j)
{
	struct file_check *v = j->state;
	PGresult *res = NULL;
	int rc;

	if (!v || !v->pending)
		return 0;
	const char *params[] = { j->key, v->unreadable ? NULL : v->sha256 };
	if ((rc = db_exec(w->db, SQL_FILE_VERIFIED, params, &res))) {
		snprintf(w->error, sizeof(w->error), "recording the hash failed: %s", db_sqlstate(w->db));
		return rc;
	}
	if (PQntuples(res) == 1) {
		snprintf(v->owner, sizeof(v->owner), "%s", PQgetvalue(res, 0, 0));
		snprintf(v->status, sizeof(v->status), "%s", PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	return 0;
}

static void after_commit(struct worker *w, struct job *jobs, int n)
{
	for (int i = 0; i < n; i++) {
		struct file_check *v = jobs[i].state;
		char data[200];
		const char *owner = v ? v->owner : "";

		if (!*owner)
			continue;
		snprintf(data, sizeof(data), "{\"id\":\"%s\",\"status\":\"%s\",\"sha256\":%s%s%s}",
			 jobs[i].key, v->status, v->unreadable ? "" : "\"",
			 v->unreadable ? "null" : v->sha256, v->unreadable ? "" : "\"");
		events_emit(w->kv, &owner, 1, "file", data, true);
		log_info(jobs[i].req_id[0] ? jobs[i].req_id : NULL, "file %s is %s", jobs[i].key, v->status);
	}
}

const struct stage stage_file_verify = {
	.kind = "file_verify",
	.prepare = prepare,
	.apply = apply,
	.cleanup = cleanup,
	.max_batch = 1,
	.after_commit = after_commit,
};
