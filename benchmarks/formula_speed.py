"""Benchmark: the optimizers' rules written as formulas (optlab.engine.formula) against the same
rules written by hand as ``np.multiply(..., out=scratch)`` calls (the code before issue #13).

Both run here, in interleaved rounds, on one buffer of the MNIST MLP's size (110 000 float32
parameters, what ``update`` hands ``step`` on the whole-buffer path) and on a 2-element buffer
(where the arithmetic is nothing, so the difference is the Python cost of building and looking up
the formulas). Each update is timed alone; the table gives medians and the extra time of the
formulas as a share of the hand-written update. Both give the same bits (checked here too).

    python benchmarks/formula_speed.py                  # ~1 min; --rounds N, --size N

Not a test: timings depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from optlab.engine.optimizers import OPTIMIZERS


def by_hand(opt, W, g, **state):
    """The six rules as they were written before the formulas (the reference), bit for bit the same."""
    name = type(opt).__name__
    if name == "SGD":
        tmp, = opt.scratch(W, 1)
        W -= np.multiply(opt.lr, g, out=tmp)
    elif name == "Momentum":
        v, = state.values()
        tmp, = opt.scratch(W, 1)
        v *= opt.momentum; v -= np.multiply(opt.lr, g, out=tmp)
        W += v
    elif name == "Nesterov":
        v, = state.values()
        mu = opt.momentum
        v_prev, tmp = opt.scratch(W, 2)
        np.copyto(v_prev, v)
        v *= mu; v -= np.multiply(opt.lr, g, out=tmp)
        W += np.add(np.multiply(-mu, v_prev, out=v_prev), np.multiply(1 + mu, v, out=tmp), out=tmp)
    elif name == "AdaGrad":
        h, = state.values()
        a, b = opt.scratch(W, 2)
        h += np.multiply(g, g, out=a)
        W -= np.divide(np.multiply(opt.lr, g, out=a), np.add(np.sqrt(h, out=b), opt.eps, out=b), out=a)
    elif name == "RMSprop":
        h, = state.values()
        a, b = opt.scratch(W, 2)
        h *= opt.decay; h += np.multiply(np.multiply(1 - opt.decay, g, out=a), g, out=a)
        W -= np.divide(np.multiply(opt.lr, g, out=a), np.add(np.sqrt(h, out=b), opt.eps, out=b), out=a)
    else:
        m, v = state["m"], state["v"]
        a, b = opt.scratch(W, 2)
        m *= opt.beta1; m += np.multiply(1 - opt.beta1, g, out=a)
        v *= opt.beta2; v += np.multiply(np.multiply(1 - opt.beta2, g, out=a), g, out=a)
        m_hat = np.divide(m, 1 - opt.beta1 ** opt.t, out=a)
        v_hat = np.divide(v, 1 - opt.beta2 ** opt.t, out=b)
        W -= np.divide(np.multiply(opt.lr, m_hat, out=a), np.add(np.sqrt(v_hat, out=b), opt.eps, out=b), out=a)


def setup(name: str, size: int):
    rng = np.random.default_rng(0)
    opt = OPTIMIZERS[name]()
    W = rng.standard_normal(size).astype(np.float32)
    g = (rng.standard_normal(size) * 0.01).astype(np.float32)
    state = {slot: np.zeros_like(W) for slot in opt.slots}
    return opt, W, g, state


def measure(name: str, size: int, rounds: int, per_round: int = 20) -> dict[str, float]:
    ways = {"by hand": (by_hand, setup(name, size)), "formula": (None, setup(name, size))}
    times: dict[str, list[float]] = {way: [] for way in ways}
    for r in range(rounds):
        for way in (list(ways) if r % 2 == 0 else list(ways)[::-1]):
            step, (opt, W, g, state) = ways[way]
            run = step or (lambda opt, W, g, **state: opt.step(W, g, **state))
            for _ in range(per_round):
                opt.t += 1
                t0 = time.perf_counter()
                run(opt, W, g, **state)
                times[way].append(time.perf_counter() - t0)
    (_, (_, W1, _, s1)), (_, (_, W2, _, s2)) = ways.values()
    assert np.array_equal(W1, W2) and all(np.array_equal(s1[k], s2[k]) for k in s1), f"{name}: not the same bits"
    return {way: float(np.median(t)) * 1e6 for way, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--size", type=int, default=110_000)
    args = parser.parse_args()
    for size in (args.size, 2):
        print(f"{size} float32 parameters, median µs per update ({args.rounds} interleaved rounds of 20):")
        print(f"  {'optimizer':10s} {'by hand':>9s} {'formula':>9s} {'extra':>8s} {'extra %':>8s}")
        for name in OPTIMIZERS:
            t = measure(name, size, args.rounds)
            extra = t["formula"] - t["by hand"]
            print(f"  {name:10s} {t['by hand']:9.1f} {t['formula']:9.1f} {extra:+8.1f} {100 * extra / t['by hand']:+7.1f}%")


if __name__ == "__main__":
    main()
