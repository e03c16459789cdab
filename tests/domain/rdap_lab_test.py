#!/usr/bin/env python3
"""`mailsift verify --rdap` (issue 17, docs/rdap.md) against an RDAP server over HTTPS in a network
namespace this test creates, with a test CA it generates (certificate checks stay on) and an
RFC 9224 bootstrap file pointing at it; DNS for the lab domains from a scripted server in the same
namespace (tests/server/fake_net.py's FakeDns, with the lab's names).

The RDAP answers: a registered old domain, a new one (new_domain), one on hold (domain_not_active),
one the registry does not know (404), a slow one (past --rdap-timeout: the verdict still comes,
with registration.error), a malformed one, an oversized one; and a TLD the bootstrap file does not
serve, a server the CA did not sign (no --rdap-ca-file), one lookup per registrable domain, and the
registration surviving a --state round trip, --rdap-cache across runs, and a cluster (--broker:
a worker does DNS, the coordinator RDAP) giving the same results as the local run.

Usage: rdap_lab_test.py PATH/TO/mailsift REPO_ROOT   (root: ip netns)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
from checks import Checks  # noqa: E402
import test_ca  # noqa: E402

BIN, ROOT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
check = Checks()
NS = f"msrdap{os.getpid()}"
tmp = tempfile.mkdtemp(prefix="mailsift-rdap-")
LOG = os.path.join(tmp, "queries.log")

# DNS and RDAP in one process inside the namespace: the lab's names resolve to 127.0.0.1 (no MX:
# the implicit MX), everything else is NXDOMAIN; RDAP answers by domain.
SERVER = r"""
import http.server, json, os, socket, ssl, sys, threading, time
sys.path.insert(0, sys.argv[5])
import fake_net
cert, key, port, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
NAMES = {"oldco-mailsift.com", "newco-mailsift.com", "heldco-mailsift.com", "goneco-mailsift.com",
         "slowco-mailsift.com", "brokenco-mailsift.com", "hugeco-mailsift.com", "otherco-mailsift.net",
         "limitco-mailsift.com"}
class Dns(fake_net.FakeDns):
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 5353))
        self.port = 5353
        self.queries = 0
        threading.Thread(target=self._run, daemon=True).start()
    def _address(self, name):
        if name.startswith("bulk") and name.endswith("-mailsift.com"):
            return "127.0.0.1"
        return "127.0.0.1" if any(name == n or name.endswith("." + n) for n in NAMES) else None
Dns()
DAY = 86400
def date(days_ago):
    # Midnight UTC, so that every answer of a run (and of the cluster run) names the same date.
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((time.time() // DAY - days_ago) * DAY))
def domain(name, days_ago, status):
    return {"objectClassName": "domain", "ldhName": name.upper(), "rdapConformance": ["rdap_level_0"],
            "events": [{"eventAction": "registration", "eventDate": date(days_ago)},
                       {"eventAction": "expiration", "eventDate": date(-365)}],
            "status": status,
            "entities": [{"objectClassName": "entity", "roles": ["registrar"],
                          "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Lab Registrar"]]]}]}
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(log, "a") as f:
            f.write(self.path + "\n")
        name = self.path.rsplit("/", 1)[-1]
        body = None
        if name.startswith("bulk"):
            body = json.dumps(domain(name, 400, ["active"]))
        elif name == "oldco-mailsift.com":
            body = json.dumps(domain(name, 9000, ["client transfer prohibited"]))
        elif name == "newco-mailsift.com":
            body = json.dumps(domain(name, 5, ["active"]))
        elif name == "heldco-mailsift.com":
            body = json.dumps(domain(name, 3000, ["client hold", "client transfer prohibited"]))
        elif name == "slowco-mailsift.com":
            time.sleep(8)
            body = json.dumps(domain(name, 3000, ["active"]))
        elif name == "brokenco-mailsift.com":
            body = "<html><body>Too many requests</body></html>"
        elif name == "hugeco-mailsift.com":
            d = domain(name, 3000, ["active"])
            d["remarks"] = [{"description": ["x" * 1000] * 1000}]
            body = json.dumps(d)
        if name == "limitco-mailsift.com":
            data = json.dumps({"errorCode": 429, "title": "Too Many Requests"}).encode()
            self.send_response(429)
        elif body is None:
            data = json.dumps({"errorCode": 404, "title": "Not Found"}).encode()
            self.send_response(404)
        else:
            data = body.encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/rdap+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            pass
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
srv.daemon_threads = True
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("ready", flush=True)
srv.serve_forever()
"""


def sh(*cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def openssl_cert(name, san, ca=None):
    return test_ca.openssl_cert(tmp, name, san, ca)


def queries():
    if not os.path.exists(LOG):
        return []
    return open(LOG).read().split()


proc = None
try:
    sh("ip", "netns", "add", NS, check=True)
    sh("ip", "-n", NS, "link", "set", "lo", "up", check=True)
    ca = openssl_cert("test-ca", None)
    cert = openssl_cert("rdap-server", "IP:127.0.0.1", ca)
    proc = subprocess.Popen(["ip", "netns", "exec", NS, sys.executable, "-c", SERVER, cert[0], cert[1], "8443", LOG,
                             os.path.join(HERE, "..", "server")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    check("server.ready", proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.poll() is not None else "")
    bootstrap = os.path.join(tmp, "dns.json")
    with open(bootstrap, "w") as f:
        json.dump({"version": "1.0", "publication": "2026-12-01T00:00:00Z", "description": "mailsift lab",
                   "services": [[["com"], ["http://127.0.0.1:8080/rdap/", "https://127.0.0.1:8443/rdap/"]]]}, f)

    def verify(addresses, *extra, rdap_args=None, fmt=("--format", "jsonl"), level="dns", timeout=60):
        args = rdap_args if rdap_args is not None else ["--rdap", "--rdap-bootstrap", bootstrap, "--rdap-ca-file", ca[0]]
        return sh("ip", "netns", "exec", NS, BIN, "verify", "--level", level, "--dns-server", "127.0.0.1:5353",
                  "--allow-private-targets", *fmt, *args, *extra, *addresses, timeout=timeout)

    addresses = ["jane@oldco-mailsift.com", "jane@newco-mailsift.com", "bob@mail.newco-mailsift.com",
                 "jane@heldco-mailsift.com", "jane@goneco-mailsift.com", "jane@slowco-mailsift.com",
                 "jane@brokenco-mailsift.com", "jane@hugeco-mailsift.com", "jane@otherco-mailsift.net"]
    t0 = time.time()
    # --rdap-timeout counts from when a lookup is queued: 4 s with no spacing and a thread each is
    # room for every quick answer on a busy machine, and still half the slow one's 8 s.
    r = verify(addresses, "--rdap-timeout", "4", "--rdap-rate", "0", "--rdap-concurrency", "8", "--dns-stats")
    elapsed = time.time() - t0
    rows = {}
    for line in r.stdout.splitlines():
        rec = json.loads(line)
        rows[rec["email"]] = rec
    check("run.ok", r.returncode == 0 and len(rows) == len(addresses), (r.returncode, r.stderr[-800:]))
    print(f"info: {len(addresses)} addresses with --rdap-timeout 4 (one answer takes 8 s) in {elapsed:.1f} s")

    def reg(email):
        return (rows.get(email) or {}).get("registration") or {}

    old = rows.get("jane@oldco-mailsift.com", {})
    g = reg("jane@oldco-mailsift.com")
    check("registered.old", old.get("reason") == "mx_found" and old["flags"]["new_domain"] is False and g.get("found") is True
          and g.get("age_days", 0) >= 8999 and g.get("created", "").endswith("Z") and g.get("status") == ["client transfer prohibited"]
          and g.get("source") == "https://127.0.0.1:8443/rdap/domain/oldco-mailsift.com" and g.get("error") is None
          and g.get("domain") == "oldco-mailsift.com", old)
    new = rows.get("jane@newco-mailsift.com", {})
    check("new.flag", new.get("flags", {}).get("new_domain") is True and reg("jane@newco-mailsift.com").get("age_days") == 5
          and new.get("status") == "valid", new)
    check("new.penalty", new.get("score", 1) < old.get("score", 0), (new.get("score"), old.get("score")))
    sub = rows.get("bob@mail.newco-mailsift.com", {})
    check("new.registrable", sub.get("flags", {}).get("new_domain") is True and reg("bob@mail.newco-mailsift.com").get("domain")
          == "newco-mailsift.com", sub)
    held = rows.get("jane@heldco-mailsift.com", {})
    check("hold.reason", held.get("reason") == "domain_not_active" and held.get("status") == "risky"
          and "client hold" in reg("jane@heldco-mailsift.com").get("status", []) and held.get("dns") is not None, held)
    gone = reg("jane@goneco-mailsift.com")
    check("not_found", gone.get("found") is False and gone.get("error") is None and gone.get("created") is None
          and rows.get("jane@goneco-mailsift.com", {}).get("reason") == "mx_found", gone)
    slow = rows.get("jane@slowco-mailsift.com", {})
    check("slow.verdict_still_comes", slow.get("reason") == "mx_found" and reg("jane@slowco-mailsift.com").get("found") is False
          and "time limit" in (reg("jane@slowco-mailsift.com").get("error") or ""), slow)
    broken = reg("jane@brokenco-mailsift.com")
    check("malformed", broken.get("found") is False and "not valid JSON" in (broken.get("error") or "")
          and rows.get("jane@brokenco-mailsift.com", {}).get("reason") == "mx_found", broken)
    huge = reg("jane@hugeco-mailsift.com")
    check("oversized", huge.get("found") is False and "larger than" in (huge.get("error") or ""), huge)
    other = reg("jane@otherco-mailsift.net")
    check("no_server_for_tld", "no RDAP server" in (other.get("error") or "") and other.get("source") is None, other)
    q = queries()
    check("one_query_per_registrable", q.count("/rdap/domain/newco-mailsift.com") == 1 and
          not any("mail.newco" in x for x in q) and not any("otherco" in x for x in q), q)
    # 8 domains asked (the .net one ends at once: no server for it); 4 failed (slow, malformed, oversized, .net).
    check("stats.line", "mailsift: rdap: 8 queries, 0 cache hits, 0 coalesced, 4 failed, 0 from --rdap-cache" in r.stderr, r.stderr[-500:])

    # --level smtp: the probe's answer and the registration together. No mail server listens: the
    # probe cannot tell (unknown), which a hold does not override; the registration is still there.
    r = verify(["jane@heldco-mailsift.com", "jane@newco-mailsift.com"], "--smtp-port", "2599",
               "--connect-timeout", "2", level="smtp", timeout=120)
    got = [json.loads(x) for x in r.stdout.splitlines()]
    check("smtp_level", r.returncode == 0 and len(got) == 2 and got[0]["status"] == "unknown" and
          got[0]["smtp"] is not None and "client hold" in got[0]["registration"]["status"] and
          got[1]["flags"]["new_domain"] is True and got[1]["registration"]["age_days"] == 5,
          (r.returncode, r.stderr[-400:], got))

    # --rdap-cache: answers (found and 404, not failures) kept across runs; the next run asks only
    # for what failed.
    cache = os.path.join(tmp, "rdap.db")
    few = ["jane@oldco-mailsift.com", "jane@goneco-mailsift.com", "jane@brokenco-mailsift.com"]
    c1 = verify(few, "--rdap-cache", cache, "--dns-stats")
    n1 = len(queries())
    c2 = verify(few, "--rdap-cache", cache, "--dns-stats")
    asked = queries()[n1:]
    regs1 = [json.loads(x)["registration"] for x in c1.stdout.splitlines()]
    regs2 = [json.loads(x)["registration"] for x in c2.stdout.splitlines()]
    check("disk_cache.reused", c2.returncode == 0 and regs2 == regs1 and len(regs2) == 3 and
          asked == ["/rdap/domain/brokenco-mailsift.com"] and "2 from --rdap-cache" in c2.stderr,
          (asked, c2.stderr[-400:], regs1, regs2))

    # A cluster (--broker): a worker does DNS, the coordinator RDAP, and joins the answer to the
    # worker's restored verdict: the same results as the local run.
    redis_dir = os.path.join(tmp, "redis")
    os.makedirs(redis_dir)
    redis = subprocess.Popen(["ip", "netns", "exec", NS, "redis-server", "--port", "6390", "--bind", "127.0.0.1",
                              "--dir", redis_dir, "--save", "", "--appendonly", "no"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        for _ in range(250):
            if sh("ip", "netns", "exec", NS, "redis-cli", "-p", "6390", "ping").stdout.strip() == "PONG":
                break
            time.sleep(0.02)
        url = "redis://127.0.0.1:6390/0"
        worker = subprocess.Popen(["ip", "netns", "exec", NS, BIN, "worker", "--broker", url, "--name", "w0",
                                   "--dns-server", "127.0.0.1:5353", "--allow-private-targets"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        trio = ["jane@oldco-mailsift.com", "jane@newco-mailsift.com", "jane@heldco-mailsift.com"]
        c = verify(trio, "--broker", url, timeout=120)
        got = [json.loads(x) for x in c.stdout.splitlines()]
        keys = ("status", "reason", "score", "flags", "registration")
        want = [{k: rows[e][k] for k in keys} for e in trio if e in rows]
        check("cluster.same_results", c.returncode == 0 and [{k: g[k] for k in keys} for g in got] == want,
              (c.returncode, c.stderr[-500:], got, want))
    finally:
        for p in (worker, redis):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()

    # A measurement, not a check: 600 addresses at 200 domains, with and without --rdap.
    bulk_in = os.path.join(tmp, "bulk.txt")
    with open(bulk_in, "w") as f:
        f.write("".join(f"u{j}@bulk{i:03d}-mailsift.com\n" for i in range(200) for j in range(3)))
    times, codes = {}, []
    for name, args in (("without", []), ("with", None)):
        t0 = time.time()
        # --dns-concurrency 16: the scripted DNS server (one Python thread) drops datagrams when
        # hundreds come at once, and a 2 s retry would be all the measurement shows.
        r = verify([], "--input", bulk_in, "--output", os.path.join(tmp, f"bulk-{name}.jsonl"), "--quiet",
                   "--dns-concurrency", "16", *([] if args == [] else ["--rdap-rate", "0", "--rdap-timeout", "30"]),
                   rdap_args=args, fmt=(),
                   timeout=120)
        times[name] = time.time() - t0
        codes.append(r.returncode)
    plain = [json.loads(x) for x in open(os.path.join(tmp, "bulk-without.jsonl"))]
    out = [json.loads(x) for x in open(os.path.join(tmp, "bulk-with.jsonl"))]
    check("bulk.without", codes[0] == 0 and len(plain) == 600 and all(x["reason"] == "mx_found" for x in plain), plain[:2])
    check("bulk.all_registered", r.returncode == 0 and len(out) == 600 and
          all((x.get("registration") or {}).get("age_days") == 400 for x in out), (r.stderr[-300:], out[:2]))
    print(f"info: 600 addresses at 200 domains, --level dns: {times['without']:.2f} s without --rdap, "
          f"{times['with']:.2f} s with (--rdap-concurrency 4, --rdap-rate 0, one HTTPS connection per lookup)")

    # --rdap-rate: requests to one server are spaced; one whose turn comes past --rdap-timeout is not
    # sent (1 a second for 2 seconds: at most 3 of 10 go out), and the verdicts still come.
    n0 = len(queries())
    ten = [f"x@bulk{i:03d}-mailsift.com" for i in range(300, 310)]
    r = verify(ten, "--rdap-rate", "1", "--rdap-timeout", "2")
    got = [json.loads(x) for x in r.stdout.splitlines()]
    answered = [g for g in got if (g.get("registration") or {}).get("found")]
    # The rest: mostly "not asked"; one whose turn came just before its deadline may be sent and run
    # out of time instead.
    failed = [g for g in got if (g.get("registration") or {}).get("error")]
    not_asked = [g for g in failed if "not asked" in g["registration"]["error"]]
    sent = len(queries()) - n0
    check("rate.spaced", r.returncode == 0 and len(got) == 10 and 1 <= len(answered) <= 3 and sent <= 3
          and len(answered) + len(failed) == 10 and len(not_asked) >= 6 and all(g["reason"] == "mx_found" for g in got),
          (sent, len(answered), len(not_asked), [g["registration"]["error"] for g in failed], r.stderr[-300:]))
    # 429: an error (the server's word in it), never a verdict.
    r = verify(["jane@limitco-mailsift.com"])
    rec = json.loads(r.stdout.splitlines()[0]) if r.stdout else {}
    check("rate.429", "answered 429" in ((rec.get("registration") or {}).get("error") or "") and rec.get("reason") == "mx_found",
          rec)

    # Without --rdap: no lookup, registration null, new_domain false.
    before = len(queries())
    r = verify(["jane@newco-mailsift.com"], rdap_args=[])
    rec = json.loads(r.stdout.splitlines()[0]) if r.stdout else {}
    check("off.null", rec.get("registration", "missing") is None and rec.get("flags", {}).get("new_domain") is False
          and len(queries()) == before, rec)

    # Certificate checks stay on: the system store does not know the test CA.
    r = verify(["jane@oldco-mailsift.com"], rdap_args=["--rdap", "--rdap-bootstrap", bootstrap])
    rec = json.loads(r.stdout.splitlines()[0]) if r.stdout else {}
    check("untrusted", r.returncode == 0 and "certificate verify failed" in ((rec.get("registration") or {}).get("error") or "")
          and rec.get("reason") == "mx_found", rec)

    # Usage errors: no bootstrap file; an offline level.
    r = verify(["jane@oldco-mailsift.com"], rdap_args=["--rdap"])
    check("usage.no_bootstrap", r.returncode == 2 and "--rdap-bootstrap" in r.stderr, (r.returncode, r.stderr))
    r = sh(BIN, "verify", "--level", "syntax", "--rdap", "--rdap-bootstrap", bootstrap, "jane@oldco-mailsift.com")
    check("usage.syntax_level", r.returncode == 2 and "network level" in r.stderr, (r.returncode, r.stderr))
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as f:
        f.write("{\"services\": 1}")
    r = verify(["jane@oldco-mailsift.com"], rdap_args=["--rdap", "--rdap-bootstrap", bad])
    check("usage.bad_bootstrap", r.returncode != 0 and "services" in r.stderr, (r.returncode, r.stderr))

    # Bulk with --state: a finished run read back gives the same registration, without asking again.
    inp, out, state = os.path.join(tmp, "in.txt"), os.path.join(tmp, "out.jsonl"), os.path.join(tmp, "state.db")
    with open(inp, "w") as f:
        f.write("jane@newco-mailsift.com\njane@heldco-mailsift.com\njane@oldco-mailsift.com\n")
    bulk = ["--input", inp, "--output", out, "--output-format", "jsonl", "--state", state, "--quiet"]
    r1 = verify([], *bulk, fmt=())
    first = open(out).read().splitlines() if os.path.exists(out) else []
    n1 = len(queries())
    r2 = verify([], *bulk, fmt=())
    second = open(out).read().splitlines() if os.path.exists(out) else []
    regs1 = [json.loads(x).get("registration") for x in first]
    regs2 = [json.loads(x).get("registration") for x in second]
    check("state.first", r1.returncode == 0 and len(regs1) == 3 and all(x and x.get("found") for x in regs1), (r1.stderr[-500:], first))
    check("state.round_trip", r2.returncode == 0 and regs2 == regs1 and
          [json.loads(x)["reason"] for x in second] == [json.loads(x)["reason"] for x in first] and
          [json.loads(x)["flags"]["new_domain"] for x in second] == [True, False, False], (r2.stderr[-500:], second))
    print(f"info: rdap queries during the --state re-run: {len(queries()) - n1}")

    # `mailsift serve --rdap`: a real-time check and a job's results carry the registration (the
    # server and the client both in the namespace: the client is a python one-liner run there).
    srv = subprocess.Popen(["ip", "netns", "exec", NS, BIN, "serve", "--listen", "127.0.0.1:0", "--quiet",
                            "--db", os.path.join(tmp, "serve.db"), "--level", "dns", "--dns-server", "127.0.0.1:5353",
                            "--allow-private-targets", "--rdap", "--rdap-bootstrap", bootstrap, "--rdap-ca-file", ca[0]],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        line = srv.stderr.readline()
        port = line.split("://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1] if "listening on" in line else ""
        check("serve.started", bool(port), line + (srv.stderr.read() if srv.poll() is not None else ""))

        def get(path):
            g = sh("ip", "netns", "exec", NS, sys.executable, "-c",
                   "import sys, urllib.request\n"
                   "print(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode())",
                   f"http://127.0.0.1:{port}{path}", timeout=60)
            return json.loads(g.stdout) if g.returncode == 0 and g.stdout.strip() else {}
        new_rt = get("/v1/verify?email=jane@newco-mailsift.com&timeout=20")
        held_rt = get("/v1/verify?email=jane@heldco-mailsift.com&timeout=20")
        check("serve.new_domain", (new_rt.get("registration") or {}).get("found") is True
              and new_rt.get("flags", {}).get("new_domain") is True and new_rt.get("reason") == "mx_found", new_rt)
        check("serve.not_active", held_rt.get("reason") == "domain_not_active", held_rt)
    finally:
        srv.kill()
        srv.wait()

    # --history and --rdap together: both members on every row, each stored with the verdict, and
    # the second run's reputation counts the first run's results.
    hist = os.path.join(tmp, "history.sqlite")
    both = [None, None]
    for i in range(2):
        r = verify(["jane@newco-mailsift.com", "jane@oldco-mailsift.com"], "--history", hist)
        both[i] = [json.loads(x) for x in r.stdout.splitlines()] if r.returncode == 0 else []
    check("history_and_rdap.both_members", len(both[1]) == 2 and all(
        (x.get("registration") or {}).get("found") is True and "reputation" in x for x in both[1]), both)
    check("history_and_rdap.reputation", [x["reputation"]["observations"] for x in both[0]] == [0, 0] and
          [x["reputation"]["observations"] for x in both[1]] == [1, 1], both)
    check("history_and_rdap.new_domain", both[1] and both[1][0]["flags"]["new_domain"] is True, both)
finally:
    if proc:
        proc.kill()
    sh("ip", "netns", "del", NS)
    shutil.rmtree(tmp, ignore_errors=True)

sys.exit(check.summary())
