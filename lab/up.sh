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
# LAB_LOG_QUERIES=1 makes dnsmasq log every query to $LAB_DIR/dnsmasq/dnsmasq.log;
# LAB_SINK=0 skips the smtp-sink farm (namespace NAME-sink), LAB_SINK_DOMAINS
# (default 1000) and LAB_SINK_HOSTS (default 200) size its zone.
set -euo pipefail

NAME=${1:-mslab}
if ! [[ $NAME =~ ^[A-Za-z0-9_-]{1,32}$ ]]; then
  echo "up.sh: bad lab name '$NAME' (letters, digits, _ and - only)" >&2
  exit 2
fi
if [[ $NAME == *-sink ]]; then
  echo "up.sh: bad lab name '$NAME': NAME-sink is the name of a lab's smtp-sink namespace" >&2
  exit 2
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_DIR=${LAB_DIR:-/tmp/mailsift-lab-$NAME}
BENCH_COUNT=${LAB_BENCH_COUNT:-10000}
GREYLIST_DELAY=${LAB_GREYLIST_DELAY:-5}
SINK=${LAB_SINK:-1}
SINK_DOMAINS=${LAB_SINK_DOMAINS:-1000}
SINK_HOSTS=${LAB_SINK_HOSTS:-200}
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)

if [ "$(id -u)" -ne 0 ]; then
  echo "up.sh: must run as root (network namespaces, port 25 and 53)" >&2
  exit 1
fi
for cmd in ip knotd knotc kdig dnsmasq postfix postconf postgrey openssl danted smtp-sink ss useradd chpasswd; do
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
           "$LAB_DIR"/postgrey/postgrey.log "$LAB_DIR"/postfix/maillog "$LAB_DIR"/postfix/start.log \
           "$LAB_DIR"/socks/danted.log "$LAB_DIR"/socks/danted-auth.log "$LAB_DIR"/sink/smtp-sink.log; do
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
MAIL_HOSTS=(10 11 12 13 14 98 99 200 201)   # 10.25.0.N / fd00:25::N (200, 201: the SOCKS5 proxies)
# Extra client addresses for --source-ip tests: nothing listens on them.
SOURCE_IPS=(10.99.0.1 10.99.0.2 fd00:99::1 fd00:99::2)
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
  for a in "${SOURCE_IPS[@]}"; do
    if [[ $a == *:* ]]; then echo "addr add $a/128 dev lo nodad"; else echo "addr add $a/32 dev lo"; fi
  done
  echo "route add local 10.53.0.0/24 dev lo table local"
  echo "route add local 10.25.0.0/16 dev lo table local"
  echo "route add local fd00:53::/64 dev lo table local"
  echo "route add local fd00:25::/64 dev lo table local"
} >"$LAB_DIR/ip.batch"
ip -netns "$NS" -batch "$LAB_DIR/ip.batch"
# Benchmarks open tens of thousands of sessions a minute from one client address
# to one server address: more ephemeral ports, and reuse of TIME_WAIT ones (the
# namespace's own settings; the host's are untouched).
ip netns exec "$NS" sysctl -q -w net.ipv4.ip_local_port_range="10240 65000" net.ipv4.tcp_tw_reuse=1

# --- the smtp-sink farm's namespace (LAB_SINK=1, the default) ------------------------
# A second namespace, NAME-sink, joined to the lab's by one veth pair (sink0 in
# the lab, lab0 in the sink; 10.27.0.1/30 <-> 10.27.0.2/30) and to nothing else.
# All of 10.26.0.0/16 is local there, so one smtp-sink on 0.0.0.0:25 answers for
# every one of those addresses; the lab routes 10.26.0.0/16 over the veth.
SINK_NS=$NAME-sink
if [ "$SINK" = 1 ]; then
  ip netns add "$SINK_NS"
  ip link add sink0 netns "$NS" type veth peer name lab0 netns "$SINK_NS"
  ip -netns "$NS" -batch - <<EOF
addr add 10.27.0.1/30 dev sink0
link set sink0 up
route add 10.26.0.0/16 via 10.27.0.2 dev sink0
EOF
  ip -netns "$SINK_NS" -batch - <<EOF
link set lo up
addr add 10.27.0.2/30 dev lab0
link set lab0 up
route add local 10.26.0.0/16 dev lo table local
route add default via 10.27.0.1 dev lab0
EOF
fi

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
  --smtp 10.25.0.13:25:nonull --smtp 10.25.0.14:25:callout \
  >"$LAB_DIR/fakesrv.log" 2>&1 </dev/null &
record $! fakesrv

# --- knot: authoritative for the lab zones on 10.53.0.3 ---------------------------------
mkdir -p "$LAB_DIR/knot/run" "$LAB_DIR/knot/db" "$LAB_DIR/knot/zones"
render "$HERE/conf/knot.conf.in" "$LAB_DIR/knot/knot.conf"
cp "$HERE"/zones/*.zone "$LAB_DIR/knot/zones/"
"$PYTHON" "$HERE/gen-bench-zone.py" "$BENCH_COUNT" >"$LAB_DIR/knot/zones/bench.mailsift-lab.net.zone"
"$PYTHON" "$HERE/gen-bench-zone.py" --queries "$BENCH_COUNT" >"$LAB_DIR/bench-queries.txt"
"$PYTHON" "$HERE/gen-sink-zone.py" "$SINK_DOMAINS" "$SINK_HOSTS" >"$LAB_DIR/knot/zones/sink.mailsift-lab.net.zone"
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
# It states the seconds left ("Greylisted for 5 seconds, see ..."), as many real greylisters do:
# mailsift waits that long before retrying (src/smtp/retry_hint.hpp).
mkdir -p "$LAB_DIR/postgrey/db"
chown postgrey:postgrey "$LAB_DIR/postgrey/db" 2>/dev/null || chmod 777 "$LAB_DIR/postgrey/db"
: >"$LAB_DIR/postgrey/empty"
ip netns exec "$NS" postgrey --inet=127.0.0.1:10023 --dbdir="$LAB_DIR/postgrey/db" \
  --delay="$GREYLIST_DELAY" --auto-whitelist-clients=0 --lookup-by-host \
  --whitelist-clients="$LAB_DIR/postgrey/empty" --whitelist-recipients="$LAB_DIR/postgrey/empty" \
  --hostname=smtp1.mailsift-lab.net \
  --greylist-text="Greylisted for %s seconds, see http://postgrey.schweikert.ch/help/%r.html" \
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

# --- SOCKS5: two dante instances, 10.25.0.200 (no auth) and 10.25.0.201 (RFC 1929) ------
# The second checks username/password with Dante's `username` method, i.e.
# against the system password file: that needs a system user. up.sh makes a
# dedicated one, once (it stays, shared by every lab): mailsift-lab, no home,
# shell nologin, the fixed password below, and the account expired since 1970,
# so that nothing that checks the account (login, su, sshd, cron) lets it in;
# Dante checks only the password. A wrong password then fails at the RFC 1929
# step (status 1), as with real proxies. (PAM instead: pam_exec fails in danted,
# which reaps its children itself; pam_userdb needs db_load; and Dante defers
# every PAM failure to the CONNECT reply, "not allowed by ruleset".)
SOCKS_USER=mailsift-lab
SOCKS_PASS=lab-socks-secret
if ! getent passwd "$SOCKS_USER" >/dev/null; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
    --comment "mailsift mail lab SOCKS5 test user (lab/up.sh)" "$SOCKS_USER"
fi
if [ "$(getent passwd "$SOCKS_USER" | cut -d: -f7)" != /usr/sbin/nologin ]; then
  echo "up.sh: user $SOCKS_USER exists but is not the lab's (shell is not nologin): not touching it" >&2
  false
fi
echo "$SOCKS_USER:$SOCKS_PASS" | chpasswd
[ "$(getent shadow "$SOCKS_USER" | cut -d: -f8)" = 1 ] || usermod --expiredate 1 "$SOCKS_USER"
mkdir -p "$LAB_DIR/socks"
render "$HERE/conf/danted.conf.in" "$LAB_DIR/socks/danted.conf"
render "$HERE/conf/danted-auth.conf.in" "$LAB_DIR/socks/danted-auth.conf"
ip netns exec "$NS" danted -f "$LAB_DIR/socks/danted.conf" -p "$LAB_DIR/socks/danted.pid" \
  >"$LAB_DIR/socks/stdout.log" 2>&1 </dev/null &
record $! danted
ip netns exec "$NS" danted -f "$LAB_DIR/socks/danted-auth.conf" -p "$LAB_DIR/socks/danted-auth.pid" \
  >"$LAB_DIR/socks/stdout-auth.log" 2>&1 </dev/null &
record $! danted-auth

# --- smtp-sink: accepts every command, answers for all of 10.26.0.0/16 -------------------
# -a no AUTH, -C no XCLIENT, -F no XFORWARD (PIPELINING, 8BITMIME, DSN,
# ENHANCEDSTATUSCODES are announced; smtp-sink has no STARTTLS at all);
# -m: as many sessions at once as the open-file limit allows (raised to the hard
# limit, at most 65536); -t 30: command timeout; backlog 4096.
if [ "$SINK" = 1 ]; then
  mkdir -p "$LAB_DIR/sink"
  nofile=$(ulimit -Hn)
  if [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ]; then nofile=65536; fi
  SINK_MAXCONN=$((nofile - 64))
  (ulimit -Sn "$nofile" && exec ip netns exec "$SINK_NS" smtp-sink -4 -a -C -F -u nobody -m "$SINK_MAXCONN" -t 30 \
     -h sink.mailsift-lab.net 0.0.0.0:25 4096 >"$LAB_DIR/sink/smtp-sink.log" 2>&1 </dev/null) &
  record $! smtp-sink
  # The slow sink, port 2525 of the same addresses: waits 2 s before answering each RCPT, like a
  # busy real server, so sessions stay open and "sessions in flight" can be measured.
  (ulimit -Sn "$nofile" && exec ip netns exec "$SINK_NS" smtp-sink -4 -a -C -F -u nobody -m "$SINK_MAXCONN" -t 30 \
     -W RCPT:2 -h slow.sink.mailsift-lab.net 0.0.0.0:2525 4096 >"$LAB_DIR/sink/smtp-sink-slow.log" 2>&1 </dev/null) &
  record $! smtp-sink-slow
fi

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
wait_for "postfix 10.25.0.12" smtp_ok 10.25.0.12
wait_for "fakesrv smtp 10.25.0.13" smtp_ok 10.25.0.13
wait_for "fakesrv smtp 10.25.0.14" smtp_ok 10.25.0.14
wait_for "postfix fd00:25::10" smtp_ok fd00:25::10
wait_for "danted 10.25.0.200" tcp_ok 10.25.0.200 1080
wait_for "danted 10.25.0.201" tcp_ok 10.25.0.201 1080
wait_for "knot (sink zone)" dns_ok 10.53.0.3 sink.mailsift-lab.net
if [ "$SINK" = 1 ]; then
  wait_for "smtp-sink 10.26.0.1" smtp_ok 10.26.0.1
fi

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
LAB_POSTFIX_STRICT=10.25.0.12
LAB_SMTP_NONULL=10.25.0.13
LAB_SMTP_CALLOUT=10.25.0.14
LAB_SMTP_SILENT=10.25.0.98
LAB_SMTP_REFUSED=10.25.0.99
LAB_POSTGREY=127.0.0.1:10023
LAB_GREYLIST_DELAY=$GREYLIST_DELAY
LAB_TLS_CERT=$LAB_DIR/tls/cert.pem
LAB_BENCH_ZONE=bench.mailsift-lab.net
LAB_BENCH_COUNT=$BENCH_COUNT
LAB_BENCH_QUERIES=$LAB_DIR/bench-queries.txt
LAB_PIDS=$LAB_DIR/pids
LAB_SOCKS=10.25.0.200:1080
LAB_SOCKS6=[fd00:25::200]:1080
LAB_SOCKS_AUTH=10.25.0.201:1080
LAB_SOCKS_AUTH6=[fd00:25::201]:1080
LAB_SOCKS_USER=$SOCKS_USER
LAB_SOCKS_PASS=$SOCKS_PASS
LAB_SOURCE_IPS=$(IFS=,; echo "${SOURCE_IPS[*]}")
LAB_SINK_ZONE=sink.mailsift-lab.net
LAB_SINK_DOMAINS=$SINK_DOMAINS
LAB_SINK_HOSTS=$SINK_HOSTS
EOF
if [ "$SINK" = 1 ]; then
  cat >>"$LAB_DIR/lab.env" <<EOF
LAB_SINK_NS=$SINK_NS
LAB_SINK_NET=10.26.0.0/16
LAB_SINK_ADDR=10.26.0.1
LAB_SINK_MAXCONN=$SINK_MAXCONN
EOF
fi

elapsed_ms=$((($(date +%s%N) - started) / 1000000))
cat <<EOF
mail lab '$NAME' is up in $((elapsed_ms / 1000)).$(printf '%03d' $((elapsed_ms % 1000))) s
  namespace   $NS                 run clients with: ip netns exec $NS <command>
  resolver    10.53.0.1 [fd00:53::1]:53   dnsmasq (/etc/netns/$NS/resolv.conf)
  knot        10.53.0.3 [fd00:53::3]:53   authoritative: mailsift-lab.net,
                                          xn--bcher-kva.mailsift-lab.net, rhsbl.mailsift-lab.net,
                                          bench.mailsift-lab.net ($BENCH_COUNT domains),
                                          sink.mailsift-lab.net ($SINK_DOMAINS domains)
  bad DNS     10.53.0.2 SERVFAIL, 10.53.0.4 REFUSED, 10.53.0.5 no answer
  postfix     10.25.0.10 [fd00:25::10]:25 smtp1 (mailbox, catchall, greylist, ...)
              10.25.0.11 [fd00:25::11]:25 smtp-tls (STARTTLS required)
              10.25.0.12:25 smtp-strict (reject_non_fqdn_sender, reject_unknown_sender_domain)
  smtp stubs  10.25.0.98:25 silent (never greets), 10.25.0.99:25 refused,
              10.25.0.13:25 refuses MAIL FROM:<>, 10.25.0.14:25 sender callout
  postgrey    127.0.0.1:10023 (in the namespace), delay ${GREYLIST_DELAY}s
  socks5      10.25.0.200:1080 no auth, 10.25.0.201:1080 user $SOCKS_USER / $SOCKS_PASS (dante)
  source IPs  ${SOURCE_IPS[*]} (on lo, for --source-ip)
EOF
if [ "$SINK" = 1 ]; then
  cat <<EOF
  smtp-sink   all of 10.26.0.0/16:25, namespace $SINK_NS; zone sink.mailsift-lab.net:
              $SINK_DOMAINS domains sNNNNN -> MX $SINK_HOSTS hosts mxNNN (10.26.x.y)
EOF
fi
cat <<EOF
  LAB_DIR     $LAB_DIR   (facts: $LAB_DIR/lab.env)
  stop with   $HERE/down.sh $NAME
EOF
