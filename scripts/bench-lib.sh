# Shared by the lab benchmarks that run against the smtp-sink farm (scripts/bench-smtp.sh,
# scripts/bench-full.sh): source it after `cd` to the project root. Each caller sets `dir` (its
# temporary directory) before using best_of3.

PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
TIME=/usr/bin/time

# bench_need_time NAME: exits when GNU time (peak RSS) is missing.
bench_need_time() {
  [ -x "$TIME" ] || { echo "$1: /usr/bin/time missing: run scripts/install-deps.sh" >&2; exit 1; }
}

now() { date +%s.%N; }

# sink_lab_up NAME LOG: starts the lab NAME with the smtp-sink farm (output in LOG, shown on
# failure) and sources its facts (LAB_NS, LAB_SINK_NS, LAB_SINK_ADDR, LAB_SINK_ZONE, ...). Sets SRC,
# the smtp-source command line every reference run starts with.
sink_lab_up() {
  LAB_SINK=1 bash lab/up.sh "$1" >"$2" 2>&1 || { cat "$2" >&2; exit 1; }
  # shellcheck disable=SC1090
  . "/tmp/mailsift-lab-$1/lab.env"
  SRC=(smtp-source -M probe.mailsift-lab.net -f probe@mailsift-lab.net -t "u@s00000.$LAB_SINK_ZONE")
}

# best_of3 CMD...: runs CMD 3 times (each bounded), prints the best wall time in seconds, or FAIL.
best_of3() {
  local best="" s e t
  for _ in 1 2 3; do
    s=$(now)
    if ! timeout 300 "$@" >/dev/null 2>"$dir/last.err"; then echo FAIL; return; fi
    e=$(now)
    t=$(echo "$e - $s" | bc -l)
    if [ -z "$best" ] || (($(echo "$t < $best" | bc -l))); then best=$t; fi
  done
  echo "$best"
}
