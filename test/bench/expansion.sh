#!/usr/bin/env bash
# Runs the expansion benchmarks for `make bench-expansion`: ours (expand.test)
# and Flyte 1.16.8's (flyte.test), input by input, for ROUNDS rounds; within
# a round each input runs on our side and at once on Flyte's, so that a
# neighbour's burst on a shared machine falls on both sides of a comparison
# alike rather than on one side's whole run. The report takes each
# benchmark's median over the rounds.
#
# usage: expansion.sh OUT_DIR ROUNDS BENCH_TIME (OUT_DIR holds expand.test and
# flyte.test; expand.txt and flyte.txt are appended to)
set -euo pipefail
out=$(cd "$1" && pwd) rounds=$2 benchtime=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
names=$(grep -o '"name": *"[^"]*"' "$root/test/bench/cases.json" | sed 's/.*"\([^"]*\)"$/\1/')
run() { # dir binary pattern output
  (cd "$root/$1" && "$out/$2" -test.run '^$' -test.bench "$3" -test.benchmem -test.benchtime "$benchtime") |
    tee -a "$out/$4" | grep '^Benchmark' || true
}
for i in $(seq "$rounds"); do
  echo "round $i of $rounds"
  for name in $names; do
    sub=$(echo "$name" | sed 's#[^/]*#^&$#g') # spark/basic -> ^spark$/^basic$
    run expand expand.test "^Benchmark(Mutate|MutateCold)\$/$sub" expand.txt
    run test/bench/flyte flyte.test "^BenchmarkFlyte\$/$sub" flyte.txt
  done
  run expand expand.test '^Benchmark(Decode|Expand)$' expand.txt
done
