"""Evolved search mechanisms as optimizers for your own code.

A thin client of the ``outerloop`` binary: ``Optimizer`` runs a mechanism (a library
name such as ``"lib:cma-es"`` or a genome file an evolution run produced) with
``outerloop mech serve`` and hands you its trials with ``ask()``; you run each one
however you like and report it with ``tell()``. The same mechanism, space and seed give
exactly the trials ``outerloop mech run`` gives on a task with that space.

    from outerloop import Optimizer

    space = {"lr": {"log": [1e-4, 1e-1]}, "layers": {"integer": [1, 4]}, "act": ["relu", "tanh"]}
    with Optimizer("lib:cma-es", space, budget=30, seed=0, fidelities=[0.25, 1.0]) as opt:
        while (trial := opt.ask()) is not None:
            score = train(trial.config, trial.fidelity, trial.seed)
            opt.tell(trial, score)
        print(opt.best)

``outerloop.optuna_sampler.OuterloopSampler`` is the same thing as an Optuna sampler.

The binary is found through ``OUTERLOOP_BIN``, then ``outerloop`` on ``PATH``, then a
``target/release/outerloop`` of the repository this package was installed from in
editable mode.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

__all__ = ["Optimizer", "Trial", "OuterloopError", "find_binary", "PROTOCOL"]

#: The protocol this client speaks (``outerloop mech serve``'s hello line).
PROTOCOL = "outerloop-mech/1"


class OuterloopError(RuntimeError):
    """The binary could not be found or started, or refused a request."""


@dataclass(frozen=True)
class Trial:
    """A trial the mechanism asks for."""

    #: Its index in the episode.
    number: int
    #: Knob values by name (categories by name, integers as ``int``).
    config: Dict[str, Any]
    #: The budget fraction to run it at: one of the fidelity levels.
    fidelity: float
    #: The seed to run it with (what ``mech run`` would hand the task).
    seed: int


def find_binary(binary: Optional[Union[str, os.PathLike]] = None) -> str:
    """The ``outerloop`` executable to run."""
    candidates = [binary, os.environ.get("OUTERLOOP_BIN"), shutil.which("outerloop")]
    repo = Path(__file__).resolve().parents[2] / "target" / "release" / "outerloop"
    candidates.append(str(repo))
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return str(c)
    raise OuterloopError(
        "the outerloop binary was not found: build it (cargo build --release) and set "
        "OUTERLOOP_BIN to its path, or put it on PATH (cargo install --path .)"
    )


SpaceLike = Union[Dict[str, Any], str, os.PathLike]


class Optimizer:
    """One episode of a mechanism over your search space, driven by ask and tell.

    ``space`` is a dict of knobs in outerloop's syntax (``{"log": [lo, hi]}``,
    ``{"linear": [lo, hi]}``, ``{"integer": [lo, hi]}``, a list of numbers for an ordinal
    knob, a list of names for a categorical one) or the path of a TOML file with a
    ``[space]`` table (a ``cmd:`` task's spec: its fidelities and failure score are then
    taken from it). ``budget`` counts full trials: a trial at fidelity 0.25 costs 0.25.
    """

    def __init__(
        self,
        mechanism: str,
        space: SpaceLike,
        budget: float,
        seed: int = 0,
        fidelities: Sequence[float] = (1.0,),
        failure_score: Optional[float] = None,
        binary: Optional[Union[str, os.PathLike]] = None,
    ) -> None:
        command = [find_binary(binary), "-q", "mech", "serve", str(mechanism), "--budget", repr(float(budget)),
                   "--seed", str(int(seed))]
        if isinstance(space, (str, os.PathLike)):
            command += ["--space", str(space)]
        else:
            command += ["--space-json", json.dumps(space), "--fidelities", ",".join(repr(float(f)) for f in fidelities)]
            if failure_score is not None:
                command += ["--failure-score", repr(float(failure_score))]
        self._proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        hello = self._proc.stdout.readline()
        if not hello:
            err = self._proc.stderr.read().strip()
            self._proc.wait()
            for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
                stream.close()
            raise OuterloopError(err or f"`{' '.join(command)}` exited with {self._proc.returncode}")
        self.hello: Dict[str, Any] = json.loads(hello)
        if self.hello.get("hello") != PROTOCOL:
            raise OuterloopError(f"the binary speaks {self.hello.get('hello')!r}, this package {PROTOCOL!r}")
        #: The space as the binary read it: one dict per knob, in the order of trials' configs.
        self.space: List[Dict[str, Any]] = self.hello["space"]
        #: The fidelity levels.
        self.fidelities: List[float] = self.hello["fidelities"]
        self._out: Optional[Trial] = None
        self._done: Optional[Dict[str, Any]] = None

    def _request(self, message: Dict[str, Any]) -> Dict[str, Any]:
        if self._proc.poll() is not None:
            raise OuterloopError(f"the outerloop process has ended: {self._proc.stderr.read().strip()}")
        self._proc.stdin.write(json.dumps(message) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise OuterloopError(f"the outerloop process ended: {self._proc.stderr.read().strip()}")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise OuterloopError(reply.get("error", "refused"))
        return reply

    def ask(self) -> Optional[Trial]:
        """The next trial, or ``None`` once the budget is spent (then see ``best``)."""
        if self._done is not None:
            return None
        reply = self._request({"op": "ask"})
        if reply.get("done"):
            self._done = reply
            return None
        self._out = Trial(reply["trial"], reply["config"], reply["fidelity"], reply["seed"])
        return self._out

    def tell(
        self,
        trial: Union[Trial, int],
        score: Optional[float] = None,
        *,
        curve: Optional[Sequence[Tuple[float, float]]] = None,
        cost: Optional[float] = None,
        status: str = "ok",
    ) -> None:
        """Report a trial: its score (lower is better), optionally the scores at lower
        fidelities on the way (``curve``), the compute spent as a fraction of a full trial
        (``cost``), and a ``status`` other than ``"ok"`` for a failed trial
        (``"crashed"``, ``"diverged"``, ``"invalid"``), which needs no score."""
        number = trial.number if isinstance(trial, Trial) else int(trial)
        message: Dict[str, Any] = {"op": "tell", "trial": number, "status": status}
        if score is not None:
            score = float(score)
            if not math.isfinite(score):
                if status == "ok":
                    raise ValueError("a successful trial's score must be finite; tell status='crashed' instead")
            else:
                message["score"] = score
        if curve is not None:
            message["curve"] = [[float(f), float(s)] for f, s in curve]
        if cost is not None:
            message["cost"] = float(cost)
        self._request(message)
        self._out = None

    @property
    def done(self) -> bool:
        """Whether the budget is spent."""
        return self._done is not None

    @property
    def best(self) -> Optional[Dict[str, Any]]:
        """The mechanism's recommendation once done: ``{"trial", "config", "score"}``."""
        return None if self._done is None else self._done.get("best")

    def close(self) -> None:
        """Stop the binary (an unfinished episode is abandoned)."""
        if self._proc.poll() is None:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> "Optimizer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
