/*
 * j_inbound.c - what a provider's webhook said, applied off the request
 * path (fcgi/h_channels.c verified it, queued it and answered 200 at once).
 * The provider's module reads the webhook (webhook_parse, lib/channel_*.c);
 * this stage fetches its media and writes what it said.
 *
 * Messages become messages of the contact's inbox: its conversation with
 * the channel_owner, or with the group of them when it names several
 * (channel_receive in migrations/functions/channels.sql), and then go through
 * moderation and release like any other. The provider's message id is the
 * client_id, so the provider's retries are the same message. Photos,
 * documents, voice notes and videos are fetched from the provider in
 * prepare() (outside the transaction, inbound_media.c) and arrive as the
 * message's file; a location arrives as text with a map link. Media that
 * cannot be fetched for good (gone, too large) arrive as a note in the
 * text rather than not at all.
 *
 * Statuses (delivered, read, failed; Messenger's and Instagram's
 * watermarks) move the delivery rows forward only, and the sender hears
 * of each as a `status` event.
 */
#include "jobs.h"

#include "inbound_media.h"

#include "../lib/auth.h"
#include "../lib/channels.h"
#include "../lib/err.h"
#include "../lib/events.h"
#include "../lib/filestore.h"
#include "../lib/log.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A contact's message, and its file once fetched. */
struct inbound_msg {
	struct channel_in_msg *in;	/* in the state's inbound */
	bool has_file;			/* fetched: @file describes it */
	struct inbound_file file;
};

struct inbound_state {
	const char *channel;		/* its module's name */
	struct channel_inbound in;	/* what the webhook said (pointing into the payload) */
	struct inbound_msg *msgs;	/* one per in.msgs */
	bool fresh;			/* first in its batch: the whole lease was its own */
	struct events_batch *events;	/* sent once the batch committed */
};

static void cleanup(struct job *j)
{
	struct inbound_state *s = j->state;

	if (s) {
		channel_inbound_free(&s->in);
		free(s->msgs);
		events_batch_free(s->events);	/* not sent: the batch did not commit */
		free(s);
	}
	j->state = NULL;
}

/* ---- prepare: what the webhook said, and its media, outside the transaction ---- */

/* "a" or "an", for the notes below. */
static const char *article(const char *word)
{
	return word && strchr("aeiou", word[0]) ? "an" : "a";
}

/* Did this contact's message arrive already (a provider's retry)? */
static bool known(struct worker *w, const struct channel_in_msg *m)
{
	char client[160];
	PGresult *res = NULL;

	snprintf(client, sizeof(client), "%s:%s", m->channel, m->provider_id);
	const char *params[] = { m->channel, m->address, client };
	if (db_exec(w->db, SQL_CHANNEL_KNOWN, params, &res))
		return false;	/* then fetch: channel_receive still drops a duplicate */
	bool yes = PQntuples(res) > 0;
	PQclear(res);
	return yes;
}

static int fetch(struct worker *w, struct job *j, struct inbound_msg *msg)
{
	struct channel_in_msg *m = msg->in;
	char why[256];
	const struct stage *self = &stage_inbound;
	int limit = self->max_attempts ? self->max_attempts : (int)w->conf.job_max_attempts;

	if (!m->media_ref) {
		channel_in_text(m, "[%s %s that came without a reference]", article(m->media_kind),
				m->media_kind);
		return 0;
	}
	if (known(w, m))
		return 0;
	/* The fetch must end within the batch's lease (less a quarter, for
	 * the transaction after it), or another worker would take the job
	 * meanwhile. When the batch's earlier jobs used the time, the job
	 * waits for a batch of its own (STAGE_LATER: no attempt spent); when
	 * it had the whole lease, the time ran out on its own fetches, and it
	 * is tried again like any failure. */
	struct inbound_state *s = j->state;
	long lease_ms = w->conf.worker_lease * 1000;
	long left = (long)(w->lease_ends_ms - clock_ms()) - lease_ms / 4;
	bool out_of_time = left < lease_ms / 8;
	int rc = out_of_time ? ERR_UNAVAILABLE
			     : inbound_media_fetch(&w->conf, w->guard, m->channel, m->media_ref, m->media_mime,
						   m->media_name, left, &msg->file, &out_of_time, why);
	if (!rc) {
		msg->has_file = true;
		return 0;
	}
	if (out_of_time && !s->fresh)
		return STAGE_LATER;
	if (left < lease_ms / 8)
		snprintf(why, sizeof(why), "no time left in this lease");
	if (rc == ERR_UNAVAILABLE && j->attempts < limit) {
		snprintf(w->error, sizeof(w->error), "%s %.16s: %.200s", m->channel, m->media_kind, why);
		return rc;	/* another try later */
	}
	/* never, or no tries left: the message still arrives, saying so */
	log_warn(j->req_id[0] ? j->req_id : NULL, "%s %s not fetched: %s", m->channel,
		 m->media_kind, why);
	channel_in_text(m, "[%s %s that could not be received: %s]", article(m->media_kind),
			m->media_kind, why);
	return 0;
}

static int prepare(struct worker *w, struct job *j)
{
	struct inbound_state *s = calloc(1, sizeof(*s));
	struct json_object *channel = NULL, *body = NULL;
	const struct channel_ops *ch;
	int rc = 0;

	cleanup(j);
	if (!s)
		return ERR_INTERNAL;
	j->state = s;
	s->fresh = w->batch_pos == 0;	/* no job before it used the lease */
	if (j->payload) {
		json_object_object_get_ex(j->payload, "channel", &channel);
		json_object_object_get_ex(j->payload, "body", &body);
	}
	if (!(ch = channel_find(json_object_get_string(channel))) || !ch->webhook_parse || !body) {
		snprintf(w->error, sizeof(w->error), "payload has no channel that takes webhooks, or no body");
		return ERR_VALIDATION;
	}
	s->channel = ch->name;
	ch->webhook_parse(body, &s->in);
	if (s->in.n && !(s->msgs = calloc(s->in.n, sizeof(*s->msgs))))
		return ERR_INTERNAL;
	for (size_t i = 0; i < s->in.n; i++)
		s->msgs[i].in = &s->in.msgs[i];
	for (size_t i = 0; !rc && i < s->in.n; i++)
		if (s->in.msgs[i].media_kind)
			rc = fetch(w, j, &s->msgs[i]);
	return rc;
}

/* ---- apply: in the batch's transaction ---- */

static int receive(struct worker *w, struct job *j, const struct inbound_msg *msg)
{
	const struct channel_in_msg *m = msg->in;
	struct inbound_state *s = j->state;
	char id[37], *file = NULL;
	PGresult *res = NULL;
	int rc;

	if ((!m->text || !*m->text) && !msg->has_file)
		return 0;	/* nothing to show */
	if (auth_uuid7(id))
		return ERR_INTERNAL;
	if (msg->has_file) {
		struct json_object *f = json_object_new_object();
		json_object_object_add(f, "id", json_object_new_string(msg->file.id));
		json_object_object_add(f, "filename", json_object_new_string(msg->file.filename));
		json_object_object_add(f, "mime", json_object_new_string(msg->file.mime));
		json_object_object_add(f, "size", json_object_new_int64(msg->file.size));
		json_object_object_add(f, "sha256", json_object_new_string(msg->file.sha256));
		file = strdup(json_object_to_json_string_ext(f, JSON_C_TO_STRING_PLAIN));
		json_object_put(f);
		if (!file)
			return ERR_INTERNAL;
	}
	const char *params[] = { m->channel, m->address, m->name, m->provider_id,
				 m->text && *m->text ? m->text : NULL, w->conf.channel_owner, id,
				 j->req_id, file };
	rc = db_exec(w->db, SQL_CHANNEL_RECEIVE, params, &res);
	free(file);
	if (rc) {
		snprintf(w->error, sizeof(w->error), "receiving from %s failed: %s", m->channel,
			 db_sqlstate(w->db));
		return rc;
	}
	const char *outcome = PQgetvalue(res, 0, 0);
	if (!strcmp(outcome, "noowner")) {
		snprintf(w->error, sizeof(w->error),
			 "channel_owner: no agent here named '%.150s' (an admin makes one: "
			 "chat4all-admin agent NAME)", w->conf.channel_owner);
		rc = ERR_VALIDATION;
	} else if (!strcmp(PQgetvalue(res, 0, 2), "t")) {
		char data[EVENTS_CONVERSATION_MAX];
		events_conversation(data, PQgetvalue(res, 0, 1), "created", NULL);
		/* the owners' lists show the new conversation */
		PGresult *mem = NULL;
		const char *p2[] = { PQgetvalue(res, 0, 1) };
		if (!db_exec(w->db, SQL_MEMBER_IDS, p2, &mem)) {
			for (int i = 0; i < PQntuples(mem); i++) {
				const char *u = PQgetvalue(mem, i, 0);
				events_batch_add(s->events, &u, 1, "conversation", data, true);
			}
			PQclear(mem);
		}
	}
	PQclear(res);
	return rc;
}

/* The deliveries a status statement moved: each sender hears of it. */
static int announce(struct worker *w, struct job *j, const char *channel, const char *st,
		    const char *error, PGresult *res)
{
	struct inbound_state *s = j->state;
	int rc;

	for (int i = 0; i < PQntuples(res); i++) {
		const char *sender = PQgetvalue(res, i, 2);
		const char *msg[] = { PQgetvalue(res, i, 0) };
		if (!strcmp(st, "failed") &&
		    (rc = db_exec(w->db, SQL_MESSAGE_FAIL_IF_UNDELIVERED, msg, NULL)))
			return rc;
		const char *receipt[] = { PQgetvalue(res, i, 1), PQgetvalue(res, i, 5),
					  PQgetvalue(res, i, 3), st };
		if ((!strcmp(st, "delivered") || !strcmp(st, "read")) &&
		    (rc = db_exec(w->db, SQL_CHANNEL_RECEIPT, receipt, NULL)))
			return rc;
		events_batch_status(s->events, sender, &(struct events_status){
			.message_id = PQgetvalue(res, i, 0), .conversation_id = PQgetvalue(res, i, 1),
			.seq = atoll(PQgetvalue(res, i, 3)), .status = st, .channel = channel,
			.address = PQgetvalue(res, i, 4), .reason = error });
	}
	return 0;
}

/* What the provider said of our messages: one delivery by its id, or
 * every delivery to an address before a watermark (Messenger, Instagram).
 * The rows only move forward (SQL_DELIVERY_STATUS / _WATERMARK). */
static int status(struct worker *w, struct job *j, const char *channel,
		  const struct channel_in_status *st)
{
	PGresult *res = NULL;
	char at[32];
	int rc;

	snprintf(at, sizeof(at), "%.0f", st->watermark_ms);
	const char *by_id[] = { channel, st->provider_id, st->status, st->error };
	const char *by_mark[] = { channel, st->address, st->status, at };
	if ((rc = st->provider_id ? db_exec(w->db, SQL_DELIVERY_STATUS, by_id, &res)
				  : db_exec(w->db, SQL_DELIVERY_WATERMARK, by_mark, &res))) {
		snprintf(w->error, sizeof(w->error), "recording a status failed: %s", db_sqlstate(w->db));
		return rc;
	}
	rc = announce(w, j, channel, st->status, st->error, res);
	PQclear(res);
	return rc;
}

static int apply(struct worker *w, struct job *j)
{
	struct inbound_state *s = j->state;
	int rc = 0;

	/* an earlier run of this batch may have rolled back: its events go */
	events_batch_free(s->events);
	if (!(s->events = events_batch_new()))
		return ERR_INTERNAL;
	for (size_t i = 0; !rc && i < s->in.n; i++)
		rc = receive(w, j, &s->msgs[i]);
	for (size_t i = 0; !rc && i < s->in.nstatuses; i++)
		rc = status(w, j, s->channel, &s->in.statuses[i]);
	return rc;
}

static void after_commit(struct worker *w, struct job *jobs, int n)
{
	for (int i = 0; i < n; i++) {
		struct inbound_state *s = jobs[i].state;
		if (s && s->events) {
			events_batch_send(w->kv, s->events);
			s->events = NULL;
		}
	}
}

const struct stage stage_inbound = {
	.kind = "inbound",
	.prepare = prepare,
	.apply = apply,
	.cleanup = cleanup,
	.max_batch = 16,
	.after_commit = after_commit,
};
