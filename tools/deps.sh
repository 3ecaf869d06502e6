#!/usr/bin/env bash
# Installs the Debian packages Chat4All needs, only those missing.
# Idempotent: when everything is present it only checks (a few ms).
set -euo pipefail

PACKAGES=(
	gcc make pkg-config
	libfcgi-dev libpq-dev libhiredis-dev libjson-c-dev libjwt-dev
	libargon2-dev libssl-dev libcurl4-openssl-dev libcmocka-dev libevent-dev
	librdkafka-dev kcat	# bus = kafka; kcat to look at the topics
	postgresql redis-server lighttpd
	lighttpd-mod-openssl openssl	# https (tls_cert; make run TLS=1 makes a certificate)
	curl jq wrk docker-compose
	logrotate	# tools/stack.sh logrotate's snippet, tried in make test
	clang libclang-rt-14-dev	# make fuzz (libFuzzer), a short run in make test
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
# node and npm run the tests of real JavaScript clients (tus-js-client);
# a node that is there already (with its own npm) is fine
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
((${#missing[@]})) || exit 0

echo "installing: ${missing[*]}"
SUDO=
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "run as root, or install: ${missing[*]}" >&2; exit 1; }
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts no service on install here, but be sure we start our own
# instances, not the system ones, on our own sockets.
