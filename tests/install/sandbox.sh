#!/usr/bin/env bash
# What the units' ProtectSystem=strict, ProtectHome=yes and PrivateTmp=yes
# make of the file system, in a mount namespace of its own (run it under
# `unshare --mount --propagation private`), for a machine without systemd:
# everything read-only but /proc, /sys, /dev and the unit's own
# State/Logs/RuntimeDirectory=; /home and /root empty; /tmp and /var/tmp
# fresh. Then it runs the command.
#
#   sandbox.sh WRITABLE_DIR... -- COMMAND...
set -euo pipefail
rw=()
while [ "$1" != -- ]; do rw+=("$1"); shift; done
shift
for d in "${rw[@]}"; do mount --bind "$d" "$d"; done
findmnt -rn -o TARGET | sort -u | while read -r m; do
	case $m in /proc | /proc/* | /sys | /sys/* | /dev | /dev/*) continue ;; esac
	for d in "${rw[@]}"; do [ "$m" != "$d" ] || continue 2; done
	mount -o bind,remount,ro "$m"
done
for d in /tmp /var/tmp; do mount -t tmpfs -o mode=1777 tmpfs "$d"; done
for d in /home /root; do [ ! -d "$d" ] || mount -t tmpfs -o ro,mode=755 tmpfs "$d"; done
exec "$@"
