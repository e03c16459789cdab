#!/usr/bin/env bash
# HTTP API benchmark of `mailsift serve` with wrk (installed here if missing; needs root for that).
#
# Part 1, loopback: the release build serves on 127.0.0.1 (temporary database, no key, the rate
# limit lifted), then `wrk -t2 -c64 -d10s --latency` against
#   /healthz                                  the HTTP layer alone (the reference)
#   /v1/verify?email=…&level=syntax, unique   a new address every request (scripts/bench-serve.lua):
#                                             the result cache never answers
#   …, rotate 5000                            5,000 addresses over and over: answered from the cache
#                                             after the first pass
#   …, fixed                                  always ann@example.com
# and prints requests/s, the ratio to /healthz, and p50/p99 latency for each.
#
# Part 2, mail lab (root: lab/up.sh makes a network namespace; nothing leaves it): the server runs
# inside the lab namespace at --level smtp with --allow-private-targets, and wrk (in the namespace
# too, on its loopback) asks at low concurrency (-t1 -c4) for distinct addresses at the lab's Postfix
# domains (catchall.mailsift-lab.net, mailbox.mailsift-lab.net: unknown users there are rejected 550);
# p50/p99 latency of a real SMTP check through the API, once with the default politeness and once
# with --host-rate 0 (every lab domain has the same MX address, so the per-address rate decides).
#
# Usage: scripts/bench-serve.sh
# Environment: BENCH_SERVE_DURATION (wrk -d, default 10s), BENCH_SERVE_SMTP_DURATION (default 10s),
#   BENCH_SERVE_SMTP_CONNS (default 4), BENCH_SERVE_LAB=0 (skip part 2), BENCH_SERVE_NOBUILD=1 (use the
#   existing build/release), BENCH_SERVE_BIN (another mailsift binary).
# Every step is bounded (timeout); the whole run takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${BENCH_SERVE_DURATION:-10s}
smtp_duration=${BENCH_SERVE_SMTP_DURATION:-10s}
smtp_conns=${BENCH_SERVE_SMTP_CONNS:-4}
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
bin=${BENCH_SERVE_BIN:-$PWD/build/release/mailsift}
lua=$PWD/scripts/bench-serve.lua
# The API's rate limit (default 50/s per client address) would answer most of the load with 429
# (0: no limit); --quiet: no log line per request (the figures are the API's, not the log's).
SERVE_FLAGS=(--rate-limit 0 --quiet)

if ! command -v wrk >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "bench-serve.sh: wrk missing (apt-get install wrk, as root)" >&2; exit 1; }
  echo "bench-serve: installing wrk" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
if [ "${BENCH_SERVE_NOBUILD:-0}" != 1 ]; then
  cmake --preset release >/dev/null
  timeout 1800 cmake --build --preset release -j 2 >/dev/null
fi
[ -x "$bin" ] || { echo "bench-serve.sh: no $bin" >&2; exit 1; }

dir=$(mktemp -d)
server_pid=""
lab_name=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$lab_name" ]; then bash lab/down.sh "$lab_name" >/dev/null 2>&1 || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_healthz PREFIX PORT: until GET /healthz answers 200 (at most 30 s); PREFIX runs the client
# in the lab namespace when needed.
wait_healthz() {
  local prefix=$1 port=$2
  # shellcheck disable=SC2086
  timeout 30 $prefix "$PYTHON" - "$port" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/healthz"
while True:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            if r.status == 200:
                break
    except OSError:
        time.sleep(0.1)
PY
}
# start_server PREFIX PORT ARGS...: mailsift serve in the background (pid in server_pid).
start_server() {
  local prefix=$1 port=$2
  shift 2
  # shellcheck disable=SC2086
  $prefix "$bin" serve --listen "127.0.0.1:$port" --db "$dir/db-$port.sqlite" "${SERVE_FLAGS[@]}" "$@" \
    >"$dir/server-$port.log" 2>&1 &
  server_pid=$!
  if ! wait_healthz "$prefix" "$port"; then
    echo "bench-serve.sh: the server did not come up:" >&2
    tail -n 20 "$dir/server-$port.log" >&2
    exit 1
  fi
}
stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
# run_wrk TAG PREFIX WRK-ARGS...: one bounded wrk run, output in $dir/wrk-TAG.txt.
run_wrk() {
  local tag=$1 prefix=$2
  shift 2
  echo "bench-serve: wrk $* ..." >&2
  # shellcheck disable=SC2086
  timeout 120 $prefix wrk "$@" >"$dir/wrk-$tag.txt" 2>&1 || echo "wrk exit $?" >>"$dir/wrk-$tag.txt"
}

# --- Part 1: loopback ------------------------------------------------------------------------------
port=$(free_port)
start_server "" "$port" --level syntax
url=http://127.0.0.1:$port
W=(-t2 -c64 -d"$duration" --latency)
run_wrk healthz "" "${W[@]}" "$url/healthz"
run_wrk unique "" "${W[@]}" -s "$lua" "$url" -- unique syntax
run_wrk rotate "" "${W[@]}" -s "$lua" "$url" -- rotate syntax 5000
run_wrk fixed "" "${W[@]}" "$url/v1/verify?email=ann@example.com&level=syntax"
rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status" 2>/dev/null || echo "")
stop_server

# --- Part 2: the mail lab, level smtp --------------------------------------------------------------
lab_note=""
if [ "${BENCH_SERVE_LAB:-1}" = 0 ]; then
  lab_note="skipped (BENCH_SERVE_LAB=0)"
elif [ "$(id -u)" -ne 0 ]; then
  lab_note="skipped (needs root)"
else
  lab_name=msserve$$
  if LAB_SINK=0 bash lab/up.sh "$lab_name" >"$dir/up.log" 2>&1; then
    # shellcheck disable=SC1090
    . "/tmp/mailsift-lab-$lab_name/lab.env"
    nsx="ip netns exec $LAB_NS"
    # Twice: the default politeness (per MX address: 5 connections, 10 new ones a second; every lab
    # domain has the same MX address), then without the per-address rate (lab only).
    for cfg in default norate; do
      extra=()
      [ "$cfg" = norate ] && extra=(--host-rate 0)
      port=$(free_port)
      start_server "$nsx" "$port" --level smtp --allow-private-targets "${extra[@]}"
      BENCH_COUNT=1 run_wrk "smtp-$cfg" "$nsx" -t1 -c"$smtp_conns" -d"$smtp_duration" --latency --timeout 30s \
        -s "$lua" "http://127.0.0.1:$port" -- unique smtp 0 catchall.mailsift-lab.net,mailbox.mailsift-lab.net
      stop_server
    done
  else
    lab_note="lab/up.sh failed: $(tail -n 1 "$dir/up.log")"
  fi
fi

"$PYTHON" - "$dir" "$duration" "$smtp_duration" "$smtp_conns" "$rss_kib" "$lab_note" <<'PY'
import re, sys
d, duration, smtp_duration, smtp_conns, rss_kib, lab_note = sys.argv[1:7]

def unit(v):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", v)
    if not m:
        return None
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[m.group(2)]

def parse(tag):
    try:
        text = open(f"{d}/wrk-{tag}.txt").read()
    except OSError:
        return None
    r = {"text": text}
    m = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    r["rps"] = float(m.group(1)) if m else None
    for p in ("50", "99"):
        m = re.search(rf"^\s+{p}%\s+(\S+)", text, re.M)
        r["p" + p] = unit(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in", text)
    r["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", text)
    r["errors"] = m.group(1).strip() if m else ""
    m = re.search(r"^COUNTS (.*)$", text, re.M)
    r["counts"] = m.group(1) if m else ""
    return r

def ms(v):
    return "-" if v is None else (f"{v * 1000:.0f} µs" if v < 1 else f"{v:.2f} ms")

runs = [("healthz", "`GET /healthz` (reference)"),
        ("unique", "`GET /v1/verify`, level syntax, a new address every request"),
        ("rotate", "`GET /v1/verify`, level syntax, 5,000 addresses in rotation (cached after the first pass)"),
        ("fixed", "`GET /v1/verify?email=ann@example.com&level=syntax` (one cached answer)")]
res = {tag: parse(tag) for tag, _ in runs}
ref = (res["healthz"] or {}).get("rps")
print(f"Loopback, wrk -t2 -c64 -d{duration} --latency, server --level syntax, no key, rate limit lifted")
print()
print("| request | requests/s | vs /healthz | p50 | p99 |")
print("|---|---:|---:|---:|---:|")
problems = []
for tag, label in runs:
    r = res[tag]
    if not r or r["rps"] is None:
        print(f"| {label} | failed | - | - | - |")
        problems.append(f"{tag}: " + ((r or {}).get("text", "no output")[-300:]).replace("\n", " "))
        continue
    ratio = f"{r['rps'] / ref:.2f}" if ref else "-"
    print(f"| {label} | {r['rps']:,.0f} | {ratio} | {ms(r['p50'])} | {ms(r['p99'])} |")
    if r["non2xx"] or r["errors"]:
        problems.append(f"{tag}: {r['non2xx']} non-2xx answers, socket errors: {r['errors'] or 'none'}")
if rss_kib:
    print(f"\nserver peak RSS after the loopback runs: {int(rss_kib) / 1024:.1f} MiB")
print()
if lab_note:
    print(f"SMTP level in the mail lab: {lab_note}")
else:
    print(f"Mail lab, level smtp: wrk -t1 -c{smtp_conns} -d{smtp_duration} --latency, a new address every "
          "request at catchall./mailbox.mailsift-lab.net (Postfix smtp1), server --allow-private-targets")
    print()
    print("| server politeness | requests | requests/s | p50 | p99 | answers |")
    print("|---|---:|---:|---:|---:|---|")
    for cfg, label in (("default", "default (5 connections, 10 new/s per MX address)"),
                       ("norate", "`--host-rate 0`")):
        r = parse("smtp-" + cfg)
        if not r or r["rps"] is None:
            print(f"| {label} | failed | - | - | - | - |")
            problems.append(f"smtp-{cfg}: " + ((r or {}).get("text", "no output")[-300:]).replace("\n", " "))
            continue
        print(f"| {label} | {r['requests']:,} | {r['rps']:,.1f} | {ms(r['p50'])} | {ms(r['p99'])} | {r['counts']} |")
        if r["non2xx"] or r["errors"]:
            problems.append(f"smtp-{cfg}: {r['non2xx']} non-2xx answers, socket errors: {r['errors'] or 'none'}")
for p in problems:
    print(f"warning: {p}")
PY
