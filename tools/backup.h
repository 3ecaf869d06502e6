/*
 * backup.h - chat4all-admin backup DIR / restore DIR: the database
 * (pg_dump's custom format) and the files store, consistent with each
 * other, in one folder.
 *
 * A backup dumps the database in an exported snapshot and, in that same
 * snapshot, lists the files table: exactly the files the dump refers to.
 * Their bytes are copied to DIR/files (the store's own layout) and every
 * ready file's copy is checked against its recorded sha256; DIR/manifest.tsv
 * says what was copied (id, status, bytes, sha256 of the copy). Uploads that
 * were not finished are copied as far as they were recorded.
 *
 * A restore goes into an empty instance (no users, messages or files):
 * pg_restore in one transaction over the migrated schema, then the bytes,
 * each checked against the manifest. Redis (the live path) and the secrets
 * are not part of it.
 */
#ifndef CHAT4ALL_BACKUP_H
#define CHAT4ALL_BACKUP_H

#include "../lib/conf.h"
#include "../lib/db.h"

/* 0, or 1 with what went wrong on stderr. */
int backup_run(struct db *db, const struct conf *c, const char *dir);
int restore_run(struct db *db, const struct conf *c, const char *dir);

#endif
