#!/usr/bin/env bash
# Stops the mail lab started by lab/up.sh and removes every trace of it:
# the processes it recorded, the network namespaces NAME and NAME-sink (with
# their veth pair), /etc/netns/NAME and LAB_DIR. The system user mailsift-lab
# (the SOCKS5 proxy's login, expired, nologin) is shared by every lab and stays.
# Safe to call when nothing is running.
#
#   lab/down.sh [NAME]             NAME defaults to mslab
set -euo pipefail

NAME=${1:-mslab}
if ! [[ $NAME =~ ^[A-Za-z0-9_-]{1,32}$ ]]; then
  echo "down.sh: bad lab name '$NAME'" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "down.sh: must run as root" >&2
  exit 1
fi
POINTER=/run/mailsift-lab/$NAME
if [ -z "${LAB_DIR:-}" ] && [ -s "$POINTER" ]; then
  LAB_DIR=$(cat "$POINTER")
fi
LAB_DIR=${LAB_DIR:-/tmp/mailsift-lab-$NAME}

# Is PID, maybe as a zombie, still the process started at START?
exists() {
  local stat fields
  [ -n "$2" ] || return 1
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  read -ra fields <<<"${stat##*) }"
  [ "${fields[19]}" = "$2" ]
}

# Is PID still the process started at START (field 22 of /proc/PID/stat), and
# not a zombie? A recycled PID has another start time: it is never touched.
alive() {
  local stat fields
  [ -n "$2" ] || return 1
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  read -ra fields <<<"${stat##*) }"
  [ "${fields[19]}" = "$2" ] && [ "${fields[0]}" != Z ]
}

# wait_until_none PREDICATE TRIES: polls every 0.1 s until PREDICATE (alive or exists) holds for
# none of the recorded processes; fails after TRIES polls.
wait_until_none() {
  local pred=$1 tries=$2 left
  for _ in $(seq "$tries"); do
    left=0
    while read -r pid start _; do
      "$pred" "$pid" "$start" && left=1
    done <"$LAB_DIR/pids"
    [ "$left" -eq 0 ] && return 0
    sleep 0.1
  done
  return 1
}

stopped=0
if [ -f "$LAB_DIR/pids" ]; then
  # SIGTERM to postfix's master is what "postfix stop" does: it stops its children.
  while read -r pid start label; do
    if alive "$pid" "$start"; then
      if kill -TERM "$pid" 2>/dev/null; then stopped=$((stopped + 1)); fi
    fi
  done <"$LAB_DIR/pids"
  wait_until_none alive 50 || true
  while read -r pid start label; do
    if alive "$pid" "$start"; then
      echo "down.sh: $label ($pid) ignored SIGTERM: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done <"$LAB_DIR/pids"
  # Dead servers were children of up.sh's shell, long gone: init reaps them.
  # Give it a moment, so that a pgrep right after down.sh finds nothing.
  wait_until_none exists 20 || true
fi

# end_netns NS: ends whatever still runs inside namespace NS (children of the
# servers, a test client left over: it belongs to the lab, or the namespace
# lives on), then deletes NS. Its veth pair goes with it.
end_netns() {
  local ns=$1 sig pids pid
  [ -e "/run/netns/$ns" ] || return 0
  for sig in TERM KILL; do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -z "$pids" ] && break
    for pid in $pids; do
      [ "$sig" = KILL ] && echo "down.sh: SIGKILL $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) in namespace $ns" >&2
      kill "-$sig" "$pid" 2>/dev/null || true
    done
    for _ in $(seq 30); do
      [ -z "$(ip netns pids "$ns" 2>/dev/null || true)" ] && break
      sleep 0.1
    done
  done
  ip netns del "$ns"
}
end_netns "$NAME-sink"   # the smtp-sink farm (LAB_SINK=1)
end_netns "$NAME"
rm -rf "/etc/netns/$NAME"
rmdir /etc/netns 2>/dev/null || true   # only if empty
if [ -f "$LAB_DIR/.mailsift-lab" ]; then
  rm -rf "$LAB_DIR"
elif [ -e "$LAB_DIR" ]; then
  echo "down.sh: $LAB_DIR has no .mailsift-lab mark: not removing it" >&2
fi
rm -f "$POINTER"
rmdir /run/mailsift-lab 2>/dev/null || true
echo "down.sh: lab '$NAME' is down ($stopped recorded processes stopped)"
