#!/usr/bin/env bash
# make test: the unit tests (given as arguments), then the integration
# tests against a whole instance (PostgreSQL, Redis, lighttpd + the API)
# started in a temporary folder on a free port and stopped on exit, even
# on failure; then docker-compose.yml is validated.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

failed=0
# a step that fails says so where it failed, then the run goes on
fail() { echo "FAILED: $*"; failed=1; }
# a check says what it checked ($desc), ok or FAILED
check() { if "$@"; then echo "ok: $desc"; else echo "FAILED: $desc"; failed=1; fi; }
echo "== unit tests"
for t in "$@"; do
	"$t" || fail "$t"
done

# A port nothing listens on, below the kernel's ephemeral range: a port in
# that range can be any client socket's (a Kafka or PostgreSQL connection),
# and lighttpd's bind would then fail now and then.
free_port() {
	local p low
	low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	for _ in $(seq 50); do
		p=$((10000 + RANDOM % (low - 10000)))
		if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return; fi
	done
	echo "no free port found" >&2
	exit 1
}

echo "== the web UI's message state, under node"
node --test "$ROOT/tests/web/" || fail "tests/web/"

echo "== fuzzing: each parser of strangers' bytes for a few seconds (make fuzz: longer)"
fuzzers=()
for f in "$ROOT"/build/fuzz/fuzz_*; do [ -x "$f" ] && fuzzers+=("$(basename "$f")"); done
"$ROOT/tools/fuzz.sh" "${FUZZ_SECONDS:-5}" "${fuzzers[@]}" || fail "tools/fuzz.sh"

echo "== moderation providers against the local fake of their APIs"
FAKE_PORT_FILE=$(mktemp /tmp/chat4all-fake.XXXXXX)
"$ROOT/build/fakes/fake_moderation" --port-file "$FAKE_PORT_FILE" &
FAKE_PID=$!
for _ in $(seq 100); do [ -s "$FAKE_PORT_FILE" ] && break; sleep 0.05; done
CHAT4ALL_TEST_FAKE_URL="http://127.0.0.1:$(cat "$FAKE_PORT_FILE")" \
	"$ROOT/build/integration/moderation_test" || fail "build/integration/moderation_test"
kill "$FAKE_PID" 2>/dev/null || true
wait "$FAKE_PID" 2>/dev/null || true
rm -f "$FAKE_PORT_FILE"

echo "== integration tests"
TMP=$(mktemp -d /tmp/chat4all-test.XXXXXX)
chmod 755 "$TMP"
export VAR=$TMP PORT=$(free_port) PGPORT=$(free_port) API_PROCS=4 FILES_PROCS=3
cleanup() {
	local rc=$?
	"$ROOT/tools/stack.sh" stop >/dev/null 2>&1 || true
	# (set -e holds in this trap too: a kill of what already ended must not fail the run)
	[ -z "${FAKE_PID:-}" ] || kill "$FAKE_PID" 2>/dev/null || true
	[ -z "${OTLP_PID:-}" ] || kill "$OTLP_PID" 2>/dev/null || true
	[ -z "${KAFKA_PID:-}" ] || kill "$KAFKA_PID" 2>/dev/null || true
	[ -z "${KFAKE_PID:-}" ] || kill "$KFAKE_PID" 2>/dev/null || true
	[ ! -d "$TMP/kafka-instance/run" ] || VAR=$TMP/kafka-instance "$ROOT/tools/stack.sh" stop >/dev/null 2>&1 || true
	mountpoint -q "$TMP/small-disk" 2>/dev/null && umount "$TMP/small-disk"
	if [ $rc != 0 ] && [ -d "$TMP/log" ]; then
		echo "-- last lines of the instance's logs:"
		tail -n 20 "$TMP"/log/*.log 2>/dev/null | cut -c1-400
		rm -rf "$ROOT/build/test-logs" && cp -r "$TMP/log" "$ROOT/build/test-logs" &&
			echo "-- the whole logs: build/test-logs/"
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

# test settings: cheap password hashes, a small group limit, tight send
# bucket, a known signing key (the tests sign an expired token with it)
export CHAT4ALL_ARGON2_ITERATIONS=1 CHAT4ALL_ARGON2_MEMORY_KIB=8192
export CHAT4ALL_GROUP_MEMBER_LIMIT=5 CHAT4ALL_MODERATION_HOLD=sexual
export CHAT4ALL_JOB_MAX_ATTEMPTS=3 CHAT4ALL_WORKER_LEASE=2 CHAT4ALL_STREAM_MAX_BUFFER=65536
export CHAT4ALL_SEND_RATE=1 CHAT4ALL_SEND_BURST=40
export CHAT4ALL_SIGNIN_RATE=0.2 CHAT4ALL_SIGNIN_BURST=10
export CHAT4ALL_SIGNIN_ADDRESS_RATE=1000 CHAT4ALL_SIGNIN_ADDRESS_BURST=100000	# all tests share 127.0.0.1
export CHAT4ALL_REGISTER_RATE=1000 CHAT4ALL_REGISTER_BURST=100000
export CHAT4ALL_FILE_MAX_SIZE=4194304 CHAT4ALL_FILE_QUOTA=6291456	# 4 and 6 MiB
export CHAT4ALL_FILE_COUNT_MAX=60
export CHAT4ALL_JWT_SECRET="test-secret-$(head -c 24 /dev/urandom | base64 -w0)"
# channels: the providers are a local fake that speaks their APIs
FAKE_PORT=$(free_port)
export FAKE_URL="http://127.0.0.1:$FAKE_PORT" FAKE_WHATSAPP_ID=1065550001 FAKE_INSTAGRAM_ID=17841400000
FAKE_WHATSAPP_ID=$FAKE_WHATSAPP_ID FAKE_INSTAGRAM_ID=$FAKE_INSTAGRAM_ID \
	node "$ROOT/tests/fakes/channels.mjs" "$FAKE_PORT" >"$TMP/fake-channels.log" 2>&1 &
FAKE_PID=$!
# traces: every process posts its spans to a local OTLP receiver
OTLP_PORT=$(free_port)
node "$ROOT/tests/fakes/otlp.mjs" "$OTLP_PORT" >"$TMP/fake-otlp.log" 2>&1 &
OTLP_PID=$!
export OTLP_URL="http://127.0.0.1:$OTLP_PORT" CHAT4ALL_OTLP_ENDPOINT="http://127.0.0.1:$OTLP_PORT/v1/traces"
export CHAT4ALL_GRAPH_BASE_URL=$FAKE_URL CHAT4ALL_TELEGRAM_BASE_URL=$FAKE_URL
# our own requests may reach the fake on loopback (that port only): every
# other private address stays refused (lib/netguard.h)
export CHAT4ALL_OUTBOUND_ALLOW="127.0.0.1/32:$FAKE_PORT"
export CHAT4ALL_WHATSAPP_PHONE_NUMBER_ID=$FAKE_WHATSAPP_ID CHAT4ALL_WHATSAPP_TOKEN=wa-test-token
export CHAT4ALL_INSTAGRAM_ACCOUNT_ID=$FAKE_INSTAGRAM_ID CHAT4ALL_INSTAGRAM_TOKEN=ig-test-token
export CHAT4ALL_MESSENGER_PAGE_ID=1065559999 CHAT4ALL_MESSENGER_TOKEN=fb-test-token
export CHAT4ALL_TELEGRAM_BOT_TOKEN=123456:tg-test-token CHAT4ALL_TELEGRAM_WEBHOOK_SECRET=tg-test-secret
export CHAT4ALL_META_APP_SECRET=meta-test-secret CHAT4ALL_META_VERIFY_TOKEN=meta-verify-token
export CHAT4ALL_WEBHOOK_SIGNING_SECRET=webhook-test-secret
export CHAT4ALL_WHATSAPP_TEMPLATE=chat4all_new_message CHAT4ALL_WHATSAPP_TEMPLATE_LANGUAGE=pt_BR
export CHAT4ALL_CHANNEL_OWNER=support CHAT4ALL_DELIVERY_MAX_ATTEMPTS=3
# two requests in flight per channel: two hanging ones fill a channel's places
export CHAT4ALL_CHANNEL_CONCURRENCY=2 CHAT4ALL_CHANNEL_TIMEOUT_MS=3000
export CHAT4ALL_PUBLIC_URL="http://127.0.0.1:$PORT"
"$ROOT/tools/stack.sh" start
eval "$("$ROOT/tools/stack.sh" paths)"	# APP (the programs the services run), PGRUN
export CHAT4ALL_TEST_URL="http://127.0.0.1:$PORT"
export CHAT4ALL_TEST_ADMIN="$ROOT/tools/chat4all-admin"
export CHAT4ALL_TEST_STACK="$ROOT/tools/stack.sh"
PSQL="psql -h $PGRUN -p $PGPORT -U chat4all -d chat4all -qtAX"
PGRUN_MAIN=$PGRUN PGPORT_MAIN=$PGPORT
[ "$(id -u)" = 0 ] && PSQL="runuser -u postgres -- $PSQL"
export CHAT4ALL_TEST_PSQL=$PSQL
export CHAT4ALL_TEST_REDIS_CLI="redis-cli -s $VAR/run/redis.sock"
export CHAT4ALL_TEST_FILES_DIR="$VAR/files" CHAT4ALL_TEST_VAR=$VAR
for suite in "$ROOT"/build/integration/api_*_test; do	# the REST API, one suite per resource
	"$suite" || fail "$suite"
done
"$ROOT/build/integration/files_test" || fail "build/integration/files_test"
"$ROOT/build/integration/security_test" || fail "build/integration/security_test"
echo "== the Kafka bus, against a mock cluster of 3 brokers (tests/kafka/mock_cluster.c)"
KAFKA_BOOTSTRAP=$TMP/kafka-bootstrap
"$ROOT/build/kafka/mock_cluster" --bootstrap-file "$KAFKA_BOOTSTRAP" --control "$TMP/kafka-control" \
	</dev/null >"$TMP/log/kafka.log" 2>&1 &
KAFKA_PID=$!
for _ in $(seq 100); do [ -s "$KAFKA_BOOTSTRAP" ] && break; sleep 0.05; done
for suite in "$ROOT"/build/integration/kafka_*_test; do
	CHAT4ALL_TEST_KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP CHAT4ALL_TEST_KAFKA_CONTROL=$TMP/kafka-control \
		"$suite" || fail "$suite"
done
kill "$KAFKA_PID" 2>/dev/null || true
wait "$KAFKA_PID" 2>/dev/null || true
echo "== bus = kafka, over https: the API suites and the channels again, on a second instance (its own fakes)"
# Its cluster's topics have one partition each: every conversation, address
# and channel shares it, the hardest case for "none waits for another".
# It serves https (make run TLS=1: a self-signed certificate, which the
# clients trust and nothing else), HTTP/2 where the client takes it, and
# redirects plain http from a port of its own.
KVAR=$TMP/kafka-instance KPORT=$(free_port) KFAKE=$(free_port)
KAFKA_BOOTSTRAP=$TMP/kafka1-bootstrap
"$ROOT/build/kafka/mock_cluster" --bootstrap-file "$KAFKA_BOOTSTRAP" --partitions 1 \
	--control "$TMP/kafka1-control" </dev/null >"$TMP/log/kafka1.log" 2>&1 &
KAFKA_PID=$!
for _ in $(seq 100); do [ -s "$KAFKA_BOOTSTRAP" ] && break; sleep 0.05; done
mkdir -p "$KVAR" && chmod 755 "$KVAR"
FAKE_WHATSAPP_ID=$FAKE_WHATSAPP_ID FAKE_INSTAGRAM_ID=$FAKE_INSTAGRAM_ID \
	node "$ROOT/tests/fakes/channels.mjs" "$KFAKE" >"$TMP/log/kafka-fakes.log" 2>&1 &
KFAKE_PID=$!
# series_exist METRICS [-v] - every chat4all_* series conf/monitoring uses
# (-v: but the Kafka bus's, chat4all_bus_*; without: only those) is in METRICS
series_exist() {
	local n missing=0
	for n in $(grep -ohE 'chat4all_[a-z_]+' "$ROOT"/conf/monitoring/* | sed -E 's/_(bucket|sum|count)$//' |
		grep ${2:-} '^chat4all_bus_' | sort -u); do
		grep -qE "^${n}(_bucket)?[{ ]" <<<"$1" || { echo "not in /metrics: $n"; missing=1; }
	done
	return $missing
}
# quick_term DELAY - a worker stopped (SIGTERM) DELAY s after it is ready,
# in the middle of its group's first rebalance, ends within 10 s, cleanly:
# exit 0 and its PID file gone (Debian 12's librdkafka aborted or hung
# there: lib/queue_kafka.c, leave_group)
quick_term() {
	local pidf=$VAR/run/worker-quick.pid n pid wpid as=()
	[ "$(id -u)" = 0 ] && as=(runuser -u "$RUN_AS" --)
	n=$(grep -c '"msg":"worker ready' "$VAR/log/chat4all.log")
	(eval "$("$ROOT/tools/stack.sh" env)"
	 exec "${as[@]}" "$APP/build/chat4all-jobs" worker --pidfile "$pidf") \
		</dev/null >>"$VAR/log/jobs.log" 2>&1 &
	pid=$!
	for _ in $(seq 250); do
		[ "$(grep -c '"msg":"worker ready' "$VAR/log/chat4all.log")" -gt "$n" ] && break
		sleep 0.02
	done
	sleep "$1"
	wpid=$(cat "$pidf")
	kill -TERM "$wpid"
	for _ in $(seq 100); do kill -0 "$wpid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$wpid" 2>/dev/null; then
		echo "worker $wpid still runs 10 s after SIGTERM"; kill -9 "$wpid"; wait "$pid"; return 1
	fi
	wait "$pid" && [ ! -e "$pidf" ]
}
quick_terms() {
	local d
	for d in 0 0.1 0.3 0.5 0.8 1.0 1.3 1.6 2.0 2.5 3.0; do quick_term "$d" || { echo "(stopped $d s after ready)"; return 1; }; done
}
bus_series_exist() {
	desc="every chat4all_bus_* series the dashboard and the alerts use is in this instance's /metrics"
	check series_exist "$(curl -fsS --cacert "$KVAR/tls/cert.pem" "https://127.0.0.1:$KPORT/metrics")"
}
# what https adds, seen from outside (curl trusting the instance's certificate)
https_checks() {
	local u="https://127.0.0.1:$KPORT" r="http://127.0.0.1:$REDIRECT_PORT" ca="--cacert $KVAR/tls/cert.pem"
	desc="https with the instance's certificate, HSTS on every answer"
	check bash -c '[[ $(curl -fsS $1 -D- -o /dev/null "$2/healthz") =~ [Ss]trict-[Tt]ransport-[Ss]ecurity:\ max-age=63072000 ]]' _ "$ca" "$u"
	desc="TLS 1.1 and older refused"
	check bash -c '! curl -sS $1 --tlsv1 --tls-max 1.1 -o /dev/null "$2/healthz" 2>/dev/null' _ "$ca" "$u"
	desc="plain http on the https port serves nothing"
	check bash -c '[ "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$1/healthz")" = 000 ]' _ "$KPORT"
	desc="http on the redirect port: 308 to the same path and query over https"
	check bash -c '[ "$(curl -s -o /dev/null -w "%{http_code} %{redirect_url}" -H "Content-Type: application/json" -d "{}" "$1/v1/auth/token?a=1&b=2")" = "308 $2/v1/auth/token?a=1&b=2" ]' _ "$r" "$u"
	mkdir -p "$KVAR/acme/.well-known/acme-challenge" && echo "token-$$" >"$KVAR/acme/.well-known/acme-challenge/t1"
	chmod -R a+rX "$KVAR/acme"
	desc="... but for ACME's http-01 challenges (certbot --webroot -w \$VAR/acme)"
	check bash -c '[ "$(curl -fsS "$1/.well-known/acme-challenge/t1")" = "token-$2" ]' _ "$r" "$$"
}
(
	export VAR=$KVAR PORT=$KPORT PGPORT=$(free_port) WORKERS=3 TLS=1 REDIRECT_PORT=$(free_port)
	export CHAT4ALL_BUS=kafka CHAT4ALL_KAFKA_BROKERS=$(cat "$KAFKA_BOOTSTRAP") CHAT4ALL_KAFKA_PARTITIONS=1
	# a killed member's partitions move in 3 s instead of 10 (the suites kill some)
	export CHAT4ALL_KAFKA__SESSION_TIMEOUT_MS=3000 CHAT4ALL_TEST_KAFKA_CONTROL=$TMP/kafka1-control
	export FAKE_URL="http://127.0.0.1:$KFAKE" CHAT4ALL_OUTBOUND_ALLOW="127.0.0.1/32:$KFAKE"
	export CHAT4ALL_GRAPH_BASE_URL=$FAKE_URL CHAT4ALL_TELEGRAM_BASE_URL=$FAKE_URL
	export CHAT4ALL_PUBLIC_URL="https://127.0.0.1:$KPORT" CHAT4ALL_TEST_URL="https://127.0.0.1:$KPORT"
	export CHAT4ALL_TEST_CA=$KVAR/tls/cert.pem NODE_EXTRA_CA_CERTS=$KVAR/tls/cert.pem
	eval "$("$ROOT/tools/stack.sh" paths)"
	export CHAT4ALL_TEST_PSQL="${PSQL/-h $PGRUN_MAIN -p $PGPORT_MAIN/-h $PGRUN -p $PGPORT}"
	export CHAT4ALL_TEST_REDIS_CLI="redis-cli -s $KVAR/run/redis.sock"
	export CHAT4ALL_TEST_FILES_DIR="$KVAR/files" CHAT4ALL_TEST_VAR=$KVAR
	"$ROOT/tools/stack.sh" start >/dev/null || exit 1
	rc=0 failed=0	# (its checks' failures, counted in this subshell's own copy)
	https_checks
	for suite in "$ROOT"/build/integration/api_*_test "$ROOT"/build/integration/files_test \
		"$ROOT"/build/integration/security_test; do
		"$suite" || { echo "FAILED: $suite (bus = kafka)"; rc=1; }
	done
	node "$ROOT/tests/channels/channels.mjs" || { echo "FAILED: tests/channels/channels.mjs (bus = kafka)"; rc=1; }
	node "$ROOT/tests/tus/upload.mjs" || { echo "FAILED: tests/tus/upload.mjs (https)"; rc=1; }
	# (its message and its deliveries cross Kafka: the traceparent in the records)
	node "$ROOT/tests/traces/trace.mjs" || { echo "FAILED: tests/traces/trace.mjs (bus = kafka)"; rc=1; }
	bus_series_exist
	desc="a worker stopped at any moment of its group's first rebalance leaves cleanly (11 moments)"
	check quick_terms
	# the web UI as browsers meet it on a host: https, HTTP/2, the stream through both
	if command -v chromium >/dev/null; then
		E2E_OUT="$ROOT/build/e2e-https" node "$ROOT/tests/e2e/chat.mjs" || { echo "FAILED: tests/e2e/chat.mjs (https)"; rc=1; }
	fi
	# the next one sends 72 messages in a few seconds as one agent (whose
	# bucket the suite before emptied: a faster refill, not only a deeper one)
	"$ROOT/tools/stack.sh" stop >/dev/null && CHAT4ALL_SEND_RATE=100 CHAT4ALL_SEND_BURST=200 "$ROOT/tools/stack.sh" start >/dev/null &&
		node "$ROOT/tests/kafka/deliveries.mjs" || { echo "FAILED: tests/kafka/deliveries.mjs"; rc=1; }
	"$ROOT/tools/stack.sh" stop >/dev/null 2>&1 || true
	exit $((rc | failed))
) || fail "the suites with bus = kafka"
kill "$KFAKE_PID" 2>/dev/null || true
kill "$KAFKA_PID" 2>/dev/null || true
wait "$KAFKA_PID" 2>/dev/null || true
KAFKA_PID=
echo "== an existing tus client, unchanged: tus-js-client under node"
node "$ROOT/tests/tus/upload.mjs" || fail "tests/tus/upload.mjs"
echo "== channels, against the local fake providers"
node "$ROOT/tests/channels/channels.mjs" || fail "tests/channels/channels.mjs"
echo "== traces: one message, one trace across the API, a worker, the deliverer and the gateway"
node "$ROOT/tests/traces/trace.mjs" || fail "tests/traces/trace.mjs"
echo "== the web UI in headless Chromium (screenshots in build/e2e)"
if command -v chromium >/dev/null; then
	E2E_OUT="$ROOT/build/e2e" node "$ROOT/tests/e2e/chat.mjs" || fail "tests/e2e/chat.mjs"
else
	echo "SKIPPED: no chromium here (apt-get install chromium; .ci/run does)"
fi

echo "== monitoring: conf/monitoring's dashboard and alerts use only what /metrics shows"
METRICS=$(curl -fsS "$CHAT4ALL_TEST_URL/metrics")	# (after every suite: each series has counted)
desc="every chat4all_* series the dashboard and the alerts use is in /metrics (the bus's: above)"
check series_exist "$METRICS" -v
dashboard_ok() { jq -e '.panels | length > 0' "$ROOT/conf/monitoring/grafana-dashboard.json" >/dev/null; }
desc="the dashboard is JSON with its panels"; check dashboard_ok
if command -v promtool >/dev/null; then
	desc="promtool check rules conf/monitoring/alerts.yml"
	check promtool check rules "$ROOT/conf/monitoring/alerts.yml"
else
	echo "SKIPPED: promtool check rules (no promtool here: Debian's prometheus package has it)"
fi

echo "== restart: make stop leaves nothing running, a new start keeps the data"
B=$CHAT4ALL_TEST_URL
curl -fsS -o /dev/null "$B/v1/auth/register" -H 'Content-Type: application/json' \
	-d '{"username":"restart_check","password":"survives restarts"}'
pids=$(cat "$VAR/run/lighttpd.pid" "$VAR/run/redis.pid"; head -1 "$VAR/pg/postmaster.pid")
api_pids=$(pgrep -f "^$APP/build/chat4all-api" -P "$(cat "$VAR/run/lighttpd.pid")" || true)
# (before the restart: this instance trusts no proxy)
signin_ip() {	# the address the audit gives a sign-in sent with X-Forwarded-For: $1
	curl -fsS -o /dev/null "$B/v1/auth/token" -H 'Content-Type: application/json' -H "X-Forwarded-For: $1" \
		-H 'X-Forwarded-Proto: https' -D "$TMP/signin-headers" \
		-d '{"username":"restart_check","password":"survives restarts"}' &&
		$PSQL -c "SELECT ip FROM audit_log WHERE action = 'signin' AND subject = 'restart_check' ORDER BY id DESC LIMIT 1"
}
spoofed_ip=$(signin_ip 203.0.113.7)
spoofed_hsts=$(grep -ci strict-transport-security "$TMP/signin-headers" || true)
metrics_as() { curl -s -o /dev/null -w '%{http_code}' -H "X-Forwarded-For: $1" "$B/metrics"; }
spoofed_metrics=$(metrics_as 203.0.113.7)
"$ROOT/tools/stack.sh" stop
# A process is alive while its status can be read and says other than zombie
# (one read: a zombie reaped between two reads is gone, not alive).
alive() {
	for p in $pids $api_pids; do
		state=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' /proc/$p/status 2>/dev/null) || true
		[ -n "$state" ] && [ "$state" != Z ] && return 0
	done
	return 1
}
for _ in $(seq 50); do alive || break; sleep 0.1; done
all_stopped() { ! alive; }
desc="stop ends lighttpd, the API responders, Redis and PostgreSQL"; check all_stopped
# (started again as if behind a proxy at 127.0.0.1, for the next section)
CHAT4ALL_TRUSTED_PROXIES=127.0.0.1 "$ROOT/tools/stack.sh" start >/dev/null
desc="a user made before the restart signs in after it"
check curl -fsS -o /dev/null "$B/v1/auth/token" -H 'Content-Type: application/json' \
	-d '{"username":"restart_check","password":"survives restarts"}'

echo "== behind a proxy: X-Forwarded-For and -Proto count from trusted_proxies only"
desc="from a client that is no trusted proxy they count for nothing (audit: 127.0.0.1, no HSTS)"
check [ "$spoofed_ip $spoofed_hsts" = "127.0.0.1 0" ]
desc="from a trusted proxy: the client it names (the right-most address it did not add)"
check [ "$(signin_ip '198.51.100.1, 203.0.113.7')" = 203.0.113.7 ]
desc="... and the https it says it ended: HSTS"
check grep -qi '^strict-transport-security: max-age' "$TMP/signin-headers"
desc="/metrics: for metrics_allow (loopback by default), not a stranger a trusted proxy names (403)"
check [ "$spoofed_metrics $(metrics_as 127.0.0.1) $(metrics_as 203.0.113.7)" = "200 200 403" ]

echo "== backup and restore: this instance's data into a new, empty one"
desc="chat4all-admin backup writes the dump, the files and their manifest"
check "$CHAT4ALL_TEST_ADMIN" backup "$TMP/backup"
RVAR=$TMP/restored RPORT=$(free_port)
mkdir -p "$RVAR" && chmod 755 "$RVAR"
restored() { env -u PGPORT VAR=$RVAR PORT=$RPORT "$ROOT/tools/$1" "${@:2}"; }
restored stack.sh start >/dev/null
RPSQL="${PSQL/-h $PGRUN_MAIN -p $PGPORT_MAIN/-h $RVAR/run/postgresql -p 55432}"
# a manifest is text anyone with the folder can edit; its ids become paths
cp -r "$TMP/backup" "$TMP/tampered"
printf '../../../../tmp/c4a-escape\tready\t1\t%064d\n' 0 >>"$TMP/tampered/manifest.tsv"
tampered_refused() {
	! restored chat4all-admin restore "$TMP/tampered" 2>/dev/null &&
		[ "$($RPSQL -c "SELECT count(*) FROM users")" = 0 ] && [ ! -e /tmp/c4a-escape ]
}
desc="a manifest naming a path, not a file id, is refused before anything is restored"
check tampered_refused
desc="chat4all-admin restore brings it into the new instance"
check restored chat4all-admin restore "$TMP/backup"
restored stack.sh stop >/dev/null && restored stack.sh start >/dev/null
for t in users conversations messages files deliveries; do
	desc="the same $t ($($PSQL -c "SELECT count(*) FROM $t"))"
	check [ "$($PSQL -c "SELECT count(*) FROM $t")" = "$($RPSQL -c "SELECT count(*) FROM $t")" ]
done
ready_bytes_match() {	# every ready file's bytes in the restored store hash to its row's sha256
	local id sum n=0
	while IFS='|' read -r id sum; do
		[ "$(sha256sum "$RVAR/files/${id: -4:2}/${id: -2}/$id" | cut -d' ' -f1)" = "$sum" ] || return 1
		n=$((n + 1))
	done < <($RPSQL -c "SELECT id, sha256 FROM files WHERE status = 'ready'")
	[ "$n" -gt 0 ]
}
desc="every ready file came back with its bytes (sha256 of each)"; check ready_bytes_match
desc="a user of the old instance signs in to the restored one"
check curl -fsS -o /dev/null "http://127.0.0.1:$RPORT/v1/auth/token" -H 'Content-Type: application/json' \
	-d '{"username":"restart_check","password":"survives restarts"}'
desc="a second restore into an instance with data is refused"
check bash -c '! "$@" 2>/dev/null' _ env -u PGPORT VAR="$RVAR" PORT="$RPORT" "$ROOT/tools/chat4all-admin" restore "$TMP/backup"
restored stack.sh stop >/dev/null 2>&1 || true

echo "== log rotation: tools/stack.sh logrotate's snippet, run by logrotate"
if command -v logrotate >/dev/null; then
	"$ROOT/tools/stack.sh" logrotate >"$TMP/logrotate.conf"
	desc="logrotate takes the snippet and rotates the logs now"
	check logrotate -f -s "$TMP/logrotate.state" "$TMP/logrotate.conf"
	rotated_released() {	# no process of the instance writes to a rotated file any more
		local p
		for p in $(cat "$VAR"/run/{lighttpd,stream,cron}.pid "$VAR"/run/worker-*.pid) \
			$(pgrep -P "$(cat "$VAR/run/lighttpd.pid")"); do
			if ls -l "/proc/$p/fd" 2>/dev/null | grep -q "$VAR/log/.*\.log\.1"; then
				echo "process $p still writes to $(ls -l "/proc/$p/fd" | grep -o "$VAR/log/[^ ]*\.1")"
				return 1
			fi
		done
	}
	desc="every process writes to the new files (lighttpd, responders, gateway, workers, cron)"
	check rotated_released
	all_running() { "$ROOT/tools/stack.sh" status >/dev/null; }
	desc="... and every one of them is still running (SIGHUP reopens, it does not end them)"
	check all_running
	curl -fsS -o /dev/null "$B/v1/auth/token" -H 'Content-Type: application/json' \
		-d '{"username":"restart_check","password":"survives restarts"}'
	desc="and the next lines land there"; check grep -q '"proc":"api"' "$VAR/log/chat4all.log"
else
	echo "SKIPPED: no logrotate here (tools/deps.sh installs it)"
fi

echo "== functions: a migrate puts each back as migrations/functions/ writes it"
$PSQL -c "CREATE OR REPLACE FUNCTION rfc3339(t timestamptz) RETURNS text LANGUAGE sql STABLE AS \$\$ SELECT 'tampered' \$\$"
"$CHAT4ALL_TEST_ADMIN" migrate >/dev/null
desc="rfc3339() is json.sql's again after a migrate"
check [ "$($PSQL -c "SELECT rfc3339('2026-01-02 03:04:05.5Z')")" = "2026-01-02T03:04:05.500000Z" ]

echo "== a sign-in flood: production password hashing and the default limits"
"$ROOT/tools/stack.sh" stop
# A short wait for a place to hash: a real user who must queue behind the
# flood's hashes gets 429 at once, rather than only on a slow machine; the
# flood's address holds at most all but one place (fcgi/h_auth.c)
env -u CHAT4ALL_ARGON2_ITERATIONS -u CHAT4ALL_ARGON2_MEMORY_KIB -u CHAT4ALL_SIGNIN_ADDRESS_RATE \
	-u CHAT4ALL_SIGNIN_ADDRESS_BURST CHAT4ALL_ARGON2_WAIT_MS=300 "$ROOT/tools/stack.sh" start >/dev/null
CHAT4ALL_TEST_FLOOD=1 TEST_FILTER=test_signin_flood "$ROOT/build/integration/security_test" || fail "build/integration/security_test"

echo "== a full disk: the files folder on an 8 MiB tmpfs"
SMALL=$VAR/small-disk
if [ "$(id -u)" = 0 ] && mkdir -p "$SMALL" && mount -t tmpfs -o size=8m,mode=755 tmpfs "$SMALL"; then
	"$ROOT/tools/stack.sh" stop
	CHAT4ALL_FILES_DIR=$SMALL "$ROOT/tools/stack.sh" start >/dev/null
	CHAT4ALL_TEST_FILES_DIR=$SMALL CHAT4ALL_TEST_SMALL_DISK=1 TEST_FILTER=test_disk_full \
		"$ROOT/build/integration/files_test" || fail "build/integration/files_test"
	"$ROOT/tools/stack.sh" stop
	umount "$SMALL"
else
	echo "SKIPPED: mounting a tmpfs needs root"
fi

echo "== two instances side by side on adjacent ports, as README says (PORT=8081 VAR=/srv/other make run)"
for _ in $(seq 50); do
	APORT=$(free_port)
	(exec 3<>"/dev/tcp/127.0.0.1/$((APORT + 1))") 2>/dev/null || break
done
BPORT=$((APORT + 1))
mkdir -p "$TMP/side-a" "$TMP/side-b" && chmod 755 "$TMP/side-a" "$TMP/side-b"
side() { env -u PGPORT -u STREAM_PORT VAR=$TMP/side-$1 PORT=$2 "$ROOT/tools/stack.sh" "${@:3}"; }
# (a asks for a redirect port before it has a certificate: the way to its first)
RPORT_A=$(free_port)
REDIRECT_PORT=$RPORT_A side a "$APORT" start >/dev/null && side b "$BPORT" start >/dev/null || failed=1
for p in "$APORT" "$BPORT"; do
	desc="the instance on $p serves its API and its streams (through its own gateway)"
	check [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/v1/stream")" = 401 ]
done
mkdir -p "$TMP/side-a/acme/.well-known/acme-challenge" && echo first >"$TMP/side-a/acme/.well-known/acme-challenge/t2"
chmod -R a+rX "$TMP/side-a/acme"
acme_only() {
	[ "$(curl -fsS "http://127.0.0.1:$RPORT_A/.well-known/acme-challenge/t2")" = first ] &&
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$RPORT_A/v1/auth/token")" = 403 ]
}
desc="REDIRECT_PORT before tls_cert: ACME's challenges answered there, nothing else (403)"
check acme_only
side a "$APORT" stop >/dev/null 2>&1 || true
side b "$BPORT" stop >/dev/null 2>&1 || true
# (an address of no interface here: its bind fails)
out=$(CHAT4ALL_STREAM_BIND=192.0.2.1 side a "$APORT" start 2>&1 || true)
desc="a gateway that cannot start: start says what it waited for, and for how long"
check grep -q "the stream gateway did not start: waited 5 s for .*stream.pid" <<<"$out"
desc="... and shows why, from the gateway's own words"
check grep -q "cannot listen on 192.0.2.1:0" <<<"$out"
side a "$APORT" stop >/dev/null 2>&1 || true

echo "== make install into a temporary root (DESTDIR=…), then make uninstall"
IROOT=$TMP/install-root
make -s -C "$ROOT" install DESTDIR="$IROOT" >/dev/null
installed_in_place() {
	local f
	for f in usr/local/bin/chat4all-admin usr/local/lib/chat4all/{chat4all-{api,stream,jobs,admin},lighttpd-conf} \
		usr/local/share/chat4all/{web/index.html,migrations/0001_init.sql,moderation,monitoring/alerts.yml,conf/problems} \
		usr/local/share/chat4all/conf/lighttpd{,-tls,-redirect}.conf.in \
		etc/chat4all/{chat4all.conf,jwt-secret} etc/logrotate.d/chat4all \
		usr/local/lib/systemd/system/chat4all-{api,stream,worker@,deliver@,relay@,cron}.service \
		usr/local/lib/systemd/system/chat4all-cron.timer; do
		[ -e "$IROOT/$f" ] || { echo "not installed: $f"; return 1; }
	done
	! grep -rl '@[A-Z_]*@' "$IROOT/etc" "$IROOT/usr/local/lib/systemd" "$IROOT/usr/local/bin"
}
desc="binaries, web UI, migrations, settings, units and the logrotate snippet where they belong"
check installed_in_place
make -s -C "$ROOT" uninstall DESTDIR="$IROOT" >/dev/null
uninstalled() {
	[ ! -e "$IROOT/usr/local/lib/chat4all" ] && [ ! -e "$IROOT/usr/local/bin/chat4all-admin" ] &&
		[ -z "$(ls "$IROOT/usr/local/lib/systemd/system")" ] && [ -e "$IROOT/etc/chat4all/chat4all.conf" ]
}
desc="make uninstall takes them away, and leaves the settings and the secret"; check uninstalled
# installed for real under a prefix of its own: the programs the units name exist
IPRE=$TMP/install-prefix
make -s -C "$ROOT" install PREFIX="$IPRE" SYSCONFDIR="$IPRE/etc" UNITDIR="$IPRE/units" \
	HTTP_PORT=8443 REDIRECT_PORT=8081 >/dev/null
# what chat4all-api.service does before lighttpd: its Environment=, its renderer
unit_renders() {
	env -i PATH="$PATH" $(sed -n 's/^Environment=//p' "$IPRE/units/chat4all-api.service") "$@" \
		"$IPRE/lib/chat4all/lighttpd-conf" "$TMP/installed-lighttpd.conf" &&
		lighttpd -tt -f "$TMP/installed-lighttpd.conf" >/dev/null 2>&1
}
desc="the api unit's lighttpd configuration, rendered as it does, is one lighttpd takes"
check unit_renders
desc="... with the settings tls_cert, tls_key and trusted_proxies (https, redirect, proxies)"
check unit_renders CHAT4ALL_TLS_CERT="$TMP/kafka-instance/tls/cert.pem" \
	CHAT4ALL_TLS_KEY="$TMP/kafka-instance/tls/key.pem" CHAT4ALL_TRUSTED_PROXIES="10.1.2.3 10.2.0.0/16"
desc="... in which https, its redirect and the proxies are all there"
check bash -c 'grep -q "ssl.engine  = \"enable\"" "$1" && grep -q "socket\"\] == \"0.0.0.0:8081\"" "$1" &&
	grep -q "\"10.2.0.0/16\" => \"trust\"" "$1" && grep -q "https://%1:8443" "$1"' _ "$TMP/installed-lighttpd.conf"
if command -v systemd-analyze >/dev/null; then
	units_verify() {
		(cd "$IPRE/units" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify chat4all-api.service \
			chat4all-stream.service chat4all-worker@1.service chat4all-deliver@1.service \
			chat4all-relay@1.service chat4all-cron.service chat4all-cron.timer 2>&1 |
			tee "$TMP/verify.txt"; [ ! -s "$TMP/verify.txt" ])
	}
	desc="systemd-analyze verify finds nothing to say of the units"; check units_verify
else
	echo "SKIPPED: systemd-analyze verify (no systemd-analyze here)"
fi

echo "== the installed host at work: make install, Debian's PostgreSQL and Redis, the units run as their files say (no systemd here)"
"$ROOT/tests/install/units.sh" "$(free_port)" "$(free_port)" || fail "tests/install/units.sh"

echo "== a checkout the service users cannot enter (as root: git clone … /root/c4 && make run)"
if [ "$(id -u)" = 0 ]; then
	HIDDEN=$(mktemp -d /tmp/chat4all-hidden.XXXXXX)	# 0700, like /root
	mkdir -p "$HIDDEN/c4/build"
	cp "$ROOT"/build/chat4all-{api,stream,jobs,admin} "$HIDDEN/c4/build/"
	cp -r "$ROOT"/{web,conf,migrations,tools} "$HIDDEN/c4/"
	HPORT=$(free_port)
	out=$(env -u VAR PORT=$HPORT PGPORT=$(free_port) \
		"$HIDDEN/c4/tools/stack.sh" start 2>&1) || { echo "$out"; failed=1; }
	HVAR=$(env -u VAR "$HIDDEN/c4/tools/stack.sh" paths | sed -n 's/^VAR=//p')
	desc="it starts, says where its data is, and serves"
	check grep -q "data in /var/lib/chat4all/c4-" <<<"$out"
	check curl -fsS -o /dev/null "http://127.0.0.1:$HPORT/v1/auth/register" -H 'Content-Type: application/json' \
		-d '{"username":"hidden_check","password":"out of reach"}'
	env -u VAR PORT=$HPORT "$HIDDEN/c4/tools/stack.sh" stop >/dev/null 2>&1 || true
	rm -rf "$HIDDEN" "$HVAR"
else
	echo "SKIPPED: needs root"
fi

echo "== docker-compose.yml and the Dockerfile (no Docker engine here: what can be checked without one)"
desc="docker-compose config takes docker-compose.yml"
check docker-compose -f "$ROOT/docker-compose.yml" config -q
build_stage() { sed -n '/^FROM .* AS build/,/^FROM /p' "$ROOT/Dockerfile"; }
copied_sources_build() {	# the build stage's COPY lines, replayed: make finds every source it needs
	local d=$TMP/docker-build line
	mkdir -p "$d"
	while read -r line; do	# (COPY dir dest copies what is in dir)
		set -- $line
		local dest=${!#} src
		mkdir -p "$d/$dest"
		for src in "${@:1:$#-1}"; do
			if [ -d "$ROOT/$src" ]; then cp -r "$ROOT/$src/." "$d/$dest"; else cp "$ROOT/$src" "$d/$dest"; fi
		done
	done < <(build_stage | sed -n 's/^COPY //p')
	make -s -C "$d" -n all BUILD="$d/build" >/dev/null
}
desc="its build stage copies every source make all needs"; check copied_sources_build
dev_packages_installed() {	# each library the Makefile asks pkg-config for, from its -dev package
	local m pkg missing=0
	for m in $(sed -n 's/^PKGS *:= *//p' "$ROOT/Makefile") libevent; do
		pkg=$(dpkg -S "$(readlink -f "$(pkg-config --variable=pcfiledir "$m")/$m.pc")" | cut -d: -f1)
		build_stage | grep -qw -- "$pkg" || { echo "not in the Dockerfile's build stage: $pkg ($m)"; missing=1; }
	done
	return $missing
}
desc="... and installs the -dev package of every library it links"; check dev_packages_installed

exit $failed
