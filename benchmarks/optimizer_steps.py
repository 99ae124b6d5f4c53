"""``python benchmarks/optimizer_steps.py``: what each optimizer's update costs on the parameters of
the seed-003 MNIST network (784-100-100-100-100-10, float32, 109 386 parameters), beside Adam's,
at one BLAS thread; for Muon also its Newton-Schulz part alone, and for L-BFGS one iteration's
work besides its loss evaluations (the two-loop recursion, m = 10 pairs, fixed step).

The update alone: gradients are fixed random numbers and no data is read, so this is the rule's
own cost (the full step, forward and backward included, is benchmarks/bench.py's). Rounds
interleave the rules, so a change in machine load hits all alike; the table shows the median
over rounds of the median step, and the ratio to Adam's median from the same run. Not a test.
``--json PATH`` writes every number (docs/optimizers.md quotes them).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from optlab.config.loading import loads_config
from optlab.engine.optimizers import build_optimizer, builtin, lookup
from optlab.training.setup import Setup

CONFIG = """\
name: bench
seed: 3
data: {name: blobs, classes: 10, size: 200, val_size: 20, test_size: 20, dims: 784}
model: {name: mlp, hidden: [100, 100, 100, 100], activation: relu, init: he}
loss: cross_entropy
optimizer: {name: NAME}
train: {batch_size: 128, iterations: 1, dtype: float32}
"""
RULES = [name for name in builtin() if name != "lbfgs"]


def model_and_optimizer(name: str):
    config = loads_config(CONFIG.replace("NAME", name))
    model = Setup.from_config(config).model
    model.grads.flat[...] = np.random.default_rng(0).standard_normal(model.grads.flat.size).astype(np.float32) * 1e-3
    return model, build_optimizer(config.optimizer.name, **config.optimizer.hyper)


def time_updates(name: str, steps: int) -> float:
    """Median seconds of one update over ``steps`` updates, after 3 that make state and scratch."""
    model, opt = model_and_optimizer(name)
    for _ in range(3):
        opt.update(model.params, model.grads, model.weight_names)
    samples = []
    for _ in range(steps):
        t0 = time.perf_counter()
        opt.update(model.params, model.grads, model.weight_names)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def time_newton_schulz(steps: int) -> float:
    """Median seconds of Newton-Schulz over every weight matrix of the network, one step's worth."""
    model, opt = model_and_optimizer("muon")
    mats = [g for g in model.grads.values() if g.ndim == 2]
    samples = []
    for _ in range(steps):
        t0 = time.perf_counter()
        for g in mats:
            opt.newton_schulz(g)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def time_lbfgs(steps: int) -> float:
    """Median seconds of an L-BFGS iteration with a free closure (m = 10 pairs, no line search)."""
    model, _ = model_and_optimizer("sgd")
    opt = lookup("lbfgs")(lr=1e-3, tolerance_grad=0.0, tolerance_change=0.0, line_search=0)
    x, g = model.flat_params, model.flat_grads
    rng = np.random.default_rng(1)
    noise = [rng.standard_normal(g.size).astype(g.dtype) for _ in range(4)]

    def closure():   # a gradient that changes, so pairs are kept; its cost is not the rule's
        g[...] = x * 0.5 + noise[opt.t % 4]
        return 0.0
    for _ in range(12):             # fill the memory
        opt.update(model.params, model.grads, closure=closure)
    samples = []
    for _ in range(steps):
        t0 = time.perf_counter()
        opt.update(model.params, model.grads, closure=closure)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    times: dict[str, list[float]] = {}
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(args.rounds):
            for name in RULES:
                times.setdefault(name, []).append(time_updates(name, args.steps))
            times.setdefault("muon: Newton-Schulz", []).append(time_newton_schulz(args.steps))
            times.setdefault("lbfgs: iteration without loss", []).append(time_lbfgs(args.steps))
    medians = {k: statistics.median(v) for k, v in times.items()}
    adam = medians["adam"]
    print(f"{'update':32s} {'median ms':>10s} {'/ adam':>8s}")
    for name, t in medians.items():
        print(f"{name:32s} {1e3 * t:10.3f} {t / adam:8.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": 1, "rounds": args.rounds, "steps": args.steps,
                       "median_s": medians, "ratio_to_adam": {k: v / adam for k, v in medians.items()},
                       "numpy": np.__version__}, f, indent=1)
    assert all(math.isfinite(t) for t in medians.values())


if __name__ == "__main__":
    main()
