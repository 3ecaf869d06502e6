/*
 * moderation.c - the provider chain: an OpenAI-compatible /v1/moderations
 * endpoint, Google Gemini asked for a JSON verdict against a schema, and
 * the built-in lexicon, in the configured order. Each HTTP provider has
 * its own timeout and a circuit breaker: after N failures in a row it is
 * skipped for a cool-down, so one outage does not add its timeout to every
 * message; the first call after the cool-down is the trial.
 */
#include "moderation.h"

#include "clock.h"
#include "lexicon.h"
#include "log.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum provider_kind { PROVIDER_LEXICON, PROVIDER_OPENAI, PROVIDER_GEMINI };

struct provider {
	enum provider_kind kind;
	const char *name;
	int failures;		/* in a row */
	time_t open_until;	/* the breaker: skipped until then */
	CURL *curl;		/* kept, so connections are reused */
};

struct moderation {
	struct provider chain[MODERATION_MAX_ATTEMPTS - 1];
	int nchain;
	struct lexicon *lexicon;
	char hold[256];		/* ",sexual,hate," */
	enum verdict on_failure;
	const struct conf *conf;
};

const char *verdict_name(enum verdict v)
{
	static const char *const names[] = { "approve", "reject", "hold", "error" };
	return names[v];
}

struct moderation *moderation_new(const struct conf *c, char *err, size_t errlen)
{
	struct moderation *m = calloc(1, sizeof(*m));
	char list[256], *save = NULL;

	if (!m)
		return NULL;
	m->conf = c;
	snprintf(m->hold, sizeof(m->hold), ",%s,", c->moderation_hold);
	if (!strcmp(c->moderation_on_failure, "approve"))
		m->on_failure = VERDICT_APPROVE;
	else if (!strcmp(c->moderation_on_failure, "hold"))
		m->on_failure = VERDICT_HOLD;
	else if (!strcmp(c->moderation_on_failure, "reject"))
		m->on_failure = VERDICT_REJECT;
	else {
		snprintf(err, errlen, "moderation_on_failure must be reject, approve or hold");
		goto fail;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(list, sizeof(list), "%s", c->moderation_providers);
	for (char *p = strtok_r(list, ", ", &save); p; p = strtok_r(NULL, ", ", &save)) {
		struct provider *pv = &m->chain[m->nchain];
		if (m->nchain == MODERATION_MAX_ATTEMPTS - 1) {
			snprintf(err, errlen, "too many moderation providers");
			goto fail;
		}
		if (!strcmp(p, "lexicon")) {
			if (!m->lexicon &&
			    !(m->lexicon = lexicon_load(c->moderation_lexicon_dir, err, errlen)))
				goto fail;
			pv->kind = PROVIDER_LEXICON;
			pv->name = "lexicon";
		} else if (!strcmp(p, "openai") || !strcmp(p, "gemini")) {
			bool openai = !strcmp(p, "openai");
			const char *key = openai ? c->openai_api_key : c->gemini_api_key;
			if (!key || !*key) {
				snprintf(err, errlen, "the %s provider needs CHAT4ALL_%s_API_KEY", p,
					 openai ? "OPENAI" : "GEMINI");
				goto fail;
			}
			pv->kind = openai ? PROVIDER_OPENAI : PROVIDER_GEMINI;
			pv->name = openai ? "openai" : "gemini";
			if (!(pv->curl = curl_easy_init()))
				goto fail;
		} else {
			snprintf(err, errlen, "unknown moderation provider '%s'", p);
			goto fail;
		}
		m->nchain++;
	}
	if (!m->nchain) {
		snprintf(err, errlen, "moderation_providers names no provider");
		goto fail;
	}
	return m;
fail:
	moderation_free(m);
	return NULL;
}

void moderation_free(struct moderation *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->nchain; i++)
		if (m->chain[i].curl)
			curl_easy_cleanup(m->chain[i].curl);
	lexicon_free(m->lexicon);
	free(m);
}

/* ------------------------------------------------------------- lexicon */

static void run_lexicon(struct moderation *m, const char *text, struct attempt *a)
{
	char match[128];
	const char *cat = lexicon_check(m->lexicon, text, match, sizeof(match));

	if (!cat) {
		a->verdict = VERDICT_APPROVE;
		snprintf(a->raw, sizeof(a->raw), "{\"match\":null}");
		return;
	}
	a->verdict = VERDICT_REJECT;
	a->score = 1;
	snprintf(a->category, sizeof(a->category), "%s", cat);
	snprintf(a->raw, sizeof(a->raw), "{\"match\":\"%s\",\"category\":\"%s\"}", match, cat);
}

/* ---------------------------------------------------------------- HTTP */

struct body {
	char *s;
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t add = size * n;
	char *ns;

	if (b->len + add > 1 << 20)	/* an answer over 1 MiB is not one */
		return 0;
	if (!(ns = realloc(b->s, b->len + add + 1)))
		return 0;
	memcpy(ns + b->len, p, add);
	b->s = ns;
	b->len += add;
	b->s[b->len] = '\0';
	return add;
}

/*
 * POSTs @json to @url; the parsed answer on 2xx, else NULL with the reason
 * in a->raw. Never longer than the configured timeout.
 */
static struct json_object *post_json(struct moderation *m, struct provider *p, const char *url,
				     const char *auth_header, const char *json, struct attempt *a)
{
	struct curl_slist *h = NULL;
	struct body b = { NULL, 0 };
	struct json_object *answer = NULL;
	long status = 0;
	CURLcode cc;

	h = curl_slist_append(h, "Content-Type: application/json");
	if (auth_header)
		h = curl_slist_append(h, auth_header);
	curl_easy_reset(p->curl);
	curl_easy_setopt(p->curl, CURLOPT_URL, url);
	curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(p->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(p->curl, CURLOPT_TIMEOUT_MS, m->conf->moderation_timeout_ms);
	curl_easy_setopt(p->curl, CURLOPT_CONNECTTIMEOUT_MS, m->conf->moderation_timeout_ms);
	curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, &b);
	cc = curl_easy_perform(p->curl);
	curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK)
		snprintf(a->raw, sizeof(a->raw), "{\"error\":\"%s\"}", curl_easy_strerror(cc));
	else if (status < 200 || status > 299)
		snprintf(a->raw, sizeof(a->raw), "{\"error\":\"HTTP %ld\"}", status);
	else if (!(answer = b.s ? json_tokener_parse(b.s) : NULL))
		snprintf(a->raw, sizeof(a->raw), "{\"error\":\"the answer is not JSON\"}");
	else
		snprintf(a->raw, sizeof(a->raw), "%.*s", (int)sizeof(a->raw) - 1, b.s);
	free(b.s);
	curl_slist_free_all(h);
	return answer;
}

/* OpenAI's categories ("hate/threatening", "self-harm/intent", …) → ours. */
static const char *our_category(const char *theirs)
{
	static const struct { const char *prefix, *ours; } map[] = {
		{ "hate", "hate" }, { "harassment", "harassment" }, { "sexual", "sexual" },
		{ "violence", "violence" }, { "self-harm", "violence" },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strncmp(theirs, map[i].prefix, strlen(map[i].prefix)))
			return map[i].ours;
	return NULL;
}

static void run_openai(struct moderation *m, struct provider *p, const char *text, struct attempt *a)
{
	const struct conf *c = m->conf;
	struct json_object *req = json_object_new_object(), *ans, *res, *cats, *scores;
	char url[1024], auth[600];

	json_object_object_add(req, "model", json_object_new_string(c->openai_model));
	json_object_object_add(req, "input", json_object_new_string(text));
	snprintf(url, sizeof(url), "%s/v1/moderations", c->openai_base_url);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->openai_api_key);
	ans = post_json(m, p, url, auth, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN), a);
	json_object_put(req);
	a->verdict = VERDICT_ERROR;
	if (!ans)
		return;
	if (!json_object_object_get_ex(ans, "results", &res) ||
	    !(res = json_object_array_get_idx(res, 0)) ||
	    !json_object_object_get_ex(res, "categories", &cats) ||
	    !json_object_object_get_ex(res, "category_scores", &scores)) {
		snprintf(a->raw, sizeof(a->raw), "{\"error\":\"no results in the answer\"}");
		goto out;
	}
	/* the flagged category of ours with the highest score decides */
	a->verdict = VERDICT_APPROVE;
	json_object_object_foreach(cats, name, flagged) {
		const char *ours = our_category(name);
		struct json_object *sc;
		double score = json_object_object_get_ex(scores, name, &sc) ? json_object_get_double(sc) : 0;
		if (!ours || !json_object_get_boolean(flagged))
			continue;
		if (a->verdict == VERDICT_APPROVE || score > a->score) {
			a->verdict = VERDICT_REJECT;
			a->score = score;
			snprintf(a->category, sizeof(a->category), "%s", ours);
		}
	}
out:
	json_object_put(ans);
}

static void run_gemini(struct moderation *m, struct provider *p, const char *text, struct attempt *a)
{
	static const char prompt[] =
		"You moderate a chat service. Decide whether the message below contains "
		"hate, sexual content, violence (including self-harm) or harassment. "
		"Answer reject with the category when it does, else approve with category none.\n\n"
		"Message:\n";
	static const char schema[] =
		"{\"type\":\"OBJECT\",\"properties\":{"
		"\"verdict\":{\"type\":\"STRING\",\"enum\":[\"approve\",\"reject\"]},"
		"\"category\":{\"type\":\"STRING\",\"enum\":[\"none\",\"hate\",\"sexual\",\"violence\",\"harassment\"]},"
		"\"score\":{\"type\":\"NUMBER\"}},\"required\":[\"verdict\",\"category\"]}";
	const struct conf *c = m->conf;
	struct json_object *req = json_object_new_object(), *contents = json_object_new_array();
	struct json_object *content = json_object_new_object(), *parts = json_object_new_array();
	struct json_object *part = json_object_new_object(), *gen = json_object_new_object();
	struct json_object *ans, *v, *out = NULL;
	char url[1024], auth[600], *full;

	if (asprintf(&full, "%s%s", prompt, text) < 0)
		full = NULL;
	json_object_object_add(part, "text", json_object_new_string(full ? full : text));
	free(full);
	json_object_array_add(parts, part);
	json_object_object_add(content, "role", json_object_new_string("user"));
	json_object_object_add(content, "parts", parts);
	json_object_array_add(contents, content);
	json_object_object_add(req, "contents", contents);
	json_object_object_add(gen, "responseMimeType", json_object_new_string("application/json"));
	json_object_object_add(gen, "responseSchema", json_tokener_parse(schema));
	json_object_object_add(req, "generationConfig", gen);
	snprintf(url, sizeof(url), "%s/v1beta/models/%s:generateContent", c->gemini_base_url,
		 c->gemini_model);
	snprintf(auth, sizeof(auth), "x-goog-api-key: %s", c->gemini_api_key);
	ans = post_json(m, p, url, auth, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN), a);
	json_object_put(req);
	a->verdict = VERDICT_ERROR;
	if (!ans)
		return;
	/* Gemini's own safety filters can refuse the input: that is no verdict */
	struct json_object *fb, *cand = NULL, *t;
	if (json_object_object_get_ex(ans, "promptFeedback", &fb) &&
	    json_object_object_get_ex(fb, "blockReason", &t)) {
		snprintf(a->raw, sizeof(a->raw), "{\"error\":\"blocked: %s\"}", json_object_get_string(t));
		goto done;
	}
	if (json_object_object_get_ex(ans, "candidates", &v))
		cand = json_object_array_get_idx(v, 0);
	if (cand && json_object_object_get_ex(cand, "finishReason", &t) &&
	    !strcmp(json_object_get_string(t), "SAFETY")) {
		snprintf(a->raw, sizeof(a->raw), "{\"error\":\"finishReason SAFETY\"}");
		goto done;
	}
	if (!cand || !json_object_object_get_ex(cand, "content", &v) ||
	    !json_object_object_get_ex(v, "parts", &v) || !(v = json_object_array_get_idx(v, 0)) ||
	    !json_object_object_get_ex(v, "text", &v) ||
	    !(out = json_tokener_parse(json_object_get_string(v))) ||
	    !json_object_object_get_ex(out, "verdict", &v)) {
		snprintf(a->raw, sizeof(a->raw), "{\"error\":\"no verdict in the answer\"}");
		goto done;
	}
	if (!strcmp(json_object_get_string(v), "approve")) {
		a->verdict = VERDICT_APPROVE;
	} else if (!strcmp(json_object_get_string(v), "reject")) {
		struct json_object *cat, *sc;
		const char *name = json_object_object_get_ex(out, "category", &cat)
					   ? json_object_get_string(cat) : "";
		a->verdict = VERDICT_REJECT;
		if (our_category(name))
			snprintf(a->category, sizeof(a->category), "%s", our_category(name));
		a->score = json_object_object_get_ex(out, "score", &sc) ? json_object_get_double(sc) : 1;
	} else {
		snprintf(a->raw, sizeof(a->raw), "{\"error\":\"unknown verdict\"}");
	}
done:
	json_object_put(out);
	json_object_put(ans);
}

/* ---------------------------------------------------------------- chain */

enum verdict moderation_decide(struct moderation *m, const char *text,
			       struct attempt *attempts, int *nattempts)
{
	time_t now = time(NULL);
	int n = 0;

	for (int i = 0; i < m->nchain; i++) {
		struct provider *p = &m->chain[i];
		struct attempt *a;
		long start;

		if (p->open_until > now)
			continue;	/* tripped: skipped until its cool-down ends */
		a = &attempts[n++];
		memset(a, 0, sizeof(*a));
		snprintf(a->provider, sizeof(a->provider), "%s", p->name);
		start = clock_ms();
		switch (p->kind) {
		case PROVIDER_LEXICON:
			run_lexicon(m, text, a);
			break;
		case PROVIDER_OPENAI:
			run_openai(m, p, text, a);
			break;
		case PROVIDER_GEMINI:
			run_gemini(m, p, text, a);
			break;
		}
		a->latency_ms = (int)(clock_ms() - start);
		if (a->verdict == VERDICT_ERROR) {
			if (++p->failures >= m->conf->moderation_breaker_failures) {
				p->open_until = time(NULL) + m->conf->moderation_breaker_cooldown;
				log_warn(NULL, "moderation provider %s failed %d times in a row: "
					       "skipped for %ld s", p->name, p->failures,
					 m->conf->moderation_breaker_cooldown);
			}
			continue;
		}
		p->failures = 0;
		p->open_until = 0;
		/* a category configured as "held" waits for an admin */
		if (a->verdict == VERDICT_REJECT && a->category[0]) {
			char needle[32];
			snprintf(needle, sizeof(needle), ",%s,", a->category);
			if (strstr(m->hold, needle))
				a->verdict = VERDICT_HOLD;
		}
		*nattempts = n;
		return a->verdict;
	}
	/* nobody answered: the policy decides, as the system */
	struct attempt *a = &attempts[n++];
	memset(a, 0, sizeof(*a));
	snprintf(a->provider, sizeof(a->provider), "system");
	a->verdict = m->on_failure;
	snprintf(a->raw, sizeof(a->raw), "{\"reason\":\"no provider answered\"}");
	*nattempts = n;
	return a->verdict;
}

/* ------------------------------------------------------------- metrics */

static const char *const series_providers[] = { "lexicon", "openai", "gemini", "system" };
static const char *const series_categories[] = { "", "hate", "sexual", "violence", "harassment" };

unsigned moderation_series(const struct attempt *a)
{
	unsigned p = 0, c = 0;

	for (unsigned i = 0; i < 4; i++)
		if (!strcmp(a->provider, series_providers[i]))
			p = i;
	for (unsigned i = 1; i < 5; i++)
		if (!strcmp(a->category, series_categories[i]))
			c = i;
	return (p * 4 + (unsigned)a->verdict) * 5 + c;
}

const char *const *moderation_series_labels(void)
{
	static char labels[MODERATION_SERIES][96];
	static const char *ptrs[MODERATION_SERIES];

	if (!ptrs[0])
		for (unsigned p = 0; p < 4; p++)
			for (unsigned v = 0; v < 4; v++)
				for (unsigned c = 0; c < 5; c++) {
					unsigned i = (p * 4 + v) * 5 + c;
					snprintf(labels[i], sizeof(labels[i]),
						 "provider=\"%s\",verdict=\"%s\",category=\"%s\"",
						 series_providers[p], verdict_name((enum verdict)v),
						 c ? series_categories[c] : "none");
					ptrs[i] = labels[i];
				}
	return ptrs;
}
