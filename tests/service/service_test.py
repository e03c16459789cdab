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
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
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
