#!/usr/bin/env python3
"""Write the SMTP benchmark zone sink.mailsift-lab.net to stdout.

  gen-sink-zone.py [DOMAINS [HOSTS]]             (defaults 1000 and 200)
  gen-sink-zone.py --addresses COUNT [DOMAINS]   COUNT addresses, one a line

The DOMAINS domains sNNNNN.sink.mailsift-lab.net each have one MX record,
MX 10 mxHHH.sink.mailsift-lab.net, with domain i on host i % HOSTS; host h has
one A record, 10.26.(h % 256).(h // 256 + 1), so consecutive hosts sit in
different /24s of 10.26.0.0/16. All of 10.26.0.0/16 is local in the lab's sink
namespace, where one smtp-sink answers for every address (lab/README.md).

--addresses writes COUNT addresses with distinct local parts spread round-robin
over the DOMAINS domains: uNNNNNNN@sMMMMM.sink.mailsift-lab.net.
"""

import sys

ORIGIN = "sink.mailsift-lab.net."
MAX_HOSTS = 256 * 254


def width(count, minimum):
    return max(minimum, len(str(count - 1)))


def domain_names(domains):
    w = width(domains, 5)
    return [f"s{i:0{w}d}" for i in range(domains)]


def host_address(h):
    return f"10.26.{h % 256}.{h // 256 + 1}"


def zone(domains, hosts, out):
    if not 1 <= hosts <= MAX_HOSTS or domains < 1:
        sys.exit(f"gen-sink-zone.py: need DOMAINS >= 1 and 1 <= HOSTS <= {MAX_HOSTS}")
    hw = width(hosts, 3)
    out.write(f"$ORIGIN {ORIGIN}\n$TTL 3600\n")
    out.write("@ SOA ns1.mailsift-lab.net. hostmaster.mailsift-lab.net. 1 3600 900 604800 300\n")
    out.write("@ NS ns1.mailsift-lab.net.\n")
    lines = [f"mx{h:0{hw}d} A {host_address(h)}\n" for h in range(hosts)]
    for i, name in enumerate(domain_names(domains)):
        lines.append(f"{name} MX 10 mx{i % hosts:0{hw}d}\n")
    out.write("".join(lines))


def addresses(count, domains, out):
    names = domain_names(domains)
    w = width(count, 7)
    out.write("".join(f"u{i:0{w}d}@{names[i % domains]}.{ORIGIN[:-1]}\n" for i in range(count)))


def main(argv):
    if argv and argv[0] == "--addresses":
        addresses(int(argv[1]), int(argv[2]) if len(argv) > 2 else 1000, sys.stdout)
    else:
        zone(int(argv[0]) if argv else 1000, int(argv[1]) if len(argv) > 1 else 200, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
