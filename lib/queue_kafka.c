#include "queue_kafka.h"

#include "clock.h"
#include "err.h"
#include "kafka.h"
#include "log.h"

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* A job taken from a record and not done yet: tried again from memory. */
struct retry {
	struct job job;
	long long due_ms;
};

/* What this member knows of one assigned partition. */
struct part {
	bool assigned;
	long long *pending;	/* offsets claimed and not done */
	size_t npending, cap;
	long long done_max;	/* the highest offset done (-1: none) */
};

struct queue_kafka {
	const struct conf *conf;
	struct db *db;
	rd_kafka_t *rk;
	rd_kafka_t *dead;	/* producer for <prefix>dead, made when first needed */
	char group[128], topic[256], kind[32];
	struct part *parts;
	int nparts;
	struct retry *retries;
	size_t nretries, retries_cap;
	long rebalances;
	long long watermarks_at;	/* when the partitions' ends were last written */
	int wake[2];			/* queue_kafka_wake_fd's pipe, or -1 */
};

#define WATERMARKS_MS 5000

/* The ends of the partitions this member holds, for /metrics' lag (from
 * what the fetches told: no request to the brokers). */
static void store_watermarks(struct queue_kafka *q)
{
	struct db_array parts = { 0 }, highs = { 0 };
	int n = 0;

	for (int i = 0; i < q->nparts; i++) {
		int64_t lo = -1, hi = -1;
		if (!q->parts[i].assigned ||
		    rd_kafka_get_watermark_offsets(q->rk, q->topic, i, &lo, &hi) || hi < 0)
			continue;
		db_array_add_ll(&parts, i);
		db_array_add_ll(&highs, hi);
		n++;
	}
	const char *params[] = { q->group, q->topic, db_array_str(&parts), db_array_str(&highs) };
	if (n && params[2] && params[3])
		db_exec(q->db, SQL_BUS_WATERMARKS, params, NULL);
	db_array_free(&parts);
	db_array_free(&highs);
}

static struct part *part_of(struct queue_kafka *q, int p)
{
	return p >= 0 && p < q->nparts ? &q->parts[p] : NULL;
}

static void pending_add(struct part *p, long long offset)
{
	if (p->npending == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		long long *n = realloc(p->pending, cap * sizeof(*n));
		if (!n)
			return;	/* then the offset may pass it: at worst a redelivery */
		p->pending = n;
		p->cap = cap;
	}
	p->pending[p->npending++] = offset;
}

static void pending_remove(struct part *p, long long offset)
{
	for (size_t i = 0; i < p->npending; i++)
		if (p->pending[i] == offset) {
			p->pending[i] = p->pending[--p->npending];
			return;
		}
}

/* The first offset of @p not done: the smallest pending, else past the last done. */
static long long next_offset(const struct part *p)
{
	long long next = p->done_max + 1;

	for (size_t i = 0; i < p->npending; i++)
		if (p->pending[i] < next)
			next = p->pending[i];
	return next;
}

static void part_reset(struct part *p, bool assigned)
{
	free(p->pending);
	memset(p, 0, sizeof(*p));
	p->done_max = -1;
	p->assigned = assigned;
}

/* Retries of partitions no longer ours go: their new owner reads them again. */
static void drop_retries(struct queue_kafka *q)
{
	size_t kept = 0;

	for (size_t i = 0; i < q->nretries; i++) {
		struct part *p = part_of(q, q->retries[i].job.partition);
		if (p && p->assigned)
			q->retries[kept++] = q->retries[i];
		else
			job_free(&q->retries[i].job);
	}
	q->nretries = kept;
}

/* The stored offsets of @parts (bus_offsets), or the beginning. */
static void load_offsets(struct queue_kafka *q, rd_kafka_topic_partition_list_t *parts)
{
	struct db_array list = { 0 };
	PGresult *res = NULL;

	for (int i = 0; i < parts->cnt; i++) {
		parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
		db_array_add_ll(&list, parts->elems[i].partition);
	}
	const char *params[] = { q->group, q->topic, db_array_str(&list) };
	if (params[2] && !db_exec(q->db, SQL_BUS_OFFSETS_LOAD, params, &res))
		for (int r = 0; r < PQntuples(res); r++)
			for (int i = 0; i < parts->cnt; i++)
				if (parts->elems[i].partition == atoi(PQgetvalue(res, r, 0)))
					parts->elems[i].offset = atoll(PQgetvalue(res, r, 1));
	PQclear(res);
	db_array_free(&list);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct queue_kafka *q = opaque;
	bool cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");

	q->rebalances++;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		load_offsets(q, parts);
		for (int i = 0; i < parts->cnt; i++) {
			struct part *p = part_of(q, parts->elems[i].partition);
			if (p)
				part_reset(p, true);
		}
		log_info(NULL, "%s: %d partitions of %s assigned", q->group, parts->cnt, q->topic);
		if (cooperative)
			rd_kafka_incremental_assign(rk, parts);
		else
			rd_kafka_assign(rk, parts);
		return;
	}
	/* revoked (or lost): what was claimed of them is read again by
	 * their next owner, from the offsets this member stored */
	for (int i = 0; i < parts->cnt; i++) {
		struct part *p = part_of(q, parts->elems[i].partition);
		if (p)
			part_reset(p, false);
	}
	drop_retries(q);
	log_info(NULL, "%s: %d partitions of %s revoked", q->group, parts->cnt, q->topic);
	if (cooperative)
		rd_kafka_incremental_unassign(rk, parts);
	else
		rd_kafka_assign(rk, NULL);
}

struct queue_kafka *queue_kafka_new(const struct conf *c, struct db *db, const char *group,
				    const char *topic, const char *kind, char *err, size_t errlen)
{
	struct queue_kafka *q = calloc(1, sizeof(*q));
	const char *role[] = {
		"partition.assignment.strategy=cooperative-sticky",
		"enable.auto.commit=false",	/* the offsets live in PostgreSQL */
		"enable.auto.offset.store=false",
		"auto.offset.reset=earliest",
		"session.timeout.ms=10000",	/* a member that died is noticed in 10 s */
		"heartbeat.interval.ms=1000",
		/* a message waits for moderation, not for a fetch to fill: the
		 * brokers answer a fetch after 10 ms at most (500 by default) */
		"fetch.wait.max.ms=10",
	};

	if (!q || !(q->parts = calloc((size_t)c->kafka_partitions, sizeof(*q->parts)))) {
		free(q);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	q->conf = c;
	q->db = db;
	q->wake[0] = q->wake[1] = -1;
	q->nparts = (int)c->kafka_partitions;
	for (int i = 0; i < q->nparts; i++)
		part_reset(&q->parts[i], false);
	snprintf(q->group, sizeof(q->group), "%s", group);
	kafka_topic(c, topic, q->topic, sizeof(q->topic));
	snprintf(q->kind, sizeof(q->kind), "%s", kind);
	rd_kafka_conf_t *kc = kafka_conf(c, role, sizeof(role) / sizeof(role[0]), err, errlen);
	if (!kc || rd_kafka_conf_set(kc, "group.id", group, err, errlen) != RD_KAFKA_CONF_OK) {
		if (kc)
			rd_kafka_conf_destroy(kc);
		queue_kafka_free(q);
		return NULL;
	}
	rd_kafka_conf_set_rebalance_cb(kc, on_rebalance);
	rd_kafka_conf_set_opaque(kc, q);
	if (!(q->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, errlen))) {
		rd_kafka_conf_destroy(kc);
		queue_kafka_free(q);
		return NULL;
	}
	rd_kafka_poll_set_consumer(q->rk);
	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, q->topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t e = rd_kafka_subscribe(q->rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	if (e) {
		snprintf(err, errlen, "cannot subscribe to %s: %s", q->topic, rd_kafka_err2str(e));
		queue_kafka_free(q);
		return NULL;
	}
	return q;
}

/* The member leaves its group (its partitions go to the others at once,
 * not after its session timeout) and its handle is destroyed, within a few
 * seconds, whatever librdkafka does. Debian 12's librdkafka (2.0) can hang
 * in rd_kafka_consumer_close, or abort in rd_kafka_destroy, when a
 * cooperative-sticky member stops in the middle of a rebalance
 * (librdkafka#4312, fixed in 2.3): a worker stopped right after its start
 * never ended, or died with its PID file left behind. So the close runs
 * in librdkafka's background, bounded; a member that has had no
 * assignment yet owns nothing and is left to the session timeout (its
 * process is ending: what it leaves behind goes with it). */
#define LEAVE_WAIT_MS 2000
static void leave_group(struct queue_kafka *q)
{
	if (!q->rebalances && rd_kafka_version() < 0x020300ff) {
		log_info(NULL, "%s: leaving before any assignment: the group drops this member "
			       "after its session timeout", q->group);
		return;
	}
	rd_kafka_queue_t *cq = rd_kafka_queue_new(q->rk);
	rd_kafka_error_t *e = rd_kafka_consumer_close_queue(q->rk, cq);
	if (e) {
		log_warn(NULL, "%s: cannot leave the group: %s", q->group, rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
	for (int waited = 0; !e && !rd_kafka_consumer_closed(q->rk) && waited < LEAVE_WAIT_MS;
	     waited += 100) {
		rd_kafka_event_t *ev = rd_kafka_queue_poll(cq, 100);
		if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
			on_rebalance(q->rk, rd_kafka_event_error(ev),
				     rd_kafka_event_topic_partition_list(ev), q);
		rd_kafka_event_destroy(ev);
	}
	bool closed = !e && rd_kafka_consumer_closed(q->rk);
	rd_kafka_queue_destroy(cq);
	if (!closed) {
		log_warn(NULL, "%s: the group was not left in %d ms: the member is dropped after "
			       "its session timeout", q->group, LEAVE_WAIT_MS);
		return;
	}
	rd_kafka_destroy(q->rk);
}

void queue_kafka_free(struct queue_kafka *q)
{
	if (!q)
		return;
	if (q->rk) {
		if (q->wake[1] >= 0) {
			rd_kafka_queue_t *cq = rd_kafka_queue_get_consumer(q->rk);
			rd_kafka_queue_io_event_enable(cq, -1, NULL, 0);
			rd_kafka_queue_destroy(cq);
		}
		leave_group(q);
	}
	for (int i = 0; i < 2; i++)
		if (q->wake[i] >= 0)
			close(q->wake[i]);
	if (q->dead) {
		rd_kafka_flush(q->dead, 5000);
		rd_kafka_destroy(q->dead);
	}
	for (size_t i = 0; i < q->nretries; i++)
		job_free(&q->retries[i].job);
	free(q->retries);
	for (int i = 0; q->parts && i < q->nparts; i++)
		free(q->parts[i].pending);
	free(q->parts);
	free(q);
}

static const char *header(const rd_kafka_message_t *m, const char *name, char *buf, size_t len)
{
	rd_kafka_headers_t *h = NULL;
	const void *v;
	size_t n;

	if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &n))
		return NULL;
	snprintf(buf, len, "%.*s", (int)n, (const char *)v);
	return buf;
}

/* A record as a job of this member's kind. */
static void to_job(struct queue_kafka *q, const rd_kafka_message_t *m, struct job *j)
{
	char buf[32], *value = strndup(m->payload ? m->payload : "", m->len);

	memset(j, 0, sizeof(*j));
	j->id = header(m, "event_id", buf, sizeof(buf)) ? atoll(buf) : m->offset;
	snprintf(j->kind, sizeof(j->kind), "%s", q->kind);
	snprintf(j->key, sizeof(j->key), "%.*s", (int)m->key_len, m->key ? (const char *)m->key : "");
	job_read_payload(j, value);
	free(value);
	j->attempts = 1;
	j->kafka = true;
	j->partition = m->partition;
	j->offset = m->offset;
}

int queue_kafka_wake_fd(struct queue_kafka *q)
{
	if (q->wake[0] >= 0)
		return q->wake[0];
	if (pipe2(q->wake, O_NONBLOCK | O_CLOEXEC)) {
		q->wake[0] = q->wake[1] = -1;
		return -1;
	}
	/* librdkafka writes to it when its (consumer) queue stops being empty */
	rd_kafka_queue_t *cq = rd_kafka_queue_get_consumer(q->rk);
	rd_kafka_queue_io_event_enable(cq, q->wake[1], "1", 1);
	rd_kafka_queue_destroy(cq);
	return q->wake[0];
}

int queue_kafka_claim(struct queue_kafka *q, struct job *out, int max, int wait_ms)
{
	long long now = clock_ms();
	char drain[64];
	int n = 0;

	while (q->wake[0] >= 0 && read(q->wake[0], drain, sizeof(drain)) > 0)
		;	/* (what wakes a caller next is what arrives after this) */

	if (now - q->watermarks_at >= WATERMARKS_MS) {
		q->watermarks_at = now;
		store_watermarks(q);
	}

	/* retries that came due, oldest first */
	size_t kept = 0;
	for (size_t i = 0; i < q->nretries; i++) {
		if (n < max && q->retries[i].due_ms <= now)
			out[n++] = q->retries[i].job;	/* the job moves out */
		else
			q->retries[kept++] = q->retries[i];
	}
	q->nretries = kept;
	/* then records: the first may be waited for, the rest are what is there */
	while (n < max) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(q->rk, n ? 0 : wait_ms);
		if (!m)
			break;
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				log_warn(NULL, "%s: %s", q->group, rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			if (!n)
				break;
			continue;
		}
		struct part *p = part_of(q, m->partition);
		if (p && p->assigned) {
			to_job(q, m, &out[n++]);
			pending_add(p, m->offset);
		} else if (!p) {
			/* the topic has more partitions than the setting says: said
			 * loudly, for the operator, each time (the records wait) */
			log_error(NULL, "%s: partition %d of %s is beyond kafka_partitions (%d): its "
				  "records are not consumed; set kafka_partitions to the topic's count",
				  q->group, (int)m->partition, q->topic, q->nparts);
		}
		rd_kafka_message_destroy(m);
	}
	return n;
}

int queue_kafka_ack(struct queue_kafka *q, const struct job *jobs, int n)
{
	struct db_array parts = { 0 }, offsets = { 0 };
	int rc;

	for (int i = 0; i < n; i++) {
		struct part *p = part_of(q, jobs[i].partition);
		if (!p)
			continue;
		pending_remove(p, jobs[i].offset);
		if (jobs[i].offset > p->done_max)
			p->done_max = jobs[i].offset;
	}
	for (int i = 0; i < q->nparts; i++) {
		bool touched = false;
		for (int k = 0; k < n && !touched; k++)
			touched = jobs[k].partition == i;
		/* a partition revoked while its records were in flight (the
		 * deliverer's) is its new owner's: it reads on from the offset
		 * stored before, and finds these done (their effects are here) */
		if (!touched || !q->parts[i].assigned)
			continue;
		db_array_add_ll(&parts, i);
		db_array_add_ll(&offsets, next_offset(&q->parts[i]));
	}
	if (!parts.n) {
		db_array_free(&parts);
		db_array_free(&offsets);
		return 0;	/* (nothing of ours to move) */
	}
	const char *params[] = { q->group, q->topic, db_array_str(&parts), db_array_str(&offsets) };
	rc = params[2] && params[3] ? db_exec(q->db, SQL_BUS_OFFSETS_STORE, params, NULL) : ERR_INTERNAL;
	db_array_free(&parts);
	db_array_free(&offsets);
	return rc;
}

/* The job again later (or now): its copy joins the retries. */
static void retry_later(struct queue_kafka *q, const struct job *j, long long delay_ms,
			bool attempt)
{
	struct part *p = part_of(q, j->partition);

	if (!p || !p->assigned)
		return;	/* no longer ours: its next owner reads it */
	if (q->nretries == q->retries_cap) {
		size_t cap = q->retries_cap ? 2 * q->retries_cap : 16;
		struct retry *r = realloc(q->retries, cap * sizeof(*r));
		if (!r)
			return;
		q->retries = r;
		q->retries_cap = cap;
	}
	struct retry *r = &q->retries[q->nretries++];
	r->job = *j;
	r->job.payload = json_object_get(j->payload);
	r->job.state = NULL;
	r->job.attempts = j->attempts + (attempt ? 1 : 0);
	r->due_ms = clock_ms() + delay_ms;
	pending_remove(p, j->offset);	/* (claim adds it back: it stays the floor meanwhile) */
	pending_add(p, j->offset);
}

void queue_kafka_give_back(struct queue_kafka *q, const struct job *j)
{
	retry_later(q, j, 0, false);
}

/* A record no stage could take: to dead_jobs (the admin's dead letters) and
 * the partition's offset past it, in one transaction; then to <prefix>dead. */
static int bury(struct queue_kafka *q, const struct job *j, const char *error)
{
	char id[24], attempts[16];
	const char *payload = j->payload ? json_object_to_json_string_ext(j->payload, JSON_C_TO_STRING_PLAIN)
					 : "{}";
	int rc;

	snprintf(id, sizeof(id), "%lld", j->id);
	snprintf(attempts, sizeof(attempts), "%d", j->attempts);
	const char *params[] = { id, j->kind, j->key, payload, attempts, error };
	if ((rc = db_begin(q->db)) || (rc = db_exec(q->db, SQL_BUS_BURY, params, NULL)) ||
	    (rc = queue_kafka_ack(q, j, 1)) || (rc = db_commit(q->db))) {
		db_rollback(q->db);
		return rc;
	}
	char topic[256], err[256];
	kafka_topic(q->conf, KAFKA_DEAD, topic, sizeof(topic));
	if (!q->dead)
		q->dead = kafka_producer(q->conf, NULL, NULL, err, sizeof(err));
	if (q->dead) {
		rd_kafka_headers_t *h = rd_kafka_headers_new(2);
		rd_kafka_header_add(h, "event_id", -1, id, -1);
		rd_kafka_header_add(h, "error", -1, error, -1);
		if (rd_kafka_producev(q->dead, RD_KAFKA_V_TOPIC(topic),
				      RD_KAFKA_V_KEY(j->key, strlen(j->key)),
				      RD_KAFKA_V_VALUE((void *)payload, strlen(payload)),
				      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
				      RD_KAFKA_V_END))
			rd_kafka_headers_destroy(h);
		rd_kafka_poll(q->dead, 0);
	}
	return 0;
}

int queue_kafka_fail(struct queue_kafka *q, const struct job *j, const char *error,
		     int max_attempts)
{
	unsigned r = 0;

	if (j->attempts >= max_attempts) {
		int rc = bury(q, j, error);
		if (rc) {
			/* (the database away): buried on a later try, and until then the
			 * partition's stored offset waits before it */
			retry_later(q, j, 1000, false);
			return rc;
		}
		log_warn(j->req_id[0] ? j->req_id : NULL,
			 "record %s[%d]@%lld (job %lld) dead after %d attempts: %s", q->topic,
			 j->partition, j->offset, j->id, j->attempts, error);
		return 1;
	}
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (unsigned)j->offset;
	retry_later(q, j, queue_backoff_ms(j->attempts, r), true);
	return 0;
}

long queue_kafka_rebalances(const struct queue_kafka *q)
{
	return q ? q->rebalances : 0;
}
