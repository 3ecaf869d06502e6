/*
 * http.h - a small libcurl client for the integration tests: one call per
 * request, the answer's status, headers, body and parsed JSON.
 */
#ifndef CHAT4ALL_TEST_HTTP_H
#define CHAT4ALL_TEST_HTTP_H

#include <curl/curl.h>
#include <json-c/json.h>
#include <stddef.h>

struct resp {
	long status;
	char *body;
	size_t len;
	char headers[8192];
	struct json_object *json;	/* NULL when the body is not JSON */
};

/* The base URL ("http://127.0.0.1:PORT") comes from CHAT4ALL_TEST_URL. */
void http_init(void);

/* Every easy handle of the tests: over https, trusting the certificate
 * named by CHAT4ALL_TEST_CA (the instance's own, self-signed) and no other
 * (no "insecure": the suites check what a client that verifies sees). */
CURL *http_easy(void);

/* The HTTP version http_easy() asks for (CURL_HTTP_VERSION_*); 0,
 * libcurl's choice: HTTP/2 over https (lighttpd offers it), else 1.1. */
extern long http_version;

/*
 * http - @method @path with optional bearer @token, @body (sent with
 * @content_type, default application/json) and @extra header lines
 * (several separated by "\n").
 * Returns the status (0 when no answer came).
 */
long http(struct resp *out, const char *method, const char *path, const char *token,
	  const char *body, size_t body_len, const char *content_type, const char *extra);
void resp_free(struct resp *r);

/* Header value (case-insensitive name) into @buf; NULL when absent. */
const char *resp_header(const struct resp *r, const char *name, char *buf, size_t len);

/* JSON helpers: a member by dotted path ("items.0.id"); NULL when absent. */
struct json_object *jget(struct json_object *o, const char *path);
const char *jstr(struct json_object *o, const char *path);
long long jint(struct json_object *o, const char *path);

#endif
