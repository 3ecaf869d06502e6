/*
 * migrate.h - apply migrations/NNNN_name.sql in order, each in its own
 * transaction, recording each in schema_migrations. Files already recorded
 * are skipped; an advisory lock keeps two migrators from racing.
 */
#ifndef CHAT4ALL_MIGRATE_H
#define CHAT4ALL_MIGRATE_H

#include "db.h"

/* migrate_apply - returns the number applied (>= 0) or a negative enum err. */
int migrate_apply(struct db *db, const char *dir);

#endif
