/*
 * fuzz_answers - what a provider answers (lib/channels.c): a send's
 * answer for each channel, a media lookup's answer. The first byte picks
 * the channel and the status, the rest is the body.
 */
#include "../../lib/channels.h"
#include "../../lib/conf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const channels[] = { "whatsapp", "telegram", "messenger", "instagram",
						"webhook" };
	static const long statuses[] = { 0, 200, 201, 400, 403, 429, 500, 503 };
	static struct conf conf;
	static int loaded;
	char provider_id[128], why[256], url[1024], err[128];
	int retry_after;
	long long media_size;

	if (!loaded) {
		conf_load(&conf, "/dev/null", err, sizeof(err));
		loaded = 1;
	}
	if (!size)
		return 0;
	char *body = malloc(size);
	if (!body)
		return 0;
	memcpy(body, data + 1, size - 1);
	body[size - 1] = '\0';
	const char *channel = channels[data[0] % 5];
	channel_answer(channel, statuses[(data[0] / 5) % 8], body, (data[0] & 0x80) ? body : NULL,
		       provider_id, &retry_after, why);
	channel_media_located(&conf, channel, body, url, &media_size);
	free(body);
	return 0;
}
