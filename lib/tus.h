/*
 * tus.h - reading the headers of the tus 1.0.0 protocol (resumable
 * uploads, https://tus.io/protocols/resumable-upload): every byte here
 * comes from a stranger, so each reader is strict and bounded, and each
 * has a fuzzing target (tests/fuzz/fuzz_tus.c). The handlers that use
 * them are in fcgi/h_files.c.
 */
#ifndef CHAT4ALL_TUS_H
#define CHAT4ALL_TUS_H

#include <openssl/evp.h>
#include <stddef.h>

#define TUS_FILENAME_MAX_CHARS 255

/* tus_number - a non-negative decimal header (Upload-Length,
 * Upload-Offset): its value, -1 when @v is NULL, -2 when malformed. */
long long tus_number(const char *v);

/* tus_base64 - strict base64 (standard alphabet, padded) of @n bytes of
 * @in into @out (at most @cap bytes): the byte count, or -1. */
int tus_base64(const char *in, size_t n, unsigned char *out, size_t cap);

struct tus_meta {
	char filename[1024];	/* its last path segment, printable ("file" by default) */
	char mime[128];		/* a bare media type (application/octet-stream by default) */
	char sha256[65];	/* the whole file's, lowercase hex; "" when not given */
};

/*
 * tus_metadata - Upload-Metadata ("key base64,key base64"; NULL: none):
 * filename, filetype and sha256 are ours, other keys are ignored. Each
 * problem is told to @error (field, message); -1 when there was one.
 */
int tus_metadata(const char *h, struct tus_meta *m,
		 void (*error)(void *arg, const char *field, const char *msg), void *arg);

/*
 * tus_checksum - Upload-Checksum ("sha1|sha256 <base64 digest>"): the
 * algorithm into *@md and the digest into @want (*@want_len bytes).
 * 0, or -1 with *@why.
 */
int tus_checksum(const char *h, const EVP_MD **md, unsigned char want[64], int *want_len,
		 const char **why);

#endif
