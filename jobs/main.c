/*
 * chat4all-jobs - the asynchronous side of Chat4All.
 *   chat4all-jobs worker [--pidfile FILE]   moderate and release messages,
 *                                          verify uploaded files, take webhooks in
 *   chat4all-jobs deliver [--pidfile FILE]  send deliveries to the channels
 *   chat4all-jobs cron [--every SECONDS] [--pidfile FILE]
 *                                          expired uploads, orphaned files
 *   chat4all-jobs relay [--pidfile FILE]    bus = kafka: the outbox to Kafka
 * Several workers run side by side; each claims its own jobs.
 */
#include "jobs.h"

#include "../lib/channels.h"
#include "../lib/kafka.h"
#include "../lib/log.h"
#include "../lib/netguard.h"
#include "../lib/trace.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr, "usage: chat4all-jobs worker [--pidfile FILE]\n"
			"       chat4all-jobs deliver [--pidfile FILE]\n"
			"       chat4all-jobs cron [--every SECONDS] [--pidfile FILE]\n"
			"       chat4all-jobs relay [--pidfile FILE]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct worker w = { 0 };
	const char *pidfile = NULL;
	char err[512];
	int rc = 1;

	if (argc < 2 || (strcmp(argv[1], "worker") && strcmp(argv[1], "deliver") &&
			 strcmp(argv[1], "cron") && strcmp(argv[1], "relay")))
		return usage();
	bool cron = !strcmp(argv[1], "cron"), deliver = !strcmp(argv[1], "deliver");
	bool relay = !strcmp(argv[1], "relay");
	int every = 0;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--pidfile") && i + 1 < argc)
			pidfile = argv[++i];
		else if (cron && !strcmp(argv[i], "--every") && i + 1 < argc &&
			 (every = atoi(argv[++i])) > 0)
			continue;
		else
			return usage();
	}
	/* a write to a peer that went away (Redis restarted, a provider hung
	 * up) must be an error to handle, not the end of the process */
	signal(SIGPIPE, SIG_IGN);
	if (conf_load(&w.conf, NULL, err, sizeof(err))) {
		fprintf(stderr, "chat4all-jobs: %s\n", err);
		return 1;
	}
	if (log_open(w.conf.log_file, w.conf.log_level, argv[1])) {
		fprintf(stderr, "chat4all-jobs: cannot open log '%s'\n", w.conf.log_file);
		goto out;
	}
	char service[48];
	snprintf(service, sizeof(service), "chat4all-%s", argv[1]);
	trace_sample(w.conf.otlp_sample);
	trace_exporter_start(w.conf.otlp_endpoint, service, w.conf.metrics_file,
			     (unsigned)w.conf.metrics_slots);
	if (!(w.moderation = moderation_new(&w.conf, err, sizeof(err)))) {
		log_error(NULL, "moderation: %s", err);
		fprintf(stderr, "chat4all-jobs: moderation: %s\n", err);
		goto out;
	}
	if (!(w.guard = netguard_new(w.conf.outbound_allow, err, sizeof(err)))) {
		log_error(NULL, "%s", err);
		fprintf(stderr, "chat4all-jobs: %s\n", err);
		goto out;
	}
	if (!(w.db = db_open(w.conf.database_url)) || !(w.kv = kv_open(w.conf.redis)))
		goto out;
	char *mpath = metrics_path_for(w.conf.metrics_file, "moderation");
	w.moderation_metrics = mpath ? metrics_open(mpath, MODERATION_SERIES,
						    (unsigned)w.conf.metrics_slots) : NULL;
	free(mpath);
	if (!strcmp(w.conf.bus, "kafka")) {
		mpath = metrics_path_for(w.conf.metrics_file, "bus");
		w.bus_metrics = mpath ? metrics_open(mpath, KAFKA_NSERIES, (unsigned)w.conf.metrics_slots)
				      : NULL;
		free(mpath);
	}
	mpath = metrics_path_for(w.conf.metrics_file, "channels");
	w.channel_metrics = mpath ? metrics_open(mpath, CHANNEL_NSERIES, (unsigned)w.conf.metrics_slots)
				  : NULL;
	free(mpath);
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");
		if (!f) {
			fprintf(stderr, "chat4all-jobs: cannot write '%s'\n", pidfile);
			goto out;
		}
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
	}
	rc = cron ? cron_run(&w, every) : deliver ? deliver_run(&w) : relay ? relay_run(&w)
										 : worker_run(&w);
	if (pidfile)
		unlink(pidfile);
out:
	trace_exporter_stop();	/* (what the last seconds ended) */
	db_free(w.db);
	kv_free(w.kv);
	metrics_free(w.moderation_metrics);
	metrics_free(w.channel_metrics);
	metrics_free(w.bus_metrics);
	moderation_free(w.moderation);
	netguard_free(w.guard);
	conf_free(&w.conf);
	return rc;
}
