"""Tests of the Python package against the real binary (OUTERLOOP_BIN or a built
target/release/outerloop): ask/tell, the Optuna sampler and pruner, and the promise that
the same mechanism, space and seed give the same trials as `outerloop mech run`."""

import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from outerloop import Optimizer, OuterloopError, find_binary

REPO = Path(__file__).resolve().parents[2]
OWN = REPO / "scenarios" / "own"
sys.path.insert(0, str(OWN))
import numpy_mlp  # noqa: E402

SEED, BUDGET = 3, 3.0
# An evolved mechanism (the worked example's champion, scenarios/own/summary-s1.txt) and
# a library one whose fidelity decisions reach Optuna as pruning.
MECHANISMS = [str(OWN / "champion-s1.mech"), "lib:successive-halving"]


def spec_without_cache(folder: Path) -> Path:
    """problem0.toml with the script's absolute path and no cache: every trial runs."""
    text = (OWN / "problem0.toml").read_text()
    text = text.replace('["python3", "numpy_mlp.py"', f'["{sys.executable}", "{OWN / "numpy_mlp.py"}"')
    spec = folder / "problem0.toml"
    spec.write_text("cache = false\n" + text)
    return spec


def command_trials(mech: str, spec: Path, log: Path):
    """The trials `mech run` hands the command, in order: (config, fidelity, seed, score)."""
    if log.exists():
        log.unlink()
    env = dict(os.environ, NUMPY_MLP_LOG=str(log))
    subprocess.run(
        [find_binary(), "mech", "run", mech, "--task", f"cmd:{spec}", "--budget", str(BUDGET), "--seed", str(SEED)],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    return [(r["request"]["config"], r["request"]["fidelity"], r["request"]["seed"], r["result"]["score"]) for r in rows]


def same(a, b):
    """Trials equal: configs compared by value (an ordinal 64.0 is the choice 64)."""
    return len(a) == len(b) and all(
        ca.keys() == cb.keys() and all(ca[k] == cb[k] for k in ca) and (fa, sa, xa) == (fb, sb, xb)
        for (ca, fa, sa, xa), (cb, fb, sb, xb) in zip(a, b)
    )


class AskTell(unittest.TestCase):
    def test_the_same_trials_as_mech_run(self):
        for mech in MECHANISMS:
            with self.subTest(mech=mech), tempfile.TemporaryDirectory() as d:
                spec = spec_without_cache(Path(d))
                expected = command_trials(mech, spec, Path(d) / "log.jsonl")
                self.assertGreaterEqual(len(expected), 3)
                seen = []
                with Optimizer(mech, spec, budget=BUDGET, seed=SEED) as opt:
                    while (trial := opt.ask()) is not None:
                        result = numpy_mlp.train(trial.config, trial.fidelity, trial.seed, 0)
                        seen.append((trial.config, trial.fidelity, trial.seed, result["score"]))
                        opt.tell(trial, result["score"], curve=result["curve"])
                    self.assertTrue(opt.done)
                    self.assertIn("config", opt.best)
                self.assertTrue(same(seen, expected), f"{seen}\n!=\n{expected}")

    def test_misuse_and_bad_spaces_are_clear_errors(self):
        with self.assertRaisesRegex(OuterloopError, "lo < hi"):
            Optimizer("lib:cma-es", {"x": {"linear": [1, 1]}}, budget=5)
        with self.assertRaisesRegex(OuterloopError, "no library mechanism"):
            Optimizer("lib:nope", {"x": {"linear": [0, 1]}}, budget=5)
        with Optimizer("lib:cma-es", {"x": {"linear": [0, 1]}, "c": ["a", "b"]}, budget=3) as opt:
            t = opt.ask()
            with self.assertRaisesRegex(OuterloopError, "still out"):
                opt.ask()
            with self.assertRaisesRegex(OuterloopError, "not trial"):
                opt.tell(t.number + 1, 1.0)
            with self.assertRaises(ValueError):
                opt.tell(t, float("nan"))
            opt.tell(t, status="crashed")
            n = 1
            while (t := opt.ask()) is not None:
                opt.tell(t, (t.config["x"] - 0.3) ** 2 + (t.config["c"] == "b"))
                n += 1
            self.assertEqual(n, 3)


class OptunaSampler(unittest.TestCase):
    def test_an_optuna_study_runs_the_mechanism_with_pruning_as_its_fidelity(self):
        import optuna
        from outerloop.optuna_sampler import FIDELITY_ATTR, SEED_ATTR, OuterloopSampler

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        for mech in MECHANISMS:
            with self.subTest(mech=mech), tempfile.TemporaryDirectory() as d:
                spec = spec_without_cache(Path(d))
                expected = command_trials(mech, spec, Path(d) / "log.jsonl")
                sampler = OuterloopSampler(mech, spec, budget=BUDGET, seed=SEED)
                study = optuna.create_study(sampler=sampler, pruner=sampler.pruner(n_steps=numpy_mlp.EPOCHS))
                seen = []

                def objective(trial):
                    config = {
                        "act": trial.suggest_categorical("act", ["relu", "tanh"]),
                        "batch": trial.suggest_categorical("batch", [16, 32, 64, 128]),
                        "hidden": trial.suggest_int("hidden", 2, 64),
                        "l2": trial.suggest_float("l2", 1e-6, 1e-1, log=True),
                        "lr": trial.suggest_float("lr", 1e-3, 0.5, log=True),
                    }
                    fidelity, seed = trial.user_attrs[FIDELITY_ATTR], trial.user_attrs[SEED_ATTR]

                    def report(epoch, value):
                        trial.report(value, epoch - 1)
                        return trial.should_prune()

                    result = numpy_mlp.train(config, 1.0, seed, 0, report=report)
                    seen.append((config, fidelity, seed, result["score"]))
                    if "pruned_at" in result:
                        raise optuna.TrialPruned()
                    return result["score"]

                study.optimize(objective, n_trials=1000)
                self.assertTrue(same(seen, expected), f"{seen}\n!=\n{expected}")
                self.assertEqual(len(study.trials), len(expected), "the study stops when the budget is spent")
                if mech.startswith("lib:successive-halving"):
                    self.assertTrue(any(t.state == optuna.trial.TrialState.PRUNED for t in study.trials))
                self.assertIsNotNone(sampler.best)

    def test_a_space_of_optuna_distributions_is_the_mechanisms_space(self):
        import optuna
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
        from outerloop.optuna_sampler import OuterloopSampler, space_from_distributions

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        dists = {
            "x": FloatDistribution(-2.0, 2.0),
            "lr": FloatDistribution(1e-4, 1e-1, log=True),
            "n": IntDistribution(1, 5),
            "act": CategoricalDistribution(["relu", "tanh"]),
            "width": CategoricalDistribution([16, 32, 64]),
        }
        self.assertEqual(space_from_distributions(dists)["width"], [16.0, 32.0, 64.0])
        with self.assertRaises(ValueError):
            space_from_distributions({"s": FloatDistribution(0, 1, step=0.1)})
        sampler = OuterloopSampler("lib:tpe-density-ratio", dists, budget=12, seed=4)
        study = optuna.create_study(sampler=sampler)

        def objective(trial):
            p = {name: trial.suggest_float(name, d.low, d.high, log=d.log) if isinstance(d, FloatDistribution)
                 else trial.suggest_int(name, d.low, d.high) if isinstance(d, IntDistribution)
                 else trial.suggest_categorical(name, d.choices) for name, d in dists.items()}
            self.assertIn(p["width"], (16, 32, 64))
            self.assertIsInstance(p["width"], int, "ordinal choices come back as the user's own values")
            return (p["x"] - 0.5) ** 2 + abs(p["n"] - 3) + (p["act"] == "tanh") + p["width"] / 64

        study.optimize(objective, n_trials=1000)
        self.assertEqual(len(study.trials), 12)
        self.assertLess(study.best_value, 2.0)


if __name__ == "__main__":
    unittest.main()
