#!/usr/bin/env python3
"""Crash-safety test of the bulk path against real Postfix in the mail lab: `mailsift verify
--input --output --state` is killed with SIGKILL at random points and started again with the same
command until it completes; the final output must be identical to an uninterrupted run's, and a
rerun on a finished state file must not connect to any server (Postfix logs every connection).

Usage: bulk_lab_test.py PATH/TO/mailsift REPO_ROOT

Needs root and `ip netns` (fails, never skips, without). Starts its own lab, tears it down.
"""
import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import lab  # noqa: E402
from checks import Checks  # noqa: E402

BIN, ROOT = os.path.abspath(sys.argv[1]), sys.argv[2]
NAME = f"msbulk{os.getpid()}"
Z = "mailsift-lab.net"
check = Checks()


def cmd(*args):
    return ["ip", "netns", "exec", NAME, BIN, "verify", "--level", "smtp", "--allow-private-targets",
            "--dns-timeout", "500", "--banner-timeout", "2", "--connect-timeout", "2", "--max-wait", "0",
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



def main():
    tmp = tempfile.mkdtemp(prefix="msbulk")
    try:
        src = os.path.join(tmp, "in.csv")
        # 20,000 rows: five batches of 4,096, and (at 20 connections a second to the lab's one
        # Postfix) some 20 s of work, so that kills land between batch commits.
        make_input(src, 20000)

        # The reference: one uninterrupted run.
        ref = os.path.join(tmp, "ref.csv")
        p = subprocess.run(cmd("--input", src, "--output", ref, "--summary", os.path.join(tmp, "ref.json")),
                           capture_output=True, timeout=300)
        check("reference.exit", p.returncode == 0, p.stderr.decode(errors="replace"))
        ref_rows = list(csv.reader(open(ref, newline="")))
        check("reference.rows", len(ref_rows) == 20001, len(ref_rows))
        check("reference.header", ref_rows[0][:3] == ["name", "Email", "note"] and "status" in ref_rows[0], ref_rows[0])
        summary = json.load(open(os.path.join(tmp, "ref.json")))
        check("reference.summary", summary["rows"] == 20000 and summary["duplicates"] > 0, summary)

        # Killed with SIGKILL at random moments, restarted with the same command until it completes.
        out, state = os.path.join(tmp, "out.csv"), os.path.join(tmp, "state.db")
        rnd = random.Random(11)
        kills = 0
        for attempt in range(8):
            proc = subprocess.Popen(cmd("--input", src, "--output", out, "--state", state),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            # Kills at random moments (each run does at most a batch or two before it), then the
            # run may finish (bounded: 300 s).
            delay = rnd.uniform(1.0, 6.0) if attempt < 6 else 300
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
        before = open(log, errors="replace").read().count("connect from") if os.path.exists(log) else -1
        p = subprocess.run(cmd("--input", src, "--output", out, "--state", state), capture_output=True, timeout=300)
        after = open(log, errors="replace").read().count("connect from") if os.path.exists(log) else -1
        check("rerun.no_probes", p.returncode == 0 and before == after, (p.returncode, before, after))
        check("rerun.identical", open(out, newline="").read() == want, "output differs after a rerun")

        # Another input with the same state file: refused, nothing mixed.
        other = os.path.join(tmp, "other.csv")
        make_input(other, 10)
        p = subprocess.run(cmd("--input", other, "--output", os.path.join(tmp, "o.csv"), "--state", state),
                           capture_output=True, timeout=60)
        check("state.other_run_refused", p.returncode != 0 and b"state" in p.stderr.lower(), p.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


lab.run(ROOT, NAME, check, main, env=dict(os.environ, LAB_SINK="0"))
