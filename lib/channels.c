/*
 * channels.c - the table of channels, what is the same for all of them
 * (what an HTTP status means, the metrics' series, asking the right
 * module), and the helpers the modules share (channel_module.h).
 * What one provider does is in its own channel_<provider>.c.
 */
#include "channels.h"
#include "channel_module.h"

#include "auth.h"
#include "err.h"
#include "validate.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Adding a channel: its module, and one line here (README: "Adding a channel"). */
const struct channel_ops *const channel_table[CHANNEL_COUNT] = {
	&channel_whatsapp, &channel_telegram, &channel_messenger, &channel_instagram,
	&channel_webhook,
};

int channel_index(const char *name)
{
	for (int i = 0; name && i < CHANNEL_COUNT; i++)
		if (!strcmp(channel_table[i]->name, name))
			return i;
	return -1;
}

const struct channel_ops *channel_find(const char *name)
{
	int i = channel_index(name);

	return i < 0 ? NULL : channel_table[i];
}

bool channel_known(const char *name)
{
	return channel_index(name) >= 0;
}

const char *channel_names(void)
{
	static char names[128];

	if (!names[0])
		for (int i = 0; i < CHANNEL_COUNT; i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 i ? ", " : "", channel_table[i]->name);
	return names;
}

/* ---- sending ---- */

int channel_request_build(const struct conf *c, const struct channel_msg *m,
			  struct channel_request *out)
{
	const struct channel_ops *ch = channel_find(m->channel);

	memset(out, 0, sizeof(*out));
	if (!ch)
		return ERR_VALIDATION;
	if (!(m->text && *m->text) && !m->file_url)
		return ERR_VALIDATION;
	return ch->build(c, m, out);
}

void channel_request_free(struct channel_request *r)
{
	free(r->body);
	r->body = NULL;
}

bool channel_pace(const char *channel, const char *address, double *rate, long *burst)
{
	const struct channel_ops *ch = channel_find(channel);

	return ch && ch->pace && ch->pace(address, rate, burst);
}

enum channel_outcome channel_answer(const char *channel, long status, const char *body,
				    const char *retry_after, char provider_id[128],
				    int *retry_after_s, char why[256])
{
	const struct channel_ops *ch = channel_find(channel);
	struct json_object *o = body ? json_tokener_parse(body) : NULL;
	enum channel_outcome out;

	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;	/* an answer that is no JSON object says nothing */
	}
	provider_id[0] = '\0';
	*retry_after_s = retry_after ? atoi(retry_after) : 0;
	snprintf(why, 256, status ? "HTTP %ld" : "no answer", status);
	if (o && ch && ch->answer_error)
		ch->answer_error(o, why);
	if (ch && status >= 200 && status < 300)
		ch->answer_id(o, status, provider_id);
	if (provider_id[0]) {
		out = CHANNEL_SENT;
	} else if (status == 429 || status == 0 || status >= 500) {
		int wish = o && ch && ch->answer_retry_after ? ch->answer_retry_after(o) : 0;
		if (wish > 0)
			*retry_after_s = wish;
		out = CHANNEL_RETRY;
	} else if (status >= 200 && status < 300) {
		snprintf(why, 256, "the answer named no message id");
		out = CHANNEL_RETRY;
	} else {
		out = CHANNEL_FAILED;	/* 4xx: bad address, no permission, outside the window */
	}
	json_object_put(o);
	return out;
}

static const char *const OUTCOMES[] = { "sent", "retried", "failed", "paced" };

const char *channel_outcome_name(enum channel_outcome outcome)
{
	return OUTCOMES[outcome];
}

unsigned channel_series(const char *channel, enum channel_outcome outcome)
{
	int c = channel_index(channel);

	return (unsigned)(c < 0 ? CHANNEL_COUNT - 1 : c) * 4 + (unsigned)outcome;
}

const char *const *channel_series_labels(void)
{
	static char labels[CHANNEL_NSERIES][64];
	static const char *ptrs[CHANNEL_NSERIES];

	if (!ptrs[0])
		for (unsigned i = 0; i < CHANNEL_NSERIES; i++) {
			snprintf(labels[i], sizeof(labels[i]), "channel=\"%s\",outcome=\"%s\"",
				 channel_table[i / 4]->name, OUTCOMES[i % 4]);
			ptrs[i] = labels[i];
		}
	return ptrs;
}

/* ---- inbound media ---- */

int channel_media_lookup(const struct conf *c, const char *channel, const char *ref,
			 char url[1024], char auth[600], bool *direct)
{
	const struct channel_ops *ch = channel_find(channel);

	*direct = false;
	auth[0] = '\0';
	if (!ref || !ch || !ch->media_lookup)
		return ERR_VALIDATION;
	return ch->media_lookup(c, ref, url, auth, direct);
}

int channel_media_located(const struct conf *c, const char *channel, const char *body,
			  char url[1024], long long *size)
{
	const struct channel_ops *ch = channel_find(channel);
	struct json_object *o = body ? json_tokener_parse(body) : NULL;
	int rc = ERR_VALIDATION;

	*size = -1;
	if (json_object_is_type(o, json_type_object) && ch && ch->media_located)
		rc = ch->media_located(c, o, url, size);
	json_object_put(o);
	return rc;
}

void channel_inbound_free(struct channel_inbound *in)
{
	for (size_t i = 0; i < in->n; i++)
		free(in->msgs[i].own_text);
	free(in->msgs);
	free(in->statuses);
	memset(in, 0, sizeof(*in));
}

/* ---- for the modules (channel_module.h) ---- */

bool cm_set(const char *s)
{
	return s && *s;
}

size_t cm_len(struct json_object *a)
{
	return json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

struct json_object *cm_at(struct json_object *a, size_t i)
{
	return i < cm_len(a) ? json_object_array_get_idx(a, i) : NULL;
}

struct json_object *cm_get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	return json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

const char *cm_str(struct json_object *o, const char *key)
{
	struct json_object *v = cm_get(o, key);

	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

const char *cm_id(struct json_object *o, const char *key)
{
	struct json_object *v = cm_get(o, key);

	return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v) : NULL;
}

bool cm_num(struct json_object *o, const char *key, double *out)
{
	struct json_object *v = cm_get(o, key);

	if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_double(v);
	return true;
}

struct json_object *cm_jstr(const char *s)
{
	return json_object_new_string(s);
}

char *cm_dump(struct json_object *o)
{
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

char *cm_text_with_link(const struct channel_msg *m, bool link)
{
	char *out = NULL;

	if (link && m->file_url)
		return asprintf(&out, "%s%s%s (%s)", m->text ? m->text : "", m->text ? "\n" : "",
				m->file_url, m->file_name ? m->file_name : "file") < 0 ? NULL : out;
	return m->text ? strdup(m->text) : NULL;
}

struct channel_in_msg *cm_in_msg(struct channel_inbound *in, const char *channel,
				 const char *address, const char *provider_id)
{
	if (!address || !provider_id)
		return NULL;
	if (in->n == in->cap) {
		size_t cap = in->cap ? 2 * in->cap : 4;
		struct channel_in_msg *m = realloc(in->msgs, cap * sizeof(*m));
		if (!m)
			return NULL;
		in->msgs = m;
		in->cap = cap;
	}
	struct channel_in_msg *m = &in->msgs[in->n++];
	memset(m, 0, sizeof(*m));
	m->channel = channel;
	m->address = address;
	m->provider_id = provider_id;
	return m;
}

void channel_in_text(struct channel_in_msg *m, const char *fmt, ...)
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

void cm_in_location(struct channel_in_msg *m, double lat, double lon, const char *name,
		    const char *address)
{
	channel_in_text(m, "📍 %s%s%s%s%.6f, %.6f https://www.openstreetmap.org/?mlat=%.6f&mlon=%.6f",
		   name ? name : "", name ? " " : "", address ? address : "", address ? " " : "",
		   lat, lon, lat, lon);
}

void cm_in_unsupported(struct channel_in_msg *m, const char *type)
{
	channel_in_text(m, "[%s %.32s message, which Chat4All cannot show]",
		   type && strchr("aeiou", type[0]) ? "an" : "a", type ? type : "new kind of");
}

void cm_in_name(struct channel_in_msg *m, const char *name)
{
	validate_utf8_copy(m->name, sizeof(m->name), name);
}

static bool status_known(const char *st)
{
	return st && (!strcmp(st, "sent") || !strcmp(st, "delivered") || !strcmp(st, "read") ||
		      !strcmp(st, "failed"));
}

void cm_in_status(struct channel_inbound *in, const char *provider_id, const char *address,
		  double watermark_ms, const char *status, const char *error)
{
	if (!status_known(status) || (provider_id ? !*provider_id : (!address || watermark_ms <= 0)))
		return;
	if (in->nstatuses == in->statuses_cap) {
		size_t cap = in->statuses_cap ? 2 * in->statuses_cap : 4;
		struct channel_in_status *s = realloc(in->statuses, cap * sizeof(*s));
		if (!s)
			return;
		in->statuses = s;
		in->statuses_cap = cap;
	}
	in->statuses[in->nstatuses++] = (struct channel_in_status){
		.provider_id = provider_id, .address = address, .watermark_ms = watermark_ms,
		.status = status, .error = error,
	};
}

void cm_graph_error(struct json_object *o, char why[256])
{
	const char *m = cm_str(cm_get(o, "error"), "message");

	if (m)
		snprintf(why, 256, "%s", m);
}

bool cm_meta_signed(const struct conf *c, const char *signature, const char *body, size_t len)
{
	const char *secret = c->meta_app_secret;
	unsigned char md[32];
	unsigned int n = 0;
	char want[7 + 65] = "sha256=";

	if (!signature || !cm_set(secret))
		return false;
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, md, &n);
	for (unsigned i = 0; i < 32; i++)
		snprintf(want + 7 + 2 * i, 3, "%02x", md[i]);
	return strlen(signature) == strlen(want) && auth_equal(signature, want, strlen(want));
}
