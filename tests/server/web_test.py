#!/usr/bin/env python3
"""End-to-end test of the web page (src/server/page.html) against the real `mailsift serve`, in
headless Chromium driven through the DevTools protocol (Debian packages chromium and
python3-websocket; no pip, no npm).

It starts the server on a free loopback port with a temporary database, opens the page, pastes
addresses (valid, invalid, risky), picks level syntax, starts the job, waits for 100% and "finished",
checks the counts and the chart against `mailsift verify --level syntax` on the same addresses,
downloads the CSV and the JSONL through the page's buttons and checks their rows, then checks the
error path (a wrong API key against a server started with --api-key: #error shows the 401) and that
the right key works, a CSV file upload, and a 429 (a server at 1 request/s) shown while polling
goes on. Screenshots (Page.captureScreenshot) go to the output directory.

The Content-Security-Policy: `/` allows no 'unsafe-inline' script or style, the page's script and style
sheet (/app.js, /app.css) are the files under src/server/ byte for byte, the page holds no inline script,
style or event handler, and no CSP violation shows in the console during the whole run (a deliberate one
at the end proves that violations are seen). The API key: kept in sessionStorage (this tab, across a
reload), never in localStorage, absent from a new tab; an old key left in localStorage is moved out.

Usage: web_test.py PATH/TO/mailsift REPO_ROOT [OUTPUT_DIR (default: <binary's dir>/test-output)]
Prints "N passed, N failed" and exits non-zero on failure. Only loopback traffic: Chromium resolves
no host name (--host-resolver-rules) and its background services are off.
"""
import base64
import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from checks import Checks  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oas import Document  # noqa: E402

try:
    import websocket  # python3-websocket
except ImportError:  # a python3 other than Debian's (pyenv): use Debian's package directly
    sys.path.append("/usr/lib/python3/dist-packages")
    import websocket

BIN, ROOT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
OUT = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else os.path.join(os.path.dirname(BIN), "test-output")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
check = Checks()
with open(os.path.join(ROOT, "docs", "openapi.json"), encoding="utf-8") as f:
    OAS = Document(json.load(f))


def conforms(name, value, schema):
    """Checks value against components/schemas/<schema> of docs/openapi.json (strict: no extra members)."""
    errs = OAS.validate(value, {"$ref": f"#/components/schemas/{schema}"}, schema, strict=True)
    check(f"openapi.{name}", not errs, errs[:5])

# 20 addresses: valid, invalid (syntax) and risky (disposable, role, typo) at --level syntax.
ADDRESSES = [
    "john.smith@gmail.com", "jane.doe@outlook.com", "m.mueller@web.de", "olivia.brown@protonmail.com",
    "liam@icloud.com", "noah.jones@company.co.uk", "ava.wilson@yahoo.co.jp", "sales@acme-corp.com",
    "info@mailinator.com", "jane@gmial.com", "test123@hotmail.com", '"john doe"@example.org',
    "bad@@x.com", "no-at-sign.example.com", "a..b@gmail.com", ".lead@yahoo.com", "emma@localhost",
    "user@[192.0.2.1]", "trailing.dot.@gmail.com", "mia@fastmail.com",
]
STATUSES = ["valid", "invalid", "risky", "unknown"]
CSV_COLUMNS = ("email,normalized,canonical,status,reason,score,domain,registrable_domain,disposable,role,free,"
               "smtputf8,quoted_local,address_literal,suspicious,blocklisted,catch_all,suggestion,checks").split(",")


# --- processes ---------------------------------------------------------------------------------------
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=10):
    """(status, headers, body bytes) of one request; HTTP errors are answers too."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class Server:
    def __init__(self, tmp, tag, *extra):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = os.path.join(tmp, f"server-{tag}.log")
        cmd = [BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--db", os.path.join(tmp, f"db-{tag}.sqlite"),
               "--level", "syntax", *extra]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=open(self.log, "wb"),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        self.ready = False
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                status, _, _ = http("GET", self.base + "/healthz", timeout=2)
                if status == 200:
                    self.ready = True
                    break
            except OSError:
                pass
            time.sleep(0.1)
        if not self.ready:
            print(f"server {' '.join(cmd)} not ready (exit {self.proc.poll()}):\n{self.tail()}")

    def tail(self, n=3000):
        try:
            with open(self.log, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class CDPError(Exception):
    pass


class Browser:
    """Headless Chromium and one flat DevTools connection to it (browser target + one page session)."""

    def __init__(self, tmp):
        self.profile = os.path.join(tmp, "profile")
        self.log = os.path.join(tmp, "chromium.log")
        args = [CHROMIUM, "--headless=new", "--remote-debugging-port=0", f"--user-data-dir={self.profile}",
                "--no-sandbox",  # the test runs as root (CI): Chromium's sandbox refuses root
                "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-default-apps", "--disable-domain-reliability", "--no-pings",
                "--disable-client-side-phishing-detection", "--metrics-recording-only", "--mute-audio",
                "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
                # No name resolves: nothing can leave the machine; the page is at 127.0.0.1.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--window-size=1100,1500", "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=open(self.log, "wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if os.path.exists(port_file):
                lines = open(port_file).read().split()
                if len(lines) >= 2:
                    break
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        else:
            lines = []
        if len(lines) < 2:
            raise RuntimeError(f"chromium did not start (exit {self.proc.poll()}): {self.tail()}")
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{lines[0]}{lines[1]}", timeout=30,
                                              suppress_origin=True)
        self.next_id = 0
        self.events = []      # a queue: wait_event and the test take events out of it
        self.all_events = []  # every event of the run, for the CSP check at the end
        self.session = None

    def tail(self):
        try:
            return open(self.log, "rb").read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def _recv(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("DevTools: no answer in time")
        self.ws.settimeout(remaining)
        return json.loads(self.ws.recv())

    def call(self, method, params=None, page=True, timeout=30):
        self.next_id += 1
        mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if page and self.session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            m = self._recv(deadline)
            if m.get("id") == mid:
                if "error" in m:
                    raise CDPError(f"{method}: {m['error']}")
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)
                self.all_events.append(m)

    def wait_event(self, pred, timeout):
        """The first event (queued or new) for which pred is true, removed from the queue; None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if pred(e):
                    return self.events.pop(i)
            try:
                m = self._recv(deadline)
            except (TimeoutError, websocket.WebSocketTimeoutException):
                return None
            if "method" in m:
                self.events.append(m)
                self.all_events.append(m)

    def open_page(self):
        target = self.call("Target.createTarget", {"url": "about:blank"}, page=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, page=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "DOM"):
            self.call(f"{domain}.enable")
        # Besides Chromium's own console message, each document reports its CSP violations as a
        # console error (scripts added through DevTools are not subject to the page's CSP).
        self.call("Page.addScriptToEvaluateOnNewDocument", {"source": """
            document.addEventListener("securitypolicyviolation", (e) => console.error(
                "Content Security Policy violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline")
                + " at " + e.sourceFile + ":" + e.lineNumber));"""})
        self.call("Emulation.setDeviceMetricsOverride", {"width": 1100, "height": 1500, "deviceScaleFactor": 1,
                                                         "mobile": False})

    def navigate(self, url):
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        self.call("Page.navigate", {"url": url})
        return self.wait_event(lambda e: e.get("method") == "Page.loadEventFired", 20) is not None

    def eval_in_new_tab(self, url, expr, timeout=20):
        """Opens url in a new tab (a new top-level browsing context, with its own sessionStorage),
        evaluates expr there once the page has loaded and closes the tab; the value."""
        target = self.call("Target.createTarget", {"url": url}, page=False)["targetId"]
        main = self.session
        try:
            self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                     page=False)["sessionId"]
            self.wait_for(f'document.readyState === "complete" && location.href === {json.dumps(url)}', timeout)
            return self.eval(expr)
        finally:
            self.session = main
            self.call("Target.closeTarget", {"targetId": target}, page=False)

    def eval(self, expr):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise CDPError(f"evaluate {expr[:80]}: {r['exceptionDetails'].get('text')} "
                           f"{r['exceptionDetails'].get('exception', {}).get('description', '')}")
        return r.get("result", {}).get("value")

    def wait_for(self, expr, timeout, interval=0.1):
        """Evaluates expr until it is truthy; its last value (falsy on timeout)."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.eval(expr)
            if value:
                return value
            time.sleep(interval)
        return value

    def click(self, element_id):
        """A real mouse click in the middle of the element (as a person would)."""
        box = self.eval(f"""(() => {{ const e = document.getElementById({json.dumps(element_id)});
            e.scrollIntoView({{block: "center"}}); const r = e.getBoundingClientRect();
            return {{x: r.x + r.width / 2, y: r.y + r.height / 2, disabled: !!e.disabled}}; }})()""")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": box["x"], "y": box["y"], "button": "left",
                                                   "clickCount": 1})
        return box

    def type_into(self, element_id, text):
        """Focuses the field, selects what it holds and types text over it (as one insertion)."""
        self.eval(f"(() => {{ const e = document.getElementById({json.dumps(element_id)}); e.focus(); "
                  f"e.select && e.select(); }})()")
        self.call("Input.insertText", {"text": text})

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def close(self):
        try:
            self.call("Browser.close", page=False, timeout=5)
        except Exception:  # noqa: BLE001 — closing is best effort; the process group is killed next
            pass
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


# --- the expected verdicts -------------------------------------------------------------------------
p = subprocess.run([BIN, "verify", "--level", "syntax", "--format", "jsonl", "-"],
                   input=("\n".join(ADDRESSES) + "\n").encode(), capture_output=True, timeout=60)
expected = [json.loads(line) for line in p.stdout.decode().splitlines()]
check("oracle.cli", len(expected) == len(ADDRESSES), (p.returncode, p.stderr[-300:]))
expected_status = {r["email"]: r["status"] for r in expected}
expected_counts = {s: sum(1 for r in expected if r["status"] == s) for s in STATUSES}
check("oracle.mixed", expected_counts["valid"] >= 5 and expected_counts["invalid"] >= 5
      and expected_counts["risky"] >= 2, expected_counts)


def page_state(b):
    return b.eval("""(() => ({
        percent: +document.getElementById("progress").dataset.percent,
        value: document.getElementById("progress").value, max: document.getElementById("progress").max,
        state: document.getElementById("state").textContent,
        text: document.getElementById("progress-text").textContent,
        counts: Object.fromEntries(["valid", "invalid", "risky", "unknown"].map(s =>
            [s, +document.getElementById("count-" + s).value])),
        bars: Object.fromEntries(["valid", "invalid", "risky", "unknown"].map(s => {
            const b = document.getElementById("bar-" + s); return [s, b ? +b.getAttribute("data-count") : -1]; })),
        error: document.getElementById("error").hidden ? null : document.getElementById("error").textContent,
        job: document.getElementById("job-id").textContent,
    }))()""")


def downloaded(b, dl_dir, button, timeout=15):
    """Clicks a download button; (suggested file name, content bytes) of the finished download."""
    b.events = [e for e in b.events if not e.get("method", "").startswith("Browser.download")]
    b.click(button)
    begin = b.wait_event(lambda e: e.get("method") == "Browser.downloadWillBegin", timeout)
    if begin is None:
        return None, None
    guid = begin["params"]["guid"]
    done = b.wait_event(lambda e: e.get("method") == "Browser.downloadProgress"
                        and e["params"].get("guid") == guid and e["params"].get("state") in ("completed", "canceled"),
                        timeout)
    if done is None or done["params"]["state"] != "completed":
        return begin["params"].get("suggestedFilename"), None
    with open(os.path.join(dl_dir, guid), "rb") as f:
        return begin["params"].get("suggestedFilename"), f.read()


def console_problems(b, events=None):
    """Uncaught exceptions, console errors and Content-Security-Policy violations in events (default:
    the events queued so far)."""
    out = []
    for e in b.events if events is None else events:
        if e.get("method") == "Runtime.exceptionThrown":
            out.append(e["params"]["exceptionDetails"].get("exception", {}).get("description")
                       or e["params"]["exceptionDetails"].get("text"))
        elif e.get("method") == "Log.entryAdded" and "Content Security Policy" in e["params"]["entry"].get("text", ""):
            out.append(e["params"]["entry"]["text"])
        elif e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") == "error":
            out.append(str(e["params"].get("args")))
    return out


def csp_violations(b):
    """The CSP violations of the whole run (Chromium's console messages and the pages' own reports)."""
    return [p for p in console_problems(b, b.all_events) if "Content Security Policy" in str(p)]


def csp_directives(header):
    """{directive: [sources]} of a Content-Security-Policy header."""
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out.setdefault(words[0].lower(), words[1:])
    return out


# Everything on the page that needs 'unsafe-inline' (or is a javascript: URL): a list of descriptions.
INLINE_PROBE = """(() => {
    const out = [];
    for (const e of document.querySelectorAll("*")) {
        for (const a of e.attributes) {
            if (/^on/i.test(a.name)) out.push(`${e.tagName} ${a.name}`);
            if (a.name === "style") out.push(`${e.tagName}#${e.id} style`);
            if (/^\\s*javascript:/i.test(a.value)) out.push(`${e.tagName} ${a.name}=javascript:`);
        }
        if (e.tagName === "SCRIPT" && !e.src) out.push("inline script");
        if (e.tagName === "STYLE" || e.tagName === "style") out.push("style element");
    }
    return out;
})()"""
STORED_KEY = ('({local: localStorage.getItem("mailsift.apiKey"), session: sessionStorage.getItem("mailsift.apiKey"), '
              'field: document.getElementById("api-key").value})')


class Abort(Exception):
    """Nothing more can be checked (the server did not start)."""


# --- the run -----------------------------------------------------------------------------------------
os.makedirs(OUT, exist_ok=True)
tmp = tempfile.mkdtemp(prefix="mailsift-web-")
servers = []
browser = None
try:
    open_server = Server(tmp, "open")
    servers.append(open_server)
    check("server.ready", open_server.ready, open_server.tail())
    if not open_server.ready:
        raise Abort()

    # What the page and the embedding rely on, over plain HTTP.
    status, headers, body = http("GET", open_server.base + "/")
    with open(os.path.join(ROOT, "src", "server", "page.html"), "rb") as f:
        check("http.page_is_embedded_file", status == 200 and body == f.read(), (status, len(body)))
    check("http.page_type", headers.get("Content-Type", "").startswith("text/html"), headers.get("Content-Type"))
    csp = headers.get("Content-Security-Policy", "")
    check("http.page_csp", "default-src 'self'" in csp and "connect-src 'self'" in csp, csp)
    directives = csp_directives(csp)
    for kind in ("script-src", "style-src"):
        sources = directives.get(kind, directives.get("default-src", []))
        check(f"http.page_csp_{kind}_self_only", sources == ["'self'"], (kind, sources, csp))  # no 'unsafe-inline'
    for asset, file, ctype in (("/app.js", "app.js", "text/javascript"), ("/app.css", "app.css", "text/css")):
        status, headers, body = http("GET", open_server.base + asset)
        with open(os.path.join(ROOT, "src", "server", file), "rb") as f:
            check(f"http.{file}_is_embedded_file", status == 200 and body == f.read(), (status, len(body)))
        check(f"http.{file}_type", headers.get("Content-Type", "").split(";")[0].strip() == ctype,
              headers.get("Content-Type"))
    with open(os.path.join(ROOT, "src", "server", "page.html"), encoding="utf-8") as f:
        page_text = f.read()
    check("http.page_loads_assets", '<script src="/app.js"' in page_text and 'href="/app.css"' in page_text,
          "page.html does not load /app.js and /app.css")
    status, headers, body = http("GET", open_server.base + "/v1/openapi.json")
    with open(os.path.join(ROOT, "docs", "openapi.json"), "rb") as f:
        check("http.openapi_is_embedded_file", status == 200 and json.loads(body) == json.loads(f.read()), status)
    check("http.openapi_type", headers.get("Content-Type", "").startswith("application/json"),
          headers.get("Content-Type"))
    status, _, body = http("GET", open_server.base + "/healthz")
    conforms("healthz", json.loads(body), "Health")

    browser = Browser(tmp)
    b = browser
    dl_dir = os.path.join(tmp, "downloads")
    os.makedirs(dl_dir)
    b.call("Browser.setDownloadBehavior", {"behavior": "allowAndName", "downloadPath": dl_dir,
                                           "eventsEnabled": True}, page=False)
    b.open_page()
    check("page.loads", b.navigate(open_server.base + "/"), "no load event")
    check("page.title", b.eval("document.title") == "mailsift", b.eval("document.title"))
    check("page.labels", b.eval("""[...document.querySelectorAll("input, select, textarea")].every(e =>
        e.labels && e.labels.length > 0)"""), "a form field without a label")

    # Paste, pick the level, start.
    b.type_into("emails", "\n".join(ADDRESSES))
    check("page.pasted", b.eval('document.getElementById("emails-count").textContent') == f"{len(ADDRESSES)} addresses",
          b.eval('document.getElementById("emails-count").textContent'))
    b.eval('(() => { const s = document.getElementById("level"); s.focus(); s.value = "syntax"; '
           's.dispatchEvent(new Event("change", {bubbles: true})); })()')
    b.click("start")
    final = b.wait_for("""(() => { const s = document.getElementById("state").textContent;
        const p = +document.getElementById("progress").dataset.percent;
        return s === "finished" && p === 100; })()""", 30)
    st = page_state(b)
    check("job.finished_within_30s", final is True, st)
    check("job.no_error", st["error"] is None, st["error"])
    check("job.progress_100", st["percent"] == 100 and st["value"] == st["max"] == len(ADDRESSES), st)
    check("job.progress_text", st["text"].startswith(f"{len(ADDRESSES)} / {len(ADDRESSES)}"), st["text"])
    check("job.counts", st["counts"] == expected_counts, (st["counts"], expected_counts))
    check("job.chart", st["bars"] == expected_counts, (st["bars"], expected_counts))
    job_id = st["job"].split(" ")[0]
    check("job.level", b.eval('document.getElementById("job-level").textContent') == "syntax",
          b.eval('document.getElementById("job-level").textContent'))
    # The server's own view of the job agrees.
    status, _, body = http("GET", f"{open_server.base}/v1/jobs/{job_id}")
    job = json.loads(body) if status == 200 else {}
    check("api.job", status == 200 and job.get("state") == "finished" and job.get("total") == len(ADDRESSES)
          and job.get("counts") == expected_counts and job.get("level") == "syntax", (status, body[:500]))
    conforms("job", job, "Job")
    preview_rows = b.wait_for('document.querySelectorAll("#preview tbody tr").length', 5)
    check("page.preview", preview_rows == len(ADDRESSES), preview_rows)

    b.screenshot(os.path.join(OUT, "web.png"))
    print(f"screenshot: {os.path.join(OUT, 'web.png')}")

    # Downloads through the buttons (fetch with the key → Blob URL → a real download).
    name, data = downloaded(b, dl_dir, "download-csv")
    check("download.csv_done", data is not None, name)
    check("download.csv_name", name == f"mailsift-{job_id}.csv", name)
    if data is not None:
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
        header = list(rows[0].keys()) if rows else []
        check("csv.columns", all(c in header for c in CSV_COLUMNS), header)
        check("csv.position_column", "position" in header, header)
        check("csv.rows", len(rows) == len(ADDRESSES), len(rows))
        check("csv.order", [r.get("email") for r in rows] == [r["email"] for r in expected],
              [r.get("email") for r in rows])
        check("csv.statuses", {r.get("email"): r.get("status") for r in rows} == expected_status, rows[:3])
        check("csv.reasons", [r.get("reason") for r in rows] == [r["reason"] for r in expected],
              [r.get("reason") for r in rows])
        if "position" in header:
            check("csv.positions", [r["position"] for r in rows] == [str(i) for i in range(1, len(ADDRESSES) + 1)],
                  [r["position"] for r in rows])
    name, data = downloaded(b, dl_dir, "download-jsonl")
    check("download.jsonl_done", data is not None, name)
    check("download.jsonl_name", name == f"mailsift-{job_id}.jsonl", name)
    if data is not None:
        lines = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
        check("jsonl.rows", len(lines) == len(ADDRESSES), len(lines))
        check("jsonl.positions", [r.get("position") for r in lines] == list(range(1, len(ADDRESSES) + 1)),
              [r.get("position") for r in lines])
        for i, r in enumerate(lines):
            conforms(f"job_result {i}", r, "JobResult")
        stripped = [{k: v for k, v in r.items() if k != "position"} for r in lines]
        check("jsonl.results_as_cli", stripped == expected,
              next(((a, e) for a, e in zip(stripped, expected) if a != e), "row count differs"))
    check("page.no_error_after_downloads", page_state(b)["error"] is None, page_state(b)["error"])
    check("page.no_console_problems", not console_problems(b), console_problems(b))
    check("page.nothing_inline", b.eval(INLINE_PROBE) == [], b.eval(INLINE_PROBE))
    check("page.bar_colours_from_css", b.eval("""["valid", "invalid", "risky", "unknown"].every(s =>
        getComputedStyle(document.getElementById("bar-" + s)).fill === getComputedStyle(
            document.querySelector(".swatch-" + s)).backgroundColor)"""), "a bar's fill is not its swatch's colour")

    # Delete through the page: the job is gone from the server.
    b.click("delete")
    gone = b.wait_for('document.getElementById("state").textContent === "deleted"', 10)
    status, _, body = http("GET", f"{open_server.base}/v1/jobs/{job_id}")
    check("delete.page", gone is True and page_state(b)["error"] is None, page_state(b))
    check("delete.server_404", status == 404, (status, body[:200]))
    if status == 404:
        conforms("error_404", json.loads(body), "Error")

    # Upload: a CSV file chosen in the file input (sent as text/csv; the server finds the email column).
    upload = [("Ann", "ann.smith@gmail.com"), ("Bob", "bob@@example.com"), ("Cat", "info@mailinator.com"),
              ("Dan", "dan.brown@outlook.com"), ("Eve", "eve@localhost")]
    csv_path = os.path.join(tmp, "list.csv")
    with open(csv_path, "w") as f:
        f.write("name,email\n" + "".join(f"{n},{e}\n" for n, e in upload))
    p = subprocess.run([BIN, "verify", "--level", "syntax", "--format", "jsonl"] + [e for _, e in upload],
                       capture_output=True, timeout=60)
    upload_counts = {s: 0 for s in STATUSES}
    for line in p.stdout.decode().splitlines():
        upload_counts[json.loads(line)["status"]] += 1
    b.navigate(open_server.base + "/")
    root = b.call("DOM.getDocument")["root"]["nodeId"]
    node = b.call("DOM.querySelector", {"nodeId": root, "selector": "#file"})["nodeId"]
    b.call("DOM.setFileInputFiles", {"nodeId": node, "files": [csv_path]})
    check("upload.chosen", b.eval('document.getElementById("file").files.length') == 1, "no file chosen")
    b.click("start")
    ok = b.wait_for('document.getElementById("state").textContent === "finished"', 30)
    st = page_state(b)
    check("upload.finished", ok is True and st["error"] is None, st)
    check("upload.total", st["text"].startswith(f"{len(upload)} / {len(upload)}"), st["text"])
    check("upload.counts", st["counts"] == upload_counts, (st["counts"], upload_counts))

    # Client-side check: nothing to send.
    b.navigate(open_server.base + "/")
    b.click("start")
    err = b.wait_for('document.getElementById("error").hidden ? "" : document.getElementById("error").textContent', 5)
    check("page.empty_input_error", bool(err) and "at least one address" in err, err)

    # Error path: a server with a key; the page with a wrong key, then the right one.
    key = "web-test-key-0123456789"
    keyed = Server(tmp, "keyed", "--api-key", key)
    servers.append(keyed)
    check("keyed.ready", keyed.ready, keyed.tail())
    if keyed.ready:
        status, headers, body = http("POST", keyed.base + "/v1/jobs", b'["a@gmail.com"]',
                                     {"Content-Type": "application/json"})
        try:
            err_body = json.loads(body)
        except ValueError:
            err_body = {}
        check("api.401_without_key", status == 401 and err_body.get("error", {}).get("code") == "unauthorized",
              (status, body[:300]))
        check("api.401_www_authenticate", headers.get("WWW-Authenticate", "").startswith("Bearer"),
              headers.get("WWW-Authenticate"))
        conforms("error_401", err_body, "Error")
        b.events.clear()
        check("keyed.page_loads", b.navigate(keyed.base + "/"), "no load event")
        b.type_into("api-key", "wrong-key")
        stored = b.eval(STORED_KEY)
        check("key.session_only", stored == {"local": None, "session": "wrong-key", "field": "wrong-key"}, stored)
        b.type_into("emails", "\n".join(ADDRESSES[:3]))
        b.eval('(() => { const s = document.getElementById("level"); s.value = "syntax"; '
               's.dispatchEvent(new Event("change", {bubbles: true})); })()')
        b.click("start")
        err = b.wait_for('document.getElementById("error").hidden ? "" : document.getElementById("error").textContent', 10)
        server_msg = err_body.get("error", {}).get("message", "\0")
        check("error.401_shown", bool(err) and "401" in err and "unauthorized" in err, err)
        check("error.401_server_message", bool(err) and server_msg in err, (err, server_msg))
        check("error.visible", b.eval('(() => { const r = document.getElementById("error").getBoundingClientRect(); '
                                      'return r.width > 0 && r.height > 0; })()'), "zero-size #error")
        check("error.no_job", page_state(b)["job"] == "–", page_state(b)["job"])
        b.screenshot(os.path.join(OUT, "web-error.png"))
        print(f"screenshot: {os.path.join(OUT, 'web-error.png')}")
        # The right key: the key is kept across a reload, and the job runs.
        b.type_into("api-key", key)
        b.navigate(keyed.base + "/")
        check("key.kept", b.eval('document.getElementById("api-key").value') == key,
              b.eval('document.getElementById("api-key").value'))
        check("level.kept", b.eval('document.getElementById("level").value') == "syntax",
              b.eval('document.getElementById("level").value'))
        stored = b.eval(STORED_KEY)
        check("key.not_in_local_storage", stored["local"] is None and stored["session"] == key, stored)
        check("level.in_local_storage", b.eval('localStorage.getItem("mailsift.level")') == "syntax",
              b.eval('localStorage.getItem("mailsift.level")'))
        other = b.eval_in_new_tab(keyed.base + "/", STORED_KEY)
        check("key.not_in_new_tab", other == {"local": None, "session": None, "field": ""}, other)
        # An old page's key in localStorage, with this tab's key in sessionStorage: the tab's stays,
        # the old one goes.
        b.eval('localStorage.setItem("mailsift.apiKey", "stale-key")')
        b.navigate(keyed.base + "/")
        stored = b.eval(STORED_KEY)
        check("key.migrated_stale_dropped", stored == {"local": None, "session": key, "field": key}, stored)
        # Only in localStorage (as an older page left it): moved to sessionStorage, and the job below
        # runs with it.
        b.eval(f'sessionStorage.clear(); localStorage.setItem("mailsift.apiKey", {json.dumps(key)})')
        b.navigate(keyed.base + "/")
        stored = b.eval(STORED_KEY)
        check("key.migrated", stored == {"local": None, "session": key, "field": key}, stored)
        b.type_into("emails", "\n".join(ADDRESSES[:3]))
        b.click("start")
        ok = b.wait_for('document.getElementById("state").textContent === "finished"', 30)
        st = page_state(b)
        check("key.job_finished", ok is True and st["error"] is None, st)
        check("key.counts", sum(st["counts"].values()) == 3, st["counts"])
        problems = [p for p in console_problems(b) if "401" not in str(p)]
        check("keyed.no_console_problems", not problems, problems)

    # 429: a server allowing 1 request/s (burst 1). The page polls every 500 ms, so a poll is refused;
    # the page shows the error (with Retry-After), waits, polls on, and clears it when a poll passes.
    limited = Server(tmp, "limited", "--rate-limit", "1", "--rate-burst", "1")
    servers.append(limited)
    check("limited.ready", limited.ready, limited.tail())
    if limited.ready:
        b.navigate(limited.base + "/")
        b.eval("""(() => { const e = document.getElementById("error"); window.__errors = [];
            new MutationObserver(() => { if (!e.hidden) window.__errors.push(e.textContent); })
              .observe(e, {childList: true, characterData: true, subtree: true, attributes: true}); })()""")
        b.type_into("emails", "\n".join(ADDRESSES[:4]))
        b.eval('(() => { const s = document.getElementById("level"); s.value = "syntax"; '
               's.dispatchEvent(new Event("change", {bubbles: true})); })()')
        b.click("start")
        ok = b.wait_for('document.getElementById("state").textContent === "finished"', 30)
        seen = b.eval("window.__errors")
        st = page_state(b)
        check("429.shown", any("429" in t and "rate_limited" in t and "retry in" in t for t in seen), seen)
        check("429.job_still_finished", ok is True, st)
        check("429.error_cleared", st["error"] is None, st["error"])

    # No CSP violation anywhere in the run; then a deliberate one (an inline script and a style
    # attribute, as a page under 'unsafe-inline' could have) shows that violations are seen.
    check("csp.no_violations", not csp_violations(b), csp_violations(b))
    b.eval("""(() => { const s = document.createElement("script"); s.textContent = "window.__inline = 1";
        document.body.append(s); document.body.setAttribute("style", "outline: 1px solid red"); })()""")
    time.sleep(0.5)
    b.eval("1")  # drains the events that arrived meanwhile into the queue
    violations = csp_violations(b)
    check("csp.violation_detected", b.eval("window.__inline") is None
          and any("script-src" in v for v in violations) and any("style-src" in v for v in violations), violations)
except Abort:
    pass
finally:
    if browser is not None:
        browser.close()
    for s in servers:
        s.stop()
        check(f"server.clean_exit {s.port}", s.proc.returncode in (0, -signal.SIGTERM), (s.proc.returncode, s.tail()))
    shutil.rmtree(tmp, ignore_errors=True)

sys.exit(check.summary())
