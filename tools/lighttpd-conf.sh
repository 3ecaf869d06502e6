#!/usr/bin/env bash
# Writes lighttpd's configuration of one Chat4All instance to FILE (or
# stdout): conf/lighttpd.conf.in with the instance's places and settings,
# then HTTPS, its http redirect and the trusted proxies when they are set.
# The one renderer: tools/stack.sh runs it at every start (make run), and
# the installed chat4all-api unit before lighttpd (make install).
#
#   lighttpd-conf.sh [FILE]
#
# From the environment, where things are: SHARE (web/ and conf/), BINDIR
# (the programs), RUNDIR, LOGDIR, TMP_DIR, ACME_DIR; how it listens: BIND,
# PORT, REDIRECT_PORT (plain http redirected to https; only with TLS),
# API_PROCS, FILES_PROCS. The settings as every program reads them
# (chat4all-admin conf): max_body, file_max_size, files_dir, stream_*,
# tls_cert, tls_key, trusted_proxies, metrics_allow. STREAM_HOST: a
# gateway elsewhere.
set -euo pipefail

: "${SHARE:?}" "${BINDIR:?}" "${RUNDIR:?}" "${LOGDIR:?}" "${TMP_DIR:?}" "${BIND:?}" "${PORT:?}"
API_PROCS=${API_PROCS:-4} FILES_PROCS=${FILES_PROCS:-4} REDIRECT_PORT=${REDIRECT_PORT:-}
ACME_DIR=${ACME_DIR:-$TMP_DIR/acme}

setting() { "$BINDIR/chat4all-admin" conf "$1"; }

# where lighttpd finds the stream gateway: its unix socket, the loopback
# port it was given (stream_port = 0: it wrote which), or the one set
socket=$(setting stream_socket) port=$(setting stream_port)
if [ -n "$socket" ]; then
	stream="\"host\" => \"$socket\""
elif [ "$port" = 0 ]; then
	stream="\"host\" => \"127.0.0.1\", \"port\" => $(cat "$RUNDIR/stream.port")"
else
	stream="\"host\" => \"${STREAM_HOST:-127.0.0.1}\", \"port\" => $port"
fi
# the responders get the settings lighttpd was started with
names=$(compgen -e | grep '^CHAT4ALL_' | sed 's/.*/"&"/' | paste -sd, -)
# lighttpd refuses bodies past what the route takes before reading them
api_kb=$(( $(setting max_body) / 1024 + 1 ))
files_kb=$(( $(setting file_max_size) / 1024 + 1 ))
tls_cert=$(setting tls_cert) tls_key=$(setting tls_key)
proxies=$(setting trusted_proxies) metrics_allow=$(setting metrics_allow)

render() {
	sed -e "s|@ROOT@|$SHARE|g" -e "s|@BINDIR@|$BINDIR|g" -e "s|@RUNDIR@|$RUNDIR|g" \
	    -e "s|@LOGDIR@|$LOGDIR|g" -e "s|@TMPDIR@|$TMP_DIR|g" -e "s|@PORT@|$PORT|g" \
	    -e "s|@BIND@|$BIND|g" -e "s|@API_PROCS@|$API_PROCS|g" -e "s|@API_ENV@|$names|g" \
	    -e "s|@STREAM_PROXY@|$stream|g" -e "s|@FILES_PROCS@|$FILES_PROCS|g" \
	    -e "s|@FILES_DIR@|$(setting files_dir)|g" \
	    -e "s|@API_MAX_KB@|$api_kb|g" -e "s|@FILES_MAX_KB@|$files_kb|g" \
	    -e "s|@TLS_CERT@|$tls_cert|g" -e "s|@TLS_KEY@|$tls_key|g" \
	    -e "s|@REDIRECT_BIND@|$BIND|g" -e "s|@REDIRECT_PORT@|$REDIRECT_PORT|g" \
	    -e "s|@ACME_DIR@|$ACME_DIR|g" -e "s|@HTTPS_AUTHORITY_PORT@|$([ "$PORT" = 443 ] || echo ":$PORT")|g" \
	    "$SHARE/conf/$1"
}

# (conf.c lets only addresses and address/bits through)
addresses() { tr ', \t' '\n\n\n' <<<"$1" | grep .; }

conf() {
	render lighttpd.conf.in
	# /metrics says how busy the host is, how full its disk, how many
	# streams: for the scraper, not for strangers. Refused (403) unless the
	# client (after trusted_proxies) is one of metrics_allow.
	echo
	echo "# metrics_allow: who may read /metrics"
	echo '$HTTP["url"] == "/metrics" {'
	local a depth=1
	for a in $(addresses "$metrics_allow"); do
		printf '%*s$HTTP["remoteip"] != "%s" {\n' $((depth * 8)) '' "$a" | sed 's/        /\t/g'
		depth=$((depth + 1))
	done
	printf '%*surl.access-deny = ( "" )\n' $((depth * 8)) '' | sed 's/        /\t/g'
	for ((; depth > 0; depth--)); do printf '%*s}\n' $(((depth - 1) * 8)) '' | sed 's/        /\t/g'; done
	if [ -n "$tls_cert" ]; then
		echo
		render lighttpd-tls.conf.in
		if [ -n "$REDIRECT_PORT" ]; then
			echo
			render lighttpd-redirect.conf.in
		fi
	elif [ -n "$REDIRECT_PORT" ]; then
		echo
		render lighttpd-acme.conf.in
	fi
	if [ -n "$proxies" ]; then
		echo
		echo "# trusted_proxies: a request from one of them is taken to come from the"
		echo "# address it names in X-Forwarded-For (the right-most it did not add"
		echo "# itself), over the scheme of its X-Forwarded-Proto: the rate limits,"
		echo "# the audit and the logs see the client, and HSTS follows https."
		echo "# From anyone else, those headers count for nothing."
		echo 'server.modules += ( "mod_extforward" )'
		echo 'extforward.headers = ( "X-Forwarded-For" )'
		printf 'extforward.forwarder = ( %s )\n' \
			"$(addresses "$proxies" | sed 's/.*/"&" => "trust"/' | paste -sd, -)"
	fi
}

if [ $# -gt 0 ]; then
	conf >"$1.next"
	mv "$1.next" "$1"
else
	conf
fi
