#!/usr/bin/env python3
"""BBOB peers: reference optimizers (pycma, Optuna's CMA-ES and GP samplers, random search)
on the noiseless BBOB functions, on exactly the episodes of `outerloop mech table`, scored
the same way, with a parity check of library mechanisms against them.

    pip install cma optuna cmaes scipy torch greenlet
    python3 benches/bbob_peers.py [--dims 5,10] [--functions 1-24] [--instances 1-15] \\
        [--budgets 100,500,2000 | --budgets 100d] [--seeds 1] [--full] [--versus MECH=REF ...] \\
        [--optimizers pycma,purecma,optuna-cmaes,optuna-gp,random] \\
        [--gp-dims 5] [--gp-budgets 50,100] [--gp-instances 1-15] [--gp-functions 1-24] \\
        [--mech FILE_OR_lib:NAME ...] [--pair MECH=REF ...] [--rerun-library | --report-only] \\
        [--binary target/release/outerloop] [--out bbob-peers-out]

1. For every (dimension, budget) of the grid, `outerloop mech table --tasks LIST --budget B
   --seeds S --tsv OUT/library-d<D>-b<B>.tsv` runs the library (and the `--mech` files) on
   the tasks `bbob-f<F>-i<I>-d<D>` (functions outer, instances inner) and lists every
   episode with its seed. A TSV already there is kept if it has the same tasks.
2. Each optimizer plays each episode against `outerloop task serve TASK --budget B`
   (`reset` with the episode's seed, `eval` at fidelity 1.0 with a point of the unit cube
   until the budget is spent, `finish`, which reports the true regret of the recommended
   config). None of the optimizers knows the budget, so the episodes of one task and seed
   at several budgets are played as one run whose trials go to one server per budget: the
   server of budget B sees exactly the first B trials and is finished when it can pay no
   more, which is what a separate run at budget B would give (the replies are checked to
   agree). It only applies where the library TSVs give the same seed at every budget.
3. With `--full` the tasks are `bbob-f<F>-i<I>-d<D>-full` (one exact fidelity level, the
   setting of the BBOB suites `suite:bbob-*`); a budget `100d` is 100 times the dimension.
   OUT/episodes.tsv gets one row per (optimizer, task, budget, episode), appended as each
   finishes; a row already there with the library's seed is not run again, so an
   interrupted run resumes. OUT/timings.tsv gets the wall time of each part.
4. OUT/bbob_peers.md (also printed): per dimension and budget the median regret over
   instances per function and per BBOB function group, for the optimizers and the library;
   then for each `--versus MECH=REF` (either side a mechanism or an optimizer) per function
   group: the median regret of each, the mean AOCC (area over the convergence curve, as
   `task serve` and `mech table` compute it) of each, and whether MECH wins the group in both;
   then for each `--pair MECH=REF` the ratio of the medians per (function, dim, budget) cell
   (regrets floored at the task's resolution first), the cells within 1.25x and the others.
   `--report-only` runs nothing and writes this report from what OUT holds, saying how
   many episodes each optimizer still lacks (a partial report while a long run goes on).

Progress goes to stderr.
"""

import argparse
import datetime
import math
import os
import platform
import random
import shlex
import subprocess
import sys
import time
import warnings
from collections import defaultdict

from serve_client import Episode, Task, die, number  # benches/ is on sys.path

OPTIMIZERS = ["pycma", "purecma", "optuna-cmaes", "optuna-gp", "random"]
GROUPS = [
    ("separable (1-5)", range(1, 6)),
    ("low/moderate conditioning (6-9)", range(6, 10)),
    ("high conditioning, unimodal (10-14)", range(10, 15)),
    ("multimodal, adequate structure (15-19)", range(15, 20)),
    ("multimodal, weak structure (20-24)", range(20, 25)),
]
WITHIN = 1.25  # a parity cell passes when median(MECH) / median(REF) <= this
EPISODE_COLS = ["optimizer", "task", "dim", "function", "instance", "budget", "episode", "seed",
                "regret", "aocc", "trials", "spent", "restarts", "resolution", "seconds"]
SUFFIX = ""  # "-full" with --full: the single-fidelity tasks of the BBOB suites




def int_list(text, what):
    """`1-5,8,10-12` -> [1, 2, 3, 4, 5, 8, 10, 11, 12]."""
    out = []
    try:
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            if "-" in part:
                lo, hi = part.split("-", 1)
                out.extend(range(int(lo), int(hi) + 1))
            else:
                out.append(int(part))
    except ValueError:
        die(f"--{what}: `{text}` is not a list like 1-5,8")
    if not out:
        die(f"--{what} is empty")
    return sorted(set(out))


def seed32(seed):
    """A nonzero 32-bit seed from a 64-bit episode seed (numpy and pycma take 32 bits)."""
    s = (seed ^ (seed >> 32)) & 0xFFFFFFFF
    return s or 1


def task_name(f, i, d):
    return f"bbob-f{f}-i{i}-d{d}{SUFFIX}"


def budget_list(text, what):
    """`100,500` -> [(100, False), (500, False)]; `100d` -> [(100, True)]: 100 times the dimension."""
    out = []
    for part in text.split(","):
        part = part.strip()
        per_dim = part.endswith("d")
        try:
            value = int(part[:-1] if per_dim else part)
        except ValueError:
            die(f"--{what}: `{part}` is not a budget like 500 or 100d (100 times the dimension)")
        if value < 1:
            die(f"--{what}: budgets are at least 1")
        out.append((value, per_dim))
    if not out:
        die(f"--{what} is empty")
    return out


def budgets_at(spec, d):
    """The budgets of a `budget_list` at dimension d, sorted and distinct."""
    return sorted({v * d if per_dim else v for v, per_dim in spec})


# --- the protocol -------------------------------------------------------------------


class Nested:
    """The episodes of one task and seed at several budgets, fed the same trials.

    Trial k goes to every episode whose budget still pays for it; an episode that can pay
    no more is finished at once (`on_finish(budget, reply)`), so each one sees exactly the
    trials a separate run at its budget would see. The optimizer gets the reply of the
    largest budget; the others must agree with it.
    """

    def __init__(self, servers, seed, on_finish):
        self.open = [(b, Episode(servers[b], seed)) for b in sorted(servers)]
        self.on_finish = on_finish
        self.dim = servers[min(servers)].dim
        self.restarts = 0

    def _close_spent(self):
        keep = []
        for b, ep in self.open:
            if ep.can_afford():
                keep.append((b, ep))
            else:
                self.on_finish(b, ep.finish(), self.restarts)
        self.open = keep

    def can_afford(self):
        self._close_spent()
        return bool(self.open)

    def eval(self, unit):
        """Score of one full-fidelity trial at `unit` (clipped to the cube); None when spent."""
        self._close_spent()
        if not self.open:
            return None
        unit = [min(1.0, max(0.0, float(u))) for u in unit]
        replies = [ep.eval(1.0, unit=unit) for _, ep in self.open]
        last = replies[-1]
        if last is None:
            return None
        for (b, _), r in zip(self.open, replies):
            if r is None or r["score"] != last["score"] or r["trial"] != last["trial"]:
                die(f"{self.open[-1][1].task.name}: budget {b} answered trial {last['trial']} differently "
                    f"({r and r.get('score')} against {last['score']}): nested budgets do not apply")
        return number(last["score"])

    def finish_all(self):
        for b, ep in self.open:
            self.on_finish(b, ep.finish(), self.restarts)
        self.open = []


# --- the optimizers -----------------------------------------------------------------


def run_random(nested, seed):
    """Uniform points of the unit cube, `random.Random(seed)`."""
    rng = random.Random(seed)
    while nested.can_afford():
        if nested.eval([rng.random() for _ in range(nested.dim)]) is None:
            break


def run_pycma(nested, seed):
    """pycma's CMA-ES on [0,1]^d: x0 = centre, sigma0 = 0.2, bounds [0,1], defaults otherwise.

    Only complete generations are told; when the budget ends within a generation, the
    solutions that fit are evaluated and the run stops. When `es.stop()` reports a
    termination criterion (convergence: no budget is given to pycma), CMA-ES restarts with the
    same settings from a uniform x0, with a fresh seed, both drawn from `random.Random(seed)`.
    """
    import cma

    rng = random.Random(seed)
    d = nested.dim
    x0, s = [0.5] * d, seed32(seed)
    while nested.can_afford():
        es = cma.CMAEvolutionStrategy(x0, 0.2, {"bounds": [0, 1], "seed": s, "verbose": -9})
        while not es.stop():
            xs = es.ask()
            fits = []
            for x in xs:
                f = nested.eval(list(x))
                if f is None:
                    return
                fits.append(f)
            es.tell(xs, fits)
        nested.restarts += 1
        x0 = [rng.random() for _ in range(d)]
        s = rng.randrange(1, 2**32)


def reflect(x):
    """Into [0, 1] by reflection at the faces, as the language's `mvn-sample` maps a genotype."""
    y = x % 2.0
    return 2.0 - y if y > 1.0 else y


def run_purecma(nested, seed):
    """pycma's `purecma.CMAES`, the readable reference the library's `cma-es` replays step by
    step (tests/fixtures/cma/purecma.json): x0 = centre, sigma0 = 0.2, default population;
    each genotype is evaluated at its reflection into [0,1]^d (as the mechanism does: purecma
    has no bounds) and told as it was drawn. Only complete generations are told. When
    `es.stop()` reports a termination criterion CMA-ES restarts from a uniform x0 with the
    same sigma0, as pycma's runs here do. purecma draws from Python's `random`, seeded per
    episode with `random.Random(seed)`'s first draw.
    """
    from cma.more_algorithms import purecma

    rng = random.Random(seed)
    d = nested.dim
    x0 = [0.5] * d
    draws = random.Random(rng.randrange(1, 2**32))
    while nested.can_afford():
        es = purecma.CMAES(x0, 0.2, randn=draws.normalvariate)
        while not es.stop():
            xs = es.ask()
            fits = []
            for x in xs:
                f = nested.eval([reflect(v) for v in x])
                if f is None:
                    return
                fits.append(f)
            es.tell(xs, fits)
        nested.restarts += 1
        x0 = [rng.random() for _ in range(d)]


def run_optuna(nested, seed, which):
    """Optuna ask/tell over FloatDistribution(0, 1) per coordinate, every trial at full fidelity."""
    import optuna

    d = nested.dim
    names = [f"x{k}" for k in range(d)]
    dists = {n: optuna.distributions.FloatDistribution(0.0, 1.0) for n in names}
    if which == "optuna-cmaes":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # x0 and sigma0 are deprecated (still honoured)
            sampler = optuna.samplers.CmaEsSampler(seed=seed32(seed), x0={n: 0.5 for n in names}, sigma0=0.2)
    else:
        sampler = optuna.samplers.GPSampler(seed=seed32(seed))
    study = optuna.create_study(sampler=sampler)
    while nested.can_afford():
        trial = study.ask(dists)
        f = nested.eval([trial.params[n] for n in names])
        if f is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            break
        study.tell(trial, f)


def run_optimizer(name, nested, seed):
    if name == "random":
        run_random(nested, seed)
    elif name == "pycma":
        run_pycma(nested, seed)
    elif name == "purecma":
        run_purecma(nested, seed)
    else:
        run_optuna(nested, seed, name)


def versions_of(optimizers):
    out = [f"Python {platform.python_version()}"]
    need = set(optimizers)
    try:
        import numpy

        out.append(f"numpy {numpy.__version__}")
    except ImportError:
        pass
    if need & {"pycma", "purecma"}:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Could not import matplotlib.pyplot"
                import cma
        except ImportError:
            die("pycma is missing: pip install cma")
        out.append(f"cma {cma.__version__}")
    if need & {"optuna-cmaes", "optuna-gp"}:
        try:
            import optuna
        except ImportError:
            die("Optuna is missing: pip install optuna cmaes scipy")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        out.append(f"optuna {optuna.__version__}")
    if "optuna-cmaes" in need:
        try:
            import cmaes
        except ImportError:
            die("cmaes (needed by Optuna's CmaEsSampler) is missing: pip install cmaes")
        out.append(f"cmaes {getattr(cmaes, '__version__', '?')}")
    if "optuna-gp" in need:
        try:
            import scipy
            import torch
        except ImportError as e:
            die(f"Optuna's GPSampler needs torch and scipy ({e}): pip install torch scipy "
                "(CPU wheels: --index-url https://download.pytorch.org/whl/cpu), or leave optuna-gp out")
        # One thread: the GP's matrices are tiny; on the 2-core VM with other work running, torch's
        # default 2 threads made a 100-trial d=5 episode ~4x slower (31 s against 8 s).
        torch.set_num_threads(1)
        out += [f"torch {torch.__version__} (1 thread)", f"scipy {scipy.__version__}"]
        try:
            import greenlet

            out.append(f"greenlet {greenlet.__version__}")
        except ImportError:
            pass
    return out


# --- files --------------------------------------------------------------------------


def read_tsv(path):
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        return [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f if line.strip()]


def append_row(path, cols, row):
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    with open(path, "a") as f:
        if new:
            f.write("\t".join(cols) + "\n")
        f.write("\t".join(str(row.get(c, "")) for c in cols) + "\n")
        f.flush()
        os.fsync(f.fileno())


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def fmt(x):
    return "–" if x is None else f"{x:.3g}"


def parse_task(name):
    """`bbob-f8-i3-d5` -> (8, 3, 5)."""
    parts = name.split("-")
    return int(parts[1][1:]), int(parts[2][1:]), int(parts[3][1:])


# --- main ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dims", default="5,10", help="dimensions (default 5,10)")
    ap.add_argument("--functions", default="1-24", help="BBOB functions (default 1-24)")
    ap.add_argument("--instances", default="1-15", help="instances (default 1-15)")
    ap.add_argument("--budgets", default="100,500,2000", help="evaluations per episode (default 100,500,2000); "
                    "`100d` is 100 times the dimension")
    ap.add_argument("--full", action="store_true", help="the single-fidelity tasks (`-full`, as in suite:bbob-*)")
    ap.add_argument("--versus", action="append", default=[], help="MECH=REF: per function group, median regret and "
                    "mean AOCC of each and whether MECH wins both (repeatable)")
    ap.add_argument("--seeds", type=int, default=1, help="episodes per task (default 1)")
    ap.add_argument("--optimizers", default=",".join(OPTIMIZERS), help="comma-separated, of " + ",".join(OPTIMIZERS))
    ap.add_argument("--gp-dims", default="5", help="optuna-gp's dimensions (default 5)")
    ap.add_argument("--gp-budgets", default="50,100", help="optuna-gp's budgets (default 50,100; `20d` allowed)")
    ap.add_argument("--gp-instances", default="1-15", help="optuna-gp's instances (default 1-15)")
    ap.add_argument("--gp-functions", default=None, help="optuna-gp's functions (default --functions)")
    ap.add_argument("--mech", action="append", default=[], help="extra mechanism for mech table (repeatable)")
    ap.add_argument("--pair", action="append", default=[], help="MECH=REF: parity of a mechanism against a reference "
                    "(repeatable; either side may be a mechanism or an optimizer)")
    ap.add_argument("--rerun-library", action="store_true", help="run mech table again even where its TSV exists")
    ap.add_argument("--report-only", action="store_true", help="run nothing: write the report from what OUT holds "
                    "(say how many episodes each optimizer still lacks), e.g. while a long run goes on")
    ap.add_argument("--binary", default=None, help="outerloop binary (default target/release/outerloop)")
    ap.add_argument("--out", default="bbob-peers-out", help="output folder (default bbob-peers-out)")
    args = ap.parse_args()

    optimizers = [o.strip() for o in args.optimizers.split(",") if o.strip()]
    for o in optimizers:
        if o not in OPTIMIZERS:
            die(f"unknown optimizer `{o}` (optimizers: {', '.join(OPTIMIZERS)})")
    global SUFFIX
    SUFFIX = "-full" if args.full else ""
    versus = []
    for p in args.versus:
        if p.count("=") != 1 or not all(p.split("=")):
            die(f"--versus `{p}` is not MECH=REF")
        versus.append(tuple(p.split("=")))
    pairs = []
    for p in args.pair:
        if p.count("=") != 1 or not all(p.split("=")):
            die(f"--pair `{p}` is not MECH=REF")
        pairs.append(tuple(p.split("=")))
    if args.seeds < 1:
        die("--seeds must be at least 1")
    functions = int_list(args.functions, "functions")
    grid = {}  # optimizer -> (dims, functions, instances, budgets)
    main_grid = (int_list(args.dims, "dims"), functions, int_list(args.instances, "instances"),
                 budget_list(args.budgets, "budgets"))
    gp_grid = (int_list(args.gp_dims, "gp-dims"), int_list(args.gp_functions, "gp-functions") if args.gp_functions
               else functions, int_list(args.gp_instances, "gp-instances"), budget_list(args.gp_budgets, "gp-budgets"))
    for o in optimizers:
        grid[o] = gp_grid if o == "optuna-gp" else main_grid
    for g in [main_grid] + list(grid.values()):
        if not all(1 <= f <= 24 for f in g[1]) or min(g[2]) < 1 or min(g[0]) < 2:
            die("functions are 1-24, instances and budgets at least 1, dimensions at least 2")

    versions = versions_of(optimizers)
    binary = args.binary
    if binary is None:
        binary = "target/release/outerloop"
        if not os.path.exists(binary):
            binary = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "outerloop")
    if not os.path.exists(binary):
        die(f"no binary at {binary}: cargo build --release, or pass --binary")
    try:
        versions.append(subprocess.run([binary, "--version"], stdout=subprocess.PIPE, text=True).stdout.strip())
    except OSError:
        pass

    os.makedirs(args.out, exist_ok=True)
    episodes_tsv = os.path.join(args.out, "episodes.tsv")
    timings_tsv = os.path.join(args.out, "timings.tsv")
    started = time.time()

    def progress(message):
        print(f"[{time.time() - started:8.1f}s] {message}", file=sys.stderr, flush=True)

    # --- 1. the library: one mech table per (dim, budget), over the union of the grids there
    cells = defaultdict(lambda: (set(), set()))  # (dim, budget) -> (functions, instances)
    for g in [main_grid] + list(grid.values()):
        for d in g[0]:
            for b in budgets_at(g[3], d):
                fs, is_ = cells[(d, b)]
                fs.update(g[1])
                is_.update(g[2])
    seeds = {}  # (task, budget, episode) -> seed
    library = defaultdict(list)  # (dim, budget) -> rows
    for (d, b) in sorted(cells):
        fs, is_ = cells[(d, b)]
        tasks = [task_name(f, i, d) for f in sorted(fs) for i in sorted(is_)]
        path = os.path.join(args.out, f"library-d{d}-b{b}.tsv")
        rows = read_tsv(path) if os.path.exists(path) and not args.rerun_library else None
        if rows is None and args.report_only:
            die(f"{path} is missing: --report-only reports on a folder a run has written (drop --rerun-library)")
        if rows is not None:
            listed = []
            for r in rows:
                if r["mechanism"] == rows[0]["mechanism"] and r["task"] not in listed:
                    listed.append(r["task"])
            episodes_there = sum(1 for r in rows if r["mechanism"] == rows[0]["mechanism"])
            if listed != tasks or episodes_there != len(tasks) * args.seeds:
                die(f"{path} was made for other tasks or --seeds (its first tasks: {', '.join(listed[:3])}, ...): "
                    "remove it, use another --out, or keep the grid it was made for")
            progress(f"library d{d} b{b}: kept {path} ({len(rows)} rows)")
        else:
            command = [binary, "mech", "table", "-q", "--tasks", ",".join(tasks), "--budget", str(b),
                       "--seeds", str(args.seeds), "--tsv", path]
            for m in args.mech:
                command += ["--mech", m]
            shown = [binary, "mech", "table", "-q", "--tasks", f"<{len(tasks)} tasks>"] + command[6:]
            progress(f"library d{d} b{b}: {shlex.join(shown)}")
            t0 = time.time()
            done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
            if done.returncode != 0:
                die(f"`mech table` failed with exit code {done.returncode}")
            with open(os.path.join(args.out, f"library-d{d}-b{b}.md"), "w") as f:
                f.write(done.stdout)
            seconds = time.time() - t0
            rows = read_tsv(path)
            append_row(timings_tsv, ["part", "dim", "budgets", "tasks", "episodes", "evaluations", "seconds", "when"],
                       {"part": "library (mech table)", "dim": d, "budgets": b, "tasks": len(tasks),
                        "episodes": len(rows), "evaluations": "", "seconds": f"{seconds:.1f}",
                        "when": datetime.datetime.now().isoformat(timespec="seconds")})
            progress(f"library d{d} b{b}: {len(rows)} episodes in {seconds:.1f} s")
        library[(d, b)] = rows
        first = rows[0]["mechanism"]
        for r in rows:
            if r["mechanism"] == first:
                seeds[(r["task"], b, int(r["episode"]))] = int(r["seed"])

    # --- 2. the optimizers
    done_cells = set()
    if os.path.exists(episodes_tsv):
        with open(episodes_tsv) as f:
            header = f.readline().rstrip("\n").split("\t")
        if header != EPISODE_COLS:
            die(f"{episodes_tsv} has other columns ({' '.join(header)}): made by another version; use another --out")
        for r in read_tsv(episodes_tsv):
            done_cells.add((r["optimizer"], r["task"], int(r["budget"]), int(r["episode"]), int(r["seed"])))
    resolution = {}
    missing = defaultdict(int)  # optimizer -> episodes not run (with --report-only)
    for opt in optimizers:
        dims, fs, is_, spec = grid[opt]
        for d in dims:
            budgets = budgets_at(spec, d)
            for f in fs:
                t_function = time.time()
                evals = n_eps = 0
                for i in is_:
                    name = task_name(f, i, d)
                    servers = {}
                    for e in range(args.seeds):
                        # Budgets still to run, grouped by the seed the library gives them.
                        todo = defaultdict(list)
                        for b in budgets:
                            s = seeds[(name, b, e)]
                            if (opt, name, b, e, s) not in done_cells:
                                todo[s].append(b)
                        for s, bs in todo.items():
                            if args.report_only:
                                missing[opt] += len(bs)
                                continue
                            for b in bs:
                                if b not in servers:
                                    servers[b] = Task(binary, name, b)
                                    resolution[name] = servers[b].resolution

                            def on_finish(b, reply, restarts, s=s, e=e, name=name):
                                regret = reply["regret"] if reply["regret"] is not None else reply["true_score"]
                                append_row(episodes_tsv, EPISODE_COLS, {
                                    "optimizer": opt, "task": name, "dim": d, "function": f, "instance": i,
                                    "budget": b, "episode": e, "seed": s, "regret": repr(float(regret)),
                                    "aocc": "" if reply.get("aocc") is None else repr(float(reply["aocc"])),
                                    "trials": reply["trials"], "spent": repr(float(reply["spent"])),
                                    "restarts": restarts if opt in ("pycma", "purecma") else "",
                                    "resolution": repr(servers[b].resolution),
                                    "seconds": f"{time.time() - t_run:.2f}"})
                                done_cells.add((opt, name, b, e, s))

                            t_run = time.time()
                            nested = Nested({b: servers[b] for b in bs}, s, on_finish)
                            run_optimizer(opt, nested, s)
                            nested.finish_all()
                            evals += max(bs)
                            n_eps += len(bs)
                    for server in servers.values():
                        server.close()
                if n_eps:
                    seconds = time.time() - t_function
                    append_row(timings_tsv, ["part", "dim", "budgets", "tasks", "episodes", "evaluations", "seconds",
                                             "when"],
                               {"part": opt, "dim": d, "budgets": ",".join(map(str, budgets)),
                                "tasks": f"f{f} x {len(is_)} instances", "episodes": n_eps, "evaluations": evals,
                                "seconds": f"{seconds:.1f}", "when": datetime.datetime.now().isoformat(timespec="seconds")})
                    progress(f"{opt} d{d} f{f}: {n_eps} episodes, {evals} evaluations, {seconds:.1f} s")

    # --- 3. the report
    report = make_report(args, optimizers, grid, main_grid, cells, library, seeds, episodes_tsv, timings_tsv,
                         pairs, versus, resolution, binary, versions, started, missing)
    path = os.path.join(args.out, "bbob_peers.md")
    with open(path, "w") as f:
        f.write(report)
    progress(f"wrote {path}")
    print(report, end="")


def make_report(args, optimizers, grid, main_grid, cells, library, seeds, episodes_tsv, timings_tsv, pairs,
                versus, resolution, binary, versions, started, missing):
    # regret[(dim, budget)][column][(function, instance, episode)] = regret floored at the resolution
    regret = defaultdict(lambda: defaultdict(dict))
    aocc = defaultdict(lambda: defaultdict(dict))  # the same keys: area over the convergence curve
    columns = defaultdict(list)  # (dim, budget) -> column names in order: optimizers, then mechanisms

    def floor(task, value):
        if task not in resolution:
            server = Task(binary, task, 1)
            resolution[task] = server.resolution
            server.close()
        return max(float(value), resolution[task])

    stale = 0
    if os.path.exists(episodes_tsv):
        for r in read_tsv(episodes_tsv):
            if r["optimizer"] not in optimizers:
                continue  # run before with other --optimizers: not part of this report
            b, e = int(r["budget"]), int(r["episode"])
            f, i, d = parse_task(r["task"])
            if (d, b) not in cells or seeds.get((r["task"], b, e)) != int(r["seed"]):
                if (d, b) in cells and (r["task"], b, e) in seeds:
                    stale += 1  # a seed the current library TSV does not give this episode
                continue
            if r["resolution"]:
                resolution[r["task"]] = float(r["resolution"])
            regret[(d, b)][r["optimizer"]][(f, i, e)] = floor(r["task"], r["regret"])
            if r.get("aocc"):
                aocc[(d, b)][r["optimizer"]][(f, i, e)] = float(r["aocc"])
    for cell in sorted(cells):
        for o in optimizers:
            if regret[cell].get(o):
                columns[cell].append(o)
        for r in library[cell]:
            f, i, d = parse_task(r["task"])
            if r["mechanism"] not in columns[cell]:
                columns[cell].append(r["mechanism"])
            regret[cell][r["mechanism"]][(f, i, int(r["episode"]))] = floor(r["task"], r["regret"])
            if r.get("aocc") and r["aocc"] != "NaN":
                aocc[cell][r["mechanism"]][(f, i, int(r["episode"]))] = float(r["aocc"])

    def med(cell, column, f, keys=None):
        vals = [v for (ff, i, e), v in regret[cell][column].items() if ff == f and (keys is None or (i, e) in keys)]
        return median(vals) if vals else None

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        cpu += f", {os.cpu_count()} cores"
    except OSError:
        pass
    out = ["# BBOB peers\n",
           f"`{shlex.join(['python3', 'benches/bbob_peers.py'] + sys.argv[1:])}`\n",
           f"{when}; {cpu}; {'; '.join(versions)}; this invocation {time.time() - started:.0f} s wall.\n"]
    grids = [f"library and {', '.join(o for o in optimizers if grid[o] is main_grid) or 'no optimizer'}: "
             f"dims {args.dims}, functions {args.functions}, instances {args.instances}, budgets {args.budgets}"]
    if "optuna-gp" in optimizers:
        grids.append(f"optuna-gp: dims {args.gp_dims}, functions {args.gp_functions or args.functions}, "
                     f"instances {args.gp_instances}, budgets {args.gp_budgets}")
    out.append(f"Grid: {'; '.join(grids)}; {args.seeds} episode(s) per task.\n")
    if any(missing.values()):
        out.append("**A partial report (--report-only): episodes of the grid not run yet: "
                   + ", ".join(f"{o} {n}" for o, n in missing.items() if n)
                   + ".** Cells without them are left out of the tables and the pairs.\n")
    if stale:
        out.append(f"**{stale} rows of {episodes_tsv} have seeds the library TSVs no longer give; they are left "
                   "out** (the library was rerun on another task list or binary).\n")

    # wall time per part, from every invocation that wrote to this folder
    if os.path.exists(timings_tsv):
        per = defaultdict(lambda: [0.0, 0, 0])
        for r in read_tsv(timings_tsv):
            key = (r["part"], r["dim"], r["budgets"])
            per[key][0] += float(r["seconds"])
            per[key][1] += int(r["episodes"] or 0)
            per[key][2] += int(r["evaluations"] or 0)
        out.append("\nWall time of each part (summed over the invocations that wrote to this folder):\n")
        out.append("| part | dim | budgets | episodes | evaluations | seconds | ms per evaluation |")
        out.append("|---|---|---|---|---|---|---|")
        order = ["library (mech table)"] + OPTIMIZERS
        for (part, d, bs), (sec, n, ev) in sorted(per.items(), key=lambda kv: (
                order.index(kv[0][0]) if kv[0][0] in order else len(order), int(kv[0][1]),
                [int(b) for b in kv[0][2].split(",")])):
            rate = f"{1000 * sec / ev:.2f}" if ev else ""
            out.append(f"| {part} | {d} | {bs} | {n} | {ev or ''} | {sec:.0f} | {rate} |")
        out.append("")

    out.append("\nMedian true regret (best f found minus f_opt, as `task serve`'s `finish` reports it for the "
               "recommended config) over instances and episodes, floored at the task's resolution; group rows are "
               "the median of the functions' medians. Lower is better.\n")
    for cell in sorted(cells):
        d, b = cell
        cols = columns[cell]
        if not cols:
            continue
        fs = sorted({f for c in cols for (f, _, _) in regret[cell][c]})
        out.append(f"\n## d={d}, budget {b}\n")
        out.append("| function | " + " | ".join(cols) + " |")
        out.append("|---|" + "---|" * len(cols))
        meds = {c: {f: med(cell, c, f) for f in fs} for c in cols}
        for f in fs:
            out.append(f"| f{f} | " + " | ".join(fmt(meds[c][f]) for c in cols) + " |")
        for gname, gfs in GROUPS:
            row = []
            for c in cols:
                vals = [meds[c][f] for f in gfs if f in meds[c] and meds[c][f] is not None]
                row.append(fmt(median(vals)) if vals else "–")
            if any(x != "–" for x in row):
                out.append(f"| **{gname}** | " + " | ".join(row) + " |")
        counts = [len(regret[cell][c]) for c in cols]
        if len(set(counts)) > 1:
            out.append("| episodes | " + " | ".join(map(str, counts)) + " |")

    if versus:
        out.append("\n## Versus\n")
        out.append("For each MECH=REF, per dimension and budget and per BBOB function group, over the episodes both "
                   "have: the median over the group's functions of each one's median final regret (lower is better), "
                   "the mean AOCC over the episodes (area over the convergence curve of the best-so-far regret on a "
                   "log scale clipped to [1e-8, 1e2], as IOHprofiler and LLaMEA report it; higher is better), and "
                   "whether MECH wins the group in both.\n")
    for mech, ref in versus:
        for cell in sorted(cells):
            if mech not in regret[cell] or ref not in regret[cell]:
                continue
            d, b = cell
            out.append(f"\n### {mech} against {ref}, d={d}, budget {b}\n")
            out.append(f"| group | functions | episodes | median regret {mech} | median regret {ref} | "
                       f"mean AOCC {mech} | mean AOCC {ref} | {mech} wins both |")
            out.append("|---|---|---|---|---|---|---|---|")
            won = played = 0
            for gname, gfs in GROUPS:
                keys = {k for k in regret[cell][mech] if k[0] in gfs} & {k for k in regret[cell][ref] if k[0] in gfs}
                if not keys:
                    continue
                fs = sorted({k[0] for k in keys})
                mm = median([median([regret[cell][mech][k] for k in keys if k[0] == f]) for f in fs])
                rm = median([median([regret[cell][ref][k] for k in keys if k[0] == f]) for f in fs])
                ma = [aocc[cell][mech][k] for k in keys if k in aocc[cell][mech]]
                ra = [aocc[cell][ref][k] for k in keys if k in aocc[cell][ref]]
                both = len(ma) == len(ra) == len(keys)
                ma_mean = sum(ma) / len(ma) if both else None
                ra_mean = sum(ra) / len(ra) if both else None
                wins = both and mm < rm and ma_mean > ra_mean
                played += 1
                won += wins
                out.append(f"| {gname} | {' '.join(f'f{f}' for f in fs)} | {len(keys)} | {fmt(mm)} | {fmt(rm)} | "
                           f"{fmt(ma_mean)} | {fmt(ra_mean)} | {'yes' if wins else 'no'} |")
            out.append(f"\n{mech} wins {won} of {played} groups in both final regret and AOCC.")
    if pairs:
        out.append("\n## Parity\n")
        out.append(f"For each pair MECH=REF: median(MECH) / median(REF) per (function, dim, budget) cell, over the "
                   f"episodes both have (regrets floored at the task's resolution first). A cell is within when the "
                   f"ratio is at most {WITHIN} (MECH better or at most {100 * (WITHIN - 1):.0f}% worse).\n")
    for mech, ref in pairs:
        ratios = {}  # (f, d, b) -> (ratio, median mech, median ref, episodes)
        for cell in sorted(cells):
            if mech not in regret[cell] or ref not in regret[cell]:
                continue
            for f in sorted({f for (f, _, _) in regret[cell][ref]}):
                keys = ({(i, e) for (ff, i, e) in regret[cell][mech] if ff == f}
                        & {(i, e) for (ff, i, e) in regret[cell][ref] if ff == f})
                if not keys:
                    continue
                m, r = med(cell, mech, f, keys), med(cell, ref, f, keys)
                ratios[(f, *cell)] = (m / r, m, r, len(keys))
        out.append(f"\n### {mech} = {ref}\n")
        if not ratios:
            out.append(f"No cell has both `{mech}` and `{ref}` (names: optimizers "
                       f"{', '.join(optimizers)}, and the library's mechanisms).\n")
            continue
        within = [k for k, v in ratios.items() if v[0] <= WITHIN]
        geo = math.exp(sum(math.log(v[0]) for v in ratios.values()) / len(ratios))
        out.append(f"**{len(within)} of {len(ratios)} cells within {WITHIN}x**; geometric mean ratio {geo:.3g}, "
                   f"median ratio {median([v[0] for v in ratios.values()]):.3g}.\n")
        pcells = sorted({(d, b) for (_, d, b) in ratios})
        out.append("| function | " + " | ".join(f"d{d} b{b}" for d, b in pcells) + " |")
        out.append("|---|" + "---|" * len(pcells))
        for f in sorted({f for (f, _, _) in ratios}):
            row = []
            for d, b in pcells:
                v = ratios.get((f, d, b))
                row.append("–" if v is None else (f"{v[0]:.3g}" if v[0] <= WITHIN else f"**{v[0]:.3g}**"))
            out.append(f"| f{f} | " + " | ".join(row) + " |")
        outside = sorted(((k, v) for k, v in ratios.items() if v[0] > WITHIN), key=lambda kv: -kv[1][0])
        if outside:
            out.append(f"\nCells outside {WITHIN}x (worst first): median {mech} / median {ref} over the episodes:\n")
            for (f, d, b), (ratio, m, r, n) in outside:
                out.append(f"- f{f} d{d} b{b}: {ratio:.3g}x ({fmt(m)} / {fmt(r)}, {n} episodes)")
        else:
            out.append(f"\nNo cell outside {WITHIN}x.")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
