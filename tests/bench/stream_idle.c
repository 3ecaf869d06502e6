/*
 * stream_idle - hold N idle SSE streams open against a gateway, one per
 * distinct user (tokens minted with the instance's key for random user
 * ids: the gateway subscribes per user, so N users cost N subscriptions).
 *   stream_idle HOST PORT N SECONDS   (key in CHAT4ALL_JWT_SECRET)
 * Prints how many streams were open at once, then holds them SECONDS.
 */
#include "../../lib/auth.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

static int established, failed, total, started;
static struct event_base *base;
static const char *secret, *host;
static int port;
static struct timespec t0;

static void on_read(struct bufferevent *bev, void *arg)
{
	int *done = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (!*done && evbuffer_search(in, "retry: 3000", 11, NULL).pos >= 0) {
		*done = 1;
		if (++established + failed == total) {
			struct timespec t1;
			clock_gettime(CLOCK_MONOTONIC, &t1);
			printf("open %d of %d streams in %.1f s (%d refused or failed)\n", established,
			       total, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
			       failed);
			fflush(stdout);
		}
	}
	evbuffer_drain(in, evbuffer_get_length(in));	/* heartbeats */
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	int *done = arg;

	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		if (!*done) {
			*done = 1;
			failed++;
		} else {
			established--;
		}
		bufferevent_free(bev);
	}
}

static void open_one(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	int *done = calloc(1, sizeof(int));
	char user[37], sid[37], req[1024];
	char *tok;

	inet_pton(AF_INET, host, &sa.sin_addr);
	auth_uuid(user);
	auth_uuid(sid);
	tok = auth_access_issue(secret, user, "user", sid, 3600, time(NULL));
	snprintf(req, sizeof(req), "GET /v1/stream HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n",
		 host, tok);
	free(tok);
	bufferevent_setcb(bev, on_read, NULL, on_event, done);
	bufferevent_enable(bev, EV_READ);
	if (bufferevent_socket_connect(bev, (struct sockaddr *)&sa, sizeof(sa))) {
		failed++;
		bufferevent_free(bev);
		return;
	}
	bufferevent_write(bev, req, strlen(req));
}

/* Opens streams in steps, so the gateway's accept queue is not flooded. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct event *self = arg;
	(void)fd;
	(void)what;
	for (int i = 0; i < 200 && started < total; i++, started++)
		open_one();
	if (started < total) {
		struct timeval tv = { 0, 20000 };
		evtimer_add(self, &tv);
	}
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	printf("held %d streams\n", established);
	event_base_loopexit(base, NULL);
}

int main(int argc, char **argv)
{
	struct rlimit rl;

	if (argc != 5 || !(secret = getenv("CHAT4ALL_JWT_SECRET"))) {
		fprintf(stderr, "usage: CHAT4ALL_JWT_SECRET=… stream_idle HOST PORT N SECONDS\n");
		return 2;
	}
	host = argv[1];
	port = atoi(argv[2]);
	total = atoi(argv[3]);
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	base = event_base_new();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct event *tick = evtimer_new(base, on_tick, event_self_cbarg());
	struct timeval now = { 0, 0 }, hold = { atoi(argv[4]), 0 };
	evtimer_add(tick, &now);
	struct event *done = evtimer_new(base, on_done, NULL);
	evtimer_add(done, &hold);
	event_base_dispatch(base);
	return 0;
}
