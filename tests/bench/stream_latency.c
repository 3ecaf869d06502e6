/*
 * stream_latency - end-to-end latency from POST to the recipient's SSE
 * event, through lighttpd, the API, moderation, release and the gateway.
 *   stream_latency BASE_URL SENDER_TOKEN RECIPIENT_TOKEN CONVERSATION RATE SECONDS
 * Sends RATE messages a second (4 threads) for SECONDS, each text carrying
 * its send time; the recipient's stream reads them; prints p50/p99.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define THREADS 4
#define MAX_SAMPLES 1000000

static const char *base_url, *sender, *recipient, *conv;
static double rate, seconds;
static double samples[MAX_SAMPLES], posts[MAX_SAMPLES];	/* ms: POST → event; the POST alone */
static int nsamples, nposts, sent, errors;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static volatile int stop_reader;
static char carry[65536];
static size_t carry_len;

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Finds "lat:<µs>" in each complete line of the stream. */
static size_t on_stream(char *p, size_t size, size_t n, void *arg)
{
	size_t len = size * n;
	(void)arg;
	if (carry_len + len >= sizeof(carry))
		carry_len = 0;
	memcpy(carry + carry_len, p, len);
	carry_len += len;
	carry[carry_len] = '\0';
	char *line = carry, *nl;
	while ((nl = strchr(line, '\n'))) {
		*nl = '\0';
		char *m = strstr(line, "\"text\" : \"lat:");
		if (m && strstr(line, "event") == NULL) {
			double t = atof(m + 14), d = now_us() - t;
			pthread_mutex_lock(&mu);
			if (nsamples < MAX_SAMPLES)
				samples[nsamples++] = d / 1000.0;
			pthread_mutex_unlock(&mu);
		}
		line = nl + 1;
	}
	carry_len = strlen(line);
	memmove(carry, line, carry_len + 1);
	return len;
}

static int stream_progress(void *a, curl_off_t b, curl_off_t c, curl_off_t d, curl_off_t e)
{
	(void)a; (void)b; (void)c; (void)d; (void)e;
	return stop_reader;
}

static void *reader(void *arg)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[512], auth[1100];
	(void)arg;

	snprintf(url, sizeof(url), "%s/v1/stream", base_url);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", recipient);
	h = curl_slist_append(h, auth);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, stream_progress);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_perform(c);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return NULL;
}

static size_t discard(char *p, size_t s, size_t n, void *a)
{
	(void)p;
	(void)a;
	return s * n;
}

static void *writer(void *arg)
{
	long id = (long)arg;
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[512], auth[1100], body[256];
	double interval = 1e6 / (rate / THREADS), next = now_us(), end = next + seconds * 1e6;
	int k = 0;

	snprintf(url, sizeof(url), "%s/v1/conversations/%s/messages", base_url, conv);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", sender);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	while (now_us() < end) {
		double wait = next - now_us();
		if (wait > 0)
			usleep((useconds_t)wait);
		next += interval;
		snprintf(body, sizeof(body), "{\"client_id\":\"lat-%d-%ld-%d-%ld\",\"text\":\"lat:%.0f\"}",
			 getpid(), id, k++, (long)time(NULL), now_us());
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		long status = 0;
		double t0 = now_us();
		if (curl_easy_perform(c) == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		double took = (now_us() - t0) / 1000.0;
		pthread_mutex_lock(&mu);
		if (nposts < MAX_SAMPLES)
			posts[nposts++] = took;
		sent++;
		if (status != 202)
			errors++;
		pthread_mutex_unlock(&mu);
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	pthread_t r, w[THREADS];

	if (argc != 7) {
		fprintf(stderr, "usage: stream_latency BASE SENDER_TOKEN RECIPIENT_TOKEN CONV RATE SECONDS\n");
		return 2;
	}
	base_url = argv[1];
	sender = argv[2];
	recipient = argv[3];
	conv = argv[4];
	rate = atof(argv[5]);
	seconds = atof(argv[6]);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_create(&r, NULL, reader, NULL);
	usleep(500000);	/* the stream is open before the first send */
	for (long i = 0; i < THREADS; i++)
		pthread_create(&w[i], NULL, writer, (void *)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(w[i], NULL);
	sleep(2);	/* the last ones arrive */
	stop_reader = 1;
	pthread_join(r, NULL);
	qsort(samples, (size_t)nsamples, sizeof(double), cmp);
	qsort(posts, (size_t)nposts, sizeof(double), cmp);
	if (!nsamples) {
		printf("latency: no events received (%d sent, %d errors)\n", sent, errors);
		return 1;
	}
	printf("latency POST → SSE at %.0f msg/s for %.0f s: %d sent, %d received, %d errors; "
	       "p50 %.1f ms, p99 %.1f ms, max %.1f ms (the POST alone: p50 %.1f ms, p99 %.1f ms)\n",
	       rate, seconds, sent, nsamples, errors, samples[nsamples / 2],
	       samples[(int)(nsamples * 0.99)], samples[nsamples - 1], posts[nposts / 2],
	       posts[(int)(nposts * 0.99)]);
	return 0;
}
