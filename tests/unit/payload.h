/*
 * payload.h - the unit tests' provider payloads (tests/unit/payloads/, JSON
 * shaped after the providers' documented webhook examples), read as the
 * API takes a webhook (strict JSON). The tests run from the checkout's
 * root (make test), as __FILE__ is given to the compiler.
 */
#ifndef CHAT4ALL_TEST_PAYLOAD_H
#define CHAT4ALL_TEST_PAYLOAD_H

#include <json-c/json.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/validate.h"

/* payloads/@name, parsed; the test fails when it cannot be read. */
static inline struct json_object *payload(const char *name, char **raw, size_t *len)
{
	char dir[512], path[1024];
	const char *why = NULL;
	struct json_object *o = NULL;
	FILE *f;
	long n;

	snprintf(dir, sizeof(dir), "%s", __FILE__);
	snprintf(path, sizeof(path), "%s/payloads/%s", dirname(dir), name);
	if (!(f = fopen(path, "rb")))
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	char *s = malloc((size_t)n + 1);
	if (s && fread(s, 1, (size_t)n, f) == (size_t)n) {
		s[n] = '\0';
		o = validate_json_object(s, (size_t)n, 32, &why);
	}
	fclose(f);
	if (raw && s) {
		*raw = s;
		*len = (size_t)n;
	} else {
		free(s);
	}
	return o;
}

#endif
