/*
 * security_test - Chat4All tried as an attacker would, over real HTTP
 * against the instance scripts/test.sh starts: a stranger, a signed-in
 * stranger, a member. Each test is one way in that must stay shut; each
 * failed on the code before its fix.
 */
#include "client.h"
#include "http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers */

/* The instance's folder ($VAR), and a file of it. */
static void var_path(char *out, size_t len, const char *rel)
{
	snprintf(out, len, "%s/%s", getenv("CHAT4ALL_TEST_VAR"), rel);
}

static long pid_of(const char *pidfile_rel)
{
	char path[1024];
	long pid = 0;
	FILE *f;

	var_path(path, sizeof(path), pidfile_rel);
	if ((f = fopen(path, "r"))) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return pid;
}

/* Resident memory of process @pid, in KiB. */
static long rss_kib(long pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

struct zeros {
	curl_off_t left;
};

static size_t read_zeros(char *buf, size_t size, size_t n, void *arg)
{
	struct zeros *z = arg;
	size_t want = size * n;

	if ((curl_off_t)want > z->left)
		want = (size_t)z->left;
	memset(buf, 0, want);
	z->left -= (curl_off_t)want;
	return want;
}

static size_t discard(char *p, size_t s, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return s * n;
}

/* POSTs @bytes of zeros to @url (chunked when @chunked, else with a
 * Content-Length); the answer's status, 0 when the server hung up first. */
static long post_zeros(const char *url, curl_off_t bytes, bool chunked)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	struct zeros z = { bytes };
	long status = 0;

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_zeros);
	curl_easy_setopt(c, CURLOPT_READDATA, &z);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	h = curl_slist_append(h, "Content-Type: application/octet-stream");
	h = curl_slist_append(h, "Expect:");	/* send at once, as an attacker would */
	if (chunked)
		h = curl_slist_append(h, "Transfer-Encoding: chunked");
	else
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, bytes);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}

/* ------------------------------------------------------------- bodies */

/* A body nobody asked for is refused before it is read: lighttpd per
 * route (413), and the gateway itself for whoever reaches its port. Before,
 * one unauthenticated 300 MB POST left the gateway at 301 MB, for good. */
static void test_stream_body_limits(void **state)
{
	char url[256];
	long gw = pid_of("run/stream.pid"), before, after;
	(void)state;

	assert_true(gw > 0);
	before = rss_kib(gw);
	assert_true(before > 0);
	/* through lighttpd: refused at the door, by length or as it streams */
	snprintf(url, sizeof(url), "%s/v1/stream", getenv("CHAT4ALL_TEST_URL"));
	long s = post_zeros(url, 64LL << 20, false);
	assert_true(s == 413 || s == 0);
	s = post_zeros(url, 64LL << 20, true);
	assert_true(s == 413 || s == 0);
	/* straight at the gateway's port */
	snprintf(url, sizeof(url), "http://127.0.0.1:%s/v1/stream", getenv("CHAT4ALL_TEST_STREAM_PORT"));
	s = post_zeros(url, 64LL << 20, false);
	assert_true(s == 413 || s == 0);
	s = post_zeros(url, 64LL << 20, true);
	assert_true(s == 413 || s == 0);
	after = rss_kib(gw);
	fprintf(stderr, "gateway RSS %ld KiB before, %ld KiB after 4 × 64 MiB POSTs\n", before, after);
	assert_true(after - before < 4096);
	/* and it still serves */
	struct resp r;
	assert_int_equal(get(&r, NULL, "/v1/poll?timeout=0"), 401);
	resp_free(&r);

	/* an API body past max_body: 413 from lighttpd, the responder never reads it */
	snprintf(url, sizeof(url), "%s/v1/auth/register", getenv("CHAT4ALL_TEST_URL"));
	s = post_zeros(url, 64LL << 20, false);
	assert_true(s == 413 || s == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_body_limits),
	};

	http_init();
	snprintf(run_tag, sizeof(run_tag), "s%lx", (unsigned long)time(NULL) % 0xfffff);
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests_name("security", tests, NULL, NULL);
}
