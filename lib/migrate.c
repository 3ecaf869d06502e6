#include "migrate.h"

#include "err.h"
#include "log.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATE_LOCK "SELECT pg_advisory_lock(4341)"
#define MIGRATE_UNLOCK "SELECT pg_advisory_unlock(4341)"

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *s = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (s = malloc((size_t)n + 1))) {
		if (fread(s, 1, (size_t)n, f) != (size_t)n) {
			free(s);
			s = NULL;
		} else {
			s[n] = '\0';
		}
	}
	fclose(f);
	return s;
}

/* Applies one file unless recorded: 1 applied, 0 skipped, <0 error. */
static int apply_one(struct db *db, const char *dir, const char *name)
{
	char path[4096], version[256];
	const char *params[1] = { version };
	PGresult *r = NULL;
	char *sql = NULL;
	int rc;

	snprintf(version, sizeof(version), "%.*s", (int)(strlen(name) - 4), name);
	if ((rc = db_exec(db, SQL_MIGRATION_APPLIED, params, &r)))
		goto out;
	if (PQntuples(r)) {
		rc = 0;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(sql = read_all(path))) {
		log_error(NULL, "cannot read migration '%s'", path);
		rc = ERR_INTERNAL;
		goto out;
	}
	if ((rc = db_begin(db)))
		goto out;
	if ((rc = db_run(db, sql))) {
		log_error(NULL, "migration '%s' failed", name);
		goto out;
	}
	PQclear(r);
	r = NULL;
	if ((rc = db_exec(db, SQL_MIGRATION_RECORD, params, &r)) ||
	    (rc = db_commit(db)))
		goto out;
	log_info(NULL, "applied migration %s", version);
	rc = 1;
out:
	db_rollback(db);
	free(sql);
	PQclear(r);
	return rc;
}

/* The .sql files of @dir, sorted by name: *n of them, NULL on an error. */
static char **list_sql(const char *dir, size_t *n)
{
	struct dirent *e;
	char **names = NULL;
	DIR *d = opendir(dir);

	*n = 0;
	if (!d) {
		log_error(NULL, "cannot open migrations folder '%s'", dir);
		return NULL;
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 4, ".sql"))
			continue;
		char **nn = realloc(names, (*n + 1) * sizeof(*names));
		if (!nn || !(nn[*n] = strdup(e->d_name))) {
			names = nn ? nn : names;
			break;
		}
		names = nn;
		(*n)++;
	}
	closedir(d);
	if (!names)
		names = calloc(1, sizeof(*names));	/* an empty folder is no error */
	if (names)
		qsort(names, *n, sizeof(*names), by_name);
	return names;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Every file of @dir/functions, each CREATE OR REPLACE, in one transaction:
 * all the functions as written there now, or none of them. */
static int apply_functions(struct db *db, const char *dir)
{
	char path[4096];
	size_t n;
	char **names;
	int rc;

	snprintf(path, sizeof(path), "%s/functions", dir);
	if (!(names = list_sql(path, &n)))
		return ERR_INTERNAL;
	if ((rc = db_begin(db)))
		goto out;
	for (size_t i = 0; i < n && !rc; i++) {
		char file[4352];
		char *sql;
		snprintf(file, sizeof(file), "%s/%s", path, names[i]);
		if (!(sql = read_all(file))) {
			log_error(NULL, "cannot read '%s'", file);
			rc = ERR_INTERNAL;
		} else if ((rc = db_run(db, sql))) {
			log_error(NULL, "functions file '%s' failed", names[i]);
		}
		free(sql);
	}
	if (!rc)
		rc = db_commit(db);
out:
	db_rollback(db);
	free_names(names, n);
	return rc;
}

int migrate_apply(struct db *db, const char *dir)
{
	size_t n;
	char **names = list_sql(dir, &n);
	int rc, applied = 0;

	if (!names)
		return ERR_INTERNAL;
	if ((rc = db_run(db, MIGRATE_LOCK)) ||
	    (rc = db_run(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
			     " version text PRIMARY KEY,"
			     " applied_at timestamptz NOT NULL DEFAULT now())")))
		goto out;
	for (size_t i = 0; i < n; i++) {
		if ((rc = apply_one(db, dir, names[i])) < 0)
			break;
		applied += rc;
	}
	if (rc >= 0)
		rc = apply_functions(db, dir);
	db_run(db, MIGRATE_UNLOCK);
out:
	free_names(names, n);
	return rc < 0 ? rc : applied;
}
