#!/usr/bin/env bash
# Bulk offline benchmark (issue: bulk lists): `mailsift verify --level syntax --input F.csv --output
# OUT.csv` on N generated rows (default 10,000,000: a 3-column CSV, id,email,note, from
# bench/gen_corpus.py's address mix, about 10% malformed, many repeats), reported as rows/s against
# `wc -l` on the same file in the same run, with mailsift's peak RSS and CPU time (/usr/bin/time -v):
# on a shared machine the wall time depends on the other tenants, rows per CPU-second much less. The
# output is written to a real file (then removed). Offline: no network at all.
# Usage: scripts/bench-bulk.sh [N]
#   MAILSIFT_REF=/path/to/other/mailsift: also time that binary on the same file in the same run
#   (runs alternate), for a speed ratio that the machine's load cancels out of.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000000}
[ -x /usr/bin/time ] || { echo "bench-bulk.sh: /usr/bin/time missing: run scripts/install-deps.sh" >&2; exit 1; }
cmake --preset release >/dev/null
cmake --build --preset release >/dev/null
bin=$PWD/build/release/mailsift
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 bench/gen_corpus.py "$n" "$dir/addrs.txt" >/dev/null
awk 'BEGIN { print "id,email,note" } { printf "%d,%s,\"row %d, generated\"\n", NR, $0, NR }' "$dir/addrs.txt" >"$dir/in.csv"
rm -f "$dir/addrs.txt"
now() { date +%s.%N; }
best() {  # best wall time of 3 runs of "$@"
  local b=999999 s e t
  for _ in 1 2 3; do
    s=$(now); "$@"; e=$(now)
    t=$(echo "$e - $s" | bc -l)
    if (($(echo "$t < $b" | bc -l))); then b=$t; fi
  done
  echo "$b"
}
t_wc=$(best sh -c "wc -l < '$dir/in.csv' > /dev/null")
# One mailsift run: "wall cpu rss_kib" (cpu = user + system seconds).
run() {
  local s e
  s=$(now)
  timeout 600 /usr/bin/time -v -o "$dir/time.txt" "$1" verify --level syntax --quiet --input "$dir/in.csv" --output "$dir/out.csv"
  e=$(now)
  awk -F: -v wall="$(echo "$e - $s" | bc -l)" '
    /User time/ { cpu += $2 } /System time/ { cpu += $2 }
    /Maximum resident set size/ { gsub(/ /, "", $2); rss = $2 }
    END { printf "%s %.2f %d\n", wall, cpu, rss }' "$dir/time.txt"
}
: >"$dir/runs.txt"
for _ in 1 2 3; do
  echo "new $(run "$bin")" >>"$dir/runs.txt"
  if [ -n "${MAILSIFT_REF:-}" ]; then echo "ref $(run "$MAILSIFT_REF")" >>"$dir/runs.txt"; fi
done
rows=$(($(wc -l <"$dir/out.csv") - 1))
python3 - "$n" "$t_wc" "$(stat -c %s "$dir/in.csv")" "$rows" "$dir/runs.txt" <<'PY'
import sys
n, t_wc, size, rows = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
runs = {}
for line in open(sys.argv[5]):
    who, wall, cpu, rss = line.split()
    runs.setdefault(who, []).append((float(wall), float(cpu), int(rss)))
best = {who: (min(r[0] for r in v), min(r[1] for r in v), max(r[2] for r in v)) for who, v in runs.items()}
print(f"bulk offline benchmark: {n:,} CSV rows ({size / 2**20:,.0f} MiB), best of 3")
print()
print("| measure | rows/s (wall) | vs wc -l | rows per CPU-second | peak RSS |")
print("|---|---:|---:|---:|---:|")
print(f"| `wc -l` | {n / t_wc:,.0f} | 1.000 | | |")
for who, label in (("new", "`mailsift verify --level syntax --input in.csv --output out.csv`"), ("ref", "the same, MAILSIFT_REF")):
    if who in best:
        wall, cpu, rss = best[who]
        print(f"| {label} | {n / wall:,.0f} | {t_wc / wall:.3f} | {n / cpu:,.0f} | {rss / 1024:,.1f} MiB |")
print()
wall, cpu, rss = best["new"]
print(f"mailsift: {wall:.2f} s wall, {cpu:.2f} s CPU, peak RSS {rss / 1024:,.1f} MiB, {rows:,} output rows (every input row)")
if "ref" in best:
    print(f"speed vs MAILSIFT_REF in the same run: {best['ref'][0] / wall:.2f}x wall, {best['ref'][1] / cpu:.2f}x CPU")
PY
