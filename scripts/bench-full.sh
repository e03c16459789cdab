#!/usr/bin/env bash
# Full-level benchmark in the mail lab (issue 5, "Speed": needs root for the network namespaces;
# nothing leaves them). Brings up a lab with the smtp-sink farm and tears it down on exit.
#
# Addresses (bench/gen_full.py, shuffled with a fixed seed, all distinct): N (default 100,000), of
# which 5,000 at mailbox.mailsift-lab.net (the lab's Postfix: unknown users, 550 5.1.1, and alice and
# bob), 1,000 at greylist-all.mailsift-lab.net (the same Postfix behind postgrey: every new
# (client, sender, recipient) deferred with 450 4.2.0 for LAB_GREYLIST_DELAY = 5 s), the rest spread
# over the 1,000 smtp-sink domains sNNNNN.sink.mailsift-lab.net (200 MX hosts, every RCPT accepted).
#
# 1. smtp-source, the ceiling: against ONE sink address, as scripts/bench-smtp.sh does, best of 3:
#    -s 20, one RCPT per session (sessions/s) and -s 20 -r 50 (RCPT/s).
# 2. mailsift, best of BENCH_FULL_RUNS (default 3), each with a sender of its own so that postgrey
#    greylists every run afresh (postgrey folds digits in the sender: the tags are letters):
#      verify --level smtp --input addrs.txt --output out.csv --allow-private-targets --quiet
#             --smtp-concurrency 256 --host-concurrency 5 --host-rate 0
#             --greylist-retry 6 --greylist-tries 2 --max-wait 30 --mail-from fullrunX@mailsift-lab.net
#    i.e. the default politeness caps except the per-host connection rate (the lab is ours). The
#    lab's postgrey states its delay ("Greylisted for 5 seconds"), so the retries wait that plus
#    0.5 s; --greylist-retry 6 (one second after postgrey's delay) is only the fallback for a reply
#    that states none (real greylisters want 60-300 s; --max-wait bounds it). lab/conncount.py samples the servers' established sessions (sink namespace, and the
#    lab namespace for Postfix) over all runs: the maximum per MX address against --host-concurrency.
#    One more run with --max-wait 0 (no greylisting retry: those addresses end `unknown`) shows what
#    the retry costs.
# 3. deep-email-validator 0.1.27 (npm; installed into a temporary copy of bench/deep-email-validator,
#    driven by its run.mjs at concurrency 50) on the first BENCH_FULL_DEV_LIMIT (default 10,000) of
#    the same addresses, in the lab namespace: it resolves MX records with Node's c-ares and the
#    exchange with getaddrinfo, both through the lab's resolver (/etc/netns/NAME/resolv.conf), and
#    speaks SMTP on port 25 to the lab's servers, which conncount sees. No new address starts after
#    BENCH_FULL_DEV_SECONDS (default 60): its rate is what it finished over the time it took.
# Prints a table: verifications/s and the ratios mailsift / deep-email-validator, mailsift /
# smtp-source. Every command is bounded (timeout); the whole run takes a few minutes.
#
# Usage: scripts/bench-full.sh [N]
# Environment: BENCH_FULL_RUNS, BENCH_FULL_DEV_LIMIT, BENCH_FULL_DEV_SECONDS, BENCH_FULL_NOBUILD=1
#   (use the existing build/release/mailsift), BENCH_FULL_BIN=PATH (that mailsift binary, no build:
#   e.g. a copy of an older build to compare), BENCH_FULL_HOST_CONC (default 5), BENCH_FULL_KEEP=DIR
#   (copy the outputs, conncount and time files there), BENCH_FULL_HISTORY=0 (skip the --history
#   pairs: mailsift without and with --history in turn, wall and CPU time compared).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench-full.sh: needs root (network namespaces)" >&2; exit 1; }
total=${1:-100000}
[[ $total =~ ^[0-9]+$ ]] && [ "$total" -ge 10000 ] || { echo "usage: scripts/bench-full.sh [N >= 10000]" >&2; exit 2; }
runs=${BENCH_FULL_RUNS:-3}
dev_limit=${BENCH_FULL_DEV_LIMIT:-10000}
dev_seconds=${BENCH_FULL_DEV_SECONDS:-60}
host_conc=${BENCH_FULL_HOST_CONC:-5}
smtp_conc=256
src_sessions=20000
src_rcpts=100000
. scripts/bench-lib.sh
bench_need_time bench-full.sh
for cmd in smtp-source node npm bc; do
  command -v "$cmd" >/dev/null || { echo "bench-full.sh: $cmd missing (apt-get install -y postfix nodejs npm bc)" >&2; exit 1; }
done

bin=${BENCH_FULL_BIN:-$PWD/build/release/mailsift}
if [ -z "${BENCH_FULL_BIN:-}" ] && [ "${BENCH_FULL_NOBUILD:-0}" != 1 ]; then
  cmake --preset release >/dev/null
  timeout 3600 cmake --build --preset release -j 2 >/dev/null
fi
[ -x "$bin" ] || { echo "bench-full.sh: no $bin" >&2; exit 1; }

NAME=msfull$$
dir=$(mktemp -d)
bg_pids=""
cleanup() {
  local pid
  for pid in $bg_pids; do kill -TERM "$pid" 2>/dev/null || true; done
  bash lab/down.sh "$NAME" >/dev/null 2>&1 || true
  if [ -n "${BENCH_FULL_KEEP:-}" ]; then mkdir -p "$BENCH_FULL_KEEP" && cp -r "$dir"/. "$BENCH_FULL_KEEP"/ 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# deep-email-validator, from the npm registry, into a temporary copy of bench/deep-email-validator.
echo "bench-full: npm install deep-email-validator ..." >&2
mkdir -p "$dir/dev"
cp bench/deep-email-validator/package.json bench/deep-email-validator/run.mjs "$dir/dev/"
dev_note=""
if ! (cd "$dir/dev" && timeout 300 npm install --no-audit --no-fund --loglevel=error >"$dir/npm.log" 2>&1); then
  dev_note="npm install failed: $(tail -n 1 "$dir/npm.log")"
  echo "bench-full.sh: $dev_note (deep-email-validator skipped)" >&2
fi

echo "bench-full: lab up ..." >&2
sink_lab_up "$NAME" "$dir/up.log"

"$PYTHON" bench/gen_full.py --total "$total" --domains "$LAB_SINK_DOMAINS" >"$dir/addrs.txt"
head -n "$dev_limit" "$dir/addrs.txt" >"$dir/addrs-dev.txt"

# conncount_start TAG: samples established sessions at the sink and at the lab's Postfix (port 25)
# until conncount_stop (at most 900 s).
conncount_start() {
  ip netns exec "$LAB_SINK_NS" timeout 1000 "$PYTHON" lab/conncount.py --duration 900 --json >"$dir/cc-$1-sink.json" 2>&1 &
  bg_pids="$!"
  ip netns exec "$LAB_NS" timeout 1000 "$PYTHON" lab/conncount.py --duration 900 --json >"$dir/cc-$1-lab.json" 2>&1 &
  bg_pids="$bg_pids $!"
  # The client's side too (the clients run in the lab namespace): a session the client has closed
  # can still be listed at the server for a moment.
  ip netns exec "$LAB_NS" timeout 1000 "$PYTHON" lab/conncount.py --client --duration 900 --json \
    >"$dir/cc-$1-client.json" 2>&1 &
  bg_pids="$bg_pids $!"
  sleep 0.3
}
conncount_stop() {
  local pid
  for pid in $bg_pids; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in $bg_pids; do wait "$pid" 2>/dev/null || true; done
  bg_pids=""
}

# --- smtp-source: the ceiling ---------------------------------------------------------------------
echo "bench-full: smtp-source (best of 3) against $LAB_SINK_ADDR ..." >&2
m50=$((src_rcpts / 50))
t_src1=$(best_of3 ip netns exec "$LAB_NS" "${SRC[@]}" -s 20 -m "$src_sessions" "$LAB_SINK_ADDR:25")
t_src50=$(best_of3 ip netns exec "$LAB_NS" "${SRC[@]}" -s 20 -m "$m50" -r 50 "$LAB_SINK_ADDR:25")

# --- mailsift -------------------------------------------------------------------------------------
grey_retry=$((LAB_GREYLIST_DELAY + 1))
MS=(verify --level smtp --input "$dir/addrs.txt" --allow-private-targets --quiet
  --smtp-concurrency "$smtp_conc" --host-concurrency "$host_conc" --host-rate 0
  --greylist-retry "$grey_retry" --greylist-tries 2)
# ms_run TAG SENDER ARGS...: one bounded run; prints the wall time or "FAIL ...".
ms_run() {
  local tag=$1 sender=$2 s e rc=0
  shift 2
  s=$(now)
  timeout 900 ip netns exec "$LAB_NS" "$TIME" -v -o "$dir/time-$tag.txt" "$bin" "${MS[@]}" \
    --output "$dir/out-$tag.csv" --mail-from "$sender@mailsift-lab.net" --summary "$dir/sum-$tag.json" "$@" \
    >"$dir/err-$tag.txt" 2>&1 || rc=$?
  e=$(now)
  if [ "$rc" -ne 0 ]; then
    echo "FAIL exit $rc: $(grep -v '^\s*$' "$dir/err-$tag.txt" | head -n 1 | cut -c1-120)"
    return
  fi
  echo "$e - $s" | bc -l
}
tags=(a b c d e f g h i j)
best_ms="" best_tag=""
ms_times=()
conncount_start ms
for ((r = 0; r < runs; r++)); do
  tag=${tags[$((r % 10))]}
  echo "bench-full: mailsift run $((r + 1))/$runs ($total addresses) ..." >&2
  t=$(ms_run "run$tag" "fullrun$tag" --max-wait 30)
  ms_times+=("$t")
  if [[ $t == FAIL* ]]; then echo "bench-full: mailsift run: $t" >&2; break; fi
  if [ -z "$best_ms" ] || (($(echo "$t < $best_ms" | bc -l))); then best_ms=$t; best_tag=run$tag; fi
done
conncount_stop
echo "bench-full: mailsift, --max-wait 0 (no greylisting retry) ..." >&2
t_nowait=$(ms_run nowait fullrunnowait --max-wait 0)

# --- --history's cost (issue 17: at most 5%) ------------------------------------------------------
# BENCH_FULL_HISTORY_PAIRS (default 5) pairs in turn, off then on, each with its own sender
# (postgrey) and, on, a new history file: every domain's record is written and none is reused (no
# catch-all answer from history), the dearest case. --max-wait 0: how many greylisting retries a run
# makes (and so its CPU time) varies from run to run by more than the cost measured here.
hist_off=() hist_on=()
hist_pairs=${BENCH_FULL_HISTORY_PAIRS:-5}
if [ "${BENCH_FULL_HISTORY:-1}" = 1 ]; then
  for ((r = 0; r < hist_pairs; r++)); do
    tag=${tags[$((r % 10))]}
    echo "bench-full: --history cost, pair $((r + 1))/$hist_pairs ..." >&2
    hist_off+=("$(ms_run hoff$tag histoff$tag --max-wait 0)")
    rm -f "$dir/history.sqlite" "$dir/history.sqlite-wal"
    hist_on+=("$(ms_run hon$tag histon$tag --max-wait 0 --history "$dir/history.sqlite")")
  done
fi

# --- deep-email-validator -------------------------------------------------------------------------
dev_json="$dir/dev.json"
if [ -z "$dev_note" ]; then
  echo "bench-full: deep-email-validator, concurrency 50, first $dev_limit addresses, at most ${dev_seconds}s ..." >&2
  conncount_start dev
  timeout $((dev_seconds + 120)) ip netns exec "$LAB_NS" node "$dir/dev/run.mjs" "$dir/addrs-dev.txt" --concurrency 50 \
    --limit "$dev_limit" --seconds "$dev_seconds" --sender devrun@mailsift-lab.net >"$dev_json" 2>"$dir/dev.err" ||
    dev_note="run failed: $(head -n 1 "$dir/dev.err" | cut -c1-120)"
  conncount_stop
fi

"$PYTHON" - "$dir" <<PY
import collections, csv, json, sys
d = sys.argv[1]
total, runs, host_conc = $total, $runs, $host_conc

def num(t):
    try:
        return float(t)
    except ValueError:
        return None

def jload(path):
    try:
        return json.loads(open(path).read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return None

def statuses(tag):
    try:
        with open(f"{d}/out-{tag}.csv", newline="") as f:
            return collections.Counter((r["status"], r["reason"], r["domain"].split(".", 1)[1] if r["domain"].startswith("s") and ".sink." in r["domain"] else r["domain"]) for r in csv.DictReader(f))
    except OSError:
        return collections.Counter()

t_src1, t_src50 = num("$t_src1"), num("$t_src50")
src1 = $src_sessions / t_src1 if t_src1 else None
src50 = $src_rcpts / t_src50 if t_src50 else None
best = num("$best_ms") if "$best_ms" else None
ms_rate = total / best if best else None
nowait = num("$t_nowait")
nowait_rate = total / nowait if nowait else None
dev = jload(f"{d}/dev.json")
dev_rate = dev["rate"] if dev and dev.get("finished") else None

def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"

def fmt(v):
    return f"{v:,.0f}" if isinstance(v, (int, float)) else str(v)

print(f"Full level in the lab: {total:,} addresses ($LAB_SINK_DOMAINS smtp-sink domains on $LAB_SINK_HOSTS MX hosts, "
      f"5,000 at Postfix mailbox., 1,000 at the postgrey domain greylist-all.)")
print()
print("| measure | verifications/s | mailsift ÷ this |")
print("|---|---:|---:|")
runs_txt = ", ".join(("%.2f s" % float(t)) if not t.startswith("FAIL") else t for t in """${ms_times[*]}""".split(" ") if t)
print(f"| mailsift, best of {runs} ({runs_txt}) | {fmt(ms_rate) if ms_rate else 'FAIL'} | 1.00 |")
print(f"| mailsift, --max-wait 0 (no greylisting retry) | {fmt(nowait_rate) if nowait_rate else '$t_nowait'} | {ratio(ms_rate, nowait_rate)} |")
if dev_rate:
    print(f"| deep-email-validator 0.1.27, concurrency 50 ({dev['finished']:,} of the first {dev['limit']:,} in {dev['seconds']:.1f} s) | {fmt(dev_rate)} | {ratio(ms_rate, dev_rate)} |")
else:
    print(f"| deep-email-validator, concurrency 50 | - ($dev_note) | - |")
print(f"| smtp-source -s 20, 1 RCPT per session (sessions/s, one sink address) | {fmt(src1)} | {ratio(ms_rate, src1)} |")
print(f"| smtp-source -s 20 -r 50 (RCPT/s, one sink address) | {fmt(src50)} | {ratio(ms_rate, src50)} |")
def cpu(tag):
    try:
        t = open(f"{d}/time-{tag}.txt").read()
    except OSError:
        return None
    u = re.search(r"User time \(seconds\): ([0-9.]+)", t)
    s_ = re.search(r"System time \(seconds\): ([0-9.]+)", t)
    return float(u.group(1)) + float(s_.group(1)) if u and s_ else None

import re
hoff = [num(t) for t in """${hist_off[*]:-}""".split(" ") if t]
hon = [num(t) for t in """${hist_on[*]:-}""".split(" ") if t]
if hoff and hon and all(hoff) and all(hon):
    tg = [t for t in "abcdefghij"][:len(hoff)]
    coff = [cpu("hoff" + t) for t in tg]
    con = [cpu("hon" + t) for t in tg]
    print()
    print(f"--history cost (--max-wait 0; pairs in turn, a new history file each: every record written, none reused):")
    print(f"| run | off: wall s | on: wall s | on ÷ off wall | off: CPU s | on: CPU s | on ÷ off CPU |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for i in range(len(hoff)):
        cr = f"{con[i] / coff[i]:.3f}" if con[i] and coff[i] else "-"
        print(f"| {i + 1} | {hoff[i]:.2f} | {hon[i]:.2f} | {hon[i] / hoff[i]:.3f} | {coff[i] or 0:.2f} | {con[i] or 0:.2f} | {cr} |")
    print(f"| best | {min(hoff):.2f} | {min(hon):.2f} | {min(hon) / min(hoff):.3f} | {min(c for c in coff if c):.2f} | "
          f"{min(c for c in con if c):.2f} | {min(c for c in con if c) / min(c for c in coff if c):.3f} |")
    med = lambda v: sorted(v)[len(v) // 2]
    wr = med([b / a for a, b in zip(hoff, hon)])
    cr = med([b / a for a, b in zip(coff, con) if a and b]) if all(coff) and all(con) else None
    print(f"| median of the pairs' ratios | | | **{wr:.3f}** | | | **{cr:.3f}** |" if cr else f"| median of the pairs' ratios | | | **{wr:.3f}** | | | - |")
elif hoff or hon:
    print(f"--history cost: a run failed: off {hoff} on {hon}")
print()
cc = {k: jload(f"{d}/cc-{k}.json") for k in ("ms-sink", "ms-lab", "ms-client", "dev-sink", "dev-lab", "dev-client")}
def cc_txt(c):
    if not c:
        return "-"
    return f"{c['max_per_address']} at {c['max_address']} (peak total {c['max_total']}, {c['addresses']} addresses seen)"
print(f"Most established sessions at one MX address, sampled at the servers (lab/conncount.py, every 20 ms):")
print(f"  mailsift (--host-concurrency {host_conc}), sink farm: {cc_txt(cc['ms-sink'])}")
print(f"  mailsift (--host-concurrency {host_conc}), Postfix:   {cc_txt(cc['ms-lab'])}")
print(f"  deep-email-validator (no per-host cap), sink farm: {cc_txt(cc['dev-sink'])}")
print(f"  deep-email-validator (no per-host cap), Postfix:   {cc_txt(cc['dev-lab'])}")
print(f"The same, sampled at the client (lab/conncount.py --client, by server address):")
print(f"  mailsift (--host-concurrency {host_conc}): {cc_txt(cc['ms-client'])}")
print(f"  deep-email-validator:               {cc_txt(cc['dev-client'])}")
print()
if "$best_tag":
    st = statuses("$best_tag")
    print(f"mailsift results ($best_tag): " + ", ".join(f"{k[2]} {k[0]}/{k[1]} {v:,}" for k, v in st.most_common()))
st = statuses("nowait")
if st:
    print("mailsift results (--max-wait 0): " + ", ".join(f"{k[2]} {k[0]}/{k[1]} {v:,}" for k, v in st.most_common()))
if dev:
    print("deep-email-validator results: " + ", ".join(f"{k} {v:,}" for k, v in sorted(dev["counts"].items(), key=lambda x: -x[1])))
tv = open(f"{d}/time-$best_tag.txt").read() if "$best_tag" else ""
import re
m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", tv)
if m:
    print(f"mailsift peak RSS ($best_tag): {int(m.group(1)) / 1024:,.1f} MiB")
PY
