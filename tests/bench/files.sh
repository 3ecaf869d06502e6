# Sourced by tests/bench/run.sh (needs $B, $VAR, $ROOT, psql_): a file of
# FILE_MB MiB (1024) uploaded with tus in one PATCH and downloaded, through
# lighttpd, next to the disk's own speed measured with dd in the same run,
# with the memory of the files responders and lighttpd during the upload.
# Sets FILES_REPORT.

FILE_MB=${FILE_MB:-1024}

mbps() { awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", b / 1048576 / s; else print "n/a" }'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

# the RSS (KiB) of the API responders (REST and files pools), summed, and of lighttpd
files_rss() {
	local sum=0 pid
	for pid in $(pgrep -f "/build/chat4all-api" -P "$(cat "$VAR/run/lighttpd.pid")"); do
		sum=$((sum + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
	done
	echo "$sum $(awk '/^VmRSS/ {print $2}' "/proc/$(cat "$VAR/run/lighttpd.pid")/status")"
}

bench_files() {
	local src=$VAR/bench-src.bin bytes=$((FILE_MB * 1048576)) t user tok id loc
	echo "== files: $FILE_MB MiB" >&2
	head -c "$bytes" /dev/urandom >"$src"
	local sha
	sha=$(sha256sum "$src" | cut -d' ' -f1)

	# the disk itself: write (synced) and read back
	t=$(now)
	dd if=/dev/zero of="$VAR/dd.bin" bs=1M count="$FILE_MB" conv=fdatasync status=none
	local dd_write
	dd_write=$(mbps "$bytes" "$(since "$t")")
	t=$(now)
	dd if="$VAR/dd.bin" of=/dev/null bs=1M status=none
	local dd_read
	dd_read=$(mbps "$bytes" "$(since "$t")")
	rm -f "$VAR/dd.bin"

	user=files_bench_$RANDOM
	curl -fsS "$B/v1/auth/register" -H 'Content-Type: application/json' \
		-d "{\"username\":\"$user\",\"password\":\"bench password\"}" >/dev/null
	tok=$(curl -fsS "$B/v1/auth/token" -H 'Content-Type: application/json' \
		-d "{\"username\":\"$user\",\"password\":\"bench password\"}" | jq -r .access_token)
	loc=$(curl -fsS -D - -o /dev/null -X POST "$B/v1/files" -H "Authorization: Bearer $tok" \
		-H 'Tus-Resumable: 1.0.0' -H 'Content-Length: 0' -H "Upload-Length: $bytes" \
		-H "Upload-Metadata: filename $(printf bench.bin | base64),sha256 $(printf '%s' "$sha" | base64 -w0)" |
		tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
	id=${loc##*/}

	# the upload, RSS sampled every 0.2 s meanwhile
	local before during=0 lighttpd_before lighttpd_max=0 rss_now
	read -r before lighttpd_before <<<"$(files_rss)"
	( while :; do files_rss; sleep 0.2; done ) >"$VAR/files-rss.txt" &
	local sampler=$!
	t=$(now)
	curl -fsS -o /dev/null -X PATCH -T "$src" "$B$loc" -H "Authorization: Bearer $tok" \
		-H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' -H 'Expect:' \
		-H 'Content-Type: application/offset+octet-stream'
	local up_s
	up_s=$(since "$t")
	kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
	read -r during lighttpd_max <<<"$(sort -n "$VAR/files-rss.txt" | tail -1)"
	lighttpd_max=$(awk '{print $2}' "$VAR/files-rss.txt" | sort -n | tail -1)

	# verified off the request path
	t=$(now)
	local status=
	for _ in $(seq 600); do
		status=$(curl -fsS "$B$loc" -H "Authorization: Bearer $tok" | jq -r .status)
		[ "$status" = verifying ] || break
		sleep 0.1
	done
	local verify_s
	verify_s=$(since "$t")

	# the download (lighttpd's X-Sendfile)
	local down
	down=$(curl -fsS -o /dev/null -w '%{speed_download}' "$B$loc/content" -H "Authorization: Bearer $tok")
	local same=no
	[ "$(curl -fsS "$B$loc/content" -H "Authorization: Bearer $tok" | sha256sum | cut -d' ' -f1)" = "$sha" ] && same=yes
	rm -f "$src"

	FILES_REPORT=$(cat <<EOF
files ($FILE_MB MiB of random bytes, one tus PATCH, through lighttpd; the disk measured by dd in the same run):
  disk write (dd, fdatasync) $dd_write MiB/s; upload $(mbps "$bytes" "$up_s") MiB/s ($(ratio "$(mbps "$bytes" "$up_s")" "$dd_write") of the disk)
  disk read (dd, page cache) $dd_read MiB/s; download $(awk -v s="$down" 'BEGIN { printf "%.0f", s / 1048576 }') MiB/s ($(ratio "$(awk -v s="$down" 'BEGIN { printf "%.0f", s / 1048576 }')" "$dd_read") of the read); the same bytes (SHA-256): $same
  SHA-256 verification off the request path: ${verify_s} s ($(mbps "$bytes" "$verify_s") MiB/s), then $status
  memory during the upload: API responders (all, summed) ${before} → max ${during} KiB, lighttpd ${lighttpd_before} → max ${lighttpd_max} KiB
EOF
)
	echo "$FILES_REPORT" >&2
}
