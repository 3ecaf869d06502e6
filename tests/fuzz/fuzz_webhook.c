/*
 * fuzz_webhook - a provider's webhook body, as the inbound job reads it
 * (jobs/j_inbound.c, included here for its parsers): WhatsApp's,
 * Telegram's, Messenger's and Instagram's. Every message it yields must
 * be text PostgreSQL takes (valid UTF-8, names cut between characters).
 */
#include "../../jobs/j_inbound.c"

#include "../../lib/validate.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct inbound_state *s)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct inbound_msg *m = &s->msgs[i];
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
	for (int k = 0; k < 4; k++) {
		struct inbound_state s = { 0 };
		switch (k) {
		case 0: whatsapp_messages(&s, o); break;
		case 1: telegram_message(&s, o); break;
		case 2: meta_messages(&s, "messenger", o); break;
		default: meta_messages(&s, "instagram", o); break;
		}
		check(&s);
		for (size_t i = 0; i < s.n; i++)
			free(s.msgs[i].own_text);
		free(s.msgs);
	}
	json_object_put(o);
	return 0;
}
