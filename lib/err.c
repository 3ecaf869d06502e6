#include "err.h"

const char *err_name(int code)
{
	switch (code) {
	case ERR_OK: return "ok";
	case ERR_INVALID_JSON: return "invalid-json";
	case ERR_VALIDATION: return "validation";
	case ERR_AUTH: return "unauthorized";
	case ERR_FORBIDDEN: return "forbidden";
	case ERR_NOTFOUND: return "not-found";
	case ERR_CONFLICT: return "conflict";
	case ERR_TOOLARGE: return "too-large";
	case ERR_RATELIMITED: return "rate-limited";
	case ERR_MEDIATYPE: return "unsupported-media-type";
	case ERR_METHOD: return "method-not-allowed";
	case ERR_UNAVAILABLE: return "unavailable";
	case ERR_PRECONDITION: return "precondition-failed";
	case ERR_CHECKSUM: return "checksum-mismatch";
	case ERR_STORAGE: return "insufficient-storage";
	case ERR_GONE: return "gone";
	case ERR_DB: return "internal";
	default: return "internal";
	}
}
