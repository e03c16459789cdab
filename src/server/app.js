// The web page's script, served at /app.js (src/server/page.html loads it; no inline script, so the
// page's Content-Security-Policy allows scripts from 'self' only).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const STATUSES = ["valid", "invalid", "risky", "unknown"];
  const POLL_MS = 500;
  const KEY_STORE = "mailsift.apiKey", LEVEL_STORE = "mailsift.level";
  const SVG = "http://www.w3.org/2000/svg";

  let jobId = null, pollTimer = null, polling = false;

  // --- settings kept in the browser ---
  // The API key is kept in sessionStorage: this tab only, gone when the tab closes. The level is no
  // secret and stays in localStorage. Earlier versions of the page kept the key in localStorage: it
  // is taken out of there on load (moved to this tab's sessionStorage unless the tab has a key).
  function storage(name) {
    try { return window[name] || null; } catch (e) { return null; }   // reading it throws when storage is off
  }
  const local = storage("localStorage"), session = storage("sessionStorage");
  const store = {
    get(s, k) { try { return (s && s.getItem(k)) || ""; } catch (e) { return ""; } },
    set(s, k, v) {
      try { if (!s) return; if (v) s.setItem(k, v); else s.removeItem(k); } catch (e) { /* full, or private mode */ }
    },
  };
  const oldKey = store.get(local, KEY_STORE);
  if (oldKey) {
    if (!store.get(session, KEY_STORE)) store.set(session, KEY_STORE, oldKey);
    store.set(local, KEY_STORE, "");
  }
  $("api-key").value = store.get(session, KEY_STORE);
  $("level").value = store.get(local, LEVEL_STORE);
  if ($("level").selectedIndex < 0) $("level").value = "";
  $("api-key").addEventListener("input", () => store.set(session, KEY_STORE, $("api-key").value.trim()));
  $("level").addEventListener("change", () => store.set(local, LEVEL_STORE, $("level").value));

  // --- errors ---
  // transient: a polling error that the next successful poll clears (429, network, 5xx).
  function showError(text, transient) {
    $("error").textContent = text; $("error").hidden = false;
    if (transient) $("error").dataset.transient = "1"; else delete $("error").dataset.transient;
  }
  function clearError() { $("error").textContent = ""; $("error").hidden = true; delete $("error").dataset.transient; }

  class ApiError extends Error {
    constructor(status, code, message, retryAfter) {
      super(message); this.status = status; this.code = code; this.retryAfter = retryAfter;
    }
    describe() {
      let s = this.message + (this.status ? ` (HTTP ${this.status}${this.code ? " " + this.code : ""})` : "");
      if (this.status === 401) s += " — check the API key.";
      if (this.status === 429 && this.retryAfter) s += ` — retry in ${this.retryAfter} s.`;
      return s;
    }
  }

  // --- the API ---
  async function api(method, path, body, contentType) {
    const headers = {};
    const key = $("api-key").value.trim();
    if (key) headers["Authorization"] = "Bearer " + key;
    if (body !== undefined) headers["Content-Type"] = contentType;
    let r;
    try {
      r = await fetch(path, { method, headers, body, cache: "no-store" });
    } catch (e) {
      throw new ApiError(0, "network", "The server cannot be reached: " + e.message);
    }
    if (r.ok) return r;
    let code = "", message = r.statusText || "request failed";
    try {
      const j = await r.json();
      if (j && j.error) { code = j.error.code || ""; message = j.error.message || message; }
    } catch (e) { /* not JSON */ }
    throw new ApiError(r.status, code, message, r.headers.get("Retry-After"));
  }

  // --- input ---
  function pastedAddresses() {
    const out = [];
    for (const line of $("emails").value.split(/\r\n|\r|\n/)) {
      // A quoted local part may hold commas: such a line is one address.
      const parts = line.includes('"') ? [line] : line.split(/[,;]/);
      for (const p of parts) { const t = p.trim(); if (t) out.push(t); }
    }
    return out;
  }
  function updateCount() {
    const n = pastedAddresses().length;
    $("emails-count").textContent = n === 1 ? "1 address" : `${n} addresses`;
  }
  $("emails").addEventListener("input", updateCount);
  $("file").addEventListener("change", () => { $("clear-file").hidden = !$("file").files.length; });
  $("clear-file").addEventListener("click", () => { $("file").value = ""; $("clear-file").hidden = true; });

  async function jobBody() {
    const f = $("file").files[0];
    if (f) {
      const text = await f.text();
      const csv = /\.csv$/i.test(f.name) || f.type === "text/csv";
      return { body: text, type: csv ? "text/csv" : "text/plain", csv };
    }
    const list = pastedAddresses();
    if (!list.length) return null;
    return { body: JSON.stringify(list), type: "application/json", csv: false };
  }

  // --- the job view ---
  function chart(counts) {
    const svg = $("chart");
    while (svg.lastChild && svg.lastChild.nodeName !== "title") svg.removeChild(svg.lastChild);
    const max = Math.max(1, ...STATUSES.map((s) => counts[s] || 0));
    const left = 70, width = 500, barH = 24, gap = 10;
    STATUSES.forEach((s, i) => {
      const n = counts[s] || 0, y = 8 + i * (barH + gap);
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", "0"); label.setAttribute("y", String(y + barH * 0.7)); label.textContent = s;
      const rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("id", "bar-" + s);
      rect.setAttribute("x", String(left)); rect.setAttribute("y", String(y));
      rect.setAttribute("width", String(Math.round((n / max) * width))); rect.setAttribute("height", String(barH));
      rect.setAttribute("rx", "3"); rect.setAttribute("class", "bar-" + s);   // a class: no style attribute under the CSP
      rect.setAttribute("data-count", String(n));
      const value = document.createElementNS(SVG, "text");
      value.setAttribute("x", String(left + Math.round((n / max) * width) + 6)); value.setAttribute("y", String(y + barH * 0.7));
      value.textContent = String(n);
      svg.append(label, rect, value);
    });
  }

  function render(job) {
    const total = job.total || 0, done = job.done || 0;
    const pct = total ? Math.floor((done / total) * 100) : (job.state === "finished" ? 100 : 0);
    $("progress").max = Math.max(total, 1);
    $("progress").value = total ? done : (job.state === "finished" ? 1 : 0);
    $("progress").dataset.percent = String(pct);
    $("progress-text").textContent = `${done.toLocaleString()} / ${total.toLocaleString()} (${pct}%)`;
    $("state").textContent = job.state;
    $("job-id").textContent = job.id + (job.name ? ` (${job.name})` : "");
    $("job-level").textContent = job.level || "–";
    $("done").textContent = String(done);
    $("total").textContent = String(total);
    const counts = job.counts || {};
    for (const s of STATUSES) $("count-" + s).value = String(counts[s] || 0);
    chart(counts);
  }

  function stopPolling() { polling = false; if (pollTimer) clearTimeout(pollTimer); pollTimer = null; }

  async function poll() {
    if (!polling || !jobId) return;
    const id = jobId;
    let delay = POLL_MS;
    try {
      const job = await (await api("GET", `/v1/jobs/${encodeURIComponent(id)}`)).json();
      if (id !== jobId) return;
      render(job);
      if ($("error").dataset.transient) clearError();
      if (job.state === "finished") { finish(); preview(); return; }
      $("delete").textContent = "Stop and delete job";
    } catch (e) {
      const passing = e.status === 429 || e.status === 0 || e.status >= 500;   // keep polling: it may pass
      showError(e instanceof ApiError ? e.describe() : String(e), passing);
      if (passing) {
        if (e.status === 429) delay = Math.max(POLL_MS, 1000 * (parseFloat(e.retryAfter) || 1));
        else delay = 2000;
      } else { finish(); return; }            // 401, 404: nothing more to see
    }
    if (polling && id === jobId) pollTimer = setTimeout(poll, delay);
  }

  function finish() {
    stopPolling();
    $("delete").textContent = "Delete job";
    $("start").disabled = false;
  }

  async function start() {
    clearError();
    const input = await jobBody();
    if (!input) { showError("Paste at least one address or choose a file."); return; }
    const q = new URLSearchParams();
    if ($("level").value) q.set("level", $("level").value);
    if (input.csv && $("column").value.trim()) q.set("column", $("column").value.trim());
    $("start").disabled = true;
    try {
      const r = await api("POST", "/v1/jobs" + (q.toString() ? "?" + q : ""), input.body, input.type);
      const job = await r.json();
      stopPolling();
      jobId = job.id;
      $("preview-section").hidden = true;
      $("download-note").textContent = "";
      for (const b of ["download-csv", "download-jsonl", "delete"]) $(b).disabled = false;
      $("delete").textContent = "Stop and delete job";
      render(job);
      polling = true;
      if (job.state === "finished") { finish(); preview(); } else pollTimer = setTimeout(poll, POLL_MS);
    } catch (e) {
      showError(e instanceof ApiError ? e.describe() : String(e));
      $("start").disabled = false;
    }
  }

  async function download(format) {
    if (!jobId) return;
    clearError();
    try {
      const r = await api("GET", `/v1/jobs/${encodeURIComponent(jobId)}/results?format=${format}`);
      const state = r.headers.get("X-Job-State");
      const blob = await r.blob();
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url; a.download = `mailsift-${jobId}.${format}`;
      document.body.append(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      $("download-note").textContent = state && state !== "finished"
        ? `partial results: the job was ${state} when the download started` : "";
    } catch (e) {
      showError(e instanceof ApiError ? e.describe() : String(e));
    }
  }

  async function preview() {
    if (!jobId) return;
    try {
      const r = await api("GET", `/v1/jobs/${encodeURIComponent(jobId)}/results?format=jsonl`);
      const lines = (await r.text()).split("\n").filter((l) => l.trim()).slice(0, 50);
      const body = $("preview").tBodies[0];
      body.replaceChildren();
      lines.forEach((l, i) => {
        let o; try { o = JSON.parse(l); } catch (e) { return; }
        const tr = document.createElement("tr");
        const cells = [o.position ?? i + 1, o.email, o.status, o.reason, o.score];
        cells.forEach((c, j) => {
          const td = document.createElement("td");
          td.textContent = c === null || c === undefined ? "" : String(c);
          if (j === 2) td.className = "status-" + o.status;
          tr.append(td);
        });
        body.append(tr);
      });
      $("preview-section").hidden = lines.length === 0;
    } catch (e) { /* the preview is a convenience: errors show on download */ }
  }

  async function del() {
    if (!jobId) return;
    clearError();
    try {
      await api("DELETE", `/v1/jobs/${encodeURIComponent(jobId)}`);
      stopPolling();
      $("state").textContent = "deleted";
      jobId = null;
      for (const b of ["download-csv", "download-jsonl", "delete"]) $(b).disabled = true;
      $("start").disabled = false;
      $("preview-section").hidden = true;
    } catch (e) {
      showError(e instanceof ApiError ? e.describe() : String(e));
    }
  }

  $("start").addEventListener("click", start);
  $("download-csv").addEventListener("click", () => download("csv"));
  $("download-jsonl").addEventListener("click", () => download("jsonl"));
  $("delete").addEventListener("click", del);
  updateCount();
  chart({});
})();
