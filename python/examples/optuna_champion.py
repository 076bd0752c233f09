#!/usr/bin/env python3
"""Use an evolved mechanism from Optuna on a problem it never saw.

The worked example of README "Bring your own problem": `scenarios/own/evolve.toml`
evolves mechanisms on problems 0-2 of `scenarios/own/numpy_mlp.py`; this script runs the
champion (a genome file, e.g. written by `outerloop inspect RUN --champion champ.mech`)
as an Optuna sampler on problem 3, next to the library's successive halving through the
same sampler, Optuna's own TPE and TPE with Hyperband pruning, and the trivial baseline
(random search with every trial at the lowest fidelity), all at the same budget counted
in epochs (a full trial is 20). Each study's recommendation is scored by
retraining it at full fidelity on two fresh seeds (the "true score", validation MSE,
lower is better); the table reports the mean and spread over `--replicates` studies.

    python3 python/examples/optuna_champion.py champ.mech --budget 6 --replicates 10

Needs numpy, optuna and this package (`pip install .[optuna]`), and the outerloop
binary (OUTERLOOP_BIN or on PATH).
"""

import argparse
import statistics
import sys
from pathlib import Path

import optuna

from outerloop.optuna_sampler import FIDELITY_ATTR, SEED_ATTR, OuterloopSampler

OWN = Path(__file__).resolve().parents[2] / "scenarios" / "own"
sys.path.insert(0, str(OWN))
import numpy_mlp  # noqa: E402

TRUTH_SEEDS = (1_000_001, 1_000_002)
FAILURE_SCORE = 10.0


class PruneAt(optuna.pruners.BasePruner):
    """Every trial stops after `steps` steps: the trivial lowest-fidelity baseline."""

    def __init__(self, steps):
        self.steps = steps

    def prune(self, study, trial):
        return trial.last_step is not None and trial.last_step + 1 >= self.steps


def suggest(trial):
    return {
        "act": trial.suggest_categorical("act", ["relu", "tanh"]),
        "batch": trial.suggest_categorical("batch", [16, 32, 64, 128]),
        "hidden": trial.suggest_int("hidden", 2, 64),
        "l2": trial.suggest_float("l2", 1e-6, 1e-1, log=True),
        "lr": trial.suggest_float("lr", 1e-3, 0.5, log=True),
    }


def true_score(config, problem):
    """The recommended config retrained at full fidelity on fresh seeds."""
    scores = []
    for seed in TRUTH_SEEDS:
        r = numpy_mlp.train(config, 1.0, seed, problem)
        scores.append(r.get("score", 10.0))
    return statistics.mean(scores)


def objective_for(problem, spent, budget_epochs):
    """An Optuna objective reporting one value per epoch; `spent[0]` counts epochs."""

    def objective(trial):
        config = suggest(trial)
        seed = trial.user_attrs.get(SEED_ATTR, trial.number)

        def report(epoch, value):
            spent[0] += 1
            trial.report(value, epoch - 1)
            return trial.should_prune()

        r = numpy_mlp.train(config, 1.0, seed, problem, report=report)
        if spent[0] >= budget_epochs:
            trial.study.stop()
        if "status" in r:
            # Diverged: the spec's failure score, as a command trial would score it.
            return FAILURE_SCORE
        if "pruned_at" in r:
            raise optuna.TrialPruned()
        return r["score"]

    return objective


def run_outerloop(mechanism, problem, budget, seed):
    sampler = OuterloopSampler(mechanism, OWN / "problem3.toml", budget=budget, seed=seed)
    study = optuna.create_study(sampler=sampler, pruner=sampler.pruner(n_steps=numpy_mlp.EPOCHS))
    spent = [0]
    # The sampler stops the study when the mechanism's budget is spent.
    study.optimize(objective_for(problem, spent, float("inf")), n_trials=100_000)
    return true_score(sampler.best["config"], problem)


def run_optuna(sampler, pruner, problem, budget):
    study = optuna.create_study(sampler=sampler, pruner=pruner)
    spent = [0]
    study.optimize(objective_for(problem, spent, budget * numpy_mlp.EPOCHS), n_trials=100_000)
    # The best completed trial; with none (every trial pruned), the best last report.
    done = [(t.value, t.params) for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        done = [(t.intermediate_values[t.last_step], t.params) for t in study.trials if t.last_step is not None]
    return true_score(min(done, key=lambda d: d[0])[1], problem)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("champion", help="genome file of the champion (or lib:NAME)")
    parser.add_argument("--budget", type=float, default=6, help="full trials per study (default 6)")
    parser.add_argument("--replicates", type=int, default=10)
    parser.add_argument("--problem", type=int, default=3)
    parser.add_argument("--library", nargs="*", default=["lib:successive-halving", "lib:cma-es", "lib:greedy-keep-discard"],
                        help="library mechanisms to compare through the same sampler")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = {
        f"champion ({args.champion})": lambda s: run_outerloop(args.champion, args.problem, args.budget, s),
        **{name: (lambda s, name=name: run_outerloop(name, args.problem, args.budget, s)) for name in args.library},
        "optuna TPE": lambda s: run_optuna(optuna.samplers.TPESampler(seed=s), optuna.pruners.NopPruner(), args.problem, args.budget),
        "optuna TPE + Hyperband": lambda s: run_optuna(
            optuna.samplers.TPESampler(seed=s),
            optuna.pruners.HyperbandPruner(min_resource=5, max_resource=numpy_mlp.EPOCHS),
            args.problem,
            args.budget,
        ),
        "random search, every trial at 1/4": lambda s: run_optuna(
            optuna.samplers.RandomSampler(seed=s), PruneAt(numpy_mlp.EPOCHS // 4), args.problem, args.budget
        ),
    }
    print(f"problem {args.problem}, budget {args.budget} full trials ({args.budget * numpy_mlp.EPOCHS:.0f} epochs), "
          f"{args.replicates} replicate studies each; true score = validation MSE of the recommendation retrained "
          f"on {len(TRUTH_SEEDS)} fresh seeds (lower is better)\n")
    print("| optimizer | mean | sd | median | champion better / worse (paired by seed) |")
    print("|---|---|---|---|---|")
    champion = None
    for name, run in rows.items():
        scores = [run(seed) for seed in range(args.replicates)]
        champion = champion or scores
        better = sum(c < s for c, s in zip(champion, scores))
        worse = sum(c > s for c, s in zip(champion, scores))
        paired = "-" if scores is champion else f"{better} / {worse}"
        print(f"| {name} | {statistics.mean(scores):.4f} | {statistics.stdev(scores):.4f} | "
              f"{statistics.median(scores):.4f} | {paired} |")


if __name__ == "__main__":
    main()
