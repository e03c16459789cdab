#!/usr/bin/env python3
"""The latency of a single check (GET /v1/verify) with and without a job stuck at tarpits running,
for one or more `mailsift` binaries in the same run (issue 14, #8: before/after the real-time
budget). Loopback only: scripted DNS and SMTP from tests/server/fake_net.py.

  dns:  a job of 2,000 addresses at domains whose DNS never answers; checks of level=dns
  smtp: a job of 300 addresses at domains whose MX accepts and never greets; checks of level=smtp

Each check asks a new domain (l<k>.live-mail.org), so no cache answers it. The server runs with its
defaults but for --dns-server, --smtp-port and --allow-private-targets (the fakes are on
127.0.0.0/8). A check that is not finished within --check-timeout is reported as that many seconds
and "(pending)".

Usage: realtime_latency.py [--checks N] [--check-timeout S] LABEL=PATH/TO/mailsift ...
"""
import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "server"))
from fake_net import FakeDns, FakeSmtp  # noqa: E402

TMP = tempfile.mkdtemp(prefix="mailsift-rt-bench-")
counter = [0]


def start(binary, *args):
    db = os.path.join(TMP, f"db-{time.monotonic_ns()}.sqlite")
    p = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--db", db, "--quiet", *args],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    if "listening on" not in line:
        raise RuntimeError(line + p.stderr.read())
    threading.Thread(target=lambda: p.stderr.read(), daemon=True).start()
    return p, int(line.split("://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])


def call(port, method, path, body=None, timeout=600):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers={"Content-Type": "application/json"} if body is not None else {})
    r = c.getresponse()
    data = json.loads(r.read())
    c.close()
    return r.status, data


def checks(port, level, n, limit):
    out = []
    for _ in range(n):
        counter[0] += 1
        t0 = time.monotonic()
        st, r = call(port, "GET", f"/v1/verify?email=alice@l{counter[0]}.live-mail.org&level={level}&timeout={limit}")
        dt = time.monotonic() - t0
        out.append((dt, r.get("reason")))
    return out


def fmt(samples):
    times = [t for t, _ in samples]
    pend = sum(1 for _, r in samples if r == "check_pending")
    reasons = sorted({r for _, r in samples})
    return (f"median {statistics.median(times):7.3f} s  max {max(times):7.3f} s"
            + (f"  ({pend}/{len(samples)} pending)" if pend else "") + f"  reasons {reasons}")


def run(label, binary, level, dns, smtp, n, limit):
    args = ["--level", level, "--dns-server", f"127.0.0.1:{dns.port}", "--allow-private-targets",
            "--smtp-port", str(smtp.port)]
    p, port = start(binary, *args)
    try:
        idle = checks(port, level, n, limit)
        if level == "dns":
            emails = [f"u{i}@d{i}.dns-tarpit.org" for i in range(2000)]
        else:
            emails = [f"u{i}@d{i}.smtp-tarpit.org" for i in range(300)]
        st, job = call(port, "POST", "/v1/jobs", {"emails": emails, "level": level})
        assert st == 202, job
        time.sleep(3)  # the job's lookups and sessions are out and stuck
        busy = checks(port, level, n, limit)
        st, j = call(port, "GET", f"/v1/jobs/{job['id']}")
        print(f"{label:>8} {level:>4}  no job:   {fmt(idle)}")
        print(f"{label:>8} {level:>4}  with job: {fmt(busy)}  (job {j['state']}, {j['done']}/{len(emails)} done,"
              f" tarpit connections so far {smtp.tarpit_connections})")
        sys.stdout.flush()
    finally:
        p.terminate()
        p.wait(timeout=15)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", type=int, default=5)
    ap.add_argument("--check-timeout", type=float, default=60)
    ap.add_argument("--levels", default="dns,smtp")
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()
    dns, smtp = FakeDns(), FakeSmtp()
    for level in a.levels.split(","):
        for spec in a.binaries:
            label, path = spec.split("=", 1)
            run(label, os.path.abspath(path), level, dns, smtp, a.checks, a.check_timeout)


main()
