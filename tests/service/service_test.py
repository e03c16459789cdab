#!/usr/bin/env python3
"""Running mailsift as a service (issue 18), against the real binary on loopback:
- the man pages and the bash completion in the repository are what scripts/gen-man.py makes from
  this binary's --help (never stale);
- `serve` tells systemd it is ready once it listens and that it stops at SIGTERM (sd_notify over
  a $NOTIFY_SOCKET this test listens on, as systemd does for Type=notify);
- --log-format json writes one JSON object per line;
- --config: values from the file, the command line winning, errors with the line.

Usage: service_test.py PATH/TO/mailsift REPO_ROOT
"""
import filecmp
import hashlib
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from checks import Checks  # noqa: E402

BIN, ROOT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
check = Checks()
tmp = tempfile.mkdtemp(prefix="mailsift-service-")

# --- the man pages and the completion are current -------------------------------------------
gen = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen-man.py"), BIN, os.path.join(tmp, "man"),
                      os.path.join(tmp, "mailsift.bash")], capture_output=True, text=True)
stale = [f for f in sorted(os.listdir(os.path.join(ROOT, "docs", "man")))
         if not filecmp.cmp(os.path.join(ROOT, "docs", "man", f), os.path.join(tmp, "man", f), shallow=False)]
new = sorted(set(os.listdir(os.path.join(tmp, "man"))) - set(os.listdir(os.path.join(ROOT, "docs", "man"))))
check("man_pages_current", gen.returncode == 0 and not stale and not new,
      (gen.stderr[-300:], stale, new, "run: python3 scripts/gen-man.py build/release/mailsift docs/man dist/bash-completion/mailsift"))
check("completion_current", filecmp.cmp(os.path.join(ROOT, "dist", "bash-completion", "mailsift"),
                                        os.path.join(tmp, "mailsift.bash"), shallow=False))

# --- sd_notify and --log-format json ---------------------------------------------------------
sock_path = os.path.join(tmp, "notify")
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sock_path)
sock.settimeout(20)
env = dict(os.environ, NOTIFY_SOCKET=sock_path)
env.pop("JOURNAL_STREAM", None)
srv = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--db", os.path.join(tmp, "db.sqlite"),
                        "--log-format", "json"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, env=env)
try:
    first = json.loads(srv.stderr.readline() or "{}")
    port = int(first.get("message", "").split("://", 1)[-1].split(" ", 1)[0].rsplit(":", 1)[-1] or 0)
    check("json_log.listening", set(first) == {"time", "level", "message"} and first["message"].startswith("listening on http://")
          and first["time"].endswith("Z"), first)
    ready = sock.recv(4096).decode()
    check("notify.ready", ready.startswith("READY=1\n") and "STATUS=listening on http://127.0.0.1:" in ready, ready)
    # Ready means serving: a request right after READY=1 is answered.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
        check("notify.ready_means_serving", r.status == 200, r.status)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/verify?email=a@b.com&level=syntax", timeout=10) as r:
        r.read()
    srv.send_signal(signal.SIGTERM)
    stopping = sock.recv(4096).decode()
    check("notify.stopping", stopping.startswith("STOPPING=1"), stopping)
    rest = srv.stderr.read()
    srv.wait(timeout=30)
    lines = [json.loads(l) for l in rest.splitlines() if l.strip()]
    check("json_log.every_line", lines and all(set(l) == {"time", "level", "message"} for l in lines)
          and any(l["message"].startswith("verify a***@b.com") for l in lines) and any("stopping" in l["message"] for l in lines),
          rest[-600:])
    check("sigterm_exit_0", srv.returncode == 0, srv.returncode)
finally:
    if srv.poll() is None:
        srv.kill()

# --- SIGHUP: keys, lists and the TLS certificate reloaded under load, no request failing --------
def make_cert(name, cn):
    cert, key = os.path.join(tmp, name + ".crt"), os.path.join(tmp, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=" + cn], check=True, capture_output=True)
    return cert, key


def sha256(s):
    return hashlib.sha256(s.encode()).hexdigest()


cert, key = make_cert("tls", "first.mailsift.test")
keys = os.path.join(tmp, "keys")
disposable = os.path.join(tmp, "disposable.txt")
with open(keys, "w") as f:
    f.write(sha256("key-a") + " name=a\n")
with open(disposable, "w") as f:
    f.write("mailsift-tmpbox-one.net\n")
sock2 = os.path.join(tmp, "notify2")
ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ns.bind(sock2)
ns.settimeout(20)
srv = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--db", os.path.join(tmp, "db2.sqlite"), "--level", "syntax",
                        "--tls-cert", cert, "--tls-key", key, "--api-keys-file", keys, "--disposable-file", disposable,
                        "--rate-limit", "0", "--quiet"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       env=dict(env, NOTIFY_SOCKET=sock2))
tls = ssl.create_default_context()
tls.check_hostname = False
tls.verify_mode = ssl.CERT_NONE


def request(conn, path, k):
    conn.request("GET", path, headers={"Authorization": "Bearer " + k})
    r = conn.getresponse()
    return r.status, r.read()


def peer_cn(conn):
    der = conn.sock.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"], input=der, capture_output=True)
    return out.stdout.decode().strip()


try:
    port = int(srv.stderr.readline().split("://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])
    ns.recv(4096)  # READY=1
    new_conn = lambda: http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=tls)  # noqa: E731
    failures, done = [], threading.Event()
    counts = {"requests": 0}

    def load():
        # Bounded: until told to stop, 30 s at most; a new connection every 20 requests.
        end = time.time() + 30
        c = new_conn()
        while not done.is_set() and time.time() < end:
            try:
                st, body = request(c, "/v1/verify?email=x@mailsift-tmpbox-one.net", "key-a")
                if st != 200:
                    failures.append((st, body[:200]))
            except Exception as e:  # noqa: BLE001 - any failure counts
                failures.append(repr(e))
                c = new_conn()
            counts["requests"] += 1
            if counts["requests"] % 20 == 0:
                c.close()
                c = new_conn()
        c.close()

    kept = new_conn()
    st, _ = request(kept, "/healthz", "key-a")
    before = peer_cn(kept)
    st_b, _ = request(new_conn(), "/v1/verify?email=a@b.com", "key-b")
    check("reload.before", st == 200 and st_b == 401 and "first.mailsift.test" in before, (st, st_b, before))
    loader = threading.Thread(target=load)
    loader.start()
    time.sleep(0.5)
    with open(keys, "a") as f:
        f.write(sha256("key-b") + " name=b\n")
    with open(disposable, "a") as f:
        f.write("mailsift-tmpbox-two.net\n")
    make_cert("tls", "second.mailsift.test")
    srv.send_signal(signal.SIGHUP)
    reloading, reloaded = ns.recv(4096).decode(), ns.recv(4096).decode()
    log = srv.stderr.readline()
    check("reload.notify", reloading.startswith("RELOADING=1") and reloaded.startswith("READY=1") and
          "STATUS=reloaded (SIGHUP): API keys, lists, TLS certificate" in reloaded, (reloading, reloaded))
    check("reload.logged", "reloaded (SIGHUP): API keys, lists, TLS certificate" in log, log)
    fresh = new_conn()
    st_b, _ = request(fresh, "/v1/verify?email=a@b.com", "key-b")
    st_l, body = request(fresh, "/v1/verify?email=x@mailsift-tmpbox-two.net", "key-b")
    check("reload.applied", st_b == 200 and "second.mailsift.test" in peer_cn(fresh) and
          json.loads(body).get("flags", {}).get("disposable") is True, (st_b, st_l, body[:300]))
    st, _ = request(kept, "/healthz", "key-a")
    check("reload.open_connection_kept", st == 200 and peer_cn(kept) == before, st)
    # A keys file that no longer loads: the old keys stay, the other parts reload.
    with open(keys, "a") as f:
        f.write("not-a-hash\n")
    srv.send_signal(signal.SIGHUP)
    ns.recv(4096), ns.recv(4096)
    log = srv.stderr.readline()
    st_b, _ = request(new_conn(), "/v1/verify?email=a@b.com", "key-b")
    check("reload.bad_keys_kept", "reloaded (SIGHUP): lists, TLS certificate; API keys kept:" in log and st_b == 200, log)
    done.set()
    loader.join(timeout=60)
    check("reload.no_failed_request", counts["requests"] > 50 and not failures, (counts, failures[:3]))
    srv.send_signal(signal.SIGTERM)
    srv.wait(timeout=30)
finally:
    if srv.poll() is None:
        srv.kill()

# --- SIGTERM drains: a request in progress is answered, a new connection is refused -----------
# A DNS server that never answers: a --level dns check takes 2 tries of --dns-timeout.
hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
hole.bind(("127.0.0.1", 0))


def drain_run(drain_timeout):
    p = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--db", os.path.join(tmp, f"db-drain{drain_timeout}.sqlite"),
                          "--dns-server", f"127.0.0.1:{hole.getsockname()[1]}", "--dns-timeout", "1000",
                          "--drain-timeout", str(drain_timeout)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    port = int(p.stderr.readline().split("://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])
    result = {}

    def slow():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            c.request("GET", "/v1/verify?email=a@slow-dns-mailsift.com&level=dns&timeout=20")
            r = c.getresponse()
            result["status"], result["body"] = r.status, json.loads(r.read())
        except Exception as e:  # noqa: BLE001
            result["error"] = repr(e)

    t = threading.Thread(target=slow)
    t.start()
    # The request is in progress once the server counts its check (not after a guessed sleep).
    end = time.time() + 20
    while time.time() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/metrics")
            if "mailsift_checks_in_flight 1\n" in c.getresponse().read().decode():
                break
        except OSError:
            pass
        time.sleep(0.05)
    started = time.time()
    p.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        refused = False
    except OSError:
        refused = True
    t.join(timeout=30)
    p.wait(timeout=30)
    return result, refused, time.time() - started, p.returncode, p.stderr.read()


result, refused, took, rc, err = drain_run(10)
check("drain.request_answered", result.get("status") == 200 and result["body"].get("reason") == "dns_error", (result, err[-300:]))
check("drain.no_new_connections", refused)
check("drain.exit_0", rc == 0 and "draining 1 requests in progress" in err, (rc, err[-300:]))
result, refused, took, rc, err = drain_run(0.3)
# The check takes 3 s (1 s + 2 s of DNS tries), so a drain that waited for it would take over 2.5 s.
check("drain.bounded", rc == 0 and took < 2.5 and "1 requests still open at --drain-timeout" in err, (took, rc, err[-300:]))

# --- SIGTERM during a job: exit 0, and the same database resumes the job, every row once -------
def start_serve(db, *extra):
    p = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--db", db, "--level", "dns",
                          "--dns-server", f"127.0.0.1:{hole.getsockname()[1]}", "--quiet", *extra],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return p, int(p.stderr.readline().split("://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])


def call(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers={"Content-Type": "application/json"} if body is not None else {})
    r = c.getresponse()
    return r.status, r.read()


db = os.path.join(tmp, "job.sqlite")
emails = [f"bad{i}" for i in range(30)] + [f"u{i}@d{i}-resume-mailsift.com" for i in range(10)]
p, port = start_serve(db, "--dns-timeout", "3000")
st, body = call(port, "POST", "/v1/jobs", emails)
job = json.loads(body)["id"]
end = time.time() + 20
while time.time() < end and json.loads(call(port, "GET", f"/v1/jobs/{job}")[1])["done"] < 30:
    time.sleep(0.1)
time.sleep(0.6)  # past a commit
p.send_signal(signal.SIGTERM)
p.wait(timeout=30)
check("job_sigterm.exit_0", p.returncode == 0, p.returncode)
p, port = start_serve(db, "--dns-timeout", "100")
try:
    end, state = time.time() + 60, {}
    while time.time() < end:
        state = json.loads(call(port, "GET", f"/v1/jobs/{job}")[1])
        if state.get("state") == "finished":
            break
        time.sleep(0.2)
    rows = [json.loads(l) for l in call(port, "GET", f"/v1/jobs/{job}/results")[1].decode().splitlines() if l]
    check("job_sigterm.resumed", state.get("state") == "finished" and [r["position"] for r in rows] == list(range(1, 41))
          and all(r["reason"] == "dns_error" for r in rows[30:]), (state, len(rows)))
finally:
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)

# --- --config end to end ---------------------------------------------------------------------
conf = os.path.join(tmp, "mailsift.conf")
with open(conf, "w") as f:
    f.write("[verify]\nlevel = syntax\nformat = csv\n\n[serve]\nlisten = 127.0.0.1:0\n")
r = subprocess.run([BIN, "verify", "--config", conf, "a@b.com"], capture_output=True, text=True)
check("config.applies", r.returncode == 0 and r.stdout.startswith("email,normalized,") and ",valid,well_formed," in r.stdout, r)
r = subprocess.run([BIN, "verify", "--config", conf, "--format", "jsonl", "a@b.com"], capture_output=True, text=True)
check("config.command_line_wins", r.returncode == 0 and r.stdout.startswith("{"), r.stdout[:200])
with open(conf, "a") as f:
    f.write("[worker]\nbrokr = redis://x\n")
r = subprocess.run([BIN, "verify", "--config", conf, "a@b.com"], capture_output=True, text=True)
check("config.error_with_line", r.returncode == 2 and f"{conf}:8: unknown key 'brokr' in [worker]" in r.stderr, r.stderr)
r = subprocess.run([BIN, "verify", "--config", os.path.join(ROOT, "dist", "mailsift.conf"), "--level", "syntax", "a@b.com"],
                   capture_output=True, text=True)
check("config.shipped_file_valid", r.returncode == 0, r.stderr)

sys.exit(check.summary())
