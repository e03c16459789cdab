#!/usr/bin/env bash
# Installs every Debian 12 package mailsift needs to build, test and benchmark.
# Idempotent and non-interactive: safe to run again; it only installs what is missing.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential g++ clang libclang-rt-14-dev cmake ninja-build pkg-config git
  clang-format clang-tidy
  # libraries
  libboost1.81-all-dev libc-ares-dev libidn2-dev libunistring-dev libpsl-dev publicsuffix
  libssl-dev libsqlite3-dev zlib1g-dev libcli11-dev libfmt-dev libspdlog-dev
  libjemalloc-dev   # the release binary's allocator (CMakeLists.txt, MAILSIFT_JEMALLOC)
  libhiredis-dev    # Redis protocol codec for --broker (src/broker/redis.hpp: Asio owns the socket)
  libsystemd-dev    # sd_notify: serve and worker tell systemd when they are ready (Type=notify units)
  # the Debian package (scripts/package.sh): checked with lintian, its units with systemd-analyze
  dpkg-dev fakeroot lintian systemd man-db
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev python3 bc
  wrk    # HTTP load: scripts/bench-serve.sh, scripts/bench-attacks.sh
  # mail lab (lab/): DNS, SMTP and SOCKS servers run only inside a network namespace
  knot knot-dnsutils dnsmasq-base postfix postgrey dnsperf openssl iproute2 dante-server
  time   # /usr/bin/time -v: scripts/bench-smtp.sh
  redis-server   # the broker's tests start their own instance (port, directory, AOF); never the system one
  # the web page's end-to-end test (tests/server/web_test.py): headless Chromium over DevTools
  chromium python3-websocket
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
apt-get update -qq
# Postfix asks how to configure itself: the lab runs its own instances, so none.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
# The lab's servers (knot, postfix, postgrey, danted) are run by lab/up.sh inside a
# network namespace; their packages must not start system services on the host.
# A policy-rc.d that answers 101 forbids maintainer scripts to start services.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=1
  trap 'rm -f "$policy"' EXIT
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ "$own_policy" -eq 1 ]; then rm -f "$policy"; trap - EXIT; fi
# Belt and braces: stop and disable the system services, whatever started them.
for svc in knot postfix postgrey danted dnsmasq redis-server; do
  if [ -d /run/systemd/system ] && systemctl list-unit-files "$svc.service" >/dev/null 2>&1; then
    systemctl disable --now "$svc.service" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$svc" ]; then
    "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    update-rc.d "$svc" disable >/dev/null 2>&1 || true
  fi
done
echo "install-deps: done"
