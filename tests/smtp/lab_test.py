#!/usr/bin/env python3
"""Integration test of `mailsift verify --level smtp` against real Postfix and postgrey in the mail
lab (lab/README.md): every SMTP reason the lab can produce, STARTTLS, MX fallback, tarpits,
greylisting retries, catch-all, source addresses and the SOCKS5 path.

Usage: lab_test.py PATH/TO/mailsift REPO_ROOT

Starts its own lab in a uniquely named network namespace, runs the real binary inside it, checks
each JSON result, prints "N passed, N failed" and always tears the lab down. Needs root and
`ip netns`: without them it FAILS rather than skipping (CI runs as root). Nothing leaves the
namespace.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import lab  # noqa: E402
from checks import Checks  # noqa: E402

BIN, ROOT = os.path.abspath(sys.argv[1]), sys.argv[2]
NAME = f"mssmtp{os.getpid()}"
Z = "mailsift-lab.net"

check = Checks()
env = {}


# Waits short enough that the tarpit costs seconds, not 30, and long enough that a busy machine
# (CI runs these beside a build, under ASan too) does not turn a slow local answer into a verdict.
DEFAULTS = {"--dns-timeout": "2000", "--banner-timeout": "4", "--connect-timeout": "4"}


def verify(*args, stdin=None, timeout=120):
    # DEFAULTS unless the test sets its own.
    defaults = [x for k, v in DEFAULTS.items() if k not in args for x in (k, v)]
    cmd = ["ip", "netns", "exec", NAME, BIN, "verify", "--level", "smtp", "--allow-private-targets",
           "--format", "jsonl", *defaults, *args]
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
    if p.returncode not in (0, 1):
        print(f"mailsift exited {p.returncode}: {p.stderr.decode(errors='replace')}")
    recs = {r["email"]: r for r in (json.loads(l) for l in p.stdout.decode().splitlines())}
    return recs, p.stderr.decode(errors="replace")




def reason_of(r):
    return (r or {}).get("status"), (r or {}).get("reason")


def default_helo():
    """smtp::default_helo(): the host name, lower case, ".localdomain" added to a single label."""
    h = socket.gethostname().lower() or "localhost.localdomain"
    return h if "." in h else h + ".localdomain"


# Who we say we are (docs/smtp.md): each identity against three servers that check the sender, two
# known mailboxes and two unknown users each. The figures of docs/smtp.md are this table.
IDENTITIES = {
    "host": lambda: ["--mail-from", "verify@" + default_helo()],  # the default before issue 13
    "null": lambda: [],                                             # the default now: <>
    "resolving": lambda: ["--mail-from", f"verify@sender.{Z}"],      # MX, and verify@ is a real mailbox
    "resolving_no_mailbox": lambda: ["--mail-from", f"verify@mailbox.{Z}"],  # MX, no such mailbox
}
SERVERS = {"postfix_sender_checks": f"sender-checks.{Z}", "refuses_null_sender": f"null-refused.{Z}",
           "sender_callout": f"sender-callout.{Z}"}
EXISTING, UNKNOWN = ("alice", "bob"), ("nobody1", "nobody2")
RIGHT = {u: ("valid", "mailbox_exists") for u in EXISTING} | {u: ("invalid", "mailbox_not_found") for u in UNKNOWN}
# identity -> server -> (existing mailboxes answered valid, of 2; unknown users answered invalid from
# their own "user unknown", of 2). None: the server refused the sender at RCPT, and what an unknown
# user then gets depends on how the classifier reads that refusal (issue 13 class 1), not on us.
WANT = {
    "host": {"postfix_sender_checks": (0, None), "refuses_null_sender": (2, 2), "sender_callout": (0, None)},
    "null": {"postfix_sender_checks": (2, 2), "refuses_null_sender": (0, 0), "sender_callout": (2, 2)},
    "resolving": {"postfix_sender_checks": (2, 2), "refuses_null_sender": (2, 2), "sender_callout": (2, 2)},
    "resolving_no_mailbox": {"postfix_sender_checks": (2, 2), "refuses_null_sender": (2, 2),
                             "sender_callout": (0, None)},
}


def identity_matrix():
    addrs = [f"{u}@{d}" for d in SERVERS.values() for u in RIGHT]
    table = {}
    for ident, flags in IDENTITIES.items():
        r, err = verify("--no-catch-all", *flags(), *addrs)
        row = {}
        for name, d in SERVERS.items():
            got = {u: reason_of(r.get(f"{u}@{d}")) for u in RIGHT}
            right = tuple(sum(got[u] == RIGHT[u] for u in group) for group in (EXISTING, UNKNOWN))
            wrong = [(u, g) for u, g in got.items() if g[0] in ("valid", "invalid") and g[0] != RIGHT[u][0]]
            row[name] = {"right": list(right), "wrong": len(wrong)}
            want = WANT[ident][name]
            check(f"identity.{ident}.{name}", right[0] == want[0] and want[1] in (None, right[1]), (got, err[-300:]))
            if ident in ("null", "resolving"):  # the identities that pass: never a wrong valid/invalid
                check(f"identity.{ident}.{name}.never_wrong", not wrong, wrong)
        table[ident] = row
        # The start-up check: warned once about a --mail-from whose domain does not resolve, only then.
        check(f"identity.{ident}.startup_warning", err.count("warning: --mail-from") == (ident == "host"), err[-300:])
    print("identity matrix:", json.dumps(table))


def stable(rec, random_local=None):
    """A result without what differs between any two runs: times (elapsed_ms, connect_ms, a reply's
    ms), whether a TLS session was resumed (which session to a host came first is a matter of
    timing) and the random local part of the catch-all test's address, wherever it is quoted."""
    if random_local is None and isinstance(rec, dict):
        ca = ((rec.get("smtp") or {}).get("catch_all_test") or {}).get("address", "")
        random_local = ca.split("@", 1)[0] if "@" in ca else ""
    if isinstance(rec, dict):
        return {k: stable(v, random_local) for k, v in rec.items() if k not in ("ms", "elapsed_ms", "connect_ms", "resumed")}
    if isinstance(rec, list):
        return [stable(x, random_local) for x in rec]
    if isinstance(rec, str) and random_local:
        return rec.replace(random_local, "RANDOM")
    return rec


def threads_section(want):
    """--threads (issue 15): the same results with 4 event loops as with 1, and the per-MX-address
    cap held across the loops, counted at the server."""
    addrs = list(want)
    r1, _ = verify("--threads", "1", *addrs)
    r4, _ = verify("--threads", "4", *addrs)
    diff = [a for a in addrs if stable(r1.get(a)) != stable(r4.get(a))]
    check("threads.same_results", len(r1) == len(addrs) and not diff,
          [(a, json.dumps(stable(r1.get(a)))[:600], json.dumps(stable(r4.get(a)))[:600]) for a in diff[:1]])

    # Per-MX caps across loops, counted at the server: the slow sink (port 2525, 2 s before each RCPT
    # answer) so that sessions last long enough for `ss` to count them exactly. 3 hosts with 4
    # domains each (domain i is on host i % 200), 2 addresses a domain, one RCPT a session: 8
    # sessions per host from domains spread over the 4 loops. Each domain's queue alone allows
    # --host-concurrency sessions; only the shared gate keeps a host at 2 in all (else up to 8).
    domains = [f"s{h + 200 * j:05d}.sink.{Z}" for h in range(3) for j in range(4)]
    slow = [f"t{i:04d}@{domains[i % len(domains)]}" for i in range(24)]
    counter = subprocess.Popen(["ip", "netns", "exec", f"{NAME}-sink", sys.executable,
                                os.path.join(ROOT, "lab", "conncount.py"), "--port", "2525", "--interval", "0.01",
                                "--duration", "60", "--json", "--stable"], stdout=subprocess.PIPE)
    try:
        r, err = verify("--threads", "4", "--smtp-port", "2525", "--host-concurrency", "2", "--host-rate", "0",
                        "--rcpts-per-session", "1", "--no-catch-all", "--smtp-stats", stdin="\n".join(slow).encode())
    finally:
        counter.terminate()
    out, _ = counter.communicate(timeout=30)
    seen = json.loads(out or b"{}")
    check("threads.slow_sink_results", len(r) == 24 and all(reason_of(x) == ("valid", "mailbox_exists")
                                                             for x in r.values()), list(r.values())[:1])
    check("threads.host_cap_at_server", seen.get("max_per_address") == 2 and seen.get("addresses") == 3, seen)
    check("threads.host_cap_in_gate", "at most 2 connections to one server" in err, err)


class Cluster:
    """A redis-server and `mailsift worker` processes inside the lab namespace (docs/cluster.md)."""

    def __init__(self, workers, *worker_args):
        self.dir = tempfile.mkdtemp(prefix="mailsift-cluster-")
        with socket.socket() as s:  # a free port (the namespace's loopback has every port free)
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.redis = subprocess.Popen(["ip", "netns", "exec", NAME, "redis-server", "--port", str(self.port),
                                       "--bind", "127.0.0.1", "--dir", self.dir, "--appendonly", "yes", "--save", "",
                                       "--logfile", os.path.join(self.dir, "redis.log")],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(250):
            if subprocess.run(["ip", "netns", "exec", NAME, "redis-cli", "-p", str(self.port), "ping"],
                              capture_output=True).stdout.strip() == b"PONG":
                break
            time.sleep(0.02)
        defaults = [x for k, v in DEFAULTS.items() for x in (k, v)]
        self.logs = []
        self.workers = []
        for i in range(workers):
            log = open(os.path.join(self.dir, f"worker{i}.log"), "w+b")
            self.logs.append(log)
            self.workers.append(subprocess.Popen(
                ["ip", "netns", "exec", NAME, BIN, "worker", "--broker", self.url, "--name", f"w{i}",
                 "--allow-private-targets", *defaults, *worker_args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log))

    def log(self, i):
        self.logs[i].seek(0)
        return self.logs[i].read().decode(errors="replace")

    def close(self):
        for p in self.workers + [self.redis]:
            if p.poll() is None:
                p.terminate()
        for p in self.workers + [self.redis]:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self.logs:
            log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


SERVE_CLIENT = r"""
import http.client, json, sys, time
port, emails = int(sys.argv[1]), json.load(sys.stdin)
def get(path, method="GET", body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
    d = c.getresponse().read()
    c.close()
    return d
job = json.loads(get("/v1/jobs?level=smtp", "POST", json.dumps(emails)))
end = time.time() + 120
while time.time() < end and json.loads(get("/v1/jobs/" + job["id"]))["state"] != "finished":
    time.sleep(0.2)
print(json.dumps({"results": get("/v1/jobs/" + job["id"] + "/results").decode(), "metrics": get("/metrics").decode()}))
"""


def serve_job(url, addrs):
    """A job of `addrs` on `mailsift serve --broker URL` (its checks done by the cluster's workers):
    the results by address, and /metrics when it finished."""
    tmp = tempfile.mkdtemp(prefix="mailsift-cluster-serve-")
    defaults = [x for k, v in DEFAULTS.items() for x in (k, v)]
    srv = subprocess.Popen(["ip", "netns", "exec", NAME, BIN, "serve", "--broker", url, "--listen", "127.0.0.1:0",
                            "--db", os.path.join(tmp, "db.sqlite"), "--allow-private-targets", "--quiet", *defaults],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        line = srv.stderr.readline()
        port = line.split("://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1]
        p = subprocess.run(["ip", "netns", "exec", NAME, sys.executable, "-c", SERVE_CLIENT, port],
                           input=json.dumps(addrs).encode(), capture_output=True, timeout=180)
        out = json.loads(p.stdout or b"{}")
        rows = [json.loads(x) for x in out.get("results", "").splitlines() if x]
        return {r["email"]: r for r in rows}, out.get("metrics", "")
    finally:
        srv.terminate()
        srv.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


def cluster_section(want):
    """--broker and `mailsift worker` (issue 16): the results of one process, from two worker
    processes; the per-MX cap across the workers, counted at the server; a worker killed with -9
    in the middle of a run, its chunks done by the other after --lease."""
    addrs = list(want)
    alone, _ = verify(*addrs)
    c = Cluster(2, "--lease", "2")
    survivor = ""
    try:
        r, err = verify("--broker", c.url, *addrs)
        diff = [a for a in addrs if stable(alone.get(a)) != stable(r.get(a))]
        check("cluster.same_results", len(r) == len(addrs) and not diff,
              [(a, json.dumps(stable(alone.get(a)))[:600], json.dumps(stable(r.get(a)))[:600], err[-300:])
               for a in diff[:1]])
        # `serve --broker`: a job's checks done by the workers, with the verdicts of one process.
        # (A job's row also has its position; the rest is the same object.)
        rows, metrics = serve_job(c.url, addrs)
        diff = [a for a in addrs if stable(alone.get(a)) != stable({k: v for k, v in (rows.get(a) or {}).items()
                                                                     if k != "position"})]
        published = re.search(r"^mailsift_cluster_chunks_published_total (\d+)$", metrics, re.M)
        check("cluster.serve_job", len(rows) == len(addrs) and not diff and published and int(published.group(1)) > 0,
              [(a, json.dumps(stable(alone.get(a)))[:600], json.dumps(stable(rows.get(a)))[:600]) for a in diff[:1]]
              or metrics[-600:])

        # The slow sink (2 s before each RCPT answer): 3 hosts, 4 domains each, 2 addresses a domain,
        # one RCPT a session. Each worker alone would allow --host-concurrency 2 per host: the
        # broker keeps a host at 2 across both. Worker 0 is killed with -9 after 3 s, holding chunks.
        domains = [f"s{h + 200 * j:05d}.sink.{Z}" for h in range(3) for j in range(4)]
        slow = [f"k{i:04d}@{domains[i % len(domains)]}" for i in range(24)]
        counter = subprocess.Popen(["ip", "netns", "exec", f"{NAME}-sink", sys.executable,
                                    os.path.join(ROOT, "lab", "conncount.py"), "--port", "2525", "--interval", "0.01",
                                    "--duration", "60", "--json", "--stable"], stdout=subprocess.PIPE)
        args = ["--broker", c.url, "--smtp-port", "2525", "--host-concurrency", "2", "--host-rate", "0",
                "--rcpts-per-session", "1", "--no-catch-all"]
        for w in c.workers:  # the workers take their SMTP settings from their own command line
            w.terminate()
            w.wait(timeout=30)
        c.workers = [subprocess.Popen(["ip", "netns", "exec", NAME, BIN, "worker", "--broker", c.url, "--name", f"s{i}",
                                       "--allow-private-targets", "--lease", "5", "--dns-timeout", "2000",
                                       "--smtp-port", "2525", "--host-concurrency", "2", "--host-rate", "0",
                                       "--rcpts-per-session", "1", "--no-catch-all", "--chunks", "4"],
                                      stdin=subprocess.DEVNULL, stdout=c.logs[i], stderr=c.logs[i]) for i in range(2)]
        time.sleep(0.5)
        killer = threading.Timer(3.0, lambda: c.workers[0].kill())
        killer.start()
        started = time.time()
        try:
            r, err = verify(*args, stdin="\n".join(slow).encode())
        finally:
            killer.cancel()
            counter.terminate()
        took = time.time() - started
        out, _ = counter.communicate(timeout=30)
        seen = json.loads(out or b"{}")
        check("cluster.worker_killed.results", len(r) == 24 and all(reason_of(x) == ("valid", "mailbox_exists")
                                                                    for x in r.values()), (list(r.values())[:1], err[-300:]))
        check("cluster.worker_killed.was_mid_run", c.workers[0].poll() == -9 and took > 3.5, (c.workers[0].poll(), took))
        check("cluster.host_cap_at_server", seen.get("max_per_address") == 2 and seen.get("addresses") == 3, seen)
        # `mailsift cluster status`: the survivor alive with its identity, the sink's addresses
        # with the asks the broker refused while each was at its cap.
        st = subprocess.run(["ip", "netns", "exec", NAME, BIN, "cluster", "status", "--broker", c.url, "--format", "json"],
                            capture_output=True, timeout=60)
        status = json.loads(st.stdout or b"{}")
        names = {w.get("name"): w.get("alive") for w in status.get("workers", [])}
        check("cluster.status.workers", names.get("s1") is True and "s0" in names, (names, st.stderr[-300:]))
        busiest = status.get("busiest_mx") or [{}]
        check("cluster.status.refused_asks", busiest[0].get("refused_asks", 0) > 0 and
              status.get("queue", {}).get("held") == 0, status)
        # The coordinator killed with -9 in the middle of a bulk run with --state: the same command
        # again finishes it; every row once, in input order.
        work = tempfile.mkdtemp(prefix="mailsift-cluster-bulk-")
        inp, outp, state = (os.path.join(work, n) for n in ("in.txt", "out.jsonl", "state.db"))
        with open(inp, "w") as f:
            f.write("\n".join(slow) + "\n")
        bulk = ["ip", "netns", "exec", NAME, BIN, "verify", "--level", "smtp", "--allow-private-targets",
                "--dns-timeout", "2000", "--quiet", *args, "--input", inp, "--output", outp, "--state", state]
        first = subprocess.Popen(bulk, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(3)
        first.kill()
        first.wait(timeout=30)
        # (The progress lines of a cluster's run say its workers and chunks out.)
        again = subprocess.run([x for x in bulk if x != "--quiet"] + ["--progress", "jsonl"], capture_output=True,
                               timeout=180)
        lines = [json.loads(x) for x in again.stderr.decode(errors="replace").splitlines() if x.startswith("{")]
        check("cluster.progress", bool(lines) and lines[-1].get("final") is True and lines[-1].get("workers", 0) >= 1
              and lines[-1].get("chunks_out") == 0, again.stderr[-600:])
        rows = [json.loads(x) for x in open(outp)] if os.path.exists(outp) else []
        check("cluster.coordinator_killed.resumed", first.returncode == -9 and again.returncode in (0, 1) and
              [x.get("email") for x in rows] == slow and
              all(reason_of(x) == ("valid", "mailbox_exists") for x in rows),
              (first.returncode, again.returncode, again.stderr[-300:], len(rows)))
        shutil.rmtree(work, ignore_errors=True)
        c.workers[1].terminate()  # a clean stop prints its counts
        c.workers[1].wait(timeout=60)
        survivor = c.log(1).rsplit("mailsift: worker s1 ready", 1)[-1]
    finally:
        c.close()
    m = re.search(r"(\d+) chunks finished, (\d+) reclaimed from other workers", survivor)
    check("cluster.worker_killed.chunks_reclaimed", bool(m) and int(m.group(2)) > 0, survivor[-300:])


def main():
    env.update(lab.env_of(NAME))

    # --- one run, many domains: every reason Postfix gives at RCPT TO --------------------------
    m = f"mailbox.{Z}"
    want = {
        f"alice@{m}": ("valid", "mailbox_exists"),
        f"bob@{m}": ("valid", "mailbox_exists"),
        f"nobody-here@{m}": ("invalid", "mailbox_not_found"),
        f"full@{m}": ("risky", "mailbox_full"),
        f"quota@{m}": ("risky", "mailbox_full"),
        f"disabled@{m}": ("invalid", "mailbox_disabled"),
        f"blocked@{m}": ("unknown", "blocked"),
        f"anything@catchall.{Z}": ("risky", "catch_all"),
        f"alice@mx-cname.{Z}": ("unknown", "relay_denied"),       # smtp1 does not take mail for it
        f"alice@tls.{Z}": ("valid", "mailbox_exists"),             # STARTTLS required, done
        f"alice@dead-primary.{Z}": ("valid", "mailbox_exists"),    # MX 10 refuses, MX 20 answers
        f"alice@tarpit.{Z}": ("valid", "mailbox_exists"),          # MX 10 never greets
        f"x@null-mx.{Z}": ("invalid", "null_mx"),                  # never probed
        f"jos\u00e9@{m}": ("invalid", "mailbox_not_found"),        # SMTPUTF8 offered and used
        f'"john doe"@{m}': ("invalid", "mailbox_not_found"),       # quoted local part: sent, answered
    }
    r, err = verify("--smtp-stats", *want.keys())
    # Without --allow-private-targets the lab's own servers are refused: never probed.
    cmd = ["ip", "netns", "exec", NAME, BIN, "verify", "--format", "jsonl", f"alice@{m}"]
    p = subprocess.run(cmd, capture_output=True, timeout=60)
    u = json.loads(p.stdout.decode().splitlines()[0]) if p.stdout else {}
    check("target_safety.default", reason_of(u) == ("invalid", "unsafe_target") and u.get("smtp") is None, u)
    for addr, (status, reason) in want.items():
        check(f"reason {addr}", reason_of(r.get(addr)) == (status, reason), r.get(addr))
    for addr in (f"x@null-mx.{Z}",):
        check(f"not probed {addr}", (r.get(addr) or {}).get("smtp") is None and
              "smtp" not in (r.get(addr) or {}).get("checks", []), r.get(addr))
    a = (r.get(f"alice@{m}") or {}).get("smtp") or {}
    check("evidence.reply", (a.get("reply") or {}).get("code") == 250 and
          (a.get("reply") or {}).get("enhanced") == "2.1.5", a)
    check("evidence.host", a.get("host") == f"smtp1.{Z}" and a.get("address") in ("10.25.0.10", "fd00:25::10"), a)
    check("evidence.stage", a.get("stage") == "rcpt_to", a)
    check("evidence.replies", [x["stage"] for x in a.get("replies", [])][:2] == ["banner", "ehlo"], a.get("replies"))
    check("evidence.tls", (a.get("tls") or {}).get("used") is True and
          (a.get("tls") or {}).get("version", "").startswith("TLSv1") and
          (a.get("tls") or {}).get("verified") is False and (a.get("tls") or {}).get("cert_error"), a.get("tls"))
    check("catch_all.false_at_mailbox", (r.get(f"alice@{m}") or {}).get("flags", {}).get("catch_all") is False,
          r.get(f"alice@{m}"))
    ca = r.get(f"anything@catchall.{Z}") or {}
    check("catch_all.true", ca.get("flags", {}).get("catch_all") is True and
          ((ca.get("smtp") or {}).get("catch_all_test") or {}).get("reply", {}).get("code") == 250, ca)
    check("catch_all.random_address", ((ca.get("smtp") or {}).get("catch_all_test") or {}).get("address", "")
          .endswith(f"@catchall.{Z}"), ca.get("smtp"))
    check("score.order", (r.get(f"alice@{m}") or {}).get("score", 0) > ca.get("score", 1) > 0, (r.get(f"alice@{m}"), ca))
    dp = (r.get(f"alice@dead-primary.{Z}") or {}).get("smtp") or {}
    att = dp.get("attempts", [])
    check("fallback.attempts", len(att) >= 2 and att[0].get("failure") == "connect_failed" and
          att[0].get("address") == "10.25.0.99" and att[-1].get("failure") is None, att)
    tp = (r.get(f"alice@tarpit.{Z}") or {}).get("smtp") or {}
    check("tarpit.timeout_then_next", any(x.get("failure") == "timeout" and x.get("stage") == "connect"
                                          for x in tp.get("attempts", [])), tp.get("attempts"))
    tl = (r.get(f"alice@tls.{Z}") or {}).get("smtp") or {}
    check("starttls_required.used", (tl.get("tls") or {}).get("used") is True, tl.get("tls"))
    # All seven mailbox.* addresses went in one session (several RCPTs, one MAIL FROM).
    sessions = [int(w) for w in err.split() if w.isdigit()][:1]
    check("one_session_per_domain", sessions and sessions[0] <= 12, err)
    ms = [(r.get(x) or {}).get("smtp") or {} for x in want if x.endswith("@" + m)]
    check("rcpts_share_session", len({json.dumps(x.get("attempts")) for x in ms}) == 1, [x.get("attempts") for x in ms])

    # --- STARTTLS required, and we refuse to use it: the server's 530 is about us, not the mailbox.
    r, _ = verify("--no-starttls", f"alice@tls.{Z}")
    check("no_starttls.blocked", reason_of(r.get(f"alice@tls.{Z}")) == ("unknown", "blocked"), r)

    # --- TLS session resumption (docs/smtp.md, TLS): two sessions to smtp-tls one after the other
    # (--host-concurrency 1); the second resumes the first's session (Postfix hands out TLS 1.3
    # tickets), and keeps its certificate facts. --tls-session-cache 0: neither resumes.
    pair = [f"alice@tls.{Z}", f"bob@tls.{Z}"]
    for cache, want_resumed in (("10000", [False, True]), ("0", [False, False])):
        r, _ = verify("--rcpts-per-session", "1", "--host-concurrency", "1", "--no-catch-all",
                      "--tls-session-cache", cache, *pair)
        tl = [((r.get(a) or {}).get("smtp") or {}).get("tls") or {} for a in pair]
        check(f"tls_resumption.cache_{cache}", sorted(t.get("resumed") is True for t in tl) == want_resumed and
              all(t.get("used") is True and t.get("verified") is False and
                  t.get("cert_error") == "self-signed certificate" for t in tl), tl)

    # --- a session bound a tarpit cannot stretch
    r, _ = verify("--session-timeout", "1", "--banner-timeout", "30", f"alice@tarpit.{Z}")
    t = r.get(f"alice@tarpit.{Z}") or {}
    check("session_timeout.timeout", reason_of(t) == ("unknown", "timeout"), t)

    # --- greylisting: deferred, retried from the same source after the delay postgrey states
    # ("Greylisted for 5 seconds", lab/up.sh), then accepted. --greylist-retry (the wait when no
    # delay is stated) is far beyond --max-wait: only the stated delay can make the retry happen.
    delay = int(env.get("LAB_GREYLIST_DELAY", "5"))
    g = f"alice@greylist.{Z}"
    r, err = verify("--greylist-retry", "600", "--max-wait", "60", "--smtp-stats", g, timeout=180)
    gr = r.get(g) or {}
    check("greylist.retried_accepted", reason_of(gr) == ("valid", "mailbox_exists") and
          (gr.get("smtp") or {}).get("tries") == 2, gr)
    # A different recipient, no time to retry: unknown greylisted, never invalid; the evidence
    # holds the delay postgrey stated (at most its whole delay).
    g2 = f"bob@greylist.{Z}"
    r, _ = verify("--max-wait", "0", g2)
    check("greylist.no_wait_unknown", reason_of(r.get(g2)) == ("unknown", "greylisted"), r.get(g2))
    hint = ((r.get(g2) or {}).get("smtp") or {}).get("retry_after_ms")
    check("greylist.stated_delay_recorded", isinstance(hint, int) and 0 < hint <= delay * 1000, r.get(g2))

    # --- transcript: the dialogue, never DATA
    r, _ = verify("--transcript", f"alice@{m}")
    tr = ((r.get(f"alice@{m}") or {}).get("smtp") or {}).get("transcript", [])
    check("transcript.dialogue", any(x.startswith("C: EHLO ") for x in tr) and
          any(x.startswith("C: RCPT TO:<alice@") for x in tr) and any(x.startswith("S: 220 ") for x in tr) and
          any(x == "C: QUIT" for x in tr), tr)
    check("transcript.never_data", not any(x.upper().startswith("C: DATA") for x in tr), tr)
    check("transcript.default_mail_from_null", "C: MAIL FROM:<>" in tr, tr)  # docs/smtp.md
    r, _ = verify("--transcript", "--helo", "probe.example.net", "--mail-from", "bounce@example.net", f"alice@{m}")
    tr = ((r.get(f"alice@{m}") or {}).get("smtp") or {}).get("transcript", [])
    check("identity.options", "C: EHLO probe.example.net" in tr and
          any(x.startswith("C: MAIL FROM:<bounce@example.net>") for x in tr), tr)

    identity_matrix()
    threads_section(want)
    cluster_section(want)

    # --- source addresses (--source-ip) and the SOCKS5 proxy (dante), when the lab provides them
    sources = env.get("LAB_SOURCE_IPS", "").replace(",", " ").split()
    if sources:
        v4 = [s for s in sources if ":" not in s][:2]
        r, _ = verify("--source-ip", v4[0], "--source-ip", v4[-1], "--rcpts-per-session", "1", "--no-catch-all",
                      f"alice@{m}", f"bob@{m}")
        used = {att.get("source") for x in r.values() for att in (x.get("smtp") or {}).get("attempts", [])}
        check("source_ip.rotated", used == set(v4), (used, v4))
        check("source_ip.results", all(reason_of(x) == ("valid", "mailbox_exists") for x in r.values()), r)
    else:
        check("source_ip.lab_has_addresses", False, "LAB_SOURCE_IPS missing from lab.env")
    socks, socks_auth = env.get("LAB_SOCKS"), env.get("LAB_SOCKS_AUTH")
    if socks and socks_auth:
        r, _ = verify("--proxy", f"socks5://{socks}", f"alice@{m}")
        check("socks5.none", reason_of(r.get(f"alice@{m}")) == ("valid", "mailbox_exists"), r)
        user, pw = env.get("LAB_SOCKS_USER", ""), env.get("LAB_SOCKS_PASS", "")
        r, _ = verify("--proxy", f"socks5://{user}:{pw}@{socks_auth}", f"nobody-here@{m}")
        check("socks5.auth", reason_of(r.get(f"nobody-here@{m}")) == ("invalid", "mailbox_not_found"), r)
        r, _ = verify("--proxy", f"socks5://{user}:wrong{pw}@{socks_auth}", f"alice@{m}")
        x = r.get(f"alice@{m}") or {}
        check("socks5.bad_password", reason_of(x) == ("unknown", "connect_failed") and
              "socks5" in json.dumps((x.get("smtp") or {}).get("attempts")), x)
    else:
        check("socks5.lab_has_proxy", False, "LAB_SOCKS / LAB_SOCKS_AUTH missing from lab.env")

    return 0


lab.run(ROOT, NAME, check, main)
