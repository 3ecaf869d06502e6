#include "metrics.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define METRICS_MAGIC 0x43344131u	/* "C4A1" */

/* Status codes we count one by one; anything else lands in "other". */
static const int statuses[] = { 200, 201, 202, 204, 400, 401, 403, 404, 405,
				409, 413, 415, 429, 500, 503, 0 };
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))

/* Upper bounds of the latency buckets, in microseconds (le="…" seconds). */
static const uint64_t bounds_us[] = { 500, 1000, 2500, 5000, 10000, 25000,
				      50000, 100000, 250000, 500000, 1000000,
				      2500000 };
#define NBUCKET (sizeof(bounds_us) / sizeof(bounds_us[0]))

struct route_stats {
	uint64_t by_status[NSTATUS];
	uint64_t buckets[NBUCKET];	/* not cumulative: summed when rendered */
	uint64_t sum_us;
};

struct metrics_header {
	uint32_t magic, nroutes, nslots, pad;
};

struct metrics {
	struct metrics_header *hdr;
	size_t size;
	unsigned nroutes, nslots;
	struct route_stats *mine;
};

static size_t slot_size(unsigned nroutes)
{
	/* the owner's pid, then its routes */
	return sizeof(uint64_t) + nroutes * sizeof(struct route_stats);
}

static uint64_t *slot_pid(struct metrics *m, unsigned i)
{
	return (uint64_t *)((char *)(m->hdr + 1) + i * slot_size(m->nroutes));
}

static int claim_slot(struct metrics *m)
{
	uint64_t me = (uint64_t)getpid();

	for (int pass = 0; pass < 2; pass++)
		for (unsigned i = 0; i < m->nslots; i++) {
			uint64_t *pid = slot_pid(m, i), cur = __atomic_load_n(pid, __ATOMIC_ACQUIRE);
			/* first pass: free slots; second: slots of dead processes */
			if (pass == 0 ? cur != 0
			    : (cur == me || kill((pid_t)cur, 0) == 0 || errno != ESRCH))
				continue;
			if (__atomic_compare_exchange_n(pid, &cur, me, false,
							__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
				m->mine = (struct route_stats *)(pid + 1);
				return 0;
			}
		}
	return -1;
}

struct metrics *metrics_open(const char *path, unsigned nroutes, unsigned nslots)
{
	struct metrics *m = calloc(1, sizeof(*m));
	int fd = -1;

	if (!m)
		return NULL;
	m->nroutes = nroutes;
	m->nslots = nslots;
	m->size = sizeof(struct metrics_header) + nslots * slot_size(nroutes);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		log_error(NULL, "cannot open metrics file '%s': %s", path, strerror(errno));
		goto fail;
	}
	/* the first process sizes the file; a file of another layout is reset */
	struct stat st;
	if (fstat(fd, &st) || ((size_t)st.st_size != m->size &&
			       (ftruncate(fd, 0) || ftruncate(fd, (off_t)m->size)))) {
		log_error(NULL, "cannot size metrics file '%s'", path);
		goto fail;
	}
	m->hdr = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m->hdr == MAP_FAILED) {
		m->hdr = NULL;
		goto fail;
	}
	uint32_t zero = 0;
	__atomic_compare_exchange_n(&m->hdr->magic, &zero, METRICS_MAGIC, false,
				    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	m->hdr->nroutes = nroutes;
	m->hdr->nslots = nslots;
	if (claim_slot(m)) {
		log_error(NULL, "metrics file '%s' has no free slot", path);
		goto fail;
	}
	close(fd);
	return m;
fail:
	if (fd >= 0)
		close(fd);
	metrics_free(m);
	return NULL;
}

struct metrics *metrics_attach(const char *path, unsigned nseries, unsigned nslots)
{
	struct metrics *m = calloc(1, sizeof(*m));
	struct stat st;
	int fd;

	if (!m)
		return NULL;
	m->nroutes = nseries;
	m->nslots = nslots;
	m->size = sizeof(struct metrics_header) + nslots * slot_size(nseries);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) ||
	    (size_t)st.st_size != m->size) {
		if (fd >= 0)
			close(fd);
		free(m);
		return NULL;
	}
	m->hdr = mmap(NULL, m->size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m->hdr == MAP_FAILED) {
		free(m);
		return NULL;
	}
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	if (m->hdr)
		munmap(m->hdr, m->size);
	free(m);
}

static void bump(uint64_t *p, uint64_t by)
{
	/* one process per slot, but several threads in it (chat4all-api) */
	__atomic_add_fetch(p, by, __ATOMIC_RELAXED);
}

void metrics_observe(struct metrics *m, unsigned route, int status, uint64_t dur_us)
{
	struct route_stats *rs;
	unsigned s = 0, b = 0;

	if (!m || !m->mine || route >= m->nroutes)
		return;
	rs = &m->mine[route];
	while (statuses[s] && statuses[s] != status)
		s++;
	while (b < NBUCKET && dur_us > bounds_us[b])
		b++;
	bump(&rs->by_status[s], 1);
	if (b < NBUCKET)
		bump(&rs->buckets[b], 1);
	bump(&rs->sum_us, dur_us);
}

void metrics_count(struct metrics *m, unsigned series, uint64_t n)
{
	if (m && m->mine && series < m->nroutes && n)
		bump(&m->mine[series].by_status[NSTATUS - 1], n);	/* (status "other") */
}

struct buf {
	char *s;
	size_t len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!b->s)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len)
			break;
		char *ns = realloc(b->s, b->cap * 2);
		if (!ns) {
			free(b->s);
			b->s = NULL;
			return;
		}
		b->s = ns;
		b->cap *= 2;
	}
	b->len += (size_t)n;
}

/* Sums every slot into @sum (m->nroutes entries); returns live processes. */
static unsigned sum_slots(struct metrics *m, struct route_stats *sum)
{
	unsigned processes = 0;

	for (unsigned i = 0; i < m->nslots; i++) {
		uint64_t *pid = slot_pid(m, i);
		if (!__atomic_load_n(pid, __ATOMIC_ACQUIRE))
			continue;
		if (kill((pid_t)*pid, 0) == 0)
			processes++;
		struct route_stats *rs = (struct route_stats *)(pid + 1);
		for (unsigned r = 0; r < m->nroutes; r++) {
			for (unsigned s = 0; s < NSTATUS; s++)
				sum[r].by_status[s] += __atomic_load_n(&rs[r].by_status[s], __ATOMIC_RELAXED);
			for (unsigned k = 0; k < NBUCKET; k++)
				sum[r].buckets[k] += __atomic_load_n(&rs[r].buckets[k], __ATOMIC_RELAXED);
			sum[r].sum_us += __atomic_load_n(&rs[r].sum_us, __ATOMIC_RELAXED);
		}
	}
	return processes;
}

static uint64_t total_of(const struct route_stats *rs)
{
	uint64_t total = 0;
	for (unsigned s = 0; s < NSTATUS; s++)
		total += rs->by_status[s];
	return total;
}

/* The histogram lines of one series, labelled @labels. */
static void render_histogram(struct buf *b, const char *name, const char *labels,
			     const struct route_stats *rs)
{
	uint64_t total = total_of(rs), cum = 0;

	for (unsigned k = 0; k < NBUCKET; k++) {
		cum += rs->buckets[k];
		bprintf(b, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels,
			(double)bounds_us[k] / 1e6, (unsigned long long)cum);
	}
	bprintf(b, "%s_bucket{%s,le=\"+Inf\"} %llu\n%s_sum{%s} %.6f\n%s_count{%s} %llu\n",
		name, labels, (unsigned long long)total, name, labels, (double)rs->sum_us / 1e6,
		name, labels, (unsigned long long)total);
}

char *metrics_render(struct metrics *m, const char *const *names)
{
	struct buf b = { malloc(8192), 0, 8192 };
	struct route_stats *sum = calloc(m->nroutes, sizeof(*sum));
	unsigned processes;
	char labels[160];

	if (!b.s || !sum) {
		free(b.s);
		free(sum);
		return NULL;
	}
	processes = sum_slots(m, sum);
	bprintf(&b, "# HELP chat4all_api_processes API responder processes alive.\n"
		    "# TYPE chat4all_api_processes gauge\nchat4all_api_processes %u\n",
		processes);
	bprintf(&b, "# HELP chat4all_http_requests_total HTTP requests by route and status.\n"
		    "# TYPE chat4all_http_requests_total counter\n");
	for (unsigned r = 0; r < m->nroutes; r++)
		for (unsigned s = 0; s < NSTATUS; s++)
			if (sum[r].by_status[s]) {
				char st[8];
				if (statuses[s])
					snprintf(st, sizeof(st), "%d", statuses[s]);
				else
					strcpy(st, "other");
				bprintf(&b, "chat4all_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
					names[r], st, (unsigned long long)sum[r].by_status[s]);
			}
	bprintf(&b, "# HELP chat4all_http_request_duration_seconds Time to answer, by route.\n"
		    "# TYPE chat4all_http_request_duration_seconds histogram\n");
	for (unsigned r = 0; r < m->nroutes; r++) {
		if (!total_of(&sum[r]))
			continue;
		snprintf(labels, sizeof(labels), "route=\"%s\"", names[r]);
		render_histogram(&b, "chat4all_http_request_duration_seconds", labels, &sum[r]);
	}
	free(sum);
	return b.s;
}

char *metrics_render_series(struct metrics *m, const char *const *labels,
			    const char *counter, const char *histogram, const char *help)
{
	struct buf b = { malloc(8192), 0, 8192 };
	struct route_stats *sum = calloc(m->nroutes, sizeof(*sum));

	if (!b.s || !sum) {
		free(b.s);
		free(sum);
		return NULL;
	}
	sum_slots(m, sum);
	bprintf(&b, "# HELP %s %s\n# TYPE %s counter\n", counter, help, counter);
	for (unsigned r = 0; r < m->nroutes; r++)
		if (total_of(&sum[r]))
			bprintf(&b, "%s{%s} %llu\n", counter, labels[r],
				(unsigned long long)total_of(&sum[r]));
	if (histogram) {
		bprintf(&b, "# HELP %s Time taken, by the same labels.\n# TYPE %s histogram\n",
			histogram, histogram);
		for (unsigned r = 0; r < m->nroutes; r++)
			if (total_of(&sum[r]))
				render_histogram(&b, histogram, labels[r], &sum[r]);
	}
	free(sum);
	return b.s;
}

const char *const *metrics_stream_labels(void)
{
	static const char *const labels[STREAM_NSERIES] = {
		"what=\"opened\"", "what=\"closed\"", "what=\"events\"", "what=\"dropped_slow\"",
	};
	return labels;
}

const char *const *metrics_trace_labels(void)
{
	static const char *const labels[TRACE_NSERIES] = {
		"outcome=\"exported\"", "outcome=\"dropped\"",
	};
	return labels;
}

char *metrics_path_for(const char *metrics_file, const char *what)
{
	char *p = NULL;

	if (asprintf(&p, "%s-%s", metrics_file, what) < 0)
		return NULL;
	return p;
}
