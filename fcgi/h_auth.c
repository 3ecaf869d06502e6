/*
 * h_auth.c - sign-up, sign-in, refresh and sign-out (API.md "Auth").
 *
 * A sign-in is a family of refresh tokens identified by a UUID that is
 * also the "sid" claim of its access tokens. Each refresh spends the live
 * token and adds the next one; presenting a spent token again means it was
 * copied, so the whole family ends, access tokens included (their sid is
 * listed in Redis until they would have expired anyway).
 */
#include "handlers.h"

#include "../lib/audit.h"
#include "../lib/clock.h"
#include "../lib/err.h"
#include "../lib/kv_keys.h"
#include "../lib/log.h"
#include "../lib/ratelimit.h"
#include "../lib/revocation.h"
#include "../lib/slots.h"
#include "../lib/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PASSWORD_MIN 8
#define PASSWORD_MAX 1024
#define DISPLAY_NAME_MAX 64

/* One token of bucket @what for @who (key written to @key when given). */
static int limit(struct req *r, const char *what, const char *who, double rate,
		 long burst, char key[160])
{
	char k[160];

	if (!key)
		key = k;
	snprintf(key, 160, KV_RATE, what, who);
	int rc = ratelimit_take(r->app->kv, key, rate, burst, NULL, &r->retry_after);
	if (rc == ERR_RATELIMITED)
		req_detail(r, "too many attempts; retry in %d s", r->retry_after);
	return rc;
}

/*
 * Password hashing is the costliest thing a stranger can make a responder
 * do (argon2id, ~0.2 s of a core): at most argon2_concurrency hashes run
 * at once across all responders, so a flood of sign-ins never takes every
 * core; a request that cannot get a place within argon2_wait_ms is 429.
 *
 * Slots are taken by polling, not in turn, so a flood from one address
 * would win most of them and keep everyone else waiting into a 429. One
 * client address therefore holds at most all but one of them (one, when
 * there is only one): whoever comes from elsewhere finds a place free of
 * any single address's flood.
 */
#define ARGON2_SLOTS "c4a-argon2"

struct hashing {
	int address;	/* slot of ARGON2_SLOTS@address, or -1 */
	int slot;	/* slot of ARGON2_SLOTS, or -1 */
	char name[96];	/* ARGON2_SLOTS@address */
};

static void hashing_give(struct req *r, struct hashing *h)
{
	slots_give(r->app->db, ARGON2_SLOTS, h->slot);
	slots_give(r->app->db, h->name, h->address);
	h->slot = h->address = -1;
}

/* A place to hash in, both slots within one argon2_wait_ms; 0 or < 0 (err.h). */
static int hashing_take(struct req *r, struct hashing *h)
{
	long n = r->app->conf.argon2_concurrency, wait = r->app->conf.argon2_wait_ms;
	long long start = clock_ms();

	h->slot = -1;
	snprintf(h->name, sizeof(h->name), "%s@%s", ARGON2_SLOTS, req_ip(r));
	h->address = slots_take(r->app->db, h->name, n > 1 ? n - 1 : 1, wait);
	if (h->address >= 0) {
		long left = wait - (long)(clock_ms() - start);
		h->slot = slots_take(r->app->db, ARGON2_SLOTS, n, left > 0 ? left : 0);
	}
	int rc = h->address < 0 ? h->address : h->slot < 0 ? h->slot : 0;
	if (rc) {
		hashing_give(r, h);
		if (rc == ERR_RATELIMITED) {
			r->retry_after = 1;
			req_detail(r, "too many sign-ins at once; retry in a second");
		}
	}
	return rc;
}

int h_auth_register(struct req *r)
{
	struct json_object *o = NULL;
	const char *username, *password, *display;
	char hash[AUTH_HASH_MAX];
	PGresult *res = NULL;
	int rc;

	if ((rc = req_json(r, &o)))
		goto out;
	username = req_str(r, o, "username", true, 32);
	password = req_str(r, o, "password", true, PASSWORD_MAX);
	display = req_str(r, o, "display_name", false, DISPLAY_NAME_MAX);
	if (username && !validate_username(username))
		req_field_error(r, "username", "must be 3 to 32 of a-z, 0-9, '_', '.', '-'");
	if (password && validate_utf8_chars(password) < PASSWORD_MIN)
		req_field_error(r, "password", "must be at least 8 characters");
	if (display && !*display)
		req_field_error(r, "display_name", "must not be empty");
	if (r->errors) {
		rc = ERR_VALIDATION;
		goto out;
	}
	if ((rc = limit(r, "register", req_ip(r), r->app->conf.register_rate,
			r->app->conf.register_burst, NULL)))
		goto out;
	struct hashing place;
	if ((rc = hashing_take(r, &place)))
		goto out;
	rc = auth_password_hash(password, (uint32_t)r->app->conf.argon2_iterations,
				(uint32_t)r->app->conf.argon2_memory_kib, hash) ? ERR_INTERNAL : 0;
	hashing_give(r, &place);
	if (rc)
		goto out;
	const char *params[] = { username, display ? display : username, hash };
	if ((rc = db_exec(r->app->db, SQL_USER_INSERT, params, &res))) {
		if (rc == ERR_CONFLICT)
			req_field_error(r, "username", "is taken");
		goto out;
	}
	audit_write(r->app->db, PQgetvalue(res, 0, 0), "register", username,
		    req_ip(r), NULL);
	rc = req_reply(r, 201, PQgetvalue(res, 0, 1));
out:
	PQclear(res);
	json_object_put(o);
	return rc;
}

/*
 * Adds the next refresh token to family @sid and answers with a new pair.
 * Runs inside the caller's transaction when there is one.
 */
static int issue_pair(struct req *r, const char *user_id, const char *role,
		      const char *sid, int status)
{
	char token[AUTH_TOKEN_LEN + 1], digest[65], ttl[24];
	struct json_object *o = NULL;
	PGresult *res = NULL;
	char *access = NULL;
	int rc = ERR_INTERNAL;

	snprintf(ttl, sizeof(ttl), "%ld", r->app->conf.refresh_ttl);
	if (auth_random_token(token))
		goto out;
	auth_token_digest(token, digest);
	const char *params[] = { digest, sid, user_id, ttl };
	if ((rc = db_exec(r->app->db, SQL_REFRESH_INSERT, params, &res)))
		goto out;
	rc = ERR_INTERNAL;
	if (!(access = auth_access_issue(r->app->conf.jwt_secret, user_id, role, sid,
					 r->app->conf.access_ttl, time(NULL))))
		goto out;
	o = json_object_new_object();
	json_object_object_add(o, "access_token", json_object_new_string(access));
	json_object_object_add(o, "token_type", json_object_new_string("Bearer"));
	json_object_object_add(o, "expires_in", json_object_new_int64(r->app->conf.access_ttl));
	json_object_object_add(o, "refresh_token", json_object_new_string(token));
	rc = req_reply(r, status, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
out:
	free(access);
	json_object_put(o);
	PQclear(res);
	return rc;
}

/* The same work for an unknown user as for a wrong password, so that the
 * answer's timing does not tell which usernames exist: a verify against
 * a hash the process made at start (fcgi/main.c), with today's cost. */
static void burn_a_verify(struct req *r, const char *password)
{
	if (r->app->dummy_hash[0])
		auth_password_verify(r->app->dummy_hash, password);
}

int h_auth_token(struct req *r)
{
	struct json_object *o = NULL;
	const char *username = NULL, *password = NULL;
	char ubuf[64], pbuf[PASSWORD_MAX * 4 + 1], sid[37];
	const char *ct = req_env(r, "CONTENT_TYPE");
	PGresult *res = NULL;
	int rc;

	/* OAuth 2 password grant (form) or our JSON, same fields */
	if (ct && !strncasecmp(ct, "application/x-www-form-urlencoded", 33)) {
		char grant[32];
		if ((rc = req_body(r)))
			goto out;
		if (!req_form_value(r->body, r->body_len, "grant_type", grant, sizeof(grant)) ||
		    strcmp(grant, "password"))
			req_field_error(r, "grant_type", "must be password");
		if (req_form_value(r->body, r->body_len, "username", ubuf, sizeof(ubuf)))
			username = ubuf;
		else
			req_field_error(r, "username", "is required");
		if (req_form_value(r->body, r->body_len, "password", pbuf, sizeof(pbuf)))
			password = pbuf;
		else
			req_field_error(r, "password", "is required");
	} else {
		if ((rc = req_json(r, &o)))
			goto out;
		username = req_str(r, o, "username", true, 64);
		password = req_str(r, o, "password", true, PASSWORD_MAX);
	}
	if (r->errors) {
		rc = ERR_VALIDATION;
		goto out;
	}
	/* per name (guessing one password), per address (spraying many
	 * names, counting failures only: an office behind one address signs
	 * in freely), and the hashing itself for everyone */
	char failures[160];
	if ((rc = limit(r, "signin", username, r->app->conf.signin_rate,
			r->app->conf.signin_burst, NULL)) ||
	    (rc = limit(r, "signin-failed", req_ip(r), r->app->conf.signin_address_rate,
			r->app->conf.signin_address_burst, failures)))
		goto out;
	const char *params[] = { username };
	if ((rc = db_exec(r->app->db, SQL_USER_LOGIN, params, &res)))
		goto out;
	struct hashing place;
	if ((rc = hashing_take(r, &place)))
		goto out;
	bool ok = PQntuples(res) && auth_password_verify(PQgetvalue(res, 0, 1), password);
	if (!PQntuples(res))
		burn_a_verify(r, password);
	hashing_give(r, &place);
	if (!ok) {
		audit_write(r->app->db, PQntuples(res) ? PQgetvalue(res, 0, 0) : NULL,
			    "signin-failed", username, req_ip(r), NULL);
		req_detail(r, "wrong username or password");
		rc = ERR_AUTH;
		goto out;
	}
	if (auth_uuid(sid)) {
		rc = ERR_INTERNAL;
		goto out;
	}
	ratelimit_refund(r->app->kv, failures, r->app->conf.signin_address_burst);
	if ((rc = issue_pair(r, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2), sid, 200)))
		goto out;
	audit_write(r->app->db, PQgetvalue(res, 0, 0), "signin", username, req_ip(r), NULL);
out:
	PQclear(res);
	json_object_put(o);
	return rc;
}

/* Ends sign-in @sid: its refresh tokens in PostgreSQL (the truth), its
 * access tokens and open streams through Redis (lib/revocation.h). */
static int end_signin(struct req *r, const char *sid)
{
	const char *params[] = { sid };
	PGresult *res = NULL;
	int rc = db_exec(r->app->db, SQL_REFRESH_REVOKE_FAMILY, params, &res);

	PQclear(res);
	if (!rc)
		revocation_mark(r->app->kv, sid, revocation_ttl(r->app->conf.access_ttl));
	return rc;
}

/* The body {"refresh_token": …} → the digest the database keeps of it. */
static int read_refresh_token(struct req *r, struct json_object **o, char digest[65])
{
	const char *token;
	int rc;

	if ((rc = req_json(r, o)))
		return rc;
	if (!(token = req_str(r, *o, "refresh_token", true, 128)))
		return ERR_VALIDATION;
	auth_token_digest(token, digest);
	return 0;
}

int h_auth_refresh(struct req *r)
{
	struct json_object *o = NULL;
	char digest[65];
	PGresult *res = NULL;
	int rc;

	if ((rc = read_refresh_token(r, &o, digest)))
		goto out;
	const char *params[] = { digest };
	if ((rc = db_begin(r->app->db)))
		goto out;
	if ((rc = db_exec(r->app->db, SQL_REFRESH_SPEND, params, &res)))
		goto failed;
	if (PQntuples(res) == 1) {
		char sid[37], user[37], role[16];
		snprintf(sid, sizeof(sid), "%s", PQgetvalue(res, 0, 0));
		snprintf(user, sizeof(user), "%s", PQgetvalue(res, 0, 1));
		snprintf(role, sizeof(role), "%s", PQgetvalue(res, 0, 2));
		if ((rc = issue_pair(r, user, role, sid, 200)) ||
		    (rc = db_commit(r->app->db)))
			goto failed;
		goto out;
	}
	db_rollback(r->app->db);
	PQclear(res);
	/* not live: unknown, expired, revoked, or spent — spent is a theft */
	if ((rc = db_exec(r->app->db, SQL_REFRESH_FIND, params, &res)))
		goto out;
	if (PQntuples(res) && !strcmp(PQgetvalue(res, 0, 2), "t")) {
		end_signin(r, PQgetvalue(res, 0, 0));
		audit_write(r->app->db, PQgetvalue(res, 0, 1), "token-reuse",
			    PQgetvalue(res, 0, 0), req_ip(r), NULL);
		log_warn(r->id, "refresh token reused: sign-in %s revoked", PQgetvalue(res, 0, 0));
	}
	req_detail(r, "the refresh token is not valid");
	rc = ERR_AUTH;
	goto out;
failed:
	free(r->out);		/* an answer prepared before the failure */
	r->out = NULL;
out:
	db_rollback(r->app->db);
	PQclear(res);
	json_object_put(o);
	return rc;
}

int h_auth_logout(struct req *r)
{
	struct json_object *o = NULL;
	char digest[65];
	PGresult *res = NULL;
	int rc;

	if ((rc = read_refresh_token(r, &o, digest)))
		goto out;
	const char *params[] = { digest };
	if ((rc = db_exec(r->app->db, SQL_REFRESH_FIND, params, &res)))
		goto out;
	/* someone else's token, or none: nothing to end, and nothing to tell */
	if (PQntuples(res) && !strcmp(PQgetvalue(res, 0, 1), r->user.user_id)) {
		if ((rc = end_signin(r, PQgetvalue(res, 0, 0))))
			goto out;
		audit_write(r->app->db, r->user.user_id, "signout", PQgetvalue(res, 0, 0),
			    req_ip(r), NULL);
	}
	rc = req_reply(r, 204, NULL);
out:
	PQclear(res);
	json_object_put(o);
	return rc;
}
