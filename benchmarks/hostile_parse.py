"""How long optlab takes to refuse hostile config input (issue #14), against loading a normal
config in the same run: every file of tests/hostile/ that fails at parsing or validation, and the
generated cases of tests/test_hostile_input.py that cannot be files in git.

    python benchmarks/hostile_parse.py

Prints one line per case: milliseconds to the ConfigError (best of 3) and the ratio to loading
configs/quickstart.yaml. Before issue #14 the alias bomb took 34 s and 3 GB; 20 000 brackets and a
5 000-digit integer ended in raw exceptions; a FIFO or /dev/zero hung.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from optlab.config.loading import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent
BASE = (ROOT / "tests" / "hostile" / "seed_true.yaml").read_text().replace("seed: true", "seed: 0")


def best_ms(path: Path, overrides: list[str] = ()) -> tuple[float, str]:
    times, outcome = [], "loaded"
    for _ in range(3):
        start = time.perf_counter()
        try:
            load_config(path, list(overrides))
        except ConfigError as exc:
            outcome = exc.problems[0].message[:60]
        times.append(time.perf_counter() - start)
    return 1000 * min(times), outcome


def generated(folder: Path) -> list[tuple[str, Path, list[str]]]:
    cases = []
    for name, text in (("20 000 nested brackets", BASE.replace("hidden: [16]", "hidden: " + "[" * 20000 + "]" * 20000)),
                       ("30 000 values in one list", BASE + "extra: [" + ",".join(["1"] * 30000) + "]\n"),
                       ("a 5 000-digit integer", BASE.replace("seed: 0", "seed: " + "9" * 5000))):
        path = folder / (name.replace(" ", "_") + ".yaml")
        path.write_text(text)
        cases.append((name, path, []))
    fifo = folder / "fifo.yaml"
    os.mkfifo(fifo)
    zero = folder / "zero.yaml"
    zero.symlink_to("/dev/zero")
    cases += [("a FIFO", fifo, []), ("a link to /dev/zero", zero, []),
              ("a 300-character name", folder / ("c" * 300 + ".yaml"), [])]
    return cases


def main() -> None:
    reference, _ = best_ms(ROOT / "configs" / "quickstart.yaml")
    print(f"reference: configs/quickstart.yaml loads in {reference:.2f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        cases = [(p.name, p, []) for p in sorted((ROOT / "tests" / "hostile").glob("*.yaml"))]
        cases += generated(Path(tmp))
        for name, path, overrides in cases:
            ms, outcome = best_ms(path, overrides)
            print(f"{ms:8.2f} ms  {ms / reference:6.1f} x  {name:32s} {outcome}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
