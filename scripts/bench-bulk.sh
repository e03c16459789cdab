#!/usr/bin/env bash
# Bulk offline benchmark (issue: bulk lists): `mailsift verify --level syntax --input F.csv --output
# OUT.csv` on N generated rows (default 10,000,000: a 3-column CSV, id,email,note, from
# bench/gen_corpus.py's address mix, about 10% malformed, many repeats), reported as rows/s against
# `wc -l` on the same file in the same run, with mailsift's peak RSS (/usr/bin/time -v). The output
# is written to a real file (then removed). Offline: no network at all.
# Usage: scripts/bench-bulk.sh [N]
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
t_ms=$(best sh -c "timeout 600 /usr/bin/time -v -o '$dir/time.txt' '$bin' verify --level syntax --quiet --input '$dir/in.csv' --output '$dir/out.csv'")
rows=$(($(wc -l <"$dir/out.csv") - 1))
rss=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$dir/time.txt")
python3 - "$n" "$t_wc" "$t_ms" "$rss" "$rows" "$(stat -c %s "$dir/in.csv")" <<'PY'
import sys
n, t_wc, t_ms, rss, rows, size = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
print(f"bulk offline benchmark: {n:,} CSV rows ({size / 2**20:,.0f} MiB), best of 3")
print()
print("| measure | rows/s | vs wc -l |")
print("|---|---:|---:|")
print(f"| `wc -l` | {n / t_wc:,.0f} | 1.000 |")
print(f"| `mailsift verify --level syntax --input in.csv --output out.csv` | {n / t_ms:,.0f} | {(n / t_wc and (n / t_ms) / (n / t_wc)):.3f} |")
print()
print(f"mailsift: {t_ms:.2f} s, peak RSS {rss / 1024:,.1f} MiB, {rows:,} output rows (every input row)")
PY
