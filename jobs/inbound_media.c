/*
 * inbound_media.c - fetching a contact's photo or document from its
 * provider (one or two GETs, lib/channels.c knows which) into the file
 * store, hashed as it is written, synced before anyone records it.
 *
 * Runs in the inbound stage's prepare(), outside any transaction: a slow
 * provider holds no row lock. Bytes that never get a row (the job failed
 * after the fetch, or a provider's retry fetched them twice) are orphans
 * that the cron removes after an hour.
 */
#include "inbound_media.h"

#include "../lib/netguard.h"

#include "../lib/auth.h"
#include "../lib/channels.h"
#include "../lib/err.h"
#include "../lib/filestore.h"

#include <ctype.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOOKUP_MAX (64 * 1024)
#define STALL_BYTES 1024	/* a download slower than this a second ... */
#define STALL_SECONDS 10	/* ... for this long is given up (and retried later) */

struct lookup_answer {
	char body[LOOKUP_MAX];
	size_t len;
};

static size_t keep_answer(char *p, size_t size, size_t n, void *arg)
{
	struct lookup_answer *a = arg;
	size_t len = size * n;

	if (a->len + len >= sizeof(a->body))
		return 0;	/* too much for a lookup's answer: abort */
	memcpy(a->body + a->len, p, len);
	a->len += len;
	a->body[a->len] = '\0';
	return len;
}

struct download {
	int fd;
	EVP_MD_CTX *sha;
	long long size, max;
	bool too_large, write_failed;
};

static size_t write_bytes(char *p, size_t size, size_t n, void *arg)
{
	struct download *d = arg;
	size_t len = size * n, done = 0;

	if (d->size + (long long)len > d->max) {
		d->too_large = true;
		return 0;
	}
	while (done < len) {
		ssize_t w = write(d->fd, p + done, len - done);
		if (w < 0) {
			d->write_failed = true;
			return 0;
		}
		done += (size_t)w;
	}
	EVP_DigestUpdate(d->sha, p, len);
	d->size += (long long)len;
	return len;
}

static CURL *request(const struct conf *c, const char *url, struct curl_slist *headers,
		     struct netguard_check *guard)
{
	CURL *h = curl_easy_init();

	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* a media URL comes in a payload: it may name any address, and each
	 * one connected to (redirects too) is checked */
	netguard_attach(h, guard);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);	/* CDNs redirect */
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->channel_timeout_ms);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "Chat4All");
	return h;
}

/* What a failed GET means: worth retrying (ERR_UNAVAILABLE) or not. */
static int judge(CURLcode cc, long status, const char *what, const struct netguard_check *g,
		 char why[256])
{
	if (g->refused[0]) {	/* an address we may not reach: never will */
		snprintf(why, 256, "%s: %s", what, g->refused);
		return ERR_VALIDATION;
	}
	if (cc != CURLE_OK && cc != CURLE_HTTP_RETURNED_ERROR) {
		snprintf(why, 256, "%s: %s", what, curl_easy_strerror(cc));
		return ERR_UNAVAILABLE;
	}
	snprintf(why, 256, "%s: HTTP %ld", what, status);
	return status == 429 || status >= 500 || status < 200 ? ERR_UNAVAILABLE : ERR_VALIDATION;
}

/* The bytes' URL: @url itself, or what the provider's lookup answers. */
static int locate(const struct conf *c, const struct netguard *guard, const char *channel,
		  const char *ref, char url[1024], struct curl_slist *headers, long timeout_ms,
		  long long *size, bool *out_of_time, char why[256])
{
	struct netguard_check g = { .guard = guard };
	struct lookup_answer *a = calloc(1, sizeof(*a));
	char located[1024];
	long status = 0;
	int rc;

	if (!a)
		return ERR_INTERNAL;
	CURL *h = request(c, url, headers, &g);
	if (!h) {
		free(a);
		return ERR_INTERNAL;
	}
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
			 timeout_ms < c->channel_timeout_ms ? timeout_ms : c->channel_timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_answer);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
	CURLcode cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	if (cc != CURLE_OK || status != 200) {
		*out_of_time = cc == CURLE_OPERATION_TIMEDOUT;
		rc = judge(cc, status, "looking the media up", &g, why);
	}
	else if ((rc = channel_media_located(c, channel, a->body, located, size)))
		snprintf(why, 256, "the provider's answer names no media for %.64s", ref);
	else
		memcpy(url, located, sizeof(located));
	free(a);
	return rc;
}

/* "audio/ogg; codecs=opus" → "audio/ogg", lowercase; "" when not a type. */
static void bare_mime(const char *in, char *out, size_t len)
{
	size_t n = 0;

	for (; in && *in && *in != ';' && n + 1 < len; in++)
		if (!isspace((unsigned char)*in))
			out[n++] = (char)tolower((unsigned char)*in);
	out[n] = '\0';
	if (!filestore_mime_ok(out))
		out[0] = '\0';
}

/* A name for media that came without one (photos, voice notes). */
static void default_name(const char *mime, char *out, size_t len)
{
	static const struct { const char *mime, *name; } names[] = {
		{ "image/jpeg", "photo.jpg" }, { "image/png", "photo.png" },
		{ "image/webp", "sticker.webp" }, { "image/gif", "image.gif" },
		{ "video/mp4", "video.mp4" }, { "video/3gpp", "video.3gp" },
		{ "audio/ogg", "voice.ogg" }, { "audio/mpeg", "audio.mp3" },
		{ "audio/mp4", "audio.m4a" }, { "audio/aac", "audio.aac" },
		{ "application/pdf", "document.pdf" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(mime, names[i].mime)) {
			snprintf(out, len, "%s", names[i].name);
			return;
		}
	snprintf(out, len, "%s", !strncmp(mime, "image/", 6) ? "image"
				 : !strncmp(mime, "video/", 6) ? "video"
				 : !strncmp(mime, "audio/", 6) ? "audio" : "file");
}

/* Room for @told bytes (-1: not told): within file_max_size and the disk. */
static int room_for(const struct conf *c, long long told, char why[256])
{
	long long room;

	if (told > c->file_max_size) {
		snprintf(why, 256, "%lld bytes, more than file_max_size", told);
		return ERR_TOOLARGE;
	}
	room = filestore_free(c->files_dir);
	if (room >= 0 && told > 0 && told >= room) {
		snprintf(why, 256, "no room on the disk for %lld bytes", told);
		return ERR_UNAVAILABLE;
	}
	return 0;
}

/* GETs @url into @d (its open file and digest) within @timeout_ms; the
 * answer's Content-Type, unless @mime names one, into @f->mime. */
static int download(const struct conf *c, const char *url, struct curl_slist *headers,
		    long timeout_ms, const char *mime, struct download *d,
		    struct netguard_check *g, struct inbound_file *f, bool *out_of_time,
		    char why[256])
{
	CURL *h = request(c, url, headers, g);
	const char *type = NULL;
	long status = 0;
	CURLcode cc;

	if (!h)
		return ERR_INTERNAL;
	curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->file_max_size);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, (long)STALL_BYTES);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)STALL_SECONDS);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_bytes);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, d);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &type);
	bare_mime(mime && *mime ? mime : type, f->mime, sizeof(f->mime));
	curl_easy_cleanup(h);
	if (d->too_large || cc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(why, 256, "more than file_max_size (%ld bytes)", c->file_max_size);
		return ERR_TOOLARGE;
	}
	if (d->write_failed) {
		snprintf(why, 256, "cannot store the media (disk full?)");
		return ERR_UNAVAILABLE;
	}
	if (cc != CURLE_OK) {
		*out_of_time = cc == CURLE_OPERATION_TIMEDOUT;
		return judge(cc, status, "fetching the media", g, why);
	}
	if (fdatasync(d->fd)) {
		snprintf(why, 256, "cannot sync the media to disk");
		return ERR_UNAVAILABLE;
	}
	return 0;
}

/* What was stored: its digest and size, a type and a name. */
static void describe(struct download *d, const char *filename, struct inbound_file *f)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_DigestFinal_ex(d->sha, md, &n);
	for (unsigned int i = 0; i < n && i < 32; i++)
		snprintf(f->sha256 + 2 * i, 3, "%02x", md[i]);
	f->size = d->size;
	if (!f->mime[0])
		snprintf(f->mime, sizeof(f->mime), "application/octet-stream");
	if (filename && *filename)
		filestore_safe_name(filename, f->filename, sizeof(f->filename));
	else
		default_name(f->mime, f->filename, sizeof(f->filename));
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

int inbound_media_fetch(const struct conf *c, const struct netguard *guard, const char *channel,
			const char *ref, const char *mime, const char *filename, long timeout_ms,
			struct inbound_file *f, bool *out_of_time, char why[256])
{
	struct netguard_check g = { .guard = guard };
	char url[1024], auth[600];
	struct curl_slist *headers = NULL;
	struct download d = { .fd = -1, .max = c->file_max_size };
	struct timespec t0;
	long long told = -1;
	bool direct;
	int rc;

	memset(f, 0, sizeof(*f));
	*out_of_time = false;
	if ((rc = channel_media_lookup(c, channel, ref, url, auth, &direct))) {
		snprintf(why, 256, rc == ERR_UNAVAILABLE ? "%s is not configured here"
							 : "not a %s media reference", channel);
		return rc;
	}
	if (auth[0])
		headers = curl_slist_append(NULL, auth);
	/* 1. where the bytes are (one more GET, but for a direct URL) */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!direct && (rc = locate(c, guard, channel, ref, url, headers, timeout_ms, &told,
				    out_of_time, why)))
		goto out;
	if ((timeout_ms -= ms_since(&t0)) < 1) {
		snprintf(why, 256, "the lookup took all the time there was");
		*out_of_time = true;
		rc = ERR_UNAVAILABLE;
		goto out;
	}
	/* 2. room for them, and a file of our own */
	if ((rc = room_for(c, told, why)) || (rc = auth_uuid7(f->id)))
		goto out;
	if ((d.fd = filestore_open(c->files_dir, f->id, 0)) < 0) {
		snprintf(why, 256, "cannot store the media: %s", err_name(d.fd));
		rc = ERR_UNAVAILABLE;
		goto out;
	}
	if (!(d.sha = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(d.sha, EVP_sha256(), NULL)) {
		rc = ERR_INTERNAL;
		goto out;
	}
	/* 3. the bytes, hashed as they are written; then what they are */
	if (!(rc = download(c, url, headers, timeout_ms, mime, &d, &g, f, out_of_time, why)))
		describe(&d, filename, f);
out:
	if (d.fd >= 0) {
		close(d.fd);
		if (rc)
			filestore_remove(c->files_dir, f->id);
	}
	EVP_MD_CTX_free(d.sha);
	curl_slist_free_all(headers);
	return rc;
}
