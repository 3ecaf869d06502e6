/*
 * auth.h - passwords, access tokens and refresh tokens.
 *
 * Passwords are argon2id (encoded, with their parameters). Access tokens
 * are JWT HS256 with sub, role, sid (the sign-in they belong to), iat and
 * exp; verification checks the algorithm and expiry itself because
 * libjwt 1.10 does not. Refresh tokens are 32 random bytes, base64url;
 * only their SHA-256 is stored.
 */
#ifndef CHAT4ALL_AUTH_H
#define CHAT4ALL_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define AUTH_HASH_MAX 160	/* room for an encoded argon2id hash */
#define AUTH_TOKEN_LEN 43	/* base64url of 32 bytes, no padding */

struct auth_claims {
	char user_id[37];
	char role[16];
	char sid[37];
	long exp;
};

/* auth_password_hash - argon2id of @pw into @out. Returns 0 or -1. */
int auth_password_hash(const char *pw, uint32_t iterations, uint32_t memory_kib,
		       char out[AUTH_HASH_MAX]);
bool auth_password_verify(const char *encoded, const char *pw);

/* auth_access_issue - a signed JWT; the caller free()s it. NULL on error. */
char *auth_access_issue(const char *secret, const char *user_id, const char *role,
			const char *sid, long ttl, time_t now);

/* auth_access_verify - 0 and @out filled, or ERR_AUTH. */
int auth_access_verify(const char *secret, const char *token, time_t now,
		       struct auth_claims *out);

/* auth_random_token - a fresh refresh token / ticket. Returns 0 or -1. */
int auth_random_token(char out[AUTH_TOKEN_LEN + 1]);

/* auth_uuid - a random (version 4) UUID in canonical form. */
int auth_uuid(char out[37]);

/* auth_uuid7 - a time-ordered (version 7, RFC 9562) UUID: 48 bits of Unix
 * milliseconds, then random bits. Keys made of these insert at the right
 * edge of a B-tree. */
int auth_uuid7(char out[37]);

/* auth_token_digest - hex SHA-256 of @token, what the database keeps. */
void auth_token_digest(const char *token, char hex[65]);

/* auth_equal - compares in time independent of where they differ. */
bool auth_equal(const void *a, const void *b, size_t len);

/*
 * Signed links: whoever holds one may fetch @subject until @expires (Unix
 * seconds) without a token — an <img src>, a download handed to a channel.
 * The signature is hex HMAC-SHA256 of "@subject\n@expires" with @secret.
 */
void auth_link_sign(const char *secret, const char *subject, long long expires, char sig[65]);
bool auth_link_verify(const char *secret, const char *subject, long long expires,
		      const char *sig, time_t now);

#endif
