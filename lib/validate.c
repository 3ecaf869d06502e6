#include "validate.h"

#include <string.h>

/* json-c takes 'single-quoted' strings even in strict mode; JSON does not.
 * A quote outside every double-quoted string is one of those. */
static bool has_single_quoted(const char *s, size_t len)
{
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		if (in_string) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_string = false;
		} else if (s[i] == '"') {
			in_string = true;
		} else if (s[i] == '\'') {
			return true;
		}
	}
	return false;
}

struct json_object *validate_json_object(const char *body, size_t len,
					 int max_depth, const char **why)
{
	struct json_tokener *tok;
	struct json_object *o;

	*why = NULL;
	if (!len) {
		*why = "the body is empty";
		return NULL;
	}
	if (has_single_quoted(body, len)) {
		*why = "strings must be in double quotes";
		return NULL;
	}
	/* json-c's own check lets overlong forms (0xC1 0xA1) and surrogates
	 * through, which PostgreSQL refuses (found by tests/fuzz/fuzz_json) */
	if (!validate_utf8(body, len)) {
		*why = "the body is not valid UTF-8";
		return NULL;
	}
	if (!(tok = json_tokener_new_ex(max_depth))) {
		*why = "out of memory";
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, body, (int)len);
	enum json_tokener_error e = json_tokener_get_error(tok);
	if (!o || e != json_tokener_success) {
		*why = e == json_tokener_error_depth ? "the JSON is nested too deeply"
		     : e == json_tokener_continue ? "the JSON ends too early"
		     : json_tokener_error_desc(e);
		json_object_put(o);
		o = NULL;
	} else if (json_tokener_get_parse_end(tok) != len) {
		/* json-c stops after one value and would ignore the rest */
		size_t end = json_tokener_get_parse_end(tok);
		while (end < len && strchr(" \t\r\n", body[end]))
			end++;
		if (end != len) {
			*why = "there is data after the JSON value";
			json_object_put(o);
			o = NULL;
		}
	}
	if (o && !json_object_is_type(o, json_type_object)) {
		*why = "the body must be a JSON object";
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

bool validate_utf8(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str, *e = s + len;

	while (s < e) {
		unsigned c = *s;
		size_t n;
		unsigned cp;

		if (c == 0)
			return false;
		if (c < 0x80) {
			s++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
		else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
		else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
		else return false;
		if ((size_t)(e - s) <= n)
			return false;
		for (size_t i = 1; i <= n; i++) {
			if ((s[i] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i] & 0x3F);
		}
		/* overlong forms, surrogates and values past U+10FFFF */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
			return false;
		s += n + 1;
	}
	return true;
}

void validate_utf8_copy(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (!cap)
		return;
	if (n >= cap) {
		n = cap - 1;
		/* back to the first byte of the character that did not fit */
		while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

size_t validate_utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

bool validate_uuid(const char *s)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	if (!s || strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i]; i++) {
		char c = s[i];
		if (shape[i] == '-' ? c != '-'
		    : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			(c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

bool validate_uuid_lower(char *s)
{
	if (!validate_uuid(s))
		return false;
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'F')
			*s = (char)(*s - 'A' + 'a');
	return true;
}

bool validate_username(const char *s)
{
	size_t n = strlen(s);

	if (n < 3 || n > 32)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '.' || *s == '-'))
			return false;
	return true;
}
