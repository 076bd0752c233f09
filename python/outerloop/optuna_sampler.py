"""An outerloop mechanism as an Optuna sampler, its fidelity decisions as pruning.

    import optuna
    from outerloop.optuna_sampler import OuterloopSampler

    sampler = OuterloopSampler("lib:successive-halving", space, budget=30, seed=0,
                               fidelities=[0.25, 0.5, 1.0])
    study = optuna.create_study(sampler=sampler, pruner=sampler.pruner(n_steps=20))
    study.optimize(objective)          # stops by itself when the budget is spent

Each Optuna trial is one trial the mechanism asks for. Its params come from the
mechanism (the objective's ``trial.suggest_*`` calls must match the space), its
fidelity and seed are in ``trial.user_attrs["outerloop_fidelity"]`` and
``["outerloop_seed"]``. With ``sampler.pruner(n_steps)`` as the study's pruner, a trial
the mechanism wants at fidelity ``f`` is pruned once it has reported step
``round(f * n_steps) - 1``, and its last reported value is what the mechanism is told:
report one value per step (``trial.report(value, step)``, ``trial.should_prune()``) as
with any Optuna pruner. A completed trial tells its value, a failed one a crash.

Trials run one at a time (``n_jobs=1``): a mechanism proposes its next trial from the
results of the previous ones. ``best`` is the mechanism's own recommendation.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from . import Optimizer

__all__ = ["OuterloopSampler", "OuterloopPruner", "space_from_distributions"]

FIDELITY_ATTR = "outerloop_fidelity"
SEED_ATTR = "outerloop_seed"


def space_from_distributions(distributions: Dict[str, BaseDistribution]) -> Dict[str, Any]:
    """Optuna distributions as an outerloop space (steps are not supported)."""
    space: Dict[str, Any] = {}
    for name, d in distributions.items():
        if isinstance(d, FloatDistribution):
            if d.step is not None:
                raise ValueError(f"{name}: a stepped float is an ordinal knob; give its values as a list")
            space[name] = {"log" if d.log else "linear": [d.low, d.high]}
        elif isinstance(d, IntDistribution):
            if d.step != 1 or d.log:
                raise ValueError(f"{name}: only integer ranges with step 1 on a linear scale are supported")
            space[name] = {"integer": [d.low, d.high]}
        elif isinstance(d, CategoricalDistribution):
            choices = list(d.choices)
            if all(isinstance(c, str) for c in choices):
                space[name] = choices
            elif all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in choices):
                space[name] = sorted(float(c) for c in choices)
            else:
                raise ValueError(f"{name}: categorical choices must be all names or all numbers")
        else:
            raise ValueError(f"{name}: unsupported distribution {d!r}")
    return space


def _distributions(knobs: Sequence[Dict[str, Any]]) -> Dict[str, BaseDistribution]:
    """The Optuna distributions of the space the binary read."""
    out: Dict[str, BaseDistribution] = {}
    for k in knobs:
        kind = k["kind"]
        if kind in ("linear", "log"):
            out[k["name"]] = FloatDistribution(k["lo"], k["hi"], log=kind == "log")
        elif kind == "integer":
            out[k["name"]] = IntDistribution(k["lo"], k["hi"])
        elif kind == "ordinal":
            values = [int(v) if float(v).is_integer() else v for v in k["values"]]
            out[k["name"]] = CategoricalDistribution(values)
        else:
            out[k["name"]] = CategoricalDistribution(k["choices"])
    return out


class OuterloopSampler(optuna.samplers.BaseSampler):
    """An Optuna sampler that runs an outerloop mechanism (``"lib:NAME"`` or a genome
    file) over ``space``: a dict in outerloop's syntax, a dict of Optuna distributions,
    or a ``cmd:`` spec file. ``budget`` counts full trials."""

    def __init__(
        self,
        mechanism: str,
        space: Any,
        budget: float,
        seed: int = 0,
        fidelities: Sequence[float] = (1.0,),
        failure_score: Optional[float] = None,
        binary: Optional[str] = None,
    ) -> None:
        if isinstance(space, dict) and space and all(isinstance(v, BaseDistribution) for v in space.values()):
            user: Optional[Dict[str, BaseDistribution]] = dict(space)
            space = space_from_distributions(space)
        else:
            user = None
        self._optimizer = Optimizer(mechanism, space, budget, seed, fidelities, failure_score, binary)
        self._search_space = _distributions(self._optimizer.space)
        if user is not None:
            # Suggest calls then match the user's own distributions (int choices stay int).
            self._search_space.update({k: v for k, v in user.items() if k in self._search_space})
        self._pending: Dict[int, Any] = {}
        self._next = None

    @property
    def optimizer(self) -> Optimizer:
        """The underlying ask/tell optimizer."""
        return self._optimizer

    @property
    def best(self) -> Optional[Dict[str, Any]]:
        """The mechanism's recommendation once its budget is spent."""
        return self._optimizer.best

    def pruner(self, n_steps: int) -> "OuterloopPruner":
        """A pruner that stops each trial at the fidelity the mechanism asked for, a full
        trial being ``n_steps`` reported steps."""
        return OuterloopPruner(n_steps)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> Dict[str, BaseDistribution]:
        return dict(self._search_space)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        ask, self._next = (self._next, None) if self._next is not None else (self._optimizer.ask(), None)
        if ask is None:
            # The budget was spent before the study's first trial: run the recommendation.
            study.stop()
            best = self._optimizer.best or {}
            self._pending[trial._trial_id] = (None, best.get("config", {}))
            return
        for key, value in ((FIDELITY_ATTR, ask.fidelity), (SEED_ATTR, ask.seed)):
            study._storage.set_trial_user_attr(trial._trial_id, key, value)
            # The Trial the objective gets was read from storage just before this call.
            trial.user_attrs[key] = value
        self._pending[trial._trial_id] = (ask, ask.config)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: Dict[str, BaseDistribution]
    ) -> Dict[str, Any]:
        _, config = self._pending.get(trial._trial_id, (None, {}))
        params = {}
        for name, value in config.items():
            d = search_space.get(name)
            if isinstance(d, CategoricalDistribution) and not isinstance(value, str):
                # An ordinal value as the matching choice (64.0 -> 64).
                value = next((c for c in d.choices if c == value), value)
            params[name] = value
        return params

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        raise ValueError(
            f"parameter {param_name!r} with {param_distribution!r} is not in the mechanism's space "
            f"{sorted(self._search_space)}: suggest exactly the space's knobs with matching ranges"
        )

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Optional[Sequence[float]]
    ) -> None:
        ask, _ = self._pending.pop(trial._trial_id, (None, None))
        if ask is None:
            return
        if state == TrialState.COMPLETE and values:
            self._optimizer.tell(ask, values[0])
        elif state == TrialState.PRUNED and trial.intermediate_values:
            last = trial.intermediate_values[max(trial.intermediate_values)]
            if math.isfinite(last):
                self._optimizer.tell(ask, last)
            else:
                self._optimizer.tell(ask, status="diverged")
        else:
            self._optimizer.tell(ask, status="crashed")
        # Ask ahead: when the budget is spent the study stops now, with no extra trial.
        self._next = self._optimizer.ask()
        if self._next is None:
            study.stop()


class OuterloopPruner(optuna.pruners.BasePruner):
    """Prunes a trial once it has reported the step its fidelity reaches:
    ``round(fidelity * n_steps) - 1``. Trials at fidelity 1 are never pruned."""

    def __init__(self, n_steps: int) -> None:
        if n_steps < 1:
            raise ValueError("n_steps is the number of steps of a full trial, at least 1")
        self.n_steps = int(n_steps)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        fidelity = trial.user_attrs.get(FIDELITY_ATTR, 1.0)
        step = trial.last_step
        if step is None or fidelity >= 1.0:
            return False
        return step + 1 >= max(1, round(fidelity * self.n_steps))
