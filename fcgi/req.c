/*
 * req.c - reading a FastCGI request and writing its answer. The only file
 * of the API besides main.c that knows libfcgi.
 */
#include "req.h"

#include "../lib/err.h"
#include "../lib/validate.h"

#include <ctype.h>
#include <errno.h>
#include <fcgiapp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static FCGX_Request *fr(const struct req *r)
{
	return r->fcgi;
}

const char *req_env(const struct req *r, const char *name)
{
	return FCGX_GetParam(name, fr(r)->envp);
}

const char *req_ip(const struct req *r)
{
	const char *ip = req_env(r, "REMOTE_ADDR");
	return ip ? ip : "";
}

/* A client's X-Request-Id is kept when it is short and plain; otherwise
 * we make one, so every log line of this request can be found. */
static void req_make_id(struct req *r)
{
	const char *given = req_env(r, "HTTP_X_REQUEST_ID");
	unsigned char raw[12];

	if (given) {
		size_t n = strlen(given), i;
		for (i = 0; i < n && i < 64 &&
			    (isalnum((unsigned char)given[i]) || given[i] == '-' ||
			     given[i] == '_' || given[i] == '.'); i++)
			;
		if (n && i == n && n <= 64) {
			memcpy(r->id, given, n + 1);
			return;
		}
	}
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		memset(raw, 0, sizeof(raw));
	for (size_t i = 0; i < sizeof(raw); i++)
		sprintf(r->id + 2 * i, "%02x", raw[i]);
}

void req_init(struct req *r, struct app *app, void *fcgi)
{
	const char *uri, *q;

	memset(r, 0, sizeof(*r));
	r->app = app;
	r->fcgi = fcgi;
	r->method = req_env(r, "REQUEST_METHOD");
	if (!r->method)
		r->method = "GET";
	uri = req_env(r, "REQUEST_URI");
	if (!uri)
		uri = "/";
	q = strchr(uri, '?');
	r->path = strndup(uri, q ? (size_t)(q - uri) : strlen(uri));
	r->query = q ? q + 1 : "";
	req_make_id(r);
}

void req_free(struct req *r)
{
	free(r->path);
	free(r->body);
	free(r->out);
	free(r->detail);
	free(r->sendfile);
	json_object_put(r->errors);
	memset(r, 0, sizeof(*r));
}

int req_body(struct req *r)
{
	const char *cl = req_env(r, "CONTENT_LENGTH");
	long long len = cl && *cl ? strtoll(cl, NULL, 10) : 0;
	size_t got = 0;

	if (r->body_read)
		return 0;
	r->body_read = true;
	if (len < 0)
		len = 0;
	if (len > r->app->conf.max_body) {
		req_detail(r, "the body is %lld bytes; the limit is %ld", len,
			   r->app->conf.max_body);
		return ERR_TOOLARGE;
	}
	if (!(r->body = malloc((size_t)len + 1)))
		return ERR_INTERNAL;
	while (got < (size_t)len) {
		int n = FCGX_GetStr(r->body + got, (int)((size_t)len - got), fr(r)->in);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	r->body[got] = '\0';
	r->body_len = got;
	return 0;
}

long long req_content_length(const struct req *r)
{
	const char *cl = req_env(r, "CONTENT_LENGTH");
	char *end;
	long long n;

	if (!cl || !*cl)
		return -1;
	n = strtoll(cl, &end, 10);
	return *end || n < 0 ? -1 : n;
}

int req_read(struct req *r, char *buf, int len)
{
	int n = FCGX_GetStr(buf, len, fr(r)->in);
	return n > 0 ? n : 0;
}

/* The media type without parameters, compared case-insensitively. */
bool req_content_type_is(const struct req *r, const char *type)
{
	const char *ct = req_env(r, "CONTENT_TYPE");
	size_t n = strlen(type);

	return ct && !strncasecmp(ct, type, n) &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

int req_json(struct req *r, struct json_object **out)
{
	const char *why;
	int rc;

	*out = NULL;
	if (!req_content_type_is(r, "application/json")) {
		req_detail(r, "send the body as application/json");
		return ERR_MEDIATYPE;
	}
	if ((rc = req_body(r)))
		return rc;
	*out = validate_json_object(r->body, r->body_len,
				    (int)r->app->conf.json_max_depth, &why);
	if (!*out) {
		req_detail(r, "%s", why);
		return ERR_INVALID_JSON;
	}
	return 0;
}

void req_field_error(struct req *r, const char *field, const char *msg)
{
	struct json_object *e = json_object_new_object();

	if (!r->errors)
		r->errors = json_object_new_array();
	json_object_object_add(e, "field", json_object_new_string(field));
	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_array_add(r->errors, e);
}

const char *req_str(struct req *r, struct json_object *o, const char *field,
		    bool required, size_t max_chars)
{
	struct json_object *v;
	const char *s;
	char msg[96];

	if (!json_object_object_get_ex(o, field, &v) || json_object_is_type(v, json_type_null)) {
		if (required)
			req_field_error(r, field, "is required");
		return NULL;
	}
	if (!json_object_is_type(v, json_type_string)) {
		req_field_error(r, field, "must be a string");
		return NULL;
	}
	s = json_object_get_string(v);
	/* json-c lets "\u0000" through; PostgreSQL text cannot hold it */
	if (strlen(s) != (size_t)json_object_get_string_len(v)) {
		req_field_error(r, field, "must not contain NUL characters");
		return NULL;
	}
	if (!validate_utf8(s, strlen(s))) {	/* what an escape decoded to, too */
		req_field_error(r, field, "must be valid UTF-8");
		return NULL;
	}
	if (validate_utf8_chars(s) > max_chars) {
		snprintf(msg, sizeof(msg), "must be at most %zu characters", max_chars);
		req_field_error(r, field, msg);
		return NULL;
	}
	return s;
}

bool req_int(struct req *r, struct json_object *o, const char *field,
	     long long min, long long max, long long *out)
{
	struct json_object *v;
	char msg[96];

	if (!json_object_object_get_ex(o, field, &v) || json_object_is_type(v, json_type_null))
		return false;
	if (!json_object_is_type(v, json_type_int)) {
		req_field_error(r, field, "must be an integer");
		return false;
	}
	errno = 0;
	*out = json_object_get_int64(v);
	if (errno || *out < min || *out > max) {
		snprintf(msg, sizeof(msg), "must be from %lld to %lld", min, max);
		req_field_error(r, field, msg);
		return false;
	}
	return true;
}

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* Form-style decoding (application/x-www-form-urlencoded): '+' is a space. */
static bool form_decode(const char *s, size_t n, char *buf, size_t len)
{
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;
			if (i + 2 >= n || (hi = hexval((unsigned char)s[i + 1])) < 0 ||
			    (lo = hexval((unsigned char)s[i + 2])) < 0)
				return false;
			c = hi * 16 + lo;
			i += 2;
		}
		if (j + 1 >= len)
			return false;
		buf[j++] = (char)c;
	}
	buf[j] = '\0';
	return validate_utf8(buf, j);
}

bool req_form_value(const char *form, size_t formlen, const char *name,
		    char *buf, size_t len)
{
	size_t nl = strlen(name);
	const char *p = form, *end = form + formlen;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		if ((size_t)(stop - p) > nl && !strncmp(p, name, nl) && p[nl] == '=')
			return form_decode(p + nl + 1, (size_t)(stop - p - (long)nl - 1), buf, len);
		p = stop + 1;
	}
	return false;
}

bool req_query(const struct req *r, const char *name, char *buf, size_t len)
{
	return req_form_value(r->query, strlen(r->query), name, buf, len);
}

int req_query_limit(struct req *r, int def, int max)
{
	char buf[16], *end;
	long v;

	if (!req_query(r, "limit", buf, sizeof(buf)))
		return def;
	v = strtol(buf, &end, 10);
	if (end == buf || *end || v < 1 || v > max) {
		char msg[64];
		snprintf(msg, sizeof(msg), "must be an integer from 1 to %d", max);
		req_field_error(r, "limit", msg);
		return -1;
	}
	return (int)v;
}

void req_detail(struct req *r, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	free(r->detail);
	r->detail = s;
}

void req_header(struct req *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(r->headers + r->headers_len,
		      sizeof(r->headers) - r->headers_len - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(r->headers) - r->headers_len - 2) {
		r->headers[r->headers_len] = '\0';	/* vsnprintf wrote a part: never a partial line */
		return;
	}
	r->headers_len += (size_t)n;
	memcpy(r->headers + r->headers_len, "\r\n", 3);
	r->headers_len += 2;
}

int req_reply_take(struct req *r, int status, char *json)
{
	free(r->out);
	r->status = status;
	r->out = json;
	return 0;
}

int req_reply(struct req *r, int status, const char *json)
{
	return req_reply_take(r, status, json ? strdup(json) : NULL);
}

void req_send(struct req *r)
{
	FCGX_Stream *out = fr(r)->out;
	size_t len = r->out ? strlen(r->out) : 0;
	const char *type = r->content_type ? r->content_type
			 : r->status >= 400 ? "application/problem+json"
					    : "application/json";
	char head[5120];	/* the X-Sendfile path can be long */
	int n;

	/* libfcgi's own printf knows no %zu: format here */
	n = snprintf(head, sizeof(head),
		     "Status: %d\r\nX-Request-Id: %s\r\nCache-Control: no-store\r\n",
		     r->status, r->id);
	if (r->sendfile)	/* lighttpd sets the length, and answers Range */
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Type: %s\r\nX-Sendfile: %s\r\n",
			      r->file_type, r->sendfile);
	else if (r->out)
		n += snprintf(head + n, sizeof(head) - (size_t)n,
			      "Content-Type: %s\r\nContent-Length: %zu\r\n", type, len);
	else if (r->status != 204)
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: 0\r\n");
	FCGX_PutStr(head, n, out);
	if (r->headers_len)
		FCGX_PutStr(r->headers, (int)r->headers_len, out);
	FCGX_PutS("\r\n", out);
	if (len && strcmp(r->method, "HEAD"))
		FCGX_PutStr(r->out, (int)len, out);
}
