#include "http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *base_url;
long http_version;

void http_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	base_url = getenv("CHAT4ALL_TEST_URL");
	if (!base_url) {
		fprintf(stderr, "CHAT4ALL_TEST_URL is not set\n");
		exit(2);
	}
}

CURL *http_easy(void)
{
	CURL *c = curl_easy_init();
	const char *ca = getenv("CHAT4ALL_TEST_CA");

	if (c && ca && *ca)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	if (c && http_version)
		curl_easy_setopt(c, CURLOPT_HTTP_VERSION, http_version);
	return c;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;
	char *nb = realloc(r->body, r->len + size * n + 1);

	if (!nb)
		return 0;
	memcpy(nb + r->len, p, size * n);
	r->body = nb;
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t used = strlen(r->headers), len = size * n;

	if (used + len < sizeof(r->headers)) {
		memcpy(r->headers + used, p, len);
		r->headers[used + len] = '\0';
	}
	return len;
}

long http(struct resp *out, const char *method, const char *path, const char *token,
	  const char *body, size_t body_len, const char *content_type, const char *extra)
{
	CURL *c = http_easy();
	struct curl_slist *h = NULL;
	char url[4096], line[8192];

	memset(out, 0, sizeof(*out));
	snprintf(url, sizeof(url), "%s%s", base_url, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
	if (token) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, line);
	}
	if (body) {
		snprintf(line, sizeof(line), "Content-Type: %s",
			 content_type ? content_type : "application/json");
		h = curl_slist_append(h, line);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	h = curl_slist_append(h, "Expect:");
	/* @extra may hold several header lines, one per "\n" */
	for (const char *e = extra; e && *e;) {
		size_t n = strcspn(e, "\n");
		snprintf(line, sizeof(line), "%.*s", (int)n, e);
		h = curl_slist_append(h, line);
		e += n + (e[n] == '\n');
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	if (out->body)
		out->json = json_tokener_parse(out->body);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return out->status;
}

void resp_free(struct resp *r)
{
	free(r->body);
	json_object_put(r->json);
	memset(r, 0, sizeof(*r));
}

const char *resp_header(const struct resp *r, const char *name, char *buf, size_t len)
{
	size_t n = strlen(name);
	const char *p = r->headers;

	while (p && *p) {
		if (!strncasecmp(p, name, n) && p[n] == ':') {
			const char *v = p + n + 1, *e = strpbrk(v, "\r\n");
			while (*v == ' ')
				v++;
			snprintf(buf, len, "%.*s", (int)(e ? e - v : (long)strlen(v)), v);
			return buf;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

struct json_object *jget(struct json_object *o, const char *path)
{
	char key[128];

	while (o && *path) {
		size_t n = strcspn(path, ".");
		snprintf(key, sizeof(key), "%.*s", (int)n, path);
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, (size_t)atoi(key));
		else if (!json_object_object_get_ex(o, key, &o))
			return NULL;
		path += n + (path[n] == '.');
	}
	return o;
}

const char *jstr(struct json_object *o, const char *path)
{
	struct json_object *v = jget(o, path);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

long long jint(struct json_object *o, const char *path)
{
	struct json_object *v = jget(o, path);
	return v ? json_object_get_int64(v) : -1;
}
