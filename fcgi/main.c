/*
 * chat4all-api - the REST API as a FastCGI responder. lighttpd starts
 * several of these (each serves one request at a time) and hands each the
 * listening socket as descriptor 0.
 */
#include "app.h"
#include "routes.h"

#include "../lib/log.h"

#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t in_request;
static volatile sig_atomic_t stopping;

/* lighttpd sends SIGTERM on shutdown: leave at once when idle, else after
 * the request in hand has been answered. */
static void on_term(int sig)
{
	(void)sig;
	if (!in_request)
		_exit(0);
	stopping = 1;
}

int main(void)
{
	struct app app = { 0 };
	FCGX_Request fr;
	char err[512];
	struct sigaction sa = { .sa_handler = on_term };

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (conf_load(&app.conf, NULL, err, sizeof(err))) {
		fprintf(stderr, "chat4all-api: %s\n", err);
		return 1;
	}
	if (log_open(app.conf.log_file, app.conf.log_level, "api")) {
		fprintf(stderr, "chat4all-api: cannot open log '%s'\n", app.conf.log_file);
		return 1;
	}
	if (!app.conf.jwt_secret || strlen(app.conf.jwt_secret) < 32) {
		log_error(NULL, "jwt_secret must be set and at least 32 bytes "
				"(CHAT4ALL_JWT_SECRET or CHAT4ALL_JWT_SECRET_FILE)");
		return 1;
	}
	/* A database that is down now may be up by the first request:
	 * db_exec reconnects, so start anyway and answer 503 meanwhile. */
	app.db = db_open(app.conf.database_url);
	app.kv = kv_open(app.conf.redis);
	if (!app.db || !app.kv) {
		log_error(NULL, "out of memory");
		return 1;
	}
	if (auth_password_hash("chat4all-timing-equaliser", (uint32_t)app.conf.argon2_iterations,
			       (uint32_t)app.conf.argon2_memory_kib, app.dummy_hash))
		app.dummy_hash[0] = '\0';
	app.metrics = metrics_open(app.conf.metrics_file, routes_count(),
				   (unsigned)app.conf.metrics_slots);

	if (FCGX_Init() || FCGX_InitRequest(&fr, 0, 0)) {
		log_error(NULL, "cannot initialise libfcgi");
		return 1;
	}
	log_info(NULL, "api responder ready");
	while (!stopping && FCGX_Accept_r(&fr) >= 0) {
		in_request = 1;
		routes_handle(&app, &fr);
		FCGX_Finish_r(&fr);
		in_request = 0;
	}
	metrics_free(app.metrics);
	kv_free(app.kv);
	db_free(app.db);
	conf_release(&app.conf);
	return 0;
}
