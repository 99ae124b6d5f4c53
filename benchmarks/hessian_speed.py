"""How long the spectral density of the MNIST MLP 784-128-10 takes on 1 000 examples with 100 Lanczos
steps (one SLQ run, what ``optlab hessian`` computes per run), beside 100 gradients of the same
objective on the same examples (the floor: an exact Hessian-vector product costs about one to two
gradients) and 100 finite-difference products (two gradients each), measured in one run; and how
far the finite-difference product is from the exact one (on a ReLU network the default step
crosses kinks: the exact product is the one to trust, docs/hessian.md).

Run: ``OPTLAB_DATA_DIR=<folder with mnist/> python benchmarks/hessian_speed.py [--repeats 3]``.

The network is 784-128-10 ReLU in float64 (what ``optlab hessian`` builds) at its initial weights
(the cost does not depend on the values). Threads: what ``optlab hessian`` uses (one BLAS thread
unless OMP_NUM_THREADS or OPENBLAS_NUM_THREADS is set). The best of ``--repeats`` is printed, wall
and CPU time, with the load average. Not a test; timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def timed(fn, repeats: int) -> tuple[float, float]:
    best = (np.inf, np.inf)
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - w0, time.process_time() - c0))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from optlab.config.loading import load_config
    from optlab.engine import spectrum
    from optlab.engine.hessian import hessian_operator
    from optlab.training.curvature import hessian_vector_operator, objective_gradient
    from optlab.training.setup import build_setup, train_eval_split
    from optlab.training.threads import limited, run_threads

    cfg = load_config(REPO / "configs" / "mnist_mlp.yaml", ["model.hidden=[128]", "train.dtype=float64"])
    setup = build_setup(cfg)
    model, data = setup.model, setup.data
    split = train_eval_split(cfg, data).take(slice(0, args.examples))
    x, y = data.features(split.x, np.float64), split.y
    n, k = model.n_params(), args.steps
    with limited(run_threads()):
        op, method = hessian_vector_operator(model, setup.loss_fn, setup.penalty, x, y)
        grad = objective_gradient(model, setup.loss_fn, setup.penalty, x, y)
        w = model.flat_params.copy()
        fd = hessian_operator(grad, w)
        v = np.random.default_rng(0).standard_normal(n)
        rows = {
            f"SLQ density, 1 run x {k} Lanczos steps ({method} HVPs)":
                timed(lambda: spectrum.slq(op, n, 1, k, np.random.default_rng(1)), args.repeats),
            f"{k} exact HVPs alone": timed(lambda: [op(v) for _ in range(k)], args.repeats),
            f"{k} gradients": timed(lambda: [grad(w) for _ in range(k)], args.repeats),
            f"{k} finite-difference HVPs": timed(lambda: [fd(v) for _ in range(k)], args.repeats),
        }
        exact, approx, tiny = op(v), fd(v), hessian_operator(grad, w, h=1e-8)(v)
    print(f"MNIST MLP 784-128-10 ReLU, float64, {n:,} parameters, {len(y):,} examples; BLAS threads: "
          f"{run_threads() or 'default'}; load average {os.getloadavg()[0]:.2f}")
    base = rows[f"{k} gradients"][0]
    for name, (wall, cpu) in rows.items():
        print(f"{name:55s} {wall:7.2f} s wall  {cpu:7.2f} s CPU  {wall / base:5.2f} x the gradients")
    # ReLU's kinks: the default step (eps^(1/3) scaled) moves some pre-activations across 0, and
    # the difference quotient of a jumping gradient is no derivative; a step that crosses none agrees
    for label, other in (("default step", approx), ("h = 1e-8", tiny)):
        print(f"exact against finite-difference HVP ({label}): relative difference "
              f"{np.linalg.norm(exact - other) / np.linalg.norm(exact):.1e}")


if __name__ == "__main__":
    main()
