/*
 * tus.c - see tus.h.
 */
#include "tus.h"

#include "filestore.h"
#include "validate.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long long tus_number(const char *v)
{
	if (!v)
		return -1;
	if (!*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 18)
		return -2;
	return strtoll(v, NULL, 10);
}

int tus_base64(const char *in, size_t n, unsigned char *out, size_t cap)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t pad = 0;
	int len;

	if (n % 4 || n / 4 * 3 > cap)
		return -1;
	if (!n)
		return 0;
	/* the alphabet, then at most two '=' at the very end */
	while (pad < 2 && pad < n && in[n - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < n - pad; i++)
		if (!in[i] || !strchr(alphabet, in[i]))
			return -1;
	if ((len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n)) < 0)
		return -1;
	return len - (int)pad;	/* EVP_DecodeBlock counts the padding */
}

int tus_metadata(const char *h, struct tus_meta *m,
		 void (*error)(void *arg, const char *field, const char *msg), void *arg)
{
	unsigned char val[1024];
	int bad = 0;

	snprintf(m->filename, sizeof(m->filename), "file");
	snprintf(m->mime, sizeof(m->mime), "application/octet-stream");
	m->sha256[0] = '\0';
	while (h && *h) {
		size_t klen = strcspn(h, " ,"), vlen = 0;
		const char *v = h + klen;
		if (*v == ' ') {
			v++;
			vlen = strcspn(v, ",");
		}
		int n = tus_base64(v, vlen, val, sizeof(val) - 1);
		if (n < 0) {
			error(arg, "Upload-Metadata", "values must be base64");
			return -1;
		}
		val[n] = '\0';
		bool text = validate_utf8((const char *)val, (size_t)n) && strlen((char *)val) == (size_t)n;
		if (klen == 8 && !strncmp(h, "filename", 8)) {
			if (!text || validate_utf8_chars((char *)val) > TUS_FILENAME_MAX_CHARS) {
				error(arg, "filename", "must be UTF-8, at most 255 characters");
				bad = -1;
			} else {
				filestore_safe_name((char *)val, m->filename, sizeof(m->filename));
			}
		} else if (klen == 8 && !strncmp(h, "filetype", 8)) {
			if (n == 0) {
				;	/* a browser that does not know the type: the default */
			} else if (!text || n >= (int)sizeof(m->mime) || !filestore_mime_ok((char *)val)) {
				error(arg, "filetype", "must be a media type (type/subtype)");
				bad = -1;
			} else {
				memcpy(m->mime, val, (size_t)n + 1);	/* n < sizeof(m->mime) */
			}
		} else if (klen == 6 && !strncmp(h, "sha256", 6)) {
			if (n != 64 || strspn((char *)val, "0123456789abcdefABCDEF") != 64) {
				error(arg, "sha256", "must be the file's SHA-256 in hex");
				bad = -1;
			} else {
				for (int i = 0; i <= 64; i++)
					m->sha256[i] = (char)(i < 64 ? (val[i] | 0x20) : 0);
			}
		}
		h = v + vlen;
		if (*h == ',')
			h++;
	}
	return bad;
}

int tus_checksum(const char *h, const EVP_MD **md, unsigned char want[64], int *want_len,
		 const char **why)
{
	size_t alen = strcspn(h, " ");

	if (alen == 4 && !strncmp(h, "sha1", 4)) {
		*md = EVP_sha1();
	} else if (alen == 6 && !strncmp(h, "sha256", 6)) {
		*md = EVP_sha256();
	} else {
		*why = "the algorithm must be sha1 or sha256";
		return -1;
	}
	*want_len = h[alen] ? tus_base64(h + alen + 1, strlen(h + alen + 1), want, 64) : -1;
	if (*want_len != EVP_MD_get_size(*md)) {
		*why = "the digest must be base64 of the chunk's hash";
		return -1;
	}
	return 0;
}
