#!/usr/bin/env python3
"""Crash-safety test of the bulk path against real Postfix in the mail lab: `mailsift verify
--input --output --state` is killed with SIGKILL at random points and started again with the same
command until it completes; the final output must be identical to an uninterrupted run's, and a
rerun on a finished state file must not connect to any server (Postfix logs every connection).
Then the overlap of batches: greylisted addresses in each of three batches wait for their retry at
the same time (the run takes about one greylisting wait, not three), output still in input order,
a repeat of a row of a batch still in flight marked as a duplicate with its result.

Usage: bulk_lab_test.py PATH/TO/mailsift REPO_ROOT

Needs root and `ip netns` (fails, never skips, without). Starts its own lab, tears it down.
"""
import csv
import datetime
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import lab  # noqa: E402
from checks import Checks  # noqa: E402

BIN, ROOT = os.path.abspath(sys.argv[1]), sys.argv[2]
NAME = f"msbulk{os.getpid()}"
Z = "mailsift-lab.net"
check = Checks()


def cmd(*args, max_wait="0"):
    return ["ip", "netns", "exec", NAME, BIN, "verify", "--level", "smtp", "--allow-private-targets",
            "--dns-timeout", "2000", "--banner-timeout", "10", "--connect-timeout", "10", "--max-wait", max_wait,
            "--host-rate", "20", "--host-concurrency", "20", "--quiet", *args]


def make_input(path, n):
    """A CSV with a name column, an address column, a note with commas and quotes, duplicates."""
    rnd = random.Random(7)
    users = ["alice", "bob", "full", "disabled", "blocked", "quota"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "Email", "note"])
        for i in range(n):
            r = rnd.random()
            if r < 0.45:
                addr = f"user{i}@mailbox.{Z}"                         # unknown user: 550 5.1.1
            elif r < 0.65:
                addr = f"{rnd.choice(users)}@mailbox.{Z}"               # known replies (and duplicates)
            elif r < 0.80:
                addr = f"x{i}@catchall.{Z}"                             # catch-all
            elif r < 0.85:
                addr = f"a{i}@null-mx.{Z}"                              # never probed
            elif r < 0.90:
                addr = f"not an address {i}"
            else:
                addr = f"alice@dead-primary.{Z}" if rnd.random() < 0.5 else f"u{i}@dead-primary.{Z}"
            w.writerow([f"Person {i}", addr, f'note, with "quotes" {i}'])



CONNECT = re.compile(r"postfix/smtpd\[\d+\]: connect from ")


def connects(log):
    """Sessions Postfix has accepted so far (its smtpd logs "connect from" for each)."""
    return len(CONNECT.findall(open(log, errors="replace").read())) if os.path.exists(log) else -1


def settle(log, quiet=1.0, limit=15.0):
    """Waits until the log has not grown for `quiet` seconds (at most `limit`): Postfix logs a
    session through postlogd, a moment after the client has gone."""
    end, size, since = time.monotonic() + limit, -1, time.monotonic()
    while time.monotonic() < end:
        now = os.path.getsize(log) if os.path.exists(log) else -1
        if now != size:
            size, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)


def main():
    tmp = tempfile.mkdtemp(prefix="msbulk")
    try:
        src = os.path.join(tmp, "in.csv")
        # 40,000 rows: three batches (16,384 rows at --level smtp), all in flight at once, and (at
        # 20 connections a second to the lab's one Postfix) some 30 s of work, so that kills land
        # between batch commits.
        make_input(src, 40000)

        # The reference: one uninterrupted run.
        ref = os.path.join(tmp, "ref.csv")
        p = subprocess.run(cmd("--input", src, "--output", ref, "--summary", os.path.join(tmp, "ref.json")),
                           capture_output=True, timeout=300)
        check("reference.exit", p.returncode == 0, p.stderr.decode(errors="replace"))
        ref_rows = list(csv.reader(open(ref, newline="")))
        check("reference.rows", len(ref_rows) == 40001, len(ref_rows))
        check("reference.header", ref_rows[0][:3] == ["name", "Email", "note"] and "status" in ref_rows[0], ref_rows[0])
        summary = json.load(open(os.path.join(tmp, "ref.json")))
        check("reference.summary", summary["rows"] == 40000 and summary["duplicates"] > 0, summary)

        # Killed with SIGKILL at random moments, restarted with the same command until it completes.
        out, state = os.path.join(tmp, "out.csv"), os.path.join(tmp, "state.db")
        rnd = random.Random(11)
        kills = 0
        for attempt in range(8):
            proc = subprocess.Popen(cmd("--input", src, "--output", out, "--state", state),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            # Kills at random moments (each run writes at most a batch or two before it), then the
            # run may finish (bounded: 300 s).
            delay = rnd.uniform(2.0, 16.0) if attempt < 6 else 300
            try:
                rc = proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                # `ip netns exec` execs mailsift: this PID is mailsift itself.
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                continue
            check("resume.exit", rc == 0, proc.stderr.read().decode(errors="replace"))
            break
        check("resume.killed_at_least_3_times", kills >= 3, kills)
        check("resume.completed", os.path.exists(out) and not os.path.exists(out + ".partial"), os.listdir(tmp))
        got = open(out, newline="").read() if os.path.exists(out) else ""
        want = open(ref, newline="").read()
        check("resume.identical_output", got == want,
              f"{len(got)} vs {len(want)} bytes; first difference at "
              f"{next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))}")

        # A finished state answers everything: a rerun probes nothing (no new connection at Postfix,
        # which logs every one: "connect from ...").
        log = f"/tmp/mailsift-lab-{NAME}/postfix/maillog"
        settle(log)  # the last run's sessions may still be logging their ends
        before = connects(log)
        p = subprocess.run(cmd("--input", src, "--output", out, "--state", state), capture_output=True, timeout=300)
        settle(log)
        after = connects(log)
        # before > 0: the earlier runs' sessions are in the log, so the count is read from a real
        # log (a missing log gives -1 both times, which must not pass).
        check("rerun.no_probes", p.returncode == 0 and before > 0 and before == after, (p.returncode, before, after))
        check("rerun.identical", open(out, newline="").read() == want, "output differs after a rerun")

        # Another input with the same state file: refused, nothing mixed.
        other = os.path.join(tmp, "other.csv")
        make_input(other, 10)
        p = subprocess.run(cmd("--input", other, "--output", os.path.join(tmp, "o.csv"), "--state", state),
                           capture_output=True, timeout=60)
        check("state.other_run_refused", p.returncode != 0 and b"state" in p.stderr.lower(), p.stderr)
        pipeline(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


BATCH = 16384    # the engine's batch at --level smtp (src/engine/engine.cpp kSmtpBatch)
GREY_DELAY = 5  # postgrey's delay (lab/up.sh LAB_GREYLIST_DELAY), stated in its replies
GREY_WAIT = GREY_DELAY + 0.5  # what a retry waits: the stated delay and mailsift's 500 ms margin
# --greylist-retry, the wait for replies that state no delay: as long as --max-wait, so that a retry
# at all shows the stated delay was used.
GREY_RETRY = 60


def pipeline(tmp):
    """Three batches, each with greylisted addresses (greylist-all: every new address deferred
    once); the rest costs no probe. One batch at a time would take at least 3 x GREY_WAIT."""
    n = 3 * BATCH + 100
    rnd = random.Random(5)
    grey = set()
    for b in range(3):
        grey.update(rnd.sample(range(b * BATCH, (b + 1) * BATCH), 2))
    first, repeat = 10, 2 * BATCH + 50  # the same address in batch 1 and batch 3
    src = os.path.join(tmp, "pipe.csv")
    with open(src, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "Email"])
        for i in range(n):
            if i in grey:
                addr = f"g{i}@greylist-all.{Z}"
            elif i in (first, repeat):
                addr = f"alice@mailbox.{Z}"
            elif i % 1000 == 7:
                addr = f"nobody{i}@mailbox.{Z}"
            else:
                addr = f"not an address {i}"
            w.writerow([f"row {i}", addr])
    out = os.path.join(tmp, "pipe-out.csv")
    t0 = time.monotonic()
    p = subprocess.run(cmd("--input", src, "--output", out, "--greylist-retry", str(GREY_RETRY), "--greylist-tries", "2",
                           "--mail-from", "pipeline@" + Z, max_wait=str(GREY_RETRY)), capture_output=True, timeout=300)
    took = time.monotonic() - t0
    check("pipeline.exit", p.returncode == 0, p.stderr.decode(errors="replace"))
    rows = list(csv.DictReader(open(out, newline=""))) if os.path.exists(out) else []
    check("pipeline.rows_in_order", [r["name"] for r in rows] == [f"row {i}" for i in range(n)], len(rows))
    if len(rows) == n:
        got = {i: (rows[i]["status"], rows[i]["reason"]) for i in sorted(grey)}
        check("pipeline.greylisted_retried", all(s != "unknown" for s, _ in got.values()), got)
        check("pipeline.repeat_across_batches", rows[repeat]["duplicate"] == "true" and
              rows[repeat]["status"] == rows[first]["status"] == "valid", (rows[first], rows[repeat]))
        check("pipeline.unknown_users", all(rows[i]["reason"] == "mailbox_not_found" for i in range(7, n, 1000)
                                            if i not in grey and i not in (first, repeat)), "")
    # Batches overlap: the three batches' greylisted first tries reach Postfix together, not one
    # batch's after the previous batch's retries (>= 2 x GREY_WAIT apart), so their spread, read
    # from Postfix's log (whole seconds), is far below that. Not a wall-clock bound on the run: that
    # would depend on how busy the machine is.
    log = f"/tmp/mailsift-lab-{NAME}/postfix/maillog"
    settle(log)
    wanted = {f"g{i}@greylist-all.{Z}" for i in grey}
    firsts = {}
    for line in open(log, errors="replace") if os.path.exists(log) else []:
        m = GREYLISTED.match(line)
        if m and m.group(2) in wanted and m.group(2) not in firsts:
            firsts[m.group(2)] = datetime.datetime.strptime("2000 " + m.group(1), "%Y %b %d %H:%M:%S")
    spread = (max(firsts.values()) - min(firsts.values())).total_seconds() if firsts else -1
    print(f"info: pipeline: {len(firsts)} greylisted first tries {spread:.0f} s apart at Postfix; the run took {took:.1f} s")
    check("pipeline.batches_overlap", len(firsts) == len(wanted) and 0 <= spread < 1.5 * GREY_WAIT,
          f"{len(firsts)} of {len(wanted)} first tries logged, {spread:.0f} s apart "
          f"(one batch at a time: >= {2 * GREY_WAIT} s); the run took {took:.1f} s")


# Postfix's log of a greylisted RCPT: "Dec 07 16:10:15 host postfix/smtpd[1]: NOQUEUE: reject: RCPT
# from ...: 450 4.2.0 <g1@greylist-all...>: Recipient address rejected: Greylisted ... to=<g1@...>"
GREYLISTED = re.compile(r"^(\w{3} +\d+ \d\d:\d\d:\d\d) .*NOQUEUE: reject: RCPT .* 450 .*Greylisted.* to=<([^>]+)>")


lab.run(ROOT, NAME, check, main, env=dict(os.environ, LAB_SINK="0"))
