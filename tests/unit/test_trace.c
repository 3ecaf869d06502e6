/* Unit tests of lib/trace.c: traceparent in and out, spans as OTLP JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../lib/trace.h"

static void test_traceparent(void **state)
{
	struct trace_ctx c;
	char out[TRACEPARENT_MAX];
	(void)state;

	/* W3C Trace Context's own example */
	assert_true(trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &c));
	assert_string_equal(c.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_string_equal(c.span_id, "00f067aa0ba902b7");
	assert_true(c.sampled);
	trace_format(&c, out);
	assert_string_equal(out, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
	assert_true(trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &c));
	assert_false(c.sampled);
	/* a later version may have more after a '-' */
	assert_true(trace_parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", &c));

	static const char *bad[] = {
		NULL, "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",	/* upper case */
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",	/* zero trace */
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",	/* zero parent */
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",	/* version ff */
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",	/* 00 is exactly 55 */
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(trace_parse(bad[i], &c));
}

/* A child continues its parent's trace under a span id of its own; with
 * no (or a bad) parent a span starts a trace. */
static void test_spans(void **state)
{
	struct span root, child, orphan;
	char tp[TRACEPARENT_MAX];
	struct trace_ctx c;
	(void)state;

	span_start(&root, NULL, "POST /v1/conversations/{id}/messages", SPAN_SERVER);
	assert_int_equal(strlen(root.ctx.trace_id), 32);
	assert_string_equal(root.parent_id, "");
	span_traceparent(&root, tp);
	assert_true(trace_parse(tp, &c));
	span_start(&child, tp, "moderate", SPAN_INTERNAL);
	assert_string_equal(child.ctx.trace_id, root.ctx.trace_id);
	assert_string_equal(child.parent_id, root.ctx.span_id);
	assert_string_not_equal(child.ctx.span_id, root.ctx.span_id);
	span_start(&orphan, "not a traceparent", "x", SPAN_INTERNAL);
	assert_string_not_equal(orphan.ctx.trace_id, root.ctx.trace_id);
	assert_true(orphan.ctx.sampled);

	span_attr(&child, "message.id", "m1");
	span_attr_int(&child, "seq", 7);
	child.error = true;
	struct json_object *o = span_json(&child, child.start_ns + 5);
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	assert_non_null(strstr(s, root.ctx.trace_id));
	assert_non_null(strstr(s, "\"parentSpanId\":\""));
	assert_non_null(strstr(s, "{\"key\":\"seq\",\"value\":{\"intValue\":\"7\"}}"));
	assert_non_null(strstr(s, "\"status\":{\"code\":2}"));
	json_object_put(o);
	/* no exporter runs: ending frees the attributes and keeps nothing */
	span_end(&child);
	assert_null(child.attrs);
	span_end(&root);
	span_end(&orphan);
	assert_int_equal(trace_dropped(), 0);
}

/* otlp_sample: a share of the new traces is sampled; a client's choice
 * (its traceparent's flag) is kept whatever the share. */
static void test_sampling(void **state)
{
	struct span sp;
	int sampled = 0;
	(void)state;

	trace_sample(0);
	for (int i = 0; i < 100; i++) {
		span_start(&sp, NULL, "x", SPAN_SERVER);
		sampled += sp.ctx.sampled;
	}
	assert_int_equal(sampled, 0);
	span_start(&sp, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "x", SPAN_SERVER);
	assert_true(sp.ctx.sampled);
	trace_sample(0.5);
	for (int i = 0; i < 1000; i++) {
		span_start(&sp, NULL, "x", SPAN_SERVER);
		sampled += sp.ctx.sampled;
	}
	assert_in_range(sampled, 350, 650);	/* (a binomial's 10 sigma) */
	trace_sample(1);
	span_start(&sp, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "x", SPAN_SERVER);
	assert_false(sp.ctx.sampled);
	span_start(&sp, NULL, "x", SPAN_SERVER);
	assert_true(sp.ctx.sampled);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_traceparent),
		cmocka_unit_test(test_spans),
		cmocka_unit_test(test_sampling),
	};
	return cmocka_run_group_tests_name("trace", tests, NULL, NULL);
}
