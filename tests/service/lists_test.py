#!/usr/bin/env python3
"""`mailsift lists update` and `lists status` (issue 18) against an HTTPS server in a network
namespace this test creates, with a test CA (certificate checks stay on): a good list installed
(allowlist veto applied) and used by --lists-dir; a list that shrank by more than half refused
(then installed with --force); an oversized, a slow, a malformed, a missing (404) list, and a
server whose certificate the CA did not sign: each refused with the installed list unchanged.

Usage: lists_test.py PATH/TO/mailsift REPO_ROOT   (root: ip netns)
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from checks import Checks  # noqa: E402
import test_ca  # noqa: E402

BIN, ROOT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
check = Checks()
NS = f"mslists{os.getpid()}"
tmp = tempfile.mkdtemp(prefix="mailsift-lists-")
www = os.path.join(tmp, "www")
os.makedirs(www)
lists = os.path.join(tmp, "lists")

SERVER = r"""
import http.server, os, ssl, sys, time
root, cert, key = sys.argv[1], sys.argv[2], sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/slow.txt":
            time.sleep(5)
        p = os.path.join(root, self.path.lstrip("/"))
        if not os.path.isfile(p):
            self.send_error(404)
            return
        data = open(p, "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[4])), H)
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


def update(*args):
    return sh("ip", "netns", "exec", NS, BIN, "lists", "update", "--dir", lists, *args, timeout=60)


def installed_sha():
    p = os.path.join(lists, "disposable.txt")
    return hashlib.sha256(open(p, "rb").read()).hexdigest() if os.path.exists(p) else None


procs = []
try:
    sh("ip", "netns", "add", NS, check=True)
    sh("ip", "-n", NS, "link", "set", "lo", "up", check=True)
    ca = openssl_cert("test-ca", None)
    good_cert = openssl_cert("lists-server", "IP:127.0.0.1", ca)
    other_ca = openssl_cert("other-ca", None)
    bad_cert = openssl_cert("rogue-server", "IP:127.0.0.1", other_ca)
    for port, (crt, key) in ((8443, good_cert), (8444, bad_cert)):
        p = subprocess.Popen(["ip", "netns", "exec", NS, sys.executable, "-c", SERVER, www, crt, key, str(port)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(p)
        p.stdout.readline()
    domains = [f"tmp{i:05d}-mailsift.net" for i in range(10000)] + ["gmx.com", "Fresh-Throwaway-Mailsift.COM", "# a comment", ""]
    with open(os.path.join(www, "good.txt"), "w") as f:
        f.write("\n".join(domains) + "\n")
    with open(os.path.join(www, "small.txt"), "w") as f:
        f.write("\n".join(domains[:100]) + "\n")
    with open(os.path.join(www, "slow.txt"), "w") as f:
        f.write("\n".join(domains) + "\n")
    with open(os.path.join(www, "page.txt"), "w") as f:
        f.write("<html><body>\n<h1>Not here</h1>\n<p>moved</p>\n</body></html>\n" + "\n".join(domains[:50]) + "\n")
    ca_args = ["--ca-file", ca[0]]
    url = "https://127.0.0.1:8443/"

    r = update("--source", "disposable=" + url + "good.txt", *ca_args)
    check("update.installed", r.returncode == 0 and "disposable: installed 10001 entries" in r.stdout and
          "1 vetoed by the allowlist" in r.stdout, (r.returncode, r.stdout, r.stderr))
    first = installed_sha()
    st = sh(BIN, "lists", "status", "--dir", lists, "--format", "json")
    rows = {x["name"]: x for x in json.loads(st.stdout or "{}").get("lists", [])}
    d = rows.get("disposable", {})
    check("status.json", d.get("installed") is True and d.get("entries") == 10001 and d.get("source") == url + "good.txt"
          and d.get("fetched_at", "").endswith("Z") and rows.get("free", {}).get("installed") is False, st.stdout[:500])
    v = sh(BIN, "verify", "--level", "syntax", "--lists-dir", lists, "--format", "jsonl", "x@fresh-throwaway-mailsift.com",
           "x@gmx.com")
    got = [json.loads(l) for l in v.stdout.splitlines()]
    check("lists_dir.used", len(got) == 2 and got[0]["flags"]["disposable"] is True and got[1]["flags"]["disposable"] is False,
          v.stdout[:400])

    for name, args, want in [
        ("shrank", ["--source", "disposable=" + url + "small.txt", *ca_args], "shrank by more than half"),
        ("oversized", ["--source", "disposable=" + url + "good.txt", "--max-bytes", "4096", *ca_args], "larger than 4096 bytes"),
        ("slow", ["--source", "disposable=" + url + "slow.txt", "--timeout", "1", *ca_args], "time limit"),
        ("malformed", ["--source", "disposable=" + url + "page.txt", *ca_args], "not a list"),
        ("missing", ["--source", "disposable=" + url + "nothing.txt", *ca_args], "answered 404"),
        ("untrusted", ["--source", "disposable=https://127.0.0.1:8444/good.txt", *ca_args], "certificate verify failed"),
        ("system_store", ["--source", "disposable=" + url + "good.txt"], "certificate verify failed"),
        ("plain_http", ["--source", "disposable=http://127.0.0.1:8443/good.txt", *ca_args], "only https://"),
    ]:
        t0 = time.time()
        r = update(*args)
        check(f"refused.{name}", r.returncode == 1 and want in r.stderr and "the installed list is unchanged" in r.stderr
              and installed_sha() == first and time.time() - t0 < 10, (r.returncode, r.stderr[-400:]))
    r = update("--source", "disposable=" + url + "small.txt", "--force", *ca_args)
    check("update.force", r.returncode == 0 and "installed 100 entries" in r.stdout and installed_sha() != first, r.stdout + r.stderr)
    # An installed allow list vetoes disposable entries too (the built-in one always does).
    with open(os.path.join(www, "allow.txt"), "w") as f:
        f.write("\n".join([f"tmp{i:05d}-mailsift.net" for i in range(10)] + [f"real{i:03d}-mailsift.org" for i in range(100)]) + "\n")
    r = update("--source", "allow=" + url + "allow.txt", *ca_args)
    r2 = update("--source", "disposable=" + url + "good.txt", *ca_args)
    check("update.installed_allow_vetoes", r.returncode == 0 and r2.returncode == 0 and
          "installed 9991 entries" in r2.stdout and "11 vetoed by the allowlist" in r2.stdout, (r.stdout, r2.stdout, r2.stderr))
    leftovers = [f for f in os.listdir(lists) if f.endswith(".new")]
    check("update.no_temporary_files", not leftovers, leftovers)
finally:
    for p in procs:
        p.kill()
    sh("ip", "netns", "del", NS)
    shutil.rmtree(tmp, ignore_errors=True)

sys.exit(check.summary())
