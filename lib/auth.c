#include "auth.h"

#include "err.h"
#include "validate.h"

#include <argon2.h>
#include <errno.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static int fill_random(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int auth_password_hash(const char *pw, uint32_t iterations, uint32_t memory_kib,
		       char out[AUTH_HASH_MAX])
{
	unsigned char salt[16];

	if (fill_random(salt, sizeof(salt)))
		return -1;
	return argon2id_hash_encoded(iterations, memory_kib, 1, pw, strlen(pw),
				     salt, sizeof(salt), 32, out,
				     AUTH_HASH_MAX) == ARGON2_OK ? 0 : -1;
}

bool auth_password_verify(const char *encoded, const char *pw)
{
	return argon2id_verify(encoded, pw, strlen(pw)) == ARGON2_OK;
}

char *auth_access_issue(const char *secret, const char *user_id, const char *role,
			const char *sid, long ttl, time_t now)
{
	jwt_t *j = NULL;
	char *out = NULL;

	if (!secret || !*secret || jwt_new(&j))
		return NULL;
	if (jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)secret,
			(int)strlen(secret)) ||
	    jwt_add_grant(j, "sub", user_id) || jwt_add_grant(j, "role", role) ||
	    jwt_add_grant(j, "sid", sid) ||
	    jwt_add_grant_int(j, "iat", (long)now) ||
	    jwt_add_grant_int(j, "exp", (long)now + ttl))
		goto out;
	out = jwt_encode_str(j);
out:
	jwt_free(j);
	return out;
}

static bool copy_claim(char *dst, size_t len, const char *src)
{
	if (!src || strlen(src) >= len)
		return false;
	strcpy(dst, src);
	return true;
}

int auth_access_verify(const char *secret, const char *token, time_t now,
		       struct auth_claims *out)
{
	jwt_t *j = NULL;
	int rc = ERR_AUTH;

	/* libjwt accepts any token when the key is NULL: never let it */
	if (!secret || !*secret || !token || !*token)
		return ERR_AUTH;
	if (jwt_decode(&j, token, (const unsigned char *)secret,
		       (int)strlen(secret)) || !j)
		goto out;
	if (jwt_get_alg(j) != JWT_ALG_HS256)
		goto out;
	errno = 0;
	out->exp = jwt_get_grant_int(j, "exp");
	if (errno || out->exp <= (long)now)
		goto out;
	if (!copy_claim(out->user_id, sizeof(out->user_id), jwt_get_grant(j, "sub")) ||
	    !validate_uuid(out->user_id) ||
	    !copy_claim(out->role, sizeof(out->role), jwt_get_grant(j, "role")) ||
	    !copy_claim(out->sid, sizeof(out->sid), jwt_get_grant(j, "sid")))
		goto out;
	rc = 0;
out:
	jwt_free(j);
	return rc;
}

int auth_random_token(char out[AUTH_TOKEN_LEN + 1])
{
	static const char b64url[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char raw[33];	/* 264 bits: 44 sextets, we print 43 */

	if (fill_random(raw, sizeof(raw)))
		return -1;
	for (int i = 0; i < AUTH_TOKEN_LEN; i++) {
		int bit = i * 6, byte = bit / 8, shift = bit % 8;
		unsigned v = ((unsigned)raw[byte] << 8 | raw[byte + 1]) >> (10 - shift);
		out[i] = b64url[v & 63];
	}
	out[AUTH_TOKEN_LEN] = '\0';
	return 0;
}

static void format_uuid(const unsigned char b[16], char out[37])
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
		 b[11], b[12], b[13], b[14], b[15]);
}

int auth_uuid(char out[37])
{
	unsigned char b[16];

	if (fill_random(b, sizeof(b)))
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
	format_uuid(b, out);
	return 0;
}

int auth_uuid7(char out[37])
{
	unsigned char b[16];
	struct timespec ts;
	uint64_t ms;

	if (fill_random(b, sizeof(b)))
		return -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	for (int i = 0; i < 6; i++)
		b[i] = (unsigned char)(ms >> (40 - 8 * i));
	b[6] = (unsigned char)((b[6] & 0x0F) | 0x70);
	b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
	format_uuid(b, out);
	return 0;
}

void auth_token_digest(const char *token, char hex[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)token, strlen(token), md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	hex[64] = '\0';
}

bool auth_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

void auth_link_sign(const char *secret, const char *subject, long long expires, char sig[65])
{
	unsigned char md[32];
	unsigned int n = 0;
	char msg[256];
	int len = snprintf(msg, sizeof(msg), "%s\n%lld", subject, expires);

	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg,
	     (size_t)len, md, &n);
	for (unsigned i = 0; i < 32; i++)
		snprintf(sig + 2 * i, 3, "%02x", md[i]);
}

bool auth_link_verify(const char *secret, const char *subject, long long expires,
		      const char *sig, time_t now)
{
	char want[65];

	if (expires < (long long)now || strlen(sig) != 64)
		return false;
	auth_link_sign(secret, subject, expires, want);
	return auth_equal(want, sig, 64);
}
