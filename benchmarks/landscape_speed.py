"""How long a 41 x 41 filter-normalised 2-D slice takes on the MNIST MLP over 5 000 examples, against
1 681 plain loss evaluations of the same points, measured in one run.

Run: ``OPTLAB_DATA_DIR=<folder with mnist/> python benchmarks/landscape_speed.py [--plain N]``.

- *batched*: :class:`optlab.engine.landscape.PlaneLoss`, what ``optlab landscape`` uses: the first
  layer's products with the inputs once for the whole plane, then chunks of grid points through
  the later layers with batched matrix products (its construction included in the time);
- *plain*: one ``optlab.training.setup.evaluate`` per point (weights written into the model, a
  full forward pass over the 5 000 examples, loss + penalty), the way a loop over the grid would
  do it. ``--plain N`` times the first N points only and scales to 1 681 (default: all 1 681);

and checks that the two agree at every point timed. The network is configs/mnist_mlp.yaml's
(784-100-100-100-100-10 ReLU, float32) at its initial weights: the cost does not depend on the
values. Wall and CPU (process) time are both printed: on a machine shared with other work the
CPU time is the cost, the wall time what the user waits. Threads: what ``optlab landscape`` uses
(one BLAS thread unless OMP_NUM_THREADS or OPENBLAS_NUM_THREADS is set: optlab.training.threads),
both methods alike. Not a test; timings depend on the machine
and on what else runs on it (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=41)
    parser.add_argument("--examples", type=int, default=5000)
    parser.add_argument("--plain", type=int, default=None, help="plain evaluations timed (default: the whole grid)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads over grid points for the batched slice (default: optlab landscape's, the cores)")
    args = parser.parse_args()
    from optlab.training.threads import limited, run_threads

    with limited(run_threads()):
        measure(args)


def measure(args) -> None:

    from optlab.config.loading import load_config
    from optlab.engine.directions import filter_normalized
    from optlab.engine.landscape import PlaneLoss, grid_coefficients
    from optlab.training.setup import build_setup, evaluate, train_eval_split
    from optlab.studies.landscape import point_threads
    from optlab.training.threads import run_threads

    cfg = load_config(REPO / "configs" / "mnist_mlp.yaml")
    setup = build_setup(cfg)
    model, data, dtype = setup.model, setup.data, setup.dtype
    split = train_eval_split(cfg, data).take(slice(0, args.examples))
    x, y = data.features(split.x, dtype), split.y
    w = model.flat_params.copy()
    rng = np.random.default_rng(0)
    D = np.stack([filter_normalized(model, w, rng), filter_normalized(model, w, rng)])
    axis = np.linspace(-1.0, 1.0, args.grid)
    C = grid_coefficients(axis, axis)
    print(f"MNIST MLP ({model.n_params():,} parameters, {dtype}), {len(y)} examples, grid "
          f"{args.grid} x {args.grid} = {len(C)} points; BLAS threads: {run_threads() or 'as set by the user'}; "
          f"load average {os.getloadavg()[0]:.2f}")
    threads = point_threads(args.threads)

    t0, c0 = time.perf_counter(), time.process_time()
    plane = PlaneLoss(model, setup.loss_fn, setup.penalty, x, y, w, D, threads=threads)
    batched, _ = plane(C)
    t_batched, c_batched = time.perf_counter() - t0, time.process_time() - c0
    one_thread = None
    if threads > 1:   # the same slice on one thread: the threads' gain, and a check that no number moved
        t0 = time.perf_counter()
        one_thread = PlaneLoss(model, setup.loss_fn, setup.penalty, x, y, w, D)(C)[0]
        t_one = time.perf_counter() - t0
        assert np.array_equal(one_thread, batched), "threads changed the slice's numbers"

    n_plain = len(C) if args.plain is None else min(args.plain, len(C))
    picks = np.linspace(0, len(C) - 1, n_plain).round().astype(int)
    plain = np.empty(n_plain)
    t0, c0 = time.perf_counter(), time.process_time()
    for i, k in enumerate(picks):
        model.flat_params[...] = w + (C[k] @ D).astype(dtype)
        plain[i], _ = evaluate(model, setup.loss_fn, setup.penalty, data, split, dtype)
    t_plain = (time.perf_counter() - t0) * len(C) / n_plain
    c_plain = (time.process_time() - c0) * len(C) / n_plain
    model.flat_params[...] = w

    worst = float(np.max(np.abs(plain - batched[picks]) / np.abs(plain)))
    scaled = "" if n_plain == len(C) else f" (timed {n_plain}, scaled to {len(C)})"
    print(f"batched (optlab landscape):      {t_batched:8.2f} s wall, {c_batched:8.2f} s CPU   "
          f"(chunks of {plane.chunk} points, {threads} thread{'s' * (threads > 1)} over points)")
    if one_thread is not None:
        print(f"batched on one thread:           {t_one:8.2f} s wall   ({t_one / t_batched:.2f} x the threads' wall; "
              "identical numbers)")
    print(f"plain, one evaluate() per point: {t_plain:8.2f} s wall, {c_plain:8.2f} s CPU{scaled}")
    print(f"speed-up: {t_plain / t_batched:.1f} x wall, {c_plain / c_batched:.1f} x CPU; "
          f"largest relative difference of the losses: {worst:.2e}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    cores_share_vector_units()


SGEMM_LOOP = """
import sys, time, numpy as np
from threadpoolctl import threadpool_limits
a = np.ones((5000, 100), np.float32); b = np.ones((100, 100), np.float32); o = np.empty((5000, 100), np.float32)
with threadpool_limits(1, user_api="blas"):
    t = time.perf_counter()
    for _ in range(400):
        np.matmul(a, b, out=o)
    print(time.perf_counter() - t)
"""


def cores_share_vector_units() -> None:
    """What threads over points can gain here: 400 products of a point's size (5 000 x 100 x 100,
    float32, one BLAS thread) in one process alone, then in two processes at once."""
    import subprocess
    import sys

    def start():
        return subprocess.Popen([sys.executable, "-c", SGEMM_LOOP], stdout=subprocess.PIPE, text=True)

    alone = float(start().communicate()[0])
    pair = [start(), start()]
    both = [float(p.communicate()[0]) for p in pair]
    print(f"400 sgemm of 5000x100x100: {alone:.2f} s alone, {both[0]:.2f} s and {both[1]:.2f} s as two processes "
          f"at once ({max(both) / alone:.2f} x; 1.00 x would be two independent cores)")


if __name__ == "__main__":
    main()
