#!/usr/bin/env bash
# Scale-out on Redis (issue 16): 1, 2 and 4 `mailsift worker` processes against latency-bound SMTP
# servers on loopback (lab/slownet.py), against one process without a broker in the same run.
# Prints a Markdown table (bench/cluster_bench.py). Usage: scripts/bench-cluster.sh [ARGS for
# cluster_bench.py, e.g. --addresses 2400 --delay 100 --workers 1,2,4,8]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset release >/dev/null
cmake --build --preset release -j2 >/dev/null
exec python3 bench/cluster_bench.py build/release/mailsift "$@"
