/*
 * deliveries.h - one delivery to an external address, from its row to its
 * outcome: loaded and built into a provider request (lib/channels.c),
 * paced, sent through curl, then recorded in the books and announced. The
 * deliverer (deliverer.c) decides when each of these happens.
 */
#ifndef CHAT4ALL_DELIVERIES_H
#define CHAT4ALL_DELIVERIES_H

#include "jobs.h"

#include "../lib/channels.h"
#include "../lib/netguard.h"
#include "../lib/trace.h"

#include <curl/curl.h>
#include <stdbool.h>

/* One delivery in flight, and then its outcome (a `deliver` job's state). */
struct delivery_try {
	long long delivery;
	bool pending;			/* still queued (not done by an earlier run) */
	char channel[16], address[520];
	int attempts;			/* before this one */
	char message[37], conversation[37], sender[37];
	long long seq;
	struct channel_request req;
	CURL *curl;
	struct curl_slist *headers;
	char *answer;
	size_t answer_len;
	char retry_after[16];
	long status;
	enum channel_outcome outcome;
	int retry_after_s;
	char provider_id[128];
	char why[256];
	struct netguard_check guard;	/* where it may connect (an integrator's URL is a stranger's) */
	char traceparent[56];		/* its message's request span, "" when untraced */
	struct span span;		/* the provider request's, while it is in flight */
	bool failed_now;		/* for deliveries_announce(): tell the sender */
	int slot;			/* its job's place in the deliverer's pool */
	/* bus = kafka (deliverer.c): a record that waits its address's turn
	 * in the table instead, and a record's leased stand-in job there */
	bool handover;
	long long stand_in;
};

/* deliveries_wait_kind - the kind of the job a delivery waits in (a retry,
 * its pacing, its address's turn): `deliver` itself with bus = postgres;
 * with bus = kafka `deliver_wait`, which the relay leaves in the table. */
const char *deliveries_wait_kind(const struct worker *w);

/* deliveries_load - reads the deliveries of the claimed @jobs[0..n) and
 * builds their requests; each job's state becomes its struct delivery_try
 * (freed by delivery_free). One query. */
int deliveries_load(struct worker *w, struct job *jobs, int n);

/* delivery_free - frees @j's delivery state. */
void delivery_free(struct job *j);

/* delivery_paced - true when @a's chat has no pacing token now: its outcome
 * is CHANNEL_PACED and it waits its turn as a new job. */
bool delivery_paced(struct worker *w, struct delivery_try *a);

/* delivery_start - adds @a's request to @multi. */
void delivery_start(struct worker *w, CURLM *multi, struct delivery_try *a);

/* delivery_finish - @a's request came back (@result): its outcome from the
 * provider's answer, its metrics; the curl handle is freed. */
void delivery_finish(struct worker *w, CURLM *multi, struct delivery_try *a, CURLcode result);

/* delivery_record - @j's outcome into the books, in the open transaction
 * (a handover: its job in the table, to go out in its address's turn). */
int delivery_record(struct worker *w, struct job *j);

/* deliveries_announce - after the commit: the logs, and each sender whose
 * delivery failed hears of it. */
void deliveries_announce(struct worker *w, struct job *jobs, int n);

#endif
