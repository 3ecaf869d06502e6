/*
 * backup.c - chat4all-admin backup / restore (backup.h).
 */
#include "backup.h"

#include "../lib/filestore.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define DUMP "chat4all.dump"
#define MANIFEST "manifest.tsv"

/* Runs @argv (a PATH lookup) and waits: true when it exited 0. */
static bool run(char *const argv[])
{
	pid_t pid;
	int status;

	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ)) {
		fprintf(stderr, "chat4all-admin: cannot run %s: %s\n", argv[0], strerror(errno));
		return false;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return false;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* mkdir -p of @path's parent folders, each made one @uid's (-1: ours). */
static int parents(const char *path, uid_t uid, gid_t gid)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (!mkdir(p, 0750)) {
			if (uid != (uid_t)-1 && chown(p, uid, gid))
				return -1;
		} else if (errno != EEXIST) {
			return -1;
		}
		*s = '/';
	}
	return 0;
}

/* Copies @src to @dst (its folders made), at most @limit bytes (-1: all),
 * synced; @uid's when not -1. The bytes copied, or -1 (errno). */
static long long copy(const char *src, const char *dst, long long limit, uid_t uid, gid_t gid)
{
	char buf[1 << 16];
	long long total = 0;
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1;

	if (in < 0 || parents(dst, uid, gid) ||
	    (out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0)
		goto fail;
	while (limit < 0 || total < limit) {
		size_t want = limit < 0 || limit - total > (long long)sizeof(buf) ? sizeof(buf)
										   : (size_t)(limit - total);
		ssize_t n = read(in, buf, want);
		if (n < 0)
			goto fail;
		if (!n)
			break;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(out, buf + done, (size_t)(n - done));
			if (w < 0)
				goto fail;
			done += w;
		}
		total += n;
	}
	if (fsync(out) || (uid != (uid_t)-1 && fchown(out, uid, gid)))
		goto fail;
	close(in);
	return close(out) ? -1 : total;
fail:;
	int e = errno;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	errno = e;
	return -1;
}

/* @dir does not exist, or is an empty folder (then removed, to be made
 * again as ours). */
static bool empty_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st))
		return errno == ENOENT;
	if (!S_ISDIR(st.st_mode))
		return false;
	return rmdir(dir) == 0;	/* (rmdir takes only an empty one) */
}

static PGresult *query(PGconn *c, const char *sql, ExecStatusType want)
{
	PGresult *res = PQexec(c, sql);

	if (PQresultStatus(res) != want) {
		fprintf(stderr, "chat4all-admin: %s: %s", sql, PQerrorMessage(c));
		PQclear(res);
		return NULL;
	}
	return res;
}

int backup_run(struct db *db, const struct conf *c, const char *dir)
{
	PGconn *pg = db_conn(db);
	PGresult *res = NULL;
	char path[4096], files[4096], src[4096], dst[4096], sha[65];
	long long bytes = 0;
	int n = 0, rc = 1;
	FILE *manifest = NULL;

	umask(077);	/* password hashes, messages, files: the backup is its maker's alone */
	if (!empty_dir(dir) || mkdir(dir, 0700)) {
		fprintf(stderr, "chat4all-admin: %s must be a new or empty folder\n", dir);
		return 1;
	}
	snprintf(files, sizeof(files), "%s/files", dir);
	snprintf(path, sizeof(path), "%s/" MANIFEST, dir);
	if (mkdir(files, 0700) || !(manifest = fopen(path, "w"))) {
		fprintf(stderr, "chat4all-admin: cannot write in %s: %s\n", dir, strerror(errno));
		return 1;
	}
	/* one snapshot for the dump and the list of files it refers to */
	PQclear(query(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK));
	if (!(res = query(pg, "SELECT pg_export_snapshot()", PGRES_TUPLES_OK)))
		goto out;
	char snapshot[64];
	snprintf(snapshot, sizeof(snapshot), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	snprintf(path, sizeof(path), "%s/" DUMP, dir);
	char *dump[] = { "pg_dump", "--format=custom", "--snapshot", snapshot, "--file", path,
			 "--dbname", c->database_url, NULL };
	if (!run(dump)) {
		fprintf(stderr, "chat4all-admin: pg_dump failed (its words above)\n");
		goto out;
	}
	if (!(res = query(pg, "SELECT id, status, upload_offset, coalesce(sha256, '') FROM files "
			      "ORDER BY id", PGRES_TUPLES_OK)))
		goto out;
	for (int r = 0; r < PQntuples(res); r++) {
		const char *id = PQgetvalue(res, r, 0), *status = PQgetvalue(res, r, 1);
		bool ready = !strcmp(status, "ready");
		long long limit = !strcmp(status, "uploading") ? atoll(PQgetvalue(res, r, 2)) : -1;
		if (filestore_path(c->files_dir, id, src, sizeof(src)) ||
		    filestore_path(files, id, dst, sizeof(dst))) {
			fprintf(stderr, "chat4all-admin: '%s' is not a file id\n", id);
			goto out;
		}
		long long got = copy(src, dst, limit, (uid_t)-1, (gid_t)-1);
		if (got < 0 && errno == ENOENT && !ready)
			continue;	/* an upload that never sent a byte, or one given up */
		if (got < 0) {
			fprintf(stderr, "chat4all-admin: file %s (%s): %s%s\n", id, status, strerror(errno),
				errno == ENOENT ? ": its bytes left the store after the backup began; "
						  "nothing is lost, run the backup again" : "");
			goto out;
		}
		if (filestore_sha256(dst, sha) ||
		    (ready && strcmp(sha, PQgetvalue(res, r, 3)))) {
			fprintf(stderr, "chat4all-admin: file %s: its bytes are not the ones recorded "
				"(sha256 %s, recorded %s)\n", id, sha, PQgetvalue(res, r, 3));
			goto out;
		}
		fprintf(manifest, "%s\t%s\t%lld\t%s\n", id, status, got, sha);
		bytes += got;
		n++;
	}
	if (fflush(manifest) || fsync(fileno(manifest))) {
		fprintf(stderr, "chat4all-admin: cannot write the manifest: %s\n", strerror(errno));
		goto out;
	}
	struct stat st;
	stat(path, &st);
	printf("backup in %s: the database (%s, %lld KiB) and %d files (%lld bytes), "
	       "every ready file's sha256 checked\n", dir, DUMP, (long long)st.st_size / 1024, n, bytes);
	rc = 0;
out:
	PQclear(res);
	PQclear(query(pg, "COMMIT", PGRES_COMMAND_OK));
	if (manifest)
		fclose(manifest);
	return rc;
}

/* One line of a backup's manifest: a file it holds. */
struct held_file {
	char id[64], sha[65];
	long long len;
};

/*
 * The manifest of backup @dir, each file in it checked before anything is
 * restored: an id of the store's spelling (a manifest is text anyone with
 * the folder could edit; an id is a path below files_dir) and its bytes
 * there, as long as said. The files into @out (free them), their count,
 * or -1 with what is wrong on stderr.
 */
static int read_manifest(const char *dir, struct held_file **out)
{
	char path[4096], files[4096], line[512], src[4096];
	struct held_file *list = NULL;
	int n = 0, cap = 0;
	struct stat st;
	FILE *m;

	snprintf(path, sizeof(path), "%s/" MANIFEST, dir);
	if (!(m = fopen(path, "r"))) {
		fprintf(stderr, "chat4all-admin: %s: %s\n", path, strerror(errno));
		return -1;
	}
	snprintf(files, sizeof(files), "%s/files", dir);
	while (fgets(line, sizeof(line), m)) {
		struct held_file f;
		char status[16];
		if (sscanf(line, "%63s %15s %lld %64s", f.id, status, &f.len, f.sha) != 4 ||
		    filestore_path(files, f.id, src, sizeof(src)) || stat(src, &st) ||
		    st.st_size != f.len) {
			fprintf(stderr, "chat4all-admin: the manifest's line %d names no file of this "
				"backup: %.80s", n + 1, line);
			goto fail;
		}
		if (n == cap) {
			struct held_file *more = realloc(list, (size_t)(cap = cap ? 2 * cap : 64) * sizeof(*list));
			if (!more)
				goto fail;
			list = more;
		}
		list[n++] = f;
	}
	fclose(m);
	*out = list;
	return n;
fail:
	fclose(m);
	free(list);
	return -1;
}

int restore_run(struct db *db, const struct conf *c, const char *dir)
{
	PGconn *pg = db_conn(db);
	PGresult *res;
	char path[4096], src[4096], dst[4096], files[4096], sha[65];
	struct held_file *held = NULL;
	struct stat st;
	long long bytes = 0;
	int n, rc = 1;

	snprintf(path, sizeof(path), "%s/" DUMP, dir);
	if (stat(path, &st)) {
		fprintf(stderr, "chat4all-admin: no backup in %s (%s: %s)\n", dir, path, strerror(errno));
		return 1;
	}
	if ((n = read_manifest(dir, &held)) < 0)
		return 1;	/* (nothing touched) */
	if (!(res = query(pg, "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM messages)"
			      " + (SELECT count(*) FROM files)", PGRES_TUPLES_OK)))
		goto out;
	long long rows = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (rows) {
		fprintf(stderr, "chat4all-admin: a restore goes into an empty instance; this one has "
			"%lld users, messages and files\n", rows);
		goto out;
	}
	/* the empty instance's schema goes, the backup's comes, at once */
	char *restore[] = { "pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges",
			    "--single-transaction", "--exit-on-error", "--dbname", c->database_url,
			    path, NULL };
	if (!run(restore)) {
		fprintf(stderr, "chat4all-admin: pg_restore failed (its words above); the instance "
			"is as it was\n");
		goto out;
	}
	/* the bytes, the store's owner's */
	if (stat(c->files_dir, &st) && (mkdir(c->files_dir, 0750) || stat(c->files_dir, &st))) {
		fprintf(stderr, "chat4all-admin: %s: %s\n", c->files_dir, strerror(errno));
		goto out;
	}
	uid_t uid = getuid() ? (uid_t)-1 : st.st_uid;
	snprintf(files, sizeof(files), "%s/files", dir);
	for (int i = 0; i < n; i++) {
		filestore_path(files, held[i].id, src, sizeof(src));	/* (checked by read_manifest) */
		filestore_path(c->files_dir, held[i].id, dst, sizeof(dst));
		errno = 0;
		if (copy(src, dst, -1, uid, st.st_gid) != held[i].len || filestore_sha256(dst, sha) ||
		    strcmp(sha, held[i].sha)) {
			fprintf(stderr, "chat4all-admin: file %s did not come back whole (%s)\n",
				held[i].id, errno ? strerror(errno) : "its sha256 differs");
			goto out;
		}
		bytes += held[i].len;
	}
	printf("restored from %s: the database and %d files (%lld bytes), each file's sha256 "
	       "checked; restart the instance now (make stop; make run)\n", dir, n, bytes);
	rc = 0;
out:
	free(held);
	return rc;
}
