/*
 * client.h - the integration suites' way of using the API: users, their
 * tokens, conversations, messages, and assertions on problem+json.
 */
#ifndef CHAT4ALL_TEST_CLIENT_H
#define CHAT4ALL_TEST_CLIENT_H

#include "http.h"

#include <pthread.h>
#include <stdbool.h>

extern char run_tag[16];	/* makes this run's usernames unique: set by main */

/* client_begin - what every suite's main() does first: libcurl, this run's
 * tag (time and process: suites may start within one second), and
 * TEST_FILTER (e.g. TEST_FILTER='test_stream_*' make test). */
void client_begin(void);

struct user {
	char id[37];
	char name[40];
	char access[1024];
	char refresh[64];
};

void json_post(struct resp *r, const char *path, const char *token, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
long get(struct resp *r, const char *token, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Asserts a problem+json answer of @status with type /problems/@slug. */
void assert_problem(struct resp *r, long status, const char *slug);
/* Asserts that field @field is named in the problem's errors. */
void assert_field_error(struct resp *r, const char *field);

void signin(struct user *u, const char *password);
/* A new user named after @who, signed in (password "correct horse"). */
void signup(struct user *u, const char *who);
void private_conv(struct user *a, struct user *b, char id[37]);
long send_text(struct resp *r, struct user *u, const char *conv, const char *client_id,
	       const char *text);
/* How many messages @u sees in @conv (all pages). */
int history_count(struct user *u, const char *conv);
/* Polls @u's view of message @id until its status is @status (30 s at most). */
bool wait_status(struct user *u, const char *id, const char *status);

/* An SSE client on its own thread: everything it reads, in one buffer. */
struct sse {
	pthread_t thread;
	pthread_mutex_t mu;
	char *buf;
	size_t len;
	volatile int stop;
	volatile int done;	/* the server ended the stream (or it failed) */
	char url[512];
	char auth[1100];
	char last_event_id[96];
	long status;
};

/* sse_open - GET /v1/stream@query with @token (or none), resuming after
 * @last_id when given. */
void sse_open(struct sse *s, const char *token, const char *last_id, const char *query);
int sse_count(struct sse *s, const char *needle);
/* Waits (at most 30 s: a liveness bound, not a measure) for @needle to
 * have appeared @times times. */
bool sse_wait(struct sse *s, const char *needle, int times);
/* The id of the last event. */
void sse_last_id(struct sse *s, char out[96]);
void sse_close(struct sse *s);

/* sid_of - the sign-in (sid claim) of @u's access token. */
const char *sid_of(const struct user *u);
/* token_with_exp - a token of @u's sign-in signed with the server's own
 * key (CHAT4ALL_JWT_SECRET), expiring @exp_delta seconds from now. The
 * caller frees it. */
char *token_with_exp(const struct user *u, long exp_delta);

/* A sender on a thread of its own (pthread_create(…, race_sender, &race)):
 * @count sends of "race" by @u to @conv, each with its own client_id
 * ("<name>-<i>") or all with @client_id; the ids of those accepted in @ids. */
struct race {
	struct user *u;
	const char *conv;
	const char *client_id;	/* NULL: each send its own */
	int count;
	char ids[64][37];
	int ok;			/* how many were accepted (202) */
};
void *race_sender(void *arg);

/* sql_value - runs SQL on the instance's database (fault injection and
 * checks only): the first column of the first row, as a number. */
long long sql_value(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* make_admin - @u becomes an admin (chat4all-admin promote). */
void make_admin(struct user *u);

/* kafka_bootstrap - the mock cluster's brokers (the file named by
 * CHAT4ALL_TEST_KAFKA_BOOTSTRAP: tests/kafka/mock_cluster.c writes it). */
const char *kafka_bootstrap(void);

/* metric - the value after @line_prefix in a /metrics text (0: absent). */
long long metric(const char *text, const char *line_prefix);

#endif
