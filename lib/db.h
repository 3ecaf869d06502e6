/*
 * db.h - one PostgreSQL connection with every statement of sql.h prepared.
 * A broken connection is reopened (and the statements prepared again) on
 * the next call outside a transaction.
 */
#ifndef CHAT4ALL_DB_H
#define CHAT4ALL_DB_H

#include <libpq-fe.h>

#include "sql.h"

struct db;

/* db_open - connect and prepare; NULL (and a log line) on failure. */
struct db *db_open(const char *conninfo);
void db_free(struct db *db);

/*
 * db_exec - run @stmt with @params (NULL entries are SQL NULLs; the count
 * is the statement's). On success returns 0 and *res (the caller
 * PQclear()s it; a NULL @res discards the result). On failure returns a negative enum err: ERR_CONFLICT for
 * a unique violation, ERR_VALIDATION for a foreign key or a value the
 * column refuses, ERR_UNAVAILABLE when the server cannot be reached,
 * ERR_DB otherwise; db_sqlstate() tells the detail.
 */
int db_exec(struct db *db, enum sql_stmt stmt, const char *const *params,
	    PGresult **res);

/* db_run - a plain command (a migration, a session setting). */
int db_run(struct db *db, const char *sql);

/*
 * A transaction, the one way: db_begin(), the statements, db_commit(); and
 * at the function's one exit db_rollback(), which ends whatever is still
 * open (an error on the way) and does nothing after a commit, so no caller
 * keeps a flag:
 *
 *	if ((rc = db_begin(db)))
 *		return rc;
 *	if ((rc = db_exec(db, ...)))
 *		goto out;
 *	rc = db_commit(db);
 * out:
 *	db_rollback(db);
 *
 * A failed COMMIT has ended the transaction too (PostgreSQL rolled it back).
 */
int db_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);

const char *db_sqlstate(const struct db *db);
PGconn *db_conn(struct db *db);

/* db_generation - changes each time the connection is opened again: what
 * belonged to the session (an advisory lock, LISTEN) is gone. */
unsigned db_generation(const struct db *db);

/* db_ping - the server answers: 0, or ERR_UNAVAILABLE. */
int db_ping(struct db *db);

/*
 * An array literal, "{a,b,c}", built element by element: the = ANY($1) and
 * unnest($1, $2) parameters of set-based statements. Elements are ids and
 * numbers, which need no quoting. Zero-initialise; db_array_str ends it
 * (adding after that is a mistake); db_array_free releases it.
 */
struct db_array {
	char *s;
	size_t len, cap;
	int n;
};

void db_array_add(struct db_array *a, const char *elem);
void db_array_add_ll(struct db_array *a, long long v);
/* db_array_str - ends the array and gives its literal (call it once);
 * NULL when out of memory. */
const char *db_array_str(struct db_array *a);
void db_array_free(struct db_array *a);

#endif
