#!/usr/bin/env bash
# Runs each fuzzing target for SECONDS (default 60) from its checked-in
# corpus (tests/fuzz/corpus/<target>, never written) and its own findings
# (build/fuzz/corpus/<target>). A crash stops with the input that made it
# under build/fuzz/ and a non-zero exit.
#   tools/fuzz.sh [SECONDS] TARGET...
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_EACH=${1:-60}
shift
failed=0
for t in "$@"; do
	work="$ROOT/build/fuzz/corpus/$t"
	mkdir -p "$work"
	out=$("$ROOT/build/fuzz/$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=1024 \
		-artifact_prefix="$ROOT/build/fuzz/$t-" -print_final_stats=1 \
		"$work" "$ROOT/tests/fuzz/corpus/$t" 2>&1) || {
		echo "$out" | tail -40
		echo "FAILED: $t found a crash (its input: build/fuzz/$t-*)"
		failed=1
		continue
	}
	runs=$(echo "$out" | sed -n 's/^stat::number_of_executed_units: *//p')
	cov=$(echo "$out" | grep -o 'cov: [0-9]*' | tail -1)
	echo "ok: $t, $runs inputs in ${SECONDS_EACH}s, $cov, corpus $(ls "$work" | wc -l) + $(ls "$ROOT/tests/fuzz/corpus/$t" | wc -l) seeds"
done
exit $failed
