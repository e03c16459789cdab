#!/usr/bin/env bash
# Offline level on a corpus that looks like a real B2B list (issue 15; bench/gen_realistic.py: about
# 20% distinct domains, subdomains, IDNs, a long tail of TLDs, ~10% invalid), N addresses (default
# 1,000,000). Prints the corpus shape, the load (uptime), then, best of 3 runs each:
#   1. `mailsift verify --level syntax --format jsonl < FILE > OUT`           (addresses/s)
#   2. `mailsift verify --level syntax --input F.csv --output OUT.csv --quiet` (rows/s; 4 columns,
#      quoted fields)
#   3. in process (Google Benchmark, one thread): parse, parse + classify, + JSON.
# MAILSIFT_REF=/path/to/other/mailsift also times that binary on the same files in the same run
# (runs alternate) and prints new/ref ratios, which the machine's load mostly cancels out of.
# Usage: scripts/bench-realistic.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
cmake --preset release >/dev/null
cmake --build --preset release >/dev/null
dir=build/release/bench-data
mkdir -p "$dir"
txt=$dir/realistic-$n.txt
csv=$dir/realistic-$n.csv
if [ ! -f "$txt" ] || [ ! -f "$csv" ]; then
  python3 bench/gen_realistic.py "$n" "$txt" --csv "$csv" >"$dir/realistic-$n.shape"
fi
cat "$dir/realistic-$n.shape"
echo "load: $(uptime)"
bin=$PWD/build/release/mailsift
ref=${MAILSIFT_REF:-}
now() { date +%s.%N; }
declare -A best
time_one() {  # time_one KEY cmd...: keeps the best wall time per KEY
  local s e t
  s=$(now); "${@:2}"; e=$(now)
  t=$(echo "$e - $s" | bc -l)
  if [ -z "${best[$1]:-}" ] || (($(echo "$t < ${best[$1]}" | bc -l))); then best[$1]=$t; fi
}
cat "$txt" "$csv" >/dev/null  # warm the page cache
for _ in 1 2 3; do
  for b in new ${ref:+ref}; do
    exe=$bin
    [ "$b" = ref ] && exe=$ref
    time_one "$b-jsonl" sh -c "'$exe' verify --level syntax --format jsonl < '$txt' > '$dir/out.jsonl'"
    time_one "$b-csv" "$exe" verify --level syntax --input "$csv" --output "$dir/out.csv" --quiet
  done
done
lines=$(wc -l <"$dir/out.jsonl")
[ "$lines" -eq "$n" ] || { echo "expected $n output lines, got $lines" >&2; exit 1; }
for b in new ${ref:+ref}; do
  for k in jsonl csv; do
    printf '%-4s %-6s %12.0f addresses/s\n' "$b" "$k" "$(echo "$n / ${best[$b-$k]}" | bc -l)"
  done
done
if [ -n "$ref" ]; then
  for k in jsonl csv; do
    printf 'new/ref %-6s %.2fx\n' "$k" "$(echo "${best[ref-$k]} / ${best[new-$k]}" | bc -l)"
  done
fi
MAILSIFT_CORPUS=$txt build/release/bench/mailsift_bench --benchmark_min_time=1 \
  --benchmark_filter='BM_Parse|BM_ParseClassify|BM_ParseClassifyJson|BM_NewDomainFacts' \
  --benchmark_counters_tabular=true
echo "load: $(uptime)"
