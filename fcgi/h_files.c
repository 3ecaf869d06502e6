/*
 * h_files.c - files (API.md "Files"): tus 1.0.0 uploads at /v1/files
 * (core, creation, creation-with-upload, checksum, termination,
 * expiration), file metadata, and downloads handed to lighttpd.
 *
 * lighttpd streams a PATCH body to us as it arrives (stream-request-body
 * in conf/lighttpd.conf.in), and we write it to disk as we read it: memory
 * stays flat whatever the size. The row's upload_offset only ever names
 * bytes that are on disk (fdatasync first); bytes past it are cut off by
 * the next PATCH. An interrupted PATCH keeps what arrived, except when a
 * checksum was promised: a chunk that cannot be verified is discarded.
 */
#include "handlers.h"

#include "../lib/err.h"
#include "../lib/filestore.h"
#include "../lib/log.h"
#include "../lib/slots.h"
#include "../lib/tus.h"
#include "../lib/validate.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TUS_VERSION "1.0.0"
#define TUS_EXTENSIONS "creation,creation-with-upload,checksum,termination,expiration"
#define CHUNK (1 << 20)			/* read and written at a time */
#define CHECKPOINT (64LL << 20)		/* a long PATCH records its progress this often */

/* ------------------------------------------------------------- headers */

static void tus_headers(struct req *r)
{
	req_header(r, "Tus-Resumable: " TUS_VERSION);
}

/* Every tus request but OPTIONS names the version it speaks. */
static int tus_version_ok(struct req *r)
{
	const char *v = req_env(r, "HTTP_TUS_RESUMABLE");

	tus_headers(r);
	if (v && !strcmp(v, TUS_VERSION))
		return 0;
	req_header(r, "Tus-Version: " TUS_VERSION);
	req_detail(r, "send Tus-Resumable: " TUS_VERSION);
	return ERR_PRECONDITION;
}

static void expires_header(struct req *r, long long epoch)
{
	char buf[64];
	time_t t = (time_t)epoch;
	struct tm tm;

	if (epoch <= 0)
		return;
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	req_header(r, "Upload-Expires: %s", buf);
}

/* A non-negative decimal header (Upload-Length, Upload-Offset); -1 when
 * absent, -2 when malformed. */
static long long header_number(struct req *r, const char *name)
{
	return tus_number(req_env(r, name));
}

static void field_error(void *r, const char *field, const char *msg)
{
	req_field_error(r, field, msg);
}

/* Upload-Metadata: filename, filetype and sha256 (lib/tus.c). */
static int parse_metadata(struct req *r, struct tus_meta *m)
{
	return tus_metadata(req_env(r, "HTTP_UPLOAD_METADATA"), m, field_error, r) ? ERR_VALIDATION : 0;
}

/* ----------------------------------------------------------- the bytes */

struct checksum {
	EVP_MD_CTX *ctx;	/* NULL: none promised */
	unsigned char want[64];
	int want_len;
};

/* Upload-Checksum: "<sha1|sha256> <base64 digest>" */
static int checksum_start(struct req *r, struct checksum *c)
{
	const char *h = req_env(r, "HTTP_UPLOAD_CHECKSUM"), *why;
	const EVP_MD *md;

	memset(c, 0, sizeof(*c));
	if (!h)
		return 0;
	if (tus_checksum(h, &md, c->want, &c->want_len, &why)) {
		req_field_error(r, "Upload-Checksum", why);
		return ERR_VALIDATION;
	}
	if (!(c->ctx = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(c->ctx, md, NULL))
		return ERR_INTERNAL;
	return 0;
}

static bool checksum_matches(struct checksum *c)
{
	unsigned char got[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	return EVP_DigestFinal_ex(c->ctx, got, &n) && (int)n == c->want_len &&
	       !memcmp(got, c->want, n);
}

/* Records @to as the upload's offset (the bytes are synced already);
 * @done: the last byte came and the hash job is queued. */
static int record_progress(struct req *r, const char *id, long long from, long long to,
			   bool *done, long long *expires)
{
	char f[24], t[24], exp[24];
	PGresult *res = NULL;
	int rc;

	snprintf(f, sizeof(f), "%lld", from);
	snprintf(t, sizeof(t), "%lld", to);
	snprintf(exp, sizeof(exp), "%ld", r->app->conf.upload_expiry);
	const char *params[] = { id, f, t, exp };
	if ((rc = db_exec(r->app->db, SQL_FILE_PROGRESS, params, &res)))
		return rc;
	if (PQntuples(res) != 1) {
		req_detail(r, "the upload expired or moved on meanwhile");
		PQclear(res);
		return ERR_GONE;
	}
	*done = !strcmp(PQgetvalue(res, 0, 0), "verifying");
	*expires = atoll(PQgetvalue(res, 0, 1));
	PQclear(res);
	return 0;
}

/*
 * Appends the request body (@len bytes, at @offset of @size) to file @id,
 * and answers the new offset. On a disconnect, what arrived counts; with a
 * checksum, only a whole, matching chunk counts.
 */
static int write_body(struct req *r, const char *id, long long offset, long long size,
		      long long len, struct checksum *sum)
{
	const char *dir = r->app->conf.files_dir;
	long long at = offset, recorded = offset, expires = 0;
	bool done = false, full = false;
	int fd, rc = 0;
	char *buf;

	if (offset + len > size) {
		req_detail(r, "%lld bytes at offset %lld pass the upload's length %lld", len,
			   offset, size);
		return ERR_TOOLARGE;
	}
	if ((fd = filestore_open(dir, id, offset)) < 0) {
		if (fd == ERR_CONFLICT)
			req_detail(r, "another PATCH of this upload is running");
		if (fd == ERR_STORAGE)
			req_detail(r, "the disk is full");
		if (fd == ERR_GONE) {
			/* the upload cannot be finished: it expires now, and the
			 * cron gives its space back */
			const char *params[] = { id };
			PGresult *res = NULL;
			db_exec(r->app->db, SQL_FILE_LOST, params, &res);
			PQclear(res);
			log_error(r->id, "file %s: fewer bytes on disk than recorded", id);
			req_detail(r, "the bytes of this upload were lost; upload the file again");
		}
		return fd;
	}
	if (!(buf = malloc(CHUNK))) {
		close(fd);
		return ERR_INTERNAL;
	}
	while (at < offset + len) {
		long long want = offset + len - at;
		int n = req_read(r, buf, want < CHUNK ? (int)want : CHUNK);
		if (n <= 0)
			break;	/* the client went away */
		if (sum->ctx)
			EVP_DigestUpdate(sum->ctx, buf, (size_t)n);
		for (int put = 0; put < n;) {
			ssize_t w = write(fd, buf + put, (size_t)(n - put));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				full = errno == ENOSPC || errno == EDQUOT;
				log_error(r->id, "writing file %s: %s", id, strerror(errno));
				goto stop;
			}
			put += (int)w;
			at += w;
		}
		/* a long PATCH without a checksum keeps its progress on the way */
		if (!sum->ctx && at - recorded >= CHECKPOINT && !fdatasync(fd)) {
			if ((rc = record_progress(r, id, recorded, at, &done, &expires)))
				goto out;
			recorded = at;
		}
	}
stop:
	if (sum->ctx && (at < offset + len || !checksum_matches(sum))) {
		/* not verified: the chunk is discarded */
		if (ftruncate(fd, offset))
			log_error(r->id, "discarding a chunk of %s: %s", id, strerror(errno));
		if (at == offset + len) {
			req_detail(r, "the chunk does not match its Upload-Checksum; it was discarded");
			rc = ERR_CHECKSUM;
		} else {
			rc = full ? ERR_STORAGE : ERR_VALIDATION;
			req_detail(r, full ? "the disk is full" : "the body ended early");
		}
		goto out;
	}
	if (at > recorded) {
		if (fdatasync(fd)) {
			rc = errno == ENOSPC ? ERR_STORAGE : ERR_INTERNAL;
			goto out;
		}
		if ((rc = record_progress(r, id, recorded, at, &done, &expires)))
			goto out;
		recorded = at;
	}
	if (full) {
		req_detail(r, "the disk is full: %lld bytes were kept, resume later", at - offset);
		rc = ERR_STORAGE;
	} else if (at < offset + len) {
		req_detail(r, "the body ended after %lld of %lld bytes; they were kept", at - offset, len);
		rc = ERR_VALIDATION;
	}
out:
	free(buf);
	close(fd);
	req_header(r, "Upload-Offset: %lld", recorded);
	if (!done)
		expires_header(r, expires);
	return rc;
}

/* ------------------------------------------------------- upload slots */

/*
 * Bytes a user sends hold a files responder for as long as they take: a
 * user runs at most upload_concurrency of them at once, so that one
 * account trickling uploads cannot hold every responder of the pool.
 * The slot (>= 0) to give back, or a negative err.
 */
static int upload_slot_take(struct req *r, char name[64])
{
	snprintf(name, 64, "c4a-upload:%s", r->user.user_id);
	int slot = slots_take(r->app->db, name, r->app->conf.upload_concurrency, 0);
	if (slot == ERR_RATELIMITED) {
		r->retry_after = 5;
		req_detail(r, "you have %ld uploads sending bytes already; send this one after them",
			   r->app->conf.upload_concurrency);
	}
	return slot;
}

/* ------------------------------------------------------------- handlers */

int h_files_options(struct req *r)
{
	req_header(r, "Tus-Resumable: " TUS_VERSION);
	req_header(r, "Tus-Version: " TUS_VERSION);
	req_header(r, "Tus-Extension: " TUS_EXTENSIONS);
	req_header(r, "Tus-Max-Size: %ld", r->app->conf.file_max_size);
	req_header(r, "Tus-Checksum-Algorithm: sha1,sha256");
	return req_reply(r, 204, NULL);
}

int h_files_create(struct req *r)
{
	struct tus_meta meta;
	struct checksum sum = { 0 };
	PGresult *res = NULL;
	char id[37], size_s[24], quota[24], expiry[24], count[24];
	long long size;
	int rc;

	if ((rc = tus_version_ok(r)))
		return rc;
	if (req_env(r, "HTTP_UPLOAD_DEFER_LENGTH")) {
		req_field_error(r, "Upload-Defer-Length", "is not supported: send Upload-Length");
		return ERR_VALIDATION;
	}
	size = header_number(r, "HTTP_UPLOAD_LENGTH");
	if (size < 0) {
		req_field_error(r, "Upload-Length", size == -1 ? "is required"
							       : "must be a non-negative integer");
		return ERR_VALIDATION;
	}
	if (size > r->app->conf.file_max_size) {
		req_detail(r, "the file is %lld bytes; the limit is %ld", size,
			   r->app->conf.file_max_size);
		return ERR_TOOLARGE;
	}
	if ((rc = parse_metadata(r, &meta)))
		return rc;
	/* creation-with-upload: the first bytes come with the POST */
	long long body = req_content_length(r);
	bool with_body = body > 0;
	if (with_body && !req_content_type_is(r, "application/offset+octet-stream")) {
		req_detail(r, "bytes sent with the creation need Content-Type: "
			      "application/offset+octet-stream");
		return ERR_MEDIATYPE;
	}
	if (body > size) {
		req_detail(r, "%lld bytes sent for an upload of %lld", body, size);
		return ERR_TOOLARGE;
	}
	if (with_body && (rc = checksum_start(r, &sum)))
		goto out;
	long long free_bytes = filestore_free(r->app->conf.files_dir);
	if (free_bytes >= 0 && free_bytes < size) {
		req_detail(r, "the server has %lld bytes free; this file needs %lld", free_bytes, size);
		rc = ERR_STORAGE;
		goto out;
	}
	if (auth_uuid7(id)) {
		rc = ERR_INTERNAL;
		goto out;
	}
	snprintf(size_s, sizeof(size_s), "%lld", size);
	snprintf(quota, sizeof(quota), "%ld", r->app->conf.file_quota);
	snprintf(expiry, sizeof(expiry), "%ld", r->app->conf.upload_expiry);
	snprintf(count, sizeof(count), "%ld", r->app->conf.file_count_max);
	const char *params[] = { id, r->user.user_id, meta.filename, meta.mime, size_s,
				 meta.sha256[0] ? meta.sha256 : NULL, quota, expiry, count };
	if ((rc = db_exec(r->app->db, SQL_FILE_CREATE, params, &res)))
		goto out;
	if (PQntuples(res) != 1) {
		req_detail(r, "this file would pass your storage quota of %ld bytes or the %ld "
			      "files you may hold", r->app->conf.file_quota, r->app->conf.file_count_max);
		rc = ERR_TOOLARGE;
		goto out;
	}
	req_header(r, "Location: /v1/files/%s", id);
	if (with_body) {
		char slot_name[64];
		int slot = upload_slot_take(r, slot_name);
		if (slot < 0) {
			/* the upload exists: its bytes come with a PATCH later */
			rc = slot == ERR_RATELIMITED ? 0 : slot;
			if (!rc) {
				req_header(r, "Upload-Offset: 0");
				rc = req_reply(r, 201, NULL);
			}
			goto out;
		}
		rc = write_body(r, id, 0, size, body, &sum);
		slots_give(r->app->db, slot_name, slot);
		/* the upload exists whatever became of its first bytes */
		if (rc && rc != ERR_CHECKSUM && rc != ERR_STORAGE)
			log_warn(r->id, "creation-with-upload of %s: %s", id, err_name(rc));
		if (rc == ERR_CHECKSUM || rc == ERR_STORAGE)
			goto out;
		rc = 0;
	} else {
		expires_header(r, atoll(PQgetvalue(res, 0, 0)));
		if (size == 0) {	/* complete already: an empty file, verified as any */
			bool done;
			long long exp;
			int fd = filestore_open(r->app->conf.files_dir, id, 0);
			if (fd < 0) {
				rc = fd;
				goto out;
			}
			close(fd);
			if ((rc = record_progress(r, id, 0, 0, &done, &exp)))
				goto out;
		}
	}
	rc = req_reply(r, 201, NULL);
out:
	EVP_MD_CTX_free(sum.ctx);
	PQclear(res);
	return rc;
}

/* The upload @id of the caller: its state, or 404/410. */
static int upload_state(struct req *r, const char *id, long long *size, long long *offset,
			char status[16], long long *expires)
{
	const char *params[] = { id, r->user.user_id };
	PGresult *res = NULL;
	int rc;

	if ((rc = db_exec(r->app->db, SQL_FILE_UPLOAD_STATE, params, &res)))
		return rc;
	if (PQntuples(res) != 1) {
		req_detail(r, "upload %s does not exist", id);
		rc = ERR_NOTFOUND;
	} else if (!strcmp(PQgetvalue(res, 0, 4), "t")) {
		req_detail(r, "upload %s has expired", id);
		rc = ERR_GONE;
	} else {
		*size = atoll(PQgetvalue(res, 0, 0));
		*offset = atoll(PQgetvalue(res, 0, 1));
		snprintf(status, 16, "%s", PQgetvalue(res, 0, 2));
		*expires = atoll(PQgetvalue(res, 0, 3));
	}
	PQclear(res);
	return rc;
}

int h_files_head(struct req *r)
{
	long long size, offset, expires;
	char status[16];
	int rc;

	if ((rc = tus_version_ok(r)) ||
	    (rc = upload_state(r, r->params[0], &size, &offset, status, &expires)))
		return rc;
	req_header(r, "Upload-Offset: %lld", offset);
	req_header(r, "Upload-Length: %lld", size);
	expires_header(r, expires);
	return req_reply(r, 200, NULL);
}

int h_files_patch(struct req *r)
{
	struct checksum sum = { 0 };
	long long size, offset, expires, at, len;
	char status[16];
	int rc;

	if ((rc = tus_version_ok(r)))
		return rc;
	if (!req_content_type_is(r, "application/offset+octet-stream")) {
		req_detail(r, "send Content-Type: application/offset+octet-stream");
		return ERR_MEDIATYPE;
	}
	if ((at = header_number(r, "HTTP_UPLOAD_OFFSET")) < 0) {
		req_field_error(r, "Upload-Offset", at == -1 ? "is required"
							     : "must be a non-negative integer");
		return ERR_VALIDATION;
	}
	if ((len = req_content_length(r)) < 0) {
		req_detail(r, "send Content-Length");
		return ERR_VALIDATION;
	}
	if ((rc = checksum_start(r, &sum)) ||
	    (rc = upload_state(r, r->params[0], &size, &offset, status, &expires)))
		goto out;
	if (at != offset) {
		req_header(r, "Upload-Offset: %lld", offset);
		req_detail(r, "the upload is at offset %lld, not %lld", offset, at);
		rc = ERR_CONFLICT;
		goto out;
	}
	if (strcmp(status, "uploading")) {
		if (len == 0) {	/* a client checking in after the last byte */
			req_header(r, "Upload-Offset: %lld", offset);
			rc = req_reply(r, 204, NULL);
		} else {
			req_detail(r, "the upload is complete");
			rc = ERR_TOOLARGE;
		}
		goto out;
	}
	char slot_name[64];
	int slot = upload_slot_take(r, slot_name);
	if (slot < 0) {
		rc = slot;
		goto out;
	}
	if (!(rc = write_body(r, r->params[0], offset, size, len, &sum)))
		rc = req_reply(r, 204, NULL);
	slots_give(r->app->db, slot_name, slot);
out:
	EVP_MD_CTX_free(sum.ctx);
	return rc;
}

int h_files_delete(struct req *r)
{
	const char *params[] = { r->params[0], r->user.user_id };
	PGresult *res = NULL;
	int rc;

	tus_headers(r);
	if ((rc = db_exec(r->app->db, SQL_FILE_DELETE, params, &res)))
		return rc;
	const char *outcome = PQgetvalue(res, 0, 0);
	if (!strcmp(outcome, "notfound")) {
		req_detail(r, "file %s does not exist", r->params[0]);
		rc = ERR_NOTFOUND;
	} else if (!strcmp(outcome, "sent")) {
		req_detail(r, "file %s was sent in a conversation; it stays", r->params[0]);
		rc = ERR_CONFLICT;
	} else {
		if (filestore_remove(r->app->conf.files_dir, r->params[0]))
			log_warn(r->id, "file %s: row deleted, bytes left for the cron", r->params[0]);
		rc = req_reply(r, 204, NULL);
	}
	PQclear(res);
	return rc;
}

/* A link to the bytes that works without a token until it expires: for
 * <img src> and for channels that fetch by URL. */
static struct json_object *signed_link(struct req *r, const char *id)
{
	char sig[65], url[256];
	long long exp = (long long)time(NULL) + r->app->conf.file_link_ttl;

	auth_link_sign(r->app->conf.jwt_secret, id, exp, sig);
	snprintf(url, sizeof(url), "/v1/files/%s/content?expires=%lld&sig=%s", id, exp, sig);
	return json_object_new_string(url);
}

int h_files_get(struct req *r)
{
	const char *params[] = { r->params[0], r->user.user_id };
	PGresult *res = NULL;
	struct json_object *o;
	int rc;

	if ((rc = db_exec(r->app->db, SQL_FILE_META, params, &res)))
		return rc;
	if (PQntuples(res) != 1) {
		req_detail(r, "file %s does not exist", r->params[0]);
		PQclear(res);
		return ERR_NOTFOUND;
	}
	o = json_tokener_parse(PQgetvalue(res, 0, 0));
	if (o && !strcmp(PQgetvalue(res, 0, 3), "ready"))
		json_object_object_add(o, "url", signed_link(r, r->params[0]));
	rc = o ? req_reply(r, 200, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE))
	       : ERR_INTERNAL;
	json_object_put(o);
	PQclear(res);
	return rc;
}

/* Content-Disposition for any name: an ASCII fallback, and the exact
 * name in RFC 5987 form. */
static void disposition(struct req *r, const char *name)
{
	char ascii[256], enc[1024 * 3 + 1];
	size_t a = 0, e = 0;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (a + 1 < sizeof(ascii))
			ascii[a++] = *p < 0x80 && *p != '"' && *p != '\\' ? (char)*p : '_';
		if (e + 4 < sizeof(enc)) {
			if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
				enc[e++] = (char)*p;
			else
				e += (size_t)snprintf(enc + e, 4, "%%%02X", *p);
		}
	}
	ascii[a] = '\0';
	enc[e] = '\0';
	req_header(r, "Content-Disposition: attachment; filename=\"%s\"; filename*=UTF-8''%s",
		   ascii, enc);
}

/* The caller (a token, or a signed link) may see the file: lighttpd sends
 * the bytes, Range included. Everyone else gets 404: no existence leak. */
int h_files_content(struct req *r)
{
	char exp_s[24], sig[80], path[4096];
	PGresult *res = NULL;
	int rc;

	if (req_query(r, "sig", sig, sizeof(sig)) && req_query(r, "expires", exp_s, sizeof(exp_s))) {
		if (!auth_link_verify(r->app->conf.jwt_secret, r->params[0], atoll(exp_s), sig,
				      time(NULL))) {
			req_detail(r, "the link is invalid or has expired");
			return ERR_AUTH;
		}
		const char *params[] = { r->params[0] };
		rc = db_exec(r->app->db, SQL_FILE_READY, params, &res);
	} else if (r->authed) {
		const char *params[] = { r->params[0], r->user.user_id };
		rc = db_exec(r->app->db, SQL_FILE_META, params, &res);
	} else {
		req_detail(r, "send Authorization: Bearer <access token>, or use the file's signed url");
		return ERR_AUTH;
	}
	if (rc)
		return rc;
	/* the owner's unfinished upload has no content yet either */
	if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 3), "ready")) {
		req_detail(r, "file %s does not exist", r->params[0]);
		PQclear(res);
		return ERR_NOTFOUND;
	}
	if ((rc = filestore_path(r->app->conf.files_dir, r->params[0], path, sizeof(path)))) {
		PQclear(res);
		return rc;
	}
	r->sendfile = strdup(path);
	snprintf(r->file_type, sizeof(r->file_type), "%s", PQgetvalue(res, 0, 2));
	disposition(r, PQgetvalue(res, 0, 1));
	/* whatever the type claims, the browser must not run it here */
	req_header(r, "X-Content-Type-Options: nosniff");
	req_header(r, "Content-Security-Policy: sandbox");
	PQclear(res);
	return req_reply(r, 200, NULL);
}
