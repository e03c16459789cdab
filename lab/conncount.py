#!/usr/bin/env python3
"""Peak number of established TCP connections to a server port, sampled.

  conncount.py [--port 25] [--interval 0.02] [--duration 10] [--json] [--top 5]

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
"""

import argparse
import json
import signal
import subprocess
import sys
import time

stop = False


def on_signal(_signo, _frame):
    global stop
    stop = True


def sample(port):
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, timeout=5, check=True).stdout
    counts = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        local = fields[2].rsplit(":", 1)[0].strip("[]")
        counts[local] = counts.get(local, 0) + 1
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=25)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    duration = min(max(args.duration, 0), 3600)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    peak_total, peak_by_addr, samples, errors = 0, {}, 0, 0
    start = time.monotonic()
    deadline = start + duration
    while not stop and time.monotonic() < deadline:
        t = time.monotonic()
        try:
            counts = sample(args.port)
        except (subprocess.SubprocessError, OSError):
            errors += 1
            counts = None
        if counts is not None:
            samples += 1
            peak_total = max(peak_total, sum(counts.values()))
            for addr, n in counts.items():
                if n > peak_by_addr.get(addr, 0):
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
