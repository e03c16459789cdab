#!/usr/bin/env bash
# DNS-level benchmark in the mail lab (needs root: a network namespace; nothing leaves it).
# MX + address lookups for the lab's bench zone (LAB_BENCH_COUNT distinct domains, default 10,000:
# dNNNNN.bench.mailsift-lab.net, each MX -> mx.dNNNNN with one A), sent straight to knot at
# 10.53.0.3 (not through dnsmasq), cache cold (a fresh process per run). Reported against dnsperf
# sending the same MX queries to the same knot in the same run:
#   queries/s   mailsift's DNS queries (MX, TXT, _dmarc TXT, A, AAAA per domain) per second, which
#               is what dnsperf counts, and the ratio to dnsperf's queries/s;
#   domains/s   complete lookups (every query of a domain answered, verdict written) per second.
# Each timing is the best of 3 runs; every run is bounded (timeout 120 s, dnsperf -l).
# Usage: scripts/bench-dns.sh [SECONDS_OF_DNSPERF (default 5)]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
[ "$(id -u)" -eq 0 ] || { echo "bench-dns.sh: needs root (network namespace)" >&2; exit 1; }
cmake --preset release >/dev/null
cmake --build --preset release >/dev/null
bin=$PWD/build/release/mailsift
NAME=msbench$$
trap 'bash lab/down.sh "$NAME" >/dev/null 2>&1 || true' EXIT
bash lab/up.sh "$NAME" >/dev/null
# shellcheck disable=SC1090
. "/tmp/mailsift-lab-$NAME/lab.env"
dir=$(mktemp -d)
trap 'rm -rf "$dir"; bash lab/down.sh "$NAME" >/dev/null 2>&1 || true' EXIT
sed 's/ MX$//; s/^/user@/' "$LAB_BENCH_QUERIES" >"$dir/addrs.txt"
n=$(wc -l <"$dir/addrs.txt")

best=999999
for _ in 1 2 3; do
  s=$(date +%s.%N)
  timeout 120 ip netns exec "$LAB_NS" "$bin" verify --level dns --dns-server "$LAB_KNOT" --allow-private-targets \
    --format jsonl --dns-stats <"$dir/addrs.txt" >"$dir/out.jsonl" 2>"$dir/stats.txt"
  e=$(date +%s.%N)
  t=$(echo "$e - $s" | bc -l)
  if (($(echo "$t < $best" | bc -l))); then best=$t; fi
done
queries=$(sed -n 's/.*dns: \([0-9]*\) queries sent.*/\1/p' "$dir/stats.txt")
found=$(grep -c '"reason":"mx_found"' "$dir/out.jsonl" || true)
[ "$found" -eq "$n" ] || { echo "bench-dns.sh: only $found of $n domains resolved to mx_found" >&2; exit 1; }

timeout $((secs + 30)) ip netns exec "$LAB_NS" dnsperf -s "$LAB_KNOT" -d "$LAB_BENCH_QUERIES" -l "$secs" \
  >"$dir/dnsperf.txt" 2>&1
qps=$(sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p' "$dir/dnsperf.txt")
lost=$(sed -n 's/.*Queries lost: *\([0-9]*\).*/\1/p' "$dir/dnsperf.txt")

python3 - "$n" "$queries" "$best" "$qps" "$lost" <<'PY'
import sys
n, q, t, qps, lost = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
print(f"{n:,} domains, knot at 10.53.0.3 in the lab namespace, cache cold")
print(f"{'measure':<52}{'per second':>12}{'vs dnsperf':>12}")
print(f"{'dnsperf, MX queries (reference; lost: ' + lost + ')':<52}{qps:>12,.0f}{1:>12.3f}")
print(f"{'mailsift verify --level dns: DNS queries':<52}{q / t:>12,.0f}{(q / t) / qps:>12.3f}")
print(f"{'mailsift verify --level dns: domains (MX+TXT+DMARC+A+AAAA)':<52}{n / t:>12,.0f}")
print(f"best of 3: {t:.3f} s for {q:,} queries")
PY
