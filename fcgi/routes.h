/*
 * routes.h - the route table and the one place where an enum err becomes
 * an HTTP status and a problem+json body.
 */
#ifndef CHAT4ALL_ROUTES_H
#define CHAT4ALL_ROUTES_H

#include "app.h"

/* routes_handle - answer one accepted FastCGI request (@fcgi). */
void routes_handle(struct app *app, void *fcgi);

struct req;

/* routes_limit_detail - the problem detail of a refused sign-in or rate
 * limit (@rc: ERR_RATELIMITED with r->retry_after, ERR_AUTH, ERR_UNAVAILABLE). */
void routes_limit_detail(struct req *r, int rc);

/* routes_count / routes_names - for the metrics slots and /metrics. */
unsigned routes_count(void);
const char *const *routes_names(void);

#endif
