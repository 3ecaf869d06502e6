/*
 * send_batch.c - see send_batch.h.
 */
#include "send_batch.h"

#include "../lib/err.h"
#include "../lib/events.h"
#include "../lib/kv_keys.h"
#include "../lib/log.h"
#include "../lib/queue.h"
#include "../lib/ratelimit.h"
#include "../lib/revocation.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* At most this many sends per transaction: each holds its conversation's
 * row (its seq) until the commit, and sends to it from the other
 * responders wait that long. */
#define SEND_BATCH_MAX 64

struct send_batch {
	pthread_mutex_t mu;
	pthread_cond_t work;		/* the writer: sends are waiting */
	pthread_cond_t answered;	/* the senders: a batch is done */
	struct send *head, *tail;
	struct db *db;			/* the writer's own connections */
	struct kv *kv;
	long revocation_ttl;		/* how long an ended sign-in's mark lives */
};

void send_clear(struct send *s)
{
	free(s->outcome);
	free(s->body);
	s->outcome = s->body = NULL;
}

static void answer(struct send *s, PGresult *res, int row, int col)
{
	s->outcome = strdup(PQgetvalue(res, row, col));
	s->body = strdup(PQgetvalue(res, row, col + 1));
	s->rc = s->outcome && s->body ? 0 : ERR_INTERNAL;
}

/* A new message: its sender's other devices see it at once, pending, and
 * the workers wake for its moderation. One Redis round trip for all of
 * @s (a send commits without a NOTIFY: lib/queue.h); without Redis,
 * PostgreSQL's NOTIFY wakes the workers, in a transaction of its own. */
static void announce(struct db *db, struct kv *kv, struct send *const *s, int n)
{
	struct events_batch *b = events_batch_new();
	int created = 0;

	for (int i = 0; i < n; i++)
		if (!s[i]->rc && !strcmp(s[i]->outcome, "created")) {
			events_batch_add(b, &s[i]->sender, 1, "message", s[i]->body, true);
			created++;
		}
	if (!created) {
		events_batch_free(b);
		return;
	}
	events_batch_publish(b, KV_JOBS_WAKE, "moderate");
	if (events_batch_send(kv, b))
		queue_notify(db, "moderate");
}

static void commit_alone(struct db *db, struct send *s)
{	/* s->rc is 0 here: nothing refused it */
	const char *params[] = { s->id, s->conv, s->sender, s->client, s->text, s->file, s->req,
				 s->trace, s->channels };
	PGresult *res = NULL;

	s->rc = db_exec(db, s->channels ? SQL_MSG_SEND_CHANNELS : SQL_MSG_SEND, params, &res);
	if (!s->rc)
		answer(s, res, 0, 0);
	PQclear(res);
}

/* Conversations in id order, so that two responders' batches lock them in
 * the same order and wait for each other instead of deadlocking; one
 * conversation's sends in arrival order. */
static int by_conversation(const void *a, const void *b)
{
	const struct send *x = *(struct send *const *)a, *y = *(struct send *const *)b;
	int c = strcmp(x->conv, y->conv);

	return c ? c : x->n - y->n;
}

static struct json_object *send_json(const struct send *s)
{
	struct json_object *o = json_object_new_object();
	const char *keys[] = { "id", "conv", "sender", "client", "text", "file", "req", "trace",
			       "channels" };
	const char *vals[] = { s->id, s->conv, s->sender, s->client, s->text, s->file, s->req,
			       s->trace, s->channels };

	json_object_object_add(o, "n", json_object_new_int(s->n));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (vals[i])
			json_object_object_add(o, keys[i], json_object_new_string(vals[i]));
	return o;
}

/* The tokens and sign-in checks of @s, in one round trip: a refused send
 * gets its rc here and goes no further. Without Redis, each bucket is the
 * process's own and the database says which sign-ins ended (as
 * authenticate in routes.c). */
static void take_tokens(struct send_batch *b, struct send **s, int n)
{
	struct ratelimit_take t[SEND_BATCH_MAX];
	char marks[SEND_BATCH_MAX][64];
	int idx[SEND_BATCH_MAX], m = 0;

	for (int i = 0; i < n; i++) {
		if (!s[i]->bucket)
			continue;
		revocation_key(s[i]->sid, marks[m]);
		t[m] = (struct ratelimit_take){ .key = s[i]->bucket, .unless_key = marks[m],
						 .rate = s[i]->rate, .burst = s[i]->burst };
		idx[m++] = i;
	}
	if (!m)
		return;
	/* a Redis that came back learns again what ended while it was away
	 * before this connection trusts a missing mark (as authenticate does
	 * on the request's; reconnecting during the take is caught there) */
	revocation_sync(b->db, b->kv, b->revocation_ttl);
	ratelimit_take_many(b->kv, t, m);
	for (int k = 0; k < m; k++) {
		struct send *x = s[idx[k]];
		x->rc = t[k].rc == ERR_UNAVAILABLE ? revocation_in_db(b->db, x->sid) : t[k].rc;
		x->retry_after = t[k].retry_after;
		x->refused = x->rc != 0;
	}
}

/* @all in arrival order: their tokens, then those not refused committed
 * together (each numbered by its place among them, s[i]->n == i). */
static void commit_many(struct send_batch *b, struct send **all, int total)
{
	struct send *s[SEND_BATCH_MAX], *sorted[SEND_BATCH_MAX];
	struct json_object *list;
	PGresult *res = NULL;
	int rc, n = 0;

	take_tokens(b, all, total);
	for (int i = 0; i < total; i++)
		if (!all[i]->rc) {
			all[i]->n = n;	/* its place among those that commit */
			s[n++] = all[i];
		}
	if (!n)
		return;
	if (n == 1) {
		commit_alone(b->db, s[0]);
		announce(b->db, b->kv, s, 1);
		return;
	}
	memcpy(sorted, s, (size_t)n * sizeof(*s));
	qsort(sorted, (size_t)n, sizeof(*sorted), by_conversation);
	list = json_object_new_array_ext(n);
	for (int i = 0; i < n; i++)
		json_object_array_add(list, send_json(sorted[i]));
	const char *params[] = { json_object_to_json_string_ext(list, JSON_C_TO_STRING_PLAIN) };
	rc = db_exec(b->db, SQL_MSG_SEND_MANY, params, &res);
	if (!rc && PQntuples(res) == n) {
		for (int r = 0; r < n; r++) {
			int k = atoi(PQgetvalue(res, r, 0));
			if (k >= 0 && k < n)
				answer(s[k], res, r, 1);
		}
		for (int i = 0; i < n; i++)
			if (!s[i]->rc && !s[i]->outcome)
				s[i]->rc = ERR_INTERNAL;	/* no row of its own: never expected */
	} else {
		/* one bad send (or a deadlock) rolled them all back: each alone,
		 * so that it costs its neighbours a round trip, not their send */
		log_warn(NULL, "a batch of %d sends failed (%s); committing each alone", n,
			 rc ? err_name(rc) : "rows missing");
		for (int i = 0; i < n; i++)
			commit_alone(b->db, s[i]);
	}
	PQclear(res);
	json_object_put(list);
	announce(b->db, b->kv, s, n);
}

static void *writer(void *arg)
{
	struct send_batch *b = arg;
	struct send *batch[SEND_BATCH_MAX];

	for (;;) {
		int n = 0;

		pthread_mutex_lock(&b->mu);
		while (!b->head)
			pthread_cond_wait(&b->work, &b->mu);
		while (b->head && n < SEND_BATCH_MAX) {
			batch[n++] = b->head;
			b->head = b->head->next;
		}
		if (!b->head)
			b->tail = NULL;
		pthread_mutex_unlock(&b->mu);

		commit_many(b, batch, n);

		pthread_mutex_lock(&b->mu);
		for (int i = 0; i < n; i++)
			batch[i]->done = true;
		pthread_cond_broadcast(&b->answered);
		pthread_mutex_unlock(&b->mu);
	}
	return NULL;
}

struct send_batch *send_batch_start(const struct conf *conf)
{
	struct send_batch *b = calloc(1, sizeof(*b));
	pthread_t t;

	if (!b)
		return NULL;
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->work, NULL);
	pthread_cond_init(&b->answered, NULL);
	b->db = db_open(conf->database_url);
	b->kv = kv_open(conf->redis);
	b->revocation_ttl = revocation_ttl(conf->access_ttl);
	if (!b->db || !b->kv || pthread_create(&t, NULL, writer, b)) {
		db_free(b->db);
		kv_free(b->kv);
		free(b);
		return NULL;
	}
	pthread_detach(t);
	return b;
}

int send_commit(struct send_batch *b, struct db *db, struct kv *kv, struct send *s)
{
	s->rc = 0;
	s->retry_after = 0;
	s->refused = false;
	s->outcome = s->body = NULL;
	if (!b) {
		commit_alone(db, s);
		announce(db, kv, &s, 1);
		return s->rc;
	}
	s->done = false;
	s->next = NULL;
	pthread_mutex_lock(&b->mu);
	if (b->tail)
		b->tail->next = s;
	else
		b->head = s;
	b->tail = s;
	pthread_cond_signal(&b->work);
	while (!s->done)
		pthread_cond_wait(&b->answered, &b->mu);
	pthread_mutex_unlock(&b->mu);
	return s->rc;
}
