#!/usr/bin/env python3
"""Write the DNS benchmark zone bench.mailsift-lab.net to stdout.

  gen-bench-zone.py [COUNT]      (default 10000)

Each of the COUNT domains dNNNNN.bench.mailsift-lab.net has one MX record,
MX 10 mx.dNNNNN.bench.mailsift-lab.net, and that exchange has one A record in
10.25.128.0/17 (lab addresses: nothing listens there).  The list of names, one
a line, for dnsperf is written by `gen-bench-zone.py --queries COUNT`.
"""

import sys

ORIGIN = "bench.mailsift-lab.net."


def names(count):
    width = max(5, len(str(count - 1)))
    return [f"d{i:0{width}d}" for i in range(count)]


def zone(count, out):
    out.write(f"$ORIGIN {ORIGIN}\n$TTL 3600\n")
    out.write(f"@ SOA ns1.mailsift-lab.net. hostmaster.mailsift-lab.net. 1 3600 900 604800 300\n")
    out.write("@ NS ns1.mailsift-lab.net.\n")
    lines = []
    for i, name in enumerate(names(count)):
        a = f"10.25.{128 + (i >> 8) % 128}.{i & 0xFF}"
        lines.append(f"{name} MX 10 mx.{name}\nmx.{name} A {a}\n")
    out.write("".join(lines))


def queries(count, out):
    out.write("".join(f"{name}.{ORIGIN[:-1]} MX\n" for name in names(count)))


def main(argv):
    if argv and argv[0] == "--queries":
        queries(int(argv[1]) if len(argv) > 1 else 10000, sys.stdout)
    else:
        zone(int(argv[0]) if argv else 10000, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
