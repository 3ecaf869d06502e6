#include "moderation.h"

#include "lexicon.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum provider_kind { PROVIDER_LEXICON };

struct moderation {
	enum provider_kind chain[MODERATION_MAX_ATTEMPTS - 1];
	int nchain;
	struct lexicon *lexicon;
	char hold[256];		/* ",sexual,hate," */
	enum verdict on_failure;
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
	snprintf(list, sizeof(list), "%s", c->moderation_providers);
	for (char *p = strtok_r(list, ", ", &save); p; p = strtok_r(NULL, ", ", &save)) {
		if (m->nchain == MODERATION_MAX_ATTEMPTS - 1) {
			snprintf(err, errlen, "too many moderation providers");
			goto fail;
		}
		if (!strcmp(p, "lexicon")) {
			if (!m->lexicon &&
			    !(m->lexicon = lexicon_load(c->moderation_lexicon_dir, err, errlen)))
				goto fail;
			m->chain[m->nchain++] = PROVIDER_LEXICON;
		} else {
			snprintf(err, errlen, "unknown moderation provider '%s'", p);
			goto fail;
		}
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
	lexicon_free(m->lexicon);
	free(m);
}

static void run_lexicon(struct moderation *m, const char *text, struct attempt *a)
{
	char match[128];
	const char *cat = lexicon_check(m->lexicon, text, match, sizeof(match));

	snprintf(a->provider, sizeof(a->provider), "lexicon");
	if (!cat) {
		a->verdict = VERDICT_APPROVE;
		a->score = 0;
		snprintf(a->raw, sizeof(a->raw), "{\"match\":null}");
		return;
	}
	a->verdict = VERDICT_REJECT;
	a->score = 1;
	snprintf(a->category, sizeof(a->category), "%s", cat);
	snprintf(a->raw, sizeof(a->raw), "{\"match\":\"%s\",\"category\":\"%s\"}", match, cat);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

enum verdict moderation_decide(struct moderation *m, const char *text,
			       struct attempt *attempts, int *nattempts)
{
	int n = 0;

	for (int i = 0; i < m->nchain; i++) {
		struct attempt *a = &attempts[n++];
		long start = now_ms();

		memset(a, 0, sizeof(*a));
		switch (m->chain[i]) {
		case PROVIDER_LEXICON:
			run_lexicon(m, text, a);
			break;
		}
		a->latency_ms = (int)(now_ms() - start);
		if (a->verdict == VERDICT_ERROR)
			continue;
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
