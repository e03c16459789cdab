#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS (default 60) on its seed corpus (fuzz/corpus/NAME).
# New inputs go to a scratch directory so the repository's corpus only changes on purpose.
# Fails on any crash, leak or sanitizer report.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
for target in build/fuzz/fuzz/fuzz_*; do
  name=$(basename "$target" | sed 's/^fuzz_//')
  scratch=$(mktemp -d)
  echo "fuzz $name for ${seconds}s"
  "$target" -max_total_time="$seconds" -max_len=2048 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=build/fuzz/crash- "$scratch" "fuzz/corpus/$name" 2>&1 | tail -n 3
  rm -rf "$scratch"
done
