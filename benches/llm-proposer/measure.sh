#!/bin/sh
# The language-model proposer's measurement (issue 27): three arms of
# scenarios/llm/measure.toml at equal proposals and evaluation slots per tick, each with
# REPLICATES seeds, against the mechanism model MODEL served on 127.0.0.1:8642:
#   share-0    typed operators only
#   share-0.5  the model writes half of the proposer's drafts
#   share-1    the model writes all of them (typed operators only as fallback)
# then the tally (tally.py) and the champions on the held-out tables on common
# episodes (outerloop compare). Resumable: finished replicates are kept, interrupted
# ones resumed; every exchange is in each run's llm/ folder, so a rerun needs no server.
#
# usage: benches/llm-proposer/measure.sh OUT_ROOT MODEL [REPLICATES] [FIRST_SEED]
set -eu
root=$1
model=$2
replicates=${3:-5}
first=${4:-1}
ol=${OUTERLOOP:-target/release/outerloop}
mkdir -p "$root"
"$ol" lm serve "$model" --port 8642 > "$root/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 1
for share in 0 0.5 1; do
  "$ol" run scenarios/llm/measure.toml --out "$root/share-$share" --seed "$first" \
    --replicates "$replicates" --set proposer.llm.share=$share -q > "$root/share-$share.log" 2>&1
done
python3 benches/llm-proposer/tally.py typed="$root/share-0" both="$root/share-0.5" model="$root/share-1" \
  | tee "$root/tally.md"
"$ol" compare "$root"/share-*/seed-* --tasks suite:gpt-heldout --out "$root/comparison" -q
