#!/usr/bin/env bash
# CPU cost of STARTTLS per SMTP session, in the mail lab (needs root: network namespaces; nothing
# leaves them). Issue 15 "Cheap TLS": targets ≤ 0.5 ms CPU per STARTTLS session on a run where MX
# hosts repeat, and ≤ 3× a plain session's CPU.
#
# Brings up a lab with the smtp-sink farm (lab/up.sh, LAB_SINK_DOMAINS domains over LAB_SINK_HOSTS
# MX hosts at 10.26.x.y in namespace NAME-sink) and, in the sink namespace, a Postfix smtpd on port
# 2526 of all those addresses that offers STARTTLS (the lab's self-signed RSA-2048 certificate,
# TLS session tickets on: Postfix's defaults) and accepts every RCPT (smtp-sink has no STARTTLS).
# This Postfix has no smtp client, every transport is error:, and mailsift never sends DATA.
#
# Then mailsift (build/release/mailsift), in the lab namespace, with
#   verify --level smtp --allow-private-targets --format jsonl --smtp-port 2526
#          --rcpts-per-session 1 --no-catch-all --host-rate 0   < addrs
# and, in turn (ROUNDS rounds, the variants alternating within each round):
#   plain    --no-starttls
#   full     --tls-session-cache 0   (STARTTLS, every handshake a full one)
#   resumed  (the defaults: STARTTLS, sessions resumed per MX host)
#   main     $MAILSIFT_REF with the defaults, when set (e.g. main's binary: the old behaviour)
# CPU = user + sys of the mailsift process (/usr/bin/time -v), divided by the sessions; the median
# of the rounds. It includes the run's DNS lookups (one per domain) and start-up, the same for
# every variant. Resumed share: results whose smtp.tls.resumed is true.
#
# Usage: scripts/bench-tls.sh
# Environment: BENCH_TLS_ADDRESSES (default 2000), LAB_SINK_DOMAINS (default 1000),
#   LAB_SINK_HOSTS (default 20), BENCH_TLS_ROUNDS (default 3), BENCH_TLS_ARGS (more mailsift
#   arguments, e.g. "--smtp-concurrency 50"), MAILSIFT_REF (another mailsift binary to compare),
#   BENCH_TLS_NOBUILD=1 (use the existing build), BENCH_TLS_PERF=1 (also perf record the resumed
#   and full variants once: perf-*.data and reports kept in BENCH_TLS_KEEP or dropped).
# Every command is bounded (timeout); the whole run takes a minute or two.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench-tls.sh: needs root (network namespaces)" >&2; exit 1; }
naddr=${BENCH_TLS_ADDRESSES:-2000}
rounds=${BENCH_TLS_ROUNDS:-3}
export LAB_SINK_DOMAINS=${LAB_SINK_DOMAINS:-1000}
export LAB_SINK_HOSTS=${LAB_SINK_HOSTS:-20}
[[ $naddr =~ ^[0-9]+$ && $rounds =~ ^[0-9]+$ && $rounds -ge 1 && $rounds -le 20 ]] ||
  { echo "bench-tls.sh: bad BENCH_TLS_ADDRESSES or BENCH_TLS_ROUNDS" >&2; exit 2; }
port=2526
. scripts/bench-lib.sh
bench_need_time bench-tls.sh

bin=$PWD/build/release/mailsift
if [ "${BENCH_TLS_NOBUILD:-0}" != 1 ]; then
  cmake --preset release >/dev/null
  timeout 1800 cmake --build --preset release -j2 >/dev/null
fi
[ -x "$bin" ] || { echo "bench-tls.sh: no $bin" >&2; exit 1; }
ref=${MAILSIFT_REF:-}
[ -z "$ref" ] || [ -x "$ref" ] || { echo "bench-tls.sh: MAILSIFT_REF=$ref is not executable" >&2; exit 1; }

NAME=mstls$$
dir=$(mktemp -d)
cleanup() {
  bash lab/down.sh "$NAME" >/dev/null 2>&1 || true
  if [ -n "${BENCH_TLS_KEEP:-}" ]; then mkdir -p "$BENCH_TLS_KEEP" && cp -r "$dir"/. "$BENCH_TLS_KEEP"/; fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
echo "bench-tls: lab $NAME ($LAB_SINK_DOMAINS domains over $LAB_SINK_HOSTS MX hosts) ..." >&2
sink_lab_up "$NAME" "$dir/up.log"

# --- Postfix with STARTTLS in the sink namespace, port 2526 of every 10.26.x.y ------------------
PF=$LAB_DIR/tlssink
mkdir -p "$PF/etc" "$PF/queue" "$PF/data"
chown postfix "$PF/data"
"$PYTHON" lab/gen-sink-zone.py "$LAB_SINK_DOMAINS" "$LAB_SINK_HOSTS" |
  awk '$2 == "MX" { print $1 ".sink.mailsift-lab.net ok" }' >"$PF/etc/domains"
cat >"$PF/etc/main.cf" <<EOF
# bench-tls.sh: a receiving-only Postfix that offers STARTTLS and accepts every RCPT.
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
mydomain = mailsift-lab.net
virtual_alias_maps =
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_client_recipient_rate_limit = 0
smtp_tls_security_level = none
myhostname = tls.sink.mailsift-lab.net
inet_interfaces = all
inet_protocols = ipv4
mynetworks =
mydestination =
relay_domains =
relayhost =
local_recipient_maps =
alias_maps =
alias_database =
local_transport = error:bench: local delivery disabled
default_transport = error:bench: no mail leaves the lab
relay_transport = error:bench: no mail leaves the lab
virtual_transport = discard:bench
virtual_mailbox_domains = texthash:$PF/etc/domains
virtual_mailbox_maps = static:any
notify_classes =
biff = no
smtpd_banner = \$myhostname ESMTP bench-tls
smtpd_peername_lookup = no
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = permit
smtpd_error_sleep_time = 0
# No message is ever delivered here, so the queue manager never hands out in-flow tokens and every
# MAIL FROM would wait in_flow_delay (1 s) for one: that paced the run at ~100 sessions/s and left
# mailsift idle between events (a wake-up per event). A real server's deliveries keep tokens coming.
in_flow_delay = 0
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_timeout = 30s
default_process_limit = 300
smtpd_tls_cert_file = $LAB_DIR/tls/cert.pem
smtpd_tls_key_file = $LAB_DIR/tls/key.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = 0
EOF
cat >"$PF/etc/master.cf" <<EOF
$port      inet  n       -      n      -      -       smtpd
qmgr       unix  n       -      n      300    1       qmgr
tlsmgr     unix  -       -      n      1000?  1       tlsmgr
cleanup    unix  n       -      n      -      0       cleanup
rewrite    unix  -       -      n      -      -       trivial-rewrite
bounce     unix  -       -      n      -      0       bounce
defer      unix  -       -      n      -      0       bounce
trace      unix  -       -      n      -      0       bounce
verify     unix  -       -      n      -      1       verify
proxymap   unix  -       -      n      -      -       proxymap
error      unix  -       -      n      -      -       error
discard    unix  -       -      n      -      -       discard
anvil      unix  -       -      n      -      1       anvil
scache     unix  -       -      n      -      1       scache
postlog    unix-dgram n  -      n      -      1       postlogd
EOF
for d in active bounce corrupt defer deferred flush hold incoming private saved trace; do
  install -d -o postfix -g root -m 700 "$PF/queue/$d"
done
install -d -o postfix -g postdrop -m 1730 "$PF/queue/maildrop"
install -d -o postfix -g postdrop -m 2710 "$PF/queue/public"
install -d -o root -g root -m 755 "$PF/queue/pid"
touch "$PF/queue/quick-start"
# (postfix writes its errors only to a terminal or its log: `script` gives it one.)
timeout 60 script -qec "ip netns exec $LAB_SINK_NS postfix -c $PF/etc start" /dev/null >"$dir/postfix-start.log" 2>&1 ||
  { echo "bench-tls.sh: postfix start failed:" >&2; cat "$dir/postfix-start.log" >&2; exit 1; }
# down.sh stops it with the lab (it records the master; whatever is left in the sink namespace
# goes with the namespace).
master=$(tr -d ' ' <"$PF/queue/pid/master.pid")
read -r stat <"/proc/$master/stat"
read -ra fields <<<"${stat##*) }"
echo "$master ${fields[19]} postfix-tls-sink" >>"$LAB_DIR/pids"
tls_ok() {
  timeout 5 ip netns exec "$LAB_NS" "$PYTHON" -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 2); s.settimeout(2)
assert s.recv(200).startswith(b"220"); s.sendall(b"EHLO x\r\n")
d = b""
while not d.endswith(b"\r\n") or d.split(b"\r\n")[-2][3:4] == b"-": d += s.recv(1000)
assert b"STARTTLS" in d' "$1" "$2"
}
for _ in $(seq 100); do tls_ok 10.26.0.1 "$port" 2>/dev/null && break; sleep 0.1; done
tls_ok 10.26.0.1 "$port" || { echo "bench-tls.sh: the TLS Postfix did not come up" >&2; tail "$PF/maillog" >&2; exit 1; }

"$PYTHON" lab/gen-sink-zone.py --addresses "$naddr" "$LAB_SINK_DOMAINS" >"$dir/addrs.txt"

MS=(verify --level smtp --allow-private-targets --format jsonl --smtp-port "$port" --rcpts-per-session 1
    --no-catch-all --host-rate 0)
read -ra extra <<<"${BENCH_TLS_ARGS:-}"
# ms_run TAG ROUND BIN ARGS...: one bounded run under /usr/bin/time -v; its output in out-TAG-ROUND.
ms_run() {
  local tag=$1 round=$2 b=$3 rc=0
  shift 3
  timeout 300 ip netns exec "$LAB_NS" "$TIME" -v -o "$dir/time-$tag-$round.txt" "$b" "${MS[@]}" "${extra[@]}" "$@" \
    <"$dir/addrs.txt" >"$dir/out-$tag-$round.jsonl" 2>"$dir/err-$tag-$round.txt" || rc=$?
  if [ "$rc" -gt 1 ]; then
    echo "bench-tls.sh: run $tag/$round exited $rc: $(head -c 300 "$dir/err-$tag-$round.txt")" >&2
    exit 1
  fi
}
variants="plain full resumed"
[ -n "$ref" ] && variants="$variants main"
for r in $(seq "$rounds"); do
  echo "bench-tls: round $r of $rounds: $variants ..." >&2
  for v in $variants; do
    case $v in
      plain) ms_run plain "$r" "$bin" --no-starttls ;;
      full) ms_run full "$r" "$bin" --tls-session-cache 0 ;;
      resumed) ms_run resumed "$r" "$bin" ;;
      main) ms_run main "$r" "$ref" ;;
    esac
  done
done
if [ "${BENCH_TLS_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
  for v in full resumed; do
    a=(); [ "$v" = full ] && a=(--tls-session-cache 0)
    timeout 300 ip netns exec "$LAB_NS" perf record -q -g -o "$dir/perf-$v.data" "$bin" "${MS[@]}" "${extra[@]}" "${a[@]}" \
      <"$dir/addrs.txt" >/dev/null 2>&1 || true
    timeout 300 perf report -i "$dir/perf-$v.data" --no-children --sort dso -g none --stdio 2>/dev/null |
      grep '%' | awk '{ printf "  %-8s %s\n", $1, $2 }' | head -n 8 >"$dir/perf-$v.txt" || true
    timeout 300 perf report -i "$dir/perf-$v.data" --no-children --sort dso,symbol -g none --stdio 2>/dev/null |
      grep '%' | awk '{ s = ""; for (i = 4; i <= NF; i++) s = s " " $i; sub(/( -)+$/, "", s); printf "  %-8s %-22s%s\n", $1, $2, substr(s, 1, 90) }' |
      head -n 25 >>"$dir/perf-$v.txt" || true
  done
fi

"$PYTHON" - "$dir" "$naddr" "$rounds" "$variants" <<'PY'
import json, re, statistics, sys
d, naddr, rounds, variants = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split()

def time_v(path):
    text = open(path).read()
    def f(name):
        m = re.search(re.escape(name) + r": *([0-9.:]+)", text)
        return m.group(1) if m else "0"
    wall = f("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
    secs = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
    return float(f("User time (seconds)")), float(f("System time (seconds)")), secs

def outcome(path):
    n = used = resumed = valid = 0
    for line in open(path):
        r = json.loads(line)
        n += 1
        valid += r.get("status") == "valid"
        tls = ((r.get("smtp") or {}).get("tls") or {})
        used += tls.get("used") is True
        resumed += tls.get("resumed") is True
    return n, used, resumed, valid

rows = {}
for v in variants:
    cpu, user, sys_, wall = [], [], [], []
    for r in range(1, rounds + 1):
        u, s, w = time_v(f"{d}/time-{v}-{r}.txt")
        user.append(u); sys_.append(s); cpu.append(u + s); wall.append(w)
    n, used, resumed, valid = outcome(f"{d}/out-{v}-{rounds}.jsonl")
    rows[v] = dict(cpu=statistics.median(cpu), user=statistics.median(user), sys=statistics.median(sys_),
                   wall=statistics.median(wall), all_cpu=cpu, n=n, used=used, resumed=resumed, valid=valid)

names = {"plain": "plain (`--no-starttls`)", "full": "STARTTLS, no resumption (`--tls-session-cache 0`)",
         "resumed": "STARTTLS with resumption (default)", "main": "STARTTLS, MAILSIFT_REF binary"}
plain = rows["plain"]["cpu"] / naddr
print(f"TLS benchmark: {naddr:,} addresses = {naddr:,} sessions (1 RCPT each), "
      f"over the sink zone's domains and MX hosts; median of {rounds} rounds")
print()
print("| variant | CPU user+sys, s (median) | user | sys | CPU per session, ms | vs plain | TLS used | resumed | valid | wall, s |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for v in variants:
    x = rows[v]
    per = x["cpu"] / naddr
    print(f"| {names[v]} | {x['cpu']:.2f} ({', '.join(f'{c:.2f}' for c in x['all_cpu'])}) | {x['user']:.2f} | {x['sys']:.2f} | "
          f"{per * 1000:.3f} | {per / plain:.2f} | {x['used']:,} | {x['resumed']:,} ({x['resumed'] / max(1, x['n']):.1%}) | "
          f"{x['valid']:,} of {x['n']:,} | {x['wall']:.2f} |")
print()
for v in ("full", "resumed", "main"):
    if v in rows:
        extra = (rows[v]["cpu"] - rows["plain"]["cpu"]) / naddr
        print(f"TLS cost over plain, {names[v]}: {extra * 1000:.3f} ms CPU per session")
PY
if [ "${BENCH_TLS_PERF:-0}" = 1 ]; then
  for v in full resumed; do
    [ -s "$dir/perf-$v.txt" ] && { echo; echo "perf, $v (self time by library, then by symbol):"; cat "$dir/perf-$v.txt"; }
  done
fi
