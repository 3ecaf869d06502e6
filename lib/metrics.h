/*
 * metrics.h - request counters and latency histograms shared by every
 * process of one instance through a memory-mapped file. Each process owns
 * one slot and is its only writer; /metrics sums the slots, so the figures
 * cover all responders whichever one answers the scrape. A slot whose
 * process died is taken over with its counts, keeping counters monotonic.
 */
#ifndef CHAT4ALL_METRICS_H
#define CHAT4ALL_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics;

/* metrics_open - map @path, claim a slot. NULL (logged) on failure. */
struct metrics *metrics_open(const char *path, unsigned nroutes, unsigned nslots);

/* metrics_attach - map @path to read other processes' figures only (no
 * slot). NULL when the file does not exist or has another layout. */
struct metrics *metrics_attach(const char *path, unsigned nseries, unsigned nslots);
void metrics_free(struct metrics *m);

/* metrics_observe - one request of @route answered @status in @dur_us. */
void metrics_observe(struct metrics *m, unsigned route, int status, uint64_t dur_us);

/*
 * metrics_render - Prometheus text of every slot summed, route i named
 * @names[i]. Returns a malloc()ed string the caller frees.
 */
char *metrics_render(struct metrics *m, const char *const *names);

/*
 * metrics_render_series - the same figures for series that are not HTTP
 * routes: @labels[i] is the label set of series i ('provider="x",…'); the
 * counter @counter sums every code, the histogram is @histogram.
 */
char *metrics_render_series(struct metrics *m, const char *const *labels,
			    const char *counter, const char *histogram, const char *help);

/* metrics_count - @n more of series @series, a count with no duration. */
void metrics_count(struct metrics *m, unsigned series, uint64_t n);

/* The stream gateway's counters (its own file beside the API's). */
enum stream_series { STREAM_OPENED, STREAM_CLOSED, STREAM_EVENTS, STREAM_DROPPED, STREAM_NSERIES };
const char *const *metrics_stream_labels(void);

/* Spans the trace exporters of every process handed over or lost. */
enum trace_series { TRACE_EXPORTED, TRACE_DROPPED, TRACE_NSERIES };
const char *const *metrics_trace_labels(void);

/* metrics_path_for - "<metrics_file>-<what>", malloc()ed. */
char *metrics_path_for(const char *metrics_file, const char *what);

#endif
