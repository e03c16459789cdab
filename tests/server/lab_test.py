#!/usr/bin/env python3
"""`mailsift serve` at level smtp against the mail lab's real Postfix: single checks (mailbox
exists, unknown, catch-all), a check outliving its timeout at a tarpit MX and finished in the
background, a bulk job whose addresses share SMTP sessions, and the SMTP metrics.

The server and the HTTP client both run inside the lab's network namespace (the client is this
script run again under `ip netns exec` with --inner), so nothing leaves it.

Usage: lab_test.py PATH/TO/mailsift REPO_ROOT
"""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from checks import Checks  # noqa: E402

BIN, ROOT = os.path.abspath(sys.argv[1]), sys.argv[2]
Z = "mailsift-lab.net"
check = Checks()


def inner(name):
    tmp = tempfile.mkdtemp(prefix="mailsift-serve-lab-")
    proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--db", os.path.join(tmp, "db.sqlite"),
                             "--allow-private-targets", "--dns-timeout", "2000", "--banner-timeout", "3",
                             "--connect-timeout", "3", "--max-wait", "0", "--host-rate", "50", "--quiet"],
                            stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    port = int(line.split("://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])

    def get(path, method="GET", body=None, ctype=None):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request(method, path, body=body, headers={"Content-Type": ctype} if ctype else {})
        r = c.getresponse()
        d = r.read()
        c.close()
        return r.status, d

    def verify(addr, extra=""):
        st, d = get(f"/v1/verify?email={addr}&level=smtp{extra}")
        return st, json.loads(d)

    try:
        st, j = verify(f"alice@mailbox.{Z}", "&timeout=30")
        check("exists", st == 200 and (j["status"], j["reason"]) == ("valid", "mailbox_exists")
              and j["smtp"]["reply"]["code"] == 250, j)
        st, j = verify(f"nobody-here@mailbox.{Z}", "&timeout=30")
        check("unknown", (j["status"], j["reason"]) == ("invalid", "mailbox_not_found")
              and j["smtp"]["reply"]["enhanced"] == "5.1.1", j)
        st, j = verify(f"anything@catchall.{Z}", "&timeout=30")
        check("catch-all", (j["status"], j["reason"]) == ("risky", "catch_all") and j["flags"]["catch_all"] is True, j)

        # The tarpit MX never greets: 3 s banner timeout, then the next MX. A 0.5 s request gets
        # check_pending; the check goes on, later requests join it until it ends, and then the same
        # request gets the finished answer at once (from the cache: a request that waited on a check
        # would get check_pending again, the check takes seconds).
        st, j = verify(f"alice@tarpit.{Z}", "&timeout=0.5")
        check("tarpit pending", (j["status"], j["reason"]) == ("unknown", "check_pending"), j)
        end = time.time() + 60
        while time.time() < end and j.get("reason") == "check_pending":
            st, j = verify(f"alice@tarpit.{Z}", "&timeout=0.5")
        check("tarpit finished in the background", (j["status"], j["reason"]) == ("valid", "mailbox_exists"), j)
        st, j = verify(f"alice@tarpit.{Z}", "&timeout=0.5")
        check("tarpit answer kept", (j["status"], j["reason"]) == ("valid", "mailbox_exists"), j)

        # A job: unknown users, known users, catch-all, and a syntax error, at level smtp.
        emails = [f"user{i}@mailbox.{Z}" for i in range(20)] + [f"bob@mailbox.{Z}", f"x1@catchall.{Z}", "broken@"]
        st, d = get("/v1/jobs?level=smtp", "POST", json.dumps(emails), "application/json")
        job = json.loads(d)
        check("job accepted", st == 202 and job["total"] == len(emails), (st, job))
        end = time.time() + 60
        while time.time() < end:
            st, d = get(f"/v1/jobs/{job['id']}")
            j = json.loads(d)
            if j["state"] == "finished":
                break
            time.sleep(0.2)
        check("job finished", j["state"] == "finished" and j["counts"] == {"valid": 1, "invalid": 21, "risky": 1, "unknown": 0}, j)
        st, d = get(f"/v1/jobs/{job['id']}/results")
        rows = [json.loads(x) for x in d.decode().splitlines() if x]
        check("job results", [r["position"] for r in rows] == list(range(1, 24))
              and all(r["reason"] == "mailbox_not_found" for r in rows[:20]) and rows[20]["reason"] == "mailbox_exists"
              and rows[21]["reason"] == "catch_all" and rows[22]["status"] == "invalid", [r["reason"] for r in rows])
        st, d = get("/metrics")
        m = d.decode()
        check("smtp metrics", 'mailsift_verifications_total{level="smtp",status="invalid",reason="mailbox_not_found"} 21' in m
              and 'mailsift_verification_duration_seconds_count{level="smtp"} 27' in m, m[:3000])
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return check.summary()


if len(sys.argv) > 3 and sys.argv[3] == "--inner":
    sys.exit(inner(sys.argv[4]))

import lab  # noqa: E402

NAME = f"msserve{os.getpid()}"


def main():
    r = subprocess.run(["ip", "netns", "exec", NAME, sys.executable, os.path.abspath(__file__), BIN, ROOT, "--inner", NAME],
                       timeout=240)
    check("inner checks", r.returncode == 0, r.returncode)
    return 0


lab.run(ROOT, NAME, check, main, env=dict(os.environ, LAB_SINK="0"))
