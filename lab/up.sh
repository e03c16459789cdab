#!/usr/bin/env bash
# Starts the mail lab: a private "internet" inside a network namespace, for the
# integration tests and benchmarks of the DNS stage and the SMTP probe.
#
#   sudo lab/up.sh [NAME]          NAME defaults to mslab
#
# Everything listens on addresses of the namespace's own loopback interface;
# nothing is reachable from the host and nothing reaches out. Programs run with
# `ip netns exec NAME ...` resolve through the lab's DNS with no flags, because
# /etc/netns/NAME/resolv.conf names it. See lab/README.md.
#
# Environment: LAB_DIR (default /tmp/mailsift-lab-NAME) holds configs, logs,
# PIDs and lab.env; LAB_BENCH_COUNT (default 10000) sizes the benchmark zone;
# LAB_GREYLIST_DELAY (default 5) is postgrey's delay in seconds;
# LAB_LOG_QUERIES=1 makes dnsmasq log every query to $LAB_DIR/dnsmasq/dnsmasq.log.
set -euo pipefail

NAME=${1:-mslab}
if ! [[ $NAME =~ ^[A-Za-z0-9_-]{1,32}$ ]]; then
  echo "up.sh: bad lab name '$NAME' (letters, digits, _ and - only)" >&2
  exit 2
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_DIR=${LAB_DIR:-/tmp/mailsift-lab-$NAME}
BENCH_COUNT=${LAB_BENCH_COUNT:-10000}
GREYLIST_DELAY=${LAB_GREYLIST_DELAY:-5}
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)

if [ "$(id -u)" -ne 0 ]; then
  echo "up.sh: must run as root (network namespaces, port 25 and 53)" >&2
  exit 1
fi
for cmd in ip knotd knotc kdig dnsmasq postfix postconf postgrey openssl; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    echo "up.sh: '$cmd' not found: run scripts/install-deps.sh" >&2
    exit 1
  fi
done

started=$(date +%s%N)
log() { printf 'up.sh: %s\n' "$*"; }

# A lab of that name may be running: take it down first.
LAB_DIR=$LAB_DIR "$HERE/down.sh" "$NAME" >/dev/null

fail() {
  local rc=$?
  echo "up.sh: FAILED (exit $rc) at line ${1:-?}; log tails:" >&2
  for f in "$LAB_DIR"/fakesrv.log "$LAB_DIR"/knot/knot.log "$LAB_DIR"/dnsmasq/dnsmasq.log \
           "$LAB_DIR"/postgrey/postgrey.log "$LAB_DIR"/postfix/maillog "$LAB_DIR"/postfix/start.log; do
    [ -s "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
  done
  LAB_DIR=$LAB_DIR "$HERE/down.sh" "$NAME" >&2 || true
  exit "$rc"
}
trap 'fail $LINENO' ERR

# --- the lab directory ---------------------------------------------------------------
mkdir -p "$LAB_DIR"
chmod 755 "$LAB_DIR"
touch "$LAB_DIR/.mailsift-lab"         # down.sh removes only a directory with this mark
: >"$LAB_DIR/pids"
mkdir -p /run/mailsift-lab
echo "$LAB_DIR" >"/run/mailsift-lab/$NAME"   # so down.sh finds a non-default LAB_DIR

# Substitutes @LAB_DIR@ in a template.
render() { sed "s|@LAB_DIR@|$LAB_DIR|g" "$1" >"$2"; }

# Records a started process: PID, its start time (so down.sh never kills a
# recycled PID) and a label. Servers are started as `ip netns exec NS cmd &`
# (ip execs cmd: $! is the server itself), never through a shell function.
record() {
  local pid=$1 label=$2 stat fields
  read -r stat <"/proc/$pid/stat"
  read -ra fields <<<"${stat##*) }"
  echo "$pid ${fields[19]} $label" >>"$LAB_DIR/pids"
}

# --- the namespace and its addresses --------------------------------------------------
NS=$NAME
nsx() { ip netns exec "$NS" "$@"; }
ip netns add "$NS"
# Server addresses, v4 and v6 (the v6 ones must be assigned to be bound), then
# every other address of the lab ranges as local too (connection refused, not
# unreachable): the MX hosts in the zones that have no server behind them.
DNS_HOSTS=(1 2 3 4 5)      # 10.53.0.N / fd00:53::N
MAIL_HOSTS=(10 11 98 99)   # 10.25.0.N / fd00:25::N
{
  echo "link set lo up"
  for n in "${DNS_HOSTS[@]}"; do
    echo "addr add 10.53.0.$n/32 dev lo"
    echo "addr add fd00:53::$n/128 dev lo nodad"
  done
  for n in "${MAIL_HOSTS[@]}"; do
    echo "addr add 10.25.0.$n/32 dev lo"
    echo "addr add fd00:25::$n/128 dev lo nodad"
  done
  echo "route add local 10.53.0.0/24 dev lo table local"
  echo "route add local 10.25.0.0/16 dev lo table local"
  echo "route add local fd00:53::/64 dev lo table local"
  echo "route add local fd00:25::/64 dev lo table local"
} >"$LAB_DIR/ip.batch"
ip -netns "$NS" -batch "$LAB_DIR/ip.batch"

# The namespace's resolver: ip netns exec bind-mounts this over /etc/resolv.conf.
mkdir -p "/etc/netns/$NS"
cat >"/etc/netns/$NS/resolv.conf" <<EOF
# mailsift mail lab '$NAME': dnsmasq inside the namespace (see $HERE/README.md)
nameserver 10.53.0.1
options timeout:2 attempts:2
EOF

# --- fakesrv: SERVFAIL, REFUSED and silent DNS servers, a silent SMTP server ----------
ip netns exec "$NS" "$PYTHON" "$HERE/fakesrv.py" \
  --dns 10.53.0.2:53:servfail --dns '[fd00:53::2]:53:servfail' \
  --dns 10.53.0.4:53:refused --dns '[fd00:53::4]:53:refused' \
  --dns 10.53.0.5:53:drop --dns '[fd00:53::5]:53:drop' \
  --silent 10.25.0.98:25 --silent '[fd00:25::98]:25' \
  >"$LAB_DIR/fakesrv.log" 2>&1 </dev/null &
record $! fakesrv

# --- knot: authoritative for the lab zones on 10.53.0.3 ---------------------------------
mkdir -p "$LAB_DIR/knot/run" "$LAB_DIR/knot/db" "$LAB_DIR/knot/zones"
render "$HERE/conf/knot.conf.in" "$LAB_DIR/knot/knot.conf"
cp "$HERE"/zones/*.zone "$LAB_DIR/knot/zones/"
"$PYTHON" "$HERE/gen-bench-zone.py" "$BENCH_COUNT" >"$LAB_DIR/knot/zones/bench.mailsift-lab.net.zone"
"$PYTHON" "$HERE/gen-bench-zone.py" --queries "$BENCH_COUNT" >"$LAB_DIR/bench-queries.txt"
knotc -c "$LAB_DIR/knot/knot.conf" conf-check >/dev/null
ip netns exec "$NS" knotd -c "$LAB_DIR/knot/knot.conf" >>"$LAB_DIR/knot/knot.log" 2>&1 </dev/null &
record $! knotd

# --- dnsmasq: the resolver named in resolv.conf, on 10.53.0.1 ------------------------------
mkdir -p "$LAB_DIR/dnsmasq"
render "$HERE/conf/dnsmasq.conf.in" "$LAB_DIR/dnsmasq/dnsmasq.conf"
if [ "${LAB_LOG_QUERIES:-0}" = 1 ]; then echo log-queries >>"$LAB_DIR/dnsmasq/dnsmasq.conf"; fi
ip netns exec "$NS" dnsmasq --conf-file="$LAB_DIR/dnsmasq/dnsmasq.conf" --keep-in-foreground \
  >"$LAB_DIR/dnsmasq/stdout.log" 2>&1 </dev/null &
record $! dnsmasq

# --- postgrey: greylisting policy server for postfix, 127.0.0.1:10023 in the namespace --
mkdir -p "$LAB_DIR/postgrey/db"
chown postgrey:postgrey "$LAB_DIR/postgrey/db" 2>/dev/null || chmod 777 "$LAB_DIR/postgrey/db"
: >"$LAB_DIR/postgrey/empty"
ip netns exec "$NS" postgrey --inet=127.0.0.1:10023 --dbdir="$LAB_DIR/postgrey/db" \
  --delay="$GREYLIST_DELAY" --auto-whitelist-clients=0 --lookup-by-host \
  --whitelist-clients="$LAB_DIR/postgrey/empty" --whitelist-recipients="$LAB_DIR/postgrey/empty" \
  --hostname=smtp1.mailsift-lab.net \
  >"$LAB_DIR/postgrey/postgrey.log" 2>&1 </dev/null &
record $! postgrey

# --- postfix: its own instance, receiving only ----------------------------------------------
PF=$LAB_DIR/postfix
mkdir -p "$PF/etc" "$PF/queue" "$PF/data" "$LAB_DIR/tls"
render "$HERE/conf/postfix-main.cf.in" "$PF/etc/main.cf"
render "$HERE/conf/postfix-master.cf.in" "$PF/etc/master.cf"
cp "$HERE"/postfix/virtual_domains "$HERE"/postfix/virtual_mailboxes \
   "$HERE"/postfix/recipient_access "$HERE"/postfix/greylist_domains "$PF/etc/"
chown postfix "$PF/data"
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=smtp-tls.mailsift-lab.net" \
  -addext "subjectAltName=DNS:smtp-tls.mailsift-lab.net,DNS:smtp1.mailsift-lab.net,IP:10.25.0.11,IP:fd00:25::11,IP:10.25.0.10,IP:fd00:25::10" \
  -keyout "$LAB_DIR/tls/key.pem" -out "$LAB_DIR/tls/cert.pem" >/dev/null 2>&1
chmod 600 "$LAB_DIR/tls/key.pem"
# The queue directories, as "postfix check" would make them; quick-start then
# skips postfix-script's slow integrity checks (seconds) on this fresh queue.
for d in active bounce corrupt defer deferred flush hold incoming private saved trace; do
  install -d -o postfix -g root -m 700 "$PF/queue/$d"
done
install -d -o postfix -g postdrop -m 1730 "$PF/queue/maildrop"
install -d -o postfix -g postdrop -m 2710 "$PF/queue/public"
install -d -o root -g root -m 755 "$PF/queue/pid"
touch "$PF/queue/quick-start"
nsx postfix -c "$PF/etc" start >"$PF/start.log" 2>&1 </dev/null
master_pid=$(tr -d ' ' <"$PF/queue/pid/master.pid")
record "$master_pid" postfix-master

# --- wait until everything answers ------------------------------------------------------------
# Polls COMMAND every 0.1 s for up to 20 s.
wait_for() {
  local what=$1 i
  shift
  for ((i = 0; i < 200; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "up.sh: $what did not come up" >&2
  return 1
}
dns_ok() { nsx kdig +time=1 +retry=0 "@$1" SOA "$2" | grep -q 'status: NOERROR'; }
tcp_ok() { nsx "$PYTHON" -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1).close()' "$1" "$2"; }
smtp_ok() { nsx "$PYTHON" -c 'import socket,sys; s=socket.create_connection((sys.argv[1],25),2); s.settimeout(2); assert s.recv(100).startswith(b"220")' "$1"; }
wait_for "knot (mailsift-lab.net)" dns_ok 10.53.0.3 mailsift-lab.net
wait_for "knot (bench zone)" dns_ok 10.53.0.3 bench.mailsift-lab.net
wait_for "dnsmasq" dns_ok 10.53.0.1 mailsift-lab.net
wait_for "fakesrv" grep -q ready "$LAB_DIR/fakesrv.log"
wait_for "postgrey" tcp_ok 127.0.0.1 10023
wait_for "postfix 10.25.0.10" smtp_ok 10.25.0.10
wait_for "postfix 10.25.0.11" smtp_ok 10.25.0.11
wait_for "postfix fd00:25::10" smtp_ok fd00:25::10

trap - ERR

# --- facts for tests and benchmarks -----------------------------------------------------------
cat >"$LAB_DIR/lab.env" <<EOF
# mailsift mail lab '$NAME' — source this file. Run clients with: ip netns exec \$LAB_NS ...
LAB_NS=$NS
LAB_DIR=$LAB_DIR
LAB_ZONE=mailsift-lab.net
LAB_DNS=10.53.0.1
LAB_DNS6=fd00:53::1
LAB_KNOT=10.53.0.3
LAB_KNOT6=fd00:53::3
LAB_DNS_SERVFAIL=10.53.0.2
LAB_DNS_REFUSED=10.53.0.4
LAB_DNS_TIMEOUT=10.53.0.5
LAB_POSTFIX=10.25.0.10
LAB_POSTFIX6=fd00:25::10
LAB_POSTFIX_TLS=10.25.0.11
LAB_POSTFIX_TLS6=fd00:25::11
LAB_SMTP_SILENT=10.25.0.98
LAB_SMTP_REFUSED=10.25.0.99
LAB_POSTGREY=127.0.0.1:10023
LAB_GREYLIST_DELAY=$GREYLIST_DELAY
LAB_TLS_CERT=$LAB_DIR/tls/cert.pem
LAB_BENCH_ZONE=bench.mailsift-lab.net
LAB_BENCH_COUNT=$BENCH_COUNT
LAB_BENCH_QUERIES=$LAB_DIR/bench-queries.txt
LAB_PIDS=$LAB_DIR/pids
EOF

elapsed_ms=$((($(date +%s%N) - started) / 1000000))
cat <<EOF
mail lab '$NAME' is up in $((elapsed_ms / 1000)).$(printf '%03d' $((elapsed_ms % 1000))) s
  namespace   $NS                 run clients with: ip netns exec $NS <command>
  resolver    10.53.0.1 [fd00:53::1]:53   dnsmasq (/etc/netns/$NS/resolv.conf)
  knot        10.53.0.3 [fd00:53::3]:53   authoritative: mailsift-lab.net,
                                          xn--bcher-kva.mailsift-lab.net, rhsbl.mailsift-lab.net,
                                          bench.mailsift-lab.net ($BENCH_COUNT domains)
  bad DNS     10.53.0.2 SERVFAIL, 10.53.0.4 REFUSED, 10.53.0.5 no answer
  postfix     10.25.0.10 [fd00:25::10]:25 smtp1 (mailbox, catchall, greylist, ...)
              10.25.0.11 [fd00:25::11]:25 smtp-tls (STARTTLS required)
  smtp stubs  10.25.0.98:25 silent (never greets), 10.25.0.99:25 refused
  postgrey    127.0.0.1:10023 (in the namespace), delay ${GREYLIST_DELAY}s
  LAB_DIR     $LAB_DIR   (facts: $LAB_DIR/lab.env)
  stop with   $HERE/down.sh $NAME
EOF
