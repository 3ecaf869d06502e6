/*
 * err.h - the one error vocabulary of Chat4All.
 *
 * Actions return 0 or one of these negative codes and pass them up unchanged.
 * Only the API's route table turns a code into an HTTP status and a
 * problem+json body (fcgi/routes.c), so lib/ stays free of HTTP.
 */
#ifndef CHAT4ALL_ERR_H
#define CHAT4ALL_ERR_H

enum err {
	ERR_OK = 0,
	ERR_INVALID_JSON = -1,	/* the body is not the JSON we accept */
	ERR_VALIDATION = -2,	/* well-formed, but a field breaks a rule */
	ERR_AUTH = -3,		/* no, expired or bad credentials */
	ERR_FORBIDDEN = -4,	/* authenticated, but not allowed */
	ERR_NOTFOUND = -5,
	ERR_CONFLICT = -6,
	ERR_TOOLARGE = -7,
	ERR_RATELIMITED = -8,
	ERR_MEDIATYPE = -9,	/* unsupported Content-Type */
	ERR_METHOD = -10,	/* the path exists, the method does not */
	ERR_UNAVAILABLE = -11,	/* a dependency is down: retry later */
	ERR_DB = -12,		/* unexpected database failure */
	ERR_INTERNAL = -13,
	ERR_PRECONDITION = -14,	/* a protocol version or state the request assumes */
	ERR_CHECKSUM = -15,	/* the data does not match its checksum */
	ERR_STORAGE = -16,	/* the disk is full */
	ERR_GONE = -17,		/* it existed and has expired */
};

/* err_name - a stable lowercase word for logs ("conflict"). */
const char *err_name(int code);

#endif
