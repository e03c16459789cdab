#!/usr/bin/env bash
# SMTP-level benchmark in the mail lab (needs root: network namespaces; nothing leaves them).
# Brings up a lab with the smtp-sink farm (namespace NAME-sink: one smtp-sink answering for all of
# 10.26.0.0/16; zone sink.mailsift-lab.net, LAB_SINK_DOMAINS domains sNNNNN, each MX to one of
# LAB_SINK_HOSTS hosts mxNNN at 10.26.x.y) and tears it down on exit.
#
# Reference: Postfix's smtp-source from the lab namespace against ONE sink address (10.26.0.1),
# best of 3 each:
#   sessions/s   smtp-source -s S1 -m M            one message, one RCPT, per session
#   RCPT/s       smtp-source -s S50 -m M/50 -r 50  one message, 50 RCPTs, per session
#   peak         smtp-source -s 2000 -m M          sessions in flight at the sink, RSS, CPU/session
# (smtp-source also sends DATA and a small message: it does more per session than a verifier.)
#
# Then mailsift (build/release/mailsift) with exactly these flags:
#   verify --level smtp --allow-private-targets --format jsonl --smtp-concurrency N
#          --host-concurrency N --host-rate 0 --rcpts-per-session 1 --no-catch-all  < addrs
# for sessions/s (best of 3), --rcpts-per-session 50 for RCPT/s (best of 3), and one run with
# --smtp-concurrency 2000 --host-concurrency 10 for the peak sessions in flight (lab/conncount.py
# at the sink), peak RSS and CPU time per session (/usr/bin/time -v). Addresses: distinct local
# parts spread round-robin over the sink domains (lab/gen-sink-zone.py --addresses). A mailsift
# run that fails (e.g. the CLI lacks an option) is reported in its row; the rest goes on.
# mailsift's times include its DNS lookups (one per domain, through the lab resolver).
#
# Usage: scripts/bench-smtp.sh [N (default 100)]
# Environment: BENCH_SMTP_SESSIONS (addresses for the sessions/s and peak runs, default 20000),
#   BENCH_SMTP_RCPTS (addresses for the RCPT/s run, default 100000), BENCH_SMTP_S1 / BENCH_SMTP_S50
#   (smtp-source -s for the two references, defaults 20 and 20), BENCH_SMTP_NOBUILD=1 (use the
#   existing build), LAB_SINK_DOMAINS / LAB_SINK_HOSTS (default 1000 / 200).
# Every command is bounded (timeout); the whole run takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench-smtp.sh: needs root (network namespaces)" >&2; exit 1; }
conc=${1:-100}
[[ $conc =~ ^[0-9]+$ ]] || { echo "usage: scripts/bench-smtp.sh [N]" >&2; exit 2; }
sessions=${BENCH_SMTP_SESSIONS:-20000}
rcpts=${BENCH_SMTP_RCPTS:-100000}
s1=${BENCH_SMTP_S1:-20}
s50=${BENCH_SMTP_S50:-20}
peak_conc=2000
peak_host=10
. scripts/bench-lib.sh
bench_need_time bench-smtp.sh

bin=$PWD/build/release/mailsift
build_note=""
if [ "${BENCH_SMTP_NOBUILD:-0}" != 1 ]; then
  if ! { cmake --preset release >/dev/null && timeout 1800 cmake --build --preset release >/dev/null; } 2>/tmp/bench-smtp-build.$$; then
    build_note="build failed: $(tail -n 1 /tmp/bench-smtp-build.$$)"
    echo "bench-smtp.sh: release build failed; mailsift runs skipped (smtp-source part goes on)" >&2
  fi
  rm -f /tmp/bench-smtp-build.$$
fi
[ -x "$bin" ] || build_note=${build_note:-"no $bin"}

NAME=mssmtp$$
dir=$(mktemp -d)
cleanup() {
  local pid
  for pid in ${bg_pids:-}; do kill -TERM "$pid" 2>/dev/null || true; done
  bash lab/down.sh "$NAME" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
sink_lab_up "$NAME" "$dir/up.log"
nsx() { ip netns exec "$LAB_NS" "$@"; }

"$PYTHON" lab/gen-sink-zone.py --addresses "$sessions" "$LAB_SINK_DOMAINS" >"$dir/addrs1.txt"
"$PYTHON" lab/gen-sink-zone.py --addresses "$rcpts" "$LAB_SINK_DOMAINS" >"$dir/addrs50.txt"

# conncount_start FILE: samples the sink's established sessions until conncount_stop (at most 600 s).
conncount_start() {
  ip netns exec "$LAB_SINK_NS" timeout 700 "$PYTHON" lab/conncount.py --port "${2:-25}" --duration 600 --json >"$1" 2>&1 &
  cc_pid=$!
  bg_pids="$cc_pid"
  sleep 0.3
}
conncount_stop() {
  kill -TERM "$cc_pid" 2>/dev/null || true
  wait "$cc_pid" 2>/dev/null || true
  bg_pids=""
}

# --- smtp-source references -----------------------------------------------------------------------
echo "bench-smtp: smtp-source references (best of 3) against $LAB_SINK_ADDR ..." >&2
m50=$((rcpts / 50))
cmd_src1="smtp-source -s $s1 -m $sessions -M probe.mailsift-lab.net -f probe@mailsift-lab.net -t u@s00000.$LAB_SINK_ZONE $LAB_SINK_ADDR:25"
cmd_src50="smtp-source -s $s50 -m $m50 -r 50 -M probe.mailsift-lab.net -f probe@mailsift-lab.net -t u@s00000.$LAB_SINK_ZONE $LAB_SINK_ADDR:25"
cmd_srcpeak="smtp-source -s $peak_conc -m $sessions -M probe.mailsift-lab.net -f probe@mailsift-lab.net -t u@s00000.$LAB_SINK_ZONE $LAB_SINK_ADDR:25"
t_src1=$(best_of3 ip netns exec "$LAB_NS" "${SRC[@]}" -s "$s1" -m "$sessions" "$LAB_SINK_ADDR:25")
t_src50=$(best_of3 ip netns exec "$LAB_NS" "${SRC[@]}" -s "$s50" -m "$m50" -r 50 "$LAB_SINK_ADDR:25")
conncount_start "$dir/cc-src.json"
s=$(now)
timeout 300 ip netns exec "$LAB_NS" "$TIME" -v -o "$dir/time-src.txt" \
  "${SRC[@]}" -s "$peak_conc" -m "$sessions" "$LAB_SINK_ADDR:25" >/dev/null 2>&1 && src_peak_rc=0 || src_peak_rc=$?
e=$(now)
conncount_stop
t_srcpeak=$(echo "$e - $s" | bc -l)

# --- mailsift -------------------------------------------------------------------------------------
MS=(verify --level smtp --allow-private-targets --format jsonl --host-rate 0 --no-catch-all)
# ms_run TAG ADDRS ARGS...: one bounded mailsift run in the lab namespace under /usr/bin/time -v;
# prints the wall time, or "FAIL exit N: first stderr line".
ms_run() {
  local tag=$1 addrs=$2 s e rc=0
  shift 2
  if [ -n "$build_note" ]; then echo "FAIL $build_note"; return; fi
  s=$(now)
  timeout 600 ip netns exec "$LAB_NS" "$TIME" -v -o "$dir/time-$tag.txt" "$bin" "${MS[@]}" "$@" \
    <"$addrs" >"$dir/out-$tag.jsonl" 2>"$dir/err-$tag.txt" || rc=$?
  e=$(now)
  if [ "$rc" -ne 0 ]; then
    echo "FAIL exit $rc: $(grep -v '^\s*$' "$dir/err-$tag.txt" | head -n 1 | cut -c1-120)"
    return
  fi
  echo "$e - $s" | bc -l
}
# ms_best3 TAG ADDRS ARGS...: best of 3 ms_run, or the first failure.
ms_best3() {
  local best="" t
  for _ in 1 2 3; do
    t=$(ms_run "$@")
    if [[ $t == FAIL* ]]; then echo "$t"; return; fi
    if [ -z "$best" ] || (($(echo "$t < $best" | bc -l))); then best=$t; fi
  done
  echo "$best"
}
# accepted TAG: results that are valid (the sink accepts every RCPT).
accepted() { grep -c '"status":"valid"' "$dir/out-$1.jsonl" 2>/dev/null || true; }

echo "bench-smtp: mailsift, N=$conc, $sessions addresses, 1 RCPT per session (best of 3) ..." >&2
t_ms1=$(ms_best3 s1 "$dir/addrs1.txt" --smtp-concurrency "$conc" --host-concurrency "$conc" --rcpts-per-session 1)
[[ $t_ms1 == FAIL* ]] && echo "bench-smtp: mailsift sessions/s run: $t_ms1" >&2
ok1=$(accepted s1)
echo "bench-smtp: mailsift, N=$conc, $rcpts addresses, 50 RCPTs per session (best of 3) ..." >&2
t_ms50=$(ms_best3 s50 "$dir/addrs50.txt" --smtp-concurrency "$conc" --host-concurrency "$conc" --rcpts-per-session 50)
[[ $t_ms50 == FAIL* ]] && echo "bench-smtp: mailsift RCPT/s run: $t_ms50" >&2
ok50=$(accepted s50)
echo "bench-smtp: mailsift, --smtp-concurrency $peak_conc --host-concurrency $peak_host, peak ..." >&2
conncount_start "$dir/cc-ms.json"
t_mspeak=$(ms_run peak "$dir/addrs1.txt" --smtp-concurrency "$peak_conc" --host-concurrency "$peak_host" --rcpts-per-session 1)
conncount_stop
[[ $t_mspeak == FAIL* ]] && echo "bench-smtp: mailsift peak run: $t_mspeak" >&2
okpeak=$(accepted peak)
# In flight: the slow sink (port 2525, 2 s before each RCPT reply) keeps sessions open, so what is
# measured is how many one process holds at once, and what they cost in memory.
slow_n=$((peak_conc * 3))
head -n "$slow_n" "$dir/addrs1.txt" >"$dir/addrs-slow.txt"
echo "bench-smtp: mailsift, slow sink (2 s per RCPT), $slow_n addresses, --smtp-concurrency 2500 ..." >&2
conncount_start "$dir/cc-slow.json" 2525
t_msslow=$(ms_run slow "$dir/addrs-slow.txt" --smtp-port 2525 --smtp-concurrency 2500 --host-concurrency 20 \
  --rcpts-per-session 1 --command-timeout 10)
conncount_stop
[[ $t_msslow == FAIL* ]] && echo "bench-smtp: mailsift slow-sink run: $t_msslow" >&2
okslow=$(accepted slow)
echo "bench-smtp: smtp-source -s $peak_conc against the slow sink ..." >&2
conncount_start "$dir/cc-srcslow.json" 2525
ip netns exec "$LAB_NS" timeout 600 "$TIME" -v -o "$dir/time-srcslow.txt" "${SRC[@]}" -s "$peak_conc" -m "$slow_n" \
  "$LAB_SINK_ADDR:2525" >/dev/null 2>&1 || true
conncount_stop

"$PYTHON" - "$dir" <<PY
import json, re, sys
d = sys.argv[1]
sessions, rcpts, conc = $sessions, $rcpts, $conc

def num(t):
    try:
        return float(t)
    except ValueError:
        return None

def time_v(path):
    try:
        text = open(path).read()
    except OSError:
        return None
    def field(name):
        m = re.search(re.escape(name) + r": *([0-9.]+)", text)
        return float(m.group(1)) if m else None
    return {"cpu": (field("User time (seconds)") or 0) + (field("System time (seconds)") or 0),
            "rss_kib": field("Maximum resident set size (kbytes)")}

def conncount(path):
    try:
        return json.loads(open(path).read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return None

t_src1, t_src50, t_srcpeak = num("$t_src1"), num("$t_src50"), num("$t_srcpeak") if $src_peak_rc == 0 else None
ms = {"s1": "$t_ms1", "s50": "$t_ms50", "peak": "$t_mspeak", "slow": "$t_msslow"}
ok = {"s1": "$ok1", "s50": "$ok50", "peak": "$okpeak", "slow": "$okslow"}
slow_n = $slow_n
src_time, ms_time = time_v(f"{d}/time-src.txt"), time_v(f"{d}/time-peak.txt")
cc_src, cc_ms = conncount(f"{d}/cc-src.json"), conncount(f"{d}/cc-ms.json")

rows = []
def row(measure, value, ref, fmt, higher_better=True):
    if isinstance(value, str):
        v, ratio = value, "-"
    elif value is None:
        v, ratio = "-", "-"
    else:
        v = fmt.format(value)
        ratio = f"{value / ref:.2f}" if ref else "-"
    r = fmt.format(ref) if isinstance(ref, (int, float)) and ref is not None else "-"
    rows.append((measure, v, r, ratio))

def rate(tag, count):
    t = ms[tag]
    if t.startswith("FAIL"):
        return t.replace("|", "/")
    return count / float(t)

row(f"sessions/s, 1 RCPT per session (N={conc}; smtp-source -s $s1)", rate("s1", sessions),
    sessions / t_src1 if t_src1 else None, "{:,.0f}")
row(f"RCPT/s, 50 RCPTs per session (N={conc}; smtp-source -s $s50 -r 50)", rate("s50", rcpts),
    rcpts / t_src50 if t_src50 else None, "{:,.0f}")
peak_failed = ms["peak"].startswith("FAIL")
row(f"peak sessions in flight at the sink (--smtp-concurrency $peak_conc --host-concurrency $peak_host; smtp-source -s $peak_conc)",
    ms["peak"] if peak_failed else (cc_ms or {}).get("max_total"), (cc_src or {}).get("max_total"), "{:,.0f}")
row("peak sessions per sink address", "-" if peak_failed else (cc_ms or {}).get("max_per_address"),
    (cc_src or {}).get("max_per_address"), "{:,.0f}")
row("sessions/s in that run", rate("peak", sessions), sessions / t_srcpeak if t_srcpeak else None, "{:,.0f}")
row("peak RSS, MiB", "-" if peak_failed or not ms_time else ms_time["rss_kib"] / 1024,
    src_time["rss_kib"] / 1024 if src_time and src_time["rss_kib"] else None, "{:,.1f}")
row("CPU (user+sys) per session, µs", "-" if peak_failed or not ms_time else ms_time["cpu"] / sessions * 1e6,
    src_time["cpu"] / sessions * 1e6 if src_time else None, "{:,.1f}")

slow_failed = ms["slow"].startswith("FAIL")
cc_slow, cc_srcslow = conncount(f"{d}/cc-slow.json"), conncount(f"{d}/cc-srcslow.json")
slow_time, srcslow_time = time_v(f"{d}/time-slow.txt"), time_v(f"{d}/time-srcslow.txt")
row(f"slow sink (2 s per RCPT), {slow_n:,} sessions: peak in flight (--smtp-concurrency 2500; smtp-source -s $peak_conc)",
    ms["slow"] if slow_failed else (cc_slow or {}).get("max_total"), (cc_srcslow or {}).get("max_total"), "{:,.0f}")
row("slow sink: peak RSS, MiB", "-" if slow_failed or not slow_time else slow_time["rss_kib"] / 1024,
    srcslow_time["rss_kib"] / 1024 if srcslow_time and srcslow_time["rss_kib"] else None, "{:,.1f}")

print(f"SMTP benchmark, mail lab smtp-sink farm ({sessions:,} / {rcpts:,} addresses over $LAB_SINK_DOMAINS domains and $LAB_SINK_HOSTS sink hosts; best of 3 for the rates)")
print()
print("| measure | mailsift | smtp-source | ratio |")
print("|---|---:|---:|---:|")
for r in rows:
    print("| " + " | ".join(str(x) for x in r) + " |")
print()
for tag, n in (("s1", sessions), ("s50", rcpts), ("peak", sessions), ("slow", slow_n)):
    if not ms[tag].startswith("FAIL") and ok[tag] and int(ok[tag]) != n:
        print(f"warning: mailsift run {tag}: {ok[tag]} of {n} results valid (expected all)")
print("smtp-source commands (run in the lab namespace):")
print("  $cmd_src1")
print("  $cmd_src50")
print("  $cmd_srcpeak")
PY
