#!/usr/bin/env bash
# The installed Chat4All, run as a sysadmin runs it (README "Install as a
# service"): `make install`, the distribution's PostgreSQL and Redis, the
# database role, then the units the README enables - started here without
# systemd (these machines have none), each as its unit file says: its user,
# its Environment=, its ExecStartPre= and ExecStart=, its UMask=, the
# State/Logs/RuntimeDirectory= systemd would make, NoNewPrivileges=, and the
# file system ProtectSystem=strict, ProtectHome= and PrivateTmp= leave it
# (tests/install/sandbox.sh). Then tests/install/smoke.mjs uses it as a
# person would, and everything is taken away again.
#
#   tests/install/units.sh PORT STREAM_PORT
#
# Root only. The units write where an installed host writes
# (/var/lib/chat4all, /var/log/chat4all, /run/chat4all): when an installed
# Chat4All is already here, this says so and does nothing. The settings
# and the programs go under a temporary prefix; the database is one of its
# own (chat4all_install_test) in the distribution's cluster, dropped at the
# end; services that were down before are stopped again.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PORT=$1 STREAM_PORT=$2
# the distribution's cluster, as its tools find it (not make test's instance)
unset PGPORT PGHOST PGDATABASE PGUSER PGPASSWORD
DB=chat4all_install_test
[ "$(id -u)" = 0 ] || { echo "SKIPPED: needs root"; exit 0; }
for d in /var/lib/chat4all/files /var/log/chat4all /run/chat4all /etc/chat4all; do
	[ ! -e "$d" ] || { echo "SKIPPED: an installed Chat4All is here ($d)"; exit 0; }
done
CLUSTER=$(pg_lsclusters -h 2>/dev/null | awk 'NR == 1 { print $1 " " $2 }')
[ -n "$CLUSTER" ] || { echo "SKIPPED: no PostgreSQL cluster of the distribution (pg_lsclusters)"; exit 0; }
command -v redis-server >/dev/null || { echo "SKIPPED: no redis-server"; exit 0; }

# (not under /tmp: the units have a /tmp of their own, as PrivateTmp= gives them)
mkdir -p /opt
PREFIX=$(mktemp -d /opt/chat4all-installed.XXXXXX)
chmod 755 "$PREFIX"
pg_was_down=0 redis_was_down=0
finish() {
	local rc=$?
	local pids=
	[ ! -e "$PREFIX/unit-run/pids" ] || pids=$(cat "$PREFIX/unit-run/pids")
	for p in $pids; do kill -TERM -- "-$p" 2>/dev/null || true; done
	for p in $pids; do
		for _ in $(seq 50); do kill -0 -- "-$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL -- "-$p" 2>/dev/null || true
	done
	if [ $rc != 0 ]; then
		echo "-- the installed host's logs:"
		tail -n 20 /var/log/chat4all/*.log "$PREFIX"/unit-run/*.out 2>/dev/null | cut -c1-400 || true
	fi
	runuser -u postgres -- dropdb --if-exists "$DB" 2>/dev/null || true
	[ $pg_was_down = 0 ] || pg_ctlcluster $CLUSTER stop 2>/dev/null || true
	[ $redis_was_down = 0 ] || redis-cli shutdown nosave >/dev/null 2>&1 || true
	make -s -C "$ROOT" uninstall PREFIX="$PREFIX" SYSCONFDIR="$PREFIX/etc" >/dev/null 2>&1 || true
	rm -rf "$PREFIX" /var/lib/chat4all/files /var/lib/chat4all/tmp /var/lib/chat4all/acme \
		/var/log/chat4all /run/chat4all
	rmdir /var/lib/chat4all 2>/dev/null || true
	exit $rc
}
trap finish EXIT

# ---- as the README says
make -s -C "$ROOT" install PREFIX="$PREFIX" SYSCONFDIR="$PREFIX/etc" HTTP_PORT="$PORT" \
	HTTP_BIND=127.0.0.1 >/dev/null
CONF=$PREFIX/etc/chat4all/chat4all.conf
# the sysadmin's edits: a database of its own, a free port for the gateway
sed -i -e "s/dbname=chat4all /dbname=$DB /" -e "s/^stream_port = .*/stream_port = $STREAM_PORT/" "$CONF"
if ! pg_lsclusters -h | awk 'NR == 1 { exit $4 != "online" }'; then
	pg_was_down=1
	pg_ctlcluster $CLUSTER start
fi
if ! redis-cli ping >/dev/null 2>&1; then
	redis_was_down=1
	# as its unit would (Debian's /etc/redis/redis.conf; no systemd to notify)
	runuser -u redis -- redis-server /etc/redis/redis.conf --daemonize yes --supervised no
	for _ in $(seq 50); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
runuser -u postgres -- psql -qtAc "SELECT 1 FROM pg_roles WHERE rolname = 'chat4all'" | grep -q 1 ||
	runuser -u postgres -- createuser chat4all
runuser -u postgres -- createdb -O chat4all "$DB"

# ---- a unit, as systemd would start it: start_unit FILE [INSTANCE]
# (Restart=on-failure as systemd does it by default: again after 100 ms,
# at most 5 starts in 10 s, then the unit stays failed)
UNITRUN=$PREFIX/unit-run
mkdir -p "$UNITRUN"
start_unit() {
	local file=$1 inst=${2:-} user=root umask_=0022 type=simple main= line key value d
	local name script
	local -a env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin) pre=() dirs=() kv
	name=$(basename "$file" .service)$inst
	while IFS= read -r line; do
		line=${line//%i/$inst}
		key=${line%%=*} value=${line#*=}
		case $key in
		User) user=$value ;;
		UMask) umask_=$value ;;
		Type) type=$value ;;
		Environment) read -ra kv <<<"$value"; env+=("${kv[@]}") ;;
		ExecStartPre) pre+=("$value") ;;
		ExecStart) main=$value ;;
		RuntimeDirectory) for d in $value; do dirs+=("/run/$d"); done ;;
		StateDirectory) for d in $value; do dirs+=("/var/lib/$d"); done ;;
		LogsDirectory) for d in $value; do dirs+=("/var/log/$d"); done ;;
		esac
	done <"$file"
	for d in "${dirs[@]}"; do install -d -m 755 -o "$user" -g "$user" "$d"; done
	script=$UNITRUN/$name.sh
	{
		echo 'as() {'
		printf '\t(umask %q; cd / && exec unshare --mount --propagation private %q' "$umask_" "$ROOT/tests/install/sandbox.sh"
		printf ' %q' "${dirs[@]}"
		printf ' -- runuser -u %q -- setpriv --no-new-privs env -i' "$user"
		printf ' %q' "${env[@]}"
		printf ' "$@")\n}\n'
		echo 'for n in 1 2 3 4 5; do'
		for cmd in "${pre[@]}"; do printf '\tas %s || { echo "ExecStartPre=%s failed"; sleep 0.1; continue; }\n' "$cmd" "$cmd"; done
		printf '\tas %s && exit 0\n' "$main"
		echo '	echo "exited $? (start $n of 5)"; sleep 0.1'
		echo 'done; echo "failed: too many starts"; exit 1'
	} >"$script"
	if [ "$type" = oneshot ]; then
		bash "$script" >>"$UNITRUN/$name.out" 2>&1
	else
		setsid bash "$script" >>"$UNITRUN/$name.out" 2>&1 &
		echo $! >>"$UNITRUN/pids"
	fi
}
UNITDIR=$PREFIX/lib/systemd/system
# the README's `systemctl enable --now …`, all at once: no unit waits for
# another unless its After= says so (and none of these has to, to work)
start_unit "$UNITDIR/chat4all-api.service"
start_unit "$UNITDIR/chat4all-stream.service"
start_unit "$UNITDIR/chat4all-worker@.service" 1
start_unit "$UNITDIR/chat4all-worker@.service" 2
start_unit "$UNITDIR/chat4all-deliver@.service" 1
for _ in $(seq 100); do
	curl -fs -o /dev/null "http://127.0.0.1:$PORT/readyz" && break
	sleep 0.2
done
CHAT4ALL_TEST_URL="http://127.0.0.1:$PORT" node "$ROOT/tests/install/smoke.mjs"
# the timer's service, once
start_unit "$UNITDIR/chat4all-cron.service"
echo "ok: the cron unit ran and ended well"
# every unit started once and still runs (a unit that fails at first and is
# restarted works under systemd only by luck of its start limit)
for f in "$UNITRUN"/*.out; do
	if grep -q "exited\|failed" "$f"; then
		echo "FAILED: $(basename "$f" .out) did not run from its first start:"
		cat "$f"
		exit 1
	fi
done
while read -r p; do
	kill -0 "$p" 2>/dev/null || { echo "FAILED: a unit ended: $p"; exit 1; }
done <"$UNITRUN/pids"
echo "ok: api, stream, worker@1, worker@2 and deliver@1 run from their first start"
