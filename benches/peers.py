#!/usr/bin/env python3
"""Peers: the optimizers a user would pick instead of an evolved mechanism, run on the
same tasks, episodes and budget as `outerloop mech table`, scored the same way.

    pip install optuna cmaes
    python3 benches/peers.py --tasks suite:gpt-heldout --budget 15 --seeds 10 \
        [--mech champion.mech ...] [--optimizers random,tpe,cmaes,tpe-hyperband,tpe-sha] \
        [--out peers-out] [--binary target/release/outerloop]

1. `outerloop mech table --tasks ... --tsv OUT/library.tsv` runs the seed library (and
   `--mech` files) and lists every episode with its seed.
2. For each task one `outerloop task serve TASK --budget B` process answers every
   optimizer on every episode (`reset` with the episode's seed, `eval` until the budget
   is spent, `finish`): the same trial seeds, the same budget accounting and the same
   true-regret score as the mechanisms get.
3. OUT/episodes.tsv holds every (optimizer or mechanism, task, episode) row; OUT/peers.md
   the summary table (median regret per task, geometric mean, mean paired rank).

See benches/peers.md for how fidelity is charged to each peer.
"""

import argparse
import datetime
import json
import math
import os
import random
import subprocess
import sys
import time
from collections import defaultdict

OPTIMIZERS = ["random", "tpe", "cmaes", "tpe-hyperband", "tpe-sha"]


def die(message):
    print(f"peers.py: {message}", file=sys.stderr)
    sys.exit(2)


class Task:
    """One `outerloop task serve` process."""

    def __init__(self, binary, name, budget):
        self.proc = subprocess.Popen(
            [binary, "task", "serve", name, "--budget", repr(budget)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        line = self.proc.stdout.readline()
        if not line:
            die(f"`task serve {name}` printed nothing (is the task name right?)")
        self.hello = json.loads(line)
        self.space = self.hello["space"]
        self.levels = self.hello["fidelities"]
        self.full_cost = self.hello["full_cost"]
        self.resolution = self.hello["resolution"]

    def ask(self, request):
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


class Episode:
    """Budget bookkeeping of one episode on a served task."""

    def __init__(self, task, seed):
        self.task = task
        reply = task.ask({"op": "reset", "seed": seed})
        if not reply.get("ok"):
            die(f"reset failed: {reply}")
        self.remaining = reply["budget"]

    def can_afford(self, level=0):
        return self.remaining + 1e-9 >= self.task.levels[level] * self.task.full_cost

    def eval(self, config, fidelity=1.0):
        reply = self.task.ask({"op": "eval", "config": config, "fidelity": fidelity})
        if not reply.get("ok"):
            return None
        self.remaining = reply["remaining"]
        return reply

    def finish(self):
        reply = self.task.ask({"op": "finish"})
        if not reply.get("ok"):
            die(f"finish failed: {reply}")
        return reply


def uniform_config(space, rng):
    config = {}
    for knob in space:
        kind, name = knob["kind"], knob["name"]
        if kind == "log":
            config[name] = math.exp(rng.uniform(math.log(knob["lo"]), math.log(knob["hi"])))
        elif kind == "linear":
            config[name] = rng.uniform(knob["lo"], knob["hi"])
        elif kind == "integer":
            config[name] = rng.randint(knob["lo"], knob["hi"])
        elif kind == "ordinal":
            config[name] = rng.choice(knob["values"])
        else:
            config[name] = rng.choice(knob["choices"])
    return config


def distributions(space):
    import optuna

    out = {}
    for knob in space:
        kind, name = knob["kind"], knob["name"]
        if kind == "log":
            out[name] = optuna.distributions.FloatDistribution(knob["lo"], knob["hi"], log=True)
        elif kind == "linear":
            out[name] = optuna.distributions.FloatDistribution(knob["lo"], knob["hi"])
        elif kind == "integer":
            out[name] = optuna.distributions.IntDistribution(knob["lo"], knob["hi"])
        elif kind == "ordinal":
            # An ordered index keeps the order visible to TPE and CMA-ES.
            out[name] = optuna.distributions.IntDistribution(0, len(knob["values"]) - 1)
        else:
            out[name] = optuna.distributions.CategoricalDistribution(knob["choices"])
    return out


def to_config(space, params):
    return {
        k["name"]: (k["values"][params[k["name"]]] if k["kind"] == "ordinal" else params[k["name"]]) for k in space
    }


def run_random(episode, seed):
    rng = random.Random(seed)
    while episode.can_afford(len(episode.task.levels) - 1):
        if episode.eval(uniform_config(episode.task.space, rng)) is None:
            break


def make_sampler(name, seed):
    import optuna

    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed % 2**31, warn_independent_sampling=False)
    return optuna.samplers.TPESampler(seed=seed % 2**31)


def run_full_fidelity(episode, seed, sampler_name):
    """TPE or CMA-ES, every trial at full fidelity."""
    import optuna

    study = optuna.create_study(study_name=f"peers-{seed}", sampler=make_sampler(sampler_name, seed))
    dists = distributions(episode.task.space)
    top = len(episode.task.levels) - 1
    while episode.can_afford(top):
        trial = study.ask(dists)
        reply = episode.eval(to_config(episode.task.space, trial.params))
        if reply is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            break
        study.tell(trial, reply["score"])


def run_pruned(episode, seed, pruner_name):
    """TPE with a Hyperband or successive-halving pruner over the fidelity levels.

    Rung k is fidelity level k. A trial starts at level 0; each promotion is a new
    evaluation at the next level, charged that level's cost (no training is resumed:
    the inner loop charges mechanisms the same way). The evaluation returns the learning
    curve up to its level, whose new points are reported to the pruner.
    """
    import optuna

    levels = episode.task.levels
    if pruner_name == "hyperband":
        pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=len(levels), reduction_factor=2)
    else:
        pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2)
    # A fixed study name: Hyperband assigns brackets by hashing it with the trial number.
    study = optuna.create_study(study_name=f"peers-{seed}", sampler=make_sampler("tpe", seed), pruner=pruner)
    dists = distributions(episode.task.space)
    while episode.can_afford(0):
        trial = study.ask(dists)
        config = to_config(episode.task.space, trial.params)
        reported, value, state = 0, None, optuna.trial.TrialState.COMPLETE
        for level in range(len(levels)):
            if not episode.can_afford(level):
                state = optuna.trial.TrialState.PRUNED if value is not None else optuna.trial.TrialState.FAIL
                break
            reply = episode.eval(config, levels[level])
            if reply is None:
                state = optuna.trial.TrialState.PRUNED if value is not None else optuna.trial.TrialState.FAIL
                break
            for step in range(reported, len(reply["curve"])):
                value = reply["curve"][step][1]
                trial.report(value, step + 1)
            reported = len(reply["curve"])
            if reply["level"] < level:
                # The budget forced a lower level: nothing more can be learnt here.
                state = optuna.trial.TrialState.PRUNED
                break
            if level < len(levels) - 1 and trial.should_prune():
                state = optuna.trial.TrialState.PRUNED
                break
        if state == optuna.trial.TrialState.COMPLETE:
            study.tell(trial, value)
        elif state == optuna.trial.TrialState.PRUNED:
            # TPE ranks pruned trials by their last reported value.
            study.tell(trial, state=state)
        else:
            study.tell(trial, state=state)
            break


def run_optimizer(name, episode, seed):
    if name == "random":
        run_random(episode, seed)
    elif name in ("tpe", "cmaes"):
        run_full_fidelity(episode, seed, name)
    elif name == "tpe-hyperband":
        run_pruned(episode, seed, "hyperband")
    elif name == "tpe-sha":
        run_pruned(episode, seed, "sha")
    else:
        die(f"unknown optimizer `{name}` (optimizers: {', '.join(OPTIMIZERS)})")


def read_library(path):
    rows = []
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    return rows


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", required=True, help="tasks or suites, comma-separated (as mech table --tasks)")
    ap.add_argument("--budget", type=float, default=15.0)
    ap.add_argument("--seeds", type=int, default=10, help="episodes per task")
    ap.add_argument("--mech", action="append", default=[], help="extra mechanism files (e.g. a champion)")
    ap.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    ap.add_argument("--out", default="peers-out")
    ap.add_argument("--binary", default="target/release/outerloop")
    args = ap.parse_args()
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        import cmaes  # noqa: F401  (CmaEsSampler needs it)
    except ImportError:
        die("needs Optuna and cmaes: pip install optuna cmaes")
    if not os.path.exists(args.binary):
        die(f"no binary at {args.binary}: cargo build --release, or pass --binary")
    optimizers = [o for o in args.optimizers.split(",") if o]
    for o in optimizers:
        if o not in OPTIMIZERS:
            die(f"unknown optimizer `{o}` (optimizers: {', '.join(OPTIMIZERS)})")
    os.makedirs(args.out, exist_ok=True)
    library_tsv = os.path.join(args.out, "library.tsv")
    command = [args.binary, "mech", "table", "--tasks", args.tasks, "--budget", repr(args.budget),
               "--seeds", str(args.seeds), "--tsv", library_tsv]
    for m in args.mech:
        command += ["--mech", m]
    started = time.time()
    print(f"[{time.time() - started:6.0f}s] library: {' '.join(command)}", file=sys.stderr)
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        die(f"`mech table` failed with exit code {done.returncode}")
    library = read_library(library_tsv)
    first = library[0]["mechanism"]
    episodes = defaultdict(list)  # task -> [(episode, seed)]
    for row in library:
        if row["mechanism"] == first:
            episodes[row["task"]].append((int(row["episode"]), int(row["seed"])))
    rows = [dict(r, optimizer=r["mechanism"], trials="", spent="") for r in library]
    resolution = {}
    for task_name, eps in episodes.items():
        task = Task(args.binary, task_name, args.budget)
        resolution[task_name] = task.resolution
        for opt in optimizers:
            for episode_index, seed in eps:
                episode = Episode(task, seed)
                run_optimizer(opt, episode, seed)
                result = episode.finish()
                rows.append({
                    "optimizer": opt, "task": task_name, "episode": str(episode_index), "seed": str(seed),
                    "budget": repr(args.budget),
                    "regret": repr(result["regret"] if result["regret"] is not None else result["true_score"]),
                    "trials": str(result["trials"]), "spent": repr(result["spent"]),
                })
            print(f"[{time.time() - started:6.0f}s] {task_name} {opt}: {len(eps)} episodes", file=sys.stderr)
        task.close()
    with open(os.path.join(args.out, "episodes.tsv"), "w") as f:
        cols = ["optimizer", "task", "episode", "seed", "budget", "regret", "trials", "spent"]
        f.write("\t".join(cols) + "\n")
        for r in rows:
            f.write("\t".join(r[c] for c in cols) + "\n")
    table = summary(rows, list(episodes), resolution)
    head = (f"Command: `python3 benches/peers.py {' '.join(sys.argv[1:])}` "
            f"({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {time.time() - started:.0f} s; "
            f"optuna {optuna.__version__})\n\n")
    with open(os.path.join(args.out, "peers.md"), "w") as f:
        f.write(head + table)
    print(head + table)


def summary(rows, tasks, resolution):
    names = []
    for r in rows:
        if r["optimizer"] not in names:
            names.append(r["optimizer"])
    regret = defaultdict(dict)  # name -> (task, episode) -> regret
    for r in rows:
        regret[r["optimizer"]][(r["task"], r["episode"])] = float(r["regret"])
    # Mean rank over paired (task, episode) cells; ties share the mean rank.
    cells = sorted({k for d in regret.values() for k in d})
    ranks = defaultdict(list)
    for cell in cells:
        vals = sorted((regret[n][cell], n) for n in names if cell in regret[n])
        i = 0
        while i < len(vals):
            j = i
            while j + 1 < len(vals) and vals[j + 1][0] == vals[i][0]:
                j += 1
            for k in range(i, j + 1):
                ranks[vals[k][1]].append((i + j) / 2 + 1)
            i = j + 1
    lines = ["| optimizer / mechanism | " + " | ".join(tasks) + " | geo. mean | mean rank |",
             "|---|" + "---|" * (len(tasks) + 2)]
    for n in names:
        meds = [median([v for (t, _), v in regret[n].items() if t == task]) for task in tasks]
        geo = math.exp(sum(math.log(max(m, resolution[t])) for m, t in zip(meds, tasks)) / len(tasks))
        mean_rank = sum(ranks[n]) / len(ranks[n])
        lines.append(f"| {n} | " + " | ".join(f"{m:.4f}" for m in meds) + f" | {geo:.4f} | {mean_rank:.2f} |")
    note = ("\nMedian true regret (bpb above the task's best tabulated config; the recommended config's seed "
            "mean) per task over the same episodes for every row; geometric mean over tasks of the medians "
            "floored at each task's resolution; mean rank over the paired (task, episode) cells "
            f"({len(cells)} cells, 1 = best). Lower is better everywhere.\n")
    return "\n".join(lines) + "\n" + note


if __name__ == "__main__":
    main()
