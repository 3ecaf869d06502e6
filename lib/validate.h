/*
 * validate.h - strict checks on untrusted input, shared by every process
 * that reads it (the API, the webhooks, the workers).
 */
#ifndef CHAT4ALL_VALIDATE_H
#define CHAT4ALL_VALIDATE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * validate_json_object - parse @len bytes as one JSON object: strict
 * grammar, valid UTF-8, nesting at most @max_depth, nothing after it.
 * Returns the object (caller puts it) or NULL; @why gets a short reason.
 */
struct json_object *validate_json_object(const char *body, size_t len,
					 int max_depth, const char **why);

/* validate_utf8 - @len bytes are well-formed UTF-8 without NUL. */
bool validate_utf8(const char *s, size_t len);

/* validate_utf8_copy - as much of UTF-8 @src as fits in @cap bytes with
 * its NUL, cut between characters, never inside one (a name cut on a
 * byte count is invalid UTF-8, which PostgreSQL refuses). */
void validate_utf8_copy(char *dst, size_t cap, const char *src);

/* validate_utf8_chars - code points in a valid UTF-8 string. */
size_t validate_utf8_chars(const char *s);

/* validate_uuid - canonical 8-4-4-4-12 hex form, as PostgreSQL prints it. */
bool validate_uuid(const char *s);
/* validate_uuid_lower - the same, and @s becomes its one spelling (lower
 * case): every id that names a row, a key or a file is this one. */
bool validate_uuid_lower(char *s);

/* validate_username - 3 to 32 of [a-z0-9_.-]. */
bool validate_username(const char *s);

#endif
