/*
 * api_test - the REST API over real HTTP: lighttpd, the FastCGI
 * responders, PostgreSQL and Redis, as tools/test.sh starts them.
 * Every test makes its own users, so the tests are independent.
 */
#include "client.h"
#include "http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <jwt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- auth */

static void test_register_rules(void **state)
{
	struct resp r;
	struct user u;
	(void)state;

	signup(&u, "reg");
	json_post(&r, "/v1/auth/register", NULL, "{\"username\":\"%s\",\"password\":\"another one\"}", u.name);
	assert_problem(&r, 409, "conflict");
	resp_free(&r);

	json_post(&r, "/v1/auth/register", NULL, "{\"username\":\"No Caps\",\"password\":\"x\"}");
	assert_problem(&r, 400, "validation");
	assert_field_error(&r, "username");
	assert_field_error(&r, "password");
	resp_free(&r);

	json_post(&r, "/v1/auth/register", NULL, "{\"username\":\"ab\",\"password\":\"long enough\"}");
	assert_problem(&r, 400, "validation");
	resp_free(&r);

	json_post(&r, "/v1/auth/register", NULL, "{\"password\":\"long enough\"}");
	assert_problem(&r, 400, "validation");
	assert_field_error(&r, "username");
	resp_free(&r);

	json_post(&r, "/v1/auth/register", NULL, "{\"username\":42,\"password\":\"long enough\"}");
	assert_problem(&r, 400, "validation");
	resp_free(&r);

	/* a refused sign-up wrote nothing: the name is still free */
	char name[40];
	snprintf(name, sizeof(name), "free_%s", run_tag);
	json_post(&r, "/v1/auth/register", NULL, "{\"username\":\"%s\",\"password\":\"short\"}", name);
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	json_post(&r, "/v1/auth/register", NULL, "{\"username\":\"%s\",\"password\":\"long enough\"}", name);
	assert_int_equal(r.status, 201);
	resp_free(&r);
}

static void test_signin(void **state)
{
	struct resp r, r2;
	struct user u;
	char body[256];
	(void)state;

	signup(&u, "signin");
	/* the OAuth 2 password grant as a form */
	snprintf(body, sizeof(body), "grant_type=password&username=%s&password=correct+horse", u.name);
	http(&r, "POST", "/v1/auth/token", NULL, body, strlen(body),
	     "application/x-www-form-urlencoded", NULL);
	assert_int_equal(r.status, 200);
	assert_non_null(jstr(r.json, "access_token"));
	resp_free(&r);

	/* wrong password and unknown user: the same answer */
	json_post(&r, "/v1/auth/token", NULL, "{\"username\":\"%s\",\"password\":\"wrong horse\"}", u.name);
	json_post(&r2, "/v1/auth/token", NULL, "{\"username\":\"nobody_%s\",\"password\":\"wrong horse\"}", run_tag);
	assert_problem(&r, 401, "unauthorized");
	assert_problem(&r2, 401, "unauthorized");
	assert_string_equal(jstr(r.json, "detail"), jstr(r2.json, "detail"));
	resp_free(&r);
	resp_free(&r2);

	json_post(&r, "/v1/auth/token", NULL, "{\"username\":\"%s\"}", u.name);
	assert_problem(&r, 400, "validation");
	assert_field_error(&r, "password");
	resp_free(&r);

	assert_int_equal(get(&r, u.access, "/v1/me"), 200);
	assert_string_equal(jstr(r.json, "id"), u.id);
	assert_string_equal(jstr(r.json, "username"), u.name);
	assert_string_equal(jstr(r.json, "display_name"), "signin");
	resp_free(&r);
}

static void test_refresh_rotation_and_reuse(void **state)
{
	struct resp r;
	struct user u;
	char old_refresh[64], new_access[1024], new_refresh[64];
	(void)state;

	signup(&u, "refresh");
	snprintf(old_refresh, sizeof(old_refresh), "%s", u.refresh);
	json_post(&r, "/v1/auth/refresh", NULL, "{\"refresh_token\":\"%s\"}", old_refresh);
	assert_int_equal(r.status, 200);
	snprintf(new_access, sizeof(new_access), "%s", jstr(r.json, "access_token"));
	snprintf(new_refresh, sizeof(new_refresh), "%s", jstr(r.json, "refresh_token"));
	assert_string_not_equal(new_refresh, old_refresh);
	resp_free(&r);
	assert_int_equal(get(&r, new_access, "/v1/me"), 200);
	resp_free(&r);

	/* the spent token again: a theft; the whole sign-in ends */
	json_post(&r, "/v1/auth/refresh", NULL, "{\"refresh_token\":\"%s\"}", old_refresh);
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	json_post(&r, "/v1/auth/refresh", NULL, "{\"refresh_token\":\"%s\"}", new_refresh);
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	get(&r, new_access, "/v1/me");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);

	json_post(&r, "/v1/auth/refresh", NULL, "{\"refresh_token\":\"made-up\"}");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	json_post(&r, "/v1/auth/refresh", NULL, "{}");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
}

static void test_logout(void **state)
{
	struct resp r;
	struct user u, other;
	(void)state;

	char conv[37];

	signup(&u, "logout");
	signup(&other, "logout");
	private_conv(&u, &other, conv);
	/* someone else's refresh token: nothing of theirs ends */
	json_post(&r, "/v1/auth/logout", u.access, "{\"refresh_token\":\"%s\"}", other.refresh);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	assert_int_equal(get(&r, other.access, "/v1/me"), 200);
	resp_free(&r);

	json_post(&r, "/v1/auth/logout", u.access, "{\"refresh_token\":\"%s\"}", u.refresh);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	json_post(&r, "/v1/auth/refresh", NULL, "{\"refresh_token\":\"%s\"}", u.refresh);
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	get(&r, u.access, "/v1/me");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	/* the send route checks the sign-in together with its rate limit */
	send_text(&r, &u, conv, "after-logout", "too late");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	assert_int_equal(send_text(&r, &other, conv, "still-in", "fine"), 202);
	resp_free(&r);
}

static char *b64url(const char *s)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n = strlen(s), j = 0;
	char *out = malloc(n * 2 + 4);

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)s[i] << 16;
		if (i + 1 < n) v |= (unsigned char)s[i + 1] << 8;
		if (i + 2 < n) v |= (unsigned char)s[i + 2];
		out[j++] = t[(v >> 18) & 63];
		out[j++] = t[(v >> 12) & 63];
		if (i + 1 < n) out[j++] = t[(v >> 6) & 63];
		if (i + 2 < n) out[j++] = t[v & 63];
	}
	out[j] = '\0';
	return out;
}

static void test_bad_tokens(void **state)
{
	struct resp r;
	struct user u;
	char tok[2048], payload[512];
	(void)state;

	signup(&u, "tokens");
	get(&r, NULL, "/v1/me");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	get(&r, "not.a.token", "/v1/me");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);

	/* signed correctly, but expired */
	char *expired = token_with_exp(&u, -60), *fresh = token_with_exp(&u, 600);
	get(&r, expired, "/v1/me");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	assert_int_equal(get(&r, fresh, "/v1/me"), 200);	/* the same, unexpired, works */
	resp_free(&r);

	/* tampered: the payload changed, the signature kept */
	snprintf(payload, sizeof(payload),
		 "{\"sub\":\"%s\",\"role\":\"admin\",\"sid\":\"00000000-0000-4000-8000-000000000000\",\"exp\":%ld}",
		 u.id, (long)time(NULL) + 600);
	char *p64 = b64url(payload), *dot1 = strchr(u.access, '.'), *dot2 = strrchr(u.access, '.');
	snprintf(tok, sizeof(tok), "%.*s.%s%s", (int)(dot1 - u.access), u.access, p64, dot2);
	get(&r, tok, "/v1/me");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);

	/* alg=none, no signature */
	char *h64 = b64url("{\"alg\":\"none\",\"typ\":\"JWT\"}");
	snprintf(tok, sizeof(tok), "%s.%s.", h64, p64);
	get(&r, tok, "/v1/me");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	free(h64);
	free(p64);
	free(expired);
	free(fresh);
}

/* ------------------------------------------------------- conversations */

static void test_users_directory(void **state)
{
	struct resp r;
	struct user a, b, c;
	char cursor[64];
	(void)state;

	signup(&a, "dirx");
	signup(&b, "dirx");
	signup(&c, "dirx");
	assert_int_equal(get(&r, a.access, "/v1/users?q=dirx_%s&limit=2", run_tag), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "items")), 2);
	assert_non_null(jstr(r.json, "next_cursor"));
	assert_null(jget(r.json, "items.0.password_hash"));
	snprintf(cursor, sizeof(cursor), "%s", jstr(r.json, "next_cursor"));
	resp_free(&r);
	assert_int_equal(get(&r, a.access, "/v1/users?q=dirx_%s&limit=2&cursor=%s", run_tag, cursor), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "items")), 1);
	assert_null(jget(r.json, "next_cursor") ? jstr(r.json, "next_cursor") : NULL);
	resp_free(&r);
	get(&r, a.access, "/v1/users?limit=1000");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	get(&r, NULL, "/v1/users");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
}

static void test_private_conversation(void **state)
{
	struct resp r;
	struct user a, b, c;
	char id[37], id2[37];
	(void)state;

	signup(&a, "priv");
	signup(&b, "priv");
	signup(&c, "priv");
	json_post(&r, "/v1/conversations", a.access, "{\"type\":\"private\",\"members\":[\"%s\"]}", b.id);
	assert_int_equal(r.status, 201);
	assert_string_equal(jstr(r.json, "type"), "private");
	assert_int_equal(json_object_array_length(jget(r.json, "members")), 2);
	snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
	resp_free(&r);

	/* the pair has one conversation, whoever asks */
	json_post(&r, "/v1/conversations", b.access, "{\"type\":\"private\",\"members\":[\"%s\"]}", a.id);
	assert_int_equal(r.status, 200);
	snprintf(id2, sizeof(id2), "%s", jstr(r.json, "id"));
	assert_string_equal(id, id2);
	resp_free(&r);

	json_post(&r, "/v1/conversations", a.access, "{\"type\":\"private\",\"members\":[\"%s\"]}", a.id);
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	json_post(&r, "/v1/conversations", a.access,
		  "{\"type\":\"private\",\"members\":[\"00000000-0000-4000-8000-000000000000\"]}");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	json_post(&r, "/v1/conversations", a.access, "{\"type\":\"private\",\"members\":\"%s\"}", b.id);
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	json_post(&r, "/v1/conversations", a.access, "{\"type\":\"channel\",\"members\":[\"%s\"]}", b.id);
	assert_problem(&r, 400, "validation");
	assert_field_error(&r, "type");
	resp_free(&r);

	assert_int_equal(get(&r, b.access, "/v1/conversations/%s", id), 200);
	resp_free(&r);
	get(&r, c.access, "/v1/conversations/%s", id);
	assert_problem(&r, 403, "forbidden");
	resp_free(&r);
	get(&r, c.access, "/v1/conversations/00000000-0000-4000-8000-000000000000");
	assert_problem(&r, 404, "not-found");
	resp_free(&r);
	get(&r, c.access, "/v1/conversations/not-a-uuid");
	assert_problem(&r, 404, "not-found");
	resp_free(&r);

	assert_int_equal(get(&r, a.access, "/v1/conversations"), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "items")), 1);
	assert_string_equal(jstr(r.json, "items.0.id"), id);
	assert_string_equal(jstr(r.json, "items.0.peer.user_id"), b.id);
	assert_int_equal(jint(r.json, "items.0.members_count"), 2);
	resp_free(&r);
	assert_int_equal(get(&r, c.access, "/v1/conversations"), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "items")), 0);
	resp_free(&r);
}

static void test_conversation_list_paging(void **state)
{
	struct resp r;
	struct user me, other[3];
	char conv[3][37], cursor[96], seen[3][37];
	(void)state;

	signup(&me, "list");
	for (int i = 0; i < 3; i++) {
		signup(&other[i], "list");
		private_conv(&me, &other[i], conv[i]);
	}
	/* activity moves the first conversation to the top */
	send_text(&r, &me, conv[0], "bump", "latest");
	resp_free(&r);
	assert_int_equal(get(&r, me.access, "/v1/conversations?limit=2"), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "items")), 2);
	assert_string_equal(jstr(r.json, "items.0.id"), conv[0]);
	assert_string_equal(jstr(r.json, "items.0.last_message.text"), "latest");
	snprintf(seen[0], 37, "%s", jstr(r.json, "items.0.id"));
	snprintf(seen[1], 37, "%s", jstr(r.json, "items.1.id"));
	snprintf(cursor, sizeof(cursor), "%s", jstr(r.json, "next_cursor"));
	resp_free(&r);
	assert_int_equal(get(&r, me.access, "/v1/conversations?limit=2&cursor=%s", cursor), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "items")), 1);
	snprintf(seen[2], 37, "%s", jstr(r.json, "items.0.id"));
	assert_null(jstr(r.json, "next_cursor"));
	resp_free(&r);
	/* three different conversations over the two pages */
	assert_string_not_equal(seen[0], seen[1]);
	assert_string_not_equal(seen[1], seen[2]);
	assert_string_not_equal(seen[0], seen[2]);
	get(&r, me.access, "/v1/conversations?cursor=12_not-a-uuid");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	get(&r, me.access, "/v1/conversations?cursor=abc");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
}

static void test_group_rules(void **state)
{
	struct resp r;
	struct user admin, m1, m2, outsider, extra[5];
	char id[37], path[160];
	(void)state;

	signup(&admin, "grp");
	signup(&m1, "grp");
	signup(&m2, "grp");
	signup(&outsider, "grp");
	json_post(&r, "/v1/conversations", admin.access,
		  "{\"type\":\"group\",\"title\":\"Team\",\"members\":[\"%s\",\"%s\",\"%s\"]}",
		  m1.id, m1.id, admin.id);
	assert_int_equal(r.status, 201);
	assert_string_equal(jstr(r.json, "title"), "Team");
	assert_int_equal(json_object_array_length(jget(r.json, "members")), 2);
	assert_string_equal(jstr(r.json, "members.0.user_id"), admin.id);
	assert_string_equal(jstr(r.json, "members.0.role"), "admin");
	snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
	resp_free(&r);

	json_post(&r, "/v1/conversations", admin.access, "{\"type\":\"group\",\"members\":[]}");
	assert_problem(&r, 400, "validation");
	assert_field_error(&r, "title");
	resp_free(&r);

	snprintf(path, sizeof(path), "/v1/conversations/%s/members", id);
	json_post(&r, path, m1.access, "{\"user_id\":\"%s\"}", m2.id);
	assert_problem(&r, 403, "forbidden");
	resp_free(&r);
	json_post(&r, path, outsider.access, "{\"user_id\":\"%s\"}", outsider.id);
	assert_problem(&r, 403, "forbidden");
	resp_free(&r);
	json_post(&r, path, admin.access, "{\"user_id\":\"%s\"}", m2.id);
	assert_int_equal(r.status, 201);
	assert_string_equal(jstr(r.json, "role"), "member");
	resp_free(&r);
	json_post(&r, path, admin.access, "{\"user_id\":\"%s\"}", m2.id);
	assert_problem(&r, 409, "conflict");
	resp_free(&r);
	json_post(&r, path, admin.access, "{\"user_id\":\"nope\"}");
	assert_problem(&r, 400, "validation");
	resp_free(&r);

	/* the test instance's limit is 5 members */
	for (int i = 0; i < 2; i++) {
		signup(&extra[i], "grpx");
		json_post(&r, path, admin.access, "{\"user_id\":\"%s\"}", extra[i].id);
		assert_int_equal(r.status, 201);
		resp_free(&r);
	}
	signup(&extra[2], "grpx");
	json_post(&r, path, admin.access, "{\"user_id\":\"%s\"}", extra[2].id);
	assert_problem(&r, 409, "conflict");
	resp_free(&r);

	/* a member may not remove another, may leave; an admin removes anyone */
	snprintf(path, sizeof(path), "/v1/conversations/%s/members/%s", id, m2.id);
	http(&r, "DELETE", path, m1.access, NULL, 0, NULL, NULL);
	assert_problem(&r, 403, "forbidden");
	resp_free(&r);
	http(&r, "DELETE", path, m2.access, NULL, 0, NULL, NULL);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	http(&r, "DELETE", path, admin.access, NULL, 0, NULL, NULL);
	assert_problem(&r, 404, "not-found");	/* m2 has left already */
	resp_free(&r);
}

static void test_group_admin_leaves(void **state)
{
	struct resp r;
	struct user admin, m1;
	char id[37], path[160];
	(void)state;

	signup(&admin, "lead");
	signup(&m1, "lead");
	json_post(&r, "/v1/conversations", admin.access,
		  "{\"type\":\"group\",\"title\":\"Lead\",\"members\":[\"%s\"]}", m1.id);
	snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
	resp_free(&r);
	snprintf(path, sizeof(path), "/v1/conversations/%s/members/%s", id, admin.id);
	http(&r, "DELETE", path, admin.access, NULL, 0, NULL, NULL);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	/* the group is never without an admin */
	assert_int_equal(get(&r, m1.access, "/v1/conversations/%s", id), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "members")), 1);
	assert_string_equal(jstr(r.json, "members.0.role"), "admin");
	resp_free(&r);
	get(&r, admin.access, "/v1/conversations/%s", id);
	assert_problem(&r, 403, "forbidden");
	resp_free(&r);
}

/* ------------------------------------------------------------ messages */

static void test_send_idempotent(void **state)
{
	struct resp r, r2;
	struct user a, b, c;
	char conv[37], conv2[37], id[37], path[160], hdr[64];
	(void)state;

	signup(&a, "send");
	signup(&b, "send");
	signup(&c, "send");
	private_conv(&a, &b, conv);
	private_conv(&a, &c, conv2);

	assert_int_equal(send_text(&r, &a, conv, "k1", "hello"), 202);
	assert_string_equal(jstr(r.json, "status"), "pending");
	assert_int_equal(jint(r.json, "seq"), 1);
	assert_string_equal(jstr(r.json, "sender_id"), a.id);
	assert_string_equal(jstr(r.json, "conversation_id"), conv);
	snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
	assert_null(resp_header(&r, "Idempotent-Replayed", hdr, sizeof(hdr)));
	assert_int_equal(send_text(&r2, &a, conv, "k1", "hello"), 202);
	assert_string_equal(jstr(r2.json, "id"), id);
	assert_int_equal(jint(r2.json, "seq"), 1);
	assert_non_null(resp_header(&r2, "Idempotent-Replayed", hdr, sizeof(hdr)));
	resp_free(&r);
	resp_free(&r2);
	assert_int_equal(history_count(&a, conv), 1);

	/* the key as a header; the body's client_id wins when both are there */
	snprintf(path, sizeof(path), "/v1/conversations/%s/messages", conv);
	http(&r, "POST", path, a.access, "{\"text\":\"by header\"}", 20, NULL, "Idempotency-Key: k2");
	assert_int_equal(r.status, 202);
	assert_int_equal(jint(r.json, "seq"), 2);
	resp_free(&r);
	http(&r, "POST", path, a.access, "{\"text\":\"by header\"}", 20, NULL, "Idempotency-Key: k2");
	assert_int_equal(jint(r.json, "seq"), 2);
	resp_free(&r);

	/* POST /v1/messages with the conversation in the body */
	json_post(&r, "/v1/messages", a.access,
		  "{\"conversation_id\":\"%s\",\"client_id\":\"k3\",\"text\":\"hi\"}", conv);
	assert_int_equal(r.status, 202);
	assert_int_equal(jint(r.json, "seq"), 3);
	resp_free(&r);
	json_post(&r, "/v1/messages", a.access, "{\"client_id\":\"k4\",\"text\":\"hi\"}");
	assert_problem(&r, 400, "validation");
	assert_field_error(&r, "conversation_id");
	resp_free(&r);

	/* a key names one message: reusing it elsewhere is a conflict */
	send_text(&r, &a, conv2, "k1", "hello");
	assert_problem(&r, 409, "conflict");
	resp_free(&r);
	assert_int_equal(history_count(&a, conv2), 0);

	/* non-members and unknown conversations */
	send_text(&r, &c, conv, "x1", "intruder");
	assert_problem(&r, 403, "forbidden");
	resp_free(&r);
	send_text(&r, &c, "00000000-0000-4000-8000-000000000000", "x2", "void");
	assert_problem(&r, 404, "not-found");
	resp_free(&r);
	assert_int_equal(history_count(&a, conv), 3);
}

struct race {
	struct user *u;
	const char *conv;
	const char *client_id;	/* NULL: each send its own */
	int count;
	char ids[64][37];
	int ok;
};

static void *race_sender(void *arg)
{
	struct race *rc = arg;
	char key[64];

	for (int i = 0; i < rc->count; i++) {
		struct resp r;
		snprintf(key, sizeof(key), "%s-%d", rc->u->name, i);
		if (send_text(&r, rc->u, rc->conv, rc->client_id ? rc->client_id : key, "race") == 202) {
			snprintf(rc->ids[i], 37, "%s", jstr(r.json, "id"));
			rc->ok++;
		}
		resp_free(&r);
	}
	return NULL;
}

static void test_concurrent_duplicates(void **state)
{
	struct user a, b;
	struct race races[8];
	pthread_t t[8];
	char conv[37];
	(void)state;

	signup(&a, "dup");
	signup(&b, "dup");
	private_conv(&a, &b, conv);
	for (int i = 0; i < 8; i++) {
		races[i] = (struct race){ .u = &a, .conv = conv, .client_id = "same-key", .count = 1 };
		pthread_create(&t[i], NULL, race_sender, &races[i]);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(races[i].ok, 1);
		assert_string_equal(races[i].ids[0], races[0].ids[0]);
	}
	assert_int_equal(history_count(&a, conv), 1);
}

static void test_concurrent_senders_seq(void **state)
{
	enum { SENDERS = 4, EACH = 25 };
	struct user u[SENDERS];
	struct race races[SENDERS];
	pthread_t t[SENDERS];
	struct resp r;
	char conv[37];
	(void)state;

	for (int i = 0; i < SENDERS; i++)
		signup(&u[i], "seq");
	json_post(&r, "/v1/conversations", u[0].access,
		  "{\"type\":\"group\",\"title\":\"seq\",\"members\":[\"%s\",\"%s\",\"%s\"]}",
		  u[1].id, u[2].id, u[3].id);
	assert_int_equal(r.status, 201);
	snprintf(conv, sizeof(conv), "%s", jstr(r.json, "id"));
	resp_free(&r);
	for (int i = 0; i < SENDERS; i++) {
		races[i] = (struct race){ .u = &u[i], .conv = conv, .count = EACH };
		pthread_create(&t[i], NULL, race_sender, &races[i]);
	}
	for (int i = 0; i < SENDERS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(races[i].ok, EACH);
	}
	/* once released, every member sees 1..100, each once, in order */
	assert_true(wait_status(&u[0], races[SENDERS - 1].ids[EACH - 1], "sent"));
	assert_true(wait_status(&u[0], races[0].ids[EACH - 1], "sent"));
	for (int i = 0; i < SENDERS; i++)
		for (int k = 0; k < EACH; k++)
			assert_true(wait_status(&u[i], races[i].ids[k], "sent"));
	assert_int_equal(get(&r, u[1].access, "/v1/conversations/%s/messages?after=0&limit=100", conv), 200);
	struct json_object *items = jget(r.json, "items");
	assert_int_equal(json_object_array_length(items), SENDERS * EACH);
	for (size_t k = 0; k < json_object_array_length(items); k++)
		assert_int_equal(jint(json_object_array_get_idx(items, k), "seq"), (long long)k + 1);
	resp_free(&r);
	assert_int_equal(get(&r, u[0].access, "/v1/conversations/%s", conv), 200);
	assert_int_equal(jint(r.json, "last_seq"), SENDERS * EACH);
	resp_free(&r);
}

static void test_history_paging(void **state)
{
	struct resp r;
	struct user a, b;
	char conv[37], key[16];
	(void)state;

	signup(&a, "page");
	signup(&b, "page");
	private_conv(&a, &b, conv);
	for (int i = 1; i <= 7; i++) {
		snprintf(key, sizeof(key), "p%d", i);
		assert_int_equal(send_text(&r, &a, conv, key, "page"), 202);
		resp_free(&r);
	}
	assert_int_equal(get(&r, a.access, "/v1/conversations/%s/messages?after=0&limit=3", conv), 200);
	assert_int_equal(jint(r.json, "items.0.seq"), 1);
	assert_int_equal(jint(r.json, "items.2.seq"), 3);
	assert_string_equal(jstr(r.json, "next_cursor"), "3");
	resp_free(&r);
	assert_int_equal(get(&r, a.access, "/v1/conversations/%s/messages?after=3&limit=3", conv), 200);
	assert_int_equal(jint(r.json, "items.0.seq"), 4);
	assert_int_equal(jint(r.json, "items.2.seq"), 6);
	resp_free(&r);
	/* without after: the newest page, still oldest first */
	assert_int_equal(get(&r, a.access, "/v1/conversations/%s/messages?limit=3", conv), 200);
	assert_int_equal(jint(r.json, "items.0.seq"), 5);
	assert_int_equal(jint(r.json, "items.2.seq"), 7);
	assert_string_equal(jstr(r.json, "next_cursor"), "5");
	assert_string_equal(jstr(r.json, "items.0.text"), "page");
	resp_free(&r);
	assert_int_equal(get(&r, a.access, "/v1/conversations/%s/messages?before=5&limit=3", conv), 200);
	assert_int_equal(jint(r.json, "items.0.seq"), 2);
	assert_int_equal(jint(r.json, "items.2.seq"), 4);
	resp_free(&r);
	assert_int_equal(get(&r, a.access, "/v1/conversations/%s/messages?after=7", conv), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "items")), 0);
	assert_null(jstr(r.json, "next_cursor"));
	resp_free(&r);
	get(&r, a.access, "/v1/conversations/%s/messages?after=-1", conv);
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	get(&r, a.access, "/v1/conversations/%s/messages?limit=abc", conv);
	assert_problem(&r, 400, "validation");
	resp_free(&r);
}

static void test_visibility_before_release(void **state)
{
	struct resp r;
	struct user a, b, c;
	char conv[37], id[37];
	(void)state;

	signup(&a, "vis");
	signup(&b, "vis");
	signup(&c, "vis");
	private_conv(&a, &b, conv);
	/* the test instance holds "sexual" for an admin: it is never released */
	assert_int_equal(send_text(&r, &a, conv, "v1", "send nudes"), 202);
	assert_string_equal(jstr(r.json, "status"), "pending");
	snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
	resp_free(&r);
	assert_true(wait_status(&a, id, "held"));
	assert_int_equal(get(&r, a.access, "/v1/messages/%s", id), 200);
	assert_string_equal(jstr(r.json, "moderation.verdict"), "hold");
	assert_string_equal(jstr(r.json, "moderation.category"), "sexual");
	assert_int_equal(json_object_array_length(jget(r.json, "delivered_to")), 0);
	resp_free(&r);

	/* a later message passes it: held does not stop the conversation */
	assert_int_equal(send_text(&r, &a, conv, "v2", "after the held one"), 202);
	char later[37];
	snprintf(later, sizeof(later), "%s", jstr(r.json, "id"));
	resp_free(&r);
	assert_true(wait_status(&a, later, "sent"));
	assert_int_equal(history_count(&b, conv), 1);
	get(&r, b.access, "/v1/messages/%s", id);
	assert_problem(&r, 404, "not-found");
	resp_free(&r);
	assert_int_equal(get(&r, b.access, "/v1/messages/%s", later), 200);
	resp_free(&r);
	get(&r, c.access, "/v1/messages/%s", id);
	assert_true(r.status == 403 || r.status == 404);
	resp_free(&r);
	get(&r, a.access, "/v1/messages/00000000-0000-4000-8000-000000000000");
	assert_problem(&r, 404, "not-found");
	resp_free(&r);
}

/* ------------------------------------------------------------ pipeline */

static void test_moderation_approves_and_rejects(void **state)
{
	struct resp r;
	struct user a, b;
	char conv[37], ok_id[37], bad_id[37], after_id[37];
	(void)state;

	signup(&a, "mod");
	signup(&b, "mod");
	private_conv(&a, &b, conv);
	send_text(&r, &a, conv, "ok", "Bom dia, tudo bem?");
	snprintf(ok_id, sizeof(ok_id), "%s", jstr(r.json, "id"));
	resp_free(&r);
	send_text(&r, &a, conv, "bad", "Eu odeio essas pessoas, elas são inferiores");
	snprintf(bad_id, sizeof(bad_id), "%s", jstr(r.json, "id"));
	resp_free(&r);
	send_text(&r, &a, conv, "after", "s\u00f3 isso");
	snprintf(after_id, sizeof(after_id), "%s", jstr(r.json, "id"));
	resp_free(&r);

	assert_true(wait_status(&a, ok_id, "sent"));
	assert_true(wait_status(&a, bad_id, "rejected"));
	assert_true(wait_status(&a, after_id, "sent"));
	assert_int_equal(get(&r, a.access, "/v1/messages/%s", bad_id), 200);
	assert_string_equal(jstr(r.json, "moderation.verdict"), "reject");
	assert_string_equal(jstr(r.json, "moderation.category"), "hate");
	assert_non_null(jstr(r.json, "moderation.reason"));
	resp_free(&r);
	assert_int_equal(get(&r, a.access, "/v1/messages/%s", ok_id), 200);
	assert_string_equal(jstr(r.json, "moderation.verdict"), "approve");
	resp_free(&r);

	/* the recipient sees the two released ones, never the rejected one */
	assert_int_equal(get(&r, b.access, "/v1/conversations/%s/messages?after=0", conv), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "items")), 2);
	assert_int_equal(jint(r.json, "items.0.seq"), 1);
	assert_int_equal(jint(r.json, "items.1.seq"), 3);
	assert_null(jget(r.json, "items.0.moderation"));
	resp_free(&r);
	get(&r, b.access, "/v1/messages/%s", bad_id);
	assert_problem(&r, 404, "not-found");
	resp_free(&r);
	/* and the sender its own three */
	assert_int_equal(history_count(&a, conv), 3);
}

/* While messages are moderated in parallel, what a recipient sees is
 * always seq 1..k without a hole. */
static void test_release_in_order(void **state)
{
	enum { N = 30 };
	struct resp r;
	struct user a, b;
	char conv[37], key[16], last[37] = "";
	int polls_seen = 0;
	(void)state;

	signup(&a, "order");
	signup(&b, "order");
	private_conv(&a, &b, conv);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "o%d", i);
		assert_int_equal(send_text(&r, &a, conv, key, i % 7 == 3 ? "you idiot" : "in order"), 202);
		snprintf(last, sizeof(last), "%s", jstr(r.json, "id"));
		resp_free(&r);
		/* look at b's view between sends */
		assert_int_equal(get(&r, b.access, "/v1/conversations/%s/messages?after=0&limit=100", conv), 200);
		struct json_object *items = jget(r.json, "items");
		long long prev = 0;
		for (size_t k = 0; k < json_object_array_length(items); k++) {
			long long seq = jint(json_object_array_get_idx(items, k), "seq");
			/* a hole is allowed only where a rejected message is */
			while (++prev < seq)
				assert_int_equal(prev % 7, 4);	/* seq = i + 1, rejected i % 7 == 3 */
			prev = seq;
			polls_seen++;
		}
		resp_free(&r);
	}
	assert_true(wait_status(&a, last, "sent"));
	assert_int_equal(get(&r, b.access, "/v1/conversations/%s/messages?after=0&limit=100", conv), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "items")), N - 4);
	resp_free(&r);
	(void)polls_seen;
}

static void test_receipts(void **state)
{
	struct resp r;
	struct user a, b, c;
	char conv[37], path[160];
	(void)state;

	signup(&a, "rcpt");
	signup(&b, "rcpt");
	signup(&c, "rcpt");
	private_conv(&a, &b, conv);
	for (int i = 0; i < 3; i++) {
		char key[8];
		snprintf(key, sizeof(key), "r%d", i);
		send_text(&r, &a, conv, key, "x");
		resp_free(&r);
	}
	snprintf(path, sizeof(path), "/v1/conversations/%s/receipts", conv);
	json_post(&r, path, b.access, "{\"delivered_seq\":3,\"read_seq\":2}");
	assert_int_equal(r.status, 204);
	resp_free(&r);
	/* horizons never move back, and never pass the last seq */
	json_post(&r, path, b.access, "{\"read_seq\":1}");
	assert_int_equal(r.status, 204);
	resp_free(&r);
	json_post(&r, path, b.access, "{\"delivered_seq\":99}");
	assert_int_equal(r.status, 204);
	resp_free(&r);
	assert_int_equal(get(&r, a.access, "/v1/conversations/%s", conv), 200);
	for (int i = 0; i < 2; i++) {
		struct json_object *m = json_object_array_get_idx(jget(r.json, "members"), (size_t)i);
		if (!strcmp(jstr(m, "user_id"), b.id)) {
			assert_int_equal(jint(m, "read_seq"), 2);
			assert_int_equal(jint(m, "delivered_seq"), 3);
		}
	}
	resp_free(&r);

	json_post(&r, path, b.access, "{}");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	json_post(&r, path, b.access, "{\"read_seq\":-1}");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	json_post(&r, path, b.access, "{\"read_seq\":\"2\"}");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	json_post(&r, path, c.access, "{\"read_seq\":1}");
	assert_problem(&r, 403, "forbidden");
	resp_free(&r);

	snprintf(path, sizeof(path), "/v1/conversations/%s/typing", conv);
	http(&r, "POST", path, b.access, "", 0, NULL, NULL);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	http(&r, "POST", path, c.access, "", 0, NULL, NULL);
	assert_problem(&r, 403, "forbidden");
	resp_free(&r);
}

/* ------------------------------------------------------------ bad input */

static void test_bad_input_writes_nothing(void **state)
{
	struct resp r;
	struct user a, b;
	char conv[37], path[160], *big, text[4200 * 2];
	(void)state;

	signup(&a, "bad");
	signup(&b, "bad");
	private_conv(&a, &b, conv);
	snprintf(path, sizeof(path), "/v1/conversations/%s/messages", conv);

	static const struct { const char *body; const char *slug; } cases[] = {
		{ "{\"client_id\":\"b1\",\"text\":", "invalid-json" },		/* truncated */
		{ "{\"client_id\":\"b1\",\"text\":\"x\"} trailing", "invalid-json" },
		{ "{\"client_id\":\"b1\",\"text\":\"x\"}{}", "invalid-json" },
		{ "[1,2,3]", "invalid-json" },
		{ "{'client_id':'b1','text':'x'}", "invalid-json" },
		{ "{\"client_id\":\"b1\",\"text\":\"x\",\"deep\":[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]}", "invalid-json" },
		{ "{\"client_id\":\"b1\",\"text\":\"\xff\xfe\"}", "invalid-json" },	/* not UTF-8 */
		{ "{\"client_id\":\"b1\",\"text\":5}", "validation" },
		{ "{\"client_id\":7,\"text\":\"x\"}", "validation" },
		{ "{\"client_id\":\"b1\"}", "validation" },
		{ "{\"text\":\"no key\"}", "validation" },
		{ "{\"client_id\":\"\",\"text\":\"x\"}", "validation" },
		{ "{\"client_id\":\"b1\",\"text\":\"\"}", "validation" },
		{ "{\"client_id\":\"b1\",\"text\":\"nul \\u0000 inside\"}", "validation" },
		{ "{\"client_id\":\"b1\",\"text\":\"x\",\"file_id\":\"00000000-0000-4000-8000-000000000000\"}", "validation" },
		{ "", "invalid-json" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		http(&r, "POST", path, a.access, cases[i].body, strlen(cases[i].body), NULL, NULL);
		assert_problem(&r, 400, cases[i].slug);
		resp_free(&r);
	}

	/* 4096 characters (here two bytes each) pass, 4097 do not */
	memset(text, 0, sizeof(text));
	for (int i = 0; i < 4097; i++)
		memcpy(text + 2 * i, "\xc3\xa9", 2);	/* é */
	assert_int_equal(send_text(&r, &a, conv, "too-long", text), 400);
	assert_field_error(&r, "text");
	resp_free(&r);
	text[4096 * 2] = '\0';
	assert_int_equal(send_text(&r, &a, conv, "just-fits", text), 202);
	resp_free(&r);

	/* a body over the limit, and the wrong media type */
	big = malloc(70000);
	memset(big, ' ', 70000);
	memcpy(big, "{\"client_id\":\"big\",\"text\":\"x\"}", 30);
	http(&r, "POST", path, a.access, big, 70000, NULL, NULL);
	assert_problem(&r, 413, "too-large");
	resp_free(&r);
	free(big);
	http(&r, "POST", path, a.access, "client_id=x&text=y", 18, "application/x-www-form-urlencoded", NULL);
	assert_problem(&r, 415, "unsupported-media-type");
	resp_free(&r);

	/* only the message that fit was written */
	assert_int_equal(history_count(&a, conv), 1);

	/* SQL-looking text is data, stored and returned verbatim */
	const char *sql = "'); DROP TABLE messages; --";
	assert_int_equal(send_text(&r, &a, conv, "sql", sql), 202);
	resp_free(&r);
	assert_int_equal(get(&r, a.access, "/v1/conversations/%s/messages?after=1", conv), 200);
	assert_string_equal(jstr(r.json, "items.0.text"), sql);
	resp_free(&r);

	http(&r, "GET", "/v1/nowhere", a.access, NULL, 0, NULL, NULL);
	assert_problem(&r, 404, "not-found");
	resp_free(&r);
	http(&r, "PUT", "/v1/conversations", a.access, "{}", 2, NULL, NULL);
	assert_problem(&r, 405, "method-not-allowed");
	resp_free(&r);
}

/* ----------------------------------------------- administration, faults */

/* Runs SQL on the instance's database (fault injection and checks only). */
static long long sql_value(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long sql_value(const char *fmt, ...)
{
	char sql[2048], cmd[4096], out[64] = "";
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s -c \"%s\"", getenv("CHAT4ALL_TEST_PSQL"), sql);
	assert_non_null(p = popen(cmd, "r"));
	if (!fgets(out, sizeof(out), p))
		out[0] = '\0';
	pclose(p);
	return atoll(out);
}

/* Sends that commit together (fcgi/send_batch.c) do not fail together: a
 * send the database refuses (here a trigger this test adds poisons some
 * client_ids) rolls its batch back, and the others commit one by one.
 * Twenty senders at once, four of them poisoned, so that each responder
 * holds several sends at a time: every good send is accepted and stored
 * once with gapless seqs, every poisoned one refused, and the log shows
 * that a batch did fail (the path was taken). */
struct poisoner {
	struct user *u;
	const char *conv;
	int refused;
};

static void *poison_sender(void *arg)
{
	struct poisoner *p = arg;
	char key[64];

	for (int i = 0; i < 20; i++) {
		struct resp r;
		snprintf(key, sizeof(key), "%s-poison-%d", p->u->name, i);
		if (send_text(&r, p->u, p->conv, key, "poisoned") >= 500)
			p->refused++;
		resp_free(&r);
	}
	return NULL;
}

static long batch_failures(void)
{
	char path[512], line[4096];
	long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/log/chat4all.log", getenv("CHAT4ALL_TEST_VAR"));
	if (!(f = fopen(path, "r")))
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "sends failed") != NULL;
	fclose(f);
	return n;
}

static void test_batch_survives_a_bad_send(void **state)
{
	enum { GOOD = 16, BAD = 4, EACH = 20 };	/* EACH under the tests' send burst */
	struct user peer, u[GOOD + BAD];
	char conv[GOOD + BAD][37];
	struct race races[GOOD];
	struct poisoner poison[BAD];
	pthread_t t[GOOD + BAD];
	long failures = batch_failures();
	int accepted = 0, refused = 0;
	(void)state;

	signup(&peer, "poison");
	for (int i = 0; i < GOOD + BAD; i++) {
		signup(&u[i], "poison");
		private_conv(&u[i], &peer, conv[i]);
	}
	sql_value("CREATE FUNCTION test_poison() RETURNS trigger LANGUAGE plpgsql AS"
		  " 'BEGIN IF NEW.client_id LIKE ''%%-poison-%%'' THEN RAISE EXCEPTION ''poisoned'';"
		  " END IF; RETURN NEW; END'");
	sql_value("CREATE TRIGGER test_poison BEFORE INSERT ON messages"
		  " FOR EACH ROW EXECUTE FUNCTION test_poison()");
	for (int i = 0; i < GOOD; i++) {
		races[i] = (struct race){ .u = &u[i], .conv = conv[i], .count = EACH };
		pthread_create(&t[i], NULL, race_sender, &races[i]);
	}
	for (int i = 0; i < BAD; i++) {
		poison[i] = (struct poisoner){ .u = &u[GOOD + i], .conv = conv[GOOD + i] };
		pthread_create(&t[GOOD + i], NULL, poison_sender, &poison[i]);
	}
	for (int i = 0; i < GOOD + BAD; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < GOOD; i++)
		accepted += races[i].ok;
	for (int i = 0; i < BAD; i++)
		refused += poison[i].refused;
	/* the poison goes before any assertion can leave it behind */
	sql_value("DROP TRIGGER test_poison ON messages");
	sql_value("DROP FUNCTION test_poison()");
	assert_true(batch_failures() > failures);
	assert_int_equal(accepted, GOOD * EACH);
	assert_int_equal(refused, BAD * EACH);
	for (int i = 0; i < GOOD + BAD; i++) {
		int want = i < GOOD ? EACH : 0;
		assert_int_equal(sql_value("SELECT count(*) FROM messages WHERE conversation_id = '%s'",
					   conv[i]), want);
		assert_int_equal(sql_value("SELECT coalesce(max(seq), 0) FROM messages"
					   " WHERE conversation_id = '%s'", conv[i]), want);
		assert_int_equal(sql_value("SELECT last_seq FROM conversations WHERE id = '%s'",
					   conv[i]), want);
	}
}

static void make_admin(struct user *u)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "%s promote %s >/dev/null", getenv("CHAT4ALL_TEST_ADMIN"), u->name);
	assert_int_equal(system(cmd), 0);
}

static void test_admin_moderation(void **state)
{
	struct resp r;
	struct user admin, a, b;
	char conv[37], held[37], rejected[37], path[160];
	bool found = false;
	(void)state;

	signup(&admin, "adm");
	signup(&a, "adm");
	signup(&b, "adm");
	private_conv(&a, &b, conv);
	send_text(&r, &a, conv, "h1", "send nudes");	/* held in the test instance */
	snprintf(held, sizeof(held), "%s", jstr(r.json, "id"));
	resp_free(&r);
	send_text(&r, &a, conv, "r1", "you idiot");
	snprintf(rejected, sizeof(rejected), "%s", jstr(r.json, "id"));
	resp_free(&r);
	assert_true(wait_status(&a, held, "held"));
	assert_true(wait_status(&a, rejected, "rejected"));

	/* not an admin (yet): every admin route refuses */
	get(&r, admin.access, "/v1/admin/moderation");
	assert_problem(&r, 403, "forbidden");
	resp_free(&r);
	get(&r, admin.access, "/v1/admin/jobs/dead");
	assert_problem(&r, 403, "forbidden");
	resp_free(&r);
	snprintf(path, sizeof(path), "/v1/admin/moderation/%s", held);
	json_post(&r, path, admin.access, "{\"verdict\":\"approve\"}");
	assert_problem(&r, 403, "forbidden");
	resp_free(&r);

	make_admin(&admin);	/* read from the database: the same token now works */
	for (const char *cursor = ""; !found;) {
		assert_int_equal(get(&r, admin.access, "/v1/admin/moderation?status=held&limit=100%s%s",
				     *cursor ? "&cursor=" : "", cursor), 200);
		struct json_object *items = jget(r.json, "items");
		for (size_t i = 0; i < json_object_array_length(items); i++)
			if (!strcmp(jstr(json_object_array_get_idx(items, i), "id"), held)) {
				found = true;
				assert_string_equal(jstr(json_object_array_get_idx(items, i), "category"), "sexual");
			}
		bool more = jstr(r.json, "next_cursor") != NULL;
		resp_free(&r);
		if (!more)
			break;
	}
	assert_true(found);
	json_post(&r, path, admin.access, "{\"verdict\":\"maybe\"}");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	get(&r, admin.access, "/v1/admin/moderation?status=weird");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	char cur_a[96], cur_b[96];
	assert_int_equal(get(&r, a.access, "/v1/poll?timeout=0"), 200);
	snprintf(cur_a, sizeof(cur_a), "%s", jstr(r.json, "cursor"));
	resp_free(&r);
	assert_int_equal(get(&r, b.access, "/v1/poll?timeout=0"), 200);
	snprintf(cur_b, sizeof(cur_b), "%s", jstr(r.json, "cursor"));
	resp_free(&r);
	json_post(&r, path, admin.access, "{\"verdict\":\"approve\",\"reason\":\"art\"}");
	assert_int_equal(r.status, 200);
	resp_free(&r);
	assert_true(wait_status(&a, held, "sent"));
	assert_int_equal(get(&r, b.access, "/v1/messages/%s", held), 200);
	resp_free(&r);
	/* it took effect at once, and both heard of it: the sender its status,
	 * the other member the message */
	assert_int_equal(get(&r, a.access, "/v1/poll?cursor=%s&timeout=10", cur_a), 200);
	assert_string_equal(jstr(r.json, "events.0.event"), "status");
	assert_string_equal(jstr(r.json, "events.0.data.message_id"), held);
	assert_string_equal(jstr(r.json, "events.0.data.status"), "sent");
	resp_free(&r);
	assert_int_equal(get(&r, b.access, "/v1/poll?cursor=%s&timeout=10", cur_b), 200);
	assert_string_equal(jstr(r.json, "events.0.event"), "message");
	assert_string_equal(jstr(r.json, "events.0.data.id"), held);
	resp_free(&r);
	/* an override of a rejection */
	snprintf(path, sizeof(path), "/v1/admin/moderation/%s", rejected);
	json_post(&r, path, admin.access, "{\"verdict\":\"approve\"}");
	assert_int_equal(r.status, 200);
	resp_free(&r);
	assert_true(wait_status(&a, rejected, "sent"));
	assert_int_equal(history_count(&b, conv), 2);
	/* nothing left to decide */
	json_post(&r, path, admin.access, "{\"verdict\":\"reject\"}");
	assert_problem(&r, 404, "not-found");
	resp_free(&r);
	assert_int_equal(sql_value("SELECT count(*) FROM audit_log WHERE action = 'moderation-override'"
				   " AND subject IN ('%s', '%s')", held, rejected), 2);
}

static void test_dead_letters(void **state)
{
	struct resp r;
	struct user admin;
	char key[64], path[96];
	long long id = 0;
	(void)state;

	signup(&admin, "dead");
	make_admin(&admin);
	signin(&admin, "correct horse");
	/* a job no stage can do: every attempt fails; the instance allows 3 */
	snprintf(key, sizeof(key), "broken-%s", admin.id);
	sql_value("INSERT INTO jobs (kind, key, payload) VALUES ('moderate', '%s', '{}')", key);
	for (int i = 0; i < 600 && !id; i++) {
		assert_int_equal(get(&r, admin.access, "/v1/admin/jobs/dead?limit=100"), 200);
		struct json_object *items = jget(r.json, "items");
		for (size_t k = 0; k < json_object_array_length(items); k++) {
			struct json_object *j = json_object_array_get_idx(items, k);
			if (!strcmp(jstr(j, "key"), key)) {
				id = jint(j, "id");
				assert_int_equal(jint(j, "attempts"), 3);
				assert_non_null(strstr(jstr(j, "last_error"), "message_id"));
			}
		}
		resp_free(&r);
		if (!id)
			usleep(50 * 1000);
	}
	assert_true(id > 0);
	snprintf(path, sizeof(path), "/v1/admin/jobs/dead/%lld/retry", id);
	http(&r, "POST", path, admin.access, "", 0, NULL, NULL);
	assert_int_equal(r.status, 202);
	resp_free(&r);
	assert_int_equal(sql_value("SELECT count(*) FROM dead_jobs WHERE id = %lld", id), 0);
	/* it fails its three attempts again and is back */
	for (int i = 0; i < 600 && !sql_value("SELECT count(*) FROM dead_jobs WHERE id = %lld", id); i++)
		usleep(50 * 1000);
	assert_int_equal(sql_value("SELECT attempts FROM dead_jobs WHERE id = %lld", id), 3);
	http(&r, "POST", "/v1/admin/jobs/dead/999999999/retry", admin.access, "", 0, NULL, NULL);
	assert_problem(&r, 404, "not-found");
	resp_free(&r);
	http(&r, "POST", "/v1/admin/jobs/dead/abc/retry", admin.access, "", 0, NULL, NULL);
	assert_problem(&r, 404, "not-found");
	resp_free(&r);
	get(&r, admin.access, "/v1/admin/jobs/dead?cursor=x");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
}

/* Workers killed with SIGKILL while messages flow: after restarting
 * them, every message is sent once, in order, with one verdict each. */
static void test_worker_sigkill(void **state)
{
	enum { ROUNDS = 3, EACH = 30, TOTAL = ROUNDS * EACH };
	struct resp r;
	struct user u[3];
	char conv[37], key[32], last[37] = "", cmd[1024];
	(void)state;

	for (int i = 0; i < 3; i++)
		signup(&u[i], "kill");
	json_post(&r, "/v1/conversations", u[0].access,
		  "{\"type\":\"group\",\"title\":\"crash\",\"members\":[\"%s\",\"%s\"]}",
		  u[1].id, u[2].id);
	assert_int_equal(r.status, 201);
	snprintf(conv, sizeof(conv), "%s", jstr(r.json, "id"));
	resp_free(&r);
	for (int round = 0; round < ROUNDS; round++) {
		for (int i = 0; i < EACH; i++) {
			snprintf(key, sizeof(key), "k%d-%d", round, i);
			assert_int_equal(send_text(&r, &u[i % 3], conv, key, "survives a crash"), 202);
			snprintf(last, sizeof(last), "%s", jstr(r.json, "id"));
			resp_free(&r);
		}
		snprintf(cmd, sizeof(cmd), "for f in %s/run/worker-*.pid; do kill -9 $(cat $f); done",
			 getenv("VAR"));
		assert_int_equal(system(cmd), 0);
		snprintf(cmd, sizeof(cmd), "%s start >/dev/null", getenv("CHAT4ALL_TEST_STACK"));
		assert_int_equal(system(cmd), 0);
	}
	for (int i = 0; i < 600 && sql_value("SELECT count(*) FROM messages WHERE conversation_id = '%s'"
					     " AND status <> 'sent'", conv); i++)
		usleep(50 * 1000);
	assert_int_equal(get(&r, u[0].access, "/v1/conversations/%s/messages?after=0&limit=100", conv), 200);
	struct json_object *items = jget(r.json, "items");
	assert_int_equal(json_object_array_length(items), TOTAL);
	for (size_t k = 0; k < TOTAL; k++) {
		assert_int_equal(jint(json_object_array_get_idx(items, k), "seq"), (long long)k + 1);
		assert_string_equal(jstr(json_object_array_get_idx(items, k), "status"), "sent");
	}
	resp_free(&r);
	assert_int_equal(sql_value("SELECT count(*) FROM messages WHERE conversation_id = '%s'", conv),
			 TOTAL);
	/* one decision each: no job's effects committed twice */
	assert_int_equal(sql_value("SELECT count(*) FROM moderation_log l JOIN messages m"
				   " ON m.id = l.message_id WHERE m.conversation_id = '%s'", conv),
			 TOTAL);
	assert_int_equal(sql_value("SELECT released_seq FROM release_watermarks WHERE conversation_id = '%s'", conv),
			 TOTAL);
	(void)last;
}

/* Moderation that finishes out of order (seq 2 decided before seq 1)
 * still releases in seq order; releasing again, or a moderate job that
 * runs after its message was decided, changes nothing. The workers are
 * stopped with SIGTERM meanwhile and leave cleanly. */
static void test_out_of_order_decisions(void **state)
{
	struct resp r;
	struct user a, b;
	char conv[37], m1[37], m2[37], cmd[1024], pidfile[512];
	(void)state;

	signup(&a, "ooo");
	signup(&b, "ooo");
	private_conv(&a, &b, conv);
	snprintf(cmd, sizeof(cmd), "for f in %s/run/worker-*.pid; do kill -TERM $(cat $f); done",
		 getenv("VAR"));
	assert_int_equal(system(cmd), 0);
	snprintf(pidfile, sizeof(pidfile), "%s/run/worker-1.pid", getenv("VAR"));
	for (int i = 0; i < 600 && access(pidfile, F_OK) == 0; i++)
		usleep(50 * 1000);
	assert_int_not_equal(access(pidfile, F_OK), 0);	/* gone: a clean exit */

	send_text(&r, &a, conv, "first", "one");
	snprintf(m1, sizeof(m1), "%s", jstr(r.json, "id"));
	resp_free(&r);
	send_text(&r, &a, conv, "second", "two");
	snprintf(m2, sizeof(m2), "%s", jstr(r.json, "id"));
	resp_free(&r);

	/* seq 2's verdict lands first: nothing may reach the recipient */
	sql_value("UPDATE messages SET status = 'approved' WHERE id = '%s'", m2);
	assert_int_equal(sql_value("SELECT released_seq - from_seq FROM release_conversations('{%s}')", conv), 0);
	assert_int_equal(history_count(&b, conv), 0);
	/* then seq 1's: both, in order */
	sql_value("UPDATE messages SET status = 'approved' WHERE id = '%s'", m1);
	assert_int_equal(sql_value("SELECT released_seq - from_seq FROM release_conversations('{%s}')", conv), 2);
	assert_int_equal(get(&r, b.access, "/v1/conversations/%s/messages?after=0", conv), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "items")), 2);
	assert_int_equal(jint(r.json, "items.0.seq"), 1);
	assert_int_equal(jint(r.json, "items.1.seq"), 2);
	resp_free(&r);
	assert_int_equal(sql_value("SELECT released_seq - from_seq FROM release_conversations('{%s}')", conv), 0);

	/* the workers come back and run the two moderate jobs: no-ops now */
	snprintf(cmd, sizeof(cmd), "%s start >/dev/null", getenv("CHAT4ALL_TEST_STACK"));
	assert_int_equal(system(cmd), 0);
	for (int i = 0; i < 600 && sql_value("SELECT count(*) FROM jobs WHERE payload->>'message_id'"
					     " IN ('%s', '%s')", m1, m2); i++)
		usleep(50 * 1000);
	assert_int_equal(sql_value("SELECT count(*) FROM jobs WHERE payload->>'message_id' IN ('%s', '%s')",
				   m1, m2), 0);
	assert_int_equal(sql_value("SELECT count(*) FROM moderation_log WHERE message_id IN ('%s', '%s')",
				   m1, m2), 0);
	assert_true(wait_status(&a, m2, "sent"));
}

static long long metric(const char *text, const char *line_prefix);

/* ------------------------------------------------------------ real time */

static void test_stream_two_users(void **state)
{
	struct resp r;
	struct user a, b, c;
	struct sse sa, sb, sc;
	char conv[37], msg_id[37], needle[128], path[160];
	(void)state;

	signup(&a, "live");
	signup(&b, "live");
	signup(&c, "live");
	sse_open(&sa, a.access, NULL, NULL);
	sse_open(&sb, b.access, NULL, NULL);
	sse_open(&sc, c.access, NULL, NULL);
	assert_true(sse_wait(&sa, "retry: 3000", 1));
	assert_true(sse_wait(&sb, "retry: 3000", 1));
	assert_true(sse_wait(&sc, "retry: 3000", 1));
	private_conv(&a, &b, conv);
	assert_true(sse_wait(&sb, "event: conversation", 1));

	send_text(&r, &a, conv, "live-1", "hello over SSE");
	snprintf(msg_id, sizeof(msg_id), "%s", jstr(r.json, "id"));
	resp_free(&r);
	/* b gets the released message; a its own pending copy, then "sent" */
	assert_true(sse_wait(&sb, "hello over SSE", 1));
	assert_true(sse_wait(&sa, "\"status\" : \"pending\"", 1));
	snprintf(needle, sizeof(needle), "{\"message_id\":\"%s\"", msg_id);
	assert_true(sse_wait(&sa, needle, 1));
	assert_true(sse_wait(&sa, "\"status\":\"sent\"", 1));

	/* receipts reach the sender; typing reaches the other member only */
	snprintf(path, sizeof(path), "/v1/conversations/%s/receipts", conv);
	json_post(&r, path, b.access, "{\"read_seq\":1}");
	assert_int_equal(r.status, 204);
	resp_free(&r);
	assert_true(sse_wait(&sa, "event: receipt", 1));
	snprintf(path, sizeof(path), "/v1/conversations/%s/typing", conv);
	http(&r, "POST", path, b.access, "", 0, NULL, NULL);
	resp_free(&r);
	assert_true(sse_wait(&sa, "event: typing", 1));
	/* a rejected message goes to its sender alone, with the reason */
	send_text(&r, &a, conv, "live-2", "you idiot");
	resp_free(&r);
	assert_true(sse_wait(&sa, "\"status\":\"rejected\"", 1));
	assert_true(sse_wait(&sa, "\"reason\":\"harassment (lexicon)\"", 1));
	send_text(&r, &a, conv, "live-3", "after the rejected one");
	resp_free(&r);
	assert_true(sse_wait(&sb, "after the rejected one", 1));
	assert_int_equal(sse_count(&sb, "you idiot"), 0);
	assert_int_equal(sse_count(&sb, "event: typing"), 0);	/* not to oneself */

	/* nothing of theirs ever reached the outsider */
	assert_int_equal(sse_count(&sc, "event: "), 0);
	sse_close(&sa);
	sse_close(&sb);
	sse_close(&sc);
}

static void test_stream_resume(void **state)
{
	struct resp r;
	struct user a, b;
	struct sse s;
	char conv[37], last[96], key[16];
	(void)state;

	signup(&a, "resume");
	signup(&b, "resume");
	private_conv(&a, &b, conv);
	send_text(&r, &a, conv, "r0", "before");
	resp_free(&r);
	sse_open(&s, b.access, "0-0", NULL);	/* from the beginning */
	assert_true(sse_wait(&s, "before", 1));
	sse_last_id(&s, last);
	assert_true(last[0] != '\0');
	sse_close(&s);

	/* three messages while b is away */
	for (int i = 1; i <= 3; i++) {
		snprintf(key, sizeof(key), "r%d", i);
		send_text(&r, &a, conv, key, "while away");
		char id[37];
		snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
		resp_free(&r);
		assert_true(wait_status(&a, id, "sent"));
	}
	sse_open(&s, b.access, last, NULL);
	assert_true(sse_wait(&s, "while away", 3));
	usleep(300 * 1000);
	assert_int_equal(sse_count(&s, "while away"), 3);	/* exactly the missed ones */
	assert_int_equal(sse_count(&s, "before"), 0);
	/* and live after the replay, without a gap */
	send_text(&r, &a, conv, "r4", "live again");
	resp_free(&r);
	assert_true(sse_wait(&s, "live again", 1));
	sse_close(&s);

	/* the same through a ticket, which works once */
	http(&r, "POST", "/v1/stream/ticket", b.access, "", 0, NULL, NULL);
	assert_int_equal(r.status, 201);
	char query[128];
	snprintf(query, sizeof(query), "?ticket=%s&last_event_id=%s", jstr(r.json, "ticket"), last);
	resp_free(&r);
	sse_open(&s, NULL, NULL, query);
	assert_true(sse_wait(&s, "live again", 1));
	sse_close(&s);
	sse_open(&s, NULL, NULL, query);
	assert_true(sse_wait(&s, "/problems/unauthorized", 1));
	sse_close(&s);
	assert_int_equal(s.status, 401);
}

static void test_stream_refusals(void **state)
{
	struct resp r;
	struct user u;
	(void)state;

	signup(&u, "refuse");
	char *expired = token_with_exp(&u, -10);
	get(&r, expired, "/v1/stream");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	free(expired);
	get(&r, NULL, "/v1/poll");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
	get(&r, u.access, "/v1/poll?cursor=nonsense");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	get(&r, u.access, "/v1/poll?timeout=99");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	get(&r, NULL, "/v1/stream?ticket=made-up");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
}

static void test_long_poll(void **state)
{
	struct resp r;
	struct user a, b;
	char conv[37], cursor[96];
	(void)state;

	signup(&a, "poll");
	signup(&b, "poll");
	/* no cursor: the current position, at once */
	assert_int_equal(get(&r, b.access, "/v1/poll?timeout=0"), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "events")), 0);
	snprintf(cursor, sizeof(cursor), "%s", jstr(r.json, "cursor"));
	resp_free(&r);
	/* nothing happens: empty after the timeout, same cursor */
	assert_int_equal(get(&r, b.access, "/v1/poll?cursor=%s&timeout=1", cursor), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "events")), 0);
	assert_string_equal(jstr(r.json, "cursor"), cursor);
	resp_free(&r);
	/* events waiting: they come back at once (a long timeout is not waited) */
	private_conv(&a, &b, conv);
	assert_int_equal(get(&r, b.access, "/v1/poll?cursor=%s&timeout=60", cursor), 200);
	assert_true(json_object_array_length(jget(r.json, "events")) >= 1);
	assert_string_equal(jstr(r.json, "events.0.event"), "conversation");
	assert_string_equal(jstr(r.json, "events.0.data.id"), conv);
	assert_string_not_equal(jstr(r.json, "cursor"), cursor);
	snprintf(cursor, sizeof(cursor), "%s", jstr(r.json, "cursor"));
	resp_free(&r);
	/* a wait that an event ends: send from another thread meanwhile */
	struct race send = { .u = &a, .conv = conv, .client_id = "poll-1", .count = 1 };
	pthread_t t;
	pthread_create(&t, NULL, race_sender, &send);
	assert_int_equal(get(&r, b.access, "/v1/poll?cursor=%s&timeout=60", cursor), 200);
	pthread_join(t, NULL);
	assert_string_equal(jstr(r.json, "events.0.event"), "message");
	assert_string_equal(jstr(r.json, "events.0.data.text"), "race");
	resp_free(&r);
}

/* The `status` events of @a's poll since @cursor (moved on), as
 * "seq:status" words in order, into @out. */
static void poll_statuses(struct user *a, char cursor[96], char *out, size_t len)
{
	struct resp r;

	out[0] = '\0';
	assert_int_equal(get(&r, a->access, "/v1/poll?cursor=%s&timeout=0", cursor), 200);
	struct json_object *ev = jget(r.json, "events");
	for (size_t i = 0; i < json_object_array_length(ev); i++) {
		struct json_object *e = json_object_array_get_idx(ev, i);
		if (strcmp(jstr(e, "event"), "status"))
			continue;
		size_t at = strlen(out);
		snprintf(out + at, len - at, "%s%lld:%s", at ? " " : "", jint(e, "data.seq"),
			 jstr(e, "data.status"));
	}
	snprintf(cursor, 96, "%s", jstr(r.json, "cursor"));
	resp_free(&r);
}

/* In a group a message is delivered (read) for its sender when every
 * other member has it: the receipt that completes it brings a `status`
 * event to the sender, and only that one. */
static void test_status_events(void **state)
{
	struct resp r;
	struct user a, b, c;
	char conv[37], cursor[96], path[160], got[256], ids[3][37];
	(void)state;

	signup(&a, "ticks");
	signup(&b, "ticks");
	signup(&c, "ticks");
	json_post(&r, "/v1/conversations", a.access,
		  "{\"type\":\"group\",\"title\":\"ticks\",\"members\":[\"%s\",\"%s\"]}", b.id, c.id);
	assert_int_equal(r.status, 201);
	snprintf(conv, sizeof(conv), "%s", jstr(r.json, "id"));
	resp_free(&r);
	for (int i = 0; i < 3; i++) {
		char key[8];
		snprintf(key, sizeof(key), "t%d", i);
		assert_int_equal(send_text(&r, &a, conv, key, "tick"), 202);
		snprintf(ids[i], sizeof(ids[i]), "%s", jstr(r.json, "id"));
		resp_free(&r);
	}
	for (int i = 0; i < 3; i++)
		assert_true(wait_status(&a, ids[i], "sent"));
	assert_int_equal(get(&r, a.access, "/v1/poll?timeout=0"), 200);
	snprintf(cursor, sizeof(cursor), "%s", jstr(r.json, "cursor"));
	resp_free(&r);
	snprintf(path, sizeof(path), "/v1/conversations/%s/receipts", conv);

	/* b alone: nothing is delivered to everyone yet */
	json_post(&r, path, b.access, "{\"read_seq\":2}");
	assert_int_equal(r.status, 204);
	resp_free(&r);
	poll_statuses(&a, cursor, got, sizeof(got));
	assert_string_equal(got, "");
	/* c has all three: 1 and 2 are delivered (b has 2), 3 is not */
	json_post(&r, path, c.access, "{\"delivered_seq\":3}");
	assert_int_equal(r.status, 204);
	resp_free(&r);
	poll_statuses(&a, cursor, got, sizeof(got));
	assert_string_equal(got, "1:delivered 2:delivered");
	/* c reads all: 1 and 2 are read by both */
	json_post(&r, path, c.access, "{\"read_seq\":3}");
	assert_int_equal(r.status, 204);
	resp_free(&r);
	poll_statuses(&a, cursor, got, sizeof(got));
	assert_string_equal(got, "1:read 2:read");
	/* b reads the last one: straight to read; again: no event */
	for (int i = 0; i < 2; i++) {
		json_post(&r, path, b.access, "{\"read_seq\":3}");
		assert_int_equal(r.status, 204);
		resp_free(&r);
		poll_statuses(&a, cursor, got, sizeof(got));
		assert_string_equal(got, i ? "" : "3:read");
	}
	/* what the events said is what GET says */
	assert_int_equal(get(&r, a.access, "/v1/messages/%s", ids[2]), 200);
	assert_string_equal(jstr(r.json, "status"), "read");
	resp_free(&r);
	/* a's receipts never tell a about its own messages */
	json_post(&r, path, a.access, "{\"read_seq\":3}");
	assert_int_equal(r.status, 204);
	resp_free(&r);
	poll_statuses(&a, cursor, got, sizeof(got));
	assert_string_equal(got, "");
}

/* A cursor older than what the replay stream still holds gets `reset`. */
static void test_stale_cursor_reset(void **state)
{
	struct resp r;
	struct user u;
	char cmd[512];
	(void)state;

	signup(&u, "stale");
	/* two events, then the stream loses its oldest (as MAXLEN trimming does) */
	snprintf(cmd, sizeof(cmd), "%s XADD c4a:ev:%s 1-1 e x d '{}' >/dev/null && "
		 "%s XADD c4a:ev:%s 2-1 e x d '{}' >/dev/null && %s XTRIM c4a:ev:%s MAXLEN 1 >/dev/null",
		 getenv("CHAT4ALL_TEST_REDIS_CLI"), u.id, getenv("CHAT4ALL_TEST_REDIS_CLI"), u.id,
		 getenv("CHAT4ALL_TEST_REDIS_CLI"), u.id);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(get(&r, u.access, "/v1/poll?cursor=0-5&timeout=0"), 200);
	assert_string_equal(jstr(r.json, "events.0.event"), "reset");
	assert_string_equal(jstr(r.json, "cursor"), "2-1");
	resp_free(&r);
	/* the cursor the reset handed out goes on without another */
	snprintf(cmd, sizeof(cmd), "%s XADD c4a:ev:%s 3-1 e x d '{\"n\":3}' >/dev/null",
		 getenv("CHAT4ALL_TEST_REDIS_CLI"), u.id);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(get(&r, u.access, "/v1/poll?cursor=2-1&timeout=0"), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "events")), 1);
	assert_string_equal(jstr(r.json, "events.0.event"), "x");
	assert_string_equal(jstr(r.json, "events.0.id"), "3-1");
	assert_int_equal(jint(r.json, "events.0.data.n"), 3);
	resp_free(&r);
}

/* A raw socket to the gateway itself with a small receive window, so
 * that not reading it backs up into the gateway (lighttpd in between
 * would buffer some more, and the test is about the gateway's bound). */
static int slow_reader_open(const struct user *u)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 1 };
	int fd = socket(AF_INET, SOCK_STREAM, 0), window = 4096;
	char req[1400];

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &window, sizeof(window));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	sa.sin_port = htons((uint16_t)atoi(getenv("CHAT4ALL_TEST_STREAM_PORT")));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	int n = snprintf(req, sizeof(req), "GET /v1/stream HTTP/1.1\r\nHost: test\r\n"
			 "Authorization: Bearer %s\r\n\r\n", u->access);
	assert_int_equal(write(fd, req, (size_t)n), n);
	return fd;
}

/* Reads until @needle shows, EOF, or @seconds pass; the bytes read. */
static size_t slow_reader_read(int fd, const char *needle, int seconds, bool *eof)
{
	char buf[65536], tail[64] = "";
	size_t total = 0;
	time_t end = time(NULL) + seconds;

	*eof = false;
	while (time(NULL) < end) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			*eof = true;
			break;
		}
		if (n < 0)
			continue;
		total += (size_t)n;
		buf[n] = '\0';
		if (needle && (strstr(buf, needle) || strstr(tail, needle)))
			break;
		size_t keep = n > 32 ? 32 : (size_t)n;	/* a needle split across reads */
		memcpy(tail, buf + n - keep, keep + 1);
	}
	return total;
}

/* A client that stops reading is dropped when its backlog passes the
 * bound (64 KiB in the tests); a reading client of the same events gets
 * every one of them meanwhile. */
static void test_stream_slow_reader(void **state)
{
	enum { EVENTS = 200, PAD = 32 * 1024 };
	struct resp r;
	struct user slow, fast;
	struct sse s;
	char cmd[1024], path[] = "/tmp/c4a-slow-XXXXXX";
	long long dropped_before, dropped_after;
	bool eof;
	(void)state;

	signup(&slow, "slow");
	signup(&fast, "fast");
	assert_int_equal(get(&r, NULL, "/metrics"), 200);
	dropped_before = metric(r.body, "chat4all_stream_total{what=\"dropped_slow\"}");
	resp_free(&r);

	int fd = slow_reader_open(&slow);
	assert_true(slow_reader_read(fd, "retry: 3000", 10, &eof) > 0);
	assert_false(eof);
	sse_open(&s, fast.access, NULL, NULL);
	assert_true(sse_wait(&s, "retry: 3000", 1));

	/* EVENTS events of 32 KiB to both, through the live channel */
	int tmp = mkstemp(path);
	assert_true(tmp >= 0);
	FILE *f = fdopen(tmp, "w");
	char *pad = malloc(PAD + 1);
	memset(pad, 'x', PAD);
	pad[PAD] = '\0';
	long long ms = (long long)time(NULL) * 1000;
	for (int i = 1; i <= EVENTS; i++) {
		fprintf(f, "PUBLISH c4a:live:%s \"%lld-%d\\nbulk\\n{\\\"n\\\":%d,\\\"pad\\\":\\\"%s\\\"}\"\n",
			slow.id, ms, i, i, pad);
		fprintf(f, "PUBLISH c4a:live:%s \"%lld-%d\\nbulk\\n{\\\"n\\\":%d,\\\"pad\\\":\\\"%s\\\"}\"\n",
			fast.id, ms, i, i, pad);
	}
	fclose(f);
	free(pad);
	snprintf(cmd, sizeof(cmd), "%s < %s >/dev/null", getenv("CHAT4ALL_TEST_REDIS_CLI"), path);
	assert_int_equal(system(cmd), 0);
	unlink(path);

	/* the reader has all of them; the other was cut off part way */
	char last[32];
	snprintf(last, sizeof(last), "\"n\":%d,", EVENTS);
	assert_true(sse_wait(&s, last, 1));
	assert_int_equal(sse_count(&s, "event: bulk"), EVENTS);
	size_t got = slow_reader_read(fd, NULL, 20, &eof);
	assert_true(eof);
	assert_true(got < (size_t)EVENTS * PAD);
	close(fd);
	sse_close(&s);

	assert_int_equal(get(&r, NULL, "/metrics"), 200);
	dropped_after = metric(r.body, "chat4all_stream_total{what=\"dropped_slow\"}");
	resp_free(&r);
	assert_true(dropped_after > dropped_before);
}

/* Redis goes away and comes back: the API keeps accepting messages, the
 * open stream survives, and events flow again. */
static void test_redis_restart(void **state)
{
	struct resp r;
	struct user a, b;
	struct sse s;
	char conv[37], cmd[1024];
	(void)state;

	signup(&a, "redis");
	signup(&b, "redis");
	private_conv(&a, &b, conv);
	sse_open(&s, b.access, NULL, NULL);
	assert_true(sse_wait(&s, "retry: 3000", 1));
	snprintf(cmd, sizeof(cmd), "kill $(cat %s/run/redis.pid); "
		 "for i in $(seq 100); do [ -e %s/run/redis.pid ] || break; sleep 0.05; done",
		 getenv("VAR"), getenv("VAR"));
	assert_int_equal(system(cmd), 0);
	assert_int_equal(send_text(&r, &a, conv, "during", "while redis is down"), 202);
	resp_free(&r);
	snprintf(cmd, sizeof(cmd), "%s start >/dev/null", getenv("CHAT4ALL_TEST_STACK"));
	assert_int_equal(system(cmd), 0);
	/* what is sent now arrives on the stream that stayed open */
	for (int i = 0; i < 60 && !sse_count(&s, "after redis came back"); i++) {
		char key[32];
		snprintf(key, sizeof(key), "after-%d", i);
		send_text(&r, &a, conv, key, "after redis came back");
		resp_free(&r);
		usleep(500 * 1000);
	}
	assert_true(sse_wait(&s, "after redis came back", 1));
	sse_close(&s);
}

/* --------------------------------------------------------- rate limits */

static void test_rate_limits(void **state)
{
	struct resp r;
	struct user a, b;
	char conv[37], key[32], ra[16];
	int limited = 0;
	(void)state;

	signup(&a, "rate");
	signup(&b, "rate");
	private_conv(&a, &b, conv);
	/* the test instance allows a burst of 40 sends, then 1 a second */
	for (int i = 0; i < 60 && !limited; i++) {
		snprintf(key, sizeof(key), "rl%d", i);
		if (send_text(&r, &a, conv, key, "fast") == 429) {
			assert_problem(&r, 429, "rate-limited");
			assert_non_null(resp_header(&r, "Retry-After", ra, sizeof(ra)));
			assert_true(atoi(ra) >= 1);
			limited = i;
		}
		resp_free(&r);
	}
	assert_true(limited >= 40);
	/* the other user's bucket is their own */
	assert_int_equal(send_text(&r, &b, conv, "b-ok", "fine"), 202);
	resp_free(&r);

	/* sign-in: a burst of 10 attempts per username */
	int signin_limited = 0;
	for (int i = 0; i < 15 && !signin_limited; i++) {
		json_post(&r, "/v1/auth/token", NULL, "{\"username\":\"%s\",\"password\":\"guess %d\"}", a.name, i);
		if (r.status == 429) {
			assert_problem(&r, 429, "rate-limited");
			signin_limited = 1;
		} else {
			assert_int_equal(r.status, 401);
		}
		resp_free(&r);
	}
	assert_true(signin_limited);
}

/* ---------------------------------------------------------- operations */

static long long metric(const char *text, const char *line_prefix)
{
	const char *p = strstr(text, line_prefix);
	return p ? atoll(p + strlen(line_prefix)) : 0;
}

static void test_health_and_metrics(void **state)
{
	struct resp r;
	long long before, after;
	(void)state;

	assert_int_equal(get(&r, NULL, "/healthz"), 200);
	resp_free(&r);
	assert_int_equal(get(&r, NULL, "/readyz"), 200);
	assert_string_equal(jstr(r.json, "postgresql"), "up");
	assert_string_equal(jstr(r.json, "redis"), "up");
	resp_free(&r);

	assert_int_equal(get(&r, NULL, "/metrics"), 200);
	before = metric(r.body, "chat4all_http_requests_total{route=\"GET /healthz\",status=\"200\"} ");
	assert_non_null(strstr(r.body, "chat4all_http_request_duration_seconds_bucket{route=\"POST /v1/auth/token\",le=\"+Inf\"}"));
	/* every responder: the REST API's and the files' */
	assert_int_equal(metric(r.body, "\nchat4all_api_processes "),
			 atoi(getenv("API_PROCS")) + atoi(getenv("FILES_PROCS")));
	/* the workers' figures, read from their own metrics file */
	assert_true(metric(r.body, "chat4all_moderation_decisions_total{provider=\"lexicon\","
				   "verdict=\"approve\",category=\"none\"} ") > 0);
	assert_true(metric(r.body, "chat4all_moderation_decisions_total{provider=\"lexicon\","
				   "verdict=\"reject\",category=\"hate\"} ") >= 1);
	assert_true(metric(r.body, "chat4all_moderation_decisions_total{provider=\"lexicon\","
				   "verdict=\"hold\",category=\"sexual\"} ") >= 1);
	assert_non_null(strstr(r.body, "chat4all_moderation_provider_seconds_bucket{provider=\"lexicon\""));
	assert_true(metric(r.body, "chat4all_jobs_queued{kind=\"dead\"} ") >= 1);
	/* the gateway's, after the real-time tests opened and closed streams */
	assert_true(metric(r.body, "chat4all_stream_total{what=\"opened\"} ") >= 5);
	assert_true(metric(r.body, "chat4all_stream_total{what=\"events\"} ") >= 10);
	assert_true(metric(r.body, "chat4all_stream_total{what=\"closed\"} ") >= 1);
	resp_free(&r);
	for (int i = 0; i < 20; i++) {
		get(&r, NULL, "/healthz");
		resp_free(&r);
	}
	/* whichever responder answers, it counts every responder's requests */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(get(&r, NULL, "/metrics"), 200);
		after = metric(r.body, "chat4all_http_requests_total{route=\"GET /healthz\",status=\"200\"} ");
		assert_true(after >= before + 20);
		resp_free(&r);
	}
}

static void test_admin_promote(void **state)
{
	struct resp r;
	struct user u;
	char cmd[512];
	(void)state;

	signup(&u, "boss");
	snprintf(cmd, sizeof(cmd), "%s promote %s >/dev/null", getenv("CHAT4ALL_TEST_ADMIN"), u.name);
	assert_int_equal(system(cmd), 0);
	signin(&u, "correct horse");
	assert_int_equal(get(&r, u.access, "/v1/me"), 200);
	assert_string_equal(jstr(r.json, "role"), "admin");
	resp_free(&r);
	snprintf(cmd, sizeof(cmd), "%s promote nobody_%s 2>/dev/null", getenv("CHAT4ALL_TEST_ADMIN"), run_tag);
	assert_int_not_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_rules),
		cmocka_unit_test(test_signin),
		cmocka_unit_test(test_refresh_rotation_and_reuse),
		cmocka_unit_test(test_logout),
		cmocka_unit_test(test_bad_tokens),
		cmocka_unit_test(test_users_directory),
		cmocka_unit_test(test_private_conversation),
		cmocka_unit_test(test_conversation_list_paging),
		cmocka_unit_test(test_group_rules),
		cmocka_unit_test(test_group_admin_leaves),
		cmocka_unit_test(test_send_idempotent),
		cmocka_unit_test(test_concurrent_duplicates),
		cmocka_unit_test(test_concurrent_senders_seq),
		cmocka_unit_test(test_batch_survives_a_bad_send),
		cmocka_unit_test(test_history_paging),
		cmocka_unit_test(test_visibility_before_release),
		cmocka_unit_test(test_moderation_approves_and_rejects),
		cmocka_unit_test(test_release_in_order),
		cmocka_unit_test(test_receipts),
		cmocka_unit_test(test_bad_input_writes_nothing),
		cmocka_unit_test(test_admin_moderation),
		cmocka_unit_test(test_dead_letters),
		cmocka_unit_test(test_worker_sigkill),
		cmocka_unit_test(test_out_of_order_decisions),
		cmocka_unit_test(test_stream_two_users),
		cmocka_unit_test(test_stream_resume),
		cmocka_unit_test(test_stream_refusals),
		cmocka_unit_test(test_long_poll),
		cmocka_unit_test(test_status_events),
		cmocka_unit_test(test_stale_cursor_reset),
		cmocka_unit_test(test_stream_slow_reader),
		cmocka_unit_test(test_redis_restart),
		cmocka_unit_test(test_rate_limits),
		cmocka_unit_test(test_health_and_metrics),
		cmocka_unit_test(test_admin_promote),
	};

	http_init();
	snprintf(run_tag, sizeof(run_tag), "%lx", (unsigned long)time(NULL) % 0xfffff);
	if (getenv("TEST_FILTER"))	/* e.g. TEST_FILTER='test_stream_*' make test */
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests_name("api", tests, NULL, NULL);
}
