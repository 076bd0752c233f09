#!/usr/bin/env bash
# The 2x2 ablation (debater x recombiner) on the GPT task suite with replicate runs:
# each arm with run seeds 1..N (default 5), two runs at a time on one thread each,
# then `outerloop compare` of the champions on the held-out suite.
#
#   scenarios/ablation-suite/run.sh [N] [OUT]     (OUT default populations/ablation-suite)
#
# Resumable: finished runs are skipped, interrupted ones resumed from their checkpoint.
set -euo pipefail
n=${1:-5}
out=${2:-populations/ablation-suite}
here=$(cd "$(dirname "$0")" && pwd)
bin=${OUTERLOOP:-target/release/outerloop}
mkdir -p "$out"
jobs=()
for arm in full no-debate no-recombiner neither; do
  for s in $(seq 1 "$n"); do
    # A replicate differs from the arm's file only in its seed (and name), so
    # `compare` sees replicates of one cell, not a new factor.
    sed -e "s/^seed = .*/seed = $s/" -e "s/^name = \"\(.*\)\"/name = \"\1-s$s\"/" "$here/$arm.toml" > "$out/$arm-s$s.toml"
    jobs+=("$arm-s$s")
  done
done
run_one() {
  local job=$1 dir="$out/$1"
  if [ -f "$dir/summary.txt" ]; then return; fi
  if [ -f "$dir/checkpoint.bin" ]; then
    "$bin" resume "$dir" --threads 1 > "$out/$job.log"
  else
    "$bin" run "$out/$job.toml" --out "$dir" --threads 1 > "$out/$job.log"
  fi
}
export -f run_one
export out bin
printf '%s\n' "${jobs[@]}" | xargs -P 2 -I{} bash -c 'run_one {}'
dirs=()
for j in "${jobs[@]}"; do dirs+=("$out/$j"); done
"$bin" compare "${dirs[@]}" --tasks suite:gpt-heldout --episodes 20 --out "$out/comparison-heldout"
