/*
 * filestore.h - where the bytes of uploaded files live (DESIGN §5).
 *
 * <dir>/<aa>/<bb>/<id>, aa and bb the last four hex digits of the id:
 * random in UUID v4 and v7 alike, so 65,536 folders share the files
 * evenly and none holds more than a few dozen at a million files.
 */
#ifndef CHAT4ALL_FILESTORE_H
#define CHAT4ALL_FILESTORE_H

#include <stdbool.h>
#include <stddef.h>

/* filestore_path - the file of @id (a UUID) under @dir, into @out. */
int filestore_path(const char *dir, const char *id, char *out, size_t len);

/*
 * filestore_open - the file of @id for writing at @offset, its folders
 * made as needed; anything past @offset (bytes of an interrupted PATCH
 * that were never recorded) is cut off. Locked (flock) against another
 * writer: ERR_CONFLICT when one holds it. A new file's name and folders
 * are synced to disk (fsync of each parent) before it is returned. A file
 * shorter than @offset lost bytes that were recorded as written:
 * ERR_GONE, never a zero-filled gap. The fd, or a negative err.
 */
int filestore_open(const char *dir, const char *id, long long offset);

/* filestore_safe_name - @in's last path segment without control
 * characters, into @out: a name to show and to put in
 * Content-Disposition, never a path ("file" when nothing is left). */
void filestore_safe_name(const char *in, char *out, size_t len);

/* filestore_mime_ok - @s is a bare media type, "type/subtype" of token
 * characters (no parameters). */
bool filestore_mime_ok(const char *s);

/* filestore_remove - the file of @id; missing is fine. */
int filestore_remove(const char *dir, const char *id);

/* filestore_sha256 - the SHA-256 of @path in lowercase hex. */
int filestore_sha256(const char *path, char out[65]);

/* filestore_free - bytes free for unprivileged writers on @dir's disk
 * (-1 when it cannot be told). */
long long filestore_free(const char *dir);

/*
 * filestore_walk - calls @fn for every stored file (path, id, age in
 * seconds), for the cron that removes orphans. Names that are not UUIDs
 * are left alone.
 */
int filestore_walk(const char *dir, void (*fn)(const char *path, const char *id, long age, void *arg),
		   void *arg);

#endif
