#!/usr/bin/env bash
# The whole test suite, as the README and CI run it: installs dependencies, builds the `release`
# and `asan` (AddressSanitizer + UBSan) presets, runs every test under both, runs the threaded
# code's unit tests under ThreadSanitizer (`tsan`), then runs each fuzz target for a bounded time
# (FUZZ_SECONDS, default 60) with its seed corpus, as many at a time as there are cores.
# The tests include the `lab` label: tests/dns/lab_test.py starts the mail lab (lab/up.sh, a network
# namespace, ~3 s), runs `mailsift verify --level dns` inside it and tears it down. It needs root
# (CI runs as root) and fails, never skips, without it.
# Build time is most of CI's hour: the sanitizer and fuzz presets (CMakePresets.json) compile with
# -g1, line tables only, so reports keep their file:line while the Beast/Asio coroutine sources
# cost a quarter less to build than with full -g; the fuzz preset uses -O1, libFuzzer's own advice.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
jobs=$(nproc)

echo "== mail lab self-test (DNS zones, Postfix behaviours, in a private network namespace)"
bash lab/selftest.sh "mssel$$"

# The lab tests spend most of their time waiting on servers and timers, so each preset's run goes
# on in the background while the next build runs (niced, so the tests still get a core when they
# need one); its output is printed whole when it ends. This keeps CI well under its hour on 2 cores.
lab_pid=""
lab_log=""
start_lab() {  # start_lab PRESET: its lab tests in the background
  lab_log="build/lab-$1.log"
  mkdir -p build
  echo "== lab tests $1 (in the background: $lab_log)"
  ctest --preset "$1" -L lab >"$lab_log" 2>&1 &
  lab_pid=$!
}
finish_lab() {  # waits for the lab tests started last, prints their output, fails if they failed
  [ -n "$lab_pid" ] || return 0
  local rc=0
  wait "$lab_pid" || rc=$?
  echo "== lab tests output ($lab_log)"
  cat "$lab_log"
  lab_pid=""
  if [ "$rc" -ne 0 ]; then
    echo "== lab tests FAILED (exit $rc)"
    exit "$rc"
  fi
}
build() {  # build PRESET [TARGET]: niced while lab tests run beside it
  cmake --preset "$1" >/dev/null
  nice -n 19 cmake --build --preset "$1" -j "$jobs" ${2:+--target "$2"}
}
trap '[ -z "$lab_pid" ] || kill "$lab_pid" 2>/dev/null || true' EXIT

for preset in release asan; do
  echo "== build $preset"
  build "$preset"
  finish_lab
  echo "== test $preset"
  ctest --preset "$preset" -j "$jobs" -LE lab
  start_lab "$preset"
done

# ThreadSanitizer: the code that runs on several threads (--threads: the offline worker pool, the
# network shards and their shared politeness gate and TLS client, the broker gate). Only the
# threaded code's unit tests are built (tests/CMakeLists.txt: mailsift_threaded_tests): the
# engine's tests drive the threads themselves.
echo "== build tsan (threaded unit tests)"
build tsan mailsift_threaded_tests
echo "== build fuzz"
build fuzz
finish_lab
echo "== test tsan"
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" build/tsan/tests/mailsift_threaded_tests --gtest_brief=1 \
  --gtest_filter='EngineThreads.*:SharedFacts.*:AddressIdna2008.ThreadsShareCachedAnswers:OrderedPool.*:OfflinePool.*:ResolveThreads.*:Politeness.*:Tls.*:RedisGate.*:Session.*:Prober.*:Cluster.*:ServeCluster.*:Queue.*'

echo "== fuzz"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
echo "== all tests passed"
