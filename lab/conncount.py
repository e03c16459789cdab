#!/usr/bin/env python3
"""Peak number of established TCP connections to a server port, sampled.

  conncount.py [--port 25] [--client] [--interval 0.02] [--duration 10] [--json] [--top 5]

Runs `ss -Htn state established '( sport = :PORT )'` every INTERVAL seconds
(default 20 ms) for DURATION seconds (default 10, at most 3600) or until
SIGTERM/SIGINT, then prints the maximum count seen overall and per local
(server) address. Run it where the server runs, e.g. in the smtp-sink farm:

  ip netns exec mslab-sink lab/conncount.py --duration 30 --json

Output (text): "max_total N", "max_per_address N (ADDR)", "addresses N",
"samples N", then the --top busiest addresses. With --json, one JSON object:
{"max_total", "max_per_address", "max_address", "addresses", "samples",
 "seconds", "top": [[addr, max], ...]}. A sample that ss cannot take is skipped
and counted in "errors".

With --client it counts the other end: connections whose remote port is PORT,
grouped by remote (server) address, i.e. what a client in this namespace holds
open. The server side can list a session a moment longer than its client
does (the client has closed; the server has not processed it yet), so a
client's own limit is checked with --client where the client runs.
"""

import argparse
import json
import signal
import socket
import struct
import subprocess
import sys
import time

stop = False


def on_signal(_signo, _frame):
    global stop
    stop = True


# Sampling through sock_diag netlink (what ss uses) in this process: no ss process per sample, so
# sampling every 20 ms costs little CPU beside the benchmark it watches. ss is the fallback.
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
TCP_ESTABLISHED = 1


def diag_established(family):
    """(local_ip, local_port, remote_ip, remote_port) of every established TCP socket."""
    req = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_ESTABLISHED) + bytes(48)
    msg = struct.pack("=IHHII", 16 + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + req
    out = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(5)
        nl.sendto(msg, (0, 0))
        while True:
            data = nl.recv(1 << 16)
            pos = 0
            while pos + 16 <= len(data):
                length, mtype = struct.unpack_from("=IH", data, pos)
                if length < 16:
                    return out
                if mtype == NLMSG_DONE:
                    return out
                if mtype == NLMSG_ERROR:
                    raise OSError("sock_diag: netlink error")
                body = pos + 16
                # inet_diag_msg: family, state, timer, retrans; then the socket id.
                sport, dport = struct.unpack_from("!HH", data, body + 4)
                size = 4 if family == socket.AF_INET else 16
                src = socket.inet_ntop(family, data[body + 8:body + 8 + size])
                dst = socket.inet_ntop(family, data[body + 24:body + 24 + size])
                out.append((src, sport, dst, dport))
                pos += (length + 3) & ~3


def sample(port, client):
    """{server address: set of connections (4-tuples)} established now."""
    try:
        conns = {}
        for family in (socket.AF_INET, socket.AF_INET6):
            for src, sport, dst, dport in diag_established(family):
                if (dport if client else sport) != port:
                    continue
                addr = dst if client else src
                conns.setdefault(addr, set()).add((src, sport, dst, dport))
        return conns
    except OSError:
        return sample_ss(port, client)


def sample_ss(port, client):
    side = "dport" if client else "sport"
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( {side} = :{port} )"],
                         capture_output=True, text=True, timeout=5, check=True).stdout
    conns = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        # Recv-Q Send-Q Local:Port Peer:Port: the server's address is the local one on the server
        # side and the peer on the client side.
        server = fields[3] if client else fields[2]
        addr = server.rsplit(":", 1)[0].strip("[]")
        conns.setdefault(addr, set()).add((fields[2], fields[3]))
    return conns


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=25)
    parser.add_argument("--client", action="store_true",
                        help="count this namespace's connections TO port PORT, by server address")
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--stable", action="store_true",
                        help="count only connections seen in two samples in a row: a dump is not atomic, so "
                             "a connection closing and the next one opening can both show in one sample")
    args = parser.parse_args()
    duration = min(max(args.duration, 0), 3600)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    peak_total, peak_by_addr, samples, errors = 0, {}, 0, 0
    previous = None
    start = time.monotonic()
    deadline = start + duration
    while not stop and time.monotonic() < deadline:
        t = time.monotonic()
        try:
            conns = sample(args.port, args.client)
        except (subprocess.SubprocessError, OSError):
            errors += 1
            conns = None
        counts = None
        if conns is not None:
            if args.stable:
                counts = {a: len(c & previous.get(a, set())) for a, c in conns.items()} if previous is not None else {}
            else:
                counts = {a: len(c) for a, c in conns.items()}
            previous = conns
        if counts is not None:
            samples += 1
            peak_total = max(peak_total, sum(counts.values()))
            for addr, n in counts.items():
                if n > peak_by_addr.get(addr, 0) or (n == 0 and addr not in peak_by_addr):
                    peak_by_addr[addr] = n
        rest = args.interval - (time.monotonic() - t)
        if rest > 0 and not stop:
            time.sleep(rest)
    seconds = time.monotonic() - start

    top = sorted(peak_by_addr.items(), key=lambda kv: (-kv[1], kv[0]))[: max(args.top, 0)]
    max_addr, max_per = (top[0] if top else ("", 0))
    result = {"max_total": peak_total, "max_per_address": max_per, "max_address": max_addr,
              "addresses": len(peak_by_addr), "samples": samples, "errors": errors,
              "seconds": round(seconds, 3), "top": [list(kv) for kv in top]}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"max_total {peak_total}")
        print(f"max_per_address {max_per} ({max_addr or '-'})")
        print(f"addresses {len(peak_by_addr)}")
        print(f"samples {samples} in {seconds:.1f} s ({errors} errors)")
        for addr, n in top:
            print(f"  {addr} {n}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
