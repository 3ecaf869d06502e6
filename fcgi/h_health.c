/*
 * h_health.c - /healthz (the process answers), /readyz (PostgreSQL and
 * Redis answer) and /metrics (Prometheus text, all responders summed).
 */
#include "handlers.h"
#include "routes.h"

#include "../lib/err.h"
#include "../lib/filestore.h"
#include "../lib/kafka.h"
#include "../lib/channels.h"
#include "../lib/moderation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int h_health_live(struct req *r)
{
	return req_reply(r, 200, "{\"status\":\"ok\"}");
}

int h_health_ready(struct req *r)
{
	bool db = db_ping(r->app->db) == 0, kv = kv_ping(r->app->kv) == 0;
	char body[128];

	snprintf(body, sizeof(body),
		 "{\"status\":\"%s\",\"postgresql\":\"%s\",\"redis\":\"%s\"}",
		 db && kv ? "ready" : "unavailable", db ? "up" : "down", kv ? "up" : "down");
	r->content_type = "application/json";
	return req_reply(r, db && kv ? 200 : 503, body);
}

/* Appends @more (taken) to *text. */
static void append(char **text, char *more)
{
	char *all = NULL;

	if (more && asprintf(&all, "%s%s", *text, more) >= 0) {
		free(*text);
		*text = all;
	}
	free(more);
}

/* bus = kafka: what the relays and the workers counted, how far each
 * partition's consumers are behind (bus_offsets), and the age of the oldest
 * outbox row not published yet. */
static char *bus_metrics(struct req *r)
{
	char *path = metrics_path_for(r->app->conf.metrics_file, "bus");
	struct metrics *mm = path ? metrics_attach(path, KAFKA_NSERIES,
						   (unsigned)r->app->conf.metrics_slots) : NULL;
	char *text = mm ? metrics_render_series(mm, kafka_series_labels(), "chat4all_bus_total", NULL,
						"Kafka: outbox rows published (and failed), records "
						"consumed (copies included), rebalances, records buried, "
						"deliveries handed over to the table's per-address queue.")
			: strdup("");
	PGresult *res = NULL;
	const char *kinds[] = { KAFKA_RELAYED_KINDS };

	metrics_free(mm);
	free(path);
	if (text && !db_exec(r->app->db, SQL_BUS_LAG, NULL, &res)) {
		char *add = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&add, &len);
		fprintf(f, "# HELP chat4all_bus_consumer_lag Records of a partition its group has not done.\n"
			   "# TYPE chat4all_bus_consumer_lag gauge\n");
		for (int i = 0; i < PQntuples(res); i++)
			fprintf(f, "chat4all_bus_consumer_lag{group=\"%s\",topic=\"%s\",partition=\"%s\"} %s\n",
				PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
				PQgetvalue(res, i, 3));
		PQclear(res);
		res = NULL;
		if (!db_exec(r->app->db, SQL_RELAY_LAG, kinds, &res))
			fprintf(f, "# HELP chat4all_bus_relay_lag_seconds Age of the oldest outbox row not "
				   "published yet.\n# TYPE chat4all_bus_relay_lag_seconds gauge\n"
				   "chat4all_bus_relay_lag_seconds %s\n", PQgetvalue(res, 0, 0));
		fclose(f);
		append(&text, add);
	}
	PQclear(res);
	return text;
}

int h_health_metrics(struct req *r)
{
	char *text;

	if (!r->app->metrics) {
		req_detail(r, "metrics are not available in this process");
		return ERR_UNAVAILABLE;
	}
	if (!(text = metrics_render(r->app->metrics, routes_names())))
		return ERR_INTERNAL;
	/* the queue, as PostgreSQL holds it now, whichever process asks */
	PGresult *res = NULL;
	if (!db_exec(r->app->db, SQL_QUEUE_STATS, NULL, &res)) {
		char *more = NULL;
		size_t len = strlen(text) + 512 + (size_t)PQntuples(res) * 256;
		if ((more = realloc(text, len))) {
			text = more;
			strcat(text, "# HELP chat4all_jobs_queued Jobs waiting or running, by kind (dead: the dead-letter table).\n"
				     "# TYPE chat4all_jobs_queued gauge\n");
			for (int i = 0; i < PQntuples(res); i++)
				snprintf(text + strlen(text), len - strlen(text),
					 "chat4all_jobs_queued{kind=\"%s\"} %s\n",
					 PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
			strcat(text, "# HELP chat4all_jobs_oldest_age_seconds Age of the oldest job, by kind.\n"
				     "# TYPE chat4all_jobs_oldest_age_seconds gauge\n");
			for (int i = 0; i < PQntuples(res); i++)
				if (strcmp(PQgetvalue(res, i, 0), "dead"))
					snprintf(text + strlen(text), len - strlen(text),
						 "chat4all_jobs_oldest_age_seconds{kind=\"%s\"} %s\n",
						 PQgetvalue(res, i, 0), PQgetvalue(res, i, 2));
		}
	}
	PQclear(res);

	/* the file store's disk, for an alert before uploads fail */
	long long free_bytes = filestore_free(r->app->conf.files_dir);
	if (free_bytes >= 0) {
		char line[256];
		snprintf(line, sizeof(line), "# HELP chat4all_files_free_bytes Bytes free for uploads on "
			 "the file store's disk.\n# TYPE chat4all_files_free_bytes gauge\n"
			 "chat4all_files_free_bytes %lld\n", free_bytes);
		append(&text, strdup(line));
	}

	/* what the workers counted: decisions and provider latency */
	char *path = metrics_path_for(r->app->conf.metrics_file, "moderation");
	struct metrics *mm = path ? metrics_attach(path, MODERATION_SERIES,
						   (unsigned)r->app->conf.metrics_slots) : NULL;
	char *mod = mm ? metrics_render_series(mm, moderation_series_labels(),
					       "chat4all_moderation_decisions_total",
					       "chat4all_moderation_provider_seconds",
					       "Moderation answers by provider, verdict and category.") : NULL;
	append(&text, mod);
	metrics_free(mm);
	free(path);

	/* the workers' deliveries to the channels */
	path = metrics_path_for(r->app->conf.metrics_file, "channels");
	mm = path ? metrics_attach(path, CHANNEL_NSERIES, (unsigned)r->app->conf.metrics_slots) : NULL;
	char *ch = mm ? metrics_render_series(mm, channel_series_labels(),
					      "chat4all_channel_deliveries_total",
					      "chat4all_channel_request_seconds",
					      "Requests to the providers by channel and outcome "
					      "(sent, retried, failed, paced).") : NULL;
	append(&text, ch);
	metrics_free(mm);
	free(path);

	/* the stream gateway's: streams opened and closed, events sent */
	path = metrics_path_for(r->app->conf.metrics_file, "stream");
	mm = path ? metrics_attach(path, STREAM_NSERIES, 4) : NULL;
	char *st = mm ? metrics_render_series(mm, metrics_stream_labels(), "chat4all_stream_total",
					      NULL, "SSE streams opened and closed, events sent, "
						    "slow readers dropped; connected = opened - closed.")
		      : NULL;
	append(&text, st);
	metrics_free(mm);
	free(path);
	/* every process's trace exporter: spans handed to otlp_endpoint, or lost */
	path = metrics_path_for(r->app->conf.metrics_file, "traces");
	mm = path ? metrics_attach(path, TRACE_NSERIES, (unsigned)r->app->conf.metrics_slots) : NULL;
	char *tr = mm ? metrics_render_series(mm, metrics_trace_labels(), "chat4all_trace_spans_total",
					      NULL, "Spans exported to otlp_endpoint, and dropped "
						    "(the waiting list was full, or the collector "
						    "refused them).")
		      : NULL;
	append(&text, tr);
	metrics_free(mm);
	free(path);
	if (!strcmp(r->app->conf.bus, "kafka"))
		append(&text, bus_metrics(r));
	r->content_type = "text/plain; version=0.0.4";
	return req_reply_take(r, 200, text);
}
