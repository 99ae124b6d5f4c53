"""How long one full-training-set loss evaluation of random / local search takes, against the bare
matrix product it is made of, measured in the same run.

Run: ``python benchmarks/search_speed.py`` (about 1.5 GB of memory at the default size). The data
is synthetic with CIFAR-10's shape: ``--n`` uint8 rows of 3 072 pixels, 10 classes, a linear SVM
with the bias trick (W is 3 073 x 10), float32. Prints the median of ``--repeat`` rounds, each
round timing every variant once (interleaved, so a busy machine slows them alike):

- the bare product ``X @ W`` on one contiguous float32 X: the reference;
- one loss evaluation alone, ``LossCounter.full``: chunked forward pass + hinge loss on the
  cached float32 features;
- the same without the cache (features converted chunk by chunk at every evaluation), the path
  taken when the float copy would exceed ``optlab.training.budget.CACHE_BYTES``;
- one evaluation inside a block (optlab.training.blocks), per candidate: random search (candidates =
  deltas) and local search (candidates = incumbent + delta, every other one accepted);

and each as a ratio to the bare product, with the projected time of 1 000 evaluations (the
hiker configs' budget). The ratio, not the seconds, is what carries across machines.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=49_000, help="training rows (CIFAR-10 in CS231n's split: 49 000)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from optlab.config.schema import LinearModel
    from optlab.data import Dataset, Split
    from optlab.engine.losses import Hinge
    from optlab.engine.models import build_model
    from optlab.engine.regularizers import Penalty
    from optlab.engine.rng import Streams
    from optlab.training.blocks import BlockEvaluator
    from optlab.training.budget import Examples, LossCounter
    from optlab.training.run import Setup

    rng = np.random.default_rng(0)
    dims, classes, f32 = 3072, 10, np.dtype(np.float32)
    train = Split(rng.integers(0, 256, size=(args.n, dims), dtype=np.uint8), rng.integers(0, classes, args.n))
    empty = Split(train.x[:0], train.y[:0])
    data = Dataset("cifar10-shaped", train, empty, empty, classes)
    model = build_model(LinearModel(name="linear", bias="trick"), dims, classes, rng, f32)
    model.flat_params[...] = 1e-4 * rng.standard_normal(model.n_params())     # CS231n's random draw
    setup = Setup(data, model, Hinge(), Penalty(), f32, Streams(0))

    t0 = time.perf_counter()
    cached = Examples(data, train, f32)
    convert = time.perf_counter() - t0
    assert cached.cached, "raise optlab.training.budget.CACHE_BYTES: the benchmark measures the cached path"
    uncached = Examples(data, train, f32, cache_bytes=0)
    counter = LossCounter(setup)
    blocks = BlockEvaluator(counter, cached)
    X = np.concatenate([x for x, _ in cached])                                   # one contiguous float32 X
    W = model.params["fc1.W"][:-1]
    deltas = 1e-4 * rng.standard_normal((blocks.block, model.n_params())).astype(f32)
    base = model.flat_params.copy()

    def random_block() -> None:
        blocks.set_base(None)
        blocks.load(deltas)
        for j in range(len(deltas)):
            blocks.loss(j)

    def local_block() -> None:
        blocks.set_base(base)
        blocks.load(deltas)
        for j in range(len(deltas)):
            blocks.loss(j)
            if j % 2:
                blocks.accept(j)

    variants = {"product": (lambda: X @ W, 1), "full": (lambda: counter.full(cached), 1),
                "uncached": (lambda: counter.full(uncached), 1), "random block": (random_block, len(deltas)),
                "local block": (local_block, len(deltas))}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeat):
        for name, (fn, per) in variants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) / per)
    t = {name: float(np.median(v)) for name, v in times.items()}
    product = t["product"]
    print(f"data: {args.n} x {dims} uint8 -> float32 ({args.n * dims * 4 / 2**20:.0f} MiB), "
          f"linear SVM {dims + 1} x {classes}, {len(cached.spans)} chunks, blocks of {blocks.block}")
    print(f"convert to cached float32 chunks (once): {convert * 1e3:8.1f} ms")
    print(f"bare product X @ W (contiguous float32): {product * 1e3:8.1f} ms")
    labels = {"full": "one loss evaluation alone, cached", "uncached": "one loss evaluation alone, converting",
              "random block": "one evaluation in a random block", "local block": "one evaluation in a local block"}
    for name, label in labels.items():
        print(f"{label + ':':40s}{t[name] * 1e3:8.1f} ms   ratio {t[name] / product:5.2f} x the product   "
              f"1 000 of them: {t[name] * 1e3:5.0f} s")


if __name__ == "__main__":
    main()
