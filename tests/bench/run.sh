#!/usr/bin/env bash
# make bench: the send path and history reads against the ceilings of the
# same stack, measured in the same run on the same machine:
#   static   lighttpd serving a static file
#   insert   lighttpd → FastCGI → one prepared INSERT (synchronous commit)
#   send     POST /v1/conversations/{id}/messages through chat4all-api
# then the same send over https and with traces exported, a 1 GiB file up
# and down beside dd (files.sh), outbound channel
# deliveries against a fake provider 50 ms away (channels.sh), and the same send
# and history reads with a million messages stored.
# wrk shares the 2 cores with everything it measures. Figures only: no
# threshold here, benchmarks report and tests assert. QUICK=1 runs the
# send, pipeline and latency phases only (under 2 minutes). Each figure
# beside its ceiling is also written to build/bench/summary.json, so that
# runs can be compared. PROFILE=1 also profiles the send phase, the
# pipeline draining its backlog and both at once: the whole machine's CPU by process and
# function (perf, software clock) and PostgreSQL's statements by time
# (pg_stat_statements).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
USERS=${USERS:-200}
PRELOAD=${PRELOAD:-1000000}
# the ceiling's responders are single-threaded, one request each: as many
# as wrk keeps busy. The API runs as make run starts it (stack.sh's
# API_PROCS, api_threads) unless told otherwise.
INSERT_PROCS=${INSERT_PROCS:-8}
export WORKERS=${WORKERS:-2}

TMP=$(mktemp -d /tmp/chat4all-bench.XXXXXX)
chmod 755 "$TMP"
# below the kernel's ephemeral ports (32768 up): a port there can be any
# client socket's, and a listener's bind would fail now and then
export VAR=$TMP PORT=$((20000 + RANDOM % 10000)) PGPORT=$((10000 + RANDOM % 10000))
# the gateway on TCP (not make run's unix socket): the idle-streams phase
# opens its streams straight to it
export STREAM_PORT=$((PORT + 1))
INSERT_PORT=$((PORT + 2))
cleanup() {
	[ -n "${CHANNELS_FAKE_PID:-}" ] && kill "$CHANNELS_FAKE_PID" 2>/dev/null
	[ -z "${KAFKA_PID:-}" ] || kill "$KAFKA_PID" 2>/dev/null || true
	[ -z "${OTLP_PID:-}" ] || kill "$OTLP_PID" 2>/dev/null || true
	[ -f "$VAR/run/lighttpd-insert.pid" ] && kill "$(cat "$VAR/run/lighttpd-insert.pid")" 2>/dev/null
	"$ROOT/tools/stack.sh" stop >/dev/null 2>&1 || true
	rm -rf "$ROOT/build/bench-logs" && cp -r "$VAR/log" "$ROOT/build/bench-logs" 2>/dev/null	# to read after
	rm -rf "$TMP"
}
trap cleanup EXIT

# the product's settings but cheap password hashes (the bench signs up
# hundreds of users) and buckets the load generator never empties
export CHAT4ALL_ARGON2_ITERATIONS=1 CHAT4ALL_ARGON2_MEMORY_KIB=8192
export CHAT4ALL_SEND_RATE=1000000 CHAT4ALL_SEND_BURST=1000000
export CHAT4ALL_REGISTER_RATE=1000000 CHAT4ALL_REGISTER_BURST=1000000
# the channels' provider: a local fake that answers in FAKE_DELAY_MS
FAKE_DELAY_MS=${FAKE_DELAY_MS:-50}
CHANNELS_FAKE_PORT=$((PORT + 3))
FAKE_WHATSAPP_ID=1065550001 node "$ROOT/tests/fakes/channels.mjs" "$CHANNELS_FAKE_PORT" "$FAKE_DELAY_MS" \
	>"$TMP/fake-channels.log" 2>&1 &
CHANNELS_FAKE_PID=$!
export CHAT4ALL_GRAPH_BASE_URL="http://127.0.0.1:$CHANNELS_FAKE_PORT"
export CHAT4ALL_OUTBOUND_ALLOW="127.0.0.1/32:$CHANNELS_FAKE_PORT"	# the fake is on loopback
export CHAT4ALL_WHATSAPP_PHONE_NUMBER_ID=1065550001 CHAT4ALL_WHATSAPP_TOKEN=bench-token
[ -n "${PROFILE:-}" ] && export PG_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
"$ROOT/tools/stack.sh" start >/dev/null
eval "$("$ROOT/tools/stack.sh" env)"
eval "$("$ROOT/tools/stack.sh" paths)"	# RUN_AS: who the services run as
B="http://127.0.0.1:$PORT"

# psql itself, not Debian's wrapper (a Perl program): the bench polls the
# queue while it measures, and each wrapped start cost more CPU than the poll
PSQL_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)/psql
[ -x "$PSQL_BIN" ] || PSQL_BIN=psql
psql_() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$PSQL_BIN" -h "$PGRUN" -p "$PGPORT" -U chat4all -d chat4all -qtAX "$@"
	else "$PSQL_BIN" -h "$PGRUN" -p "$PGPORT" -U chat4all -d chat4all -qtAX "$@"; fi
}

# ---- the bare-INSERT ceiling beside the API, on the same PostgreSQL
psql_ -c "CREATE TABLE bench_insert (id bigserial PRIMARY KEY, payload text NOT NULL,
                                     created_at timestamptz NOT NULL DEFAULT now())"
sed -e "s|@ROOT@|$ROOT|g" -e "s|@VAR@|$VAR|g" -e "s|@PORT@|$INSERT_PORT|g" \
    -e "s|@API_PROCS@|$INSERT_PROCS|g" tests/bench/lighttpd-insert.conf.in >"$VAR/lighttpd-insert.conf"
if [ "$(id -u)" = 0 ]; then runuser -u "$RUN_AS" -- lighttpd -f "$VAR/lighttpd-insert.conf"
else lighttpd -f "$VAR/lighttpd-insert.conf"; fi

# ---- users and private conversations, pairs (2i, 2i+1)
echo "setting up $USERS users..." >&2
DATA=$VAR/bench-data.lua
declare -A token_of_conv
echo "return {" >"$DATA"
for ((i = 0; i < USERS; i += 2)); do
	ids=()
	toks=()
	for j in $i $((i + 1)); do
		id=$(curl -fsS "$B/v1/auth/register" -H 'Content-Type: application/json' \
			-d "{\"username\":\"bench$j\",\"password\":\"bench password\"}" | sed 's/.*"id" : "\([^"]*\)".*/\1/')
		tok=$(curl -fsS "$B/v1/auth/token" -H 'Content-Type: application/json' \
			-d "{\"username\":\"bench$j\",\"password\":\"bench password\"}" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
		ids+=("$id")
		toks+=("$tok")
	done
	conv=$(curl -fsS "$B/v1/conversations" -H "Authorization: Bearer ${toks[0]}" -H 'Content-Type: application/json' \
		-d "{\"type\":\"private\",\"members\":[\"${ids[1]}\"]}" | sed 's/^{"id" : "\([^"]*\)".*/\1/')
	token_of_conv[$conv]=${toks[0]}
	echo "{token=\"${toks[0]}\",conv=\"$conv\"}," >>"$DATA"
	echo "{token=\"${toks[1]}\",conv=\"$conv\"}," >>"$DATA"
done
echo "}" >>"$DATA"
export BENCH_DATA=$DATA

# ---- measuring
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }'; }
declare -A RPS P50 P99 ERR
to_ms() { awk '{ v=$1; if (v ~ /us$/) { sub(/us/,"",v); v/=1000 } else if (v ~ /ms$/) { sub(/ms/,"",v) } else if (v ~ /s$/) { sub(/s/,"",v); v*=1000 } printf "%.2f", v }'; }
measure() {
	local name=$1 url=$2 script=${3:-} out
	out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency ${script:+-s "$script"} "$url")
	RPS[$name]=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
	P50[$name]=$(awk '$1 == "50%" {print $2}' <<<"$out" | to_ms)
	P99[$name]=$(awk '$1 == "99%" {print $2}' <<<"$out" | to_ms)
	ERR[$name]=$(awk '/Non-2xx/ {print $5}' <<<"$out")
	ERR[$name]=${ERR[$name]:-0}
	printf '%-28s %9s req/s   p50 %7s ms   p99 %7s ms   non-2xx %s\n' "$name" "${RPS[$name]}" \
		"${P50[$name]}" "${P99[$name]}" "${ERR[$name]}" >&2
}

workers() {	# stop | start the pipeline's workers
	if [ "$1" = stop ]; then
		for f in "$VAR"/run/worker-*.pid; do [ -e "$f" ] && kill "$(cat "$f")"; done
		for _ in $(seq 100); do ls "$VAR"/run/worker-*.pid >/dev/null 2>&1 || break; sleep 0.1; done
	else
		"$ROOT/tools/stack.sh" start >/dev/null
	fi
}
queued() { psql_ -c "SELECT count(*) FROM jobs"; }
wait_drained() {	# seconds until the queue is empty (at most 120), asked by one psql
	local t0 t1 n=1	# (not one long statement: its snapshot would hold back every pruning)
	t0=$(date +%s.%N)
	coproc POLL { psql_; }
	for _ in $(seq 2400); do
		echo "SELECT count(*) FROM jobs;" >&"${POLL[1]}"
		read -r n <&"${POLL[0]}" || break
		[ "$n" = 0 ] && break
		sleep 0.05
	done
	t1=$(date +%s.%N)
	exec {POLL[1]}>&-
	wait "$POLL_PID" 2>/dev/null || true
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }'
}

echo "== empty history (wrk -t2 -c$CONNS -d${DURATION}s after a 3 s warm-up; ${API_PROCS:-stack.sh default} API responders, $INSERT_PROCS for the INSERT)" >&2
warm() { wrk -t2 -c"$CONNS" -d3s ${2:+-s "$2"} "$1" >/dev/null; }
measure static "$B/index.html"
warm "http://127.0.0.1:$INSERT_PORT/" tests/bench/insert.lua
measure insert "http://127.0.0.1:$INSERT_PORT/" tests/bench/insert.lua

# 1. the send path alone: workers stopped, the jobs wait in the queue
workers stop
BENCH_TAG=w warm "$B/" tests/bench/send.lua
PROFILE_REPORT=
# perf.data lives outside $VAR: stack.sh start hands $VAR's top to the
# service user, and perf report reads no file another user owns
profile_start() {	# perf on every CPU for $DURATION s, and fresh statement counters
	[ -n "${PROFILE:-}" ] || return 0
	psql_ -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" -c "SELECT pg_stat_statements_reset()" >/dev/null
	command -v perf >/dev/null || { echo "PROFILE: no perf here (apt-get install linux-perf)" >&2; return 0; }
	perf record -a -g -F 499 -e cpu-clock -o "$ROOT/build/bench/perf.data" -- sleep "$DURATION" 2>/dev/null &
	PERF=$!
}
profile_report() {	# $1: what was profiled
	[ -n "${PROFILE:-}" ] || return 0
	[ -n "${PERF:-}" ] && { wait "$PERF" || true; PERF=; }
	local report="profile of $1 (perf, all CPUs, by process):
$(perf report -i "$ROOT/build/bench/perf.data" --no-children --sort comm --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | head -8)
by function (top 15):
$(perf report -i "$ROOT/build/bench/perf.data" --no-children --sort comm,sym --stdio -g none 2>/dev/null | grep -E '^ +[0-9.]+%' | head -15)
PostgreSQL statements by total time (pg_stat_statements):
$(psql_ -F' | ' -c "SELECT round(total_exec_time)::text || ' ms', calls, round(mean_exec_time::numeric, 3) || ' ms', left(regexp_replace(query, '\s+', ' ', 'g'), 90) FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 10")"
	echo "$report" >&2
	PROFILE_REPORT+="$report
"
}
profile_start
BENCH_TAG=s measure send "$B/" tests/bench/send.lua
profile_report "the send phase"
BACKLOG=$(queued)

# 2. the pipeline alone: $WORKERS workers drain that backlog
t0=$(date +%s.%N)
profile_start
workers start
DRAIN_ALONE=$(wait_drained)
profile_report "the pipeline alone (the first $DURATION s of draining the send phase's backlog)"
PIPE_ALONE=$(awk -v n="$BACKLOG" -v d="$DRAIN_ALONE" 'BEGIN { if (d > 0) printf "%.0f", n / d; else print "n/a" }')

# 3. both at once on the same cores: sends, with moderation and release
# behind, on a settled database: the backlog drained above leaves ~40k
# dead job rows and message versions to vacuum, and a checkpoint, which
# would land on this phase (a steady state has no such backlog behind it)
psql_ -c "VACUUM ANALYZE" -c "CHECKPOINT"
# the queue's depth each second, from one psql
( while [ ! -e "$VAR/depth.stop" ]; do echo "SELECT count(*) FROM jobs;"; sleep 1; done | psql_ ) \
	>"$VAR/depth.txt" 2>/dev/null &
SAMPLER=$!
profile_start
BENCH_TAG=p measure send_pipeline "$B/" tests/bench/send.lua
profile_report "sends with the pipeline running"
DRAIN=$(wait_drained)
touch "$VAR/depth.stop"; wait "$SAMPLER" 2>/dev/null || true
DEPTH_MAX=$(sort -n "$VAR/depth.txt" | tail -1)
DEPTH_SAMPLES=$(paste -sd' ' "$VAR/depth.txt")
read -r RELEASED P50_REL P99_REL <<<"$(psql_ -F' ' -c "SELECT count(*),
	round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)) * 1000)::numeric, 1),
	round((percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)) * 1000)::numeric, 1)
	FROM messages WHERE client_id LIKE 'p%' AND sent_at IS NOT NULL")"
sent_before=$(psql_ -c "SELECT count(*) FROM messages")

# ---- real time: POST → the recipient's SSE event, at 80% of the rate above
# on a settled database: the phases above leave a checkpoint and autovacuum
# of ~20k rows behind, which would land on this one's tail
psql_ -c "VACUUM ANALYZE" -c "CHECKPOINT"
LAT_RATE=$(( ${RPS[send_pipeline]:-200} * 8 / 10 ))
SENDER=$(sed -n 2p "$DATA" | sed 's/.*token="\([^"]*\)".*/\1/')
RECIPIENT=$(sed -n 3p "$DATA" | sed 's/.*token="\([^"]*\)".*/\1/')
LAT_CONV=$(sed -n 2p "$DATA" | sed 's/.*conv="\([^"]*\)".*/\1/')
LATENCY=$("$ROOT/build/bench/stream_latency" "$B" "$SENDER" "$RECIPIENT" "$LAT_CONV" "$LAT_RATE" "$DURATION" 2>&1 | tail -1)
echo "$LATENCY" >&2

# ---- the same sends with the pipeline, with bus = kafka: the outbox
# through the relays into a 3-broker mock cluster (tests/kafka/mock_cluster.c,
# in a process on the same 2 cores), the workers consuming it
KAFKA_BS=$VAR/kafka-bootstrap
"$ROOT/build/kafka/mock_cluster" --bootstrap-file "$KAFKA_BS" </dev/null >"$VAR/log/kafka.log" 2>&1 &
KAFKA_PID=$!
for _ in $(seq 100); do [ -s "$KAFKA_BS" ] && break; sleep 0.05; done
"$ROOT/tools/stack.sh" stop >/dev/null 2>&1
CHAT4ALL_BUS=kafka CHAT4ALL_KAFKA_BROKERS=$(cat "$KAFKA_BS") "$ROOT/tools/stack.sh" start >/dev/null
psql_ -c "VACUUM ANALYZE" -c "CHECKPOINT"
sleep 4	# the consumer groups' first join
unreleased() { psql_ -c "SELECT count(*) FROM messages WHERE client_id LIKE 'k%' AND status = 'pending'"; }
( while [ ! -e "$VAR/kdepth.stop" ]; do unreleased; sleep 1; done ) >"$VAR/kdepth.txt" 2>/dev/null &
KSAMPLER=$!
BENCH_TAG=k measure send_kafka "$B/" tests/bench/send.lua
for _ in $(seq 600); do [ "$(unreleased)" = 0 ] && break; sleep 0.1; done
touch "$VAR/kdepth.stop"; wait "$KSAMPLER" 2>/dev/null || true
KDEPTH_MAX=$(sort -n "$VAR/kdepth.txt" | tail -1)
read -r KRELEASED KP50_REL KP99_REL <<<"$(psql_ -F' ' -c "SELECT count(*),
	round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)) * 1000)::numeric, 1),
	round((percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)) * 1000)::numeric, 1)
	FROM messages WHERE client_id LIKE 'k%' AND sent_at IS NOT NULL")"
"$ROOT/tools/stack.sh" stop >/dev/null 2>&1
kill "$KAFKA_PID" 2>/dev/null || true
wait "$KAFKA_PID" 2>/dev/null || true
"$ROOT/tools/stack.sh" start >/dev/null
echo "bus = kafka: $KRELEASED released, accept → release p50 $KP50_REL ms, p99 $KP99_REL ms, unreleased at most $KDEPTH_MAX" >&2

# ---- what https and traces cost: the same sends (pipeline running) back
# to back on this database: plain, then over https (make run TLS=1: TLS 1.3,
# wrk's keep-alive connections), then plain with every process posting its
# spans to a local OTLP receiver (otlp_endpoint); and the static file over
# https beside the one over http
OTLP_PORT=$((PORT + 4))
node "$ROOT/tests/fakes/otlp.mjs" "$OTLP_PORT" >"$VAR/log/otlp.log" 2>&1 &
OTLP_PID=$!
psql_ -c "VACUUM ANALYZE" -c "CHECKPOINT"
# (each of the three after a restart and the same warm-up: a restart empties
# PostgreSQL's buffers, and a run right after one is not the run before it)
"$ROOT/tools/stack.sh" stop >/dev/null 2>&1
"$ROOT/tools/stack.sh" start >/dev/null
BENCH_TAG=b warm "$B/" tests/bench/send.lua
BENCH_TAG=a measure send_again "$B/" tests/bench/send.lua
"$ROOT/tools/stack.sh" stop >/dev/null 2>&1
TLS=1 "$ROOT/tools/stack.sh" start >/dev/null
BS="https://127.0.0.1:$PORT"
warm "$BS/index.html"
measure static_https "$BS/index.html"
BENCH_TAG=c warm "$BS/" tests/bench/send.lua
BENCH_TAG=t measure send_https "$BS/" tests/bench/send.lua
"$ROOT/tools/stack.sh" stop >/dev/null 2>&1
CHAT4ALL_OTLP_ENDPOINT="http://127.0.0.1:$OTLP_PORT/v1/traces" "$ROOT/tools/stack.sh" start >/dev/null
BENCH_TAG=d warm "$B/" tests/bench/send.lua
BENCH_TAG=o measure send_traced "$B/" tests/bench/send.lua
sleep 2	# (the exporters' last posts)
SPANS=$(curl -fsS "http://127.0.0.1:$OTLP_PORT/_posts" | jq -r '"\(.spans) spans in \(.posts) posts, \(.refused) refused"')
"$ROOT/tools/stack.sh" stop >/dev/null 2>&1
"$ROOT/tools/stack.sh" start >/dev/null
kill "$OTLP_PID" 2>/dev/null || true
echo "traces: $SPANS" >&2

IDLE_DIRECT="skipped (QUICK)" IDLE_PROXY="skipped (QUICK)" FILES_REPORT= CHANNELS_REPORT=
stored=$sent_before
if [ -z "${QUICK:-}" ]; then
# ---- idle streams held by the one gateway: directly, and through lighttpd
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
rss() { awk '/^VmRSS/ {print $2}' "/proc/$(cat "$VAR/run/stream.pid")/status"; }
idle() {	# port count → "open/held … | KiB per stream"
	local before after out
	before=$(rss)
	"$ROOT/build/bench/stream_idle" 127.0.0.1 "$1" "$2" 20 >"$VAR/idle.txt" 2>&1 &
	local pid=$!
	for _ in $(seq 150); do grep -q '^open' "$VAR/idle.txt" && break; sleep 0.1; done
	sleep 1
	after=$(rss)
	out=$(grep '^open' "$VAR/idle.txt")
	kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
	awk -v o="$out" -v a="$after" -v b="$before" -v n="$2" \
		'BEGIN { printf "%s; gateway RSS %d → %d KiB = %.1f KiB a stream", o, b, a, (a - b) / n }'
}
IDLE_DIRECT=$(CHAT4ALL_JWT_SECRET=$(cat "$VAR/secret/jwt") idle "$CHAT4ALL_STREAM_PORT" "${STREAMS:-10000}")
echo "idle, direct: $IDLE_DIRECT" >&2
sleep 2
IDLE_PROXY=$(CHAT4ALL_JWT_SECRET=$(cat "$VAR/secret/jwt") idle "$PORT" "${PROXIED_STREAMS:-8000}")
echo "idle, through lighttpd: $IDLE_PROXY" >&2

# ---- files: a 1 GiB upload and download beside dd
source "$ROOT/tests/bench/files.sh"
bench_files

# ---- a million messages: three very long conversations, the rest spread
echo "storing $PRELOAD more messages..." >&2
long=$((PRELOAD / 5))
psql_ <<SQL
WITH conv AS (
	SELECT c.id, c.last_seq,
	       (SELECT user_id FROM members WHERE conversation_id = c.id LIMIT 1) AS sender,
	       row_number() OVER (ORDER BY c.id) AS k, count(*) OVER () AS total
	  FROM conversations c)
INSERT INTO messages (id, conversation_id, seq, sender_id, client_id, text, status)
SELECT gen_random_uuid(), conv.id, conv.last_seq + g, conv.sender, 'pre-' || g, 'preloaded message ' || g, 'sent'
  FROM conv, generate_series(1, CASE WHEN conv.k <= 3 THEN $long
                                     ELSE ($PRELOAD - 3 * $long) / (conv.total - 3) END) g;
UPDATE conversations c SET last_seq = m.top
  FROM (SELECT conversation_id, max(seq) top FROM messages GROUP BY 1) m
 WHERE m.conversation_id = c.id;
UPDATE release_watermarks w SET released_seq = c.last_seq
  FROM conversations c WHERE c.id = w.conversation_id;
VACUUM ANALYZE messages;
CHECKPOINT;
SQL
stored=$(psql_ -c "SELECT count(*) FROM messages")
longest=$(psql_ -c "SELECT max(last_seq) FROM conversations")

# history reads: each conversation with its length
echo "return {" >"$VAR/history-data.lua"
while IFS='|' read -r conv len; do
	echo "{token=\"${token_of_conv[$conv]}\",conv=\"$conv\",len=$len}," >>"$VAR/history-data.lua"
done < <(psql_ -c "SELECT id, last_seq FROM conversations")
echo "}" >>"$VAR/history-data.lua"

echo "== $stored messages stored, the longest conversation $longest" >&2
BENCH_TAG=m measure send_1m "$B/" tests/bench/send.lua
BENCH_DATA=$VAR/history-data.lua measure history_1m "$B/" tests/bench/history.lua

# ---- channels: outbound deliveries against a provider 50 ms away (last:
# its inserts and deletes would land on the million-message phase's figures)
source "$ROOT/tests/bench/channels.sh"
bench_channels
fi	# QUICK

# ---- each figure beside its ceiling, also as JSON for comparing runs
num() { [ -n "${1:-}" ] && echo "$1" || echo null; }
frac() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a != "" && b > 0) printf "%.3f", a / b; else print "null" }'; }
mkdir -p "$ROOT/build/bench"
cat >"$ROOT/build/bench/summary.json" <<JSON
{
  "date": "$(date -u +%FT%TZ)", "cores": $(nproc), "quick": $([ -n "${QUICK:-}" ] && echo true || echo false),
  "ceilings": { "static_rps": $(num "${RPS[static]}"), "insert_rps": $(num "${RPS[insert]}") },
  "send": { "rps": $(num "${RPS[send]}"), "p50_ms": $(num "${P50[send]}"), "p99_ms": $(num "${P99[send]}"),
            "of_insert": $(frac "${RPS[send]}" "${RPS[insert]}") },
  "send_kafka": { "rps": $(num "${RPS[send_kafka]}"), "p99_ms": $(num "${P99[send_kafka]}"),
                  "of_insert": $(frac "${RPS[send_kafka]}" "${RPS[insert]}"),
                  "release_p50_ms": $(num "${KP50_REL:-}"), "release_p99_ms": $(num "${KP99_REL:-}"),
                  "unreleased_max": $(num "${KDEPTH_MAX:-}") },
  "https": { "static_rps": $(num "${RPS[static_https]}"), "static_of_http": $(frac "${RPS[static_https]}" "${RPS[static]}"),
             "send_rps": $(num "${RPS[send_https]}"), "send_of_http": $(frac "${RPS[send_https]}" "${RPS[send_again]}") },
  "traces": { "send_rps": $(num "${RPS[send_traced]}"), "send_of_untraced": $(frac "${RPS[send_traced]}" "${RPS[send_again]}") },
  "send_pipeline": { "rps": $(num "${RPS[send_pipeline]}"), "p50_ms": $(num "${P50[send_pipeline]}"),
                     "p99_ms": $(num "${P99[send_pipeline]}"), "of_insert": $(frac "${RPS[send_pipeline]}" "${RPS[insert]}"),
                     "accept_release_p50_ms": $(num "$P50_REL"), "accept_release_p99_ms": $(num "$P99_REL"),
                     "queue_depth_max": $(num "$DEPTH_MAX") },
  "pipeline_alone_mps": $(num "$PIPE_ALONE"),
  "latency_rate": $LAT_RATE, "latency": "$(echo "$LATENCY" | tr -d '"')",
  "send_1m": { "stored": $(num "${stored}"), "rps": $(num "${RPS[send_1m]:-}"),
               "of_send_pipeline": $(frac "${RPS[send_1m]:-}" "${RPS[send_pipeline]}") },
  "history_1m_rps": $(num "${RPS[history_1m]:-}")
}
JSON

cat <<REPORT

figure                                 value   ceiling (same run)        ratio
send, workers stopped            $(printf '%8s' "${RPS[send]}") req/s   bare INSERT $(printf '%6s' "${RPS[insert]}")   $(ratio "${RPS[send]}" "${RPS[insert]}")
send with the pipeline running   $(printf '%8s' "${RPS[send_pipeline]}") req/s   bare INSERT $(printf '%6s' "${RPS[insert]}")   $(ratio "${RPS[send_pipeline]}" "${RPS[insert]}")
the same, bus = kafka (mock)     $(printf '%8s' "${RPS[send_kafka]}") req/s   bare INSERT $(printf '%6s' "${RPS[insert]}")   $(ratio "${RPS[send_kafka]}" "${RPS[insert]}")
static file over https           $(printf '%8s' "${RPS[static_https]}") req/s   over http   $(printf '%6s' "${RPS[static]}")   $(ratio "${RPS[static_https]}" "${RPS[static]}")
send over https                  $(printf '%8s' "${RPS[send_https]}") req/s   over http   $(printf '%6s' "${RPS[send_again]}")   $(ratio "${RPS[send_https]}" "${RPS[send_again]}")
send, traces exported            $(printf '%8s' "${RPS[send_traced]}") req/s   untraced    $(printf '%6s' "${RPS[send_again]}")   $(ratio "${RPS[send_traced]}" "${RPS[send_again]}")
$([ -n "${QUICK:-}" ] || printf 'send with %s stored   %8s req/s   send, empty  %6s   %s' "$stored" "${RPS[send_1m]:-}" "${RPS[send_pipeline]}" "$(ratio "${RPS[send_1m]:-0}" "${RPS[send_pipeline]}")")
(also in build/bench/summary.json)

Chat4All bench, $(date -u +%FT%TZ), $(nproc) cores shared by wrk and the stack
| path | req/s | p50 ms | p99 ms | non-2xx |
|---|---|---|---|---|
| lighttpd static file | ${RPS[static]} | ${P50[static]} | ${P99[static]} | ${ERR[static]} |
| lighttpd → FastCGI → bare INSERT | ${RPS[insert]} | ${P50[insert]} | ${P99[insert]} | ${ERR[insert]} |
| POST …/messages (send), workers stopped | ${RPS[send]} | ${P50[send]} | ${P99[send]} | ${ERR[send]} |
| send with the pipeline running | ${RPS[send_pipeline]} | ${P50[send_pipeline]} | ${P99[send_pipeline]} | ${ERR[send_pipeline]} |
| the same with bus = kafka (3-broker mock, same cores) | ${RPS[send_kafka]} | ${P50[send_kafka]} | ${P99[send_kafka]} | ${ERR[send_kafka]} |
| lighttpd static file over https | ${RPS[static_https]} | ${P50[static_https]} | ${P99[static_https]} | ${ERR[static_https]} |
| send with the pipeline, again (beside the next two) | ${RPS[send_again]} | ${P50[send_again]} | ${P99[send_again]} | ${ERR[send_again]} |
| the same over https | ${RPS[send_https]} | ${P50[send_https]} | ${P99[send_https]} | ${ERR[send_https]} |
| the same with traces exported (OTLP, $SPANS) | ${RPS[send_traced]} | ${P50[send_traced]} | ${P99[send_traced]} | ${ERR[send_traced]} |
| send, ${stored} stored, pipeline running | ${RPS[send_1m]:-–} | ${P50[send_1m]:-–} | ${P99[send_1m]:-–} | ${ERR[send_1m]:-–} |
| history page, ${stored} stored | ${RPS[history_1m]:-–} | ${P50[history_1m]:-–} | ${P99[history_1m]:-–} | ${ERR[history_1m]:-–} |

send / bare INSERT: $(ratio "${RPS[send]}" "${RPS[insert]}")   send / static: $(ratio "${RPS[send]}" "${RPS[static]}")

pipeline ($WORKERS workers, lexicon moderation):
  alone: drained a backlog of $BACKLOG messages in ${DRAIN_ALONE}s = $PIPE_ALONE messages/s moderated and released
  beside the sends: $RELEASED released; accept → release p50 $P50_REL ms, p99 $P99_REL ms;
  queue depth each second: max $DEPTH_MAX [$DEPTH_SAMPLES]; drained ${DRAIN}s after the load stopped
real time ($(nproc) cores, lexicon moderation, through lighttpd):
  $LATENCY
  idle SSE streams, one distinct user each, straight to the gateway: $IDLE_DIRECT
  the same through lighttpd (2 descriptors a stream there; this machine allows $(ulimit -Hn)): $IDLE_PROXY
$FILES_REPORT
$CHANNELS_REPORT
$PROFILE_REPORT
send with ${stored} stored / send on empty history (both with the pipeline): $(ratio "${RPS[send_1m]:-0}" "${RPS[send_pipeline]}")
messages accepted in the first send run: $sent_before
REPORT
