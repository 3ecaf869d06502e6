/*
 * moderation.h - the provider chain of DESIGN §6. Providers run in the
 * configured order; the first that answers decides. One that fails (error,
 * timeout, no verdict) hands over to the next; when all fail, the policy
 * (moderation_on_failure) decides as provider "system". Every attempt is
 * reported so the caller can write one moderation_log row per attempt.
 */
#ifndef CHAT4ALL_MODERATION_H
#define CHAT4ALL_MODERATION_H

#include <stddef.h>

#include "conf.h"

enum verdict { VERDICT_APPROVE, VERDICT_REJECT, VERDICT_HOLD, VERDICT_ERROR };

#define MODERATION_MAX_ATTEMPTS 8

struct attempt {
	char provider[16];
	enum verdict verdict;
	char category[24];	/* hate | sexual | violence | harassment | "" */
	double score;		/* 0..1; 1 for a lexicon hit */
	int latency_ms;
	char raw[512];		/* the provider's answer, or what went wrong */
};

struct moderation;

/* moderation_new - the chain of @c; NULL with a message in @err. */
struct moderation *moderation_new(const struct conf *c, char *err, size_t errlen);
void moderation_free(struct moderation *m);

/*
 * moderation_decide - judge @text. Fills @attempts (at most
 * MODERATION_MAX_ATTEMPTS, *nattempts of them; the last is the decision)
 * and returns the final verdict (never VERDICT_ERROR).
 */
enum verdict moderation_decide(struct moderation *m, const char *text,
			       struct attempt *attempts, int *nattempts);

const char *verdict_name(enum verdict v);

/*
 * Metrics series of moderation: one per (provider, verdict, category),
 * so that /metrics shows decisions and provider latency by all three.
 */
#define MODERATION_SERIES (4 * 4 * 5)
unsigned moderation_series(const struct attempt *a);
const char *const *moderation_series_labels(void);

#endif
