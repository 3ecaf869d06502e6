# Sourced by tests/bench/run.sh (needs $VAR, $ROOT, psql_, workers): outbound
# deliveries a second against the local fake provider answering every
# request in FAKE_DELAY_MS (50), for a few (deliverers ×
# channel_concurrency) settings: throughput follows the requests in flight,
# not the processes. Then in-app delivery while that provider hangs.
# The fake was started before the stack (CHANNELS_FAKE_PORT); sets
# CHANNELS_REPORT.

DELIVERIES=${DELIVERIES:-2000}

# $DELIVERIES released messages to 200 WhatsApp contacts, their deliver jobs
# queued (each address gets one request at a time: enough addresses that the
# requests in flight, not the addresses, are the limit)
channels_load() {
	psql_ <<SQL >/dev/null
WITH owner AS (
	INSERT INTO users (username, display_name, password_hash) VALUES ('bench_owner_$1', 'bench', '!') RETURNING id),
contacts AS (
	INSERT INTO users (username, display_name, password_hash, kind)
	SELECT 'bench_wa_$1_' || g, 'contact ' || g, '!', 'contact' FROM generate_series(1, 200) g RETURNING id, username),
ids AS (
	INSERT INTO identities (channel, address, user_id, last_inbound_at)	-- they wrote: WhatsApp's window is open
	SELECT 'whatsapp', '55119' || lpad(substr(md5(username), 1, 8), 8, '0'), id, now() FROM contacts RETURNING user_id),
convs AS (
	INSERT INTO conversations (type, private_pair, created_by, last_seq)
	SELECT 'private', 'bench:$1:' || c.id, o.id, $DELIVERIES / 200 FROM contacts c, owner o
	RETURNING id, created_by, private_pair),
mem AS (
	INSERT INTO members (conversation_id, user_id)
	SELECT v.id, v.created_by FROM convs v
	UNION ALL SELECT v.id, split_part(v.private_pair, ':', 3)::uuid FROM convs v)
INSERT INTO messages (id, conversation_id, seq, sender_id, client_id, text, status)
SELECT gen_random_uuid(), v.id, g, v.created_by, 'bench-$1-' || v.id || '-' || g, 'delivery ' || g, 'sent'
  FROM convs v, generate_series(1, $DELIVERIES / 200) g;
UPDATE release_watermarks w SET released_seq = c.last_seq
  FROM conversations c WHERE c.id = w.conversation_id AND c.private_pair LIKE 'bench:$1:%';
SELECT enqueue_deliveries(c.id, 0, c.last_seq) FROM conversations c WHERE c.private_pair LIKE 'bench:$1:%';
SQL
}

# the later phases (the million-message history) see only their own data
channels_unload() {
	psql_ <<SQL >/dev/null
CREATE TEMP TABLE bench_convs AS SELECT id FROM conversations WHERE private_pair LIKE 'bench:%';
DELETE FROM deliveries WHERE conversation_id IN (SELECT id FROM bench_convs);
DELETE FROM messages WHERE conversation_id IN (SELECT id FROM bench_convs);
DELETE FROM members WHERE conversation_id IN (SELECT id FROM bench_convs);
DELETE FROM conversations WHERE id IN (SELECT id FROM bench_convs);
DELETE FROM users WHERE username LIKE 'bench\_wa\_%' OR username LIKE 'bench\_owner\_%';
SQL
}

deliver_drain() {	# seconds until run $1's deliveries are all done (at most 300)
	local t0 t1
	t0=$(date +%s.%N)
	for _ in $(seq 3000); do
		[ "$(psql_ -c "SELECT count(*) FROM deliveries d JOIN users u ON u.id = d.recipient_id
		               WHERE u.username LIKE 'bench_wa_$1_%' AND d.status = 'queued'")" = 0 ] && break
		sleep 0.1
	done
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}

# Run $1: $2 deliverers × $3 requests in flight each, on the table's queue
# or, with $4 = kafka, through the relays and <prefix>deliveries (the mock
# cluster; the groups join before the load, so the figure is the
# deliveries', not the join's). Prints the result line.
channels_run() {
	local n=$1 w=$2 c=$3 bus=${4:-postgres} s sent
	workers stop
	if [ "$bus" = kafka ]; then
		CHAT4ALL_BUS=kafka CHAT4ALL_KAFKA_BROKERS=$(cat "$CHANNELS_KAFKA") DELIVERERS=$w \
			CHAT4ALL_CHANNEL_CONCURRENCY=$c workers start
		sleep 4
		channels_load "$n"
	else
		channels_load "$n"
		DELIVERERS=$w CHAT4ALL_CHANNEL_CONCURRENCY=$c workers start
	fi
	s=$(deliver_drain "$n")
	sent=$(psql_ -c "SELECT count(*) FROM deliveries d JOIN users u ON u.id = d.recipient_id
	                 WHERE u.username LIKE 'bench_wa_${n}_%' AND d.status = 'sent'")
	awk -v w="$w" -v c="$c" -v n="$sent" -v s="$s" -v d="${FAKE_DELAY_MS:-50}" -v bus="$bus" \
		'BEGIN { printf "%d deliverer(s) × %d in flight%s: %d sent in %.2f s = %.0f/s (ceiling %d × %d / %d ms = %.0f/s)", w, c, (bus == "kafka" ? ", bus = kafka" : ""), n, s, (s > 0 ? n / s : 0), w, c, d, w * c * 1000 / d }'
	if [ "$bus" = kafka ]; then	# how many waited their address's turn in the table
		curl -fsS "$B/metrics" | awk '/^chat4all_bus_total\{what="handed_over"\}/ { printf "; %d handed over to the table", $2 }'
	fi
}

bench_channels() {
	local runs="" n=0 line
	echo "== channels: $DELIVERIES deliveries, the fake provider answering in ${FAKE_DELAY_MS:-50} ms" >&2
	wait_drained >/dev/null	# the phases before leave moderation work queued
	for setting in "1 4" "1 16" "1 64" "2 16"; do
		n=$((n + 1))
		line=$(channels_run "$n" ${setting% *} ${setting#* })
		echo "  $line" >&2
		runs="$runs
  $line"
	done
	# the same deliveries through Kafka (a 3-broker mock cluster on the same cores)
	CHANNELS_KAFKA=$VAR/kafka-channels-bootstrap
	"$ROOT/build/kafka/mock_cluster" --bootstrap-file "$CHANNELS_KAFKA" </dev/null >>"$VAR/log/kafka.log" 2>&1 &
	local kafka_pid=$!
	for _ in $(seq 100); do [ -s "$CHANNELS_KAFKA" ] && break; sleep 0.05; done
	n=$((n + 1))
	line=$(channels_run "$n" 1 16 kafka)
	echo "  $line" >&2
	runs="$runs
  $line"
	workers stop
	kill "$kafka_pid" 2>/dev/null || true
	wait "$kafka_pid" 2>/dev/null || true
	channels_unload
	WORKERS=${WORKERS:-2} workers start
	CHANNELS_REPORT="outbound deliveries (WhatsApp connector → local fake answering in ${FAKE_DELAY_MS:-50} ms):$runs"
	bench_channel_outage
}

# In-app messages, accept → release, $1: a tag for their client ids. 100
# sends at 20/s from the first bench pair; prints "p50 p99" in ms.
inapp_latency() {
	local tok conv
	tok=$(sed -n 2p "$DATA" | sed 's/.*token="\([^"]*\)".*/\1/')
	conv=$(sed -n 2p "$DATA" | sed 's/.*conv="\([^"]*\)".*/\1/')
	for i in $(seq 100); do
		curl -fsS -o /dev/null "$B/v1/conversations/$conv/messages" -H "Authorization: Bearer $tok" \
			-H 'Content-Type: application/json' -d "{\"client_id\":\"$1-$i\",\"text\":\"while $1 $i\"}"
		sleep 0.05
	done
	for _ in $(seq 300); do
		[ "$(psql_ -c "SELECT count(*) FROM messages WHERE client_id LIKE '$1-%' AND sent_at IS NULL")" = 0 ] && break
		sleep 0.1
	done
	psql_ -F' ' -c "SELECT
		round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)) * 1000)::numeric, 1),
		round((percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)) * 1000)::numeric, 1)
		FROM messages WHERE client_id LIKE '$1-%'"
}

# A provider that hangs (every WhatsApp request unanswered until the
# 10 s timeout) with 2000 deliveries queued for it: in-app messages are
# released as fast as with the provider healthy.
bench_channel_outage() {
	local fake="http://127.0.0.1:$CHANNELS_FAKE_PORT" quiet hung
	echo "== channels: in-app delivery while WhatsApp hangs" >&2
	quiet=$(inapp_latency quiet)
	curl -fsS -o /dev/null "$fake/_mode" -d '{"channel":"whatsapp","mode":"hang"}'
	channels_load 9
	sleep 2	# the deliverer has taken its places
	hung=$(inapp_latency hung)
	local inflight
	inflight=$(curl -fsS "$fake/_hanging")
	curl -fsS -o /dev/null "$fake/_mode" -d '{"channel":"whatsapp","mode":"ok"}'
	workers stop
	psql_ -c "DELETE FROM jobs WHERE kind = 'deliver'" >/dev/null
	channels_unload
	WORKERS=${WORKERS:-2} workers start
	echo "  accept → release p50/p99 ms: provider healthy $quiet; hanging $hung (held open: $inflight)" >&2
	CHANNELS_REPORT="$CHANNELS_REPORT
in-app messages (100 at 20/s), accept → release p50 / p99 ms: WhatsApp healthy ${quiet/ / \/ }; WhatsApp hanging with 2000 deliveries queued ${hung/ / \/ } (requests held open: $inflight)"
}
