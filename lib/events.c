#include "events.h"

#include "err.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Append and publish with the id the append got, in one step. */
static const char emit_lua[] =
	"local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*',"
	" 'e', ARGV[1], 'd', ARGV[2])\n"
	"redis.call('PUBLISH', KEYS[2], id .. '\\n' .. ARGV[1] .. '\\n' .. ARGV[2])\n"
	"return id\n";

void events_stream_key(const char *user, char out[64])
{
	snprintf(out, 64, "c4a:ev:%s", user);
}

void events_live_channel(const char *user, char out[64])
{
	snprintf(out, 64, "c4a:live:%s", user);
}

int events_emit(struct kv *kv, const char *const *users, int nusers, const char *name,
		const char *data, bool stored)
{
	char keep[16], (*keys)[2][64] = NULL, *msg = NULL;
	const char *(*argvs)[8] = NULL;
	const char *const **rows = NULL;
	int *argcs = NULL, rc = ERR_INTERNAL;

	if (nusers <= 0)
		return 0;
	snprintf(keep, sizeof(keep), "%d", EVENTS_KEEP);
	keys = calloc((size_t)nusers, sizeof(*keys));
	argvs = calloc((size_t)nusers, sizeof(*argvs));
	argcs = calloc((size_t)nusers, sizeof(*argcs));
	rows = calloc((size_t)nusers, sizeof(*rows));
	if (!keys || !argvs || !argcs || !rows)
		goto out;
	if (!stored && asprintf(&msg, "\n%s\n%s", name, data) < 0) {
		msg = NULL;
		goto out;
	}
	for (int i = 0; i < nusers; i++) {
		events_stream_key(users[i], keys[i][0]);
		events_live_channel(users[i], keys[i][1]);
		if (stored) {
			/* EVAL, not EVALSHA: Redis caches the script by its hash
			 * anyway, and a restart never leaves us with NOSCRIPT */
			const char *a[8] = { "EVAL", emit_lua, "2", keys[i][0], keys[i][1],
					     name, data, keep };
			memcpy(argvs[i], a, sizeof(a));
			argcs[i] = 8;
		} else {
			argvs[i][0] = "PUBLISH";
			argvs[i][1] = keys[i][1];
			argvs[i][2] = msg;
			argcs[i] = 3;
		}
	}
	for (int i = 0; i < nusers; i++)
		rows[i] = argvs[i];
	rc = kv_pipeline(kv, nusers, argcs, rows);
	if (rc)
		log_warn(NULL, "event %s not delivered to %d users (redis)", name, nusers);
out:
	free(msg);
	free(keys);
	free(argvs);
	free(argcs);
	free(rows);
	return rc;
}
