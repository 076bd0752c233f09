#!/usr/bin/env python3
"""Peers: the optimizers a user would pick instead of an evolved mechanism, run on the
same tasks, episodes and budget as `outerloop mech table`, scored the same way.

    pip install optuna cmaes            # + dehb for dehb, + torch scipy for optuna-gp
    python3 benches/peers.py --tasks suite:gpt-heldout --budget 15 --seeds 10 \\
        [--mech champion.mech ...] \\
        [--optimizers random,tpe,cmaes,tpe-hyperband,tpe-sha,dehb,optuna-gp,random@lowest,...] \\
        [--promotion-cost one-run|per-evaluation] \\
        [--budgets 5,15,45 [--force]] [--pair MECH=REF ...] \\
        [--out peers-out] [--binary target/release/outerloop]

1. `outerloop mech table --tasks ... --tsv OUT/library.tsv` runs the seed library (and
   the `--mech` files) and lists every episode with its seed.
2. For each task one `outerloop task serve TASK --budget B` process answers every
   optimizer on every episode (`reset` with the episode's seed, `eval` until the budget
   is spent, `finish`): the same trial seeds, the same budget accounting and the same
   true-regret score as the mechanisms get. `--promotion-cost` says what a promotion (a
   config evaluated again at a higher level) pays: `one-run` (default) only the part of the
   training run not yet paid, `per-evaluation` the new level in full, as the server (and
   the inner loop) charges it. Under `one-run` the script keeps the episode's budget
   itself and the server, started with a budget it cannot reach, only scores.
3. OUT/episodes.tsv holds every (optimizer or mechanism, task, episode) row; OUT/peers.md
   the summary table (median regret per task, geometric mean, mean paired rank), which
   is also printed on stdout. Progress goes to stderr. An optimizer named like a library
   mechanism (dehb) gets the rows `peer:NAME`. `NAME@lowest` is the trivial baseline of
   optimizer NAME: every evaluation at the lowest fidelity level.
4. With `--budgets B1,B2,...` steps 1-3 run once per budget into OUT/b<B>/ (with a
   run.json of the settings); a budget whose episodes.tsv exists is kept (unless --force).
5. With `--pair MECH=REF` (repeatable), OUT/parity.md (also printed): per (task, budget)
   cell the ratio median(MECH) / median(REF) of the regrets over the same episodes, each
   floored at the task's resolution; the cells within 1.25x; per cell and per pair the
   paired win/tie/loss counts and seeded bootstrap 95% intervals. On the REF side a name
   that is both a mechanism and an optimizer means the optimizer (`dehb` = `peer:dehb`).

See benches/peers.md for how budget and fidelity are charged to each peer.
"""

import argparse
import datetime
import json
import math
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

from serve_client import Episode, Task, die, number  # benches/ is on sys.path

OPTIMIZERS = ["random", "tpe", "cmaes", "tpe-hyperband", "tpe-sha", "dehb", "optuna-gp"]
# Run only when named in --optimizers (they need packages the others do not: dehb; torch).
EXTRA = ["dehb", "optuna-gp"]
# NAME@lowest: optimizer NAME with every evaluation at the lowest fidelity level, the
# trivial baseline (the Rust side names the library's lowest-fidelity variants the same way).
LOWEST = "@lowest"
# The trivial baselines run by default (the others only when named).
DEFAULT_LOWEST = ["random@lowest"]

# What a promotion (a config evaluated again at a higher level) pays.
ONE_RUN = "one-run"  # the part of the run not yet paid: a config pays its highest level
PER_EVALUATION = "per-evaluation"  # the new level in full (the server's own accounting)
PROMOTION_COSTS = [ONE_RUN, PER_EVALUATION]
# The rung schedule of the pruned TPE variants (kept in run.json; a kept budget must match):
# 1 = Optuna steps 1..4 (Hyperband's rungs skipped the 0.5 level), 2 = resources in units of
# the lowest level (1, 2, 4, 8: a rung on every level).
RUNG_SCHEDULE = 2
SLACK = 1e-9  # the server's slack on budget comparisons


def base_name(name):
    """`tpe@lowest` -> `tpe`."""
    return name[: -len(LOWEST)] if name.endswith(LOWEST) else name


def is_optimizer(name):
    return base_name(name) in OPTIMIZERS


# --- what an episode pays ----------------------------------------------------------


class Run:
    """One training run of one config: the highest level it reached and what it has paid.
    A peer passes the same Run to every evaluation of a config it promotes."""

    def __init__(self):
        self.level = None  # index into the task's levels; None before the first evaluation
        self.paid = 0.0  # the largest cost of its evaluations (= its one-run charge)


class Ledger:
    """The budget of one episode of one peer, under `--promotion-cost`.

    per-evaluation: the server's accounting, unchanged (each evaluation pays its level in
    full; the server lowers the level of a last trial that no longer fits and refuses a
    trial once the cheapest level does not fit).

    one-run: the server runs with a budget it cannot reach and only scores; this ledger
    charges and stops. An evaluation of a new config pays its cost (as on the server). An
    evaluation that continues a Run at a higher level (a promotion) pays only what that
    run has not paid yet, max(0, cost - paid): in total a config pays its highest level, as
    when a training run is resumed from its checkpoint (a table's curve is a prefix of one
    run). The same rules as the server's decide what fits: a new config runs at the level
    asked for, lowered while it does not fit the budget left; a promotion climbs as high as
    it can pay, and not at all if even the next level does not fit; no new config starts once
    the cheapest level does not fit. Peers that never promote pay the same in both modes.

    With `lowest` (NAME@lowest) the peer sees only the lowest level and every evaluation,
    whatever fidelity it asks for, runs there.
    """

    def __init__(self, task, seed, mode, budget, lowest=False):
        self.episode = Episode(task, seed)
        self.task, self.mode, self.budget = task, mode, budget
        self.all_levels = list(task.levels)
        self.levels = self.all_levels[:1] if lowest else list(self.all_levels)  # what the peer sees
        self.lowest = lowest
        self.full_cost = task.full_cost
        self.spent = 0.0  # charged under `mode`
        self.configs = 0  # evaluations that started a training run (not promotions)
        self.exhausted = False

    def _fits(self, cost):
        return self.spent + cost <= self.budget + SLACK

    def _base(self, level, run):
        """What `run` has paid towards `level`: its paid cost if `level` continues it (one-run)."""
        if self.mode == ONE_RUN and run is not None and run.level is not None and level > run.level:
            return run.paid
        return 0.0

    def can_afford(self, level=0, run=None):
        """Whether an evaluation at `level` (of the peer's levels) fits, as a continuation of
        `run` if given."""
        if self.mode == PER_EVALUATION:
            return self.episode.can_afford(level)
        return not self.exhausted and self._fits(self.levels[level] * self.full_cost - self._base(level, run))

    def highest_affordable(self, run=None):
        """The highest of the peer's levels an evaluation (continuing `run`) can pay; -1 if none."""
        return max((i for i in range(len(self.levels)) if self.can_afford(i, run)), default=-1)

    def eval(self, fidelity=1.0, config=None, unit=None, run=None):
        """One evaluation; the server's reply with `charged` (what this ledger charged) added,
        or None once the budget cannot pay it (for a promotion: not even the next level)."""
        if self.lowest:
            fidelity = self.levels[0]
        if self.mode == PER_EVALUATION:
            reply = self.episode.eval(fidelity, config=config, unit=unit)
            if reply is None:
                return None
            charged = float(reply["cost"])
            self.spent = reply["spent"]
        else:
            levels, full = self.all_levels, self.full_cost
            want = min((i for i, f in enumerate(levels) if f >= fidelity - SLACK), default=len(levels) - 1)
            resume = run is not None and run.level is not None and want > run.level
            base = run.paid if resume else 0.0
            floor = run.level + 1 if resume else 0  # a promotion never falls back below its next level
            level = want
            while level > floor and not self._fits(levels[level] * full - base):
                level -= 1
            if not self._fits(levels[level] * full - base):
                if floor == 0:
                    self.exhausted = True  # as the server: no new trial once the cheapest level does not fit
                return None
            reply = self.episode.eval(levels[level], config=config, unit=unit)
            if reply is None or reply["level"] != level:
                die(f"{self.task.name}: the server (budget {self.task.budget:g}) did not run level {level} "
                    f"under one-run accounting: {reply}")
            charged = max(0.0, float(reply["cost"]) - base)
            self.spent += charged
        resumed = run is not None and run.level is not None and reply["level"] > run.level
        if run is not None:
            run.paid = max(run.paid, float(reply["cost"])) if resumed else float(reply["cost"])
            run.level = reply["level"]
        if not resumed:
            self.configs += 1
        reply["charged"] = charged
        return reply

    def finish(self):
        return self.episode.finish()


# --- the optimizers ---------------------------------------------------------------


def run_random(ledger, seed):
    """Uniform points of the unit cube (the server snaps them to the grid), full fidelity."""
    rng = random.Random(seed)
    dim = len(ledger.task.space)
    while ledger.can_afford(0):
        if ledger.eval(1.0, unit=[rng.random() for _ in range(dim)]) is None:
            break


def distributions(space):
    import optuna

    d = optuna.distributions
    out = {}
    for knob in space:
        kind, name = knob["kind"], knob["name"]
        if kind == "log":
            out[name] = d.FloatDistribution(knob["lo"], knob["hi"], log=True)
        elif kind == "linear":
            out[name] = d.FloatDistribution(knob["lo"], knob["hi"])
        elif kind == "integer":
            out[name] = d.IntDistribution(knob["lo"], knob["hi"])
        elif kind == "ordinal":
            # An integer index keeps the order of the values visible to TPE and CMA-ES.
            out[name] = d.IntDistribution(0, len(knob["values"]) - 1)
        elif kind == "categorical":
            out[name] = d.CategoricalDistribution(knob["choices"])
        else:
            die(f"unknown knob kind `{kind}` in the hello line")
    return out


def to_config(space, params):
    return {k["name"]: (k["values"][params[k["name"]]] if k["kind"] == "ordinal" else params[k["name"]]) for k in space}


def make_sampler(name, seed):
    import optuna

    seed %= 2**32  # numpy's RandomState takes 32-bit seeds
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "optuna-gp":
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def run_full_fidelity(ledger, seed, sampler_name):
    """TPE, CMA-ES or the GP sampler through ask/tell, every trial at full fidelity."""
    import optuna

    study = optuna.create_study(study_name=f"peers-{seed}", sampler=make_sampler(sampler_name, seed))
    dists = distributions(ledger.task.space)
    while ledger.can_afford(0):
        trial = study.ask(dists)
        reply = ledger.eval(1.0, config=to_config(ledger.task.space, trial.params))
        if reply is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            break
        study.tell(trial, number(reply["score"]))


def resources(levels):
    """The pruners' resource (Optuna's step) of each level: the level in units of the lowest
    one, so 0.125, 0.25, 0.5, 1 are 1, 2, 4, 8 (a user reports training done, in the smallest
    unit). Rounded, and strictly increasing for ladders that do not double."""
    out = []
    for f in levels:
        out.append(max(round(f / levels[0]), out[-1] + 1 if out else 1))
    return out


def rung_steps(pruner, study, trial, top):
    """Resources below `top` at which `pruner` can stop `trial`; None if unknown.

    Reads the (stable but private) successive-halving parameters, and for Hyperband the
    trial's bracket, so that levels where no pruning decision can happen are not paid for.
    """
    import optuna

    try:
        sha = pruner
        if isinstance(pruner, optuna.pruners.HyperbandPruner):
            if not pruner._pruners:
                pruner._try_initialization(study)
            sha = pruner._pruners[pruner._get_bracket_id(study, trial)]
        r, rf, rate = sha._min_resource, sha._reduction_factor, sha._min_early_stopping_rate
        steps, k = [], rate
        while r * rf**k < top:
            steps.append(r * rf**k)
            k += 1
        return steps
    except (AttributeError, TypeError, IndexError, AssertionError, ZeroDivisionError):
        return None


def run_pruned(ledger, seed, pruner_name):
    """TPE with a Hyperband or successive-halving pruner over the fidelity levels.

    The resource of a level is the level in units of the lowest (0.125, 0.25, 0.5, 1 are
    1, 2, 4, 8), so Hyperband with reduction factor 2 has four brackets whose rungs sit on
    every level (1, 2, 4; 2, 4; 4; none), and successive halving (factor 4) at 1 and 4. A
    trial climbs only the levels where its pruner can decide (its bracket's rungs), then full
    fidelity. Each climb is an evaluation at the next level on the server, continuing the
    trial's Run: under one-run accounting it pays the difference to the level already paid,
    under per-evaluation the new level in full (see Ledger). An evaluation returns the
    learning curve up to its level; the points not yet reported go to `trial.report`.
    """
    import optuna

    levels = ledger.levels
    res = resources(levels)

    def step_of(fidelity):  # the nearest level's resource
        return res[min(range(len(levels)), key=lambda i: abs(levels[i] - fidelity))]

    top = res[-1]
    if pruner_name == "hyperband":
        pruner = optuna.pruners.HyperbandPruner(min_resource=res[0], max_resource=top, reduction_factor=2)
    else:
        pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=res[0])
    # A fixed study name: Hyperband assigns brackets by hashing it with the trial number.
    study = optuna.create_study(study_name=f"peers-{seed}", sampler=make_sampler("tpe", seed), pruner=pruner)
    dists = distributions(ledger.task.space)
    State = optuna.trial.TrialState
    while ledger.can_afford(0):
        trial = study.ask(dists)
        config = to_config(ledger.task.space, trial.params)
        rungs = rung_steps(pruner, study, trial, top)
        if rungs is None:
            ladder = list(range(len(levels)))
        else:
            # For each rung the cheapest level at or past it, then full fidelity.
            ladder = sorted({min(i for i in range(len(levels)) if res[i] >= s) for s in rungs})
            ladder = [i for i in ladder if i < len(levels) - 1] + [len(levels) - 1]
        run = Run()
        reported, value, state, last = 0, None, State.COMPLETE, -1
        for level in ladder:
            # Past a level this config has seen, the budget is spent on a new config instead;
            # a shortfall below `level` lets the ledger (or the server) lower it, as for a mechanism.
            affordable = ledger.highest_affordable(run)
            reply = ledger.eval(levels[level], config=config, run=run) if affordable > last else None
            if reply is None:
                state = State.PRUNED if value is not None else State.FAIL
                break
            last = reply["level"]
            for fidelity, point in reply["curve"]:
                if step_of(fidelity) > reported:
                    value, reported = number(point), step_of(fidelity)
                    trial.report(value, reported)
            if step_of(levels[last]) > reported:  # a reply without a curve
                value, reported = number(reply["score"]), step_of(levels[last])
                trial.report(value, reported)
            if last < level:
                # The budget forced a lower level: this config can climb no further.
                state = State.PRUNED
                break
            if level == len(levels) - 1:
                value = number(reply["score"])  # the score the server recommends on
            elif trial.should_prune():
                state = State.PRUNED
                break
        if state == State.COMPLETE:
            study.tell(trial, value)
        else:
            # A pruned trial's value is its last reported one (Optuna sets it); TPE ranks
            # pruned trials behind complete ones, by how far they got, then by that value.
            study.tell(trial, state=state)
            if state == State.FAIL:
                break


def dehb_ladder(levels):
    """DEHB's (min_fidelity, max_fidelity, eta) for the task's fidelity levels.

    DEHB's rungs are max * eta^-k down to min. The levels of the tasks here double
    (0.125, 0.25, 0.5, 1), so eta = 2 puts a rung on every level and on nothing else; a
    geometric ladder with another ratio gets that ratio. Otherwise eta = 2, and each rung is
    evaluated at the lowest level at or above it.
    """
    lo, hi = levels[0], levels[-1]
    ratios = [b / a for a, b in zip(levels, levels[1:])]
    if ratios and all(abs(r - ratios[0]) < 1e-9 * ratios[0] for r in ratios) and ratios[0] > 1:
        return lo, hi, ratios[0]
    return lo, hi, 2.0


def run_dehb(ledger, seed):
    """DEHB (the `dehb` package) over the unit cube, ask/tell, rungs on the fidelity levels.

    DEHB promotes a config (in its first brackets) by asking for it again, with the same
    config_id, at the next rung: that evaluation continues the config's Run, charged as the
    Ledger says (one-run: the difference; per-evaluation: the level in full). DEHB is told the
    score at the level evaluated and what the evaluation was charged. A promotion the budget
    left cannot pay (one-run only) is told as a failure (worst fitness, cost 0). dehb@lowest
    keeps DEHB's brackets (the package refuses min_fidelity == max_fidelity) and runs every
    evaluation at the lowest level: a promotion is then a repeat on another seed, a new run.
    """
    from dehb import DEHB
    from loguru import logger

    levels = ledger.all_levels
    if len(levels) < 2:
        die(f"{ledger.task.name}: dehb needs at least two fidelity levels (the task has {levels})")
    lo, hi, eta = dehb_ladder(levels)
    runs = {}  # DEHB's config_id -> Run
    unpaid = 0  # promotions in a row the budget could not pay
    with tempfile.TemporaryDirectory(prefix="peers-dehb-") as scratch:
        # DEHB writes a log (and, with save_freq "end", state files only in run(), not used here).
        dehb = DEHB(f=None, dimensions=len(ledger.task.space), min_fidelity=lo, max_fidelity=hi, eta=eta,
                    n_workers=1, seed=seed % 2**32, output_path=scratch, save_freq="end", log_level="WARNING")
        logger.remove()  # DEHB points loguru at stdout (where the table goes) and at a file
        logger.add(sys.stderr, level="WARNING")
        while ledger.can_afford(0) and unpaid < 1000:
            job = dehb.ask()
            wanted = float(job["fidelity"])
            level = min((i for i, f in enumerate(levels) if f >= wanted - 1e-9), default=len(levels) - 1)
            run = runs.setdefault(int(job["config_id"]), Run())
            promotion = run.level is not None
            reply = ledger.eval(levels[level], unit=[float(u) for u in job["config"]], run=run)
            if reply is None:
                if promotion and ledger.can_afford(0):
                    unpaid += 1
                    dehb.tell(job, {"fitness": number(None), "cost": 0.0})
                    continue
                break
            unpaid = 0
            dehb.tell(job, {"fitness": number(reply["score"]), "cost": float(reply["charged"])})
        logger.remove()


def run_optimizer(name, ledger, seed):
    name = base_name(name)
    if name == "random":
        run_random(ledger, seed)
    elif name in ("tpe", "cmaes", "optuna-gp"):
        run_full_fidelity(ledger, seed, name)
    elif name == "dehb":
        run_dehb(ledger, seed)
    elif name == "tpe-hyperband":
        run_pruned(ledger, seed, "hyperband")
    elif name == "tpe-sha":
        run_pruned(ledger, seed, "sha")


# --- tables -----------------------------------------------------------------------


def read_tsv(path):
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        return [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f if line.strip()]


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def summary(rows, tasks, resolution):
    names = []
    for r in rows:
        if r["optimizer"] not in names:
            names.append(r["optimizer"])
    regret = defaultdict(dict)  # name -> (task, episode) -> regret
    for r in rows:
        regret[r["optimizer"]][(r["task"], r["episode"])] = float(r["regret"])
    # Rank of every row on each paired (task, episode) cell; ties share the mean rank.
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
    lines = [
        "| optimizer / mechanism | " + " | ".join(tasks) + " | geo. mean | mean rank |",
        "|---|" + "---|" * (len(tasks) + 2),
    ]
    for n in names:
        meds = [median([v for (t, _), v in regret[n].items() if t == task]) for task in tasks]
        geo = math.exp(sum(math.log(max(m, resolution[t])) for m, t in zip(meds, tasks)) / len(tasks))
        mean_rank = sum(ranks[n]) / len(ranks[n])
        lines.append(f"| {n} | " + " | ".join(f"{m:.4f}" for m in meds) + f" | {geo:.4f} | {mean_rank:.2f} |")
    note = (
        "\nMedian true regret per task (bits per byte above the task's best config; the recommended "
        "config's seed mean) over the same episodes for every row; geometric mean over tasks of the "
        "medians floored at each task's resolution (as `mech table`); mean rank over the "
        f"{len(cells)} paired (task, episode) cells among the {len(names)} rows (1 = best). "
        "Lower is better everywhere.\n"
    )
    return "\n".join(lines) + "\n" + note


# --- parity -----------------------------------------------------------------------

WITHIN = 1.25  # a parity cell passes when median(MECH) / median(REF) <= this
BOOT = 2000  # bootstrap resamples for the intervals
PEER = "peer:"  # prefix of an optimizer's rows whose name is also a mechanism's (dehb)


def quantile(sorted_xs, q):
    """Nearest-rank quantile of a sorted list."""
    return sorted_xs[min(len(sorted_xs) - 1, max(0, round(q * (len(sorted_xs) - 1))))]


def compare(m, r):
    """Paired win / tie / loss counts of regrets m against r (lower is better)."""
    win = sum(1 for a, b in zip(m, r) if a < b and not math.isclose(a, b, rel_tol=1e-12))
    tie = sum(1 for a, b in zip(m, r) if math.isclose(a, b, rel_tol=1e-12))
    return win, tie, len(m) - win - tie


def cell_stats(m, r, rng):
    """Ratio of medians of paired floored regrets, with a paired bootstrap 95% interval."""
    n = len(m)
    ratio = median(m) / median(r)
    boots = []
    for _ in range(BOOT):
        idx = [rng.randrange(n) for _ in range(n)]
        boots.append(median([m[i] for i in idx]) / median([r[i] for i in idx]))
    boots.sort()
    return ratio, quantile(boots, 0.025), quantile(boots, 0.975)


def pair_names(spec):
    """`MECH=REF` -> (MECH, REF)."""
    if spec.count("=") != 1 or not all(spec.split("=")):
        die(f"--pair `{spec}` is not MECH=REF")
    return tuple(spec.split("="))


def resolve(name, columns, side):
    """The column of a pair's side: a name that is both a mechanism and an optimizer means the
    mechanism on the MECH side and the optimizer (`peer:NAME`) on the REF side."""
    if side == "ref" and PEER + name in columns:
        return PEER + name
    return name


def parity_report(pairs, per_budget, header):
    """The parity section: per pair, a table of ratios (task x budget), the paired counts and
    intervals. `per_budget` maps budget -> (rows, tasks, resolution)."""
    budgets = sorted(per_budget)
    # regret[budget][column][(task, episode)] = regret floored at the task's resolution
    regret = {}
    tasks = []
    for b in budgets:
        rows, ts, resolution = per_budget[b]
        regret[b] = defaultdict(dict)
        for r in rows:
            regret[b][r["optimizer"]][(r["task"], r["episode"])] = max(float(r["regret"]), resolution[r["task"]])
        tasks += [t for t in ts if t not in tasks]
    out = [header,
           f"For each pair MECH=REF and each cell (task, budget): the median regret of MECH over REF over the "
           f"episodes both played (the same seeds), each regret floored at the task's resolution first. A cell is "
           f"within when the ratio is at most {WITHIN} (MECH better, or at most {100 * (WITHIN - 1):.0f}% worse); "
           f"bold cells are outside. The 95% intervals are percentile intervals of {BOOT} paired bootstrap resamples "
           f"of the episodes (seeded: reruns give the same numbers). W/T/L counts the episodes where MECH's regret "
           f"is lower / equal / higher than REF's. Lower regret is better.\n"]
    for mech_name, ref_name in pairs:
        cols = set().union(*(regret[b].keys() for b in budgets))
        mech, ref = resolve(mech_name, cols, "mech"), resolve(ref_name, cols, "ref")
        rng = random.Random(f"{mech}={ref}")
        cells = {}  # (task, budget) -> (ratio, lo, hi, median mech, median ref, n, (w, t, l))
        logs, total = [], [0, 0, 0]
        for b in budgets:
            if mech not in regret[b] or ref not in regret[b]:
                continue
            for t in tasks:
                keys = sorted(k for k in regret[b][mech] if k[0] == t and k in regret[b][ref])
                if not keys:
                    continue
                m = [regret[b][mech][k] for k in keys]
                r = [regret[b][ref][k] for k in keys]
                wtl = compare(m, r)
                total = [x + y for x, y in zip(total, wtl)]
                logs += [math.log(x / y) for x, y in zip(m, r)]
                cells[(t, b)] = cell_stats(m, r, rng) + (median(m), median(r), len(keys), wtl)
        out.append(f"\n## {mech} = {ref}\n")
        if not cells:
            out.append(f"No cell has both `{mech}` and `{ref}`.\n")
            continue
        within = [k for k, v in cells.items() if v[0] <= WITHIN]
        geo = math.exp(sum(math.log(v[0]) for v in cells.values()) / len(cells))
        boots = []
        for _ in range(BOOT):
            boots.append(median([logs[rng.randrange(len(logs))] for _ in logs]))
        boots.sort()
        lo, hi = math.exp(quantile(boots, 0.025)), math.exp(quantile(boots, 0.975))
        out.append(f"**{len(within)} of {len(cells)} cells within {WITHIN}x** ({100 * len(within) / len(cells):.0f}%); "
                   f"geometric mean of the cell ratios {geo:.3g}. Over all {len(logs)} paired episodes: "
                   f"W/T/L {total[0]}/{total[1]}/{total[2]}; median paired ratio (MECH / REF per episode) "
                   f"{math.exp(median(logs)):.3g}, 95% interval [{lo:.3g}, {hi:.3g}].\n")
        bs = [b for b in budgets if any(k[1] == b for k in cells)]
        out.append("| task | " + " | ".join(f"budget {b:g}" for b in bs) + " |")
        out.append("|---|" + "---|" * len(bs))
        for t in tasks:
            row = []
            for b in bs:
                v = cells.get((t, b))
                row.append("–" if v is None else (f"{v[0]:.3g}" if v[0] <= WITHIN else f"**{v[0]:.3g}**"))
            out.append(f"| {t} | " + " | ".join(row) + " |")
        counts = []
        for b in bs:
            n = [k for k in cells if k[1] == b]
            counts.append(f"{sum(1 for k in n if cells[k][0] <= WITHIN)}/{len(n)}")
        out.append("| within | " + " | ".join(counts) + " |")
        out.append(f"\n| task | budget | median {mech} | median {ref} | ratio | 95% interval | W/T/L | episodes |")
        out.append("|---|---|---|---|---|---|---|---|")
        for b in bs:
            for t in tasks:
                v = cells.get((t, b))
                if v is None:
                    continue
                ratio, clo, chi, mm, mr, n, (w, ti, lo_) = v
                mark = f"**{ratio:.3g}**" if ratio > WITHIN else f"{ratio:.3g}"
                out.append(f"| {t} | {b:g} | {mm:.4f} | {mr:.4f} | {mark} | [{clo:.3g}, {chi:.3g}] | {w}/{ti}/{lo_} | {n} |")
        outside = sorted(((k, v) for k, v in cells.items() if v[0] > WITHIN), key=lambda kv: -kv[1][0])
        if outside:
            out.append(f"\nCells outside {WITHIN}x, worst first (an interval reaching down to {WITHIN} or below means "
                       f"the episodes do not rule out parity):\n")
            for (t, b), (ratio, clo, chi, mm, mr, n, (w, ti, lo_)) in outside:
                verdict = "interval above 1.25" if clo > WITHIN else "interval reaches 1.25"
                out.append(f"- {t} budget {b:g}: {ratio:.3g}x ({mm:.4f} / {mr:.4f}), 95% [{clo:.3g}, {chi:.3g}], "
                           f"W/T/L {w}/{ti}/{lo_}: {verdict}")
        else:
            out.append(f"\nNo cell outside {WITHIN}x.")
    return "\n".join(out) + "\n"


# --- main -------------------------------------------------------------------------


def mechanism_names(binary, mech_files):
    """The library's mechanism names (`mech list`) and those of the `--mech` files."""
    import re

    listed = subprocess.run([binary, "mech", "list"], stdout=subprocess.PIPE, text=True).stdout
    names = [line.split()[0][len("lib:"):] for line in listed.splitlines() if line.startswith("lib:")]
    for m in mech_files:
        if m.startswith("lib:"):
            names.append(m[len("lib:"):])
            continue
        try:
            with open(m) as f:
                found = re.search(r"\(\s*mechanism\s+([^\s()]+)", f.read())
        except OSError:
            found = None
        if found:
            names.append(found.group(1))
    return names


def run_library(args, budget, out, binary, progress):
    """One `mech table` at `budget` into OUT/library.tsv; returns its rows."""
    os.makedirs(out, exist_ok=True)
    library_tsv = os.path.join(out, "library.tsv")
    command = [binary, "mech", "table", "--tasks", args.tasks, "--budget", repr(budget),
               "--seeds", str(args.seeds), "--tsv", library_tsv]
    for m in args.mech:
        command += ["--mech", m]
    progress("library: " + shlex.join(command))
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        die(f"`mech table` failed with exit code {done.returncode}")
    sys.stderr.write(done.stdout)
    library = read_tsv(library_tsv)
    if not library:
        die(f"{library_tsv} has no rows")
    progress(f"library: {len(library)} episodes")
    return library


def episode_keys(rows):
    """(task, episode, seed) of every episode in `rows`."""
    return {(r["task"], r["episode"], r["seed"]) for r in rows}


def run_budget(args, budget, out, optimizers, versions, binary, progress, rename):
    """One `mech table` and every optimizer on every episode at `budget`: OUT/library.tsv,
    OUT/episodes.tsv and OUT/peers.md. Returns (rows, tasks, resolution, table)."""
    library = run_library(args, budget, out, binary, progress)

    # Episode seeds per task, from the rows of one mechanism (all share them).
    first = library[0]["mechanism"]
    episodes = defaultdict(list)  # task -> [(episode, seed, budget as mech table wrote it)]
    for row in library:
        if row["mechanism"] == first:
            episodes[row["task"]].append((row["episode"], int(row["seed"]), row["budget"]))
    tasks = list(episodes)
    mechanisms = {r["mechanism"] for r in library}

    rows = [dict(r, optimizer=r["mechanism"], trials="", spent="") for r in library]
    resolution = {}
    mode = args.promotion_cost
    for task_name in tasks:
        task = Task(binary, task_name, budget)
        resolution[task_name] = task.resolution
        episode_budget = float(task.hello["budget"])
        if mode == ONE_RUN:
            # The ledger keeps the budget; the server only scores. A config's evaluations climb
            # strictly, so the server charges it at most len(levels) times its one-run charge:
            # this budget is never reached, and the server never lowers a level on its own.
            task.close()
            task = Task(binary, task_name, budget * len(task.levels))
        for opt in optimizers:
            t0 = time.time()
            trials = configs = spent = served = 0
            # An optimizer named like a mechanism (dehb) gets its own rows: peer:dehb (and
            # peer:dehb@lowest, since the Rust side names the library's variant dehb@lowest).
            label = PEER + opt if rename and (opt in mechanisms or base_name(opt) in mechanisms) else opt
            for episode_index, seed, budget_text in episodes[task_name]:
                ledger = Ledger(task, seed, mode, episode_budget, lowest=opt.endswith(LOWEST))
                run_optimizer(opt, ledger, seed)
                result = ledger.finish()
                regret = result["regret"] if result["regret"] is not None else result["true_score"]
                # Under per-evaluation the ledger's spend is the server's.
                charged = float(result["spent"]) if mode == PER_EVALUATION else ledger.spent
                trials += result["trials"]
                configs += ledger.configs
                spent += charged
                served += float(result["spent"])
                rows.append({
                    "optimizer": label, "task": task_name, "episode": episode_index, "seed": str(seed),
                    "budget": budget_text, "regret": repr(float(regret)),
                    "trials": str(result["trials"]), "spent": repr(charged),
                    "configs": str(ledger.configs), "spent_per_evaluation": repr(float(result["spent"])),
                })
            n = len(episodes[task_name])
            progress(f"{task_name} {label}: {n} episodes, {trials / n:.1f} evaluations ({configs / n:.1f} configs) "
                     f"each, spent {spent / n:.3g} each ({mode}; {served / n:.3g} if every evaluation paid in full), "
                     f"{time.time() - t0:.1f} s")
        task.close()
    table = write_budget(args, budget, out, rows, tasks, resolution, versions)
    return rows, tasks, resolution, table


def write_budget(args, budget, out, rows, tasks, resolution, versions):
    """OUT/episodes.tsv.partial (moved into place by `finish_episodes`) and OUT/peers.md;
    returns the table."""
    cols = ["optimizer", "task", "episode", "seed", "budget", "regret", "trials", "spent", "configs",
            "spent_per_evaluation"]
    with open(os.path.join(out, "episodes.tsv.partial"), "w") as f:
        f.write("\t".join(cols) + "\n")
        for r in rows:
            f.write("\t".join(r.get(c, "") for c in cols) + "\n")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = (
        f"`{shlex.join(['python3', 'benches/peers.py'] + sys.argv[1:])}`\n\n"
        f"{when}; {', '.join(versions) or 'no Optuna'}; tasks {', '.join(tasks)}; budget {budget:g} "
        f"per episode, {args.seeds} episodes per task; promotion cost {args.promotion_cost} for the "
        f"optimizers (the library's rows: as the binary's inner loop charges)\n\n"
    )
    table = head + summary(rows, tasks, resolution)
    with open(os.path.join(out, "peers.md"), "w") as f:
        f.write(table)
    return table


def finish_episodes(out):
    """Move OUT/episodes.tsv into place: its presence marks a finished budget."""
    os.replace(os.path.join(out, "episodes.tsv.partial"), os.path.join(out, "episodes.tsv"))


def environment(binary):
    """Python, numpy, CPU, binary and checkout, for the parity report."""
    import platform

    parts = [f"Python {platform.python_version()}"]
    try:
        import numpy

        parts.append(f"numpy {numpy.__version__}")
    except ImportError:
        pass
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    version = subprocess.run([binary, "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    here = os.path.dirname(os.path.abspath(__file__))
    commit = subprocess.run(["git", "-C", here, "describe", "--always", "--dirty"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True).stdout.strip() or "?"
    return parts, f"{cpu}, {os.cpu_count()} cores", f"{version} ({binary}, sha256 {binary_hash(binary)})", commit


def binary_hash(binary):
    import hashlib

    h = hashlib.sha256()
    with open(binary, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", required=True, help="tasks or suites, comma-separated (as mech table --tasks)")
    ap.add_argument("--budget", type=float, default=None, help="cost units per episode (default 15)")
    ap.add_argument("--budgets", default=None, help="several budgets, comma-separated (e.g. 5,15,45): each runs "
                    "into OUT/b<B>/, then OUT/parity.md compares the --pair columns across them")
    ap.add_argument("--seeds", type=int, default=10, help="episodes per task (default 10)")
    ap.add_argument("--mech", action="append", default=[], help="extra mechanism file for mech table (repeatable)")
    default = [o for o in OPTIMIZERS if o not in EXTRA] + DEFAULT_LOWEST
    ap.add_argument("--optimizers", default=",".join(default), help="comma-separated, of " + ",".join(OPTIMIZERS)
                    + ", each also as NAME@lowest (every evaluation at the lowest fidelity: the trivial baseline)"
                    + " (default " + ",".join(default) + ")")
    ap.add_argument("--promotion-cost", choices=PROMOTION_COSTS, default=ONE_RUN,
                    help="what a config promoted to a higher fidelity pays: one-run (default) only the part of its "
                    "training run not paid yet, so in total its highest level (a table's curve is a prefix of one "
                    "run); per-evaluation the new level in full (the server's and the inner loop's accounting, "
                    "as before)")
    ap.add_argument("--pair", action="append", default=[], help="MECH=REF: parity of a mechanism against a reference, "
                    "per (task, budget) (repeatable; writes OUT/parity.md)")
    ap.add_argument("--force", action="store_true", help="with --budgets: rerun budgets whose episodes.tsv exists")
    ap.add_argument("--rerun-library", action="store_true", help="with --budgets: run the library (mech table) "
                    "again with this binary on a kept budget, keeping its optimizers' rows")
    ap.add_argument("--out", default="peers-out", help="output folder (default peers-out)")
    ap.add_argument("--binary", default=None, help="outerloop binary (default target/release/outerloop)")
    args = ap.parse_args()

    budgets = None
    if args.budgets is not None:
        if args.budget is not None:
            die("give --budget or --budgets, not both")
        try:
            budgets = sorted({float(b) for b in args.budgets.split(",") if b.strip()})
        except ValueError:
            die(f"--budgets `{args.budgets}` is not a comma-separated list of numbers")
        if not budgets or not all(b > 0 for b in budgets):
            die("--budgets must list positive budgets")
    elif args.budget is None:
        args.budget = 15.0
    pairs = [pair_names(p) for p in args.pair]

    optimizers = [o.strip() for o in args.optimizers.split(",") if o.strip()]
    for o in optimizers:
        if not is_optimizer(o):
            die(f"unknown optimizer `{o}` (optimizers: {', '.join(OPTIMIZERS)}, each also as NAME{LOWEST})")
    bases = {base_name(o) for o in optimizers}
    versions = []
    if any(o not in ("random", "dehb") for o in bases):
        try:
            import optuna
        except ImportError:
            die("Optuna is missing: pip install optuna cmaes")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        versions.append(f"optuna {optuna.__version__}")
    if "cmaes" in bases:
        try:
            import cmaes
        except ImportError:
            die("cmaes (needed by Optuna's CmaEsSampler) is missing: pip install optuna cmaes")
        versions.append(f"cmaes {getattr(cmaes, '__version__', '?')}")
    if "optuna-gp" in bases:
        try:
            import scipy
            import torch
        except ImportError as e:
            die(f"Optuna's GPSampler needs torch and scipy ({e}): pip install torch scipy "
                "(CPU wheels: --index-url https://download.pytorch.org/whl/cpu), or leave optuna-gp out")
        # One thread: the GP's matrices are tiny; on the 2-core VM with other work running, torch's
        # default 2 threads made a 100-trial d=5 episode ~4x slower (31 s against 8 s).
        torch.set_num_threads(1)
        versions.append(f"torch {torch.__version__} (1 thread), scipy {scipy.__version__}")
    if "dehb" in bases:
        try:
            import importlib.metadata

            import dehb  # noqa: F401
        except ImportError as e:
            die(f"the dehb package is missing ({e}): pip install dehb")
        versions.append(f"dehb {importlib.metadata.version('dehb')}")

    binary = args.binary
    if binary is None:
        binary = "target/release/outerloop"
        if not os.path.exists(binary):
            binary = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "outerloop")
    if not os.path.exists(binary):
        die(f"no binary at {binary}: cargo build --release, or pass --binary")
    if args.seeds < 1 or not (budgets or args.budget > 0):
        die("--seeds must be at least 1 and --budget positive")
    names = mechanism_names(binary, args.mech) if pairs else []
    for pair in pairs:
        for side, name in zip(("MECH", "REF"), pair):
            bare = name[len(PEER):] if name.startswith(PEER) else name
            # Any known optimizer: a kept budget may have run one this invocation does not ask for.
            if name not in names and not is_optimizer(bare):
                die(f"--pair {'='.join(pair)}: {side} `{name}` is neither a mechanism ({', '.join(names)}) "
                    f"nor an optimizer ({', '.join(OPTIMIZERS)}, each also as NAME{LOWEST})")

    os.makedirs(args.out, exist_ok=True)
    started = time.time()

    def progress(message):
        print(f"[{time.time() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    if budgets is None:
        # One budget: OUT/library.tsv, episodes.tsv, peers.md as always; parity.md with --pair.
        rows, tasks, resolution, table = run_budget(args, args.budget, args.out, optimizers, versions, binary,
                                                    progress, rename=True)
        finish_episodes(args.out)
        progress(f"wrote {os.path.join(args.out, 'episodes.tsv')} and {os.path.join(args.out, 'peers.md')}")
        print(table, end="")
        per_budget = {args.budget: (rows, tasks, resolution)}
        runs = {args.budget: {"seconds": time.time() - started}}
    else:
        per_budget, runs = {}, {}
        settings = {"tasks": args.tasks, "seeds": args.seeds, "mech": args.mech,
                    "promotion_cost": args.promotion_cost, "rung_schedule": RUNG_SCHEDULE}
        # What a run.json written before these settings existed was run with.
        before = {"promotion_cost": PER_EVALUATION, "rung_schedule": 1}
        for b in budgets:
            out = os.path.join(args.out, f"b{b:g}")
            episodes_tsv = os.path.join(out, "episodes.tsv")
            run_json = os.path.join(out, "run.json")
            if os.path.exists(episodes_tsv) and not args.force:
                try:
                    with open(run_json) as f:
                        run = json.load(f)
                except (OSError, ValueError):
                    die(f"{episodes_tsv} exists without a readable {run_json}: --force to rerun budget {b:g}")
                kept = {k: run.get(k, before.get(k)) for k in settings}
                if kept != settings or not set(optimizers) <= set(run["optimizers"]):
                    die(f"{out} was run with other settings ({json.dumps(kept)}, "
                        f"optimizers {','.join(run['optimizers'])}): --force to rerun, or another --out")
                # Every optimizer the budget ran stays (a pair may need one not asked for now).
                rows = read_tsv(episodes_tsv)
                progress(f"budget {b:g}: kept {episodes_tsv} ({len(rows)} rows, run {run['when']})")
                if args.rerun_library:
                    peers = [r for r in rows if r["trials"]]
                    library = run_library(args, b, out, binary, progress)
                    if episode_keys(library) != episode_keys(peers):
                        die(f"budget {b:g}: the library's episodes differ from the kept optimizers' "
                            f"(other --tasks or --seeds?): --force to rerun the budget")
                    rows = [dict(r, optimizer=r["mechanism"], trials="", spent="") for r in library] + peers
                    run.update(library_binary=binary_hash(binary),
                               library_when=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
                    write_budget(args, b, out, rows, run["tasks_run"], run["resolution"], versions)
                    with open(run_json + ".partial", "w") as f:
                        json.dump(run, f, indent=1)
                        f.write("\n")
                    finish_episodes(out)
                    os.replace(run_json + ".partial", run_json)
                    progress(f"budget {b:g}: library rerun, {len(library)} episodes")
                per_budget[b] = (rows, run["tasks_run"], run["resolution"])
                runs[b] = run
                continue
            t0 = time.time()
            progress(f"budget {b:g} into {out}")
            rows, tasks, resolution, _ = run_budget(args, b, out, optimizers, versions, binary, progress, rename=True)
            runs[b] = dict(settings, optimizers=optimizers, tasks_run=tasks, resolution=resolution,
                           seconds=round(time.time() - t0, 1), binary=binary_hash(binary),
                           when=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
            with open(run_json, "w") as f:
                json.dump(runs[b], f, indent=1)
                f.write("\n")
            finish_episodes(out)
            progress(f"budget {b:g}: wrote {episodes_tsv} and {os.path.join(out, 'peers.md')} "
                     f"in {runs[b]['seconds']:.0f} s")
            per_budget[b] = (rows, tasks, resolution)
    if not pairs:
        return

    env, cpu, binary_text, commit = environment(binary)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nice = os.nice(0)
    lines = [
        "# Parity on the GPT tables\n",
        f"`{(f'nice -n {nice} ' if nice else '') + shlex.join(['python3', 'benches/peers.py'] + sys.argv[1:])}`\n",
        f"{when}; {cpu}; {', '.join(env + versions)}; {binary_text}; checkout {commit}; "
        f"this invocation {time.time() - started:.0f} s wall.\n",
        f"Promotion cost of the optimizers: {args.promotion_cost} "
        + ("(a promoted config pays only the part of its training run not paid yet)"
           if args.promotion_cost == ONE_RUN else "(every evaluation pays its level in full)")
        + "; the library's mechanisms are charged as the binary's inner loop charges them.\n",
        f"Tasks {', '.join(per_budget[min(per_budget)][1])}; {args.seeds} episodes per task and budget; the "
        f"per-budget tables (all optimizers and mechanisms) are in "
        + (f"`{os.path.join(args.out, 'peers.md')}`." if budgets is None else
           ", ".join(f"`{os.path.join(args.out, f'b{b:g}', 'peers.md')}`" for b in sorted(per_budget)) + ".") + "\n",
    ]
    if budgets is not None:
        # The optimizers need the binary only to serve the tables; the library's rows are its own.
        lines.append("| budget | ran | wall (s) | library's binary sha256 | library ran |")
        lines.append("|---|---|---|---|---|")
        here = binary_hash(binary)
        for b in sorted(runs):
            library = runs[b].get("library_binary", runs[b].get("binary"))
            other = "" if library == here else " (**not the binary above**)"
            lines.append(f"| {b:g} | {runs[b].get('when', '?')} | {runs[b].get('seconds', 0):.0f} | "
                         f"{library or '?'}{other} | {runs[b].get('library_when', runs[b].get('when', '?'))} |")
        lines.append("")
    report = parity_report(pairs, per_budget, "\n".join(lines) + "\n")
    path = os.path.join(args.out, "parity.md")
    with open(path, "w") as f:
        f.write(report)
    progress(f"wrote {path}")
    print(report, end="")


if __name__ == "__main__":
    main()
