#!/usr/bin/env python3
"""A user's own training run, as outerloop's command objectives see it.

Trains a one-hidden-layer MLP with numpy (minibatch SGD with momentum) on generated
regression data and reports the validation mean squared error. The fidelity is the share
of the 20 epochs a trial may use; the seed fixes the initial weights and the minibatch
order. Which dataset is trained on comes from `--problem N` (each N is its own problem:
another target function of the inputs), so four spec files make four tasks.

As a command (`cmd:<spec>.toml` runs it): reads one JSON line on stdin,
`{"config": {...}, "fidelity": f, "seed": s}`, and prints `{"score": ..., "curve": ...}`
as its last line. As a module: `train(config, fidelity, seed, problem)` returns the same
dictionary, so a Python optimizer can call it directly.
"""

import json
import os
import sys

# One BLAS thread: the same bytes whatever the machine's core count.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

EPOCHS = 20
N_TRAIN, N_VAL, N_INPUTS = 384, 256, 6


def dataset(problem):
    """Inputs and targets of problem `problem`: a smooth nonlinear target plus noise."""
    rng = np.random.default_rng(1000 + problem)
    x = rng.normal(size=(N_TRAIN + N_VAL, N_INPUTS))
    w1, w2 = rng.normal(size=N_INPUTS), rng.normal(size=N_INPUTS) / np.sqrt(N_INPUTS)
    scale = 0.5 + 0.25 * problem
    y = np.sin(scale * x @ w1) + 0.5 * (x @ w2) ** 2 + 0.1 * rng.normal(size=len(x))
    y = (y - y.mean()) / y.std()
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def train(config, fidelity, seed, problem=0, report=None):
    """Train at `fidelity` (a share of the epochs) and return the result line's fields.

    `report(epoch, validation_mse)`, when given, is called after every epoch; if it
    returns True training stops there (an optimizer pruned the trial) and the result is
    that epoch's score."""
    xt, yt, xv, yv = dataset(problem)
    rng = np.random.default_rng(seed % (2**63))
    hidden, batch = int(config["hidden"]), int(config["batch"])
    lr, l2, act = float(config["lr"]), float(config["l2"]), config["act"]
    f = np.tanh if act == "tanh" else (lambda z: np.maximum(z, 0.0))
    df = (lambda a: 1.0 - a * a) if act == "tanh" else (lambda a: (a > 0.0).astype(float))
    w1 = rng.normal(size=(N_INPUTS, hidden)) / np.sqrt(N_INPUTS)
    b1 = np.zeros(hidden)
    w2 = rng.normal(size=hidden) / np.sqrt(hidden)
    b2 = 0.0
    vel = [np.zeros_like(w1), np.zeros_like(b1), np.zeros_like(w2), 0.0]
    epochs = max(1, round(EPOCHS * fidelity))
    curve = []
    with np.errstate(all="ignore"):
        for epoch in range(1, epochs + 1):
            order = rng.permutation(N_TRAIN)
            for start in range(0, N_TRAIN, batch):
                idx = order[start : start + batch]
                a = f(xt[idx] @ w1 + b1)
                err = a @ w2 + b2 - yt[idx]
                g_out = 2.0 * err / len(idx)
                g_w2 = a.T @ g_out + l2 * w2
                g_b2 = g_out.sum()
                g_a = np.outer(g_out, w2) * df(a)
                g_w1 = xt[idx].T @ g_a + l2 * w1
                g_b1 = g_a.sum(axis=0)
                grads = [g_w1, g_b1, g_w2, g_b2]
                vel = [0.9 * v + g for v, g in zip(vel, grads)]
                w1, b1, w2, b2 = w1 - lr * vel[0], b1 - lr * vel[1], w2 - lr * vel[2], b2 - lr * vel[3]
            val = float(np.mean((f(xv @ w1 + b1) @ w2 + b2 - yv) ** 2))
            if not np.isfinite(val) or val > 1e6:
                return {"status": "diverged"}
            if report is not None and report(epoch, val):
                return {"score": val, "curve": curve, "pruned_at": epoch}
            share = epoch / EPOCHS
            if epoch < epochs and any(abs(share - level) < 1e-9 for level in (0.25, 0.5)):
                curve.append([share, val])
    return {"score": val, "curve": curve}


def main():
    problem = 0
    for arg in sys.argv[1:]:
        if arg.startswith("--problem="):
            problem = int(arg.split("=", 1)[1])
    request = json.loads(sys.stdin.readline())
    print(f"training problem {problem} at fidelity {request['fidelity']}", file=sys.stderr)
    result = train(request["config"], request["fidelity"], request["seed"], problem)
    log = os.environ.get("NUMPY_MLP_LOG")
    if log:
        # Tests compare the trials a command run saw with those a Python optimizer ran.
        with open(log, "a") as f:
            f.write(json.dumps({"request": request, "result": result}) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
