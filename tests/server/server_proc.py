"""`mailsift serve` as a child process for the black-box tests (tests/server/realtime_test.py,
history_test.py): started on an ephemeral loopback port with its own database, JSON requests, stop."""
import http.client
import json
import os
import subprocess
import tempfile
import threading
import time


class Server:
    def __init__(self, binary, *args, tmp=None):
        tmp = tmp or tempfile.mkdtemp(prefix="mailsift-serve-")
        db = os.path.join(tmp, f"db-{time.monotonic_ns()}.sqlite")
        self.proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--db", db, "--quiet", *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        if "listening on" not in line:
            raise RuntimeError("server did not start: " + line + self.proc.stderr.read())
        self.port = int(line.split("://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])
        threading.Thread(target=lambda: self.proc.stderr.read(), daemon=True).start()

    def json(self, method, path, body=None, timeout=120):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"Content-Type": "application/json"} if body is not None else {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, json.loads(data)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for(cond, limit=30):
    end = time.time() + limit
    while time.time() < end and not cond():
        time.sleep(0.05)
    return cond()
