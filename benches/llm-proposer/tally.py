#!/usr/bin/env python3
"""Tally the language-model proposer's measurement from run folders (issue 27).

Usage: tally.py ARM=FOLDER [ARM=FOLDER ...]   (FOLDER holds seed-*/ replicate runs)

For each replicate run it reads `events.jsonl` and `summary.txt` and prints, per arm,
the mean and the spread over replicates of:
  - drafts the model was asked for, and the shares valid / repaired / fallback;
  - per operator family of the proposer's children (`llm`, `typed`): children born,
    valid children rejected as duplicates of a known structure or behaviour,
    the share structurally new (a structure, the genome with its numbers and name
    replaced, that no earlier mechanism of the run had), claimed improvements per
    birth (its claim beat its parent's, paired), verified improvements per birth (its
    verified fitness beat its primary parent's last verified fitness, else claim);
  - the champion on the held-out tables against the best library mechanism and the
    best trivial baseline (the summary's held-out section: mean log10 regret ratio).
"""
import json
import re
import statistics
import sys
from pathlib import Path

NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def structure(genome: str) -> str:
    body = re.sub(r"^\s*\(mechanism\s+\S+", "(mechanism", genome.strip())
    return NUMBER.sub("N", " ".join(body.split()))


def run_stats(run: Path) -> dict:
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    seen, born, parent_of = set(), {}, {}
    claimed, verified = {}, {}
    fams = {f: {"born": 0, "new": 0, "claimed_wins": 0, "verified_wins": 0, "duplicates": 0} for f in ("llm", "typed")}
    drafts = {"valid": 0, "repaired": 0, "fallback": 0}
    for e in events:
        kind = e["event"]
        if kind == "born":
            s = structure(e["genome"])
            if e["agent"] == "proposer":
                fam = "llm" if e["operator"] == "llm" else "typed"
                born[e["id"]] = fam
                parent_of[e["id"]] = e["parents"][0]
                fams[fam]["born"] += 1
                fams[fam]["new"] += s not in seen
            seen.add(s)
        elif kind == "duplicate":
            if e["operator"] == "llm":
                fams["llm"]["duplicates"] += 1
            elif e["operator"] not in ("crossover", "constant-swarm") and not e["operator"].startswith("crossover("):
                fams["typed"]["duplicates"] += 1
        elif kind == "tuned":
            seen.add(structure(e["genome"]))
        elif kind == "written":
            drafts[e["result"]] += 1
        elif kind == "evaluated":
            claimed[e["id"]] = e["claimed"]
            if e["id"] in born and e.get("improved"):
                fams[born[e["id"]]]["claimed_wins"] += 1
        elif kind == "verified":
            i = e["id"]
            if i in born and i not in verified:
                p = parent_of[i]
                reference = verified.get(p, claimed.get(p))
                if reference is not None and e["verified"] > reference:
                    fams[born[i]]["verified_wins"] += 1
            verified[i] = e["verified"]
    summary = (run / "summary.txt").read_text()
    lib = re.search(r"versus the best library mechanism there, (\S+): ([-+]\d+\.\d+) \[([-+]\d+\.\d+), ([-+]\d+\.\d+)\]", summary)
    triv = re.search(r"versus the best trivial baseline.*?, (\S+): ([-+]\d+\.\d+) \[", summary)
    return {
        "drafts": drafts,
        "fams": fams,
        "held_out_library": float(lib.group(2)) if lib else None,
        "best_library": lib.group(1) if lib else None,
        "held_out_trivial": float(triv.group(2)) if triv else None,
    }


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    m = statistics.mean(values)
    if len(values) < 2:
        return f"{m:+.3f}"
    return f"{m:+.3f} ± {statistics.stdev(values):.3f} sd"


def main(args):
    rows = []
    for arg in args:
        arm, folder = arg.split("=", 1)
        runs = sorted(p for p in Path(folder).glob("seed-*") if (p / "summary.txt").exists())
        stats = [run_stats(r) for r in runs]
        rows.append((arm, runs, stats))
    print("| arm | runs | drafts/run | valid | repaired | fallback | family | born/run | duplicates/run | structurally new | claimed wins/birth | verified wins/birth | held-out vs best library | held-out vs best trivial baseline |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for arm, runs, stats in rows:
        n = len(stats)
        total = [sum(s["drafts"].values()) for s in stats]
        share = lambda k: sum(s["drafts"][k] for s in stats) / max(1, sum(total))
        for fam in ("typed", "llm"):
            born = sum(s["fams"][fam]["born"] for s in stats)
            if born == 0 and fam == "llm" and sum(total) == 0:
                continue
            per = lambda k: sum(s["fams"][fam][k] for s in stats) / max(1, born)
            print(
                f"| {arm} | {n} | {statistics.mean(total) if total else 0:.0f} | {share('valid'):.2f} | {share('repaired'):.2f} | "
                f"{share('fallback'):.2f} | {fam} | {born / max(1, n):.0f} | "
                f"{sum(s['fams'][fam]['duplicates'] for s in stats) / max(1, n):.0f} | {per('new'):.2f} | {per('claimed_wins'):.3f} | "
                f"{per('verified_wins'):.3f} | {spread([s['held_out_library'] for s in stats])} | "
                f"{spread([s['held_out_trivial'] for s in stats])} |"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
