#!/usr/bin/env bash
# The whole test suite, as the README and CI run it: installs dependencies, builds the `release`
# and `asan` (AddressSanitizer + UBSan) presets, runs every test under both, runs the threaded
# code's unit tests under ThreadSanitizer (`tsan`), then runs each fuzz target for a bounded time
# (FUZZ_SECONDS, default 60) with its seed corpus, as many at a time as there are cores.
# The tests include the `lab` label: tests/dns/lab_test.py starts the mail lab (lab/up.sh, a network
# namespace, ~3 s), runs `mailsift verify --level dns` inside it and tears it down. It needs root
# (CI runs as root) and fails, never skips, without it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
jobs=$(nproc)

echo "== mail lab self-test (DNS zones, Postfix behaviours, in a private network namespace)"
bash lab/selftest.sh "mssel$$"

for preset in release asan; do
  echo "== build $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "== test $preset"
  ctest --preset "$preset" -j "$jobs" -LE lab
  echo "== lab tests $preset"
  ctest --preset "$preset" -L lab
done

# ThreadSanitizer: the code that runs on several threads (--threads: the offline worker pool, the
# network shards and their shared politeness gate and TLS client, the broker gate). Only the unit
# test binary is built: the engine's tests drive the threads themselves.
echo "== build tsan (unit tests)"
cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "$jobs" --target mailsift_tests
echo "== test tsan"
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" build/tsan/tests/mailsift_tests --gtest_brief=1 \
  --gtest_filter='EngineThreads.*:SharedFacts.*:AddressIdna2008.ThreadsShareCachedAnswers:OrderedPool.*:OfflinePool.*:ResolveThreads.*:Politeness.*:Tls.*:RedisGate.*:Session.*:Prober.*:Cluster.*:ServeCluster.*:Queue.*'

echo "== fuzz"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
echo "== all tests passed"
