/*
 * chat4all-api - the REST API as a FastCGI responder. lighttpd starts
 * several of these and hands each the listening socket as descriptor 0.
 *
 * Each responder serves api_threads requests at once, one per thread,
 * each thread with its own PostgreSQL and Redis connections. Their sends
 * commit together through the process's writer thread (send_batch.h):
 * that, not the threads themselves, is what makes a busy responder fast.
 * `chat4all-api --threads N` overrides the setting (lighttpd's upload
 * pool runs single-threaded responders: an upload is one long request).
 */
#include "app.h"
#include "routes.h"
#include "send_batch.h"

#include "../lib/channels.h"
#include "../lib/log.h"
#include "../lib/moderation.h"
#include "../lib/trace.h"

#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS_MAX 64

static int busy;	/* threads inside a request (atomic) */
static volatile sig_atomic_t stopping;

/* lighttpd sends SIGTERM on shutdown: leave at once when idle, else after
 * the requests in hand have been answered. */
static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
	if (!__atomic_load_n(&busy, __ATOMIC_SEQ_CST))
		_exit(0);
}

static void *serve(void *arg)
{
	struct app *app = arg;
	FCGX_Request fr;

	if (FCGX_InitRequest(&fr, 0, 0)) {
		log_error(NULL, "cannot initialise libfcgi");
		return NULL;
	}
	for (;;) {
		/* every thread waits in accept on the one socket: Linux hands
		 * each connection to one of them (libfcgi's advice to serialise
		 * accept with a lock is for other platforms) */
		int rc = stopping ? -1 : FCGX_Accept_r(&fr);
		if (rc >= 0)
			__atomic_add_fetch(&busy, 1, __ATOMIC_SEQ_CST);
		if (rc < 0 && !stopping) {
			/* the socket lighttpd gave us is gone: it starts another */
			log_error(NULL, "cannot accept requests any more");
			_exit(1);
		}
		if (rc < 0)
			break;
		routes_handle(app, &fr);
		FCGX_Finish_r(&fr);
		if (!__atomic_sub_fetch(&busy, 1, __ATOMIC_SEQ_CST) && stopping)
			_exit(0);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct app app = { 0 };
	struct app *apps;
	pthread_t threads[THREADS_MAX];
	char err[512];
	long nthreads;
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
	trace_sample(app.conf.otlp_sample);
	trace_exporter_start(app.conf.otlp_endpoint, "chat4all-api", app.conf.metrics_file,
			     (unsigned)app.conf.metrics_slots);
	nthreads = app.conf.api_threads;
	if (argc == 3 && !strcmp(argv[1], "--threads"))
		nthreads = atol(argv[2]);
	if (nthreads < 1 || nthreads > THREADS_MAX) {
		log_error(NULL, "api_threads must be from 1 to %d", THREADS_MAX);
		return 1;
	}
	if (!app.conf.jwt_secret || strlen(app.conf.jwt_secret) < 32) {
		log_error(NULL, "jwt_secret must be set and at least 32 bytes "
				"(CHAT4ALL_JWT_SECRET or CHAT4ALL_JWT_SECRET_FILE)");
		return 1;
	}
	if (auth_password_hash("chat4all-timing-equaliser", (uint32_t)app.conf.argon2_iterations,
			       (uint32_t)app.conf.argon2_memory_kib, app.dummy_hash))
		app.dummy_hash[0] = '\0';
	app.metrics = metrics_open(app.conf.metrics_file, routes_count(),
				   (unsigned)app.conf.metrics_slots);
	/* what the threads only read afterwards, made once before them */
	routes_names();
	channel_series_labels();
	channel_names();
	moderation_series_labels();
	if (nthreads > 1 && !(app.sends = send_batch_start(&app.conf)))
		log_warn(NULL, "no send writer: each send commits alone");

	if (FCGX_Init()) {
		log_error(NULL, "cannot initialise libfcgi");
		return 1;
	}
	/* A database that is down now may be up by the first request:
	 * db_exec reconnects, so start anyway and answer 503 meanwhile. */
	if (!(apps = calloc((size_t)nthreads, sizeof(*apps)))) {
		log_error(NULL, "out of memory");
		return 1;
	}
	for (long i = 0; i < nthreads; i++) {
		apps[i] = app;
		apps[i].db = db_open(app.conf.database_url);
		apps[i].kv = kv_open(app.conf.redis);
		if (!apps[i].db || !apps[i].kv) {
			log_error(NULL, "out of memory");
			return 1;
		}
	}
	log_info(NULL, "api responder ready (%ld threads)", nthreads);
	for (long i = 1; i < nthreads; i++)
		if (pthread_create(&threads[i], NULL, serve, &apps[i])) {
			log_error(NULL, "cannot start thread %ld", i);
			return 1;
		}
	serve(&apps[0]);
	/* stopping: the others leave after their request (on_term, serve) */
	for (;;)
		pause();
}
