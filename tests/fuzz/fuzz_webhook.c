/*
 * fuzz_webhook - a provider's webhook body, as each channel module reads
 * it (webhook_parse in lib/channel_*.c): WhatsApp's, Telegram's,
 * Messenger's and Instagram's. Every message it yields must be text
 * PostgreSQL takes (valid UTF-8, names cut between characters).
 */
#include "../../lib/channels.h"
#include "../../lib/validate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct channel_inbound *in)
{
	for (size_t i = 0; i < in->n; i++) {
		const struct channel_in_msg *m = &in->msgs[i];
		if (!validate_utf8(m->name, strlen(m->name)) ||
		    (m->own_text && !validate_utf8(m->own_text, strlen(m->own_text))))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why;
	char *body = malloc(size + 1);

	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';
	/* as the API takes it: strict, UTF-8 (fcgi/h_channels.c) */
	struct json_object *o = validate_json_object(body, size, 32, &why);
	free(body);
	if (!o)
		return 0;
	for (int k = 0; k < CHANNEL_COUNT; k++) {
		struct channel_inbound in = { 0 };
		if (!channel_table[k]->webhook_parse)
			continue;
		channel_table[k]->webhook_parse(o, &in);
		check(&in);
		channel_inbound_free(&in);
	}
	json_object_put(o);
	return 0;
}
