#!/usr/bin/env python3
"""Writes the address list of the full-level lab benchmark (scripts/bench-full.sh), one per line.

  gen_full.py [--total N] [--postfix P] [--greylist G] [--domains D] [--seed S]

N addresses in all (default 100,000), all distinct, shuffled with a fixed seed so every slice of the
file (the first 10,000, one batch of the engine) has the same mix:
  * P (default 5,000) at mailbox.mailsift-lab.net, the lab's Postfix: unknown users (550 5.1.1),
    plus alice and bob (250);
  * G (default 1,000) at greylist-all.mailsift-lab.net, the lab's Postfix behind postgrey: every
    new (client, sender, recipient) is deferred (450 4.2.0) for LAB_GREYLIST_DELAY seconds;
  * the rest at the D (default 1,000) smtp-sink domains sNNNNN.sink.mailsift-lab.net (200 MX hosts,
    every RCPT accepted), round-robin as lab/gen-sink-zone.py --addresses does.
"""
import argparse
import random
import sys


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--total", type=int, default=100_000)
    ap.add_argument("--postfix", type=int, default=5_000)
    ap.add_argument("--greylist", type=int, default=1_000)
    ap.add_argument("--domains", type=int, default=1_000)
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    sink = a.total - a.postfix - a.greylist
    if sink < 0 or a.postfix < 2 or a.domains < 1:
        sys.exit("gen_full.py: need TOTAL >= POSTFIX + GREYLIST, POSTFIX >= 2, DOMAINS >= 1")
    w = max(5, len(str(a.domains - 1)))
    out = [f"u{i:07d}@s{i % a.domains:0{w}d}.sink.mailsift-lab.net" for i in range(sink)]
    out += ["alice@mailbox.mailsift-lab.net", "bob@mailbox.mailsift-lab.net"]
    out += [f"nobody{i:06d}@mailbox.mailsift-lab.net" for i in range(a.postfix - 2)]
    out += [f"grey{i:06d}@greylist-all.mailsift-lab.net" for i in range(a.greylist)]
    random.Random(a.seed).shuffle(out)
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
