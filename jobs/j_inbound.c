/*
 * j_inbound.c - what a provider's webhook said, applied off the request
 * path (fcgi/h_channels.c verified it, queued it and answered 200 at once).
 *
 * Messages become messages of the contact's conversation with the
 * channel_owner (channel_receive in migrations/0005), and then go through
 * moderation and release like any other. The provider's message id is the
 * client_id, so the provider's retries are the same message. Statuses
 * (delivered, read, failed) move the delivery rows forward only, and the
 * sender hears of each as a `status` event.
 */
#include "stage.h"

#include "../lib/auth.h"
#include "../lib/err.h"
#include "../lib/events.h"
#include "../lib/log.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Events to send once the batch committed. */
struct inbound_state {
	struct events_batch *events;
};

static void cleanup(struct job *j)
{
	struct inbound_state *s = j->state;

	if (s) {
		events_batch_free(s->events);	/* not sent: the batch did not commit */
		free(s);
	}
	j->state = NULL;
}

/* A provider's JSON may lack or mistype anything: json-c asserts on
 * array calls with a non-array, so every array goes through these. */
static size_t len(struct json_object *a)
{
	return json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static struct json_object *at(struct json_object *a, size_t i)
{
	return i < len(a) ? json_object_array_get_idx(a, i) : NULL;
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	return json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* A string member; NULL when absent or of another type. */
static const char *getstr(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* An id that may be a number (Telegram's chat and message ids). */
static const char *getid(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v) : NULL;
}

static int receive(struct worker *w, struct job *j, const char *channel, const char *address,
		   const char *name, const char *provider_id, const char *text)
{
	char id[37];
	PGresult *res = NULL;
	int rc;

	if (!address || !provider_id || !text || !*text)
		return 0;	/* nothing we can show (stickers, reactions): skipped */
	if (auth_uuid7(id))
		return ERR_INTERNAL;
	const char *params[] = { channel, address, name ? name : "", provider_id, text,
				 w->conf.channel_owner, id, j->req_id };
	if ((rc = db_exec(w->db, SQL_CHANNEL_RECEIVE, params, &res))) {
		snprintf(w->error, sizeof(w->error), "receiving from %s failed: %s", channel,
			 db_sqlstate(w->db));
		return rc;
	}
	const char *outcome = PQgetvalue(res, 0, 0);
	if (!strcmp(outcome, "noowner")) {
		snprintf(w->error, sizeof(w->error), "channel_owner '%s' is not a user here",
			 w->conf.channel_owner);
		rc = ERR_VALIDATION;
	} else if (!strcmp(PQgetvalue(res, 0, 2), "t")) {
		struct inbound_state *s = j->state;
		char data[128];
		snprintf(data, sizeof(data), "{\"id\":\"%s\",\"change\":\"created\"}", PQgetvalue(res, 0, 1));
		/* the owner's list shows the new conversation */
		PGresult *m = NULL;
		const char *p2[] = { PQgetvalue(res, 0, 1) };
		if (!db_exec(w->db, SQL_MEMBER_IDS, p2, &m)) {
			for (int i = 0; i < PQntuples(m); i++) {
				const char *u = PQgetvalue(m, i, 0);
				events_batch_add(s->events, &u, 1, "conversation", data, true);
			}
			PQclear(m);
		}
	}
	PQclear(res);
	return rc;
}

static int status(struct worker *w, struct job *j, const char *channel, const char *provider_id,
		  const char *st, const char *error)
{
	struct inbound_state *s = j->state;
	PGresult *res = NULL;
	int rc;

	if (!provider_id || !st || (strcmp(st, "sent") && strcmp(st, "delivered") &&
				    strcmp(st, "read") && strcmp(st, "failed")))
		return 0;
	const char *params[] = { channel, provider_id, st, error };
	if ((rc = db_exec(w->db, SQL_DELIVERY_STATUS, params, &res))) {
		snprintf(w->error, sizeof(w->error), "recording a status failed: %s", db_sqlstate(w->db));
		return rc;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		struct json_object *e = json_object_new_object();
		const char *sender = PQgetvalue(res, i, 2);
		const char *msg[] = { PQgetvalue(res, i, 0) };
		if (!strcmp(st, "failed") &&
		    (rc = db_exec(w->db, SQL_MESSAGE_FAIL_IF_UNDELIVERED, msg, NULL))) {
			json_object_put(e);
			PQclear(res);
			return rc;
		}
		json_object_object_add(e, "message_id", json_object_new_string(PQgetvalue(res, i, 0)));
		json_object_object_add(e, "conversation_id", json_object_new_string(PQgetvalue(res, i, 1)));
		json_object_object_add(e, "seq", json_object_new_int64(atoll(PQgetvalue(res, i, 3))));
		json_object_object_add(e, "status", json_object_new_string(st));
		json_object_object_add(e, "channel", json_object_new_string(channel));
		json_object_object_add(e, "address", json_object_new_string(PQgetvalue(res, i, 4)));
		if (error)
			json_object_object_add(e, "reason", json_object_new_string(error));
		events_batch_add(s->events, &sender, 1, "status",
				 json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN), true);
		json_object_put(e);
	}
	PQclear(res);
	return 0;
}

/* WhatsApp Cloud API: entry[].changes[].value.{messages,statuses,contacts} */
static int whatsapp(struct worker *w, struct job *j, struct json_object *body)
{
	struct json_object *entries = get(body, "entry");
	int rc = 0;

	for (size_t e = 0; !rc && e < len(entries); e++) {
		struct json_object *changes = get(at(entries, e), "changes");
		for (size_t c = 0; !rc && c < len(changes); c++) {
			struct json_object *value = get(at(changes, c), "value");
			struct json_object *contacts = get(value, "contacts");
			struct json_object *msgs = get(value, "messages"), *sts = get(value, "statuses");
			for (size_t i = 0; !rc && i < len(msgs); i++) {
				struct json_object *m = at(msgs, i);
				const char *from = getstr(m, "from"), *name = NULL;
				for (size_t k = 0; k < len(contacts); k++) {
					struct json_object *ct = at(contacts, k);
					const char *wa = getstr(ct, "wa_id");
					if (wa && from && !strcmp(wa, from))
						name = getstr(get(ct, "profile"), "name");
				}
				rc = receive(w, j, "whatsapp", from, name, getstr(m, "id"),
					     getstr(get(m, "text"), "body"));
			}
			for (size_t i = 0; !rc && i < len(sts); i++) {
				struct json_object *s = at(sts, i);
				struct json_object *err = at(get(s, "errors"), 0);
				rc = status(w, j, "whatsapp", getstr(s, "id"), getstr(s, "status"),
					    err ? getstr(err, "title") : NULL);
			}
		}
	}
	return rc;
}

/* Telegram: one Update; messages only (edits, reactions, … are skipped) */
static int telegram(struct worker *w, struct job *j, struct json_object *body)
{
	struct json_object *m = get(body, "message"), *chat = get(m, "chat"), *from = get(m, "from");
	char pid[64], name[160];

	if (!m || !chat)
		return 0;
	const char *chat_id = getid(chat, "id"), *mid = getid(m, "message_id");
	snprintf(pid, sizeof(pid), "%s:%s", chat_id ? chat_id : "", mid ? mid : "");
	snprintf(name, sizeof(name), "%s%s%s", getstr(from, "first_name") ? getstr(from, "first_name") : "",
		 getstr(from, "last_name") ? " " : "",
		 getstr(from, "last_name") ? getstr(from, "last_name") : "");
	return receive(w, j, "telegram", chat_id, name, mid ? pid : NULL, getstr(m, "text"));
}

/* Messenger and Instagram: entry[].messaging[] with message, delivery, read */
static int meta_messaging(struct worker *w, struct job *j, const char *channel,
			  struct json_object *body)
{
	struct json_object *entries = get(body, "entry");
	int rc = 0;

	for (size_t e = 0; !rc && e < len(entries); e++) {
		struct json_object *events = get(at(entries, e), "messaging");
		for (size_t i = 0; !rc && i < len(events); i++) {
			struct json_object *ev = at(events, i), *msg = get(ev, "message");
			if (msg && !get(msg, "is_echo"))
				rc = receive(w, j, channel, getstr(get(ev, "sender"), "id"), NULL,
					     getstr(msg, "mid"), getstr(msg, "text"));
			struct json_object *mids = get(get(ev, "delivery"), "mids");
			for (size_t k = 0; !rc && k < len(mids); k++)
				rc = status(w, j, channel,
					    json_object_get_string(at(mids, k)),
					    "delivered", NULL);
		}
	}
	return rc;
}

static int apply(struct worker *w, struct job *j)
{
	struct inbound_state *s = calloc(1, sizeof(*s));
	const char *channel = getstr(j->payload, "channel");
	struct json_object *body = get(j->payload, "body");

	if (!s || !(s->events = events_batch_new())) {
		free(s);
		return ERR_INTERNAL;
	}
	cleanup(j);
	j->state = s;
	if (!channel || !body) {
		snprintf(w->error, sizeof(w->error), "payload has no channel or body");
		return ERR_VALIDATION;
	}
	if (!strcmp(channel, "whatsapp"))
		return whatsapp(w, j, body);
	if (!strcmp(channel, "telegram"))
		return telegram(w, j, body);
	return meta_messaging(w, j, channel, body);
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
	.apply = apply,
	.cleanup = cleanup,
	.max_batch = 16,
	.after_commit = after_commit,
};
