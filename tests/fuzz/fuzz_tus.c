/*
 * fuzz_tus - the tus headers a stranger sends (lib/tus.c): Upload-Length
 * and Upload-Offset, Upload-Metadata, Upload-Checksum. The input is split
 * at its first two newlines into the three headers.
 */
#include "../../lib/tus.h"
#include "../../lib/validate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ignore(void *arg, const char *field, const char *msg)
{
	(void)arg;
	(void)field;
	(void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), *meta, *sum;
	struct tus_meta m;
	const EVP_MD *md;
	unsigned char want[64];
	int want_len;
	const char *why;

	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	meta = strchr(in, '\n');
	if (meta)
		*meta++ = '\0';
	sum = meta ? strchr(meta, '\n') : NULL;
	if (sum)
		*sum++ = '\0';
	tus_number(in);
	if (meta && !tus_metadata(meta, &m, ignore, NULL)) {
		/* what is kept is text the database takes, and a bare name */
		if (!validate_utf8(m.filename, strlen(m.filename)) || strchr(m.filename, '/') ||
		    strlen(m.sha256) % 64)
			abort();
	}
	if (sum)
		tus_checksum(sum, &md, want, &want_len, &why);
	free(in);
	return 0;
}
