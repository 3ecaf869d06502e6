/*
 * routes.h - the route table and the one place where an enum err becomes
 * an HTTP status and a problem+json body.
 */
#ifndef CHAT4ALL_ROUTES_H
#define CHAT4ALL_ROUTES_H

#include "app.h"

/* routes_handle - answer one accepted FastCGI request (@fcgi). */
void routes_handle(struct app *app, void *fcgi);

/* routes_count / routes_names - for the metrics slots and /metrics. */
unsigned routes_count(void);
const char *const *routes_names(void);

#endif
