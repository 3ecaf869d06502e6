/*
 * migrate.h - apply migrations/NNNN_name.sql in order, each in its own
 * transaction, recording each in schema_migrations (files already recorded
 * are skipped); then every migrations/functions/<name>.sql, each time, in one
 * transaction. An advisory lock keeps two migrators from racing.
 *
 * The numbered files hold the schema and how it changed (tables, indexes,
 * data); the functions files hold each PL/pgSQL and SQL function once, as
 * it is now (CREATE OR REPLACE), so what a send does is read in one place.
 * A numbered migration therefore never calls one of our functions (on a
 * new database they do not exist yet), and a function whose arguments or
 * result change is dropped by a numbered migration first (DROP FUNCTION
 * IF EXISTS), which CREATE OR REPLACE cannot do.
 */
#ifndef CHAT4ALL_MIGRATE_H
#define CHAT4ALL_MIGRATE_H

#include "db.h"

/* migrate_apply - returns the number applied (>= 0) or a negative enum err. */
int migrate_apply(struct db *db, const char *dir);

#endif
