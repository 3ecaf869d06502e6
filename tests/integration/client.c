/*
 * client.c - see client.h.
 */
#include "client.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char run_tag[16];	/* makes this run's usernames unique */


void json_post(struct resp *r, const char *path, const char *token, const char *fmt, ...)
{
	char body[16384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	http(r, "POST", path, token, body, strlen(body), NULL, NULL);
}

long get(struct resp *r, const char *token, const char *fmt, ...)
{
	char path[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return http(r, "GET", path, token, NULL, 0, NULL, NULL);
}

/* Asserts a problem+json answer of @status with type /problems/@slug. */
void assert_problem(struct resp *r, long status, const char *slug)
{
	char type[64], ct[128];

	snprintf(type, sizeof(type), "/problems/%s", slug);
	if (r->status != status || !r->json || !jstr(r->json, "type") ||
	    strcmp(jstr(r->json, "type"), type))
		fprintf(stderr, "expected %ld %s, got %ld %s\n", status, slug, r->status,
			r->body ? r->body : "(no body)");
	assert_int_equal(r->status, status);
	assert_non_null(r->json);
	assert_string_equal(jstr(r->json, "type"), type);
	assert_int_equal(jint(r->json, "status"), status);
	assert_non_null(jstr(r->json, "title"));
	assert_non_null(resp_header(r, "Content-Type", ct, sizeof(ct)));
	assert_string_equal(ct, "application/problem+json");
}

/* Asserts that field @field is named in the problem's errors. */
void assert_field_error(struct resp *r, const char *field)
{
	struct json_object *errs = jget(r->json, "errors");
	size_t n = errs ? json_object_array_length(errs) : 0;

	for (size_t i = 0; i < n; i++) {
		const char *f = jstr(json_object_array_get_idx(errs, i), "field");
		if (f && !strcmp(f, field))
			return;
	}
	fprintf(stderr, "no error for field '%s' in %s\n", field, r->body);
	fail();
}

void signin(struct user *u, const char *password)
{
	struct resp r;

	json_post(&r, "/v1/auth/token", NULL, "{\"username\":\"%s\",\"password\":\"%s\"}",
		  u->name, password);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "token_type"), "Bearer");
	assert_int_equal(jint(r.json, "expires_in"), 900);
	snprintf(u->access, sizeof(u->access), "%s", jstr(r.json, "access_token"));
	snprintf(u->refresh, sizeof(u->refresh), "%s", jstr(r.json, "refresh_token"));
	resp_free(&r);
}

void signup(struct user *u, const char *who)
{
	static int n;	/* numbers this process's users */
	struct resp r;

	snprintf(u->name, sizeof(u->name), "%s_%s%d", who, run_tag, __atomic_add_fetch(&n, 1, __ATOMIC_SEQ_CST));
	json_post(&r, "/v1/auth/register", NULL,
		  "{\"username\":\"%s\",\"password\":\"correct horse\",\"display_name\":\"%s\"}",
		  u->name, who);
	if (r.status != 201)
		fprintf(stderr, "register %s: %ld %s\n", u->name, r.status, r.body);
	assert_int_equal(r.status, 201);
	assert_string_equal(jstr(r.json, "username"), u->name);
	assert_string_equal(jstr(r.json, "role"), "user");
	snprintf(u->id, sizeof(u->id), "%s", jstr(r.json, "id"));
	resp_free(&r);
	signin(u, "correct horse");
}

void private_conv(struct user *a, struct user *b, char id[37])
{
	struct resp r;

	json_post(&r, "/v1/conversations", a->access,
		  "{\"type\":\"private\",\"members\":[\"%s\"]}", b->id);
	assert_true(r.status == 201 || r.status == 200);
	snprintf(id, 37, "%s", jstr(r.json, "id"));
	resp_free(&r);
}

long send_text(struct resp *r, struct user *u, const char *conv,
		      const char *client_id, const char *text)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/conversations/%s/messages", conv);
	json_post(r, path, u->access, "{\"client_id\":\"%s\",\"text\":\"%s\"}", client_id, text);
	return r->status;
}

/* How many messages @u sees in @conv (all pages). */
int history_count(struct user *u, const char *conv)
{
	struct resp r;
	int n;

	assert_int_equal(get(&r, u->access, "/v1/conversations/%s/messages?after=0&limit=100", conv), 200);
	n = (int)json_object_array_length(jget(r.json, "items"));
	resp_free(&r);
	return n;
}

/*
 * Polls @u's view of message @id until its status is @status. The bound
 * (30 s) only keeps a broken pipeline from hanging the suite; it measures
 * nothing.
 */
bool wait_status(struct user *u, const char *id, const char *status)
{
	for (int i = 0; i < 600; i++) {
		struct resp r;
		bool done;
		get(&r, u->access, "/v1/messages/%s", id);
		done = r.status == 200 && jstr(r.json, "status") && !strcmp(jstr(r.json, "status"), status);
		resp_free(&r);
		if (done)
			return true;
		usleep(50 * 1000);
	}
	fprintf(stderr, "message %s never became %s\n", id, status);
	return false;
}

