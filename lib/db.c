#include "db.h"

#include "err.h"
#include "log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const sql_text[SQL_COUNT] = {
#define SQL_TEXT(name, text) [SQL_##name] = text,
	SQL_STATEMENTS(SQL_TEXT)
#undef SQL_TEXT
};

static const char *const sql_name[SQL_COUNT] = {
#define SQL_NAME(name, text) [SQL_##name] = #name,
	SQL_STATEMENTS(SQL_NAME)
#undef SQL_NAME
};

struct db {
	PGconn *conn;
	char *conninfo;
	char sqlstate[6];
	int nparams[SQL_COUNT];	/* as the server described each statement */
	unsigned generation;	/* connections opened so far */
};

/* Server notices ("relation already exists, skipping") are for debugging. */
static void db_notice(void *arg, const char *msg)
{
	(void)arg;
	log_line(LOG_DEBUG, NULL, NULL, "postgresql: %.*s", (int)strcspn(msg, "\n"), msg);
}

/* Connects; statements are prepared on first use, so that one naming a
 * table a later migration creates does not stop a connection. */
static int db_connect(struct db *db)
{
	PQfinish(db->conn);
	db->conn = PQconnectdb(db->conninfo);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		log_error(NULL, "cannot connect to postgresql: %s",
			  PQerrorMessage(db->conn));
		return ERR_UNAVAILABLE;
	}
	PQsetNoticeProcessor(db->conn, db_notice, NULL);
	memset(db->nparams, -1, sizeof(db->nparams));
	db->generation++;
	return 0;
}

static int db_prepare(struct db *db, enum sql_stmt s)
{
	PGresult *r = PQprepare(db->conn, sql_name[s], sql_text[s], 0, NULL);
	int rc = 0;

	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		log_error(NULL, "cannot prepare %s: %s", sql_name[s],
			  PQresultErrorMessage(r));
		rc = ERR_DB;
	}
	PQclear(r);
	if (rc)
		return rc;
	r = PQdescribePrepared(db->conn, sql_name[s]);
	db->nparams[s] = PQnparams(r);
	PQclear(r);
	return 0;
}

struct db *db_open(const char *conninfo)
{
	struct db *db = calloc(1, sizeof(*db));

	if (!db || !(db->conninfo = strdup(conninfo))) {
		db_free(db);
		return NULL;
	}
	db_connect(db);		/* a failure is retried by the next db_exec */
	return db;
}

void db_free(struct db *db)
{
	if (!db)
		return;
	PQfinish(db->conn);
	free(db->conninfo);
	free(db);
}

/* Maps a failed result to our error vocabulary and keeps its SQLSTATE. */
static int db_error(struct db *db, PGresult *r, const char *what)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
	if (state && !strcmp(state, "23505"))
		return ERR_CONFLICT;
	if (state && (!strcmp(state, "23503") || !strncmp(state, "22", 2)))
		return ERR_VALIDATION;
	if (PQstatus(db->conn) != CONNECTION_OK) {
		log_error(NULL, "postgresql connection lost during %s", what);
		return ERR_UNAVAILABLE;
	}
	log_error(NULL, "%s failed: %s", what,
		  r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn));
	return ERR_DB;
}

/* A lost connection is reopened only outside a transaction: inside one,
 * its work is gone and the caller must see the failure. */
static int db_ensure(struct db *db)
{
	if (PQstatus(db->conn) == CONNECTION_OK)
		return 0;
	return db_connect(db);
}

int db_exec(struct db *db, enum sql_stmt s, const char *const *params,
	    PGresult **res)
{
	PGresult *r;
	bool idle = PQtransactionStatus(db->conn) == PQTRANS_IDLE ||
		    PQstatus(db->conn) != CONNECTION_OK;
	int rc;

	if (res)
		*res = NULL;
	db->sqlstate[0] = '\0';
	for (int attempt = 0;; attempt++) {
		if (idle && (rc = db_ensure(db)))
			return rc;
		if (db->nparams[s] < 0 && (rc = db_prepare(db, s))) {
			if (idle && attempt == 0 && PQstatus(db->conn) != CONNECTION_OK)
				continue;
			return rc;
		}
		r = PQexecPrepared(db->conn, sql_name[s], db->nparams[s], params,
				   NULL, NULL, 0);
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
			if (res)
				*res = r;
			else
				PQclear(r);
			return 0;
		}
		/* a server restart drops the connection: try once more afresh */
		if (idle && attempt == 0 && PQstatus(db->conn) != CONNECTION_OK) {
			PQclear(r);
			continue;
		}
		rc = db_error(db, r, sql_name[s]);
		PQclear(r);
		return rc;
	}
}

int db_run(struct db *db, const char *sql)
{
	PGresult *r;
	int rc = 0;

	if (PQtransactionStatus(db->conn) == PQTRANS_IDLE ||
	    PQstatus(db->conn) != CONNECTION_OK)
		if ((rc = db_ensure(db)))
			return rc;
	r = PQexec(db->conn, sql);
	/* (a file of comments only is an empty query: nothing to do) */
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK &&
	    PQresultStatus(r) != PGRES_EMPTY_QUERY)
		rc = db_error(db, r, "statement");
	PQclear(r);
	return rc;
}

const char *db_sqlstate(const struct db *db)
{
	return db->sqlstate;
}

PGconn *db_conn(struct db *db)
{
	return db->conn;
}

unsigned db_generation(const struct db *db)
{
	return db->generation;
}

int db_ping(struct db *db)
{
	PGresult *r;
	int rc = db_exec(db, SQL_PING, NULL, &r);

	PQclear(r);
	return rc ? ERR_UNAVAILABLE : 0;
}

static void array_put(struct db_array *a, const char *s, size_t n)
{
	if (a->len == (size_t)-1)
		return;
	if (a->len + n + 1 > a->cap) {
		size_t cap = (a->cap ? a->cap * 2 : 256) + n;
		char *p = realloc(a->s, cap);
		if (!p) {
			a->len = (size_t)-1;	/* out of memory: db_array_str says so */
			return;
		}
		a->s = p;
		a->cap = cap;
	}
	memcpy(a->s + a->len, s, n);
	a->len += n;
	a->s[a->len] = '\0';
}

void db_array_add(struct db_array *a, const char *elem)
{
	array_put(a, a->n++ ? "," : "{", 1);
	array_put(a, elem, strlen(elem));
}

void db_array_add_ll(struct db_array *a, long long v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%lld", v);
	db_array_add(a, buf);
}

const char *db_array_str(struct db_array *a)
{
	if (a->len == (size_t)-1)
		return NULL;
	array_put(a, a->n ? "}" : "{}", a->n ? 1 : 2);
	return a->len == (size_t)-1 ? NULL : a->s;
}

void db_array_free(struct db_array *a)
{
	free(a->s);
	memset(a, 0, sizeof(*a));
}

int db_begin(struct db *db)
{
	return db_run(db, "BEGIN");
}

int db_commit(struct db *db)
{
	/* Only a transaction that is open and whole: a COMMIT after a failed
	 * statement answers "ROLLBACK" as a success, and one on a connection
	 * reopened meanwhile answers "no transaction in progress" as one. */
	if (PQtransactionStatus(db->conn) != PQTRANS_INTRANS) {
		log_error(NULL, "commit refused: the transaction %s",
			  PQstatus(db->conn) != CONNECTION_OK ? "lost its connection"
							      : "is not open or failed");
		return PQstatus(db->conn) != CONNECTION_OK ? ERR_UNAVAILABLE : ERR_DB;
	}
	return db_run(db, "COMMIT");
}

void db_rollback(struct db *db)
{
	PGTransactionStatusType t = db->conn ? PQtransactionStatus(db->conn) : PQTRANS_UNKNOWN;

	if (t == PQTRANS_INTRANS || t == PQTRANS_INERROR)
		db_run(db, "ROLLBACK");
}
