#!/usr/bin/env python3
"""Scale-out benchmark (issue 16, docs/cluster.md): one coordinator (`verify --broker`) and 1, 2, 4
workers, each with a small --smtp-concurrency, against lab/slownet.py: SMTP servers on 40 loopback
addresses that wait --delay ms (default 50) before every reply, so throughput is bound by latency
as on the internet, not by this machine's 2 cores. The reference is one process without a broker
with one worker's budget, in the same run. Every run's rows must equal the reference's (times
aside). Prints a Markdown table: addresses/s, ratio to the reference, CPU seconds, Redis commands/s,
most connections seen at one server address.

Usage: cluster_bench.py PATH/TO/mailsift [--addresses 1200] [--delay 50] [--workers 1,2,4]
Nothing leaves 127.0.0.0/8: redis-server, the DNS and the SMTP servers are all on loopback.
"""
import argparse
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def corpus(n, rnd):
    """n addresses over n/5 domains (5 per domain, half of them real mailboxes) under four parents
    (one an IDN, one a subdomain of a two-label suffix), plus-tags and mixed case in some local
    parts; shuffled, as a real list is not sorted by domain."""
    out = []
    domains = max(1, n // 5)
    for i in range(n):
        d = i % domains
        local = ("ok." if rnd.random() < 0.5 else "no.") + f"{i}"
        if rnd.random() < 0.1:
            local += "+news"
        if rnd.random() < 0.1:
            local = local.capitalize()
        parent = ("slow-mail.org", "slowpost.net", "bücher.net", "mail.slow-co.com.au")[d % 4]
        out.append(f"{local}@d{d}.{parent}")
    rnd.shuffle(out)
    return out


def stable(line):
    r = json.loads(line)

    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in ("ms", "elapsed_ms", "connect_ms", "resumed")}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x
    ca = ((r.get("smtp") or {}).get("catch_all_test") or {}).get("address", "")
    s = json.dumps(strip(r), sort_keys=True)
    return s.replace(ca.split("@")[0], "RANDOM") if "@" in ca else s


def diff(a, b, path=""):
    """Where two results differ: [(path, a's value, b's value)]."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in diff(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [(path, a, b)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_counts(port):
    """(commands processed, CPU seconds used) of the Redis server so far."""
    out = subprocess.run(["redis-cli", "-p", str(port), "info", "all"], capture_output=True, text=True).stdout
    v = dict(line.split(":", 1) for line in out.splitlines() if ":" in line and not line.startswith("#"))
    cpu = float(v.get("used_cpu_sys", 0)) + float(v.get("used_cpu_user", 0))
    return int(v.get("total_commands_processed", 0)), cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("--addresses", type=int, default=1200)
    ap.add_argument("--delay", type=float, default=50)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--concurrency", type=int, default=8, help="--smtp-concurrency of each worker")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="mailsift-bench-cluster-")
    net = subprocess.Popen([sys.executable, os.path.join(ROOT, "lab", "slownet.py"), "--hosts", "40",
                            "--delay", str(a.delay), "--duration", "900"], stdout=subprocess.PIPE, text=True)
    ports = json.loads(net.stdout.readline())
    rport = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--dir", tmp,
                              "--appendonly", "yes", "--save", "", "--logfile", os.path.join(tmp, "redis.log")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(250):
        if subprocess.run(["redis-cli", "-p", str(rport), "ping"], capture_output=True).stdout.strip() == b"PONG":
            break
        time.sleep(0.02)
    url = f"redis://127.0.0.1:{rport}/0"
    common = ["--dns-server", f"127.0.0.1:{ports['dns']}", "--smtp-port", str(ports["smtp"]),
              "--allow-private-targets", "--threads", "1", "--dns-timeout", "1000"]
    addrs = corpus(a.addresses, random.Random(16))
    stdin = ("\n".join(addrs) + "\n").encode()
    rows = []
    reference = None
    try:
        for n in [0] + [int(x) for x in a.workers.split(",")]:
            workers = []
            for i in range(n):
                workers.append(subprocess.Popen([a.bin, "worker", "--broker", url, "--name", f"b{i}", *common,
                                                 "--smtp-concurrency", str(a.concurrency), "--chunks", "64"],
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(0.5 if n else 0)
            cmd = [a.bin, "verify", "--level", "smtp", "--format", "jsonl", *common]
            cmd += ["--broker", url] if n else ["--smtp-concurrency", str(a.concurrency)]
            before_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
            before_cmds, before_redis_cpu = redis_counts(rport)
            t0 = time.time()
            p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=600)
            took = time.time() - t0
            after_cmds, after_redis_cpu = redis_counts(rport)
            cmds = after_cmds - before_cmds
            redis_cpu = after_redis_cpu - before_redis_cpu
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait(timeout=60)
            after_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after_cpu.ru_utime + after_cpu.ru_stime) - (before_cpu.ru_utime + before_cpu.ru_stime)
            lines = p.stdout.decode().splitlines()
            got = [stable(x) for x in lines]
            if reference is None:
                reference = got
            same = got == reference
            if not same:
                bad = next(i for i in range(min(len(got), len(reference))) if got[i] != reference[i])
                print(f"rows differ with {n} workers, e.g. row {bad}: {diff(json.loads(reference[bad]), json.loads(got[bad]))}",
                      file=sys.stderr)
            rows.append((n, len(lines), took, cpu, cmds / took if n else 0.0, same, p.returncode,
                         redis_cpu / max(1, len(lines)) * 1e6 if n else 0.0))
    finally:
        for proc in (redis, net):
            proc.send_signal(signal.SIGTERM)
        counts = net.communicate(timeout=30)[0]
        redis.wait(timeout=30)
        subprocess.run(["rm", "-rf", tmp])
    domains = max(1, a.addresses // 5)
    print(f"corpus: {a.addresses} addresses, {domains} distinct domains ({100 * domains / a.addresses:.0f}%), "
          f"under 4 parents (one IDN, one under com.au), 40 MX addresses, every SMTP reply after {a.delay:.0f} ms; each process --smtp-concurrency "
          f"{a.concurrency}, --threads 1; cores: {os.cpu_count()}; load after: {open('/proc/loadavg').read().split()[0]}")
    print(f"server counts over all runs: {counts.strip()}")
    print()
    print("| run | rows | wall s | addresses/s | vs one process | vs one worker | CPU s (workers + coordinator) | "
          "Redis commands/s | Redis CPU µs per address | rows equal |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    base = rows[0][1] / rows[0][2]
    one = next((r[1] / r[2] for r in rows if r[0] == 1), None)
    for n, count, took, cpu, rate, same, rc, redis_us in rows:
        name = "one process, no broker" if n == 0 else f"{n} worker{'s' if n > 1 else ''}"
        vs_one = f"{count / took / one:.2f}x" if one and n else "-"
        print(f"| {name} | {count} | {took:.2f} | {count / took:.0f} | {count / took / base:.2f}x | {vs_one} | {cpu:.2f} | "
              f"{rate:.0f} | {redis_us:.0f} | {'yes' if same and rc in (0, 1) else 'NO'} |")
    return 0 if all(r[5] and r[6] in (0, 1) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
