/*
 * h_health.c - /healthz (the process answers), /readyz (PostgreSQL and
 * Redis answer) and /metrics (Prometheus text, all responders summed).
 */
#include "handlers.h"
#include "routes.h"

#include "../lib/err.h"

#include <stdio.h>

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

int h_health_metrics(struct req *r)
{
	char *text;

	if (!r->app->metrics) {
		req_detail(r, "metrics are not available in this process");
		return ERR_UNAVAILABLE;
	}
	if (!(text = metrics_render(r->app->metrics, routes_names())))
		return ERR_INTERNAL;
	r->content_type = "text/plain; version=0.0.4";
	return req_reply_take(r, 200, text);
}
