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
#include <curl/curl.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <time.h>

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


/* ------------------------------------------------------------ real time */

static size_t sse_on_data(char *p, size_t size, size_t n, void *arg)
{
	struct sse *s = arg;
	pthread_mutex_lock(&s->mu);
	char *nb = realloc(s->buf, s->len + size * n + 1);
	if (nb) {
		memcpy(nb + s->len, p, size * n);
		s->buf = nb;
		s->len += size * n;
		s->buf[s->len] = '\0';
	}
	pthread_mutex_unlock(&s->mu);
	return size * n;
}

static int sse_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	(void)a; (void)b; (void)c; (void)d;
	return ((struct sse *)arg)->stop;	/* non-zero aborts the transfer */
}

static void *sse_run(void *arg)
{
	struct sse *s = arg;
	CURL *c = http_easy();
	struct curl_slist *h = NULL;
	char line[200];

	if (s->auth[0])
		h = curl_slist_append(h, s->auth);
	if (s->last_event_id[0]) {
		snprintf(line, sizeof(line), "Last-Event-ID: %s", s->last_event_id);
		h = curl_slist_append(h, line);
	}
	curl_easy_setopt(c, CURLOPT_URL, s->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, sse_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->status);
	s->done = 1;
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return NULL;
}

void sse_open(struct sse *s, const char *token, const char *last_id, const char *query)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	snprintf(s->url, sizeof(s->url), "%s/v1/stream%s", getenv("CHAT4ALL_TEST_URL"), query ? query : "");
	if (token)
		snprintf(s->auth, sizeof(s->auth), "Authorization: Bearer %s", token);
	if (last_id)
		snprintf(s->last_event_id, sizeof(s->last_event_id), "%s", last_id);
	pthread_create(&s->thread, NULL, sse_run, s);
}

int sse_count(struct sse *s, const char *needle)
{
	int n = 0;
	pthread_mutex_lock(&s->mu);
	for (const char *p = s->buf; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* Waits (at most 30 s: a liveness bound, not a measure) for @needle to
 * have appeared @times times. */
bool sse_wait(struct sse *s, const char *needle, int times)
{
	for (int i = 0; i < 600; i++) {
		if (sse_count(s, needle) >= times)
			return true;
		usleep(50 * 1000);
	}
	fprintf(stderr, "stream never showed '%s' %d times; it has:\n%s\n", needle, times,
		s->buf ? s->buf : "");
	return false;
}

/* The id of the last event carrying @needle. */
void sse_last_id(struct sse *s, char out[96])
{
	out[0] = '\0';
	pthread_mutex_lock(&s->mu);
	for (const char *p = s->buf; p && (p = strstr(p, "id: ")); p += 4)
		snprintf(out, 96, "%.*s", (int)strcspn(p + 4, "\n"), p + 4);
	pthread_mutex_unlock(&s->mu);
}

void sse_close(struct sse *s)
{
	s->stop = 1;
	pthread_join(s->thread, NULL);
	free(s->buf);
	pthread_mutex_destroy(&s->mu);
}

/* The sid claim of @u's access token (the payload's middle part). */
const char *sid_of(const struct user *u)
{
	static __thread char sid[37];
	const char *dot = strchr(u->access, '.'), *end = dot ? strchr(dot + 1, '.') : NULL;
	char b64[1024], json[1024];
	size_t n;

	sid[0] = '\0';
	if (!dot || !end || (size_t)(end - dot - 1) >= sizeof(b64) - 4)
		return "00000000-0000-4000-8000-000000000000";
	n = (size_t)(end - dot - 1);
	memcpy(b64, dot + 1, n);
	for (size_t i = 0; i < n; i++)
		b64[i] = b64[i] == '-' ? '+' : b64[i] == '_' ? '/' : b64[i];
	while (n % 4)
		b64[n++] = '=';
	int len = EVP_DecodeBlock((unsigned char *)json, (unsigned char *)b64, (int)n);
	if (len <= 0)
		return "00000000-0000-4000-8000-000000000000";
	json[len] = '\0';
	const char *p = strstr(json, "\"sid\":\"");
	if (!p)
		return "00000000-0000-4000-8000-000000000000";
	snprintf(sid, sizeof(sid), "%.36s", p + 7);
	return sid;
}

/* A token signed with the server's own key but @exp_delta from now. */
char *token_with_exp(const struct user *u, long exp_delta)
{
	const char *secret = getenv("CHAT4ALL_JWT_SECRET");
	jwt_t *j;
	char *s;

	assert_non_null(secret);
	jwt_new(&j);
	jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret));
	jwt_add_grant(j, "sub", u->id);
	jwt_add_grant(j, "role", "user");
	jwt_add_grant(j, "sid", sid_of(u));
	jwt_add_grant_int(j, "iat", time(NULL) - 3600);
	jwt_add_grant_int(j, "exp", time(NULL) + exp_delta);
	s = jwt_encode_str(j);
	jwt_free(j);
	return s;
}

long long sql_value(const char *fmt, ...)
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

void make_admin(struct user *u)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "%s promote %s >/dev/null", getenv("CHAT4ALL_TEST_ADMIN"), u->name);
	assert_int_equal(system(cmd), 0);
}

long long metric(const char *text, const char *line_prefix)
{
	const char *p = strstr(text, line_prefix);
	return p ? atoll(p + strlen(line_prefix)) : 0;
}

void client_begin(void)
{
	http_init();
	snprintf(run_tag, sizeof(run_tag), "%lx%x", (unsigned long)time(NULL) % 0xfffff,
		 (unsigned)getpid() % 0xfff);
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
}

void *race_sender(void *arg)
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

const char *kafka_bootstrap(void)
{
	static char b[1024];
	FILE *f = fopen(getenv("CHAT4ALL_TEST_KAFKA_BOOTSTRAP"), "r");

	assert_non_null(f);
	assert_non_null(fgets(b, sizeof(b), f));
	fclose(f);
	b[strcspn(b, "\n")] = '\0';
	return b;
}
