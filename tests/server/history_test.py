#!/usr/bin/env python3
"""Black-box test of --history (issue 17) in `mailsift serve` and `mailsift history show`: checks
are recorded, GET /v1/domains/{domain} reads them back, the file survives kill -9 of the server
(what a tick committed is there after the restart), a restarted server gives the next result the
domain's reputation (high_invalid_rate after 20 refused mailboxes), and `history show` reads the
same file. Scripted DNS and SMTP on loopback only (tests/server/fake_net.py: at live-mail.org the
mailbox `alice` exists and every other one is refused).

Usage: history_test.py PATH/TO/mailsift REPO_ROOT
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
sys.path.insert(0, HERE)
from checks import Checks  # noqa: E402
from oas import Document  # noqa: E402
from fake_net import FakeDns, FakeSmtp  # noqa: E402
import server_proc  # noqa: E402
from server_proc import wait_for  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
check = Checks()
TMP = tempfile.mkdtemp(prefix="mailsift-history-")
HISTORY = os.path.join(TMP, "history.sqlite")
with open(os.path.join(sys.argv[2], "docs", "openapi.json"), encoding="utf-8") as f:
    OAS = Document(json.load(f))


def valid(value, schema):
    """Errors of `value` against docs/openapi.json's components/schemas/`schema` (strict)."""
    return OAS.validate(value, {"$ref": f"#/components/schemas/{schema}"}, schema, strict=True)


def Server(*args):
    return server_proc.Server(BIN, *args, tmp=TMP)


def main():
    dns, smtp = FakeDns(), FakeSmtp()
    args = ["--level", "smtp", "--dns-server", f"127.0.0.1:{dns.port}", "--allow-private-targets",
            "--smtp-port", str(smtp.port), "--host-rate", "0", "--history", HISTORY]

    s = Server(*args)
    try:
        st, r = s.json("GET", "/v1/verify?email=alice@live-mail.org&timeout=30")
        check("first check valid", st == 200 and r.get("status") == "valid", r)
        rep = r.get("reputation") or {}
        check("first check: no history yet", rep.get("observations") == 0 and rep.get("signals") == [], rep)
        for i in range(20):
            st, r = s.json("GET", f"/v1/verify?email=nobody{i}@live-mail.org&timeout=30")
            check("refused mailbox invalid", r.get("reason") == "mailbox_not_found", r)

        def recorded():
            st, d = s.json("GET", "/v1/domains/live-mail.org")
            return st == 200 and (d.get("domain") or {}).get("observations") == 21
        check("the server's checks are recorded", wait_for(recorded, 10))
        st, d = s.json("GET", "/v1/domains/LIVE-MAIL.ORG")
        dom = d.get("domain") or {}
        check("domain record", st == 200 and d.get("name") == "live-mail.org" and dom.get("invalid") == 20 and
              dom.get("valid") == 1 and dom.get("reasons", {}).get("mailbox_not_found") == 20, d)
        check("high_invalid_rate read from the record", dom.get("signals") == ["high_invalid_rate"], dom)
        e = valid(d, "DomainHistory")
        check("/v1/domains answer matches the OpenAPI document", not e, e)
        st, d = s.json("GET", "/v1/domains/never-seen-mailsift.org")
        check("a domain never seen", st == 200 and d.get("domain") is None and d.get("mx_host") is None, d)
        st, d = s.json("GET", "/v1/domains/not..a.domain")
        check("not a domain: 400", st == 400 and d["error"]["code"] == "bad_parameter", d)
        # kill -9: no shutdown, no final flush; a tick (every 250 ms) has committed the records.
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait()
    finally:
        s.stop()

    s = Server(*args)
    try:
        st, d = s.json("GET", "/v1/domains/live-mail.org")
        check("the record survives kill -9", (d.get("domain") or {}).get("observations") == 21, d)
        st, r = s.json("GET", "/v1/verify?email=alice@live-mail.org&timeout=30")
        rep = r.get("reputation") or {}
        check("after the restart the result carries the reputation",
              r.get("status") == "valid" and rep.get("observations") == 21 and
              rep.get("signals") == ["high_invalid_rate"], r)
        # A valid mailbox at a clean domain scores 0.95 at the SMTP level (no SPF/DMARC here); the
        # signal takes 0.10 off.
        check("the signal's penalty", abs(r.get("score", 0) - 0.85) < 1e-9, r.get("score"))
        e = valid(r, "Result")
        check("a result with reputation matches the OpenAPI document", not e, e)
        # A job's results are stored verdicts: they keep the reputation their score was decided with.
        st, job = s.json("POST", "/v1/jobs", {"emails": ["alice@live-mail.org", "bob@live-mail.org"], "level": "smtp"})
        check("job accepted", st == 202, job)

        def finished():
            return s.json("GET", f"/v1/jobs/{job['id']}")[1].get("state") == "finished"
        check("job finished", wait_for(finished, 60))
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
        c.request("GET", f"/v1/jobs/{job['id']}/results")
        rows = [json.loads(line) for line in c.getresponse().read().decode().splitlines() if line]
        c.close()
        check("job results carry the reputation", len(rows) == 2 and all(
            (x.get("reputation") or {}).get("signals") == ["high_invalid_rate"] for x in rows), rows)
        check("job result scores", [x.get("score") for x in rows] == [0.85, 0], rows)
    finally:
        s.stop()

    # The same file from the command line (the server is gone: it held the file's lock).
    p = subprocess.run([BIN, "history", "show", "live-mail.org", "--history", HISTORY],
                       capture_output=True, text=True, timeout=60)
    out = json.loads(p.stdout) if p.returncode == 0 else {}
    # 21 + the restarted server's alice + the job's bob (the job's alice was the real-time answer
    # kept for --result-ttl: no new check, no new observation).
    check("history show", (out.get("domain") or {}).get("observations") == 23, p.stdout + p.stderr)
    p = subprocess.run([BIN, "history", "show", "live-mail.org", "--history", HISTORY, "--hash-keys"],
                       capture_output=True, text=True, timeout=60)
    check("a name-keyed file refuses --hash-keys", p.returncode == 3 and "--hash-keys" in p.stderr, p.stderr)
    missing = os.path.join(TMP, "missing.sqlite")
    p = subprocess.run([BIN, "history", "show", "live-mail.org", "--history", missing],
                       capture_output=True, text=True, timeout=60)
    check("history show of a missing file", p.returncode == 3 and "does not exist" in p.stderr
          and not os.path.exists(missing), p.stderr)

    # `verify --input` with the same file: every row carries the reputation, a repeated row too,
    # with the score its first occurrence was given.
    listing = os.path.join(TMP, "list.txt")
    with open(listing, "w") as f:
        f.write("alice@live-mail.org\ncarol@live-mail.org\nALICE@live-mail.org\nnot an address\n")
    out_file = os.path.join(TMP, "out.jsonl")
    p = subprocess.run([BIN, "verify", "--input", listing, "--output", out_file, "--quiet", *args],
                       capture_output=True, text=True, timeout=120)
    rows = [json.loads(x) for x in open(out_file)] if p.returncode == 0 else []
    check("bulk run", len(rows) == 4, p.stderr)
    if len(rows) == 4:
        check("bulk rows carry the reputation", all((x.get("reputation") or {}).get("observations") == 23
                                                    for x in rows[:3]), rows)
        check("a repeated row as its first", rows[2]["score"] == rows[0]["score"] == 0.85, rows)
        check("a row without a domain has none", "reputation" not in rows[3], rows[3])

    # Without --history: no reputation member, and the endpoint says why it has nothing.
    s = Server(*args[:-2])
    try:
        st, r = s.json("GET", "/v1/verify?email=alice@live-mail.org&timeout=30")
        check("no reputation member without --history", "reputation" not in r, r)
        st, d = s.json("GET", "/v1/domains/live-mail.org")
        check("no history: 404", st == 404 and "--history" in d["error"]["message"], d)
    finally:
        s.stop()
    dns.close()
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
