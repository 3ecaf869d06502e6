/*
 * api_stream_test - the REST API over real HTTP (lighttpd, the FastCGI
 * responders, PostgreSQL and Redis, as tools/test.sh starts them): real time: SSE and long-poll, resuming, refusals, status events, slow readers, Redis restarts.
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

/* A raw socket to the gateway itself (the port it was given, in the
 * instance's run/stream.port) with a small receive window, so that not
 * reading it backs up into the gateway (lighttpd in between would buffer
 * some more, and the test is about the gateway's bound). */
static int slow_reader_open(const struct user *u)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 1 };
	int fd = socket(AF_INET, SOCK_STREAM, 0), window = 4096, port = 0;
	char req[1400], path[512];

	snprintf(path, sizeof(path), "%s/run/stream.port", getenv("CHAT4ALL_TEST_VAR"));
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &port), 1);
	fclose(f);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &window, sizeof(window));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	sa.sin_port = htons((uint16_t)port);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_two_users),
		cmocka_unit_test(test_stream_resume),
		cmocka_unit_test(test_stream_refusals),
		cmocka_unit_test(test_long_poll),
		cmocka_unit_test(test_status_events),
		cmocka_unit_test(test_stale_cursor_reset),
		cmocka_unit_test(test_stream_slow_reader),
		cmocka_unit_test(test_redis_restart),
	};

	client_begin();
	return cmocka_run_group_tests_name("api_stream", tests, NULL, NULL);
}
