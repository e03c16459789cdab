#!/usr/bin/env python3
"""Black-box test of the real-time budget (issue 14, #8): while a job of addresses at tarpits
runs, a single check (GET /v1/verify) of a domain that answers still finishes. Before the budget
a job of 2,000 DNS-tarpit domains held every DNS slot and a job at 300 silent MX hosts every SMTP
session slot, each for a whole timeout, and a single check queued behind all of them.

The assertions are about completion within a bounded wait (the check's own `timeout`), never
about how fast: a check that queues behind the job answers `check_pending` instead.
Everything is on loopback: scripted DNS on 127.0.0.1, SMTP on 127.0.0.1 and 127.0.1.x
(tests/server/fake_net.py).

Usage: realtime_test.py PATH/TO/mailsift REPO_ROOT
"""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
sys.path.insert(0, HERE)
from checks import Checks  # noqa: E402
from fake_net import FakeDns, FakeSmtp  # noqa: E402
import server_proc  # noqa: E402
from server_proc import wait_for  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
check = Checks()
TMP = tempfile.mkdtemp(prefix="mailsift-realtime-")


def Server(*args):
    return server_proc.Server(BIN, *args, tmp=TMP)


def test_dns(dns):
    s = Server("--level", "dns", "--dns-server", f"127.0.0.1:{dns.port}", "--dns-timeout", "5000",
               "--allow-private-targets")
    try:
        st, job = s.json("POST", "/v1/jobs", {"emails": [f"u{i}@d{i}.dns-tarpit.org" for i in range(2000)],
                                             "level": "dns"})
        check("dns job accepted", st == 202, (st, job))
        before = dns.queries
        check("the job's queries are out", wait_for(lambda: dns.queries - before >= 50), dns.queries - before)
        st, r = s.json("GET", "/v1/verify?email=bob@live-mail.org&level=dns&timeout=60")
        check("dns check finished during the job", st == 200 and r["reason"] == "mx_found", (st, r))
        st, j = s.json("GET", f"/v1/jobs/{job['id']}")
        check("the job is still at its tarpits", j["state"] == "running" and j["done"] < 2000, j)
    finally:
        s.stop()


def test_smtp(dns, smtp):
    s = Server("--level", "smtp", "--dns-server", f"127.0.0.1:{dns.port}", "--allow-private-targets",
               "--smtp-port", str(smtp.port), "--smtp-concurrency", "20", "--banner-timeout", "100",
               "--session-timeout", "200")
    try:
        st, job = s.json("POST", "/v1/jobs", {"emails": [f"u{i}@d{i}.smtp-tarpit.org" for i in range(300)],
                                             "level": "smtp"})
        check("smtp job accepted", st == 202, (st, job))
        # The job's sessions fill their share of --smtp-concurrency (20 less the 10% reserve).
        check("the job's sessions hang at the tarpits", wait_for(lambda: smtp.tarpit_connections >= 18),
              smtp.tarpit_connections)
        st, r = s.json("GET", "/v1/verify?email=alice@live-mail.org&level=smtp&timeout=60")
        check("smtp check finished during the job", st == 200 and r["reason"] == "mailbox_exists", (st, r))
        check("the job never took the reserve", smtp.tarpit_connections == 18, smtp.tarpit_connections)
        st, j = s.json("GET", f"/v1/jobs/{job['id']}")
        check("the job is still at its tarpits", j["state"] == "running" and j["done"] == 0, j)
    finally:
        s.stop()


def main():
    dns = FakeDns()
    smtp = FakeSmtp()
    for t, args in ((test_dns, (dns,)), (test_smtp, (dns, smtp))):
        try:
            t(*args)
        except Exception as e:  # a crash in one group is a failure, the others still run
            check(t.__name__, False, repr(e))
    sys.exit(check.summary())


main()
