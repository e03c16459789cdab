#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS (default 60) on its seed corpus (fuzz/corpus/NAME), up to
# FUZZ_JOBS (default: the machine's cores) targets at a time: each target is one single-threaded
# process, so on 2 cores the six targets take three rounds of SECONDS instead of six (CI time).
# New inputs go to a scratch directory so the repository's corpus only changes on purpose.
# Fails on any crash, leak or sanitizer report, after every target has run; each target's log tail
# is printed as it ends, and a failed target's whole log is kept in build/fuzz/fuzz-NAME.log.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
jobs=${FUZZ_JOBS:-$(nproc)}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: FUZZ_JOBS must be a positive number, not '$jobs'" >&2; exit 2; }
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

run_one() {  # run_one TARGET: its exit status; the log tail on stdout when it ends
  local target=$1 name scratch rc=0
  name=$(basename "$target" | sed 's/^fuzz_//')
  scratch=$(mktemp -d)
  "$target" -max_total_time="$seconds" -max_len=2048 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="build/fuzz/crash-$name-" "$scratch" "fuzz/corpus/$name" >"$logs/$name.log" 2>&1 || rc=$?
  rm -rf "$scratch"
  if [ "$rc" -ne 0 ]; then cp "$logs/$name.log" "build/fuzz/fuzz-$name.log"; fi  # the whole report
  { echo "fuzz $name for ${seconds}s: $([ "$rc" -eq 0 ] && echo ok || echo "FAILED (exit $rc): build/fuzz/fuzz-$name.log")"
    if [ "$rc" -eq 0 ]; then tail -n 3 "$logs/$name.log"; else tail -n 80 "$logs/$name.log"; fi; } | sed "s/^/[$name] /"
  return "$rc"
}

running=0
failed=0
for target in build/fuzz/fuzz/fuzz_*; do
  if [ "$running" -ge "$jobs" ]; then  # wait for any one to end
    wait -n || failed=1
    running=$((running - 1))
  fi
  run_one "$target" &
  running=$((running + 1))
done
for ((; running > 0; running--)); do wait -n || failed=1; done
if [ "$failed" -ne 0 ]; then
  echo "fuzz: a target failed (logs in build/fuzz/fuzz-*.log, inputs in build/fuzz/crash-*)" >&2
  exit 1
fi
