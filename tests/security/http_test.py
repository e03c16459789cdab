#!/usr/bin/env python3
"""Regression tests of issue 14's attacks on `mailsift serve`, black-box over loopback only: what a
client can do before it shows a key (connections, trickled headers, trailers, chunk extensions,
bodies), failed-key throttling, per-key quotas, HEAD, large job bodies, and a full disk under the
database (a 2 MiB-class tmpfs mounted by the test: needs root, as the lab tests do). Legitimate
clients come from 127.0.0.2 so the server sees them as another client address than the attacker's
127.0.0.1.

Usage: http_test.py PATH/TO/mailsift REPO_ROOT
"""
import json
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from checks import Checks  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
check = Checks()
TMP = tempfile.mkdtemp(prefix="mailsift-sec-")
KEY = "sekrit-key-0123456789"
AUTH = {"Authorization": "Bearer " + KEY}
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))


class Server:
    """`mailsift serve` on 127.0.0.1:0 with one API key; the port comes from its 'listening on' line."""

    def __init__(self, *args, db=None):
        self.db = db or os.path.join(TMP, f"db-{time.monotonic_ns()}.sqlite")
        self.logpath = os.path.join(TMP, f"log-{time.monotonic_ns()}.txt")
        self.log = open(self.logpath, "w")
        self.proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--db", self.db, "--api-key", KEY,
                                      "--level", "syntax", *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        if "listening on" not in line:
            raise RuntimeError("server did not start: " + line + self.proc.stderr.read())
        self.port = int(line.rsplit("(", 1)[0].split("://", 1)[1].strip().rsplit(":", 1)[1])
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self.log.write(line)
            self.log.flush()

    def logtext(self):
        with open(self.logpath) as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def rss_kib(self, field="VmRSS"):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def connect(port, source="127.0.0.2", timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_all(s):
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except (socket.timeout, ConnectionResetError):
        pass
    return out


def request(port, method, path, body=b"", headers=None, source="127.0.0.2", timeout=10):
    """One request on its own connection (Connection: close); returns (status, headers, body)."""
    h = {"Host": "x", "Connection": "close", **(headers or {})}
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    if body or method in ("POST", "PUT"):
        h["Content-Length"] = str(len(body))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    s = connect(port, source, timeout)
    try:
        s.sendall(head.encode() + body)
        return parse(read_all(s))
    finally:
        s.close()


def parse(raw):
    if not raw:
        return 0, {}, b""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    status = int(lines[0].split()[1]) if len(lines[0].split()) > 1 else 0
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def code(body):
    try:
        return json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def healthy(srv):
    st, _, _ = request(srv.port, "GET", "/healthz")
    return srv.alive() and st == 200


# --- critical: a trailer field that Beast cannot store ended the process ------------------------------
def test_trailers_and_extensions():
    srv = Server()
    try:
        for name, trailer in [("value", b"X: " + b"a" * 65534), ("name", b"a" * 65534 + b": x")]:
            s = connect(srv.port, "127.0.0.1")
            s.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + trailer + b"\r\n\r\n")
            st, _, body = parse(read_all(s))
            s.close()
            check(f"trailer.huge_{name}.answered", st in (405, 431), (st, body[:200]))
            check(f"trailer.huge_{name}.server_lives", healthy(srv), srv.logtext()[-500:])
        # A 20 KB trailer section passes no more than a 20 KB header would.
        s = connect(srv.port)
        s.sendall(b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() +
                  b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"11\r\n{\"email\":\"a@b.c\"}\r\n0\r\nX-T: " + b"b" * 20000 + b"\r\n\r\n")
        st, _, body = parse(read_all(s))
        s.close()
        check("trailer.20k_is_431", st == 431 and code(body) == "headers_too_large", (st, body[:200]))
        # A small trailer is ignored: it cannot change the header the request was admitted with.
        s = connect(srv.port)
        s.sendall(b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() +
                  b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                  b"17\r\n{\"email\":\"a@gmail.com\"}\r\n0\r\nContent-Type: text/plain\r\n\r\n")
        st, _, body = parse(read_all(s))
        s.close()
        check("trailer.small_ignored", st == 200 and b'"status"' in body, (st, body[:200]))
        # Chunk extensions: one endless chunk line, then many long ones.
        before = srv.rss_kib()
        s = connect(srv.port, "127.0.0.1")
        s.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1")
        sent = 0
        try:
            while sent < 64 << 20:
                s.sendall(b";a=b" * 16384)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        s.close()
        check("extensions.endless_line_cut_off", sent < 64 << 20, sent)
        check("extensions.memory_bounded", srv.rss_kib() - before < 64 * 1024, (before, srv.rss_kib()))
        st, _, body = request(srv.port, "POST", "/v1/verify", headers={**AUTH, "Transfer-Encoding": "chunked",
                                                                      "Content-Type": "application/json"},
                              body=b"".join(b"1;" + b"e" * 1000 + b"\r\nx\r\n" for _ in range(40)) + b"0\r\n\r\n")
        check("extensions.total_capped", st == 400 and code(body) == "bad_request", (st, body[:200]))
        check("extensions.server_lives", healthy(srv))
    finally:
        srv.stop()


# --- high: connections, trickles, fair accept -------------------------------------------------------------
def test_connections():
    srv = Server("--max-connections", "40", "--max-connections-per-client", "16", "--header-timeout", "2")
    try:
        # One client address gets 16 connections; the 17th is closed at once.
        held = [connect(srv.port, "127.0.0.1") for _ in range(16)]
        for s in held:
            s.sendall(b"GET /hea")  # a header that never ends
        extra = connect(srv.port, "127.0.0.1")
        extra.settimeout(3)
        check("per_client.cap_closes_extra", read_all(extra) == b"", "the 17th connection was served")
        extra.close()
        check("per_client.others_served", healthy(srv))
        # A trickle cannot extend the header deadline: one byte every 0.25 s is cut off after ~2 s.
        s = connect(srv.port, "127.0.0.3")
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        trickled = 0
        answer = b""
        try:
            for _ in range(40):  # 10 s of trickling at most
                s.sendall(b"X")
                trickled += 1
                s.settimeout(0.25)
                try:
                    answer = s.recv(4096)  # an answer (408) or the end: the server cut it off
                    break
                except socket.timeout:
                    continue
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.close()
        check("header_deadline.trickle_cut_off", trickled < 40 and (answer == b"" or b" 408 " in answer),
              (trickled, answer[:100]))
        for s in held:
            s.close()
        time.sleep(0.3)
        # Fair accept: the server is full of one client's idle connections (3 addresses × 13 = 39,
        # plus 127.0.0.1 × 1); a newcomer takes the place of an idle connection of the top client.
        hogs = []
        for src in ("127.0.0.1", "127.0.0.4", "127.0.0.5"):
            hogs += [connect(srv.port, src) for _ in range(13)]
        hogs.append(connect(srv.port, "127.0.0.1"))
        time.sleep(0.3)
        ok = sum(request(srv.port, "GET", "/healthz", source=f"127.0.1.{i}")[0] == 200 for i in range(1, 6))
        check("fair_accept.newcomers_served", ok == 5, ok)
        for s in hogs:
            s.close()
    finally:
        srv.stop()


# --- high: nothing is read before the key; the body budget -------------------------------------------------
def test_bodies():
    srv = Server("--max-body", str(8 << 20), "--max-body-total", str(12 << 20))
    try:
        # No key: the answer comes from the header alone, the 7 MiB body is never read (over
        # --max-body, a 59 MiB one is refused by its Content-Length alone).
        for length, want in [(7 << 20, (401, "unauthorized")), (61865984, (413, "body_too_large"))]:
            s = connect(srv.port, "127.0.0.1")
            s.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: " +
                      str(length).encode() + b"\r\n\r\n")
            st, _, body = parse(read_all(s))
            s.close()
            check(f"keyless_body.{length}.refused_before_read", (st, code(body)) == want, (st, body[:200]))
        # Wrong method on an open path: refused before the body, too.
        st, _, body = request(srv.port, "POST", "/healthz", body=b"x" * 1000)
        check("open_path.post_is_405", st == 405, st)
        # Two 7 MiB uploads at once fit no 12 MiB budget: whichever the server reads second gets
        # 503 server_busy at once, while the other is still admitted (waiting for its body).
        pair = []
        for _ in range(2):
            c = connect(srv.port)
            c.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() +
                      b"\r\nContent-Type: text/plain\r\nContent-Length: " + str(7 << 20).encode() + b"\r\n\r\nabc")
            pair.append(c)
        a, b = pair
        answered, _, _ = select.select(pair, [], [], 10)
        st, h, body = parse(read_all(answered[0])) if answered else (0, {}, b"")
        waiting = [c for c in pair if c not in answered[:1]]
        still, _, _ = select.select(waiting, [], [], 0.5)
        check("budget.second_body_503", st == 503 and code(body) == "server_busy" and h.get("retry-after") and not still,
              (st, body[:200], len(still)))
        a.close()
        b.close()
        time.sleep(0.3)
        st, _, body = request(srv.port, "POST", "/v1/jobs", body=b"a@gmail.com\n" * 1000,
                              headers={**AUTH, "Content-Type": "text/plain"})
        check("budget.given_back", st == 202, (st, body[:200]))
        # A 60 MiB JSON array of numbers: refused at its first number, memory stays low.
        srv2 = Server()
        try:
            before = srv2.rss_kib("VmHWM")
            big = b"[" + b"1," * (30 << 20) + b"1]"
            st, _, body = request(srv2.port, "POST", "/v1/jobs", body=big, headers={**AUTH, "Content-Type": "application/json"},
                                  timeout=60)
            check("json_numbers.refused", st == 400 and code(body) == "malformed_json", (st, body[:200]))
            grown = srv2.rss_kib("VmHWM") - before
            check("json_numbers.memory", grown < 3 * 64 * 1024, f"peak grew by {grown} KiB")
        finally:
            srv2.stop()
    finally:
        srv.stop()


# --- low: failed keys, HEAD; quotas ----------------------------------------------------------------------
def test_keys_head_quota():
    srv = Server("--max-pending-per-key", "5", "--rate-limit", "0")
    try:
        statuses = [request(srv.port, "GET", "/metrics", headers={"Authorization": "Bearer wrong"}, source="127.0.0.1")[0]
                    for _ in range(15)]
        check("auth_failures.throttled", statuses[:10] == [401] * 10 and statuses[-1] == 429, statuses)
        st, h, body = request(srv.port, "GET", "/metrics", headers=AUTH, source="127.0.0.1")
        check("auth_failures.even_right_key_waits", st == 429 and code(body) == "too_many_auth_failures", (st, body[:100]))
        st, _, _ = request(srv.port, "GET", "/metrics", headers=AUTH, source="127.0.0.2")
        check("auth_failures.other_address_unaffected", st == 200, st)
        st, h, body = request(srv.port, "HEAD", "/healthz")
        check("head.ok_without_body", st == 200 and body == b"" and int(h.get("content-length", "0")) > 0, (st, h, body))
        st, h, body = request(srv.port, "HEAD", "/v1/openapi.json")
        check("head.openapi", st == 200 and body == b"", st)
        # Quota: a job of 40 syntax addresses at an unanswered level stays pending; level syntax
        # finishes fast, so the quota is checked with jobs that are still queued: 5 at most.
        st, _, body = request(srv.port, "POST", "/v1/jobs", body=["a@gmail.com"] * 6, headers=AUTH)
        check("quota.over_is_429", st == 429 and code(body) == "quota_exceeded", (st, body[:200]))
        st, _, body = request(srv.port, "POST", "/v1/jobs", body=["a@gmail.com"] * 5, headers=AUTH)
        check("quota.within_is_202", st == 202, (st, body[:200]))
        # A callback host name resolving to loopback (from /etc/hosts: no query leaves the machine)
        # is refused when the job is submitted, not only when the callback is sent.
        st, _, body = request(srv.port, "POST", "/v1/jobs",
                              body={"emails": ["a@gmail.com"], "callback_url": "http://localhost:9/done"}, headers=AUTH)
        check("callback.private_name_refused_at_submit", st == 400 and code(body) == "bad_parameter", (st, body[:200]))
    finally:
        srv.stop()


# --- high: a full disk does not end the server -----------------------------------------------------------
def test_full_disk():
    if os.geteuid() != 0:
        check("full_disk.needs_root", False, "run as root (CI does)")
        return
    mnt = tempfile.mkdtemp(prefix="mailsift-tmpfs-", dir=TMP)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt], check=True)
    srv = None
    try:
        # A DNS server that never answers: the running job's results come after the disk is full.
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        srv = Server("--dns-server", f"127.0.0.1:{silent.getsockname()[1]}", "--dns-timeout", "500",
                     db=os.path.join(mnt, "db.sqlite"))
        n = 3000
        emails = [f"user{i}@example{i % 50}.com" for i in range(n)]
        st, _, body = request(srv.port, "POST", "/v1/jobs?level=dns", body=emails[:20], headers=AUTH)
        check("full_disk.job_before", st == 202, (st, body[:200]))
        running = json.loads(body)["id"] if st == 202 else ""
        # Fill the disk.
        filler = os.path.join(mnt, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass
        os.close(fd)
        st, _, body = request(srv.port, "POST", "/v1/jobs", body=emails, headers=AUTH)
        check("full_disk.new_job_507", st == 507 and code(body) == "insufficient_storage", (st, body[:200]))
        check("full_disk.serving", healthy(srv), srv.logtext()[-400:])
        st, _, body = request(srv.port, "GET", "/v1/verify?email=a@gmail.com&level=syntax", headers=AUTH)
        check("full_disk.realtime_checks_go_on", st == 200, st)
        end = time.time() + 15
        while time.time() < end:
            st, _, body = request(srv.port, "GET", "/metrics", headers=AUTH)
            if b"mailsift_jobs_storage_ok 0" in body:
                break
            time.sleep(0.2)
        check("full_disk.metric", b"mailsift_jobs_storage_ok 0" in body, body[-300:])
        _, _, b = request(srv.port, "GET", f"/v1/jobs/{running}", headers=AUTH)
        check("full_disk.running_job_paused", json.loads(b)["state"] == "running", b[:300])
        # Space comes back: the server notices by itself.
        os.remove(filler)
        end = time.time() + 20
        while time.time() < end:
            st, _, body = request(srv.port, "POST", "/v1/jobs", body=emails[:100], headers=AUTH)
            if st == 202:
                break
            time.sleep(0.3)
        check("full_disk.recovers", st == 202, (st, body[:200]))
        job = json.loads(body)["id"] if st == 202 else None
        done = None
        while job and time.time() < end:
            _, _, b = request(srv.port, "GET", f"/v1/jobs/{job}", headers=AUTH)
            if json.loads(b)["state"] == "finished":
                done = json.loads(b)
                break
            time.sleep(0.2)
        check("full_disk.job_after_finishes", done is not None and done["done"] == 100, done)
        end = time.time() + 30
        while time.time() < end:
            _, _, b = request(srv.port, "GET", f"/v1/jobs/{running}", headers=AUTH)
            j = json.loads(b)
            if j["state"] == "finished":
                break
            time.sleep(0.3)
        check("full_disk.paused_job_finishes_whole", j["state"] == "finished" and j["done"] == 20, (j, srv.logtext()[-1500:]))
        silent.close()
        check("full_disk.logged", "jobs paused" in srv.logtext() and "written again" in srv.logtext(), srv.logtext()[-600:])
        check("full_disk.alive", srv.alive())
    finally:
        if srv:
            srv.stop()
        subprocess.run(["umount", "-l", mnt])


# --- low: what a client was shown survives kill -9 -----------------------------------------------------
def test_shown_results_survive_kill():
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    db = os.path.join(TMP, "kill.sqlite")
    args = ("--dns-server", f"127.0.0.1:{silent.getsockname()[1]}", "--dns-timeout", "300")
    srv = Server(*args, db=db)
    try:
        # Syntax-invalid addresses finish at once, the others wait for a DNS server that never
        # answers: the job is half done for a while.
        emails = [f"bad{i}" for i in range(200)] + [f"u{i}@host{i}.example" for i in range(50)]
        st, _, body = request(srv.port, "POST", "/v1/jobs?level=dns", body=emails, headers=AUTH)
        job = json.loads(body)["id"]
        shown = 0
        end = time.time() + 10
        while time.time() < end and shown < 200:
            _, _, b = request(srv.port, "GET", f"/v1/jobs/{job}/results", headers=AUTH)
            shown = b.count(b"\"position\"")
            time.sleep(0.05)
        _, _, b = request(srv.port, "GET", f"/v1/jobs/{job}", headers=AUTH)
        done_shown = json.loads(b)["done"]
        srv.proc.kill()
        srv.proc.wait()
        srv = Server(*args, db=db)
        _, _, b = request(srv.port, "GET", f"/v1/jobs/{job}/results", headers=AUTH)
        after = b.count(b"\"position\"")
        check("kill9.results_shown_survive", shown >= 200 and after >= shown, (shown, after))
        check("kill9.done_shown_survives", after >= done_shown, (done_shown, after))
    finally:
        srv.stop()
        silent.close()


try:
    test_shown_results_survive_kill()
    test_trailers_and_extensions()
    test_connections()
    test_bodies()
    test_keys_head_quota()
    test_full_disk()
finally:
    shutil.rmtree(TMP, ignore_errors=True)
sys.exit(check.summary())
