#!/usr/bin/env bash
# Checks that the mail lab does what lab/README.md says: every DNS case with
# kdig, every Postfix behaviour with a short SMTP dialogue (EHLO, MAIL, RCPT,
# QUIT; never DATA), all from inside the lab's namespace.
#
#   sudo lab/selftest.sh [NAME]     NAME defaults to mslab
#
# Uses the lab NAME if it is running, else starts it and tears it down on exit
# (even on failure). Prints "N passed, N failed"; exits 1 if anything failed.
# LAB_KEEP=1 keeps a lab that selftest started.
set -euo pipefail

NAME=${1:-mslab}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)

if [ "$(id -u)" -ne 0 ]; then
  echo "selftest.sh: must run as root" >&2
  exit 1
fi

started_lab=0
teardown() {
  local rc=$?
  if [ "$started_lab" -eq 1 ] && [ "${LAB_KEEP:-0}" != 1 ]; then
    "$HERE/down.sh" "$NAME" || rc=1
  fi
  exit "$rc"
}
trap teardown EXIT

lab_dir=${LAB_DIR:-}
if [ -z "$lab_dir" ] && [ -s "/run/mailsift-lab/$NAME" ]; then lab_dir=$(cat "/run/mailsift-lab/$NAME"); fi
lab_dir=${lab_dir:-/tmp/mailsift-lab-$NAME}
if [ -e "/run/netns/$NAME" ] && [ -f "$lab_dir/lab.env" ]; then
  echo "selftest: using the running lab '$NAME' ($lab_dir)"
else
  started_lab=1
  "$HERE/up.sh" "$NAME"
fi
# shellcheck source=/dev/null
. "$lab_dir/lab.env"

passed=0
failed=0
ok() { passed=$((passed + 1)); printf 'ok    %s\n' "$1"; }
bad() { failed=$((failed + 1)); printf 'FAIL  %s\n      expected: %s\n      got:      %s\n' "$1" "$2" "$3"; }
# expect DESCRIPTION EXPECTED ACTUAL
expect() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "$2" "$3"; fi; }
# expect_prefix DESCRIPTION PREFIX ACTUAL
expect_prefix() { if [[ $3 == "$2"* ]]; then ok "$1 -> $3"; else bad "$1" "$2..." "$3"; fi; }

nsx() { ip netns exec "$LAB_NS" "$@"; }
# DNS through the namespace's resolv.conf, as any program there sees it.
# status TYPE NAME [@SERVER]: the RCODE, or "TIMEOUT"
status() {
  local out
  out=$(nsx kdig +noidn +time=1 +retry=0 "$@" 2>&1 || true)
  if [[ $out =~ status:\ ([A-Z]+) ]]; then echo "${BASH_REMATCH[1]}"; else echo TIMEOUT; fi
}
# answer TYPE NAME [@SERVER]: the answer's data, sorted, one line
answer() { nsx kdig +noidn +short +time=1 +retry=0 "$@" 2>/dev/null | sort | paste -sd' ' - || true; }
# flags TYPE NAME @SERVER: the header flags
flags() { nsx kdig +noidn +time=1 +retry=0 "$@" 2>/dev/null | sed -n 's/^;; Flags: \([a-z ]*\).*/\1/p' | xargs || true; }

Z=mailsift-lab.net
echo "== DNS (resolver $LAB_DNS from /etc/netns/$LAB_NS/resolv.conf)"
expect "resolv.conf names the lab resolver" "nameserver $LAB_DNS" "$(nsx grep '^nameserver' /etc/resolv.conf)"
expect "mx-order: MX in preference order" \
  "10 mx1.mx-order.$Z. 20 mx2.mx-order.$Z. 30 mx3.mx-order.$Z. 40 mx4a.mx-order.$Z. 40 mx4b.mx-order.$Z." \
  "$(answer MX mx-order.$Z)"
expect "mx-order: exchanges have A" "10.25.0.21 10.25.0.22 10.25.0.23 10.25.0.24 10.25.0.25" \
  "$(for h in mx1 mx2 mx3 mx4a mx4b; do answer A $h.mx-order.$Z; done | paste -sd' ' -)"
expect "mx-order: exchanges have AAAA" "fd00:25::21 fd00:25::25" \
  "$(answer AAAA mx1.mx-order.$Z) $(answer AAAA mx4b.mx-order.$Z)"
expect "implicit-mx: no MX (NOERROR, empty)" "NOERROR/" "$(status MX implicit-mx.$Z)/$(answer MX implicit-mx.$Z)"
expect "implicit-mx: A and AAAA" "10.25.0.30 fd00:25::30" "$(answer A implicit-mx.$Z) $(answer AAAA implicit-mx.$Z)"
expect "null-mx: MX 0 ." "0 ." "$(answer MX null-mx.$Z)"
expect "nope: NXDOMAIN" "NXDOMAIN" "$(status MX nope.$Z)"
expect "no-mail: exists, no MX/A/AAAA" "NOERROR/// \"exists, but no MX and no address\"" \
  "$(status MX no-mail.$Z)/$(answer MX no-mail.$Z)/$(answer A no-mail.$Z)/$(answer AAAA no-mail.$Z) $(answer TXT no-mail.$Z)"
expect "servfail: SERVFAIL" "SERVFAIL" "$(status MX servfail.$Z)"
expect "refused: REFUSED" "REFUSED" "$(status MX refused.$Z)"
expect "timeout: no answer" "TIMEOUT" "$(status MX timeout.$Z)"
expect "mx-noaddr: exchange exists without addresses" "10 host.mx-noaddr.$Z./NOERROR//" \
  "$(answer MX mx-noaddr.$Z)/$(status A host.mx-noaddr.$Z)/$(answer A host.mx-noaddr.$Z)/$(answer AAAA host.mx-noaddr.$Z)"
expect "mx-nxtarget: exchange is NXDOMAIN" "10 nowhere.mx-nxtarget.$Z./NXDOMAIN" \
  "$(answer MX mx-nxtarget.$Z)/$(status A nowhere.mx-nxtarget.$Z)"
expect "mx-ipliteral: exchange is the name 10.25.0.5." "10 10.25.0.5./NXDOMAIN" \
  "$(answer MX mx-ipliteral.$Z)/$(status A 10.25.0.5.)"
expect "mx-cname: exchange is a CNAME" "10 alias.mx-cname.$Z./smtp1.$Z./10.25.0.10" \
  "$(answer MX mx-cname.$Z)/$(answer CNAME alias.mx-cname.$Z)/$(nsx kdig +short A alias.mx-cname.$Z | tail -n1)"
expect "IDN: MX xn--bcher-kva (bücher)" "10 mx.xn--bcher-kva.$Z./10.25.0.10" \
  "$(answer MX xn--bcher-kva.$Z)/$(answer A mx.xn--bcher-kva.$Z)"
expect "spf-reject-all: v=spf1 -all, no MX" "\"v=spf1 -all\"//10.25.0.31" \
  "$(answer TXT spf-reject-all.$Z)/$(answer MX spf-reject-all.$Z)/$(answer A spf-reject-all.$Z)"
expect "dmarc-reject: SPF ~all and DMARC p=reject" \
  "\"v=spf1 ip4:10.25.0.0/16 ~all\" \"v=DMARC1; p=reject; rua=mailto:dmarc@dmarc-reject.$Z\"" \
  "$(answer TXT dmarc-reject.$Z) $(answer TXT _dmarc.dmarc-reject.$Z)"
expect "dmarc-none: DMARC p=none" "\"v=DMARC1; p=none\"" "$(answer TXT _dmarc.dmarc-none.$Z)"
expect "unsafe-loopback: 127.0.0.1 ::1" "127.0.0.1 ::1" "$(answer A mx.unsafe-loopback.$Z) $(answer AAAA mx.unsafe-loopback.$Z)"
expect "unsafe-linklocal: 169.254.1.1 fe80::1" "169.254.1.1 fe80::1" \
  "$(answer A mx.unsafe-linklocal.$Z) $(answer AAAA mx.unsafe-linklocal.$Z)"
expect "unsafe-private: 192.168.1.1" "192.168.1.1" "$(answer A mx.unsafe-private.$Z)"
expect "unsafe-mixed: loopback first, then smtp1" "10 mx.unsafe-loopback.$Z. 20 smtp1.$Z." "$(answer MX unsafe-mixed.$Z)"
expect "mail domains: MX" \
  "10 smtp1.$Z.|10 smtp1.$Z.|10 smtp1.$Z.|10 smtp-tls.$Z.|10 dead.$Z. 20 smtp1.$Z.|10 silent.$Z. 20 smtp1.$Z." \
  "$(for d in mailbox catchall greylist tls dead-primary tarpit; do answer MX $d.$Z; done | paste -sd'|' -)"
expect "rhsbl: listed-domain.com listed" "127.0.0.2 \"listed-domain.com is listed in the mailsift lab RHSBL (test entry)\"" \
  "$(answer A listed-domain.com.rhsbl.$Z) $(answer TXT listed-domain.com.rhsbl.$Z)"
expect "rhsbl: other domains not listed" "NXDOMAIN" "$(status A example.org.rhsbl.$Z)"
last=$(printf 'd%05d' $((LAB_BENCH_COUNT - 1)))
expect "bench zone: first and last domain" "10 mx.d00000.bench.$Z./10.25.128.0/10 mx.$last.bench.$Z." \
  "$(answer MX d00000.bench.$Z)/$(answer A mx.d00000.bench.$Z)/$(answer MX "$last.bench.$Z")"
expect "bench zone: past the last domain" "NXDOMAIN" "$(status MX "d$((LAB_BENCH_COUNT + 1)).bench.$Z")"
expect "knot answers authoritatively (aa)" "qr aa rd" "$(flags MX mx-order.$Z "@$LAB_KNOT")"
expect "knot over IPv6" "0 ." "$(answer MX null-mx.$Z "@$LAB_KNOT6")"
expect "resolver over IPv6" "0 ." "$(answer MX null-mx.$Z "@$LAB_DNS6")"
expect "resolver over TCP" "0 ." "$(answer +tcp MX null-mx.$Z)"
expect "names outside the lab: NXDOMAIN, never forwarded" "NXDOMAIN" "$(status A example.com)"
expect "glibc resolves through the lab (getent)" "10.25.0.10" \
  "$(nsx getent ahostsv4 smtp1.$Z | awk 'NR==1{print $1}' || true)"
perf=$(nsx dnsperf -s "$LAB_KNOT" -d "$LAB_BENCH_QUERIES" -n 1 -l 5 -c 4 -q 100 2>&1 || true)
expect "dnsperf: bench queries all answered NOERROR" "$LAB_BENCH_COUNT/$LAB_BENCH_COUNT" \
  "$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' <<<"$perf")/$(sed -n 's/^ *Response codes: *NOERROR \([0-9]*\) .*/\1/p' <<<"$perf")"

echo "== SMTP (postfix $LAB_POSTFIX, TLS-only $LAB_POSTFIX_TLS; EHLO, MAIL, RCPT, QUIT; no DATA)"
smtp() { nsx "$PYTHON" "$HERE/smtpcheck.py" "$@" || true; }
M=mailbox.$Z
expect_prefix "alice@mailbox: accepted" "250 2.1.5" "$(smtp "$LAB_POSTFIX" alice@$M)"
expect_prefix "bob@mailbox over IPv6: accepted" "250 2.1.5" "$(smtp "$LAB_POSTFIX6" bob@$M)"
expect_prefix "unknown@mailbox: user unknown" "550 5.1.1" "$(smtp "$LAB_POSTFIX" nobody-here@$M)"
expect_prefix "full@mailbox: mailbox full (temporary)" "452 4.2.2" "$(smtp "$LAB_POSTFIX" full@$M)"
expect_prefix "quota@mailbox: over quota" "552 5.2.2" "$(smtp "$LAB_POSTFIX" quota@$M)"
expect_prefix "disabled@mailbox: mailbox disabled" "550 5.2.1" "$(smtp "$LAB_POSTFIX" disabled@$M)"
expect_prefix "blocked@mailbox: blocklisted" "554 5.7.1" "$(smtp "$LAB_POSTFIX" blocked@$M)"
expect_prefix "catchall: random local part accepted" "250 2.1.5" \
  "$(smtp "$LAB_POSTFIX" "x$RANDOM$RANDOM@catchall.$Z")"
expect_prefix "IDN domain (catch-all)" "250 2.1.5" "$(smtp "$LAB_POSTFIX" someone@xn--bcher-kva.$Z)"
expect_prefix "other domains: relay denied" "554 5.7.1" "$(smtp "$LAB_POSTFIX" someone@example.com)"
grey_from="selftest$RANDOM@$Z"
grey_first=$(smtp "$LAB_POSTFIX" alice@greylist.$Z --from "$grey_from")
expect_prefix "greylist: first try deferred" "450 4.2.0" "$grey_first"
expect "greylist: the reply states the delay" "Greylisted for ${LAB_GREYLIST_DELAY} seconds" \
  "$(grep -o 'Greylisted for [0-9]* seconds' <<<"$grey_first")"
expect_prefix "greylist: unknown user still rejected" "550 5.1.1" "$(smtp "$LAB_POSTFIX" nobody@greylist.$Z)"
grey_all="x$RANDOM$RANDOM@greylist-all.$Z"
expect_prefix "greylist-all: any new address deferred" "450 4.2.0" "$(smtp "$LAB_POSTFIX" "$grey_all" --from "$grey_from")"
expect_prefix "tls: MAIL without STARTTLS refused" "530 5.7.0" "$(smtp "$LAB_POSTFIX_TLS" alice@tls.$Z)"
expect_prefix "tls: STARTTLS (verified), then accepted" "250 2.1.5" \
  "$(smtp "$LAB_POSTFIX_TLS" alice@tls.$Z --starttls --cafile "$LAB_TLS_CERT" --servername smtp-tls.$Z)"
expect_prefix "tls over IPv6: STARTTLS, then unknown user" "550 5.1.1" \
  "$(smtp "$LAB_POSTFIX_TLS6" nobody@tls.$Z --starttls)"
expect_prefix "dead-primary: MX 10 refuses connections" "ERR ConnectionRefusedError" \
  "$(smtp "$LAB_SMTP_REFUSED" alice@dead-primary.$Z)"
expect_prefix "dead-primary: MX 20 accepts" "250 2.1.5" "$(smtp "$LAB_POSTFIX" alice@dead-primary.$Z)"
expect_prefix "tarpit: MX 10 never greets" "ERR" "$(smtp "$LAB_SMTP_SILENT" alice@tarpit.$Z --timeout 1)"
expect_prefix "mx-order hosts: nothing listens" "ERR ConnectionRefusedError" "$(smtp fd00:25::21 a@mx-order.$Z)"
nofrom="verify@unresolvable.invalid"
expect_prefix "sender-checks: unresolvable sender refused at RCPT" "550 5.1.8" \
  "$(smtp "$LAB_POSTFIX_STRICT" alice@sender-checks.$Z --from "$nofrom")"
expect_prefix "sender-checks: null sender passes" "250 2.1.5" "$(smtp "$LAB_POSTFIX_STRICT" alice@sender-checks.$Z --from "")"
expect_prefix "null-refused: MAIL FROM:<> refused" "501 bogus" "$(smtp "$LAB_SMTP_NONULL" alice@null-refused.$Z --from "")"
expect_prefix "sender-callout: unroutable sender refused" "550 Verification failed" \
  "$(smtp "$LAB_SMTP_CALLOUT" alice@sender-callout.$Z --from "$nofrom")"
expect_prefix "sender-callout: real sender mailbox passes the callout" "250 2.1.5" \
  "$(smtp "$LAB_SMTP_CALLOUT" alice@sender-callout.$Z --from "verify@sender.$Z")"
sleep $((LAB_GREYLIST_DELAY + 1))
expect_prefix "greylist: retry after ${LAB_GREYLIST_DELAY}s accepted" "250 2.1.5" \
  "$(smtp "$LAB_POSTFIX" alice@greylist.$Z --from "$grey_from")"
expect_prefix "greylist-all: retry after ${LAB_GREYLIST_DELAY}s accepted" "250 2.1.5" \
  "$(smtp "$LAB_POSTFIX" "$grey_all" --from "$grey_from")"
queued=$(find "$LAB_DIR/postfix/queue" -type f ! -path '*/pid/*' ! -name quick-start | wc -l)
expect "postfix queue holds no mail" "0" "$queued"

echo "== SOCKS5 (dante: $LAB_SOCKS no auth, $LAB_SOCKS_AUTH user/password)"
B="220 smtp1.$Z ESMTP"
expect_prefix "socks (no auth): banner of smtp1" "$B" "$(smtp "$LAB_POSTFIX" x@$M --banner --socks "$LAB_SOCKS")"
expect_prefix "socks (no auth): RCPT alice@mailbox" "250 2.1.5" "$(smtp "$LAB_POSTFIX" alice@$M --socks "$LAB_SOCKS")"
expect_prefix "socks (no auth) over IPv6, to smtp1's IPv6" "$B" \
  "$(smtp "$LAB_POSTFIX6" x@$M --banner --socks "$LAB_SOCKS6")"
expect_prefix "socks (no auth): a name resolved by the proxy" "250 2.1.5" \
  "$(smtp smtp1.$Z alice@$M --socks "$LAB_SOCKS")"
expect_prefix "socks (auth): right password, banner" "$B" \
  "$(smtp "$LAB_POSTFIX" x@$M --banner --socks "$LAB_SOCKS_AUTH" --socks-user "$LAB_SOCKS_USER" --socks-pass "$LAB_SOCKS_PASS")"
expect_prefix "socks (auth): wrong password refused (RFC 1929 status)" "ERR SocksError: authentication failed" \
  "$(smtp "$LAB_POSTFIX" x@$M --banner --socks "$LAB_SOCKS_AUTH" --socks-user "$LAB_SOCKS_USER" --socks-pass wrong)"
expect_prefix "socks (auth): unknown user refused" "ERR SocksError: authentication failed" \
  "$(smtp "$LAB_POSTFIX" x@$M --banner --socks "$LAB_SOCKS_AUTH" --socks-user root --socks-pass "$LAB_SOCKS_PASS")"
expect_prefix "socks (auth): no credentials, no acceptable method" "ERR SocksError: no acceptable authentication method" \
  "$(smtp "$LAB_POSTFIX" x@$M --banner --socks "$LAB_SOCKS_AUTH")"
expect_prefix "socks: targets outside the mail ranges refused (resolver port 53)" "ERR SocksError: CONNECT refused: 2" \
  "$(smtp "$LAB_DNS" x@$M --port 53 --banner --socks "$LAB_SOCKS")"
expect_prefix "socks: target with nothing listening" "ERR SocksError: CONNECT refused: 5" \
  "$(smtp "$LAB_SMTP_REFUSED" x@$M --banner --socks "$LAB_SOCKS")"
# maillog_has PATTERN: postfix logged PATTERN (polled for up to 3 s: postlogd writes asynchronously)
maillog_has() {
  local i
  for ((i = 0; i < 30; i++)); do
    grep -qF "$1" "$LAB_DIR/postfix/maillog" && { echo yes; return; }
    sleep 0.1
  done
  echo no
}
expect "postfix sees the proxies' addresses as clients" "yes yes" \
  "$(maillog_has "connect from unknown[${LAB_SOCKS%:*}]") $(maillog_has "connect from unknown[${LAB_SOCKS_AUTH%:*}]")"

echo "== client source addresses ($LAB_SOURCE_IPS)"
for ip in ${LAB_SOURCE_IPS//,/ }; do
  if [[ $ip == *:* ]]; then target=$LAB_POSTFIX6; else target=$LAB_POSTFIX; fi
  expect_prefix "source $ip -> $target: accepted" "250 2.1.5" "$(smtp "$target" alice@$M --source "$ip")"
  expect "source $ip: postfix saw that client" "yes" "$(maillog_has "connect from unknown[$ip]")"
done

if [ -n "${LAB_SINK_NS:-}" ]; then
  S=$LAB_SINK_ZONE
  echo "== smtp-sink farm (namespace $LAB_SINK_NS, $LAB_SINK_NET; zone $S)"
  last_d=$(printf 's%05d' $((LAB_SINK_DOMAINS - 1)))
  last_h=$(printf 'mx%03d' $(((LAB_SINK_DOMAINS - 1) % LAB_SINK_HOSTS)))
  last_a=$(nsx "$PYTHON" -c 'import sys; h=int(sys.argv[1]); print(f"10.26.{h % 256}.{h // 256 + 1}")' \
    $(((LAB_SINK_DOMAINS - 1) % LAB_SINK_HOSTS)))
  expect "sink zone: first domain MX and address" "10 mx000.$S./10.26.0.1" "$(answer MX s00000.$S)/$(answer A mx000.$S)"
  expect "sink zone: last domain ($last_d)" "10 $last_h.$S./$last_a" "$(answer MX "$last_d.$S")/$(answer A "$last_h.$S")"
  expect "sink zone: past the last domain" "NXDOMAIN" "$(status MX "s$((LAB_SINK_DOMAINS + 1)).$S")"
  expect "sink namespace: only lo and the veth" "lab0 lo" \
    "$(ip -netns "$LAB_SINK_NS" -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort | paste -sd' ' -)"
  expect "lab routes $LAB_SINK_NET over the veth" "sink0" \
    "$(ip -netns "$LAB_NS" route get "$last_a" | sed -n 's/.* dev \([^ ]*\).*/\1/p')"
  expect_prefix "smtp-sink at $LAB_SINK_ADDR: banner" "220 sink.mailsift-lab.net" "$(smtp "$LAB_SINK_ADDR" x@s00000.$S --banner)"
  expect_prefix "smtp-sink at $last_a ($last_h): accepts any RCPT" "250 2.1.5" \
    "$(smtp "$last_a" "nobody$RANDOM@$last_d.$S")"
  expect_prefix "smtp-sink through the SOCKS proxy" "250 2.1.5" "$(smtp "$LAB_SINK_ADDR" x@s00000.$S --socks "$LAB_SOCKS")"
  expect "smtp-sink: EHLO offers PIPELINING, no STARTTLS, no AUTH" "PIPELINING" \
    "$(nsx "$PYTHON" - "$LAB_SINK_ADDR" <<'PY' || true
import smtplib, sys
s = smtplib.SMTP(sys.argv[1], 25, timeout=5)
s.ehlo("probe.mailsift-lab.net")
print(" ".join(k.upper() for k in s.esmtp_features if k in ("pipelining", "starttls", "auth")))
s.quit()
PY
)"
  # conncount.py: hold 5 sessions to one sink address and 3 to another, sample.
  nsx timeout 10 "$PYTHON" - "$LAB_SINK_ADDR" "$last_a" <<'PY' >"$LAB_DIR/hold.out" 2>&1 &
import socket, sys, time
socks = [socket.create_connection((a, 25), 3) for a in [sys.argv[1]] * 5 + [sys.argv[2]] * 3]
for s in socks:
    s.recv(100)
print("ready", flush=True)
time.sleep(3)
PY
  holder=$!
  for ((i = 0; i < 50; i++)); do grep -q ready "$LAB_DIR/hold.out" && break; sleep 0.1; done
  nsx timeout 10 "$PYTHON" "$HERE/conncount.py" --client --duration 0.5 --json >"$LAB_DIR/cc-client.json" 2>&1 &
  ccc=$!
  cc=$(ip netns exec "$LAB_SINK_NS" timeout 10 "$PYTHON" "$HERE/conncount.py" --duration 0.5 --json || true)
  wait "$ccc" || true
  wait "$holder" || true
  cc_line() { "$PYTHON" -c 'import json,sys; r=json.loads(sys.argv[1]); print("%(max_total)s/%(max_per_address)s/%(max_address)s/%(addresses)s" % r)' "$1" 2>/dev/null || echo "$1"; }
  expect "conncount: peak total / per address / addresses" "8/5/$LAB_SINK_ADDR/2" "$(cc_line "$cc")"
  expect "conncount --client: the same from the client's side" "8/5/$LAB_SINK_ADDR/2" \
    "$(cc_line "$(cat "$LAB_DIR/cc-client.json")")"
  expect "smtp-source: 200 sessions to the sink" "0" \
    "$(nsx timeout 30 smtp-source -s 10 -m 200 -M probe.mailsift-lab.net -f probe@$Z -t "u@s00000.$S" "$LAB_SINK_ADDR:25" >/dev/null 2>&1; echo $?)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
