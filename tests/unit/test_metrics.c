/* Unit tests of lib/metrics.c: processes share one file, /metrics sums. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/metrics.h"

static const char *const names[] = { "GET /a", "POST /b" };

static void test_sum_over_processes(void **state)
{
	char path[64];
	(void)state;

	snprintf(path, sizeof(path), "/tmp/c4a-metrics-test-%d", getpid());
	unlink(path);
	for (int child = 0; child < 3; child++) {
		pid_t pid = fork();
		if (pid == 0) {
			struct metrics *m = metrics_open(path, 2, 8);
			if (!m)
				_exit(1);
			for (int i = 0; i < 10; i++)
				metrics_observe(m, 0, 200, 700);	/* 0.7 ms */
			metrics_observe(m, 1, 409, 3000000);	/* 3 s: past every bucket */
			metrics_free(m);
			_exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	struct metrics *m = metrics_open(path, 2, 8);
	assert_non_null(m);
	metrics_observe(m, 0, 200, 100);
	char *text = metrics_render(m, names);
	assert_non_null(strstr(text, "chat4all_http_requests_total{route=\"GET /a\",status=\"200\"} 31\n"));
	assert_non_null(strstr(text, "chat4all_http_requests_total{route=\"POST /b\",status=\"409\"} 3\n"));
	/* 100 µs falls in the first bucket, the 700 µs ones in the second */
	assert_non_null(strstr(text, "route=\"GET /a\",le=\"0.0005\"} 1\n"));
	assert_non_null(strstr(text, "route=\"GET /a\",le=\"0.001\"} 31\n"));
	assert_non_null(strstr(text, "route=\"POST /b\",le=\"2.5\"} 0\n"));
	assert_non_null(strstr(text, "route=\"POST /b\",le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(text, "\nchat4all_api_processes 1\n"));
	free(text);
	metrics_free(m);
	unlink(path);
}

/* A live process's slot is its own; a dead one's is taken over, counts
 * and all, so that counters never go backwards. */
static void test_slots_of_dead_processes(void **state)
{
	char path[64];
	struct metrics *a, *b;
	(void)state;

	snprintf(path, sizeof(path), "/tmp/c4a-metrics-slots-%d", getpid());
	unlink(path);
	pid_t pid = fork();
	if (pid == 0) {
		struct metrics *m = metrics_open(path, 2, 1);
		metrics_observe(m, 1, 201, 10);
		_exit(m ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	assert_int_equal(WEXITSTATUS(st), 0);

	a = metrics_open(path, 2, 1);
	assert_non_null(a);
	b = metrics_open(path, 2, 1);	/* the only slot is held by a live owner */
	assert_null(b);
	char *text = metrics_render(a, names);
	assert_non_null(strstr(text, "{route=\"POST /b\",status=\"201\"} 1\n"));
	free(text);
	metrics_free(a);
	unlink(path);
}

/* Counts with no duration (the trace exporters' spans): added n at a
 * time, summed over processes, rendered as a counter only. */
static void test_counts(void **state)
{
	char path[64];
	(void)state;

	snprintf(path, sizeof(path), "/tmp/c4a-metrics-counts-%d", getpid());
	unlink(path);
	pid_t pid = fork();
	if (pid == 0) {
		struct metrics *m = metrics_open(path, TRACE_NSERIES, 4);
		metrics_count(m, TRACE_EXPORTED, 512);
		metrics_count(m, TRACE_DROPPED, 3);
		metrics_count(m, TRACE_NSERIES, 7);	/* no such series: ignored */
		_exit(m ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	assert_int_equal(WEXITSTATUS(st), 0);
	struct metrics *m = metrics_open(path, TRACE_NSERIES, 4);
	assert_non_null(m);
	metrics_count(m, TRACE_EXPORTED, 1);
	metrics_count(NULL, TRACE_EXPORTED, 1);	/* (not counted: a no-op) */
	char *text = metrics_render_series(m, metrics_trace_labels(), "chat4all_trace_spans_total",
					   NULL, "Spans.");
	assert_non_null(strstr(text, "# TYPE chat4all_trace_spans_total counter\n"));
	assert_non_null(strstr(text, "\nchat4all_trace_spans_total{outcome=\"exported\"} 513\n"));
	assert_non_null(strstr(text, "\nchat4all_trace_spans_total{outcome=\"dropped\"} 3\n"));
	assert_null(strstr(text, "_bucket"));
	free(text);
	metrics_free(m);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sum_over_processes),
		cmocka_unit_test(test_slots_of_dead_processes),
		cmocka_unit_test(test_counts),
	};
	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
