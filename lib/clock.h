/*
 * clock.h - the one monotonic clock every deadline and wait is measured on
 * (never the wall clock: an NTP step must not end a wait early or late).
 */
#ifndef CHAT4ALL_CLOCK_H
#define CHAT4ALL_CLOCK_H

#include <time.h>

/* clock_ms - milliseconds on CLOCK_MONOTONIC, from an arbitrary start. */
static inline long long clock_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

#endif
