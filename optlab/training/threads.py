"""How many threads the math library (BLAS) uses while optlab trains: one, unless the user says.

Two measured reasons (docs/performance.md):

- Speed. A mini-batch step of the seeds' networks multiplies small matrices (128 x 784 by
  784 x 100 is the largest in the MNIST MLP): each product takes tens to a few hundred
  microseconds, about what it costs to wake BLAS worker threads and share the work out. When the
  machine's other cores are busy (other processes, a comparison's other workers) a woken thread
  waits for a time slice, and the product waits with it: on the shared 2-core machine two
  threads made each of these products take 8 ms instead of 0.05-0.3 ms, and a step 3-10 times
  slower. One thread never waits for another.
- Reproducibility (docs/conventions.md, "Randomness": the same numbers alone, in a comparison or in a
  parallel worker). OpenBLAS's float32 products give different roundings with one thread and
  with two (up to ~1e-4 on these shapes; float64 ones agreed), and a comparison's workers run one
  thread each (optlab.studies.executor). A run alone on one thread computes exactly what it computes in
  a worker.

The user's choice wins: with ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` or
``BLIS_NUM_THREADS`` set, optlab leaves the thread count alone (large full-batch products on an
idle many-core machine can gain from more threads; such a run then matches only runs made with
the same setting). :func:`optlab.training.run.run` trains (steps and evaluations) inside
``limited(run_threads())``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

USER_SETTINGS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")

_controller: list = []    # one threadpoolctl controller, made on first use (it scans loaded libraries)


def user_has_chosen() -> bool:
    return any(os.environ.get(name) for name in USER_SETTINGS)


def run_threads() -> int | None:
    """BLAS threads for a training run: 1, or None (leave it) when the user has set a count."""
    return None if user_has_chosen() else 1


@contextmanager
def limited(threads: int | None) -> Iterator[None]:
    """BLAS limited to ``threads`` inside the block; None changes nothing."""
    if threads is None:
        yield
        return
    if not _controller:
        from threadpoolctl import ThreadpoolController

        _controller.append(ThreadpoolController())
    with _controller[0].limit(limits=threads, user_api="blas"):
        yield
