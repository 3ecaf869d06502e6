/*
 * inbound_media.h - a photo or document a contact sent on a channel,
 * fetched from the provider into the file store (lib/filestore.h), so it
 * reaches the conversation as a file like any uploaded one.
 */
#ifndef CHAT4ALL_INBOUND_MEDIA_H
#define CHAT4ALL_INBOUND_MEDIA_H

#include "../lib/conf.h"

#include <stdbool.h>

/* What was fetched: a new file id whose bytes are stored and synced. */
struct inbound_file {
	char id[37];
	char filename[256];
	char mime[128];
	long long size;
	char sha256[65];
};

/*
 * inbound_media_fetch - @ref's bytes (lib/channels.h, channel_media_lookup)
 * into the file store as a new file, whose SHA-256 is taken as it is
 * written. @mime and @filename are what the webhook said (may be NULL);
 * the answer's Content-Type fills in a missing type. 0 on success;
 * ERR_UNAVAILABLE when worth another try later (no answer, 429, 5xx, a
 * full disk, not done within @timeout_ms — then *@out_of_time is set too);
 * ERR_VALIDATION or ERR_TOOLARGE when never (a 4xx, an unknown reference,
 * more than file_max_size). @why says which.
 */
struct netguard;
int inbound_media_fetch(const struct conf *c, const struct netguard *guard, const char *channel,
			const char *ref,
			const char *mime, const char *filename, long timeout_ms,
			struct inbound_file *f, bool *out_of_time, char why[256]);

#endif
