#!/usr/bin/env python3
"""Where the library's `cma-es` (= pycma's purecma) and pycma part ways on BBOB: the median
regret over instances of purecma and of pycma with each of its extras switched off, on the
same episodes as `benches/bbob_peers.py` plays them (through `outerloop task serve`).

    pip install cma
    python3 benches/pycma_ablation.py [--functions 1,2,5,10] [--dim 5] [--budget 500] \\
        [--instances 1-15] [--binary target/release/outerloop]

Variants: `purecma` (x0 = centre, sigma0 = 0.2, genotypes reflected into [0,1]^d, as the
mechanism does), `pycma` (bounds [0,1]: BoundTransform, active covariance update),
`pycma-noactive` (CMA_active off), `pycma-nobounds` (no bounds, genotypes reflected as
purecma's), `pycma-noactive-nobounds` (both: what is left against purecma is pycma's
strategy constants and step-size rule), `pycma-squared` (CSA_squared: purecma's
squared-norm step-size rule). One episode per instance, seed 1000 + instance; only complete generations are
told; no restarts (the budgets are below the first termination). Prints a Markdown table.
"""

import argparse
import os
import random
import statistics
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bbob_peers  # noqa: E402  (`reflect`, `int_list`)
from serve_client import Episode, Task  # noqa: E402

VARIANTS = ["purecma", "pycma", "pycma-noactive", "pycma-nobounds", "pycma-noactive-nobounds", "pycma-squared"]


def run(binary, variant, f, d, budget, instance):
    import cma
    from cma.more_algorithms import purecma

    server = Task(binary, f"bbob-f{f}-i{instance}-d{d}", budget)
    episode = Episode(server, 1000 + instance)
    reflect = bbob_peers.reflect
    if variant == "purecma":
        es = purecma.CMAES([0.5] * d, 0.2, randn=random.Random(instance).normalvariate)
        stop = es.stop
    else:
        opts = {"seed": instance, "verbose": -9}
        if "nobounds" not in variant:
            opts["bounds"] = [0, 1]
        if "noactive" in variant:
            opts["CMA_active"] = False
        if variant == "pycma-squared":
            opts["CSA_squared"] = True
        es = cma.CMAEvolutionStrategy([0.5] * d, 0.2, opts)
        stop = es.stop
    while episode.can_afford() and not stop():
        xs = es.ask()
        fits = []
        for x in xs:
            unit = [reflect(v) for v in x] if variant == "purecma" or "nobounds" in variant else list(x)
            reply = episode.eval(1.0, unit=unit)
            if reply is None:
                break
            fits.append(reply["score"])
        if len(fits) < len(xs):
            break
        es.tell(xs, fits)
    regret = episode.finish()["regret"]
    server.close()
    return max(regret, 1e-8)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--functions", default="1,2,5,10")
    ap.add_argument("--dim", type=int, default=5)
    ap.add_argument("--budget", type=int, default=500)
    ap.add_argument("--instances", default="1-15")
    ap.add_argument("--binary", default="target/release/outerloop")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    functions = bbob_peers.int_list(args.functions, "functions")
    instances = bbob_peers.int_list(args.instances, "instances")
    print(f"Median regret over instances {args.instances}, d={args.dim}, budget {args.budget}\n")
    print("| function | " + " | ".join(VARIANTS) + " |")
    print("|---|" + "---|" * len(VARIANTS))
    for f in functions:
        cells = [statistics.median(run(args.binary, v, f, args.dim, args.budget, i) for i in instances)
                 for v in VARIANTS]
        print(f"| f{f} | " + " | ".join(f"{c:.3g}" for c in cells) + " |", flush=True)


if __name__ == "__main__":
    main()
