#!/usr/bin/env bash
# The field's BBOB setting end to end (issue 26, part 2): evolve scenarios/bbob.toml with
# run seeds 1..N, take each run's champion, and play it against pycma (and random search,
# and Optuna's CMA-ES with OPTUNA=1) on the held-out instances and the held-out functions
# at each dimension, budget 100 d, with benches/bbob_peers.py --full --versus.
#
#   benches/bbob_setting.sh [N] [OUT] [DIMS]     (defaults 1, bbob-setting-out, 5,10,20)
#
# Resumable: a finished run is kept, an interrupted one resumed from its checkpoint, and
# bbob_peers.py keeps every episode already written. Needs `pip install cma` (and
# `optuna cmaes` with OPTUNA=1). Report: OUT/peers-{instances,functions}/bbob_peers.md.
set -euo pipefail
n=${1:-1}
out=${2:-bbob-setting-out}
dims=${3:-5,10,20}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${OUTERLOOP:-$here/target/release/outerloop}
optimizers=pycma,random
if [ "${OPTUNA:-0}" = 1 ]; then optimizers=pycma,optuna-cmaes,random; fi
mkdir -p "$out"
mechs=()
versus=()
for s in $(seq 1 "$n"); do
  dir="$out/run-s$s"
  if [ ! -f "$dir/summary.txt" ]; then
    if [ -f "$dir/checkpoint.bin" ]; then
      "$bin" resume "$dir" -q > "$out/run-s$s.log"
    else
      "$bin" run "$here/scenarios/bbob.toml" --seed "$s" --out "$dir" -q > "$out/run-s$s.log"
    fi
  fi
  # The champion's genome is the summary's block from `(mechanism` to the blank line.
  awk '/^\(mechanism /{on=1} on&&/^$/{exit} on' "$dir/summary.txt" > "$out/champion-s$s.mech"
  "$bin" mech check "$out/champion-s$s.mech" > /dev/null
  mechs+=(--mech "$out/champion-s$s.mech")
  versus+=(--versus "$out/champion-s$s.mech=pycma")
done
# Training functions: every function but f2, f7, f11, f16, f21 (suite:bbob-train-d*).
train=1,3-6,8-10,12-15,17-20,22-24
for split in instances functions; do
  if [ "$split" = instances ]; then fs=$train; is=6-10; else fs=2,7,11,16,21; is=1-5; fi
  python3 "$here/benches/bbob_peers.py" --full --dims "$dims" --functions "$fs" --instances "$is" \
    --budgets 100d --seeds 1 --optimizers "$optimizers" --binary "$bin" "${mechs[@]}" \
    "${versus[@]}" --versus cma-es=pycma --out "$out/peers-$split" > /dev/null
  echo "wrote $out/peers-$split/bbob_peers.md"
done
