#!/usr/bin/env python3
"""Attack measurements of `mailsift serve` on loopback (issue 14, "Tests and measures"); the helper
of scripts/bench-attacks.sh, which runs each measurement for each binary back to back.

Every measurement starts its own server, so a crash in one does not spoil the next:
  BIN serve --listen 127.0.0.1:0 --db TMP/db --api-key KEY --quiet --level syntax [EXTRA]
(--level syntax is a guard: nothing here asks for more, so no DNS or SMTP traffic can leave the
machine), reads the port from the stderr line "listening on http://127.0.0.1:PORT", and kills the
server at the end (and, through PR_SET_PDEATHSIG, if this process dies).

  attacks.py run MEASURE --bin BIN --label LABEL --key KEY --tmp DIR --out FILE.json
  attacks.py report [--md FILE] [--json FILE] FILE.json...   Markdown tables, one per section
  attacks.py slowloris-attacker ...                 (internal: the attacker's own process)

MEASURE is one of:
  slowloris    2,000 sockets from 127.0.0.1 trickle a header (one byte per socket every 3 s, never
               finishing; a socket the server closes is opened again, at most 200 a second and
               20,000 in all) while a legitimate client at 127.0.0.2 sends GET /healthz and
               GET /v1/verify?...&level=syntax (with the key) alternately, one every 100 ms, each on
               a new connection with a 5 s deadline.
  chunk-ext    one keyless chunked POST /v1/jobs whose first chunk header is `1;` followed by up to
               300 MiB of `a=b;` without a line end.
  trailers     keyless chunked POST /healthz: `0\\r\\n` then 1,500 trailer fields of 65,000 bytes.
  trailer-big  the same with one trailer field of 65,534 bytes (crashed the server at cfdc1ea).
  bodies       12 keyless POST /v1/jobs at once, each Content-Length 61865984 (59 MiB), sent round
               robin so that all 12 are in flight together.
  numbers      authenticated POST /v1/jobs?level=syntax, application/json, a 60 MiB array
               [1,1,...,1], while GET /healthz is timed every 50 ms from 127.0.0.2.
  job1m        authenticated POST /v1/jobs?level=syntax of 1,000,000 distinct addresses at 20,000
               domains, GET /healthz timed every 50 ms until the job has finished (at most 150 s).
  wrk64 / wrk1000
               wrk -t2 -cN GET /v1/verify?email=jane.doe@example.com&level=syntax with the key, 2 s
               warm-up then 10 s --latency; server with --max-connections 2048 --rate-limit 0.

Memory: VmRSS before the attack, the peak (VmHWM of the fresh server, or the highest VmRSS sampled
every 20 ms if the process is gone), VmRSS 2 s after the attack ended. Python 3 stdlib only.
"""
import argparse
import ctypes
import errno
import heapq
import json
import os
import random
import re
import select
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

HOST = "127.0.0.1"
LEGIT = "127.0.0.2"  # the legitimate clients' source address: another client to the server
MiB = 1 << 20


def now():
    return time.monotonic()


def _pdeathsig():
    # The child gets SIGKILL when this process dies, however it dies.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _on_term(signum, frame):
    raise SystemExit(128 + signum)


# --- the server ------------------------------------------------------------------------------------

class Server:
    def __init__(self, binary, tmp, key, extra=()):
        self.db_dir = os.path.join(tmp, f"srv-{os.getpid()}-{time.monotonic_ns()}")
        os.makedirs(self.db_dir)
        self.cmd = [binary, "serve", "--listen", f"{HOST}:0", "--db", os.path.join(self.db_dir, "db"),
                    "--api-key", key, "--quiet", "--level", "syntax", *extra]
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, preexec_fn=_pdeathsig)
        self.pid = self.proc.pid
        self.lines = []
        self.port = None
        end = now() + 30
        buf = b""
        while self.port is None:
            left = end - now()
            if left <= 0 or not select.select([self.proc.stderr], [], [], left)[0]:
                self.stop()
                raise RuntimeError("server did not start in 30 s: " + buf.decode(errors="replace")[-300:])
            chunk = os.read(self.proc.stderr.fileno(), 4096)
            if not chunk:
                self.proc.wait()
                raise RuntimeError(f"server exited {self.proc.returncode} at start: "
                                   + buf.decode(errors="replace")[-300:])
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode(errors="replace")
                m = re.search(r"listening on https?://127\.0\.0\.1:(\d+)", text)
                if m:
                    self.port = int(m.group(1))
                else:
                    self.lines.append(text)
        if buf:
            self.lines.append(buf.decode(errors="replace"))
        threading.Thread(target=self._drain, daemon=True).start()
        self.sampler = None

    def _drain(self):
        for line in self.proc.stderr:
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    def alive(self):
        return self.proc.poll() is None

    def status(self):
        """{'rss': KiB, 'hwm': KiB, 'fds': n} or None when the process is gone."""
        try:
            with open(f"/proc/{self.pid}/status") as f:
                text = f.read()
        except OSError:
            return None
        out = {}
        for k, name in (("VmRSS", "rss"), ("VmHWM", "hwm")):
            m = re.search(rf"^{k}:\s+(\d+) kB", text, re.M)
            out[name] = int(m.group(1)) if m else None
        return out if out.get("rss") is not None and self.alive() else None

    def fds(self):
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return None

    def start_sampler(self, period=0.02):
        """Samples VmRSS (and the open descriptors, every 0.5 s) in a thread; stop_sampler() returns the maxima."""
        self._stop = threading.Event()
        self.max_rss = 0
        self.max_fds = 0

        def run():
            k = 0
            while not self._stop.is_set():
                st = self.status()
                if st:
                    self.max_rss = max(self.max_rss, st["rss"])
                if k % int(0.5 / period) == 0:
                    n = self.fds()
                    if n:
                        self.max_fds = max(self.max_fds, n)
                k += 1
                self._stop.wait(period)
        self.sampler = threading.Thread(target=run, daemon=True)
        self.sampler.start()

    def stop_sampler(self):
        if self.sampler:
            self._stop.set()
            self.sampler.join()
            self.sampler = None
        return self.max_rss, self.max_fds

    def outcome(self):
        """'alive', or 'crashed (exit N / signal S)' with the server's last error line."""
        if self.alive():
            return "alive", ""
        rc = self.proc.returncode
        how = f"signal {-rc}" if rc < 0 else f"exit {rc}"
        time.sleep(0.2)  # let the drain thread read the last line
        last = next((ln for ln in reversed(self.lines) if ln.strip()), "")
        return f"crashed ({how})", last[:200]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run(["rm", "-rf", self.db_dir], check=False)


# --- a small HTTP client with one deadline for the whole exchange ---------------------------------

def parse_response(data):
    """(status or None, headers dict, body, complete)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None, {}, b"", False
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        return None, {}, b"", False
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        n = int(headers["content-length"])
        return int(m.group(1)), headers, body[:n], len(body) >= n
    return int(m.group(1)), headers, body, False


def error_kind(e):
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(e, ConnectionResetError):
        return "reset"
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, BrokenPipeError):
        return "broken pipe"
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, str(e.errno)).lower()
    return type(e).__name__


def http(port, method, path, headers=None, body=b"", timeout=5.0, source=None):
    """One request on a new connection (Connection: close). Returns a dict: status, body, elapsed, error."""
    t0 = now()
    deadline = t0 + timeout
    h = {"Host": f"{HOST}:{port}", "Connection": "close", **(headers or {})}
    if body or method in ("POST", "PUT"):
        h["Content-Length"] = str(len(body))
    req = f"{method} {path} HTTP/1.1\r\n".encode() + "".join(f"{k}: {v}\r\n" for k, v in h.items()).encode() + b"\r\n"
    s = None
    data = b""
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if source:
            s.bind((source, 0))
        s.settimeout(timeout)
        s.connect((HOST, port))
        s.settimeout(max(0.001, deadline - now()))
        s.sendall(req + body)
        while True:
            s.settimeout(max(0.001, deadline - now()))
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            status, _, _, complete = parse_response(data)
            if complete:
                break
        status, hdrs, rbody, _ = parse_response(data)
        err = None if status else ("closed before an answer" if not data else "bad answer")
        return {"status": status, "body": rbody, "elapsed": now() - t0, "error": err}
    except Exception as e:  # noqa: BLE001: every failure is a data point
        status, hdrs, rbody, _ = parse_response(data)
        return {"status": status, "body": rbody, "elapsed": now() - t0, "error": error_kind(e)}
    finally:
        if s:
            s.close()


def error_code(body):
    try:
        return json.loads(body).get("error", {}).get("code")
    except (ValueError, AttributeError):
        return None


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))]


class Prober:
    """GET /healthz from 127.0.0.2 every `period` s (serially, 10 s deadline each): the event loop's stalls."""

    def __init__(self, port, period=0.05):
        self.port, self.period = port, period
        self.samples = []  # (start offset, latency, ok)
        self._stop = threading.Event()
        self.t0 = now()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        i = 0
        while not self._stop.is_set():
            t = now()
            r = http(self.port, "GET", "/healthz", timeout=10, source=LEGIT)
            self.samples.append((t - self.t0, r["elapsed"], r["status"] == 200))
            i += 1
            wait = self.t0 + i * self.period - now()
            if wait > 0:
                self._stop.wait(wait)

    def stop(self):
        self._stop.set()
        self.thread.join()
        lat = [s[1] for s in self.samples]
        return {"probes": len(lat), "failed": sum(1 for s in self.samples if not s[2]),
                "max_ms": round(max(lat) * 1000, 1) if lat else None,
                "p50_ms": round(pct(lat, 50) * 1000, 1) if lat else None,
                "p99_ms": round(pct(lat, 99) * 1000, 1) if lat else None,
                "over_250ms": sum(1 for x in lat if x > 0.25)}


# --- streaming raw requests on several connections at once ----------------------------------------

class Conn:
    def __init__(self, pieces):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.pieces = iter(pieces)
        self.buf = memoryview(b"")
        self.sent = 0
        self.state = "sending"  # sending, sent, closed by server (...), answered, stalled
        self.resp = b""
        self.error = None


def pump(conns, port, send_deadline, answer_wait=30.0, slice_bytes=256 * 1024):
    """Connects every Conn, then sends their pieces round robin (non-blocking) until each is sent,
    closed by the server or the deadline passes; then waits up to answer_wait s for the answers."""
    sel = selectors.DefaultSelector()
    for c in conns:
        try:
            c.sock.connect((HOST, port))
            c.sock.setblocking(False)
            sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
        except OSError as e:
            c.state, c.error = "connect failed", error_kind(e)
    answer_deadline = None
    active = {c for c in conns if c.state == "sending"}
    while active:
        t = now()
        if answer_deadline is None and all(c.state != "sending" for c in active):
            answer_deadline = t + answer_wait
        if answer_deadline is None and t > send_deadline:
            for c in active:
                if c.state == "sending":
                    c.state = "stalled (send deadline)"
            answer_deadline = t + min(answer_wait, 5)
        if answer_deadline is not None and t > answer_deadline:
            break
        for key, ev in sel.select(0.2):
            c = key.data
            if ev & selectors.EVENT_READ:
                try:
                    d = c.sock.recv(65536)
                except BlockingIOError:
                    d = None
                except OSError as e:
                    d, c.error = b"", error_kind(e)
                if d:
                    c.resp = (c.resp + d)[:1 << 16]
                    if parse_response(c.resp)[3] and c.state != "sending":
                        c.state = "answered"
                        sel.unregister(c.sock)
                        active.discard(c)
                        continue
                elif d == b"":
                    if c.state == "sending":
                        c.state = f"closed by server after {c.sent / MiB:.1f} MiB"
                    elif not c.resp:
                        c.state = "closed without an answer"
                    else:
                        c.state = "answered"
                    sel.unregister(c.sock)
                    active.discard(c)
                    continue
            if ev & selectors.EVENT_WRITE and c.state == "sending":
                try:
                    if not len(c.buf):
                        nxt = next(c.pieces, None)
                        if nxt is None:
                            c.state = "sent"
                            sel.modify(c.sock, selectors.EVENT_READ, c)
                            continue
                        c.buf = memoryview(nxt)
                    n = c.sock.send(c.buf[:slice_bytes])
                    c.buf = c.buf[n:]
                    c.sent += n
                except BlockingIOError:
                    pass
                except OSError as e:
                    c.error = error_kind(e)
                    c.state = f"closed by server after {c.sent / MiB:.1f} MiB"
                    # an answer may still be waiting in the receive buffer
                    try:
                        c.sock.setblocking(True)
                        c.sock.settimeout(0.5)
                        c.resp = (c.resp + c.sock.recv(65536))[:1 << 16]
                    except OSError:
                        pass
                    sel.unregister(c.sock)
                    active.discard(c)
    for c in active:
        if c.state == "sent":
            c.state = "no answer in time"
    for c in conns:
        try:
            c.sock.close()
        except OSError:
            pass
    sel.close()


def describe(c):
    status, _, body, _ = parse_response(c.resp)
    code = error_code(body) if status else None
    out = {"state": c.state, "sent_mib": round(c.sent / MiB, 1), "status": status, "code": code}
    if c.error:
        out["error"] = c.error
    return out


def repeat(block, total):
    """Pieces of `block` adding up to `total` bytes."""
    block = bytes(block)
    left = total
    while left > 0:
        yield block if left >= len(block) else block[:left]
        left -= len(block)


# --- the measurements ------------------------------------------------------------------------------

def memory_run(srv, attack, settle=2.0, probe=False):
    """Runs attack() (returns a dict) between RSS readings; the server's outcome after."""
    time.sleep(0.3)
    before = srv.status() or {}
    srv.start_sampler()
    prober = Prober(srv.port) if probe else None
    t0 = now()
    res = attack()
    res["attack_s"] = round(now() - t0, 2)
    time.sleep(settle)
    if prober:
        res["healthz"] = prober.stop()
    after = srv.status()
    max_rss, _ = srv.stop_sampler()
    out, last = srv.outcome()
    res.update({"rss_before_kib": before.get("rss"),
                "peak_kib": (after or {}).get("hwm") or max_rss, "peak_source": "VmHWM" if after else "sampled",
                "rss_after_kib": (after or {}).get("rss"), "server": out})
    if last:
        res["server_last_line"] = last
    return res


def m_chunk_ext(srv, a):
    total = 300 * MiB
    head = (f"POST /v1/jobs HTTP/1.1\r\nHost: {HOST}:{srv.port}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n1;").encode()

    def attack():
        c = Conn([head, *repeat(b"a=b;" * (MiB // 4), total)])
        pump([c], srv.port, send_deadline=now() + 90, answer_wait=10)
        return {"what": "keyless chunked POST /v1/jobs, `1;` + up to 300 MiB of `a=b;` (no line end)",
                "conn": describe(c)}
    return memory_run(srv, attack)


def trailer_body(n, size):
    yield b"0\r\n"
    val = b"a" * size
    for i in range(n):
        yield b"X-T%05d: " % i + val + b"\r\n"
    yield b"\r\n"


def m_trailers(srv, a, n=1500, size=65000):
    head = (f"POST /healthz HTTP/1.1\r\nHost: {HOST}:{srv.port}\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\n").encode()

    def attack():
        c = Conn([head, *trailer_body(n, size)])
        pump([c], srv.port, send_deadline=now() + 60, answer_wait=15)
        return {"what": f"keyless chunked POST /healthz, {n:,} trailer field{'s' if n > 1 else ''} of {size:,} bytes",
                "conn": describe(c)}
    return memory_run(srv, attack)


def m_trailer_big(srv, a):
    return m_trailers(srv, a, n=1, size=65534)


def m_bodies(srv, a, n=12, length=61865984):
    head = (f"POST /v1/jobs HTTP/1.1\r\nHost: {HOST}:{srv.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n").encode()

    def attack():
        conns = [Conn([head, *repeat(b"1" * MiB, length)]) for _ in range(n)]
        pump(conns, srv.port, send_deadline=now() + 120, answer_wait=20, slice_bytes=128 * 1024)
        d = [describe(c) for c in conns]
        states = {}
        for x in d:
            k = f"{x['state']}" + (f", {x['status']} {x['code'] or ''}".rstrip() if x["status"] else "")
            states[k] = states.get(k, 0) + 1
        return {"what": f"{n} keyless POST /v1/jobs with Content-Length {length:,}, in flight together",
                "sent_mib": round(sum(c.sent for c in conns) / MiB, 1), "outcomes": states}
    return memory_run(srv, attack)


def auth_job(srv, key, body, what, wait_job):
    head = (f"POST /v1/jobs?level=syntax HTTP/1.1\r\nHost: {HOST}:{srv.port}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()

    def attack():
        t0 = now()
        c = Conn([head, body])
        pump([c], srv.port, send_deadline=now() + 120, answer_wait=120)
        res = {"what": what, "body_mib": round(len(body) / MiB, 1), "conn": describe(c),
               "answer_s": round(now() - t0, 2)}
        if wait_job and res["conn"]["status"] == 202:
            _, _, rb, _ = parse_response(c.resp)
            try:
                job = json.loads(rb)["id"]
            except (ValueError, KeyError):
                res["job"] = "no id in the answer"
                return res
            end = now() + 150
            state = None
            while now() < end and srv.alive():
                r = http(srv.port, "GET", f"/v1/jobs/{job}", {"Authorization": f"Bearer {key}"}, timeout=10)
                try:
                    state = json.loads(r["body"]).get("state")
                except (ValueError, AttributeError):
                    state = None
                if state == "finished":
                    break
                time.sleep(0.5)
            res["job"] = f"finished in {now() - t0:.1f} s" if state == "finished" else f"{state} after {now() - t0:.0f} s"
        return res
    return attack


def m_numbers(srv, a):
    k = (60 * MiB - 3) // 2
    body = b"[" + b"1," * k + b"1" + b" " * (60 * MiB - 3 - 2 * k) + b"]"
    assert len(body) == 60 * MiB
    return memory_run(srv, auth_job(srv, a.key, body, "authenticated POST /v1/jobs, a 60 MiB JSON array [1,1,...]",
                                    False), probe=True)


def m_job1m(srv, a, n=1_000_000, domains=20_000):
    body = ("[" + ",".join(f'"user{i}@domain{i % domains}.com"' for i in range(n)) + "]").encode()
    return memory_run(srv, auth_job(srv, a.key, body,
                                    f"authenticated job of {n:,} distinct addresses at {domains:,} domains, level syntax",
                                    True), probe=True)


def m_slowloris(srv, a, sockets=2000, legit_seconds=None, ramp=5.0):
    legit_seconds = legit_seconds or float(os.environ.get("BENCH_ATTACKS_SLOWLORIS_SECONDS", "50"))
    stats_file = os.path.join(srv.db_dir, "attacker.json")
    attacker_seconds = ramp + legit_seconds + 6
    att = subprocess.Popen([sys.executable, os.path.abspath(__file__), "slowloris-attacker", "--port", str(srv.port),
                            "--sockets", str(sockets), "--seconds", str(attacker_seconds), "--stats", stats_file],
                           stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig)
    try:
        srv.start_sampler(period=0.1)
        time.sleep(ramp)
        n = int(legit_seconds / 0.1)
        results = [None] * n
        auth = {"Authorization": f"Bearer {a.key}"}
        paths = ["/healthz", "/v1/verify?email=a@example.com&level=syntax"]

        def one(i):
            results[i] = http(srv.port, "GET", paths[i % 2], auth, timeout=5.0, source=LEGIT)
            results[i]["at"] = i * 0.1
        threads = []
        t0 = now()
        for i in range(n):
            wait = t0 + i * 0.1 - now()
            if wait > 0:
                time.sleep(wait)
            t = threading.Thread(target=one, args=(i,), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join(timeout=10)
        _, max_fds = srv.stop_sampler()
        try:
            att.wait(timeout=attacker_seconds + 30)
        except subprocess.TimeoutExpired:
            att.kill()
            att.wait()
    finally:
        if att.poll() is None:
            att.terminate()
            try:
                att.wait(timeout=10)
            except subprocess.TimeoutExpired:
                att.kill()
                att.wait()
    try:
        with open(stats_file) as f:
            astats = json.load(f)
    except (OSError, ValueError):
        astats = {}
    results = [r for r in results if r]
    ok = [r for r in results if r["status"] == 200]
    fails = {}
    for r in results:
        if r["status"] != 200:
            k = r["error"] or f"HTTP {r['status']}"
            fails[k] = fails.get(k, 0) + 1
    lat_ok = [r["elapsed"] for r in ok]
    lat_all = [r["elapsed"] for r in results]
    out, last = srv.outcome()
    res = {"legit_requests": len(results), "legit_ok": len(ok),
           "success_rate": round(100.0 * len(ok) / len(results), 1) if results else None,
           "p50_ok_ms": round(pct(lat_ok, 50) * 1000, 1) if lat_ok else None,
           "p99_ok_ms": round(pct(lat_ok, 99) * 1000, 1) if lat_ok else None,
           "p99_all_ms": round(pct(lat_all, 99) * 1000, 1) if lat_all else None,
           "by_path": {p: f"{sum(1 for i, r in enumerate(results) if i % 2 == j and r['status'] == 200)}"
                          f"/{sum(1 for i in range(len(results)) if i % 2 == j)}" for j, p in enumerate(("healthz", "verify"))},
           "ok_per_10s": [sum(1 for r in ok if k <= r["at"] < k + 10) for k in range(0, int(-(-legit_seconds // 10) * 10), 10)],
           "failures": fails, "attacker": astats, "server_max_fds": max_fds, "legit_seconds": legit_seconds,
           "server": out}
    if last:
        res["server_last_line"] = last
    return res


def slowloris_attacker(a):
    """The attacker's process: holds up to --sockets connections that trickle one header byte each
    every --interval s; reopens what the server closes (token bucket --reconnect-rate/s, at most
    --max-connects in all); stops after --seconds and writes its counts to --stats."""
    signal.signal(signal.SIGTERM, _on_term)
    sel = selectors.DefaultSelector()
    start = now()
    end = start + a.seconds
    first = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    trickle = b"X-Slow: " + b"a" * 100000  # never reaches a line end
    st = {"connects": 0, "connect_failed": 0, "closed_by_server": 0, "answers_seen": 0, "bytes_sent": 0,
          "max_open": 0, "open_at_end": 0}
    conns = {}  # socket -> [state, trickle offset, connect started]
    due = []  # heap of (next send time, seq, socket)
    seq = 0
    nopen = 0
    tokens = 0.0
    last_refill = now()
    last_sweep = now()
    no_port = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)

    def open_one():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.setsockopt(socket.IPPROTO_IP, no_port, 1)  # the port is chosen at connect, per destination
        except OSError:
            pass
        st["connects"] += 1
        try:
            s.bind((HOST, 0))
            rc = s.connect_ex((HOST, a.port))
        except OSError as e:
            rc = e.errno
        if rc not in (0, errno.EINPROGRESS):
            st["connect_failed"] += 1
            s.close()
            return
        conns[s] = ["connecting", 0, now()]
        sel.register(s, selectors.EVENT_WRITE)

    def drop(s, by_server=True):
        nonlocal nopen
        c = conns.pop(s, None)
        if c is None:
            return
        if c[0] == "open":
            nopen -= 1
        if by_server:
            st["closed_by_server"] += 1
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()

    try:
        for _ in range(a.sockets):
            open_one()
        while now() < end:
            t = now()
            tokens = min(a.reconnect_rate, tokens + (t - last_refill) * a.reconnect_rate)
            last_refill = t
            while len(conns) < a.sockets and tokens >= 1 and st["connects"] < a.max_connects:
                tokens -= 1
                open_one()
            for key, ev in sel.select(0.05):
                s = key.fileobj
                c = conns.get(s)
                if c is None:
                    continue
                if c[0] == "connecting":
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        st["connect_failed"] += 1
                        drop(s, by_server=False)
                        continue
                    try:
                        s.send(first)
                        st["bytes_sent"] += len(first)
                    except OSError:
                        st["closed_by_server"] += 1
                        drop(s, by_server=False)
                        continue
                    c[0] = "open"
                    nopen += 1
                    st["max_open"] = max(st["max_open"], nopen)
                    seq += 1
                    heapq.heappush(due, (now() + random.uniform(0, a.interval), seq, s))
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                try:
                    d = s.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    d = b""
                if d:
                    if d.startswith(b"HTTP/"):
                        st["answers_seen"] += 1
                    continue
                drop(s)
            t = now()
            while due and due[0][0] <= t:
                _, _, s = heapq.heappop(due)
                c = conns.get(s)
                if c is None:
                    continue  # closed since
                try:
                    s.send(trickle[c[1]:c[1] + 1])
                    st["bytes_sent"] += 1
                    c[1] += 1
                except BlockingIOError:
                    pass
                except OSError:
                    drop(s)
                    continue
                seq += 1
                heapq.heappush(due, (t + a.interval, seq, s))
            if t - last_sweep > 1:
                last_sweep = t
                for s, c in list(conns.items()):
                    if c[0] == "connecting" and t - c[2] > 5:
                        st["connect_failed"] += 1
                        drop(s, by_server=False)
        st["open_at_end"] = nopen
    finally:
        for s in list(conns):
            s.close()
        st["seconds"] = round(now() - start, 1)
        with open(a.stats, "w") as f:
            json.dump(st, f)


def parse_wrk(text):
    def unit(v):
        m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", v)
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[m.group(2)] if m else None
    r = {}
    m = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    r["rps"] = float(m.group(1)) if m else None
    for p in ("50", "99"):
        m = re.search(rf"^\s+{p}(?:\.000)?%\s+(\S+)", text, re.M)
        r[f"p{p}_ms"] = unit(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in", text)
    r["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", text)
    r["socket_errors"] = m.group(1).strip() if m else ""
    return r


def m_wrk(srv, a, conns):
    url = f"http://{HOST}:{srv.port}/v1/verify?email=jane.doe@example.com&level=syntax"
    hdr = f"Authorization: Bearer {a.key}"
    base = ["wrk", "-t2", f"-c{conns}", "-H", hdr]
    subprocess.run(base + ["-d2s", url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False)
    before = srv.status() or {}
    p = subprocess.run(base + ["-d10s", "--latency", url], capture_output=True, text=True, timeout=90, check=False)
    after = srv.status()
    res = parse_wrk(p.stdout)
    out, last = srv.outcome()
    res.update({"connections": conns, "rss_before_kib": before.get("rss"), "peak_kib": (after or {}).get("hwm"),
                "server": out})
    if res["rps"] is None:
        res["wrk_output"] = (p.stdout + p.stderr)[-500:]
    if last:
        res["server_last_line"] = last
    return res


MEASURES = {
    "slowloris": (m_slowloris, ()),
    "chunk-ext": (m_chunk_ext, ()),
    "trailers": (m_trailers, ()),
    "trailer-big": (m_trailer_big, ()),
    "bodies": (m_bodies, ()),
    "numbers": (m_numbers, ()),
    "job1m": (m_job1m, ()),
    "wrk64": (lambda s, a: m_wrk(s, a, 64), ("--max-connections", "2048", "--rate-limit", "0")),
    "wrk1000": (lambda s, a: m_wrk(s, a, 1000), ("--max-connections", "2048", "--rate-limit", "0")),
}


def cmd_run(a):
    signal.signal(signal.SIGTERM, _on_term)
    fn, extra = MEASURES[a.measure]
    if a.measure.startswith("wrk"):
        # wrk's connections all come from one address: a binary with a per-client cap (issue 14)
        # gets it raised to the same 2048, so both binaries serve all of them.
        helptext = subprocess.run([a.bin, "serve", "--help"], capture_output=True, text=True, check=False).stdout
        if "--max-connections-per-client" in helptext:
            extra = extra + ("--max-connections-per-client", "2048")
    res = {"measure": a.measure, "label": a.label, "bin": a.bin, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    t0 = now()
    srv = None
    try:
        srv = Server(a.bin, a.tmp, a.key, extra)
        res["server_cmd"] = " ".join(srv.cmd).replace(a.key, "KEY").replace(a.tmp, "TMP")
        res.update(fn(srv, a))
    except Exception as e:  # noqa: BLE001: recorded, the next measurement goes on
        res["failed"] = f"{type(e).__name__}: {e}"
        if srv:
            res["server"], last = srv.outcome()
            if last:
                res["server_last_line"] = last
    finally:
        if srv:
            srv.stop()
        res["seconds"] = round(now() - t0, 1)
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)
    brief = {k: res.get(k) for k in ("success_rate", "peak_kib", "rps", "server", "failed") if res.get(k) is not None}
    print(f"attacks: {a.measure} [{a.label}] {res['seconds']} s {json.dumps(brief)}", file=sys.stderr)


# --- the report ------------------------------------------------------------------------------------

def mib(kib):
    return "-" if kib is None else f"{kib / 1024:,.0f} MiB"


def ms(v):
    if v is None:
        return "-"
    return f"{v:,.0f} ms" if v >= 100 else f"{v:.1f} ms"


def server_cell(r):
    s = r.get("server") or "?"
    if r.get("server_last_line") and s.startswith("crashed"):
        s += f": `{r['server_last_line'][:90]}`"
    return s


def cmd_report(a):
    rows = []
    for path in a.files:
        try:
            with open(path) as f:
                d = json.load(f)
            rows.extend(d if isinstance(d, list) else [d])  # a list: the --json of an earlier report
        except (OSError, ValueError) as e:
            print(f"attacks: cannot read {path}: {e}", file=sys.stderr)
    labels = []
    for r in rows:
        if r["label"] not in labels:
            labels.append(r["label"])
    by = {(r["measure"], r["label"]): r for r in rows}
    out = []
    p = out.append

    def get(m):
        return [(lab, by[(m, lab)]) for lab in labels if (m, lab) in by]

    def have(*ms):
        return any(get(m) for m in ms)

    if have("slowloris"):
        slowloris_table(get, p)
    if have("chunk-ext", "trailers", "trailer-big", "bodies", "numbers", "job1m"):
        memory_table(get, p)
    if have("numbers", "job1m"):
        stall_table(get, p)
    if have("wrk64", "wrk1000"):
        wrk_table(get, p)
    text = "\n".join(out)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    if a.md:
        with open(a.md, "w") as f:
            f.write(a.title + "\n\n" if a.title else "")
            f.write(text + "\n")


def slowloris_table(get, p):
    p("## Slowloris: 2,000 trickling sockets from 127.0.0.1; legitimate client at 127.0.0.2\n")
    p("Legitimate: one request every 100 ms, `GET /healthz` and `GET /v1/verify?email=a@example.com&level=syntax` "
      "alternately (with the key), each on a new connection, 5 s deadline, starting 5 s after the attack; OK per 10 s: successes in each 10 s of it. Latencies of the successful requests; "
      "p99 (all) counts a failure at the time it took to fail.\n")
    p("| binary | legit OK / sent | success | p50 | p99 | p99 (all) | healthz / verify OK | OK per 10 s | failures | attacker: connects, closed by server, max open | server fds (max) | server |")
    p("|---|---:|---:|---:|---:|---:|---|---|---|---|---:|---|")
    for lab, r in get("slowloris"):
        if "failed" in r:
            p(f"| {lab} | failed: {r['failed'][:100]} | | | | | | | | | | {server_cell(r)} |")
            continue
        at = r.get("attacker", {})
        fails = ", ".join(f"{k} {v}" for k, v in sorted(r["failures"].items(), key=lambda kv: -kv[1])) or "none"
        p(f"| {lab} | {r['legit_ok']} / {r['legit_requests']} | {r['success_rate']}% | {ms(r['p50_ok_ms'])} | "
          f"{ms(r['p99_ok_ms'])} | {ms(r['p99_all_ms'])} | {r['by_path']['healthz']} / {r['by_path']['verify']} | "
          f"{' '.join(map(str, r.get('ok_per_10s', []))) or '-'} | {fails} | "
          f"{at.get('connects', '-'):,}, {at.get('closed_by_server', '-'):,}, {at.get('max_open', '-'):,} | "
          f"{r.get('server_max_fds') or '-'} | {server_cell(r)} |")
    p("")


def memory_table(get, p):
    p("## Memory attacks: server RSS\n")
    p("A fresh server for each attack. Peak: VmHWM of the server process (since its start). After: VmRSS 2 s "
      "after the attack ended.\n")
    p("| attack | binary | RSS before | peak | after | how it ended | server |")
    p("|---|---|---:|---:|---:|---|---|")
    for m in ("chunk-ext", "trailers", "trailer-big", "bodies", "numbers", "job1m"):
        for lab, r in get(m):
            if "failed" in r:
                p(f"| {m} | {lab} | | | | failed: {r['failed'][:100]} | {server_cell(r)} |")
                continue
            if "conn" in r:
                c = r["conn"]
                how = c["state"]
                if c.get("status"):
                    how += f"; HTTP {c['status']}" + (f" `{c['code']}`" if c.get("code") else "")
                if c.get("error"):
                    how += f" ({c['error']})"
            else:
                how = f"{r['sent_mib']:,} MiB sent; " + "; ".join(f"{v}× {k}" for k, v in r["outcomes"].items())
            if r.get("answer_s") is not None and m in ("numbers", "job1m"):
                how += f"; answer in {r['answer_s']} s"
            if r.get("job"):
                how += f"; job {r['job']}"
            peak = mib(r.get("peak_kib")) + ("" if r.get("peak_source") == "VmHWM" else " (sampled)")
            p(f"| **{m}**: {r['what']} | {lab} | {mib(r.get('rss_before_kib'))} | {peak} | {mib(r.get('rss_after_kib'))} | "
              f"{how} | {server_cell(r)} |")
    p("")


def stall_table(get, p):
    p("## Large authenticated requests: event-loop stalls\n")
    p("`GET /healthz` from 127.0.0.2 every 50 ms (one at a time, 10 s deadline) from the start of the upload "
      "until the answer (numbers) or until the job has finished (job1m), plus 2 s.\n")
    p("| request | binary | answer | healthz probes | max stall | p50 | p99 | probes > 250 ms | failed |")
    p("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for m in ("numbers", "job1m"):
        for lab, r in get(m):
            if "failed" in r or "healthz" not in r:
                p(f"| {m} | {lab} | failed: {r.get('failed', '?')[:100]} | | | | | | |")
                continue
            h = r["healthz"]
            c = r["conn"]
            ans = f"HTTP {c['status']}" + (f" `{c['code']}`" if c.get("code") else "") if c.get("status") else c["state"]
            ans += f" in {r['answer_s']} s"
            p(f"| {m} ({r['body_mib']} MiB) | {lab} | {ans} | {h['probes']} | {ms(h['max_ms'])} | {ms(h['p50_ms'])} | "
              f"{ms(h['p99_ms'])} | {h['over_250ms']} | {h['failed']} |")
    p("")


def wrk_table(get, p):
    p("## wrk: `GET /v1/verify?email=jane.doe@example.com&level=syntax` with the key\n")
    p("`wrk -t2 -cN -H 'Authorization: Bearer KEY'`, 2 s warm-up then `-d10s --latency`; server with "
      "`--max-connections 2048 --rate-limit 0` (and `--max-connections-per-client 2048` where the binary has it).\n")
    p("| connections | binary | requests/s | vs BASE | p50 | p99 | requests | non-2xx | socket errors | server |")
    p("|---:|---|---:|---:|---:|---:|---:|---:|---|---|")
    for m in ("wrk64", "wrk1000"):
        ref = None
        for lab, r in get(m):
            if "failed" in r or r.get("rps") is None:
                p(f"| {m[3:]} | {lab} | failed: {(r.get('failed') or r.get('wrk_output', ''))[:100]!r} | | | | | | | {server_cell(r)} |")
                continue
            ref = ref or r["rps"]
            p(f"| {r['connections']:,} | {lab} | {r['rps']:,.0f} | {r['rps'] / ref:.2f} | {ms(r['p50_ms'])} | "
              f"{ms(r['p99_ms'])} | {r['requests']:,} | {r['non2xx']:,} | {r['socket_errors'] or 'none'} | {server_cell(r)} |")
    p("")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("measure", choices=sorted(MEASURES))
    r.add_argument("--bin", required=True)
    r.add_argument("--label", required=True)
    r.add_argument("--key", required=True)
    r.add_argument("--tmp", required=True)
    r.add_argument("--out", required=True)
    s = sub.add_parser("slowloris-attacker")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--sockets", type=int, default=2000)
    s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--interval", type=float, default=3.0)
    s.add_argument("--reconnect-rate", type=float, default=200.0)
    s.add_argument("--max-connects", type=int, default=20000)
    s.add_argument("--stats", required=True)
    rep = sub.add_parser("report")
    rep.add_argument("--md")
    rep.add_argument("--json", help="all the raw results in one file")
    rep.add_argument("--title", default="")
    rep.add_argument("files", nargs="+")
    a = ap.parse_args()
    if a.cmd == "run":
        cmd_run(a)
    elif a.cmd == "slowloris-attacker":
        slowloris_attacker(a)
    else:
        cmd_report(a)


if __name__ == "__main__":
    main()
