/*
 * fake_moderation - a local stand-in for the moderation APIs we cannot
 * reach from here, speaking their real protocols:
 *   POST /v1/moderations                          (OpenAI, Bearer key)
 *   POST /v1beta/models/{model}:generateContent   (Gemini, x-goog-api-key)
 * A text containing "[flag:CATEGORY]" is flagged with that category
 * (OpenAI names: hate, harassment/threatening, sexual, self-harm/intent…);
 * anything else is clean. Tests steer it:
 *   POST /control?mode=ok|error|slow|garbage|safety   how to answer next
 *   GET  /stats                                       requests per API
 * Usage: fake_moderation --port-file FILE   (binds 127.0.0.1 on a free port)
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_KEY "test-key"

static struct event_base *base;
static char mode[16] = "ok";
static int n_openai, n_gemini;

static void reply(struct evhttp_request *req, int code, const char *json)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add(b, json, strlen(json));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/json");
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", b);
	evbuffer_free(b);
}

struct delayed {
	struct evhttp_request *req;
	char *json;
	struct event *ev;
};

static void send_later(evutil_socket_t fd, short what, void *arg)
{
	struct delayed *d = arg;
	(void)fd;
	(void)what;
	reply(d->req, 200, d->json);
	event_free(d->ev);
	free(d->json);
	free(d);
}

/* Answers @json as the current mode says. */
static void answer(struct evhttp_request *req, const char *json)
{
	if (!strcmp(mode, "error")) {
		reply(req, 500, "{\"error\":{\"message\":\"internal error\"}}");
	} else if (!strcmp(mode, "garbage")) {
		reply(req, 200, "<html>not json</html>");
	} else if (!strcmp(mode, "slow")) {
		struct delayed *d = calloc(1, sizeof(*d));
		struct timeval tv = { 3, 0 };
		d->req = req;
		d->json = strdup(json);
		d->ev = evtimer_new(base, send_later, d);
		evtimer_add(d->ev, &tv);
	} else {
		reply(req, 200, json);
	}
}

static char *body_of(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	char *s = malloc(n + 1);

	evbuffer_remove(in, s, n);
	s[n] = '\0';
	return s;
}

/* The category named by "[flag:…]" in @text, into @out; 0 when none. */
static int flag_of(const char *text, char *out, size_t len)
{
	const char *p = text ? strstr(text, "[flag:") : NULL;
	if (!p)
		return 0;
	p += 6;
	snprintf(out, len, "%.*s", (int)strcspn(p, "]"), p);
	return 1;
}

static void openai(struct evhttp_request *req)
{
	static const char *const cats[] = { "harassment", "harassment/threatening", "hate",
		"hate/threatening", "illicit", "self-harm", "self-harm/intent", "sexual",
		"sexual/minors", "violence", "violence/graphic" };
	const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	char *body = body_of(req), flag[64] = "";
	struct json_object *in = json_tokener_parse(body), *input = NULL;
	struct json_object *out, *results, *res, *c, *s;

	free(body);
	if (!auth || strcmp(auth, "Bearer " API_KEY)) {
		reply(req, 401, "{\"error\":{\"message\":\"bad key\"}}");
		json_object_put(in);
		return;
	}
	n_openai++;
	json_object_object_get_ex(in, "input", &input);
	int flagged = flag_of(input ? json_object_get_string(input) : NULL, flag, sizeof(flag));
	out = json_object_new_object();
	results = json_object_new_array();
	res = json_object_new_object();
	c = json_object_new_object();
	s = json_object_new_object();
	for (size_t i = 0; i < sizeof(cats) / sizeof(cats[0]); i++) {
		int hit = flagged && !strcmp(flag, cats[i]);
		json_object_object_add(c, cats[i], json_object_new_boolean(hit));
		json_object_object_add(s, cats[i], json_object_new_double(hit ? 0.97 : 0.001));
	}
	json_object_object_add(res, "flagged", json_object_new_boolean(flagged));
	json_object_object_add(res, "categories", c);
	json_object_object_add(res, "category_scores", s);
	json_object_array_add(results, res);
	json_object_object_add(out, "id", json_object_new_string("modr-fake"));
	json_object_object_add(out, "model", json_object_new_string("omni-moderation-latest"));
	json_object_object_add(out, "results", results);
	answer(req, json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
	json_object_put(out);
	json_object_put(in);
}

static void gemini(struct evhttp_request *req)
{
	const char *key = evhttp_find_header(evhttp_request_get_input_headers(req), "x-goog-api-key");
	char *body = body_of(req), flag[64] = "", verdict[160], *out;
	struct json_object *in = json_tokener_parse(body), *t;
	const char *text = NULL;

	free(body);
	if (!key || strcmp(key, API_KEY)) {
		reply(req, 403, "{\"error\":{\"code\":403,\"status\":\"PERMISSION_DENIED\"}}");
		json_object_put(in);
		return;
	}
	n_gemini++;
	if (json_object_object_get_ex(in, "contents", &t) && (t = json_object_array_get_idx(t, 0)) &&
	    json_object_object_get_ex(t, "parts", &t) && (t = json_object_array_get_idx(t, 0)) &&
	    json_object_object_get_ex(t, "text", &t))
		text = json_object_get_string(t);
	if (!strcmp(mode, "safety")) {
		reply(req, 200, "{\"candidates\":[{\"finishReason\":\"SAFETY\",\"index\":0}],"
				"\"promptFeedback\":{\"safetyRatings\":[]}}");
		json_object_put(in);
		return;
	}
	if (flag_of(text, flag, sizeof(flag)))
		snprintf(verdict, sizeof(verdict),
			 "{\"verdict\":\"reject\",\"category\":\"%.*s\",\"score\":0.9}",
			 (int)strcspn(flag, "/"), flag);
	else
		snprintf(verdict, sizeof(verdict), "{\"verdict\":\"approve\",\"category\":\"none\"}");
	struct json_object *o = json_object_new_object(), *cands = json_object_new_array();
	struct json_object *cand = json_object_new_object(), *content = json_object_new_object();
	struct json_object *parts = json_object_new_array(), *part = json_object_new_object();
	json_object_object_add(part, "text", json_object_new_string(verdict));
	json_object_array_add(parts, part);
	json_object_object_add(content, "parts", parts);
	json_object_object_add(content, "role", json_object_new_string("model"));
	json_object_object_add(cand, "content", content);
	json_object_object_add(cand, "finishReason", json_object_new_string("STOP"));
	json_object_array_add(cands, cand);
	json_object_object_add(o, "candidates", cands);
	out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	answer(req, out);
	free(out);
	json_object_put(o);
	json_object_put(in);
}

static void route(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	(void)arg;

	if (!strncmp(uri, "/control?mode=", 14)) {
		snprintf(mode, sizeof(mode), "%s", uri + 14);
		reply(req, 200, "{}");
	} else if (!strcmp(uri, "/stats")) {
		char s[96];
		snprintf(s, sizeof(s), "{\"openai\":%d,\"gemini\":%d}", n_openai, n_gemini);
		reply(req, 200, s);
	} else if (!strcmp(uri, "/v1/moderations")) {
		openai(req);
	} else if (!strncmp(uri, "/v1beta/models/", 15) && strstr(uri, ":generateContent")) {
		gemini(req);
	} else {
		reply(req, 404, "{\"error\":\"not found\"}");
	}
}

int main(int argc, char **argv)
{
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	struct sockaddr_storage ss;
	ev_socklen_t len = sizeof(ss);

	if (argc != 3 || strcmp(argv[1], "--port-file")) {
		fprintf(stderr, "usage: fake_moderation --port-file FILE\n");
		return 2;
	}
	base = event_base_new();
	http = evhttp_new(base);
	evhttp_set_gencb(http, route, NULL);
	if (!(sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0)))
		return 1;
	getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &len);
	FILE *f = fopen(argv[2], "w");
	fprintf(f, "%d\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
	fclose(f);
	event_base_dispatch(base);
	return 0;
}
