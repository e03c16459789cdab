#!/usr/bin/env python3
"""Black-box tests of `mailsift serve` over real HTTP (http.client, ssl) on loopback, no lab:
every endpoint and error path, API keys and the keys file, rate limits, request limits and
timeouts, TLS, callbacks, a single check outliving its timeout, and restart-resume of a job after
kill -9. DNS answers come from a scripted UDP server on 127.0.0.1 (silent, or answering
NXDOMAIN), so nothing leaves the machine.

Usage: api_test.py PATH/TO/mailsift REPO_ROOT
"""
import hashlib
import http.client
import http.server
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings

warnings.simplefilter("ignore", DeprecationWarning)  # the TLS 1.1 refusal check names old versions on purpose

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from checks import Checks  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
check = Checks()
TMP = tempfile.mkdtemp(prefix="mailsift-api-")


class Server:
    """`mailsift serve` on 127.0.0.1:0; reads the port from the 'listening on' line."""

    def __init__(self, *args, db=None, tls=False):
        self.db = db or os.path.join(TMP, f"db-{time.monotonic_ns()}.sqlite")
        self.log = open(os.path.join(TMP, f"log-{time.monotonic_ns()}.txt"), "w+")
        self.proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--db", self.db, *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        if "listening on" not in line:
            raise RuntimeError("server did not start: " + line + self.proc.stderr.read())
        self.port = int(line.split("://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])
        self.tls = tls
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self.log.write(line)
            self.log.flush()

    def logtext(self):
        self.log.seek(0)
        return self.log.read()

    def conn(self, timeout=30):
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def req(self, method, path, body=None, headers=None, timeout=30):
        c = self.conn(timeout)
        h = dict(headers or {})
        if isinstance(body, (list, dict)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), data

    def json(self, method, path, body=None, headers=None, timeout=30):
        s, h, d = self.req(method, path, body, headers, timeout)
        try:
            return s, h, json.loads(d)
        except ValueError:
            return s, h, d

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class FakeDns:
    """A UDP DNS server on 127.0.0.1: silent (never answers) or answering NXDOMAIN. Counts queries."""

    def __init__(self, silent):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.silent = silent
        self.names = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if len(data) < 12:
                continue
            i, labels = 12, []
            while i < len(data) and data[i] != 0:
                n = data[i]
                labels.append(data[i + 1:i + 1 + n].decode(errors="replace"))
                i += 1 + n
            self.names.append(".".join(labels).lower())
            if self.silent:
                continue
            qid, flags = struct.unpack(">HH", data[:4])
            rflags = 0x8000 | (flags & 0x0100) | 0x0080 | 3  # response, RD copied, RA, NXDOMAIN
            question = data[12:i + 5]
            self.sock.sendto(struct.pack(">HHHHHH", qid, rflags, 1, 0, 0, 0) + question, peer)


def wait_job(s, job_id, headers=None, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        st, _, j = s.json("GET", f"/v1/jobs/{job_id}", headers=headers)
        if st == 200 and j["state"] == "finished":
            return j
        time.sleep(0.1)
    return None


def results(s, job_id, fmt="jsonl", headers=None):
    st, h, d = s.req("GET", f"/v1/jobs/{job_id}/results?format={fmt}", headers=headers)
    text = d.decode()
    if fmt == "jsonl":
        return st, h, [json.loads(line) for line in text.splitlines() if line]
    return st, h, text


def test_basics():
    s = Server("--level", "syntax")
    try:
        st, h, j = s.json("GET", "/healthz")
        check("healthz", st == 200 and j["status"] == "ok" and "version" in j, (st, j))
        st, h, d = s.req("GET", "/")
        check("page", st == 200 and h.get("Content-Type", "").startswith("text/html") and b"<html" in d.lower()
              and "default-src 'self'" in h.get("Content-Security-Policy", ""), (st, h))
        # Script and style from the server only: no 'unsafe-inline' (the page has none inline).
        csp = {w[0]: w[1:] for w in (part.split() for part in h.get("Content-Security-Policy", "").split(";")) if w}
        for kind in ("script-src", "style-src"):
            check(f"page csp {kind}", csp.get(kind, csp.get("default-src")) == ["'self'"], csp)
        check("page csp frames", csp.get("frame-ancestors") == ["'none'"] and csp.get("base-uri") == ["'none'"], csp)
        for path, ctype in (("/app.js", "text/javascript"), ("/app.css", "text/css")):
            st, h, d = s.req("GET", path)
            check(f"page asset {path}", st == 200 and h.get("Content-Type", "").split(";")[0] == ctype and d,
                  (st, h, len(d)))
        st, h, j = s.json("GET", "/v1/openapi.json")
        check("openapi", st == 200 and j.get("openapi", "").startswith("3.") and "/v1/verify" in j.get("paths", {}), st)

        st, h, j = s.json("GET", "/v1/verify?email=ann%40gmail.com")
        check("verify GET", st == 200 and j["status"] == "valid" and j["reason"] == "well_formed"
              and j["email"] == "ann@gmail.com", (st, j))
        check("no-store", h.get("Cache-Control") == "no-store", h)
        st, h, j = s.json("POST", "/v1/verify", {"email": "bob@gmial.com"})
        check("verify POST", st == 200 and j["status"] == "risky" and j["suggestion"] == "bob@gmail.com", (st, j))
        st, h, j = s.json("GET", "/v1/verify?email=a+b@gmail.com")  # '+' stays a plus: plus-addresses
        check("verify plus kept", st == 200 and j["email"] == "a+b@gmail.com" and j["status"] == "valid", j)
        st, h, j = s.json("GET", "/v1/verify?email=a%2Bb@gmail.com")
        check("verify %2B", st == 200 and j["email"] == "a+b@gmail.com" and j["status"] == "valid", j)

        # Errors: stable codes.
        def err(name, st_want, code, method, path, body=None, headers=None):
            st, h, j = s.json(method, path, body, headers)
            ok = st == st_want and isinstance(j, dict) and j.get("error", {}).get("code") == code
            check(name, ok, (st, j))
            return h
        err("missing email", 400, "missing_email", "GET", "/v1/verify")
        err("empty email", 400, "missing_email", "GET", "/v1/verify?email=")
        err("bad level", 400, "bad_parameter", "GET", "/v1/verify?email=a@b.com&level=fast")
        err("bad timeout", 400, "bad_parameter", "GET", "/v1/verify?email=a@b.com&timeout=-1")
        err("huge timeout", 400, "bad_parameter", "GET", "/v1/verify?email=a@b.com&timeout=99999")
        err("long email", 400, "bad_parameter", "GET", "/v1/verify?email=" + "a" * 5000 + "@b.com")
        err("malformed json", 400, "malformed_json", "POST", "/v1/verify", "{nope", {"Content-Type": "application/json"})
        err("json not object", 400, "malformed_json", "POST", "/v1/verify", [1, 2])
        err("verify wrong type", 415, "unsupported_media_type", "POST", "/v1/verify", "email=a", {"Content-Type": "text/plain"})
        err("unknown path", 404, "not_found", "GET", "/v2/nothing")
        h = err("method", 405, "method_not_allowed", "PUT", "/v1/verify", "x", {"Content-Type": "text/plain"})
        check("Allow header", h.get("Allow") == "GET, HEAD, POST", h)
        err("unknown job", 404, "not_found", "GET", "/v1/jobs/0123456789abcdef")
        err("unknown job results", 404, "not_found", "GET", "/v1/jobs/nope/results")
        err("empty job", 400, "empty_job", "POST", "/v1/jobs", [])
        err("job non-string", 400, "malformed_json", "POST", "/v1/jobs", ["a@b.com", 5])
        err("job object without emails", 400, "malformed_json", "POST", "/v1/jobs", {"level": "syntax"})
        err("job media type", 415, "unsupported_media_type", "POST", "/v1/jobs", "x", {"Content-Type": "application/xml"})
        err("job bad level", 400, "bad_parameter", "POST", "/v1/jobs?level=deep", ["a@b.com"])
        err("job private callback", 400, "bad_parameter", "POST", "/v1/jobs",
            {"emails": ["a@b.com"], "callback_url": "http://127.0.0.1:9/hook"})
        err("job bad callback", 400, "bad_parameter", "POST", "/v1/jobs",
            {"emails": ["a@b.com"], "callback_url": "ftp://example.com/"})

        # Jobs: JSON array, JSON object, CSV, TXT.
        st, h, j = s.json("POST", "/v1/jobs", ["a@gmail.com", "bad", "c@gmial.com", "a@gmail.com"])
        check("job created", st == 202 and h.get("Location") == f"/v1/jobs/{j['id']}" and j["total"] == 4
              and len(j["id"]) == 32, (st, h, j))
        done = wait_job(s, j["id"])
        check("job finished", done is not None and done["done"] == 4 and done["counts"] ==
              {"valid": 2, "invalid": 1, "risky": 1, "unknown": 0} and done["progress"] == 1, done)
        st, h, rows = results(s, j["id"])
        check("results jsonl", st == 200 and [r["position"] for r in rows] == [1, 2, 3, 4]
              and rows[1]["reason"] == "syntax.missing_at" and h.get("X-Job-State") == "finished"
              and h.get("Transfer-Encoding") == "chunked", (st, h, rows))
        st, h, text = results(s, j["id"], "csv")
        lines = text.splitlines()
        check("results csv", st == 200 and lines[0].startswith("position,email,") and len(lines) == 5
              and lines[3].startswith("3,c@gmial.com,"), text)
        err("bad results format", 400, "bad_parameter", "GET", f"/v1/jobs/{j['id']}/results?format=xml")

        st, h, j2 = s.json("POST", "/v1/jobs?name=list1", "name,Email\nAnn,ann@gmail.com\nBob,\"bob@yahoo.com\"\n",
                           {"Content-Type": "text/csv"})
        d2 = wait_job(s, j2["id"]) if st == 202 else None
        check("csv job", d2 is not None and d2["total"] == 2 and d2["name"] == "list1" and d2["counts"]["valid"] == 2, (st, j2, d2))
        st, h, j3 = s.json("POST", "/v1/jobs", "x@gmail.com\r\ny@gmail.com\n\nnot-an-address\n", {"Content-Type": "text/plain"})
        d3 = wait_job(s, j3["id"]) if st == 202 else None
        check("txt job", d3 is not None and d3["total"] == 4 and d3["counts"]["invalid"] == 2, (st, j3, d3))
        st, h, j4 = s.json("POST", "/v1/jobs", {"emails": ["z@gmail.com"], "level": "syntax", "name": "obj"})
        check("object job", st == 202 and j4["name"] == "obj" and j4["level"] == "syntax", j4)

        st, h, j5 = s.json("DELETE", f"/v1/jobs/{j['id']}")
        check("delete", st == 200 and j5 == {"id": j["id"], "deleted": True}, (st, j5))
        err("deleted job gone", 404, "not_found", "GET", f"/v1/jobs/{j['id']}")
        err("deleted results gone", 404, "not_found", "GET", f"/v1/jobs/{j['id']}/results")

        st, h, d = s.req("GET", "/metrics")
        m = d.decode()
        check("metrics", st == 200 and h.get("Content-Type", "").startswith("text/plain; version=0.0.4")
              and 'mailsift_verifications_total{level="syntax",status="valid",reason="well_formed"}' in m
              and 'mailsift_verification_duration_seconds_bucket{level="syntax",le="+Inf"}' in m
              and 'mailsift_http_requests_total{code="400"}' in m and 'mailsift_jobs{state="finished"}' in m
              and "mailsift_dns_cache_hit_ratio" in m and "mailsift_smtp_sessions_in_flight 0" in m, m[:2000])

        # Logs never hold a full address by default.
        time.sleep(0.2)
        log = s.logtext()
        check("log masks addresses", "a***@gmail.com" in log and "ann@gmail.com" not in log, log[-800:])
    finally:
        s.stop()


def raw(port, data, read_timeout=10):
    """Sends raw bytes, returns the whole answer (until the server closes or the timeout)."""
    c = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    c.sendall(data)
    out = b""
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        pass
    c.close()
    return out


def test_limits():
    s = Server("--level", "syntax", "--max-body", "2048", "--read-timeout", "1", "--header-timeout", "1", "--max-job-size", "3")
    try:
        st, h, j = s.json("POST", "/v1/jobs", "x" * 5000, {"Content-Type": "text/plain"})
        check("body too large", st == 413 and j["error"]["code"] == "body_too_large", (st, j))
        st, h, j = s.json("POST", "/v1/jobs", ["a@gmail.com"] * 4)
        check("job too large", st == 413 and j["error"]["code"] == "body_too_large", (st, j))
        out = raw(s.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        check("headers too large", b" 431 " in out.split(b"\r\n", 1)[0] and b"headers_too_large" in out, out[:200])
        t0 = time.time()
        out = raw(s.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", read_timeout=10)  # never finishes
        check("slow client 408", b" 408 " in out.split(b"\r\n", 1)[0] and b"request_timeout" in out
              and time.time() - t0 < 8, (out[:200], time.time() - t0))
        out = raw(s.port, b"NONSENSE\r\n\r\n")
        check("garbage 400", b" 400 " in out.split(b"\r\n", 1)[0], out[:200])
        # Keep-alive: two requests on one connection.
        out = raw(s.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        check("keep-alive", out.count(b"HTTP/1.1 200 OK") == 2, out[:400])
        st, _, j = s.json("GET", "/healthz")
        check("alive after abuse", st == 200, st)
    finally:
        s.stop()


def test_keys_and_rates():
    key, other = "k-" + os.urandom(8).hex(), "o-" + os.urandom(8).hex()
    keyfile = os.path.join(TMP, "keys")
    with open(keyfile, "w") as f:
        f.write("# the keys of the test\n\n" + hashlib.sha256(other.encode()).hexdigest() + " name=other rate=1000\n")
    s = Server("--level", "syntax", "--api-key", key, "--api-keys-file", keyfile, "--rate-limit", "1", "--rate-burst", "3")
    try:
        A = {"Authorization": f"Bearer {key}"}
        B = {"Authorization": f"bearer {other}"}
        st, h, j = s.json("GET", "/v1/verify?email=a@gmail.com")
        check("no key 401", st == 401 and j["error"]["code"] == "unauthorized" and "Bearer" in h.get("WWW-Authenticate", ""), (st, h, j))
        st, h, j = s.json("GET", "/v1/verify?email=a@gmail.com", headers={"Authorization": "Bearer wrong"})
        check("wrong key 401", st == 401, st)
        st, h, j = s.json("GET", "/metrics")
        check("metrics need a key", st == 401, st)
        st, h, j = s.json("GET", "/healthz")
        check("healthz open", st == 200, st)
        st, h, j = s.json("GET", "/v1/verify?email=a@gmail.com", headers=A)
        check("key ok", st == 200 and j["status"] == "valid", (st, j))
        st, h, j = s.json("POST", "/v1/jobs", ["a@gmail.com"], headers=B)
        check("file key (hash) ok", st == 202, (st, j))
        st, h, j2 = s.json("GET", f"/v1/jobs/{j['id']}", headers=A)
        check("other key's job hidden", st == 404, (st, j2))
        st, h, j2 = s.json("DELETE", f"/v1/jobs/{j['id']}", headers=A)
        check("other key cannot delete", st == 404, st)
        st, h, j2 = s.json("GET", f"/v1/jobs/{j['id']}", headers=B)
        check("owner sees job", st == 200, st)
        # Key A: burst 3 at 1/s; after 3.2 s its bucket is full again: 3 pass, then 429 with
        # Retry-After (the six requests have a whole second before a token comes back).
        time.sleep(3.2)
        codes, retry = [], None
        for _ in range(6):
            st, h, j = s.json("GET", "/v1/verify?email=a@gmail.com", headers=A)
            codes.append(st)
            if st == 429:
                retry = h.get("Retry-After")
                check("429 body", j["error"]["code"] == "rate_limited", j)
        check("rate limited", codes[:3] == [200, 200, 200] and codes[3:] == [429] * 3 and retry is not None and int(retry) >= 1, (codes, retry))
        # Key B has rate=1000: not limited by the same burst.
        codes_b = [s.json("GET", "/v1/verify?email=b@gmail.com", headers=B)[0] for _ in range(3)]
        check("per-key rate", codes_b == [200, 200, 200], codes_b)
        time.sleep(1.2)
        st, h, j = s.json("GET", "/v1/verify?email=a@gmail.com", headers=A)
        check("tokens refill", st == 200, st)
    finally:
        s.stop()
    # No keys: only loopback.
    r = subprocess.run([BIN, "serve", "--listen", "0.0.0.0:0", "--db", os.path.join(TMP, "x.db")], capture_output=True,
                       text=True, timeout=20)
    check("non-loopback needs a key", r.returncode == 2 and "needs API keys" in r.stderr, (r.returncode, r.stderr))
    bad = os.path.join(TMP, "badkeys")
    with open(bad, "w") as f:
        f.write("plaintextkey\n")
    r = subprocess.run([BIN, "serve", "--api-keys-file", bad, "--db", os.path.join(TMP, "y.db")], capture_output=True,
                       text=True, timeout=20)
    check("keys file must hold hashes", r.returncode == 2 and "SHA-256" in r.stderr, (r.returncode, r.stderr))


def test_tls():
    cert, key = os.path.join(TMP, "cert.pem"), os.path.join(TMP, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                    "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    s = Server("--level", "syntax", "--tls-cert", cert, "--tls-key", key, tls=True)
    try:
        st, h, j = s.json("GET", "/v1/verify?email=a@gmail.com")
        check("https verify", st == 200 and j["status"] == "valid", (st, j))
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as raw_sock:
            with ctx.wrap_socket(raw_sock) as t:
                check("TLS 1.3 preferred", t.version() == "TLSv1.3", t.version())
        ctx11 = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx11.check_hostname = False
        ctx11.verify_mode = ssl.CERT_NONE
        try:
            ctx11.minimum_version = ssl.TLSVersion.TLSv1
            ctx11.maximum_version = ssl.TLSVersion.TLSv1_1
            ctx11.set_ciphers("ALL:@SECLEVEL=0")
            with socket.create_connection(("127.0.0.1", s.port), timeout=10) as raw_sock:
                with ctx11.wrap_socket(raw_sock) as t:
                    refused = False
        except (ssl.SSLError, OSError):
            refused = True
        check("TLS 1.1 refused", refused)
        out = raw(s.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", read_timeout=3)
        check("plain HTTP on TLS port gets nothing", b"HTTP/1.1 200" not in out, out[:100])
    finally:
        s.stop()


def test_callback():
    got = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", 0))
            got.append((self.path, self.headers.get("Content-Type"), json.loads(self.rfile.read(n))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass
    hook = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    s = Server("--level", "syntax", "--allow-private-callbacks")
    try:
        url = f"http://127.0.0.1:{hook.server_address[1]}/done?x=1"
        st, h, j = s.json("POST", "/v1/jobs", {"emails": ["a@gmail.com", "b@x"], "callback_url": url})
        check("callback job", st == 202 and j["callback_url"] == url and j["callback"]["state"] == "pending", j)
        end = time.time() + 20
        while time.time() < end and not got:
            time.sleep(0.1)
        check("callback POSTed", len(got) == 1 and got[0][0] == "/done?x=1" and got[0][1] == "application/json"
              and got[0][2]["id"] == j["id"] and got[0][2]["state"] == "finished" and got[0][2]["done"] == 2, got)
        time.sleep(0.5)
        st, h, j2 = s.json("GET", f"/v1/jobs/{j['id']}")
        check("callback delivered", j2["callback"] == {"state": "delivered", "attempts": 1, "error": None}, j2)
    finally:
        s.stop()
        hook.shutdown()


def test_pending_and_resume():
    silent = FakeDns(silent=True)
    dns = ["--dns-server", f"127.0.0.1:{silent.port}"]
    # A check that outlives its timeout answers check_pending, goes on, and a repeat gets the end.
    s = Server("--level", "dns", "--dns-timeout", "300", *dns)
    try:
        st, h, j = s.json("GET", "/v1/verify?email=ann@slow-domain.test.org&timeout=0.2")
        check("check_pending", st == 200 and j["status"] == "unknown" and j["reason"] == "check_pending", (st, j))
        # 2 tries: 300 ms + 600 ms. Requests meanwhile join the check; once it has ended, a 0.2 s
        # request gets its answer (a new check would take 0.9 s and answer check_pending).
        end = time.time() + 30
        while time.time() < end and j.get("reason") == "check_pending":
            st, h, j = s.json("GET", "/v1/verify?email=ann@slow-domain.test.org&timeout=0.2")
        check("pending check ends", st == 200 and j["reason"] == "dns_error", (st, j))
        st, h, j = s.json("GET", "/v1/verify?email=ann@slow-domain.test.org&timeout=0.2")
        check("repeat gets the finished answer", st == 200 and j["reason"] == "dns_error", (st, j))
    finally:
        s.stop()

    # Restart-resume: a job of 30 invalid addresses (finished at once) and 20 at domains whose DNS
    # never answers (in flight for seconds), killed with SIGKILL, started again on the same database.
    db = os.path.join(TMP, "resume.sqlite")
    emails = [f"bad{i}" for i in range(30)] + [f"u{i}@d{i}.resume-test.org" for i in range(20)]
    s = Server("--level", "dns", "--dns-timeout", "5000", "--job-concurrency", "10", *dns, db=db)
    try:
        st, h, j = s.json("POST", "/v1/jobs", emails)
        job = j["id"]
        end = time.time() + 20
        while time.time() < end:
            st, h, j = s.json("GET", f"/v1/jobs/{job}")
            if j["done"] >= 30:
                break
            time.sleep(0.1)
        time.sleep(0.6)  # past one commit
        st, h, before = results(s, job)
        check("partial results while running", h.get("X-Job-State") == "running" and len(before) == 30, (h, len(before)))
    finally:
        s.stop(signal.SIGKILL)
    n_before = len(silent.names)
    s = Server("--level", "dns", "--dns-timeout", "100", *dns, db=db)
    try:
        done = wait_job(s, job, timeout=60)
        check("resumed job finished", done is not None and done["done"] == 50 and done["counts"]["invalid"] == 30
              and done["counts"]["unknown"] == 20, done)
        st, h, after = results(s, job)
        check("every position once", [r["position"] for r in after] == list(range(1, 51)), [r["position"] for r in after])
        check("finished results kept", after[:30] == before, "")
        check("unfinished ones done again", all(r["reason"] == "dns_error" for r in after[30:]), after[30:32])
        asked = {n for n in silent.names[n_before:]}
        check("resumed addresses looked up after the restart",
              all(f"d{i}.resume-test.org" in asked for i in range(20)), sorted(asked)[:5])
    finally:
        s.stop()
    # Retention: started with --job-retention 0, the server deletes the finished job at once.
    s = Server("--level", "syntax", "--job-retention", "0", db=db)
    try:
        time.sleep(0.5)
        st, h, j = s.json("GET", f"/v1/jobs/{job}")
        check("retention deletes finished jobs", st == 404, (st, j))
    finally:
        s.stop()


def main():
    for t in (test_basics, test_limits, test_keys_and_rates, test_tls, test_callback, test_pending_and_resume):
        try:
            t()
        except Exception as e:  # a crash in one group is a failure, the others still run
            check(t.__name__, False, repr(e))
    sys.exit(check.summary())


main()
