/*
 * fuzz_request - a request's path and query as the API reads them
 * (fcgi/routes.c's matching, included here for it; fcgi/req.c's form and
 * query decoding): every route is tried against the path, and the query
 * string is read as a sign-in form and as list parameters. Input: the
 * path, a newline, the query.
 */
#include "../../fcgi/routes.c"

#include "../../lib/validate.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), *query, buf[256];
	struct req r;

	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	query = strchr(in, '\n');
	if (query)
		*query++ = '\0';
	for (size_t i = 0; i < NROUTES; i++) {
		memset(&r, 0, sizeof(r));
		if (path_match(routes[i].path, in, &r))
			for (int p = 0; p < REQ_MAX_PARAMS; p++)
				if (strlen(r.params[p]) > REQ_PARAM_MAX || strpbrk(r.params[p], "/ ?"))
					abort();	/* a segment, bounded, one spelling */
	}
	if (query) {
		const char *names[] = { "username", "password", "grant_type", "cursor", "limit", "q",
					"channel", "address", "hub.challenge", "sig", "expires" };
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (req_form_value(query, strlen(query), names[i], buf, sizeof(buf)) &&
			    (strlen(buf) >= sizeof(buf) || !validate_utf8(buf, strlen(buf))))
				abort();
	}
	free(in);
	return 0;
}
