/*
 * fuzz_json - a request body as the API reads it (lib/validate.c): strict
 * JSON with a depth limit and UTF-8 checked, then the text readers every
 * handler uses on its fields.
 */
#include "../../lib/validate.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = malloc(size + 1), cut[17];
	const char *why;

	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';
	struct json_object *o = validate_json_object(body, size, 16, &why);
	if (o) {
		json_object_object_foreach(o, key, v) {
			(void)key;
			if (json_object_is_type(v, json_type_string)) {
				const char *s = json_object_get_string(v);
				validate_utf8_chars(s);
				validate_utf8_copy(cut, sizeof(cut), s);
				if (!validate_utf8(cut, strlen(cut)))
					abort();	/* a cut must stay valid UTF-8 */
				char id[40];
				snprintf(id, sizeof(id), "%s", s);
				validate_uuid_lower(id);
				validate_username(s);
			}
		}
		json_object_put(o);
	}
	validate_utf8(body, size);
	free(body);
	return 0;
}
