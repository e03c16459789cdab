#!/usr/bin/env bash
# The whole test suite, as the README and CI run it: installs dependencies, builds the `release`
# and `asan` (AddressSanitizer + UBSan) presets, runs every test under both, then runs each fuzz
# target for a bounded time (FUZZ_SECONDS, default 60) with its seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
jobs=$(nproc)

for preset in release asan; do
  echo "== build $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "== test $preset"
  ctest --preset "$preset" -j "$jobs"
done

echo "== fuzz"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
echo "== all tests passed"
