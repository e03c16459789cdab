#!/usr/bin/env bash
# Heap allocations per address at the offline level (issue 15: "no allocation per address on the
# hot path"). bench/alloc_count.c, preloaded, counts operator new, malloc, calloc, realloc and the
# aligned allocations of a run; each path runs on the first N and the first 2N addresses of the
# realistic corpus of scripts/bench-threads.sh (bench/gen_realistic.py 1000000, seed 42: 20%
# distinct domains; N default 200,000, at most 500,000), and the difference divided by N is what
# each address added costs, start-up (CLI set-up, lists) taken off:
#   jsonl  `verify --level syntax --threads T --format jsonl < FILE`
#   csv    `verify --level syntax --threads T --input FILE.csv --output OUT.csv --quiet`
# with T = 1 and 2. libidn2's own malloc/realloc calls (IDN domains its per-thread cache misses)
# are in the malloc and realloc columns; mailsift's C++ allocations are in `new`.
# Usage: scripts/bench-allocs.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200000}
if ! [[ $n =~ ^[1-9][0-9]*$ ]] || [ "$n" -gt 500000 ]; then
  echo "bench-allocs.sh: N must be 1 to 500000" >&2
  exit 2
fi
cmake --preset release >/dev/null
cmake --build --preset release -j2 >/dev/null
dir=build/release/bench-data
mkdir -p "$dir"
total=$((2 * n))
txt=$dir/realistic-1000000.txt
csv=$dir/realistic-1000000.csv
if [ ! -f "$txt" ] || [ ! -f "$csv" ]; then
  python3 bench/gen_realistic.py 1000000 "$txt" --csv "$csv" >"$dir/realistic-1000000.shape"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -shared -fPIC -o "$work/alloc_count.so" bench/alloc_count.c -ldl
head -n "$n" "$txt" >"$work/a.txt"
head -n "$total" "$txt" >"$work/b.txt"
head -n "$((n + 1))" "$csv" >"$work/a.csv"  # the header line and N records
head -n "$((total + 1))" "$csv" >"$work/b.csv"
bin=$PWD/build/release/mailsift
echo "corpus: first $n and $total addresses of $txt"
for f in a b; do
  echo "  $f: $(wc -l <"$work/$f.txt") lines, $(grep '@' "$work/$f.txt" | cut -d@ -f2- | sort -u | wc -l) distinct texts after the first @"
done

count() {  # count FORMAT THREADS PART: the counter's line for one run
  local out
  if [ "$1" = jsonl ]; then
    out=$(LD_PRELOAD="$work/alloc_count.so" "$bin" verify --level syntax --threads "$2" --format jsonl \
      <"$work/$3.txt" 2>&1 >/dev/null)
  else
    out=$(LD_PRELOAD="$work/alloc_count.so" "$bin" verify --level syntax --threads "$2" \
      --input "$work/$3.csv" --output "$work/out.csv" --quiet 2>&1)
  fi
  if ! grep '^alloc_count:' <<<"$out" | tail -n 1; then
    echo "bench-allocs.sh: no count from the $1 run with --threads $2 (is the allocator a shared library?): $out" >&2
    exit 1
  fi
}
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$2"; }
per() {  # per KIND A B: KIND's calls per address added from count line A (N) to B (2N)
  printf '%.3f' "$(echo "($(field "$1" "$3") - $(field "$1" "$2")) / $n" | bc -l)"
}

printf '%-6s %-8s %12s %12s %12s %10s %10s %10s\n' path threads "new ($n)" "new ($total)" "new/address" \
  malloc/addr realloc/addr calloc/addr
for fmt in jsonl csv; do
  for t in 1 2; do
    a=$(count "$fmt" "$t" a)
    b=$(count "$fmt" "$t" b)
    printf '%-6s %-8s %12s %12s %12s %10s %10s %10s\n' "$fmt" "$t" "$(field new "$a")" "$(field new "$b")" \
      "$(per new "$a" "$b")" "$(per malloc "$a" "$b")" "$(per realloc "$a" "$b")" "$(per calloc "$a" "$b")"
  done
done
