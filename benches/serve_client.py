"""The client side of `outerloop task serve` for the bench scripts (`peers.py`,
`bbob_peers.py`, `pycma_ablation.py`): one server process per (task, budget), and the
budget bookkeeping of one episode on it. A server that dies or a request it refuses ends
the script with exit code 2 and the reason.
"""

import json
import math
import os
import subprocess
import sys

HUGE = 1.7976931348623157e308  # what the server reports for a non-finite score


def die(message):
    print(f"{os.path.basename(sys.argv[0])}: {message}", file=sys.stderr)
    sys.exit(2)


def number(x):
    """A score or curve value as a float (the server writes non-finite values as null)."""
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else HUGE


class Task:
    """One `outerloop task serve TASK --budget B` process, kept for every optimizer and episode."""

    def __init__(self, binary, name, budget):
        self.name = name
        self.budget = budget
        self.proc = subprocess.Popen(
            [binary, "task", "serve", name, "--budget", repr(budget)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        line = self.proc.stdout.readline()
        if not line:
            die(f"`{binary} task serve {name}` printed no hello line (is the task name right?)")
        self.hello = json.loads(line)
        self.space = self.hello["space"]
        self.dim = len(self.space)
        self.levels = self.hello["fidelities"]
        self.full_cost = self.hello["full_cost"]
        self.resolution = self.hello["resolution"]

    def ask(self, request):
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            die(f"`task serve {self.name}` exited (code {self.proc.poll()}) on {json.dumps(request)}")
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


class Episode:
    """Budget bookkeeping of one episode (reset with its seed) on a served task."""

    def __init__(self, task, seed):
        self.task = task
        reply = task.ask({"op": "reset", "seed": seed})
        if not reply.get("ok"):
            die(f"{task.name}: reset failed: {reply}")
        self.remaining = reply["budget"]

    def can_afford(self, level=0):
        # The server lowers the level of a last trial that no longer fits, down to `level`.
        return self.remaining + 1e-9 >= self.task.levels[level] * self.task.full_cost

    def eval(self, fidelity=1.0, config=None, unit=None):
        """One trial of `config` (knob values) or `unit` (a point of the unit cube); the
        reply, or None once the budget cannot pay even the cheapest level."""
        request = {"op": "eval", "fidelity": fidelity}
        if unit is not None:
            request["unit"] = unit
        else:
            request["config"] = config
        reply = self.task.ask(request)
        if not reply.get("ok"):
            if "budget exhausted" in str(reply.get("error")):
                self.remaining = 0.0
                return None
            die(f"{self.task.name}: eval failed: {reply.get('error')} (request {json.dumps(request)})")
        self.remaining = reply["remaining"]
        return reply

    def finish(self):
        reply = self.task.ask({"op": "finish"})
        if not reply.get("ok"):
            die(f"{self.task.name}: finish failed: {reply}")
        return reply
