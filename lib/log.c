/*
 * log.c - JSON log lines, each written with a single write(2) on an
 * O_APPEND descriptor so that lines from many processes never interleave.
 *
 * On SIGHUP (logrotate's postrotate: tools/stack.sh reopen) the log's path
 * is opened again onto the same descriptor number, in the handler (open,
 * dup3 and close are async-signal-safe; a thread writing at that moment
 * writes its line whole into one file or the other).
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int log_fd = 2;
static enum log_level log_min = LOG_INFO;
static const char *log_proc = "chat4all";

static const char *const level_names[] = { "debug", "info", "warn", "error" };
static char *log_path;			/* a file's, to open again on SIGHUP */
static __thread char log_trace_id[33];	/* this thread's work's trace */

void log_trace(const char *trace_id)
{
	snprintf(log_trace_id, sizeof(log_trace_id), "%s", trace_id ? trace_id : "");
}

/* The file at the log's path (a new one, after a rotation) behind log_fd. */
static void on_hup(int sig)
{
	int saved = errno, fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	(void)sig;
	if (fd >= 0) {	/* (else the old file goes on: better than no log) */
		dup3(fd, log_fd, O_CLOEXEC);
		close(fd);
	}
	errno = saved;
}

int log_open(const char *path, const char *level, const char *proc)
{
	if (proc)
		log_proc = proc;
	for (int i = 0; level && i < 4; i++)
		if (!strcmp(level, level_names[i]))
			log_min = (enum log_level)i;
	if (!path || !strcmp(path, "-"))
		return 0;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	log_fd = fd;
	free(log_path);
	if ((log_path = strdup(path))) {
		struct sigaction sa = { .sa_handler = on_hup, .sa_flags = SA_RESTART };
		sigemptyset(&sa.sa_mask);
		sigaction(SIGHUP, &sa, NULL);
	}
	return 0;
}

void log_line(enum log_level lvl, const char *req_id, struct json_object *fields,
	      const char *fmt, ...)
{
	struct json_object *o;
	struct timeval tv;
	struct tm tm;
	char ts[96], msg[1024];
	const char *s;
	va_list ap;

	if (lvl < log_min) {
		json_object_put(fields);
		return;
	}
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (long)tv.tv_usec / 1000);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	o = json_object_new_object();
	json_object_object_add(o, "ts", json_object_new_string(ts));
	json_object_object_add(o, "level", json_object_new_string(level_names[lvl]));
	json_object_object_add(o, "proc", json_object_new_string(log_proc));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	if (req_id)
		json_object_object_add(o, "req_id", json_object_new_string(req_id));
	if (log_trace_id[0])
		json_object_object_add(o, "trace_id", json_object_new_string(log_trace_id));
	json_object_object_add(o, "msg", json_object_new_string(msg));
	if (fields) {
		json_object_object_foreach(fields, k, v)
			json_object_object_add(o, k, json_object_get(v));
		json_object_put(fields);
	}
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					   JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t n = strlen(s);
	char line[8192];
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	memcpy(line, s, n);
	line[n++] = '\n';
	if (write(log_fd, line, n) < 0) {
		/* nowhere left to report it */
	}
	json_object_put(o);
}
