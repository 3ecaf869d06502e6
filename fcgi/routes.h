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

/*
 * routes_find - the route that takes @method @path: its index (as in
 * routes_names), with its {id}/{n}/{s} segments in @r->params. HEAD takes
 * a GET route. ROUTES_NO_PATH when no route has that path (404),
 * ROUTES_NO_METHOD when some route has it with another method (405).
 */
#define ROUTES_NO_PATH (-1)
#define ROUTES_NO_METHOD (-2)
int routes_find(const char *method, const char *path, struct req *r);

/* routes_status - the HTTP status of an enum err (500 for one without its own). */
int routes_status(int err);

/* routes_count / routes_names - for the metrics slots and /metrics. */
unsigned routes_count(void);
const char *const *routes_names(void);

#endif
