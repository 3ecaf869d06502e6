/*
 * fuzz_ids - the ids a stranger hands back: stream cursors and
 * Last-Event-ID (lib/events.c), UUIDs in paths (lib/validate.c), file
 * names (lib/filestore.c). Input: two ids separated by a newline.
 */
#include "../../lib/events.h"
#include "../../lib/filestore.h"
#include "../../lib/validate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), *b, path[256], name[256];

	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	b = strchr(in, '\n');
	if (b)
		*b++ = '\0';
	if (events_id_valid(in) && b && events_id_valid(b)) {
		int x = events_id_cmp(in, b), y = events_id_cmp(b, in);
		if ((x > 0) != (y < 0) || (x == 0) != (y == 0))
			abort();	/* an order, both ways */
	}
	if (validate_uuid_lower(in) && filestore_path("/files", in, path, sizeof(path)))
		abort();	/* a valid id always has a path */
	filestore_safe_name(in, name, sizeof(name));
	if (strchr(name, '/') || strchr(name, '\\') || !*name)
		abort();	/* a name to show, never a path, never empty */
	free(in);
	return 0;
}
