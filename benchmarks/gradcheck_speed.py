"""How long ``optlab gradcheck`` takes on the built-ins, against one forward+backward of the same parts.

Run: ``python benchmarks/gradcheck_speed.py``. Prints, best of ``--repeat`` runs each:

- the CLI end to end (a fresh ``python -m optlab gradcheck --json`` process: start-up included);
- the built-in suite in process (``optlab.gradcheck.check.gradcheck()``: building the parts + checking);
- one forward+backward of every built-in part (each part's analytic gradient once);

and the ratio of the suite to one forward+backward. A centred check costs two evaluations of f
per element, so the ratio is expected near 2 x (elements checked) x (cost of f / cost of f+grad),
plus the bookkeeping per element (kink signatures, restoring the element).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from optlab.gradcheck.check import gradcheck
    from optlab.gradcheck.parts import builtin_parts

    parts = builtin_parts(np.random.default_rng(0))
    elements = sum(v.size for p in parts for v in p.tensors.values())

    def forward_backward() -> None:
        for p in parts:
            p.gradient()

    cli = best(lambda: subprocess.run([sys.executable, "-m", "optlab", "gradcheck", "--json"], check=True,
                                      stdout=subprocess.DEVNULL), max(1, args.repeat // 2))
    suite = best(gradcheck, args.repeat)
    fb = best(forward_backward, args.repeat * 20)
    print(f"built-in parts: {len(parts)}, elements checked: {elements} (centred: {2 * elements} evaluations of f)")
    print(f"optlab gradcheck (CLI, fresh process):   {cli:8.3f} s")
    print(f"built-in suite in process:               {suite:8.3f} s")
    print(f"one forward+backward of the same parts:  {fb * 1e3:8.3f} ms")
    print(f"ratio suite / forward+backward:          {suite / fb:8.0f} x")


if __name__ == "__main__":
    main()
