/*
 * j_inbound.c - what a provider's webhook said, applied off the request
 * path (fcgi/h_channels.c verified it, queued it and answered 200 at once).
 *
 * Messages become messages of the contact's inbox: its conversation with
 * the channel_owner, or with the group of them when it names several
 * (channel_receive in migrations/0006), and then go through
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
#include "../lib/err.h"
#include "../lib/events.h"
#include "../lib/filestore.h"
#include "../lib/log.h"
#include "../lib/validate.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One message a contact sent, as the webhook told it. The pointers are
 * into the job's payload, or into the message's own buffers. */
struct inbound_msg {
	const char *channel, *address, *provider_id, *text;
	char name[160];
	char id_buf[96];		/* a provider id we compose (Telegram's chat:message) */
	char *own_text;			/* a text we compose (a location, a note), malloc()ed */
	const char *media_ref, *media_mime, *media_name, *media_kind;
	bool has_file;			/* fetched: @file describes it */
	struct inbound_file file;
};

struct inbound_state {
	struct inbound_msg *msgs;
	size_t n, cap;
	bool fresh;			/* first in its batch: the whole lease was its own */
	struct events_batch *events;	/* sent once the batch committed */
};

static void cleanup(struct job *j)
{
	struct inbound_state *s = j->state;

	if (s) {
		for (size_t i = 0; i < s->n; i++)
			free(s->msgs[i].own_text);
		free(s->msgs);
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

/* A number member (coordinates, watermarks); false when absent. */
static bool getnum(struct json_object *o, const char *key, double *out)
{
	struct json_object *v = get(o, key);

	if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_double(v);
	return true;
}

/* ---- collecting the messages of a payload ---- */

static struct inbound_msg *add_msg(struct inbound_state *s, const char *channel,
				   const char *address, const char *provider_id)
{
	if (!address || !provider_id)
		return NULL;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 4;
		struct inbound_msg *m = realloc(s->msgs, cap * sizeof(*m));
		if (!m)
			return NULL;
		s->msgs = m;
		s->cap = cap;
	}
	struct inbound_msg *m = &s->msgs[s->n++];
	memset(m, 0, sizeof(*m));
	m->channel = channel;
	m->address = address;
	m->provider_id = provider_id;
	return m;
}

/* @m's text becomes @fmt…, after its own text when it has one. */
static void set_text(struct inbound_msg *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_text(struct inbound_msg *m, const char *fmt, ...)
{
	char *add = NULL, *all = NULL;
	va_list ap;

	va_start(ap, fmt);
	int n = vasprintf(&add, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (m->text && *m->text && asprintf(&all, "%s\n%s", m->text, add) >= 0) {
		free(add);
		add = all;
	}
	free(m->own_text);
	m->own_text = add;
	m->text = add;
}

static void location_text(struct inbound_msg *m, struct json_object *loc, const char *name,
			  const char *address)
{
	double lat, lon;

	if (!getnum(loc, "latitude", &lat) || !getnum(loc, "longitude", &lon))
		return;
	set_text(m, "📍 %s%s%s%s%.6f, %.6f https://www.openstreetmap.org/?mlat=%.6f&mlon=%.6f",
		 name ? name : "", name ? " " : "", address ? address : "", address ? " " : "",
		 lat, lon, lat, lon);
}

/* "a" or "an", for the notes below. */
static const char *article(const char *word)
{
	return word && strchr("aeiou", word[0]) ? "an" : "a";
}

/* A message type we do not carry: said, not dropped. */
static void unsupported(struct inbound_msg *m, const char *type)
{
	set_text(m, "[%s %.32s message, which Chat4All cannot show]", article(type),
		 type ? type : "new kind of");
}

/* WhatsApp Cloud API: entry[].changes[].value.{messages,contacts}; each
 * message has a type and a member of that name. */
static void whatsapp_messages(struct inbound_state *s, struct json_object *body)
{
	static const char *const media[] = { "image", "document", "audio", "video", "sticker" };
	struct json_object *entries = get(body, "entry");

	for (size_t e = 0; e < len(entries); e++) {
		struct json_object *changes = get(at(entries, e), "changes");
		for (size_t c = 0; c < len(changes); c++) {
			struct json_object *value = get(at(changes, c), "value");
			struct json_object *contacts = get(value, "contacts"), *msgs = get(value, "messages");
			for (size_t i = 0; i < len(msgs); i++) {
				struct json_object *wm = at(msgs, i);
				const char *type = getstr(wm, "type");
				struct inbound_msg *m;
				if (type && !strcmp(type, "reaction"))
					continue;	/* a reaction is no message */
				if (!(m = add_msg(s, "whatsapp", getstr(wm, "from"), getstr(wm, "id"))))
					continue;
				for (size_t k = 0; k < len(contacts); k++) {
					struct json_object *ct = at(contacts, k);
					const char *wa = getstr(ct, "wa_id"), *name;
					if (wa && !strcmp(wa, m->address) &&
					    (name = getstr(get(ct, "profile"), "name")))
						validate_utf8_copy(m->name, sizeof(m->name), name);
				}
				if (!type || !strcmp(type, "text")) {
					m->text = getstr(get(wm, "text"), "body");
					continue;
				}
				for (size_t k = 0; k < sizeof(media) / sizeof(media[0]); k++) {
					struct json_object *o = get(wm, media[k]);
					if (strcmp(type, media[k]) || !o)
						continue;
					m->media_kind = media[k];
					m->media_ref = getid(o, "id");
					m->media_mime = getstr(o, "mime_type");
					m->media_name = getstr(o, "filename");
					m->text = getstr(o, "caption");
				}
				if (m->media_kind)
					continue;
				if (!strcmp(type, "location")) {
					struct json_object *loc = get(wm, "location");
					location_text(m, loc, getstr(loc, "name"), getstr(loc, "address"));
				} else if (!strcmp(type, "button")) {	/* a template's quick reply */
					m->text = getstr(get(wm, "button"), "text");
				} else if (!strcmp(type, "interactive")) {
					struct json_object *in = get(wm, "interactive");
					m->text = getstr(get(in, "button_reply"), "title");
					if (!m->text)
						m->text = getstr(get(in, "list_reply"), "title");
				}
				if (!m->text)
					unsupported(m, type);
			}
		}
	}
}

/* Telegram: one Update; its `message` (edits, reactions, … are not
 * messages). Media come as a file_id: a photo's largest size is last. */
static void telegram_message(struct inbound_state *s, struct json_object *body)
{
	static const char *const media[] = { "document", "audio", "video", "voice",
					     "animation", "video_note", "sticker" };
	struct json_object *tm = get(body, "message"), *chat = get(tm, "chat"), *from = get(tm, "from");
	const char *chat_id = getid(chat, "id"), *mid = getid(tm, "message_id");
	struct inbound_msg *m;

	if (!tm || !chat_id || !mid || !(m = add_msg(s, "telegram", chat_id, mid)))
		return;
	snprintf(m->id_buf, sizeof(m->id_buf), "%s:%s", chat_id, mid);
	m->provider_id = m->id_buf;
	char *full = NULL;
	if (asprintf(&full, "%s%s%s", getstr(from, "first_name") ? getstr(from, "first_name") : "",
		     getstr(from, "last_name") ? " " : "",
		     getstr(from, "last_name") ? getstr(from, "last_name") : "") >= 0) {
		validate_utf8_copy(m->name, sizeof(m->name), full);
		free(full);
	}
	m->text = getstr(tm, "text");
	if (m->text)
		return;
	m->text = getstr(tm, "caption");
	struct json_object *photo = get(tm, "photo");
	if (len(photo)) {
		m->media_kind = "photo";
		m->media_ref = getstr(at(photo, len(photo) - 1), "file_id");
		m->media_mime = "image/jpeg";	/* Telegram re-encodes photos as JPEG */
		return;
	}
	for (size_t k = 0; k < sizeof(media) / sizeof(media[0]); k++) {
		struct json_object *o = get(tm, media[k]);
		if (!o)
			continue;
		m->media_kind = media[k];
		m->media_ref = getstr(o, "file_id");
		m->media_mime = getstr(o, "mime_type");
		m->media_name = getstr(o, "file_name");
		return;
	}
	struct json_object *venue = get(tm, "venue"), *contact = get(tm, "contact");
	if (venue)
		location_text(m, get(venue, "location"), getstr(venue, "title"), getstr(venue, "address"));
	else if (get(tm, "location"))
		location_text(m, get(tm, "location"), NULL, NULL);
	else if (contact)
		set_text(m, "👤 %s %s", getstr(contact, "first_name") ? getstr(contact, "first_name") : "",
			 getstr(contact, "phone_number") ? getstr(contact, "phone_number") : "");
	if (!m->text)
		unsupported(m, NULL);
}

/* Messenger and Instagram: entry[].messaging[].message {mid, text,
 * attachments[{type, payload{url}}]}. The text and the first attachment
 * are one message; each further attachment is one more, its id mid#k. */
static void meta_messages(struct inbound_state *s, const char *channel, struct json_object *body)
{
	struct json_object *entries = get(body, "entry");

	for (size_t e = 0; e < len(entries); e++) {
		struct json_object *events = get(at(entries, e), "messaging");
		for (size_t i = 0; i < len(events); i++) {
			struct json_object *ev = at(events, i), *msg = get(ev, "message");
			struct json_object *atts = get(msg, "attachments");
			const char *sender = getstr(get(ev, "sender"), "id"), *mid = getstr(msg, "mid");
			if (!msg || get(msg, "is_echo"))
				continue;	/* an echo is our own message coming back */
			for (size_t k = 0; k == 0 || k < len(atts); k++) {
				struct json_object *att = at(atts, k), *payload = get(att, "payload");
				const char *type = getstr(att, "type");
				struct inbound_msg *m = add_msg(s, channel, sender, mid);
				if (!m)
					break;
				if (k > 0) {
					snprintf(m->id_buf, sizeof(m->id_buf), "%.64s#%zu", mid, k);
					m->provider_id = m->id_buf;
				} else {
					m->text = getstr(msg, "text");
				}
				if (!att)
					break;
				if (type && !strcmp(type, "location")) {
					struct json_object *co = get(payload, "coordinates");
					double lat, lon;
					if (getnum(co, "lat", &lat) && getnum(co, "long", &lon))
						set_text(m, "📍 %.6f, %.6f https://www.openstreetmap.org/?mlat=%.6f&mlon=%.6f",
							 lat, lon, lat, lon);
				} else if (type && !strcmp(type, "fallback")) {	/* a shared link */
					if (getstr(payload, "url"))
						set_text(m, "%s", getstr(payload, "url"));
				} else if (getstr(payload, "url")) {
					m->media_kind = type ? type : "file";
					m->media_ref = getstr(payload, "url");
				}
				if (!m->text && !m->media_ref)
					unsupported(m, type);
			}
		}
	}
}

/* ---- prepare: the media, outside the transaction ---- */

/* Did this contact's message arrive already (a provider's retry)? */
static bool known(struct worker *w, const struct inbound_msg *m)
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

static int fetch(struct worker *w, struct job *j, struct inbound_msg *m)
{
	char why[256];
	const struct stage *self = &stage_inbound;
	int limit = self->max_attempts ? self->max_attempts : (int)w->conf.job_max_attempts;

	if (!m->media_ref) {
		set_text(m, "[%s %s that came without a reference]", article(m->media_kind),
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
	long left = (long)(w->lease_ends_ms - worker_now_ms()) - lease_ms / 4;
	bool out_of_time = left < lease_ms / 8;
	int rc = out_of_time ? ERR_UNAVAILABLE
			     : inbound_media_fetch(&w->conf, w->guard, m->channel, m->media_ref, m->media_mime,
						   m->media_name, left, &m->file, &out_of_time, why);
	if (!rc) {
		m->has_file = true;
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
	set_text(m, "[%s %s that could not be received: %s]", article(m->media_kind), m->media_kind,
		 why);
	return 0;
}

static int prepare(struct worker *w, struct job *j)
{
	struct inbound_state *s = calloc(1, sizeof(*s));
	const char *channel = getstr(j->payload, "channel");
	struct json_object *body = get(j->payload, "body");
	int rc = 0;

	cleanup(j);
	if (!s)
		return ERR_INTERNAL;
	j->state = s;
	s->fresh = w->batch_pos == 0;	/* no job before it used the lease */
	if (!channel || !body) {
		snprintf(w->error, sizeof(w->error), "payload has no channel or body");
		return ERR_VALIDATION;
	}
	if (!strcmp(channel, "whatsapp"))
		whatsapp_messages(s, body);
	else if (!strcmp(channel, "telegram"))
		telegram_message(s, body);
	else
		meta_messages(s, channel, body);
	for (size_t i = 0; !rc && i < s->n; i++)
		if (s->msgs[i].media_kind)
			rc = fetch(w, j, &s->msgs[i]);
	return rc;
}

/* ---- apply: in the batch's transaction ---- */

static int receive(struct worker *w, struct job *j, const struct inbound_msg *m)
{
	struct inbound_state *s = j->state;
	char id[37], *file = NULL;
	PGresult *res = NULL;
	int rc;

	if ((!m->text || !*m->text) && !m->has_file)
		return 0;	/* nothing to show */
	if (auth_uuid7(id))
		return ERR_INTERNAL;
	if (m->has_file) {
		struct json_object *f = json_object_new_object();
		json_object_object_add(f, "id", json_object_new_string(m->file.id));
		json_object_object_add(f, "filename", json_object_new_string(m->file.filename));
		json_object_object_add(f, "mime", json_object_new_string(m->file.mime));
		json_object_object_add(f, "size", json_object_new_int64(m->file.size));
		json_object_object_add(f, "sha256", json_object_new_string(m->file.sha256));
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
		char data[128];
		snprintf(data, sizeof(data), "{\"id\":\"%s\",\"change\":\"created\"}", PQgetvalue(res, 0, 1));
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

static bool status_known(const char *st)
{
	return st && (!strcmp(st, "sent") || !strcmp(st, "delivered") || !strcmp(st, "read") ||
		      !strcmp(st, "failed"));
}

/* One delivery, named by the provider's message id. */
static int status(struct worker *w, struct job *j, const char *channel, const char *provider_id,
		  const char *st, const char *error)
{
	PGresult *res = NULL;
	int rc;

	if (!provider_id || !status_known(st))
		return 0;
	const char *params[] = { channel, provider_id, st, error };
	if ((rc = db_exec(w->db, SQL_DELIVERY_STATUS, params, &res))) {
		snprintf(w->error, sizeof(w->error), "recording a status failed: %s", db_sqlstate(w->db));
		return rc;
	}
	rc = announce(w, j, channel, st, error, res);
	PQclear(res);
	return rc;
}

/* Every delivery to @address the provider accepted before @watermark
 * (Messenger's and Instagram's "read up to", "delivered up to"). */
static int watermark(struct worker *w, struct job *j, const char *channel, const char *address,
		     const char *st, struct json_object *mark)
{
	PGresult *res = NULL;
	double ms;
	char at[32];
	int rc;

	if (!address || !getnum(mark, "watermark", &ms) || ms <= 0)
		return 0;
	snprintf(at, sizeof(at), "%.0f", ms);
	const char *params[] = { channel, address, st, at };
	if ((rc = db_exec(w->db, SQL_DELIVERY_WATERMARK, params, &res))) {
		snprintf(w->error, sizeof(w->error), "recording a watermark failed: %s",
			 db_sqlstate(w->db));
		return rc;
	}
	rc = announce(w, j, channel, st, NULL, res);
	PQclear(res);
	return rc;
}

/* WhatsApp: entry[].changes[].value.statuses[] */
static int whatsapp_statuses(struct worker *w, struct job *j, struct json_object *body)
{
	struct json_object *entries = get(body, "entry");
	int rc = 0;

	for (size_t e = 0; !rc && e < len(entries); e++) {
		struct json_object *changes = get(at(entries, e), "changes");
		for (size_t c = 0; !rc && c < len(changes); c++) {
			struct json_object *sts = get(get(at(changes, c), "value"), "statuses");
			for (size_t i = 0; !rc && i < len(sts); i++) {
				struct json_object *st = at(sts, i), *err = at(get(st, "errors"), 0);
				rc = status(w, j, "whatsapp", getstr(st, "id"), getstr(st, "status"),
					    err ? getstr(err, "title") : NULL);
			}
		}
	}
	return rc;
}

/* Messenger and Instagram: entry[].messaging[] with delivery {mids,
 * watermark} or read {watermark} (Instagram: read {mid}). */
static int meta_statuses(struct worker *w, struct job *j, const char *channel,
			 struct json_object *body)
{
	struct json_object *entries = get(body, "entry");
	int rc = 0;

	for (size_t e = 0; !rc && e < len(entries); e++) {
		struct json_object *events = get(at(entries, e), "messaging");
		for (size_t i = 0; !rc && i < len(events); i++) {
			struct json_object *ev = at(events, i), *delivery = get(ev, "delivery");
			struct json_object *read = get(ev, "read"), *mids = get(delivery, "mids");
			const char *who = getstr(get(ev, "sender"), "id");
			for (size_t k = 0; !rc && k < len(mids); k++)
				rc = status(w, j, channel, json_object_get_string(at(mids, k)),
					    "delivered", NULL);
			if (!rc && delivery)
				rc = watermark(w, j, channel, who, "delivered", delivery);
			if (!rc && read)
				rc = getstr(read, "mid") ? status(w, j, channel, getstr(read, "mid"), "read", NULL)
							 : watermark(w, j, channel, who, "read", read);
		}
	}
	return rc;
}

static int apply(struct worker *w, struct job *j)
{
	struct inbound_state *s = j->state;
	const char *channel = getstr(j->payload, "channel");
	struct json_object *body = get(j->payload, "body");
	int rc = 0;

	/* an earlier run of this batch may have rolled back: its events go */
	events_batch_free(s->events);
	if (!(s->events = events_batch_new()))
		return ERR_INTERNAL;
	for (size_t i = 0; !rc && i < s->n; i++)
		rc = receive(w, j, &s->msgs[i]);
	if (rc)
		return rc;
	if (!strcmp(channel, "whatsapp"))
		return whatsapp_statuses(w, j, body);
	if (!strcmp(channel, "messenger") || !strcmp(channel, "instagram"))
		return meta_statuses(w, j, channel, body);
	return 0;
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
