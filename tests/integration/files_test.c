/*
 * files_test.c - files over real HTTP through lighttpd (API.md "Files"):
 * tus uploads with resume after a dropped connection, every refusal of
 * the protocol, quota and size limits, verification, file messages,
 * downloads with Range for the people who may see them (404 for anyone
 * else), signed links, termination, expiry and orphan cleanup.
 *
 * The harness (tools/test.sh) runs the stack with a 4 MiB maximum size
 * and a 6 MiB quota, so that the limits are reached with small files.
 */
#include "client.h"
#include "http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MiB (1024 * 1024)
#define TUS "Tus-Resumable: 1.0.0"
#define OCTETS "application/offset+octet-stream"

/* ------------------------------------------------------------ helpers */

static unsigned char *random_bytes(size_t n, unsigned seed)
{
	unsigned char *b = malloc(n);
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (unsigned char)x;
	}
	return b;
}

static void sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int len;

	EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void base64(const void *data, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, data, (int)n);
}

/* "filename <b64>,filetype <b64>[,sha256 <b64>]" */
static void metadata(char *out, size_t len, const char *name, const char *type, const char *sha)
{
	char n64[1400], t64[200], s64[100];

	base64(name, strlen(name), n64);
	base64(type, strlen(type), t64);
	if (sha)
		base64(sha, strlen(sha), s64);
	snprintf(out, len, "Upload-Metadata: filename %s,filetype %s%s%s", n64, t64,
		 sha ? ",sha256 " : "", sha ? s64 : "");
}

/* POST /v1/files; the new id into @id. Extra headers: @headers. */
static long create(struct resp *r, struct user *u, long long size, const char *headers, char id[37])
{
	char h[4096], loc[256];

	snprintf(h, sizeof(h), TUS "\nUpload-Length: %lld%s%s", size, headers ? "\n" : "",
		 headers ? headers : "");
	http(r, "POST", "/v1/files", u->access, "", 0, NULL, h);
	if (id) {
		id[0] = '\0';
		if (r->status == 201 && resp_header(r, "Location", loc, sizeof(loc)))
			snprintf(id, 37, "%.36s", loc + strlen("/v1/files/"));
	}
	return r->status;
}

static long patch(struct resp *r, struct user *u, const char *id, long long offset,
		  const void *data, size_t n, const char *headers)
{
	char h[1024], path[64];

	snprintf(h, sizeof(h), TUS "\nUpload-Offset: %lld%s%s", offset, headers ? "\n" : "",
		 headers ? headers : "");
	snprintf(path, sizeof(path), "/v1/files/%s", id);
	return http(r, "PATCH", path, u->access, data ? data : "", n, OCTETS, h);
}

/* The upload's offset as HEAD tells it (-1: no offset in the answer). */
static long long offset_of(struct user *u, const char *id, long *status)
{
	struct resp r;
	char path[64], v[32];
	long long off = -1;

	snprintf(path, sizeof(path), "/v1/files/%s", id);
	http(&r, "HEAD", path, u->access, NULL, 0, NULL, TUS);
	if (status)
		*status = r.status;
	if (resp_header(&r, "Upload-Offset", v, sizeof(v)))
		off = atoll(v);
	resp_free(&r);
	return off;
}

/* Uploads @n bytes as one file and waits until it is verified. */
static void upload(struct user *u, const void *data, size_t n, const char *name, const char *type,
		   char id[37])
{
	struct resp r;
	char meta[2048], sha[65];

	sha256_hex(data, n, sha);
	metadata(meta, sizeof(meta), name, type, sha);
	assert_int_equal(create(&r, u, (long long)n, meta, id), 201);
	resp_free(&r);
	assert_int_equal(patch(&r, u, id, 0, data, n, NULL), 204);
	resp_free(&r);
}

/* Polls GET /v1/files/{id} until its status is @want (30 s at most: a
 * bound against a broken worker, not a measure). */
static bool file_status(struct user *u, const char *id, const char *want)
{
	for (int i = 0; i < 600; i++) {
		struct resp r;
		get(&r, u->access, "/v1/files/%s", id);
		bool done = r.status == 200 && !strcmp(jstr(r.json, "status"), want);
		resp_free(&r);
		if (done)
			return true;
		usleep(50 * 1000);
	}
	fprintf(stderr, "file %s never became %s\n", id, want);
	return false;
}

static long long storage_used(struct user *u)
{
	char cmd[512], out[64] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s -c \"SELECT storage_used FROM users WHERE id = '%s'\"",
		 getenv("CHAT4ALL_TEST_PSQL"), u->id);
	assert_non_null(p = popen(cmd, "r"));
	assert_non_null(fgets(out, sizeof(out), p));
	pclose(p);
	return atoll(out);
}

static void stored_path(const char *id, char *out, size_t len)
{
	snprintf(out, len, "%s/%.2s/%.2s/%s", getenv("CHAT4ALL_TEST_FILES_DIR"), id + 32, id + 34, id);
}

static bool stored(const char *id)
{
	char path[1024];

	stored_path(id, path, sizeof(path));
	return access(path, F_OK) == 0;
}

static void sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sql(const char *fmt, ...)
{
	char q[1024], cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s -c \"%s\" >/dev/null", getenv("CHAT4ALL_TEST_PSQL"), q);
	assert_int_equal(system(cmd), 0);
}

/* ------------------------------------------------------------ the tests */

static void test_discovery_and_versions(void **state)
{
	struct resp r;
	struct user u;
	char v[128], id[37];
	(void)state;

	http(&r, "OPTIONS", "/v1/files", NULL, NULL, 0, NULL, NULL);
	assert_int_equal(r.status, 204);
	assert_string_equal(resp_header(&r, "Tus-Version", v, sizeof(v)), "1.0.0");
	assert_string_equal(resp_header(&r, "Tus-Extension", v, sizeof(v)),
			    "creation,creation-with-upload,checksum,termination,expiration");
	assert_string_equal(resp_header(&r, "Tus-Max-Size", v, sizeof(v)), "4194304");
	assert_string_equal(resp_header(&r, "Tus-Checksum-Algorithm", v, sizeof(v)), "sha1,sha256");
	resp_free(&r);

	signup(&u, "tusv");
	/* another protocol version, or none: 412 with the one we speak */
	http(&r, "POST", "/v1/files", u.access, "", 0, NULL, "Tus-Resumable: 0.2.2\nUpload-Length: 5");
	assert_problem(&r, 412, "precondition-failed");
	assert_string_equal(resp_header(&r, "Tus-Version", v, sizeof(v)), "1.0.0");
	resp_free(&r);
	http(&r, "POST", "/v1/files", u.access, "", 0, NULL, "Upload-Length: 5");
	assert_problem(&r, 412, "precondition-failed");
	resp_free(&r);
	assert_int_equal(create(&r, &u, 5, NULL, id), 201);
	assert_string_equal(resp_header(&r, "Tus-Resumable", v, sizeof(v)), "1.0.0");
	assert_non_null(resp_header(&r, "Upload-Expires", v, sizeof(v)));
	resp_free(&r);
	/* no token: 401 */
	http(&r, "POST", "/v1/files", NULL, "", 0, NULL, TUS "\nUpload-Length: 5");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
}

/* A request body that stops after @left bytes: then the line goes dead
 * (after a moment to let them arrive). */
struct cut_body {
	const unsigned char *p;
	size_t left;
};

static size_t cut_body_read(char *buf, size_t size, size_t n, void *arg)
{
	struct cut_body *b = arg;
	size_t len = size * n < b->left ? size * n : b->left;

	if (!len) {
		usleep(300 * 1000);
		return CURL_READFUNC_ABORT;
	}
	memcpy(buf, b->p, len);
	b->p += len;
	b->left -= len;
	return len;
}

/* A PATCH that breaks off keeps what arrived; the client asks HEAD where
 * to go on, and the finished file is byte for byte what was sent. */
static void test_resume_after_disconnect(void **state)
{
	enum { SIZE = 3 * MiB / 2, FIRST = 512 * 1024, SENT = 300 * 1024 };
	struct resp r;
	struct user u;
	char id[37], meta[1024], sha[65];
	unsigned char *data = random_bytes(SIZE, 1);
	(void)state;

	signup(&u, "resume");
	sha256_hex(data, SIZE, sha);
	metadata(meta, sizeof(meta), "big.bin", "application/octet-stream", sha);
	assert_int_equal(create(&r, &u, SIZE, meta, id), 201);
	resp_free(&r);
	assert_int_equal(patch(&r, &u, id, 0, data, FIRST, NULL), 204);
	char v[32];
	assert_string_equal(resp_header(&r, "Upload-Offset", v, sizeof(v)), "524288");
	resp_free(&r);

	/* the second PATCH promises the rest, sends 300 KiB, and hangs up
	 * (libcurl, so that it is the same over http and https) */
	struct cut_body body = { data + FIRST, SENT };
	CURL *c = http_easy();
	struct curl_slist *h = NULL;
	char url[512], line[1100];
	snprintf(url, sizeof(url), "%s/v1/files/%s", getenv("CHAT4ALL_TEST_URL"), id);
	snprintf(line, sizeof(line), "Authorization: Bearer %s", u.access);
	h = curl_slist_append(h, line);
	snprintf(line, sizeof(line), "Upload-Offset: %d", FIRST);
	h = curl_slist_append(h, line);
	h = curl_slist_append(h, TUS);
	h = curl_slist_append(h, "Content-Type: " OCTETS);
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PATCH");
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(SIZE - FIRST));
	curl_easy_setopt(c, CURLOPT_READFUNCTION, cut_body_read);
	curl_easy_setopt(c, CURLOPT_READDATA, &body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	assert_int_equal(curl_easy_perform(c), CURLE_ABORTED_BY_CALLBACK);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);

	/* what arrived was kept (HEAD moves once the responder saw the end) */
	long long off = FIRST;
	for (int i = 0; i < 200 && off == FIRST; i++, usleep(50 * 1000))
		off = offset_of(&u, id, NULL);
	assert_true(off > FIRST);
	assert_true(off <= FIRST + SENT);
	/* and the client goes on from there */
	assert_int_equal(patch(&r, &u, id, off, data + off, (size_t)(SIZE - off), NULL), 204);
	assert_int_equal(atoll(resp_header(&r, "Upload-Offset", v, sizeof(v))), SIZE);
	resp_free(&r);
	assert_true(file_status(&u, id, "ready"));
	assert_int_equal(get(&r, u.access, "/v1/files/%s", id), 200);
	assert_string_equal(jstr(r.json, "sha256"), sha);
	assert_int_equal(jint(r.json, "size"), SIZE);
	resp_free(&r);
	assert_int_equal(get(&r, u.access, "/v1/files/%s/content", id), 200);
	assert_int_equal(r.len, SIZE);
	assert_memory_equal(r.body, data, SIZE);
	resp_free(&r);
	free(data);
}

static void test_patch_refusals(void **state)
{
	struct resp r;
	struct user u, other;
	char id[37], v[128], sum[100], h[200], path[64];
	unsigned char *data = random_bytes(4096, 2);
	(void)state;

	signup(&u, "refuse");
	signup(&other, "refuse");
	assert_int_equal(create(&r, &u, 4096, NULL, id), 201);
	resp_free(&r);
	assert_int_equal(patch(&r, &u, id, 0, data, 1000, NULL), 204);
	resp_free(&r);

	/* a wrong offset: 409, and the right one in the answer */
	assert_int_equal(patch(&r, &u, id, 10, data + 10, 100, NULL), 409);
	assert_problem(&r, 409, "conflict");
	assert_string_equal(resp_header(&r, "Upload-Offset", v, sizeof(v)), "1000");
	resp_free(&r);
	/* the wrong type: 415 */
	snprintf(path, sizeof(path), "/v1/files/%s", id);
	http(&r, "PATCH", path, u.access, "abc", 3, "application/json", TUS "\nUpload-Offset: 1000");
	assert_problem(&r, 415, "unsupported-media-type");
	resp_free(&r);
	/* no offset, a bad one */
	http(&r, "PATCH", path, u.access, "abc", 3, OCTETS, TUS);
	assert_problem(&r, 400, "validation");
	assert_field_error(&r, "Upload-Offset");
	resp_free(&r);
	http(&r, "PATCH", path, u.access, "abc", 3, OCTETS, TUS "\nUpload-Offset: -5");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	/* a checksum that does not match: 460, the chunk discarded */
	unsigned char md[32];
	unsigned int mdlen;
	EVP_Digest("something else", 14, md, &mdlen, EVP_sha256(), NULL);
	base64(md, 32, sum);
	snprintf(h, sizeof(h), "Upload-Checksum: sha256 %s", sum);
	assert_int_equal(patch(&r, &u, id, 1000, data + 1000, 1000, h), 460);
	assert_problem(&r, 460, "checksum-mismatch");
	resp_free(&r);
	assert_int_equal(offset_of(&u, id, NULL), 1000);
	/* an algorithm we do not know, a digest that is not base64 */
	assert_int_equal(patch(&r, &u, id, 1000, data + 1000, 10, "Upload-Checksum: md5 AAAA"), 400);
	assert_field_error(&r, "Upload-Checksum");
	resp_free(&r);
	assert_int_equal(patch(&r, &u, id, 1000, data + 1000, 10, "Upload-Checksum: sha1 !!!!"), 400);
	resp_free(&r);
	/* the right checksum (sha1 this time) is taken */
	EVP_Digest(data + 1000, 1000, md, &mdlen, EVP_sha1(), NULL);
	base64(md, 20, sum);
	snprintf(h, sizeof(h), "Upload-Checksum: sha1 %s", sum);
	assert_int_equal(patch(&r, &u, id, 1000, data + 1000, 1000, h), 204);
	resp_free(&r);
	assert_int_equal(offset_of(&u, id, NULL), 2000);
	/* past the declared length: 413, nothing written */
	unsigned char *more = random_bytes(3000, 3);
	assert_int_equal(patch(&r, &u, id, 2000, more, 3000, NULL), 413);
	assert_problem(&r, 413, "too-large");
	resp_free(&r);
	assert_int_equal(offset_of(&u, id, NULL), 2000);
	free(more);
	/* someone else's upload, or none: 404 */
	long status;
	assert_int_equal(offset_of(&other, id, &status), -1);
	assert_int_equal(status, 404);
	assert_int_equal(patch(&r, &other, id, 2000, data, 10, NULL), 404);
	resp_free(&r);
	assert_int_equal(patch(&r, &u, "01a2010d-0000-7000-8000-000000000000", 0, data, 10, NULL), 404);
	resp_free(&r);
	/* the rest, then a PATCH after the end changes nothing */
	assert_int_equal(patch(&r, &u, id, 2000, data + 2000, 2096, NULL), 204);
	resp_free(&r);
	assert_int_equal(patch(&r, &u, id, 4096, data, 10, NULL), 413);
	resp_free(&r);
	assert_true(file_status(&u, id, "ready"));
	free(data);
}

static void test_creation_refusals(void **state)
{
	struct resp r;
	struct user u;
	char meta[1024], id[37];
	(void)state;

	signup(&u, "create");
	http(&r, "POST", "/v1/files", u.access, "", 0, NULL, TUS);
	assert_problem(&r, 400, "validation");
	assert_field_error(&r, "Upload-Length");
	resp_free(&r);
	http(&r, "POST", "/v1/files", u.access, "", 0, NULL, TUS "\nUpload-Length: twelve");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	http(&r, "POST", "/v1/files", u.access, "", 0, NULL, TUS "\nUpload-Defer-Length: 1");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	assert_int_equal(create(&r, &u, 5, "Upload-Metadata: filename not*base64", NULL), 400);
	assert_field_error(&r, "Upload-Metadata");
	resp_free(&r);
	metadata(meta, sizeof(meta), "a.txt", "not a type", NULL);
	assert_int_equal(create(&r, &u, 5, meta, NULL), 400);
	assert_field_error(&r, "filetype");
	resp_free(&r);
	/* no type (a browser that does not know it): the generic one */
	char blank[37];
	metadata(meta, sizeof(meta), "notes", "", NULL);
	assert_int_equal(create(&r, &u, 0, meta, blank), 201);
	resp_free(&r);
	assert_int_equal(get(&r, u.access, "/v1/files/%s", blank), 200);
	assert_string_equal(jstr(r.json, "mime"), "application/octet-stream");
	resp_free(&r);
	metadata(meta, sizeof(meta), "a.txt", "text/plain", "abc123");
	assert_int_equal(create(&r, &u, 5, meta, NULL), 400);
	assert_field_error(&r, "sha256");
	resp_free(&r);
	/* over the maximum size (4 MiB here): 413 */
	assert_int_equal(create(&r, &u, 4 * MiB + 1, NULL, NULL), 413);
	assert_problem(&r, 413, "too-large");
	resp_free(&r);
	/* the quota (6 MiB) counts declared lengths: 4 + 2 fit, one byte more does not */
	assert_int_equal(create(&r, &u, 4 * MiB, NULL, id), 201);
	resp_free(&r);
	assert_int_equal(create(&r, &u, 2 * MiB, NULL, NULL), 201);
	resp_free(&r);
	assert_int_equal(create(&r, &u, 1, NULL, NULL), 413);
	assert_problem(&r, 413, "too-large");
	resp_free(&r);
	assert_int_equal(storage_used(&u), 6 * MiB);
	/* termination gives the space back */
	char path[64];
	snprintf(path, sizeof(path), "/v1/files/%s", id);
	http(&r, "DELETE", path, u.access, NULL, 0, NULL, TUS);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	assert_int_equal(offset_of(&u, id, NULL), -1);
	assert_int_equal(storage_used(&u), 2 * MiB);
	assert_int_equal(create(&r, &u, 4 * MiB, NULL, NULL), 201);
	resp_free(&r);
	http(&r, "POST", "/v1/files", u.access, "hello", 5, OCTETS, TUS "\nUpload-Length: 1");
	assert_problem(&r, 413, "too-large");	/* the quota is full again */
	resp_free(&r);
}

static void test_creation_with_upload(void **state)
{
	struct resp r;
	struct user u;
	char v[64], loc[128];
	(void)state;

	signup(&u, "cwu");
	assert_int_equal(get(&r, u.access, "/v1/poll?timeout=0"), 200);
	char cursor[96];
	snprintf(cursor, sizeof(cursor), "%s", jstr(r.json, "cursor"));
	resp_free(&r);
	http(&r, "POST", "/v1/files", u.access, "hello", 5, OCTETS, TUS "\nUpload-Length: 11");
	assert_int_equal(r.status, 201);
	assert_string_equal(resp_header(&r, "Upload-Offset", v, sizeof(v)), "5");
	assert_non_null(resp_header(&r, "Location", loc, sizeof(loc)));
	resp_free(&r);
	assert_int_equal(patch(&r, &u, loc + strlen("/v1/files/"), 5, " world", 6, NULL), 204);
	resp_free(&r);
	assert_true(file_status(&u, loc + strlen("/v1/files/"), "ready"));
	/* the owner heard of it */
	assert_int_equal(get(&r, u.access, "/v1/poll?cursor=%s&timeout=10", cursor), 200);
	assert_string_equal(jstr(r.json, "events.0.event"), "file");
	assert_string_equal(jstr(r.json, "events.0.data.id"), loc + strlen("/v1/files/"));
	assert_string_equal(jstr(r.json, "events.0.data.status"), "ready");
	assert_int_equal(strlen(jstr(r.json, "events.0.data.sha256")), 64);
	resp_free(&r);
	assert_int_equal(get(&r, u.access, "%s/content", loc), 200);
	assert_int_equal(r.len, 11);
	assert_memory_equal(r.body, "hello world", 11);
	resp_free(&r);
	/* more bytes than the length, or another type: refused, nothing made */
	http(&r, "POST", "/v1/files", u.access, "hello", 5, OCTETS, TUS "\nUpload-Length: 4");
	assert_problem(&r, 413, "too-large");
	resp_free(&r);
	http(&r, "POST", "/v1/files", u.access, "hello", 5, "text/plain", TUS "\nUpload-Length: 11");
	assert_problem(&r, 415, "unsupported-media-type");
	resp_free(&r);
	/* an empty file is complete at once */
	char id[37];
	assert_int_equal(create(&r, &u, 0, NULL, id), 201);
	resp_free(&r);
	assert_true(file_status(&u, id, "ready"));
}

/* The whole-file hash the client promised is checked: a file that does
 * not match is `corrupt` and cannot be sent. */
static void test_corrupt_file(void **state)
{
	struct resp r;
	struct user a, b;
	char id[37], meta[1024], conv[37], path[128];
	(void)state;

	signup(&a, "corrupt");
	signup(&b, "corrupt");
	metadata(meta, sizeof(meta), "x.bin", "application/octet-stream",
		 "0000000000000000000000000000000000000000000000000000000000000000");
	assert_int_equal(create(&r, &a, 4, meta, id), 201);
	resp_free(&r);
	assert_int_equal(patch(&r, &a, id, 0, "abcd", 4, NULL), 204);
	resp_free(&r);
	assert_true(file_status(&a, id, "corrupt"));
	private_conv(&a, &b, conv);
	snprintf(path, sizeof(path), "/v1/conversations/%s/messages", conv);
	json_post(&r, path, a.access, "{\"client_id\":\"c1\",\"file_id\":\"%s\"}", id);
	assert_problem(&r, 400, "validation");
	assert_field_error(&r, "file_id");
	resp_free(&r);
	assert_int_equal(get(&r, a.access, "/v1/files/%s/content", id), 404);
	resp_free(&r);
}

static void link_for(const char *id, long long expires, char *out, size_t len)
{
	const char *secret = getenv("CHAT4ALL_JWT_SECRET");
	char msg[128], sig[65];
	unsigned char md[32];
	unsigned int n;

	snprintf(msg, sizeof(msg), "%s\n%lld", id, expires);
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)msg, strlen(msg), md, &n);
	for (int i = 0; i < 32; i++)
		snprintf(sig + 2 * i, 3, "%02x", md[i]);
	snprintf(out, len, "/v1/files/%s/content?expires=%lld&sig=%s", id, expires, sig);
}

/* A file in a message: the members see it and fetch it (Range too);
 * nobody else learns it exists. */
static void test_file_message_and_download(void **state)
{
	enum { SIZE = 100000 };
	struct resp r;
	struct user a, b, c;
	char id[37], conv[37], path[256], v[128], msg_id[37], url[512];
	unsigned char *data = random_bytes(SIZE, 4);
	(void)state;

	signup(&a, "fmsg");
	signup(&b, "fmsg");
	signup(&c, "fmsg");
	upload(&a, data, SIZE, "../../etc/pass\x01wd", "image/png", id);
	assert_true(file_status(&a, id, "ready"));
	private_conv(&a, &b, conv);
	/* before it is sent, only the owner sees it */
	assert_int_equal(get(&r, b.access, "/v1/files/%s", id), 404);
	resp_free(&r);
	/* someone else's file cannot be sent */
	snprintf(path, sizeof(path), "/v1/conversations/%s/messages", conv);
	json_post(&r, path, b.access, "{\"client_id\":\"f0\",\"file_id\":\"%s\"}", id);
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	json_post(&r, path, a.access, "{\"client_id\":\"f0\",\"file_id\":\"not-a-uuid\"}");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	json_post(&r, path, a.access, "{\"client_id\":\"f1\",\"text\":\"the plan\",\"file_id\":\"%s\"}", id);
	assert_int_equal(r.status, 202);
	assert_string_equal(jstr(r.json, "file.id"), id);
	snprintf(msg_id, sizeof(msg_id), "%s", jstr(r.json, "id"));
	resp_free(&r);
	assert_true(wait_status(&a, msg_id, "sent"));

	/* b's history carries the file; the name was made safe */
	assert_int_equal(get(&r, b.access, "/v1/conversations/%s/messages?after=0", conv), 200);
	struct json_object *m = json_object_array_get_idx(jget(r.json, "items"), 0);
	assert_string_equal(jstr(m, "file.id"), id);
	assert_string_equal(jstr(m, "file.filename"), "passwd");
	assert_string_equal(jstr(m, "file.mime"), "image/png");
	assert_int_equal(jint(m, "file.size"), SIZE);
	assert_non_null(jstr(m, "file.sha256"));
	resp_free(&r);
	assert_true(stored(id));

	/* b fetches it: whole, then a range */
	assert_int_equal(get(&r, b.access, "/v1/files/%s/content", id), 200);
	assert_int_equal(r.len, SIZE);
	assert_memory_equal(r.body, data, SIZE);
	assert_string_equal(resp_header(&r, "Content-Type", v, sizeof(v)), "image/png");
	assert_non_null(strstr(resp_header(&r, "Content-Disposition", v, sizeof(v)),
			       "attachment; filename=\"passwd\""));
	assert_string_equal(resp_header(&r, "X-Content-Type-Options", v, sizeof(v)), "nosniff");
	resp_free(&r);
	snprintf(path, sizeof(path), "/v1/files/%s/content", id);
	http(&r, "GET", path, b.access, NULL, 0, NULL, "Range: bytes=1000-1999");
	assert_int_equal(r.status, 206);
	assert_int_equal(r.len, 1000);
	assert_memory_equal(r.body, data + 1000, 1000);
	assert_string_equal(resp_header(&r, "Content-Range", v, sizeof(v)), "bytes 1000-1999/100000");
	resp_free(&r);

	/* c is no member: 404 for everything, as for a file that never was */
	assert_int_equal(get(&r, c.access, "/v1/files/%s", id), 404);
	resp_free(&r);
	assert_int_equal(get(&r, c.access, "/v1/files/%s/content", id), 404);
	assert_problem(&r, 404, "not-found");
	resp_free(&r);
	assert_int_equal(get(&r, NULL, "/v1/files/%s/content", id), 401);
	resp_free(&r);

	/* the signed link works without a token; changed or expired, it does not */
	assert_int_equal(get(&r, b.access, "/v1/files/%s", id), 200);
	snprintf(url, sizeof(url), "%s", jstr(r.json, "url"));
	resp_free(&r);
	assert_int_equal(get(&r, NULL, "%s", url), 200);
	assert_int_equal(r.len, SIZE);
	resp_free(&r);
	url[strlen(url) - 1] = url[strlen(url) - 1] == '0' ? '1' : '0';
	assert_int_equal(get(&r, NULL, "%s", url), 401);
	resp_free(&r);
	link_for(id, (long long)time(NULL) - 5, url, sizeof(url));
	assert_int_equal(get(&r, NULL, "%s", url), 401);
	resp_free(&r);
	link_for(id, (long long)time(NULL) + 60, url, sizeof(url));
	assert_int_equal(get(&r, NULL, "%s", url), 200);
	resp_free(&r);

	/* a sent file stays: its owner cannot delete it, others never could */
	snprintf(path, sizeof(path), "/v1/files/%s", id);
	http(&r, "DELETE", path, a.access, NULL, 0, NULL, TUS);
	assert_problem(&r, 409, "conflict");
	resp_free(&r);
	http(&r, "DELETE", path, b.access, NULL, 0, NULL, TUS);
	assert_problem(&r, 404, "not-found");
	resp_free(&r);
	free(data);
}

/* Unfinished uploads past their time are gone for the client (410) and,
 * after the cron, for the disk and the quota; bytes without a row go too. */
static void test_expiry_and_orphans(void **state)
{
	struct resp r;
	struct user u;
	char id[37], orphan[512], keep[512], cmd[4096];
	long status;
	(void)state;

	signup(&u, "expire");
	assert_int_equal(create(&r, &u, 1000, NULL, id), 201);
	resp_free(&r);
	assert_int_equal(patch(&r, &u, id, 0, "0123456789", 10, NULL), 204);
	resp_free(&r);
	assert_true(stored(id));
	sql("UPDATE files SET expires_at = now() - interval '1 second' WHERE id = '%s'", id);
	assert_int_equal(offset_of(&u, id, &status), -1);
	assert_int_equal(status, 410);
	assert_int_equal(patch(&r, &u, id, 10, "x", 1, NULL), 410);
	assert_problem(&r, 410, "gone");
	resp_free(&r);

	/* an orphan (a UUID-named file without a row, an hour old) and a
	 * stranger the cron must not touch */
	stored_path("01a20000-0000-7000-8000-00000000beef", orphan, sizeof(orphan));
	snprintf(keep, sizeof(keep), "%s/ef/README", getenv("CHAT4ALL_TEST_FILES_DIR"));
	snprintf(cmd, sizeof(cmd), "mkdir -p $(dirname %s) && echo x > %s && touch -d '2 hours ago' %s"
		 " && mkdir -p $(dirname %s) && echo x > %s && chown -R --reference=%s %s", orphan,
		 orphan, orphan, keep, keep, getenv("CHAT4ALL_TEST_FILES_DIR"),
		 getenv("CHAT4ALL_TEST_FILES_DIR"));
	assert_int_equal(system(cmd), 0);

	snprintf(cmd, sizeof(cmd), "%s cron >/dev/null", getenv("CHAT4ALL_TEST_STACK"));
	assert_int_equal(system(cmd), 0);
	assert_false(stored(id));
	assert_int_equal(storage_used(&u), 0);
	assert_true(access(orphan, F_OK) != 0);
	assert_true(access(keep, F_OK) == 0);
	assert_int_equal(offset_of(&u, id, &status), -1);
	assert_int_equal(status, 404);
}

/* A full disk, with the files folder on a small tmpfs (the harness mounts
 * one and sets CHAT4ALL_TEST_SMALL_DISK; elsewhere this test is skipped):
 * a file that cannot fit is refused up front, one that runs out of room
 * keeps what was written, says 507, and is never reported complete. */
static void test_disk_full(void **state)
{
	struct resp r;
	struct user u[4];
	char id[4][37], v[64];
	unsigned char *data = random_bytes(4 * MiB, 5);
	(void)state;

	if (!getenv("CHAT4ALL_TEST_SMALL_DISK"))
		skip();		/* run by tools/test.sh on an 8 MiB tmpfs */
	for (int i = 0; i < 4; i++)
		signup(&u[i], "full");
	/* 4 MiB of the 8 are used, two 3 MiB uploads each fit when created */
	upload(&u[0], data, 4 * MiB, "a.bin", "application/octet-stream", id[0]);
	assert_int_equal(create(&r, &u[1], 3 * MiB, NULL, id[1]), 201);
	resp_free(&r);
	assert_int_equal(create(&r, &u[2], 3 * MiB, NULL, id[2]), 201);
	resp_free(&r);
	assert_int_equal(patch(&r, &u[1], id[1], 0, data, 3 * MiB, NULL), 204);
	resp_free(&r);
	/* the second finds about 1 MiB left: what fitted is kept, and said */
	assert_int_equal(patch(&r, &u[2], id[2], 0, data, 3 * MiB, NULL), 507);
	assert_problem(&r, 507, "insufficient-storage");
	long long kept = atoll(resp_header(&r, "Upload-Offset", v, sizeof(v)));
	resp_free(&r);
	assert_true(kept > 0 && kept < 3 * MiB);
	assert_int_equal(offset_of(&u[2], id[2], NULL), kept);
	assert_int_equal(get(&r, u[2].access, "/v1/files/%s", id[2]), 200);
	assert_string_equal(jstr(r.json, "status"), "uploading");
	resp_free(&r);
	/* a file bigger than what is free is refused before anything is kept */
	assert_int_equal(create(&r, &u[3], 2 * MiB, NULL, NULL), 507);
	assert_problem(&r, 507, "insufficient-storage");
	resp_free(&r);
	assert_int_equal(storage_used(&u[3]), 0);
	/* room again: the interrupted one resumes where it stopped */
	char path[64];
	snprintf(path, sizeof(path), "/v1/files/%s", id[1]);
	http(&r, "DELETE", path, u[1].access, NULL, 0, NULL, TUS);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	assert_int_equal(patch(&r, &u[2], id[2], kept, data + kept, (size_t)(3 * MiB - kept), NULL), 204);
	resp_free(&r);
	assert_true(file_status(&u[2], id[2], "ready"));
	free(data);
}


/* An id has one spelling. An upper-case id in a path is the same upload
 * (the same file on disk, the same one-PATCH lock), never a second file
 * beside the row's: the old code wrote files/7E/69/<ID> while the row
 * was lower case, the upload ended `corrupt`, the bytes stayed forever. */
static void test_ids_are_canonical(void **state)
{
	struct resp r;
	struct user u;
	char id[37], up[37], path[128], loud[1024];
	const char *data = "canonical bytes";
	(void)state;

	signup(&u, "canon");
	assert_int_equal(create(&r, &u, (long long)strlen(data), NULL, id), 201);
	resp_free(&r);
	for (int i = 0; i < 37; i++)
		up[i] = (char)(id[i] >= 'a' && id[i] <= 'f' ? id[i] - 'a' + 'A' : id[i]);
	assert_int_equal(patch(&r, &u, up, 0, data, 9, NULL), 204);
	resp_free(&r);
	assert_int_equal(offset_of(&u, id, NULL), 9);		/* the same upload */
	assert_int_equal(patch(&r, &u, id, 9, data + 9, strlen(data) - 9, NULL), 204);
	resp_free(&r);
	assert_true(file_status(&u, up, "ready"));
	snprintf(path, sizeof(path), "/v1/files/%s/content", up);
	assert_int_equal(http(&r, "GET", path, u.access, NULL, 0, NULL, NULL), 200);
	assert_int_equal(r.len, strlen(data));
	assert_memory_equal(r.body, data, strlen(data));
	resp_free(&r);
	/* nothing on disk under the other spelling */
	snprintf(loud, sizeof(loud), "%s/%.2s/%.2s/%s", getenv("CHAT4ALL_TEST_FILES_DIR"), up + 32,
		 up + 34, up);
	assert_int_not_equal(access(loud, F_OK), 0);
	assert_true(stored(id));
	/* and DELETE in capitals removes the one row and its bytes */
	snprintf(path, sizeof(path), "/v1/files/%s", up);
	assert_int_equal(http(&r, "DELETE", path, u.access, NULL, 0, NULL, TUS), 204);
	resp_free(&r);
	assert_false(stored(id));
	assert_int_equal(storage_used(&u), 0);
}

/* Bytes recorded as written that are no longer on disk (a crash, a
 * restore from an older copy) end the upload: 410, never a gap of zeros
 * in a file that then verifies as complete. */
static void test_lost_bytes(void **state)
{
	struct resp r;
	struct user u;
	char id[37], path[1024];
	long status;
	(void)state;

	signup(&u, "lost");
	assert_int_equal(create(&r, &u, 10, NULL, id), 201);
	resp_free(&r);
	assert_int_equal(patch(&r, &u, id, 0, "01234", 5, NULL), 204);
	resp_free(&r);
	stored_path(id, path, sizeof(path));
	assert_int_equal(truncate(path, 2), 0);
	assert_int_equal(patch(&r, &u, id, 5, "56789", 5, NULL), 410);
	assert_problem(&r, 410, "gone");
	resp_free(&r);
	offset_of(&u, id, &status);
	assert_int_equal(status, 410);
	assert_int_equal(get(&r, u.access, "/v1/files/%s", id), 200);
	assert_string_equal(jstr(r.json, "status"), "uploading");	/* never ready */
	resp_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discovery_and_versions),
		cmocka_unit_test(test_resume_after_disconnect),
		cmocka_unit_test(test_patch_refusals),
		cmocka_unit_test(test_creation_refusals),
		cmocka_unit_test(test_creation_with_upload),
		cmocka_unit_test(test_corrupt_file),
		cmocka_unit_test(test_file_message_and_download),
		cmocka_unit_test(test_expiry_and_orphans),
		cmocka_unit_test(test_ids_are_canonical),
		cmocka_unit_test(test_lost_bytes),
		cmocka_unit_test(test_disk_full),
	};

	client_begin();
	/* HTTP/1.1 also over https: a refused upload is answered before its
	 * body is read, and lighttpd then resets the HTTP/2 stream the body
	 * still comes on; libcurl 7.88 at times reports that reset instead of
	 * the answer that came first (browsers and Node show the answer; the
	 * web UI's uploads over HTTP/2 are tests/e2e's) */
	http_version = CURL_HTTP_VERSION_1_1;
	return cmocka_run_group_tests_name("files", tests, NULL, NULL);
}
