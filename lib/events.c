#include "events.h"

#include "err.h"
#include "kv_keys.h"
#include "log.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Append and publish with the id the append got, in one step. */
static const char emit_lua[] =
	"local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*',"
	" 'e', ARGV[1], 'd', ARGV[2])\n"
	"redis.call('PUBLISH', KEYS[2], id .. '\\n' .. ARGV[1] .. '\\n' .. ARGV[2] .. (ARGV[4] or ''))\n"
	"return id\n";

void events_stream_key(const char *user, char out[64])
{
	snprintf(out, 64, KV_EVENTS, user);
}

void events_live_channel(const char *user, char out[64])
{
	snprintf(out, 64, KV_LIVE, user);
}

/* One Redis command per (event, user); every string the batch owns. */
struct events_batch {
	int n, cap;		/* commands */
	int *argcs;
	const char *(*argvs)[9];
	char **owned;
	int nowned, capowned;
	int events;		/* added events, for the log line */
	bool failed;		/* out of memory: sends nothing, says so */
};

struct events_batch *events_batch_new(void)
{
	return calloc(1, sizeof(struct events_batch));
}

static const char *own(struct events_batch *b, char *s)
{
	if (!s || b->failed)
		goto fail;
	if (b->nowned == b->capowned) {
		int cap = b->capowned ? 2 * b->capowned : 16;
		char **o = realloc(b->owned, (size_t)cap * sizeof(*o));
		if (!o)
			goto fail;
		b->owned = o;
		b->capowned = cap;
	}
	b->owned[b->nowned++] = s;
	return s;
fail:
	free(s);
	b->failed = true;
	return "";
}

static char *printed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *printed(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static const char **next_command(struct events_batch *b)
{
	if (b->n == b->cap) {
		int cap = b->cap ? 2 * b->cap : 8;
		int *argcs = realloc(b->argcs, (size_t)cap * sizeof(*argcs));
		if (argcs)
			b->argcs = argcs;
		const char *(*argvs)[9] = realloc(b->argvs, (size_t)cap * sizeof(*argvs));
		if (argvs)
			b->argvs = argvs;
		if (!argcs || !argvs) {
			b->failed = true;
			return NULL;
		}
		b->cap = cap;
	}
	return b->argvs[b->n++];
}

void events_batch_add(struct events_batch *b, const char *const *users, int nusers,
		      const char *name, const char *data, bool stored)
{
	events_batch_add_traced(b, users, nusers, name, data, stored, NULL);
}

void events_batch_add_traced(struct events_batch *b, const char *const *users, int nusers,
			     const char *name, const char *data, bool stored,
			     const char *traceparent)
{
	if (!b || b->failed || nusers <= 0)
		return;
	b->events++;
	const char *n = own(b, strdup(name)), *d = own(b, strdup(data));
	const char *keep = own(b, printed("%d", EVENTS_KEEP));
	/* (a traceparent has no newline: trace_format writes every one) */
	const char *tp = traceparent && *traceparent ? own(b, printed("\n%s", traceparent)) : NULL;
	const char *msg = stored ? NULL : own(b, printed("\n%s\n%s%s", name, data, tp ? tp : ""));

	for (int i = 0; i < nusers && !b->failed; i++) {
		char key[64], live[64];
		events_stream_key(users[i], key);
		events_live_channel(users[i], live);
		const char *chan = own(b, strdup(live));
		const char **argv = next_command(b);
		if (!argv)
			return;
		if (stored) {
			/* EVAL, not EVALSHA: Redis caches the script by its hash
			 * anyway, and a restart never leaves us with NOSCRIPT */
			const char *a[9] = { "EVAL", emit_lua, "2", own(b, strdup(key)),
					     chan, n, d, keep, tp };
			memcpy(argv, a, sizeof(a));
			b->argcs[b->n - 1] = tp ? 9 : 8;
		} else {
			argv[0] = "PUBLISH";
			argv[1] = chan;
			argv[2] = msg;
			b->argcs[b->n - 1] = 3;
		}
	}
}

void events_batch_status(struct events_batch *b, const char *sender,
			 const struct events_status *st)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "message_id", json_object_new_string(st->message_id));
	json_object_object_add(o, "conversation_id", json_object_new_string(st->conversation_id));
	json_object_object_add(o, "seq", json_object_new_int64(st->seq));
	json_object_object_add(o, "status", json_object_new_string(st->status));
	if (st->channel)
		json_object_object_add(o, "channel", json_object_new_string(st->channel));
	if (st->address)
		json_object_object_add(o, "address", json_object_new_string(st->address));
	if (st->reason && *st->reason)	/* an admin's or a provider's words: json-c escapes them */
		json_object_object_add(o, "reason", json_object_new_string(st->reason));
	events_batch_add_traced(b, &sender, 1, "status",
				json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), true,
				st->traceparent);
	json_object_put(o);
}

void events_conversation(char out[EVENTS_CONVERSATION_MAX], const char *conv, const char *change,
			 const char *user)
{
	/* ids and change names are ours: no escaping needed */
	if (user)
		snprintf(out, EVENTS_CONVERSATION_MAX,
			 "{\"id\":\"%s\",\"change\":\"%s\",\"user_id\":\"%s\"}", conv, change, user);
	else
		snprintf(out, EVENTS_CONVERSATION_MAX, "{\"id\":\"%s\",\"change\":\"%s\"}", conv,
			 change);
}

void events_batch_publish(struct events_batch *b, const char *channel, const char *message)
{
	const char **argv;

	if (!b || b->failed)
		return;
	const char *c = own(b, strdup(channel)), *m = own(b, strdup(message));
	if (!(argv = next_command(b)))
		return;
	argv[0] = "PUBLISH";
	argv[1] = c;
	argv[2] = m;
	b->argcs[b->n - 1] = 3;
}

int events_batch_send(struct kv *kv, struct events_batch *b)
{
	int rc = 0;

	if (!b)
		return ERR_INTERNAL;
	if (b->failed) {
		log_error(NULL, "%d events not sent: out of memory", b->events);
		rc = ERR_INTERNAL;
	} else if (b->n) {
		const char *const **rows = calloc((size_t)b->n, sizeof(*rows));
		for (int i = 0; rows && i < b->n; i++)
			rows[i] = b->argvs[i];
		rc = rows ? kv_pipeline(kv, b->n, b->argcs, rows) : ERR_INTERNAL;
		free(rows);
		if (rc)
			log_warn(NULL, "%d events to %d streams not delivered (redis)", b->events, b->n);
	}
	events_batch_free(b);
	return rc;
}

void events_batch_free(struct events_batch *b)
{
	if (!b)
		return;
	for (int i = 0; i < b->nowned; i++)
		free(b->owned[i]);
	free(b->owned);
	free(b->argcs);
	free(b->argvs);
	free(b);
}

int events_emit(struct kv *kv, const char *const *users, int nusers, const char *name,
		const char *data, bool stored)
{
	struct events_batch *b;

	if (nusers <= 0)
		return 0;
	if (!(b = events_batch_new()))
		return ERR_INTERNAL;
	events_batch_add(b, users, nusers, name, data, stored);
	return events_batch_send(kv, b);
}

bool events_id_valid(const char *s)
{
	size_t n = strspn(s, "0123456789");
	return n && n < 21 && (s[n] == '\0' || (s[n] == '-' && strspn(s + n + 1, "0123456789") &&
						 !s[n + 1 + strspn(s + n + 1, "0123456789")] &&
						 strlen(s + n + 1) < 21));
}

int events_id_cmp(const char *a, const char *b)
{
	unsigned long long am = strtoull(a, NULL, 10), bm = strtoull(b, NULL, 10);
	const char *ad = strchr(a, '-'), *bd = strchr(b, '-');
	unsigned long long as = ad ? strtoull(ad + 1, NULL, 10) : 0;
	unsigned long long bs = bd ? strtoull(bd + 1, NULL, 10) : 0;

	if (am != bm)
		return am < bm ? -1 : 1;
	return as < bs ? -1 : as > bs;
}
