/*
 * h_channels.c - the channels' side of the API (API.md "Channels"):
 * inbound webhooks, a user's own addresses on channels, and where a
 * message went.
 *
 * A webhook is verified (Meta: X-Hub-Signature-256 over the raw body with
 * the app secret; Telegram: the secret token header), queued as an
 * `inbound` job and answered 200 at once: the work happens in the job
 * (jobs/j_inbound.c), so the provider is never kept waiting and never
 * retries for our slowness. What does not verify gets 401 and writes
 * nothing.
 */
#include "access.h"
#include "handlers.h"

#include "../lib/audit.h"
#include "../lib/auth.h"
#include "../lib/channels.h"
#include "../lib/err.h"
#include "../lib/kv_keys.h"
#include "../lib/queue.h"
#include "../lib/ratelimit.h"
#include "../lib/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* providers nest deeper than our own API's bodies */
#define WEBHOOK_MAX_DEPTH 32

/* "/v1/webhooks/<channel>" → that channel, when it takes webhooks */
static const struct channel_ops *webhook_channel(const struct req *r)
{
	const char *c = strrchr(r->path, '/');
	const struct channel_ops *ch = c ? channel_find(c + 1) : NULL;

	return ch && ch->webhook_parse ? ch : NULL;
}

static bool equal_str(const char *a, const char *b)
{
	size_t n = strlen(a);

	return n == strlen(b) && auth_equal(a, b, n);
}

/* GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=… (Meta) */
int h_webhook_verify(struct req *r)
{
	char mode[32], token[256], challenge[128];
	const char *want = r->app->conf.meta_verify_token;

	if (!webhook_channel(r) || !webhook_channel(r)->subscription_check) {
		req_detail(r, "%s has no subscription check", r->path);
		return ERR_METHOD;
	}
	if (!req_query(r, "hub.mode", mode, sizeof(mode)) || strcmp(mode, "subscribe") ||
	    !req_query(r, "hub.verify_token", token, sizeof(token)) ||
	    !req_query(r, "hub.challenge", challenge, sizeof(challenge)) || !want || !*want ||
	    !equal_str(token, want)) {
		req_detail(r, "the verify token does not match");
		return ERR_FORBIDDEN;
	}
	r->content_type = "text/plain";
	return req_reply(r, 200, challenge);
}

int h_webhook_receive(struct req *r)
{
	const struct channel_ops *ch = webhook_channel(r);
	struct json_object *body, *payload;
	int rc;

	if (!ch) {
		req_detail(r, "no such channel");
		return ERR_NOTFOUND;
	}
	if ((rc = req_body(r)))
		return rc;
	if (!ch->webhook_signed(&r->app->conf, req_env(r, ch->signature_header), r->body,
				r->body_len)) {
		req_detail(r, "the signature does not verify");
		return ERR_AUTH;
	}
	/* strict, and valid UTF-8: what the job stores must be text PostgreSQL takes */
	const char *why;
	if (!(body = validate_json_object(r->body, r->body_len, WEBHOOK_MAX_DEPTH, &why))) {
		req_detail(r, "%s", why);
		return ERR_INVALID_JSON;
	}
	payload = json_object_new_object();
	json_object_object_add(payload, "channel", json_object_new_string(ch->name));
	json_object_object_add(payload, "body", body);
	rc = queue_enqueue(r->app->db, "inbound", ch->name,
			   json_object_to_json_string_ext(payload, JSON_C_TO_STRING_PLAIN));
	json_object_put(payload);
	if (rc)
		return rc;
	queue_notify(r->app->db, "inbound");
	return req_reply(r, 200, "{\"ok\":true}");
}

/* --------------------------------------------------------- identities */

/* What an address looks like on @channel (a known one). */
static bool address_ok(const char *channel, const char *a)
{
	return channel_find(channel)->address_ok(a);
}

/* {"items": <the JSON array in @res>}, and @res is cleared */
static int reply_items(struct req *r, PGresult *res)
{
	char *out = NULL;

	if (asprintf(&out, "{\"items\":%s}", PQgetvalue(res, 0, 0)) < 0)
		out = NULL;
	PQclear(res);
	return out ? req_reply_take(r, 200, out) : ERR_INTERNAL;
}

int h_identities_list(struct req *r)
{
	const char *params[] = { r->user.user_id };
	PGresult *res = NULL;
	int rc;

	if ((rc = db_exec(r->app->db, SQL_IDENTITY_LIST, params, &res)))
		return rc;
	return reply_items(r, res);
}

#define CODE_TTL 600		/* seconds a code is good for */

/* The hash a claim keeps of its code: bound to the address and the person. */
static void code_hash(const char *channel, const char *address, const char *user,
		      const char *code, char out[65])
{
	char *s = NULL;

	if (asprintf(&s, "%s:%s:%s:%s", channel, address, user, code) < 0) {
		out[0] = '\0';
		return;
	}
	auth_token_digest(s, out);
	free(s);
}

/* Six random digits. */
static int new_code(char out[7])
{
	unsigned char raw[8];
	unsigned long long v = 0;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return ERR_INTERNAL;
	for (int i = 0; i < 8; i++)
		v = v << 8 | raw[i];
	snprintf(out, 7, "%06llu", v % 1000000);
	return 0;
}

/*
 * Codes are limited per person and per address: nobody uses Chat4All to
 * flood someone's phone with codes, nor to guess through many claims.
 */
static int code_limit(struct req *r, const char *channel, const char *address)
{
	char key[600];
	int rc;

	snprintf(key, sizeof(key), KV_RATE, "code:user", r->user.user_id);
	if ((rc = ratelimit_take(r->app->kv, key, 5.0 / 3600, 5, NULL, &r->retry_after)))
		goto limited;
	snprintf(key, sizeof(key), KV_RATE ":%s", "code:to", channel, address);
	if ((rc = ratelimit_take(r->app->kv, key, 3.0 / 3600, 3, NULL, &r->retry_after)))
		goto limited;
	return 0;
limited:
	if (rc == ERR_RATELIMITED)
		req_detail(r, "too many codes asked for; retry in %d s", r->retry_after);
	return rc;
}

/*
 * {channel, address}: a webhook (admins only) is linked at once; an
 * address on a channel is a claim until its code comes back: a code goes
 * to that address through the channel, like any message, and the link
 * is made by POST …/{channel}/{address}/verify. Until then it receives
 * and sends nothing.
 */
int h_identities_add(struct req *r)
{
	struct json_object *o = NULL;
	const char *channel, *address;
	char code[7], hash[65], ttl[16], text[160];
	PGresult *res = NULL;
	int rc;

	if ((rc = req_json(r, &o)))
		goto out;
	channel = req_str(r, o, "channel", true, 16);
	address = req_str(r, o, "address", true, 512);
	if (channel && !channel_known(channel)) {
		char why[160];
		snprintf(why, sizeof(why), "must be one of %s", channel_names());
		req_field_error(r, "channel", why);
	}
	else if (channel && address && !address_ok(channel, address))
		req_field_error(r, "address", "is not an address on that channel");
	if (r->errors) {
		rc = ERR_VALIDATION;
		goto out;
	}
	if (channel_find(channel)->addresses_by_admin) {
		/* the server will POST to that URL: an admin's decision, not anyone's */
		if ((rc = access_admin(r)))
			goto out;
		const char *params[] = { r->user.user_id, channel, address };
		if ((rc = db_exec(r->app->db, SQL_IDENTITY_ADD, params, &res)))
			goto out;
		if (!PQntuples(res)) {
			req_detail(r, "%s %s is linked already", channel, address);
			rc = ERR_CONFLICT;
			goto out;
		}
		rc = req_reply(r, 201, PQgetvalue(res, 0, 0));
		goto out;
	}
	if ((rc = code_limit(r, channel, address)) || (rc = new_code(code)))
		goto out;
	code_hash(channel, address, r->user.user_id, code, hash);
	snprintf(ttl, sizeof(ttl), "%d", CODE_TTL);
	snprintf(text, sizeof(text), "Your Chat4All code is %s. Someone asked to link this %s to "
		 "their account; if it was not you, ignore this.", code, channel);
	const char *params[] = { channel, address, r->user.user_id, hash, ttl, text };
	if ((rc = db_exec(r->app->db, SQL_IDENTITY_CLAIM, params, &res)))
		goto out;
	if (!strcmp(PQgetvalue(res, 0, 0), "linked")) {
		req_detail(r, "%s %s is linked to you already", channel, address);
		rc = ERR_CONFLICT;
		goto out;
	}
	struct json_object *a = json_object_new_object();
	json_object_object_add(a, "channel", json_object_new_string(channel));
	json_object_object_add(a, "address", json_object_new_string(address));
	json_object_object_add(a, "status", json_object_new_string("pending"));
	json_object_object_add(a, "expires_in", json_object_new_int(CODE_TTL));
	rc = req_reply(r, 202, json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
	json_object_put(a);
out:
	PQclear(res);
	json_object_put(o);
	return rc;
}

/* POST /v1/me/identities/{channel}/{address}/verify {code} */
int h_identities_verify(struct req *r)
{
	const char *channel = r->params[0], *address = r->params[1], *code;
	struct json_object *o = NULL;
	char hash[65];
	PGresult *res = NULL;
	int rc;

	if (!channel_known(channel) || channel_find(channel)->addresses_by_admin ||
	    !address_ok(channel, address)) {
		req_detail(r, "no claim of %s %s", channel, address);
		return ERR_NOTFOUND;
	}
	if ((rc = req_json(r, &o)))
		goto out;
	code = req_str(r, o, "code", true, 16);
	if (code && (strlen(code) != 6 || strspn(code, "0123456789") != 6))
		req_field_error(r, "code", "is the six digits sent to that address");
	if (r->errors) {
		rc = ERR_VALIDATION;
		goto out;
	}
	code_hash(channel, address, r->user.user_id, code, hash);
	const char *params[] = { channel, address, r->user.user_id, hash };
	if ((rc = db_exec(r->app->db, SQL_IDENTITY_PROVE, params, &res)))
		goto out;
	const char *outcome = PQgetvalue(res, 0, 0);
	if (!strcmp(outcome, "linked")) {
		audit_write(r->app->db, r->user.user_id, "identity-linked", address, req_ip(r), NULL);
		rc = req_reply(r, 201, PQgetvalue(res, 0, 1));
	} else if (!strcmp(outcome, "wrong")) {
		req_field_error(r, "code", "does not match the code sent");
		rc = ERR_VALIDATION;
	} else if (!strcmp(outcome, "exhausted")) {
		req_detail(r, "too many wrong codes: ask for a new one");
		r->retry_after = 1;
		rc = ERR_RATELIMITED;
	} else if (!strcmp(outcome, "expired")) {
		req_detail(r, "the code has expired: ask for a new one");
		rc = ERR_GONE;
	} else {
		req_detail(r, "no claim of %s %s: ask for a code first", channel, address);
		rc = ERR_NOTFOUND;
	}
out:
	PQclear(res);
	json_object_put(o);
	return rc;
}

int h_identities_delete(struct req *r)
{
	char channel[16], address[520];
	PGresult *res = NULL;
	int rc;

	if (!req_query(r, "channel", channel, sizeof(channel)) ||
	    !req_query(r, "address", address, sizeof(address))) {
		req_field_error(r, "channel", "name the identity: ?channel=…&address=…");
		return ERR_VALIDATION;
	}
	const char *params[] = { r->user.user_id, channel, address };
	if ((rc = db_exec(r->app->db, SQL_IDENTITY_DELETE, params, &res)))
		return rc;
	rc = atoi(PQgetvalue(res, 0, 0)) ? req_reply(r, 204, NULL) : ERR_NOTFOUND;
	if (rc == ERR_NOTFOUND)
		req_detail(r, "you have no %s identity %s", channel, address);
	PQclear(res);
	return rc;
}

/* ---------------------------------------------------------- deliveries */

int h_messages_deliveries(struct req *r)
{
	const char *p1[] = { r->params[0], r->user.user_id };
	PGresult *res = NULL;
	int rc;

	/* whoever may see the message may see where it went */
	if ((rc = db_exec(r->app->db, SQL_MSG_GET, p1, &res)))
		return rc;
	bool visible = PQntuples(res) > 0 && !strcmp(PQgetvalue(res, 0, 0), "t") &&
		       !strcmp(PQgetvalue(res, 0, 1), "t");
	PQclear(res);
	if (!visible) {
		req_detail(r, "message %s does not exist", r->params[0]);
		return ERR_NOTFOUND;
	}
	const char *p2[] = { r->params[0], r->user.user_id };
	if ((rc = db_exec(r->app->db, SQL_DELIVERIES_OF, p2, &res)))
		return rc;
	return reply_items(r, res);
}
