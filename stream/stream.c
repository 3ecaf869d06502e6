/*
 * chat4all-stream - the real-time gateway of DESIGN §4: one event-driven
 * process (libevent evhttp + hiredis async) behind lighttpd's mod_proxy.
 *
 *   GET /v1/stream   Server-Sent Events; Authorization: Bearer or ?ticket=;
 *                    Last-Event-ID resumes
 *   GET /v1/poll     the same events as JSON: ?cursor=&timeout=
 *
 * Each connected user has one Redis subscription (c4a:live:<user>), shared
 * by all that user's streams. A stream resumes without gap or duplicate:
 * subscribe first, and only once Redis confirms it read the replay stream
 * (c4a:ev:<user>) after the client's cursor; live events that arrive
 * meanwhile wait, and any whose id is not past what was sent is dropped.
 * A cursor older than what the stream still holds gets `reset`.
 *
 * A stream lives as long as the sign-in that opened it, and no longer:
 * it ends with `event: revoked` when that sign-in ends (sign-out, a
 * reused refresh token: the API publishes the sid on
 * KV_SIGNIN_ENDED, and every open stream is checked again after Redis
 * returns and every SWEEP_SECONDS), when the access token it was opened
 * with (or the one that took its ticket) expires — the client renews by
 * taking a new ticket and resuming from its last id — and, oldest first,
 * when its user opens more than stream_per_user.
 */
#include "../lib/auth.h"
#include "../lib/conf.h"
#include "../lib/events.h"
#include "../lib/kv_keys.h"
#include "../lib/log.h"
#include "../lib/metrics.h"
#include "../lib/revocation.h"
#include "../lib/trace.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <hiredis.h>
#include <async.h>
#include <adapters/libevent.h>
#include <json-c/json.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define USER_BUCKETS 16384
#define POLL_TIMEOUT_DEFAULT 25
#define POLL_TIMEOUT_MAX 60
#define STREAM_MAX_HEADERS 16384	/* bytes of a request's headers */
#define SWEEP_SECONDS 30		/* every open stream's sign-in checked again */

struct client;

struct user {
	char id[37];
	struct client *clients;
	bool subscribed;	/* SUBSCRIBE sent */
	bool confirmed;		/* ... and Redis said so: replays may start */
	struct user *next;	/* hash chain */
};

struct client {
	struct user *user;
	struct evhttp_request *req;
	char user_id[37];	/* who, from the token or the ticket */
	char sid[37];		/* the sign-in it lives by */
	long exp;		/* ... and until when (the access token's expiry) */
	unsigned long opened;	/* order of opening: the oldest ends first */
	struct event *expiry;	/* fires at exp */
	bool poll;
	bool live;		/* replay done: live events go straight out */
	bool replay_wanted;	/* waiting for the subscription to start replay */
	char last_id[48];	/* the last event id sent (or the cursor) */
	struct evbuffer *held;	/* live events that came during the replay */
	struct json_object *events;	/* poll: what the answer will carry */
	struct event *timer;	/* SSE heartbeat, or the poll's timeout */
	struct client *next;
	int pending;		/* async Redis replies still due: free after them */
	bool closed;
	bool ending;		/* told to end (make_room): it no longer counts */
	bool timed_out;		/* poll: answer as soon as the replay is done */
};

static struct conf conf;
static struct event_base *base;
static redisAsyncContext *sub, *cmd;
static struct user *users[USER_BUCKETS];
static long nstreams, nevents;
static unsigned long nopened;
static struct metrics *counters;	/* opened, closed, events, dropped: for /metrics */

/* ------------------------------------------------------------- helpers */

static unsigned hash(const char *s)
{
	unsigned h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % USER_BUCKETS;
}

static struct user *user_find(const char *id)
{
	for (struct user *u = users[hash(id)]; u; u = u->next)
		if (!strcmp(u->id, id))
			return u;
	return NULL;
}

static void problem(struct evhttp_request *req, int status, const char *slug, const char *detail)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add_printf(b, "{\"type\":\"/problems/%s\",\"title\":\"%s\",\"status\":%d,"
			       "\"detail\":\"%s\"}", slug, slug, status, detail);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/problem+json");
	if (status == 401)
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
	evhttp_send_reply(req, status, slug, b);
	evbuffer_free(b);
}

/* --------------------------------------------------------------- output */

static void client_free(struct client *c);
static void end_signin(const char *sid);
static void deliver(struct client *c, const char *id, const char *event, const char *data);

/* A dropped client's connection is ended here, on a loop turn of its own:
 * the dropper may still be walking the user's clients. The close callback
 * is cleared first, so evhttp frees the request without calling back. */
static void free_later(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	struct evhttp_connection *conn = c->req ? evhttp_request_get_connection(c->req) : NULL;
	(void)fd;
	(void)what;

	if (conn) {
		evhttp_connection_set_closecb(conn, NULL, NULL);
		c->req = NULL;
		evhttp_connection_free(conn);
	}
	client_free(c);
}

/* Nothing more may be written to @c: its heartbeat (or poll timeout)
 * and its expiry stop. */
static void client_timers_stop(struct client *c)
{
	if (c->timer) {
		event_free(c->timer);
		c->timer = NULL;
	}
	if (c->expiry) {
		event_free(c->expiry);
		c->expiry = NULL;
	}
}

/* Drops a client that fell too far behind: what it has not read is
 * discarded and the socket shut down at once; the connection and the
 * client are freed on the next loop turn. */
static void client_drop(struct client *c, const char *why)
{
	struct evhttp_connection *conn;
	struct bufferevent *bev;

	if (c->closed)
		return;
	log_line(LOG_INFO, NULL, NULL, "stream of %s closed: %s", c->user ? c->user->id : "?", why);
	c->closed = true;
	conn = c->req ? evhttp_request_get_connection(c->req) : NULL;
	bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	client_timers_stop(c);
	if (bev) {
		evbuffer_drain(bufferevent_get_output(bev),
			       evbuffer_get_length(bufferevent_get_output(bev)));
		shutdown(bufferevent_getfd(bev), SHUT_RDWR);
	}
	event_base_once(base, -1, EV_TIMEOUT, free_later, c, NULL);
}

/* A client that stops reading must not hold the process's memory. */
static bool too_far_behind(struct client *c)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(c->req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;

	return bev && (long)evbuffer_get_length(bufferevent_get_output(bev)) > conf.stream_max_buffer;
}

static void sse_send(struct client *c, const char *id, const char *event, const char *data)
{
	struct evbuffer *b = evbuffer_new();

	if (id && *id)
		evbuffer_add_printf(b, "id: %s\n", id);
	evbuffer_add_printf(b, "event: %s\ndata: %s\n\n", event, data);
	evhttp_send_reply_chunk(c->req, b);
	evbuffer_free(b);
	nevents++;
	metrics_observe(counters, STREAM_EVENTS, 200, 0);
	if (too_far_behind(c)) {
		metrics_observe(counters, STREAM_DROPPED, 200, 0);
		client_drop(c, "the client stopped reading");
	}
}

static void poll_finish(struct client *c)
{
	struct json_object *o = json_object_new_object();
	struct evbuffer *b = evbuffer_new();

	json_object_object_add(o, "events", json_object_get(c->events));
	json_object_object_add(o, "cursor", json_object_new_string(c->last_id));
	evbuffer_add_printf(b, "%s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Content-Type", "application/json");
	evhttp_add_header(evhttp_request_get_output_headers(c->req), "Cache-Control", "no-store");
	/* evhttp frees the request once the answer is out: forget it first,
	 * as a reply still due from Redis may keep the client a while */
	struct evhttp_request *req = c->req;
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), NULL, NULL);
	c->req = NULL;
	client_timers_stop(c);
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
	json_object_put(o);
	c->closed = true;
	client_free(c);
}

/*
 * Ends client @c because its right to the stream ended (@reason:
 * expired, signed-out, too-many-streams): a last `revoked` event, then
 * the end of the answer. A poll answers with what it has and that event
 * (once its replay, if one is running, is done).
 */
static void client_end(struct client *c, const char *reason)
{
	char data[96];

	if (c->closed || !c->req)
		return;
	snprintf(data, sizeof(data), "{\"reason\":\"%s\"}", reason);
	log_line(LOG_INFO, NULL, NULL, "stream of %s ended: %s", c->user_id, reason);
	if (c->poll) {
		deliver(c, NULL, "revoked", data);
		c->timed_out = true;
		if (c->live && !c->closed)
			poll_finish(c);
		return;
	}
	sse_send(c, NULL, "revoked", data);
	if (c->closed)
		return;		/* it had stopped reading: dropped */
	c->closed = true;
	client_timers_stop(c);
	struct evhttp_request *req = c->req;
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), NULL, NULL);
	c->req = NULL;
	evhttp_send_reply_end(req);
	client_free(c);
}

/* One event to one client, in order; ids not past what it has are dropped. */
static void deliver(struct client *c, const char *id, const char *event, const char *data)
{
	if (c->closed)
		return;
	if (id && *id) {
		if (c->last_id[0] && events_id_cmp(id, c->last_id) <= 0)
			return;	/* sent already (replay and live overlap) */
		snprintf(c->last_id, sizeof(c->last_id), "%s", id);
	}
	if (!c->poll) {
		sse_send(c, id, event, data);
		return;
	}
	struct json_object *e = json_object_new_object();
	json_object_object_add(e, "id", id && *id ? json_object_new_string(id) : NULL);
	json_object_object_add(e, "event", json_object_new_string(event));
	json_object_object_add(e, "data", json_tokener_parse(data));
	json_object_array_add(c->events, e);
	nevents++;
	metrics_observe(counters, STREAM_EVENTS, 200, 0);
}

/* Every Redis reply for a client starts here: one reply less is due, and
 * a client that went away meanwhile is freed now (false: stop). */
static bool still_there(struct client *c)
{
	c->pending--;
	if (!c->closed)
		return true;
	client_free(c);
	return false;
}

/* ---------------------------------------------------------- the replay */

static void start_replay(struct client *c);

static void finish_replay(struct client *c)
{
	c->live = true;
	/* what arrived live during the replay, past the replay's end */
	while (c->held && evbuffer_get_length(c->held)) {
		size_t n;
		char *line = evbuffer_readln(c->held, &n, EVBUFFER_EOL_NUL);
		if (!line)
			break;
		char *ev = strchr(line, '\n'), *data = ev ? strchr(ev + 1, '\n') : NULL;
		if (ev && data) {
			*ev++ = '\0';
			*data++ = '\0';
			deliver(c, line, ev, data);
		}
		free(line);
	}
	if (c->poll && !c->closed && (c->timed_out || json_object_array_length(c->events)))
		poll_finish(c);
}

static void on_xrange(redisAsyncContext *ac, void *r, void *priv)
{
	struct client *c = priv;
	redisReply *rep = r;
	(void)ac;

	if (!still_there(c))
		return;
	if (rep && rep->type == REDIS_REPLY_ARRAY)
		for (size_t i = 0; i < rep->elements && !c->closed; i++) {
			redisReply *entry = rep->element[i], *fields;
			const char *ev = NULL, *data = NULL;
			if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2)
				continue;
			fields = entry->element[1];
			for (size_t k = 0; k + 1 < fields->elements; k += 2) {
				if (!strcmp(fields->element[k]->str, "e"))
					ev = fields->element[k + 1]->str;
				else if (!strcmp(fields->element[k]->str, "d"))
					data = fields->element[k + 1]->str;
			}
			if (ev && data)
				deliver(c, entry->element[0]->str, ev, data);
		}
	if (!c->closed)
		finish_replay(c);
}

/* XINFO STREAM tells the newest id, the oldest kept, and whether any were
 * ever trimmed (entries-added > length; trimming only drops the oldest).
 * A cursor before the oldest kept of a trimmed stream may have lost
 * events: it gets `reset` (at worst one needless resync through REST). */
static void on_xinfo(redisAsyncContext *ac, void *r, void *priv)
{
	struct client *c = priv;
	redisReply *rep = r;
	const char *last = NULL, *first = NULL;
	long long length = 0, added = 0;
	(void)ac;

	if (!still_there(c))
		return;
	if (rep && rep->type == REDIS_REPLY_ARRAY)
		for (size_t k = 0; k + 1 < rep->elements; k += 2) {
			const char *name = rep->element[k]->str;
			redisReply *v = rep->element[k + 1];
			if (!name)
				continue;
			if (!strcmp(name, "last-generated-id") && v->type == REDIS_REPLY_STRING)
				last = v->str;
			else if (!strcmp(name, "first-entry") && v->type == REDIS_REPLY_ARRAY &&
				 v->elements == 2 && v->element[0]->type == REDIS_REPLY_STRING)
				first = v->element[0]->str;
			else if (!strcmp(name, "length") && v->type == REDIS_REPLY_INTEGER)
				length = v->integer;
			else if (!strcmp(name, "entries-added") && v->type == REDIS_REPLY_INTEGER)
				added = v->integer;
		}
	bool trimmed = first && added > length;
	if (!c->last_id[0]) {
		/* no cursor: from now on */
		snprintf(c->last_id, sizeof(c->last_id), "%s", last ? last : "0-0");
		finish_replay(c);
		return;
	}
	if (trimmed && events_id_cmp(c->last_id, first) < 0) {
		snprintf(c->last_id, sizeof(c->last_id), "%s", last ? last : "0-0");
		deliver(c, NULL, "reset", "{\"reason\":\"the cursor is older than the events kept\"}");
		if (!c->closed)
			finish_replay(c);
		return;
	}
	char key[64], from[64];
	events_stream_key(c->user->id, key);
	snprintf(from, sizeof(from), "(%s", c->last_id);
	c->pending++;
	redisAsyncCommand(cmd, on_xrange, c, "XRANGE %s %s +", key, from);
}

static void start_replay(struct client *c)
{
	char key[64];

	c->replay_wanted = false;
	events_stream_key(c->user->id, key);
	c->pending++;
	if (!cmd || redisAsyncCommand(cmd, on_xinfo, c, "XINFO STREAM %s", key) != REDIS_OK) {
		c->pending--;
		finish_replay(c);	/* Redis is away: live from now, resumed on its return */
	}
}

/* --------------------------------------------------------------- pub/sub */

static void on_message(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *rep = r;
	struct user *u;
	(void)ac;
	(void)priv;

	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3)
		return;
	const char *kind = rep->element[0]->str, *chan = rep->element[1]->str;
	if (kind && chan && !strcmp(chan, KV_SIGNIN_ENDED)) {
		if (!strcmp(kind, "message") && rep->element[2]->type == REDIS_REPLY_STRING)
			end_signin(rep->element[2]->str);
		return;
	}
	if (!kind || !chan || strncmp(chan, KV_LIVE_PREFIX, strlen(KV_LIVE_PREFIX)) ||
	    !(u = user_find(chan + strlen(KV_LIVE_PREFIX))))
		return;
	if (!strcmp(kind, "subscribe")) {
		u->confirmed = true;
		for (struct client *c = u->clients; c; c = c->next)
			if (c->replay_wanted)
				start_replay(c);
		return;
	}
	if (strcmp(kind, "message") || rep->element[2]->type != REDIS_REPLY_STRING)
		return;
	char *msg = rep->element[2]->str;
	char *ev = strchr(msg, '\n'), *data = ev ? strchr(ev + 1, '\n') : NULL;
	if (!ev || !data)
		return;
	/* a traced event ends with its traceparent's line (lib/events.h): cut
	 * off here, so that neither a client nor a replay ever sees it */
	char *traced = strchr(data + 1, '\n');
	if (traced)
		*traced++ = '\0';
	char id[48], name[32];
	snprintf(id, sizeof(id), "%.*s", (int)(ev - msg), msg);
	snprintf(name, sizeof(name), "%.*s", (int)(data - ev - 1), ev + 1);
	struct span span;
	int forwarded = 0;
	if (traced) {
		char span_name[48];
		snprintf(span_name, sizeof(span_name), "stream %s", name);
		span_start(&span, traced, span_name, SPAN_PRODUCER);
		trace_log_as(traced);
	}
	for (struct client *c = u->clients, *next; c; c = next) {
		next = c->next;
		forwarded++;
		if (c->live) {
			deliver(c, id, name, data + 1);
			if (c->poll && !c->closed && json_object_array_length(c->events))
				poll_finish(c);
		} else {
			/* held until the replay is done: "id\nevent\ndata\0" */
			if (!c->held)
				c->held = evbuffer_new();
			evbuffer_add_printf(c->held, "%s", msg);
			evbuffer_add(c->held, "", 1);
		}
	}
	if (traced) {
		span_attr(&span, "chat4all.event_id", id);
		span_attr_int(&span, "chat4all.connections", forwarded);
		span_end(&span);
		trace_log_as(NULL);
	}
}

static void subscribe(struct user *u)
{
	char chan[64];

	if (u->subscribed || !sub)
		return;
	events_live_channel(u->id, chan);
	if (redisAsyncCommand(sub, on_message, NULL, "SUBSCRIBE %s", chan) == REDIS_OK)
		u->subscribed = true;
}

static void unsubscribe(struct user *u)
{
	char chan[64];

	if (!u->subscribed || !sub)
		return;
	events_live_channel(u->id, chan);
	redisAsyncCommand(sub, NULL, NULL, "UNSUBSCRIBE %s", chan);
}

/* ------------------------------------------------------- Redis, again */

static void redis_connect(void);
static void sweep(void);
static void end_signin(const char *sid);

static void on_reconnect_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	redis_connect();
}

static int backoff_ms = 100;	/* the next wait before reconnecting */

static void schedule_reconnect(void)
{
	static struct event *ev;
	struct timeval tv = { backoff_ms / 1000, (backoff_ms % 1000) * 1000 };

	if (!ev)
		ev = evtimer_new(base, on_reconnect_timer, NULL);
	if (evtimer_pending(ev, NULL))
		return;
	evtimer_add(ev, &tv);
	backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	(void)status;
	log_warn(NULL, "redis %s connection lost; reconnecting", ac == sub ? "pub/sub" : "command");
	if (ac == sub)
		sub = NULL;
	if (ac == cmd)
		cmd = NULL;
	/* with the pub/sub connection, every subscription went */
	if (!sub)
		for (unsigned i = 0; i < USER_BUCKETS; i++)
			for (struct user *u = users[i]; u; u = u->next)
				u->subscribed = u->confirmed = false;
	schedule_reconnect();
}

static redisAsyncContext *open_async(void)
{
	redisAsyncContext *ac;

	if (!strncmp(conf.redis, "unix:", 5)) {
		ac = redisAsyncConnectUnix(conf.redis + 5);
	} else {
		char host[256];
		const char *colon = strrchr(conf.redis, ':');
		snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - conf.redis) : (int)strlen(conf.redis),
			 conf.redis);
		ac = redisAsyncConnect(host, colon ? atoi(colon + 1) : 6379);
	}
	if (!ac || ac->err) {
		if (ac)
			redisAsyncFree(ac);
		return NULL;
	}
	redisLibeventAttach(ac, base);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	return ac;
}

/* (Re)connects both connections; after a loss, every user subscribes
 * again and every stream replays from its last id, filling the gap. */
static void redis_connect(void)
{
	if (!cmd)
		cmd = open_async();
	if (!sub && cmd) {
		sub = open_async();
		if (sub) {
			/* sign-ins that end; and those that ended while away */
			redisAsyncCommand(sub, on_message, NULL, "SUBSCRIBE %s", KV_SIGNIN_ENDED);
			sweep();
		}
		if (sub)
			for (unsigned i = 0; i < USER_BUCKETS; i++)
				for (struct user *u = users[i]; u; u = u->next) {
					u->subscribed = u->confirmed = false;
					for (struct client *c = u->clients; c; c = c->next)
						if (!c->closed) {
							c->live = false;
							c->replay_wanted = true;
						}
					subscribe(u);
				}
	}
	if (!cmd || !sub) {
		log_warn(NULL, "cannot reach redis at %s; retrying", conf.redis);
		schedule_reconnect();
	} else {
		log_info(NULL, "redis connected");
		backoff_ms = 100;	/* the next outage starts from short waits again */
	}
}

/* --------------------------------------------------------------- clients */

static void client_free(struct client *c)
{
	struct user *u = c->user;

	if (c->pending > 0)
		return;	/* a Redis reply is still due with this pointer */
	client_timers_stop(c);
	if (u) {
		struct client **pp = &u->clients;
		while (*pp && *pp != c)
			pp = &(*pp)->next;
		if (*pp)
			*pp = c->next;
		c->user = NULL;
		if (!u->clients) {
			struct user **up = &users[hash(u->id)];
			unsubscribe(u);
			while (*up && *up != u)
				up = &(*up)->next;
			if (*up)
				*up = u->next;
			free(u);
		}
		if (!c->poll) {
			nstreams--;
			metrics_observe(counters, STREAM_CLOSED, 200, 0);
		}
	}
	if (c->req) {
		struct evhttp_connection *conn = evhttp_request_get_connection(c->req);
		if (conn)
			evhttp_connection_set_closecb(conn, NULL, NULL);
	}
	if (c->held)
		evbuffer_free(c->held);
	json_object_put(c->events);
	free(c);
}

static void on_close(struct evhttp_connection *conn, void *arg)
{
	struct client *c = arg;
	(void)conn;

	c->req = NULL;		/* evhttp frees it after this returns */
	if (c->closed)
		return;		/* dropped already: free_later frees the client */
	c->closed = true;
	client_timers_stop(c);	/* nothing more may be written to it */
	client_free(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	(void)fd;
	(void)what;

	if (c->poll) {
		/* the timeout: whatever there is, maybe nothing — but never
		 * before the cursor is known */
		if (c->live)
			poll_finish(c);
		else
			c->timed_out = true;
		return;
	}
	/* a comment line keeps proxies and lighttpd from closing a quiet stream */
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_printf(b, ": heartbeat\n\n");
	evhttp_send_reply_chunk(c->req, b);
	evbuffer_free(b);
	if (too_far_behind(c))
		client_drop(c, "the client stopped reading");
}

static void on_expiry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	client_end(arg, "expired");
}

/* A user holds at most stream_per_user streams and polls: once a new one
 * is among them, the oldest beyond that end. (The new one keeps the user
 * alive meanwhile; an ended client may be freed at once, so it is marked,
 * never looked at again.) */
static void make_room(struct user *u)
{
	for (;;) {
		struct client *oldest = NULL;
		long open = 0;
		for (struct client *x = u->clients; x; x = x->next)
			if (!x->closed && !x->ending) {
				open++;
				if (!oldest || x->opened < oldest->opened)
					oldest = x;
			}
		if (open <= conf.stream_per_user || !oldest)
			return;
		oldest->ending = true;	/* a poll mid-replay ends when its replay does */
		client_end(oldest, "too-many-streams");
	}
}

/* The caller (c->user_id, its sign-in live): open its stream or poll. */
static void client_start(struct client *c)
{
	struct user *u = user_find(c->user_id);
	struct timeval left = { c->exp - (long)time(NULL), 0 };

	if (left.tv_sec <= 0) {
		problem(c->req, 401, "unauthorized", "the access token has expired");
		c->closed = true;
		client_free(c);
		return;
	}
	if (!u) {
		u = calloc(1, sizeof(*u));
		snprintf(u->id, sizeof(u->id), "%s", c->user_id);
		u->next = users[hash(c->user_id)];
		users[hash(c->user_id)] = u;
	}
	c->user = u;
	c->next = u->clients;
	u->clients = c;
	c->opened = ++nopened;
	make_room(u);
	c->expiry = evtimer_new(base, on_expiry, c);
	evtimer_add(c->expiry, &left);
	evhttp_connection_set_closecb(evhttp_request_get_connection(c->req), on_close, c);
	if (!c->poll) {
		/* each event is a small write that must leave at once: with
		 * Nagle's algorithm it waits for the ACK of the one before,
		 * which the peer delays by up to 40 ms */
		struct bufferevent *bev = evhttp_connection_get_bufferevent(
			evhttp_request_get_connection(c->req));
		int one = 1;
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
		evhttp_add_header(h, "Content-Type", "text/event-stream");
		evhttp_add_header(h, "Cache-Control", "no-store");
		evhttp_add_header(h, "X-Accel-Buffering", "no");
		evhttp_send_reply_start(c->req, 200, "OK");
		struct evbuffer *b = evbuffer_new();
		evbuffer_add_printf(b, "retry: 3000\n\n");
		evhttp_send_reply_chunk(c->req, b);
		evbuffer_free(b);
		nstreams++;
		metrics_observe(counters, STREAM_OPENED, 200, 0);
		struct timeval hb = { conf.stream_heartbeat, 0 };
		c->timer = event_new(base, -1, EV_PERSIST, on_timer, c);
		event_add(c->timer, &hb);
	}
	c->replay_wanted = true;
	subscribe(u);
	if (u->confirmed)
		start_replay(c);
}

/* EXISTS of the sign-in's revocation mark: refused, or opened. */
static void on_signin_checked(redisAsyncContext *ac, void *r, void *priv)
{
	struct client *c = priv;
	redisReply *rep = r;
	(void)ac;

	if (!still_there(c))
		return;
	if (!rep || rep->type != REDIS_REPLY_INTEGER) {
		problem(c->req, 503, "unavailable", "sign-ins cannot be checked now; retry shortly");
	} else if (rep->integer > 0) {
		problem(c->req, 401, "unauthorized", "this sign-in has ended");
	} else {
		client_start(c);
		return;
	}
	c->closed = true;
	client_free(c);
}

static void check_signin(struct client *c)
{
	char key[64];

	revocation_key(c->sid, key);
	c->pending++;
	if (!cmd || redisAsyncCommand(cmd, on_signin_checked, c, "EXISTS %s", key) != REDIS_OK) {
		c->pending--;
		problem(c->req, 503, "unavailable", "the live path is reconnecting; retry shortly");
		c->closed = true;
		client_free(c);
	}
}

/* GETDEL of a ticket: "<user id> <sid> <exp>" (fcgi/h_users.c), the
 * sign-in that took it. */
static void on_ticket(redisAsyncContext *ac, void *r, void *priv)
{
	struct client *c = priv;
	redisReply *rep = r;
	(void)ac;

	if (!still_there(c))
		return;
	if (!rep || rep->type != REDIS_REPLY_STRING ||
	    sscanf(rep->str, "%36s %36s %ld", c->user_id, c->sid, &c->exp) != 3) {
		problem(c->req, 401, "unauthorized", "the stream ticket is unknown, used or expired");
		c->closed = true;
		client_free(c);
		return;
	}
	check_signin(c);
}

/* Sign-in @sid ended: every stream it holds ends now. */
static void end_signin(const char *sid)
{
	for (unsigned i = 0; i < USER_BUCKETS; i++)
		for (struct user *u = users[i], *nu; u; u = nu) {
			nu = u->next;	/* u may be freed with its last client */
			for (struct client *c = u->clients, *next; c; c = next) {
				next = c->next;
				if (!c->closed && !strcmp(c->sid, sid))
					client_end(c, "signed-out");
			}
		}
}

static void on_swept(redisAsyncContext *ac, void *r, void *priv)
{
	struct client *c = priv;
	redisReply *rep = r;
	(void)ac;

	if (!still_there(c))
		return;
	if (rep && rep->type == REDIS_REPLY_INTEGER && rep->integer > 0)
		client_end(c, "signed-out");
}

/* Every open stream's sign-in, checked again: what was published while
 * the pub/sub connection was away is not lost. */
static void sweep(void)
{
	for (unsigned i = 0; i < USER_BUCKETS && cmd; i++)
		for (struct user *u = users[i]; u; u = u->next)
			for (struct client *c = u->clients; c; c = c->next) {
				char key[64];
				if (c->closed)
					continue;
				revocation_key(c->sid, key);
				c->pending++;
				if (redisAsyncCommand(cmd, on_swept, c, "EXISTS %s", key) != REDIS_OK)
					c->pending--;
			}
}

static const char *query_value(struct evkeyvalq *q, const char *name)
{
	return evhttp_find_header(q, name);
}

/* Where to resume: Last-Event-ID (SSE, or ?last_event_id=) or ?cursor=
 * (long-poll). False after refusing one that is not ours. */
static bool read_cursor(struct evhttp_request *req, struct evkeyvalq *q, struct client *c)
{
	const char *from = c->poll ? query_value(q, "cursor")
				   : evhttp_find_header(evhttp_request_get_input_headers(req), "Last-Event-ID");

	if (!from && !c->poll)
		from = query_value(q, "last_event_id");
	if (!from || !*from)
		return true;
	if (!events_id_valid(from)) {
		problem(req, 400, "validation", "the cursor is not one of ours");
		return false;
	}
	snprintf(c->last_id, sizeof(c->last_id), "%s", from);
	return true;
}

/* A long-poll answers after ?timeout= seconds (0 to 60) at the latest. */
static bool start_poll_timer(struct evhttp_request *req, struct evkeyvalq *q, struct client *c)
{
	const char *t = query_value(q, "timeout");
	long timeout = t ? strtol(t, NULL, 10) : POLL_TIMEOUT_DEFAULT;

	if (t && (timeout < 0 || timeout > POLL_TIMEOUT_MAX || strspn(t, "0123456789") != strlen(t))) {
		problem(req, 400, "validation", "timeout must be 0 to 60 seconds");
		return false;
	}
	struct timeval tv = { timeout, 0 };
	c->timer = evtimer_new(base, on_timer, c);
	evtimer_add(c->timer, &tv);
	return true;
}

/* Who it is: a one-time ?ticket= (looked up in Redis, on_ticket goes on)
 * or a Bearer token (its sign-in checked, check_signin goes on). */
static bool authenticate(struct evhttp_request *req, struct evkeyvalq *q, struct client *c)
{
	const char *ticket = query_value(q, "ticket");
	const char *authz = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	struct auth_claims claims;

	if (!cmd) {
		problem(req, 503, "unavailable", "the live path is reconnecting; retry shortly");
		return false;
	}
	if (ticket && *ticket && strlen(ticket) < 128) {
		char key[160];
		snprintf(key, sizeof(key), KV_TICKET, ticket);
		c->pending++;
		redisAsyncCommand(cmd, on_ticket, c, "GETDEL %s", key);
		return true;
	}
	if (authz && !strncasecmp(authz, "Bearer ", 7) &&
	    !auth_access_verify(conf.jwt_secret, authz + 7, time(NULL), &claims)) {
		memcpy(c->user_id, claims.user_id, sizeof(c->user_id));
		memcpy(c->sid, claims.sid, sizeof(c->sid));
		c->exp = claims.exp;
		check_signin(c);
		return true;
	}
	problem(req, 401, "unauthorized", "send Authorization: Bearer <token> or ?ticket=");
	return false;
}

/* GET /v1/stream (SSE) or /v1/poll (long-poll): a client, once it is
 * known who it is (authenticate), subscribed and replayed to. */
static void handle(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = evhttp_uri_get_path(uri), *qs = evhttp_uri_get_query(uri);
	struct evkeyvalq q;
	struct client *c;
	(void)arg;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		problem(req, 405, "method-not-allowed", "streams are read with GET");
		return;
	}
	if (!path || (strcmp(path, "/v1/stream") && strcmp(path, "/v1/poll"))) {
		problem(req, 404, "not-found", "no such stream");
		return;
	}
	TAILQ_INIT(&q);
	if (qs)
		evhttp_parse_query_str(qs, &q);
	if (!(c = calloc(1, sizeof(*c)))) {
		evhttp_clear_headers(&q);
		problem(req, 503, "unavailable", "out of memory; retry shortly");
		return;
	}
	c->req = req;
	c->poll = !strcmp(path, "/v1/poll");
	if (c->poll)
		c->events = json_object_new_array();
	if (!read_cursor(req, &q, c) || (c->poll && !start_poll_timer(req, &q, c)) ||
	    !authenticate(req, &q, c)) {
		c->closed = true;
		c->req = NULL;
		client_free(c);
	}
	evhttp_clear_headers(&q);
}

/* ------------------------------------------------------------------ main */

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopexit(base, NULL);
}

static void on_sweep_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sweep();
}

static void on_stats(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_line(LOG_DEBUG, NULL, NULL, "streams %ld, events sent %ld", nstreams, nevents);
}

/*
 * The gateway's listener: TCP stream_bind:stream_port, and with port 0 one
 * the kernel chooses (what make run uses: it cannot be any other
 * instance's, and lighttpd is told which through @port_file), or a unix
 * socket (stream_socket). Loopback TCP it is by default: its buffers grow
 * with a burst (a unix socket's stay at ~200 KiB, and a reader behind
 * lighttpd then looks slow to the stream_max_buffer bound far sooner).
 * @where says which, for the logs.
 */
static int listen_on(struct evhttp *http, const char *port_file, char *where, size_t len)
{
	if (!conf.stream_socket[0]) {
		snprintf(where, len, "%s:%ld", conf.stream_bind, conf.stream_port);
		struct evhttp_bound_socket *b =
			evhttp_bind_socket_with_handle(http, conf.stream_bind, (unsigned short)conf.stream_port);
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (!b || getsockname(evhttp_bound_socket_get_fd(b), (struct sockaddr *)&ss, &sl))
			return -1;
		unsigned port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							       : ((struct sockaddr_in *)&ss)->sin_port);
		snprintf(where, len, "%s:%u", conf.stream_bind, port);
		if (port_file) {
			FILE *f = fopen(port_file, "w");
			if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f))
				return -1;
		}
		return 0;
	}
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(where, len, "unix:%s", conf.stream_socket);
	if (strlen(conf.stream_socket) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, conf.stream_socket, strlen(conf.stream_socket) + 1);
	unlink(conf.stream_socket);	/* a socket file left by a gateway that died */
	struct evconnlistener *l = evconnlistener_new_bind(
		base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1,
		(struct sockaddr *)&sun, (int)sizeof(sun));
	if (!l)
		return -1;
	return evhttp_bind_listener(http, l) ? 0 : -1;
}

int main(int argc, char **argv)
{
	char err[512];
	const char *pidfile = NULL, *port_file = NULL;
	struct rlimit rl;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--pidfile") && i + 1 < argc)
			pidfile = argv[++i];
		else if (!strcmp(argv[i], "--port-file") && i + 1 < argc)
			port_file = argv[++i];	/* where the port it listens on is written */
	if (conf_load(&conf, NULL, err, sizeof(err))) {
		fprintf(stderr, "chat4all-stream: %s\n", err);
		return 1;
	}
	log_open(conf.log_file, conf.log_level, "stream");
	trace_sample(conf.otlp_sample);
	trace_exporter_start(conf.otlp_endpoint, "chat4all-stream", conf.metrics_file,
			     (unsigned)conf.metrics_slots);
	if (!conf.jwt_secret || strlen(conf.jwt_secret) < 32) {
		fprintf(stderr, "chat4all-stream: jwt_secret must be set (CHAT4ALL_JWT_SECRET or _FILE)\n");
		log_error(NULL, "jwt_secret must be set (CHAT4ALL_JWT_SECRET or _FILE)");
		return 1;
	}
	/* each stream is a socket: take every descriptor the system allows */
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	struct evhttp *http = evhttp_new(base);
	evhttp_set_gencb(http, handle, NULL);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
					 EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	/* evhttp reads a whole body into memory before calling us: a stream
	 * or a poll has none, so any body is refused (413) as it starts, and
	 * headers are bounded too; one stranger's upload never holds the
	 * memory of every open stream */
	evhttp_set_max_body_size(http, 0);
	evhttp_set_max_headers_size(http, STREAM_MAX_HEADERS);
	char where[160];
	if (listen_on(http, port_file, where, sizeof(where))) {
		fprintf(stderr, "chat4all-stream: cannot listen on %s: %s\n", where, strerror(errno));
		log_error(NULL, "cannot listen on %s: %s", where, strerror(errno));
		return 1;
	}
	char *mpath = metrics_path_for(conf.metrics_file, "stream");
	counters = mpath ? metrics_open(mpath, STREAM_NSERIES, 4) : NULL;
	free(mpath);
	redis_connect();
	struct event *term = evsignal_new(base, SIGTERM, on_signal, NULL);
	struct event *intr = evsignal_new(base, SIGINT, on_signal, NULL);
	event_add(term, NULL);
	event_add(intr, NULL);
	struct event *sweeper = event_new(base, -1, EV_PERSIST, on_sweep_timer, NULL);
	struct timeval every = { SWEEP_SECONDS, 0 };
	event_add(sweeper, &every);
	struct event *stats = event_new(base, -1, EV_PERSIST, on_stats, NULL);
	struct timeval minute = { 60, 0 };
	event_add(stats, &minute);
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");
		if (f) {
			fprintf(f, "%d\n", (int)getpid());
			fclose(f);
		}
	}
	log_info(NULL, "stream gateway listening on %s", where);
	event_base_dispatch(base);
	trace_exporter_stop();
	if (conf.stream_socket[0])
		unlink(conf.stream_socket);
	if (pidfile)
		unlink(pidfile);
	log_info(NULL, "stream gateway stopped");
	return 0;
}
