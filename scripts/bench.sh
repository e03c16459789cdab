#!/usr/bin/env bash
# Offline-level benchmarks on a generated corpus of N mixed addresses (default 1,000,000), each
# reported as a ratio against reading the same file line by line with `wc -l` in the same run.
#   1. in process (Google Benchmark): parse + classify, with and without JSON rendering;
#   2. end to end: `mailsift verify --level syntax --format jsonl < FILE > OUT`.
# Each timing is the best of 3 runs. Usage: scripts/bench.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
bash scripts/install-deps.sh >/dev/null
cmake --preset release >/dev/null
cmake --build --preset release >/dev/null
dir=build/release/bench-data
mkdir -p "$dir"
corpus=$dir/corpus-$n.txt
[ -f "$corpus" ] || python3 bench/gen_corpus.py "$n" "$corpus"
bin=build/release/mailsift

best() {  # best wall time in seconds of 3 runs of "$@"
  local best=999999 t
  for _ in 1 2 3; do
    local s e
    s=$(date +%s.%N)
    "$@"
    e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc -l)
    if (( $(echo "$t < $best" | bc -l) )); then best=$t; fi
  done
  echo "$best"
}

cat "$corpus" >/dev/null  # warm the page cache for both contenders
t_wc=$(best sh -c "wc -l < '$corpus' >/dev/null")
t_ms=$(best sh -c "'$bin' verify --level syntax --format jsonl < '$corpus' > '$dir/out.jsonl'")
lines=$(wc -l < "$dir/out.jsonl")
[ "$lines" -eq "$n" ] || { echo "expected $n output lines, got $lines" >&2; exit 1; }

MAILSIFT_CORPUS=$corpus build/release/bench/mailsift_bench --benchmark_min_time=2 \
  --benchmark_format=json --benchmark_out="$dir/inprocess.json" --benchmark_out_format=json >/dev/null

python3 - "$n" "$t_wc" "$t_ms" "$dir/inprocess.json" <<'PY'
import json, sys
n, t_wc, t_ms, path = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
wc = n / t_wc
print(f"corpus: {n:,} addresses")
print(f"{'measure':<44}{'addresses/s':>14}{'vs wc -l':>10}")
print(f"{'wc -l (reference)':<44}{wc:>14,.0f}{1:>10.3f}")
bm = {b['name']: b['items_per_second'] for b in json.load(open(path))['benchmarks']}
for name, label in [("BM_LineScan", "in-process line scan (memchr)"), ("BM_Parse", "in-process parse"),
                    ("BM_ParseClassify", "in-process parse + classify"),
                    ("BM_ParseClassifyJson", "in-process parse + classify + JSON")]:
    print(f"{label:<44}{bm[name]:>14,.0f}{bm[name] / wc:>10.3f}")
print(f"{'mailsift verify --level syntax > jsonl':<44}{n / t_ms:>14,.0f}{(n / t_ms) / wc:>10.3f}")
PY
