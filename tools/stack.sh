#!/usr/bin/env bash
# One Chat4All instance under $VAR: PostgreSQL and Redis on sockets in
# $VAR/run, lighttpd on $BIND:$PORT with the FastCGI API behind it.
#
#   tools/stack.sh start | stop | status | env | paths | serve | cron
#
# cron runs the housekeeping (expired uploads, orphaned files, pruning)
# once, now; `start` also runs it every CRON_EVERY seconds (300).
#
# https: lighttpd serves it on $BIND:$PORT when tls_cert and tls_key are
# set; TLS=1 makes a self-signed certificate when they are not.
# REDIRECT_PORT adds a plain http port redirecting to it.
#
# serve is for containers: PostgreSQL and Redis are elsewhere (their
# addresses in CHAT4ALL_DATABASE_URL and CHAT4ALL_REDIS); it migrates and
# runs lighttpd with the API in the foreground.
#
# Who runs what. As root, nothing of Chat4All runs as root: PostgreSQL
# runs as the `postgres` user (initdb refuses root), and the API, the
# stream gateway, the workers, Redis and lighttpd as a dedicated
# unprivileged system user, `chat4all` (RUN_AS; made on first start), so a
# hole in a responder is not a hole in the database's files. Those users
# must reach the programs and the data: when the checkout is where they
# cannot enter (under /root, which is 0700), the programs, the web UI and
# the migrations are copied to $VAR/app on each start, and $VAR defaults
# to /var/lib/chat4all/<checkout>-<hash> instead of ./var; start says
# where. Not as root, everything runs as the calling user.
#
# Every process writes its PID file under $VAR/run, and stop stops exactly
# those.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${PORT:-8080}
BIND=${BIND:-127.0.0.1}
API_PROCS=${API_PROCS:-2}	# FastCGI responders, api_threads requests at once each
FILES_PROCS=${FILES_PROCS:-4}	# responders that take upload bodies (tus POST/PATCH)
WORKERS=${WORKERS:-2}		# moderation, release, file checks, inbound webhooks
DELIVERERS=${DELIVERERS:-1}	# deliveries to the channels (chat4all-jobs deliver)
# the stream gateway listens on a loopback port the kernel chooses (so it
# can be no other instance's), written to $VAR/run/stream.port for
# lighttpd; STREAM_PORT (and STREAM_HOST: a gateway elsewhere) fix it
STREAM_PORT=${STREAM_PORT:-}
STREAM_HOST=${STREAM_HOST:-}
PGPORT=${PGPORT:-55432}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

# every open stream is a socket in the gateway and two in lighttpd: take
# as many descriptors as this system lets us (root may raise the ceiling)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [ "$(id -u)" = 0 ]; then
	RUN_AS=${RUN_AS:-chat4all}
	PG_AS=postgres
	# (from /: the checkout may be a folder they cannot enter)
	as_user() { (cd / && runuser -u "$RUN_AS" -- "$@"); }
	as_pg() { (cd / && runuser -u "$PG_AS" -- "$@"); }
	# the service user: a system account without a home or a shell
	if ! id -u "$RUN_AS" >/dev/null 2>&1; then
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$RUN_AS"
	fi
	can_reach() { runuser -u "$RUN_AS" -- test -r "$1" -a -x "$(dirname "$1")"; }
else
	RUN_AS=$(id -un)
	PG_AS=$RUN_AS
	as_user() { "$@"; }
	as_pg() { "$@"; }
	can_reach() { true; }
fi

# Where the services find their programs: the checkout, or a copy of it
# they can reach.
APP=$ROOT
STAGED=
if ! can_reach "$ROOT/web/index.html"; then
	STAGED=1
	if [ -z "${VAR:-}" ]; then
		VAR=/var/lib/chat4all/$(basename "$ROOT")-$(printf %s "$ROOT" | md5sum | cut -c1-8)
	fi
fi
VAR=${VAR:-$ROOT/var}
mkdir -p "$VAR"
VAR=$(cd "$VAR" && pwd)
[ -n "$STAGED" ] && APP=$VAR/app
PGRUN=$VAR/run/postgresql	# PostgreSQL's socket, in a folder of its user's

# The programs, web UI, migrations and settings the services read, copied
# where they can read them (only when the checkout is out of their reach).
stage_app() {
	[ -n "$STAGED" ] || return 0
	local next="$VAR/app.next"
	rm -rf "$next"
	mkdir -p "$next/build"
	cp "$ROOT"/build/chat4all-{api,stream,jobs,admin} "$next/build/"
	cp -r "$ROOT/web" "$ROOT/migrations" "$ROOT/conf" "$next/"
	chmod -R a+rX "$next"
	rm -rf "$VAR/app"
	mv "$next" "$VAR/app"
}

# The folders of the instance and who owns them: the service user all of
# $VAR but PostgreSQL's data, its socket folder and its log.
own_folders() {
	mkdir -p "$VAR"/{pg,run,log,redis,secret,files,tmp,acme} "$PGRUN"
	touch "$VAR/log/postgresql.log"
	chmod 755 "$VAR" "$VAR/run" "$VAR/log" "$PGRUN"
	chmod 700 "$VAR/pg" "$VAR/secret"
	if [ "$(id -u)" = 0 ]; then
		# An instance made before the service user existed (or by another
		# one) is handed over once, whole; afterwards only what a start
		# makes is, never a walk of every stored file on each start.
		if [ "$(stat -c %U "$VAR/files")" != "$RUN_AS" ]; then
			find "$VAR" -path "$VAR/pg" -prune -o -path "$PGRUN" -prune -o -path "$VAR/app" -prune \
				-o -path "$VAR/log/postgresql.log" -prune -o ! -user "$RUN_AS" -exec chown "$RUN_AS:" {} +
		else
			find "$VAR" -maxdepth 2 -path "$VAR/pg" -prune -o -path "$PGRUN" -prune \
				-o -path "$VAR/app" -prune -o -path "$VAR/log/postgresql.log" -prune -o ! -user "$RUN_AS" -exec chown "$RUN_AS:" {} +
		fi
		[ "$(stat -c %U "$VAR/pg")" = "$PG_AS" ] || chown -R "$PG_AS:" "$VAR/pg"
		chown "$PG_AS:" "$PGRUN" "$VAR/log/postgresql.log"
	fi
}

# The instance's settings for every process; a value already in the
# environment wins.
instance_env() {
	export CHAT4ALL_DATABASE_URL=${CHAT4ALL_DATABASE_URL:-"host=$PGRUN port=$PGPORT dbname=chat4all user=chat4all"}
	export CHAT4ALL_REDIS=${CHAT4ALL_REDIS:-"unix:$VAR/run/redis.sock"}
	export CHAT4ALL_LOG_FILE=${CHAT4ALL_LOG_FILE:-"$VAR/log/chat4all.log"}
	export CHAT4ALL_METRICS_FILE=${CHAT4ALL_METRICS_FILE:-"$VAR/run/metrics"}
	export CHAT4ALL_MIGRATIONS_DIR=${CHAT4ALL_MIGRATIONS_DIR:-"$APP/migrations"}
	export CHAT4ALL_MODERATION_LEXICON_DIR=${CHAT4ALL_MODERATION_LEXICON_DIR:-"$APP/conf/moderation"}
	if [ -n "$STREAM_PORT$STREAM_HOST" ]; then
		export CHAT4ALL_STREAM_PORT=${CHAT4ALL_STREAM_PORT:-${STREAM_PORT:-8090}}
	else
		export CHAT4ALL_STREAM_PORT=${CHAT4ALL_STREAM_PORT:-0}
	fi
	export CHAT4ALL_FILES_DIR=${CHAT4ALL_FILES_DIR:-"$VAR/files"}
	[ -n "${CHAT4ALL_JWT_SECRET:-}" ] ||
		export CHAT4ALL_JWT_SECRET_FILE=${CHAT4ALL_JWT_SECRET_FILE:-"$VAR/secret/jwt"}
	if [ -z "${CHAT4ALL_CONF:-}" ] && [ -f "$ROOT/conf/chat4all.conf" ]; then
		if [ -n "$STAGED" ]; then
			export CHAT4ALL_CONF="$APP/conf/chat4all.conf"
		else
			export CHAT4ALL_CONF="$ROOT/conf/chat4all.conf"
		fi
	fi
}

pid_alive() { [ -f "$1" ] && kill -0 "$(head -1 "$1" 2>/dev/null)" 2>/dev/null; }

# started NAME PIDFILE LOG - waits up to 5 s for a process to write PIDFILE
# and stay alive; if it does not, says what was waited for and how long,
# and shows where NAME says why (its LOG, and its lines in chat4all.log).
started() {
	local name=$1 pidf=$2 log=$3 proc=$4
	for _ in $(seq 100); do pid_alive "$pidf" && return 0; sleep 0.05; done
	{
		echo "$name did not start: waited 5 s for $pidf to name a running process"
		echo "-- the end of $log:"
		tail -n 5 "$log" 2>/dev/null | cut -c1-300
		echo "-- its last lines in $VAR/log/chat4all.log:"
		grep -h "\"proc\":\"$proc\"" "$VAR/log/chat4all.log" 2>/dev/null | tail -n 3 | cut -c1-300
	} >&2
	return 1
}

start_postgres() {
	if [ ! -f "$VAR/pg/PG_VERSION" ]; then
		echo "initialising PostgreSQL in $VAR/pg"
		as_pg "$PGBIN/initdb" -D "$VAR/pg" -U chat4all --auth=trust -E UTF8 \
			--locale=C.UTF-8 >"$VAR/log/initdb.log"
	fi
	if ! pid_alive "$VAR/pg/postmaster.pid"; then
		# the settings of conf/postgresql.conf (explained there), then
		# shared_buffers: an eighth of the memory, from 128 MB to 2 GB (the
		# machine is shared with the API, Redis, the workers and the page
		# cache, which PostgreSQL relies on too)
		local opts="-c listen_addresses='' -c unix_socket_directories='$PGRUN' -c port=$PGPORT"
		opts+=$(sed -e 's/#.*//' -e 's/[[:space:]]*=[[:space:]]*/=/' -e 's/[[:space:]]*$//' \
			"$ROOT/conf/postgresql.conf" | awk 'NF { printf " -c %s", $0 }')
		local mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
		local sb=$((mem_mb / 8))
		((sb < 128)) && sb=128
		((sb > 2048)) && sb=2048
		opts+=" -c shared_buffers=${sb}MB"
		opts+=" ${PG_OPTS:-}"	# more, for one start (the bench's profile: pg_stat_statements)
		as_pg "$PGBIN/pg_ctl" -D "$VAR/pg" -l "$VAR/log/postgresql.log" -w -t 60 -s \
			-o "$opts" start
	fi
	if ! as_pg "$PGBIN/psql" -h "$PGRUN" -p "$PGPORT" -U chat4all -d postgres -tAc \
		"SELECT 1 FROM pg_database WHERE datname = 'chat4all'" | grep -q 1; then
		as_pg "$PGBIN/createdb" -h "$PGRUN" -p "$PGPORT" -U chat4all chat4all
	fi
}

start_redis() {
	pid_alive "$VAR/run/redis.pid" && return
	# append-only file: sign-outs and rate limits survive a restart
	as_user redis-server --port 0 --unixsocket "$VAR/run/redis.sock" --unixsocketperm 700 \
		--daemonize yes --pidfile "$VAR/run/redis.pid" --logfile "$VAR/log/redis.log" \
		--dir "$VAR/redis" --save '' --appendonly yes --appendfsync everysec
	for _ in $(seq 100); do [ -S "$VAR/run/redis.sock" ] && return; sleep 0.05; done
	echo "redis did not start: see $VAR/log/redis.log" >&2
	exit 1
}

# (tools/lighttpd-conf.sh: the one renderer, also of an installed host's)
write_lighttpd_conf() {
	SHARE=$APP BINDIR=$APP/build RUNDIR=$VAR/run LOGDIR=$VAR/log TMP_DIR=$VAR/tmp \
		ACME_DIR=$VAR/acme BIND=$BIND PORT=$PORT REDIRECT_PORT=${REDIRECT_PORT:-} \
		API_PROCS=$API_PROCS FILES_PROCS=$FILES_PROCS STREAM_HOST=$STREAM_HOST \
		"$ROOT/tools/lighttpd-conf.sh" "$VAR/lighttpd.conf"
}

start_lighttpd() {
	pid_alive "$VAR/run/lighttpd.pid" && return
	write_lighttpd_conf
	# runuser's PAM session sets the soft descriptor limit back to 1024,
	# and lighttpd raises its own only when started as root
	as_user bash -c 'ulimit -n "$(ulimit -Hn)"; exec lighttpd -f "$1"' lighttpd "$VAR/lighttpd.conf"
}

serve() {
	mkdir -p "$VAR"/{run,log,files,tmp}
	[ "$(id -u)" = 0 ] && chown -R "$RUN_AS:" "$VAR"
	stage_app
	instance_env
	export CHAT4ALL_LOG_FILE=${CHAT4ALL_LOG_FILE_SERVE:-/dev/stderr}
	for i in $(seq 60); do
		as_user "$APP/build/chat4all-admin" migrate && break
		[ "$i" = 60 ] && { echo "the database never became reachable" >&2; exit 1; }
		sleep 1
	done
	write_lighttpd_conf
	exec runuser -u "$RUN_AS" -- lighttpd -D -f "$VAR/lighttpd.conf"
}

# The stream gateway, like the workers, writes its own PID file (and the
# port it listens on). Started again, it asks for the port it had: a
# running lighttpd proxies to that one. Should another program have taken
# it meanwhile, the gateway takes a new one and lighttpd is restarted.
launch_stream() {
	CHAT4ALL_STREAM_PORT=$1 as_user setsid "$APP/build/chat4all-stream" \
		--pidfile "$VAR/run/stream.pid" --port-file "$VAR/run/stream.port" \
		</dev/null >>"$VAR/log/stream.log" 2>&1 &
}
start_stream() {
	pid_alive "$VAR/run/stream.pid" && return
	rm -f "$VAR/run/stream.pid"
	local port=$CHAT4ALL_STREAM_PORT
	if [ "$port" = 0 ] && [ -s "$VAR/run/stream.port" ]; then
		port=$(cat "$VAR/run/stream.port")
		launch_stream "$port"
		for _ in $(seq 100); do pid_alive "$VAR/run/stream.pid" && return; sleep 0.05; done
		echo "the stream gateway did not start on its former port $port (taken?): trying another" >&2
		rm -f "$VAR/run/stream.port"
		port=0
		if pid_alive "$VAR/run/lighttpd.pid"; then	# (start_lighttpd follows)
			stop_pidfile "$VAR/run/lighttpd.pid" lighttpd
			rm -f "$VAR/run/lighttpd.pid"
		fi
	fi
	launch_stream "$port"
	started "the stream gateway" "$VAR/run/stream.pid" "$VAR/log/stream.log" stream || exit 1
}

# The job workers write their own PID files (runuser stays their parent):
# WORKERS pipeline workers (worker-N.pid) and DELIVERERS processes that
# only send deliveries to the channels (worker-deliver-N.pid), so a slow
# provider never holds moderation or release up. With bus = kafka, RELAYS
# outbox relays too (worker-relay-N.pid): one active, the others standing by.
start_workers() {
	local specs=() spec cmd pidf
	for i in $(seq "$WORKERS"); do specs+=("worker:worker-$i"); done
	for i in $(seq "$DELIVERERS"); do specs+=("deliver:worker-deliver-$i"); done
	if [ "$(as_user "$APP/build/chat4all-admin" conf bus)" = kafka ]; then
		for i in $(seq "${RELAYS:-2}"); do specs+=("relay:worker-relay-$i"); done
	fi
	for spec in "${specs[@]}"; do
		cmd=${spec%%:*} pidf="$VAR/run/${spec#*:}.pid"
		pid_alive "$pidf" && continue
		rm -f "$pidf"	# stale: its process died
		as_user setsid "$APP/build/chat4all-jobs" "$cmd" --pidfile "$pidf" \
			</dev/null >>"$VAR/log/jobs.log" 2>&1 &
	done
	for spec in "${specs[@]}"; do
		started "${spec#*:}" "$VAR/run/${spec#*:}.pid" "$VAR/log/jobs.log" "${spec%%:*}" || exit 1
	done
}

# Housekeeping every few minutes: expired uploads, orphaned file bytes.
start_cron() {
	pid_alive "$VAR/run/cron.pid" && return
	rm -f "$VAR/run/cron.pid"
	as_user setsid "$APP/build/chat4all-jobs" cron --every "${CRON_EVERY:-300}" \
		--pidfile "$VAR/run/cron.pid" </dev/null >>"$VAR/log/jobs.log" 2>&1 &
	started "the cron" "$VAR/run/cron.pid" "$VAR/log/jobs.log" cron || exit 1
}

# make run TLS=1 without a certificate of its own (tls_cert): one made for
# this instance, valid for localhost and 127.0.0.1 (and BIND), that
# browsers will warn about; kept in $VAR/tls and made again when it nears
# its end. Clients that should trust it take $VAR/tls/cert.pem.
self_signed_tls() {
	local dir=$VAR/tls san="DNS:localhost,IP:127.0.0.1,IP:::1"
	case $BIND in 0.0.0.0|::|127.0.0.1|localhost) ;; *) san+=",$( [[ $BIND =~ ^[0-9.]+$|: ]] && echo IP || echo DNS):$BIND" ;; esac
	mkdir -p "$dir"
	if ! openssl x509 -checkend 86400 -noout -in "$dir/cert.pem" >/dev/null 2>&1; then
		(umask 077; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-days 365 -subj "/CN=Chat4All $(basename "$VAR")" -addext "subjectAltName=$san" \
			-keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null)
		chmod 644 "$dir/cert.pem"
		[ "$(id -u)" = 0 ] && chown -R "$RUN_AS:" "$dir"
		echo "made a self-signed certificate for this instance: $dir/cert.pem"
	fi
	export CHAT4ALL_TLS_CERT=$dir/cert.pem CHAT4ALL_TLS_KEY=$dir/key.pem
}

scheme() { [ -n "$(as_user "$APP/build/chat4all-admin" conf tls_cert)" ] && echo https || echo http; }

wait_ready() {
	local url="$(scheme)://$BIND:$PORT/readyz"
	for _ in $(seq 200); do
		# (-k: our own process, whichever certificate it was given)
		curl -kfsS -o /dev/null "$url" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "chat4all did not become ready at $url: see $VAR/log/" >&2
	return 1
}

start() {
	[ -x "$ROOT/build/chat4all-api" ] || { echo "build first: make" >&2; exit 1; }
	own_folders
	stage_app
	if [ -z "${CHAT4ALL_JWT_SECRET:-}" ] && [ ! -s "$VAR/secret/jwt" ]; then
		(umask 077; head -c 48 /dev/urandom | base64 -w0 >"$VAR/secret/jwt")
		[ "$(id -u)" = 0 ] && chown "$RUN_AS:" "$VAR/secret/jwt"
	fi
	instance_env
	if [ "${TLS:-0}" != 0 ] && [ -z "$(as_user "$APP/build/chat4all-admin" conf tls_cert)" ]; then
		self_signed_tls
	fi
	start_postgres
	start_redis
	# (each migration applied is a line there, not on the terminal)
	if ! as_user "$APP/build/chat4all-admin" migrate >>"$VAR/log/migrate.log" 2>&1; then
		echo "the database migration failed; the end of $VAR/log/migrate.log:" >&2
		tail -n 5 "$VAR/log/migrate.log" | cut -c1-300 >&2
		exit 1
	fi
	start_stream
	start_lighttpd
	start_workers
	start_cron
	wait_ready
	echo "Chat4All is running at $(scheme)://$BIND:$PORT/  (data in $VAR; stop with: make stop)"
	if [ "$(id -u)" = 0 ]; then
		echo "  it runs as the user '$RUN_AS' (PostgreSQL as '$PG_AS')${STAGED:+; the checkout is out of their reach, so they run a copy in $APP}"
	fi
}

stop_pidfile() {
	local f=$1 name=$2
	pid_alive "$f" || return 0
	kill "$(head -1 "$f")"
	for _ in $(seq 100); do pid_alive "$f" || return 0; sleep 0.05; done
	echo "$name did not stop; killing it" >&2
	kill -9 "$(head -1 "$f")" 2>/dev/null || true
}

stop() {
	for f in "$VAR"/run/worker-*.pid; do
		[ -e "$f" ] && stop_pidfile "$f" worker
		rm -f "$f"
	done
	stop_pidfile "$VAR/run/cron.pid" cron
	stop_pidfile "$VAR/run/lighttpd.pid" lighttpd
	stop_pidfile "$VAR/run/stream.pid" stream
	rm -f "$VAR/run/lighttpd.pid"
	stop_pidfile "$VAR/run/redis.pid" redis
	if pid_alive "$VAR/pg/postmaster.pid"; then
		as_pg "$PGBIN/pg_ctl" -D "$VAR/pg" -m fast -w -t 60 -s stop
	fi
}

status() {
	local rc=0
	for p in "lighttpd:$VAR/run/lighttpd.pid" "redis:$VAR/run/redis.pid" \
		 "postgresql:$VAR/pg/postmaster.pid" "stream:$VAR/run/stream.pid" "cron:$VAR/run/cron.pid" $(for f in "$VAR"/run/worker-*.pid; do echo "$(basename "$f" .pid):$f"; done); do
		if pid_alive "${p#*:}"; then echo "${p%%:*}: running"; else echo "${p%%:*}: stopped"; rc=1; fi
	done
	return $rc
}

# Every process of the instance opens its log file again: what logrotate's
# postrotate runs once it moved them. Ours reopen on SIGHUP (lib/log.c),
# and so does lighttpd (its error log); the API responders are its children.
reopen() {
	local f
	for f in "$VAR"/run/lighttpd.pid "$VAR"/run/stream.pid "$VAR"/run/worker-*.pid "$VAR"/run/cron.pid; do
		if pid_alive "$f"; then kill -HUP "$(head -1 "$f")"; fi
	done
	if pid_alive "$VAR/run/lighttpd.pid"; then
		pkill -HUP -P "$(head -1 "$VAR/run/lighttpd.pid")" || true
	fi
}

# A logrotate snippet for this instance (for /etc/logrotate.d/). The logs
# our processes and lighttpd write are moved and reopened; what reaches a
# log as a process's stderr (jobs.log, stream.log), Redis's and
# PostgreSQL's, which they never reopen, is copied and truncated instead.
logrotate_conf() {
	cat <<EOF
# (these apply to every block below)
weekly
rotate 8
compress
delaycompress
missingok
notifempty

$VAR/log/chat4all.log $VAR/log/lighttpd.log {
	sharedscripts
	postrotate
		VAR=$VAR $ROOT/tools/stack.sh reopen
	endscript
}
$VAR/log/jobs.log $VAR/log/stream.log $VAR/log/migrate.log $VAR/log/redis.log $VAR/log/postgresql.log {
	copytruncate
}
EOF
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
serve) serve ;;
cron) [ -d "$APP/build" ] || stage_app; instance_env; as_user "$APP/build/chat4all-jobs" cron ;;
env) instance_env; compgen -e | grep '^CHAT4ALL_' | while read -r n; do printf 'export %s=%q\n' "$n" "${!n}"; done ;;
paths) printf 'VAR=%q\nAPP=%q\nPGRUN=%q\nRUN_AS=%q\nPG_AS=%q\n' "$VAR" "$APP" "$PGRUN" "$RUN_AS" "$PG_AS" ;;
reopen) reopen ;;
logrotate) logrotate_conf ;;
*) echo "usage: $0 start|stop|status|env|paths|serve|cron|reopen|logrotate" >&2; exit 2 ;;
esac
