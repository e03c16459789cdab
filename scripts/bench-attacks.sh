#!/usr/bin/env bash
# Attack measurements of `mailsift serve` (issue 14, "Tests and measures"), on loopback only:
#   slowloris     2,000 trickling sockets from 127.0.0.1; a legitimate client at 127.0.0.2 (one
#                 request every 100 ms for 50 s, 5 s deadline): success rate, p50/p99
#   chunk-ext     chunk extensions (`1;` + up to 300 MiB of `a=b;`), keyless: server RSS
#   trailers      1,500 trailer fields of 65,000 bytes, keyless POST /healthz: server RSS
#   trailer-big   one trailer field of 65,534 bytes: does the server survive?
#   bodies        12 keyless POST /v1/jobs of Content-Length 59 MiB in flight together: server RSS
#   numbers       authenticated 60 MiB JSON array [1,1,...] to POST /v1/jobs: RSS, /healthz stalls
#   job1m         authenticated job of 1,000,000 addresses (level syntax): RSS, /healthz stalls
#   wrk64/wrk1000 wrk -t2 -c64 / -c1000 GET /v1/verify?...&level=syntax with the key, 10 s after a
#                 2 s warm-up (server --max-connections 2048 --rate-limit 0): requests/s, p50/p99
# scripts/attacks.py does the work (Python 3 stdlib); every measurement starts a fresh server
# (`serve --listen 127.0.0.1:0 --db TMP --api-key KEY --quiet --level syntax`), so a crash is
# recorded ("crashed") and the next measurement starts clean. With two binaries each measurement
# runs for BASE then NEW back to back, so that they share the machine's conditions.
#
# Usage: scripts/bench-attacks.sh BASE_BINARY [NEW_BINARY]
# Environment: BENCH_ATTACKS_SECTIONS (a subset, in order, e.g. "slowloris wrk64"),
#   BENCH_ATTACKS_SLOWLORIS_SECONDS (legitimate phase, default 50), BENCH_ATTACKS_REPORT (the
#   Markdown report, default /tmp/bench-attacks-DATE.md; the raw JSON goes beside it).
# Needs wrk (scripts/install-deps.sh). Every load loop is bounded in count and time, every step
# has a timeout; about 5 minutes per binary.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { echo "usage: $0 BASE_BINARY [NEW_BINARY]" >&2; exit 2; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
bins=()
for i in $(seq $#); do
  b=${!i}
  [ -x "$b" ] || { echo "bench-attacks.sh: not an executable: $b" >&2; exit 2; }
  bins+=("$(realpath "$b")")
done
labels=(BASE NEW)
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
command -v wrk >/dev/null || { echo "bench-attacks.sh: wrk missing (scripts/install-deps.sh)" >&2; exit 1; }

# 2,000 attacker sockets, wrk's 1,000 connections and the server's 2,048: raise the descriptor limit.
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 8192 ]; then
  ulimit -n 8192 2>/dev/null || { echo "bench-attacks.sh: cannot raise ulimit -n to 8192" >&2; exit 1; }
fi

read -r -a sections <<<"${BENCH_ATTACKS_SECTIONS:-slowloris chunk-ext trailers trailer-big bodies numbers job1m wrk64 wrk1000}"
stamp=$(date +%Y%m%d-%H%M%S)
report=${BENCH_ATTACKS_REPORT:-/tmp/bench-attacks-$stamp.md}
dir=$(mktemp -d /tmp/bench-attacks.XXXXXX)
key=bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
child=""
cleanup() {
  if [ -n "$child" ]; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Upper bound of each measurement in seconds (the helper's own deadlines are shorter).
limit() {
  case $1 in
    slowloris) echo 200 ;;
    job1m) echo 360 ;;
    *) echo 240 ;;
  esac
}

echo "bench-attacks: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), ulimit -n $(ulimit -n)" >&2
start=$(date +%s)
for sec in "${sections[@]}"; do
  for i in "${!bins[@]}"; do
    out="$dir/$sec-${labels[$i]}.json"
    timeout -k 10 "$(limit "$sec")" "$PYTHON" scripts/attacks.py run "$sec" --bin "${bins[$i]}" \
      --label "${labels[$i]}" --key "$key" --tmp "$dir" --out "$out" &
    child=$!
    wait "$child" || echo "bench-attacks: $sec [${labels[$i]}] exited $?" >&2
    child=""
  done
done
load=$(cut -d' ' -f1-3 /proc/loadavg)
title="# mailsift serve under attack, $(date '+%Y-%m-%d %H:%M')

$(for i in "${!bins[@]}"; do echo "- ${labels[$i]}: \`${bins[$i]}\` ($("${bins[$i]}" --version 2>/dev/null))"; done)
- $(nproc) cores, shared with other work (load average at the end: $load); $(($(date +%s) - start)) s in all"
mkdir -p "$(dirname "$report")"
"$PYTHON" scripts/attacks.py report --md "$report" --json "${report%.md}.json" --title "$title" "$dir"/*.json
echo "bench-attacks: report in $report (raw: ${report%.md}.json)" >&2
