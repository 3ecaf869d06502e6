/*
 * mock_cluster - a Kafka cluster for the tests and the bench, not shipped:
 * librdkafka's mock (a real Kafka-protocol broker set inside this process;
 * no Kafka broker can be installed on these machines), reached by other
 * processes over TCP like any cluster.
 *
 *   mock_cluster --bootstrap-file F [--brokers 3] [--prefix chat4all.]
 *                [--partitions 32] [--control FIFO]
 *
 * Creates the topics of @prefix (messages, deliveries, inbound, dead) with
 * @partitions partitions and replication factor 3, writes the bootstrap
 * list ("127.0.0.1:p1,127.0.0.1:p2,…") to F once it listens, then serves
 * until SIGTERM / SIGINT or "quit". Faults for the tests, one per line of
 * stdin, or of the FIFO --control makes (any process may write to it):
 *   down N          broker N stops answering   up N   it answers again
 *   produce-errors N  the next N produce requests fail (retriable:
 *                     NOT_LEADER_FOR_PARTITION), as a broker changing leader
 * Limits of the mock (librdkafka 2.0.2): memory only; no Admin API; no
 * transactions worth the name (not used); fixed retention.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void command(rd_kafka_mock_cluster_t *mc, char *line)
{
	int n = 0;

	line[strcspn(line, "\r\n")] = '\0';
	if (sscanf(line, "down %d", &n) == 1) {
		rd_kafka_mock_broker_set_down(mc, n);
	} else if (sscanf(line, "up %d", &n) == 1) {
		rd_kafka_mock_broker_set_up(mc, n);
	} else if (sscanf(line, "produce-errors %d", &n) == 1) {
		for (int i = 0; i < n; i++)	/* ApiKey 0: Produce */
			rd_kafka_mock_push_request_errors(mc, 0, 1,
							  RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
	} else if (!strcmp(line, "quit")) {
		stopping = 1;
		return;
	} else if (*line) {
		fprintf(stderr, "mock_cluster: unknown command '%s'\n", line);
		return;
	}
	fprintf(stderr, "mock_cluster: %s\n", line);
}

int main(int argc, char **argv)
{
	const char *file = NULL, *prefix = "chat4all.", *control = NULL;
	int brokers = 3, partitions = 32;
	char err[256], line[256];

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--bootstrap-file"))
			file = argv[i + 1];
		else if (!strcmp(argv[i], "--brokers"))
			brokers = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--prefix"))
			prefix = argv[i + 1];
		else if (!strcmp(argv[i], "--partitions"))
			partitions = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--control"))
			control = argv[i + 1];
	}
	if (!file || brokers < 1 || partitions < 1) {
		fprintf(stderr, "usage: mock_cluster --bootstrap-file F [--brokers 3] "
				"[--prefix chat4all.] [--partitions 32]\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);

	/* the mock lives inside a client handle that does nothing else */
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk) {
		fprintf(stderr, "mock_cluster: %s\n", err);
		return 1;
	}
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
	if (!mc) {
		fprintf(stderr, "mock_cluster: cannot start the mock cluster\n");
		return 1;
	}
	static const char *const topics[] = { "messages", "deliveries", "inbound", "dead" };
	for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
		char name[256];
		snprintf(name, sizeof(name), "%s%s", prefix, topics[i]);
		if (rd_kafka_mock_topic_create(mc, name, partitions, brokers < 3 ? brokers : 3)) {
			fprintf(stderr, "mock_cluster: cannot create %s\n", name);
			return 1;
		}
	}
	/* commands: from the FIFO (opened read-write: it never ends) or stdin;
	 * made before the bootstrap file, which says that all is ready */
	int fd = 0;
	if (control) {
		unlink(control);
		if (mkfifo(control, 0600) || (fd = open(control, O_RDWR | O_NONBLOCK)) < 0) {
			fprintf(stderr, "mock_cluster: cannot make %s: %s\n", control, strerror(errno));
			return 1;
		}
	}
	/* written whole, then renamed: a reader never sees half of it */
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%s\n", rd_kafka_mock_cluster_bootstraps(mc)) < 0 || fclose(f) ||
	    rename(tmp, file)) {
		fprintf(stderr, "mock_cluster: cannot write %s: %s\n", file, strerror(errno));
		return 1;
	}
	fprintf(stderr, "mock_cluster: %d brokers at %s, topics %s* with %d partitions\n", brokers,
		rd_kafka_mock_cluster_bootstraps(mc), prefix, partitions);

	FILE *in = fdopen(fd, "r");
	bool eof = false;
	while (!stopping) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (eof) {
			poll(NULL, 0, 200);
			continue;
		}
		if (poll(&p, 1, 200) <= 0)
			continue;
		/* every line that came (stdio may hold several from one read) */
		while (fgets(line, sizeof(line), in))
			command(mc, line);
		if (control)
			clearerr(in);	/* nothing more yet: the FIFO never ends */
		else if (feof(in))
			eof = true;	/* no more commands: serve until a signal */
	}
	if (control)
		unlink(control);
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	unlink(file);
	return 0;
}
