"""Honest summaries of a tuning budget and of a time to target, with bootstrap uncertainty.

Expected validation performance (Dodge et al. 2019, "Show Your Work", eq. 1-2): N trials drawn
from a search distribution gave validation accuracies v_1..v_N. The expected best of n trials
drawn from the same distribution is estimated by drawing n of the N results *with replacement*
(the empirical distribution): with the results sorted, v_(1) <= ... <= v_(N),

    E[max of n] = sum_i v_(i) * ((i / N)^n - ((i - 1) / N)^n),

because P(max of n <= v_(i)) = (i / N)^n. :func:`expected_max` is that sum, exact (no sampling;
tests/test_tuning_stats.py checks it against enumerating all N^n draws). A band around the curve
comes from the bootstrap: resample the N results with replacement, recompute the curve, take
percentiles across resamples (:func:`expected_max_band`).

Time to target: per seed, the first evaluated step where validation accuracy reaches the target,
or never (right-censored: the run ended first). :func:`censored_median` treats "never" as +inf,
so a median exists while fewer than half the seeds miss, and the interval's upper end is +inf
when a resample can have a majority of misses; seeds that miss are counted, never dropped.

Randomness comes in as a ``numpy.random.Generator`` (docs/conventions.md, "Randomness").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BOOTSTRAP = 2000      # resamples for every band and interval
LEVEL = 0.95          # their coverage


def expected_max(values, ks=None) -> np.ndarray:
    """Dodge et al.'s expected best of ``k`` trials for k in ``ks`` (default 1..N); shape (len(ks),)."""
    v = np.sort(np.asarray(values, dtype=float))            # (N,) ascending
    n = len(v)
    if n == 0:
        raise ValueError("expected_max needs at least one result")
    ks = np.arange(1, n + 1) if ks is None else np.asarray(ks)
    frac = np.arange(n + 1) / n                             # (N + 1,) i / N for i = 0..N
    weights = frac[None, 1:] ** ks[:, None] - frac[None, :-1] ** ks[:, None]   # (K, N) P(max = v_(i))
    return weights @ v


def expected_max_band(values, rng: np.random.Generator, ks=None, resamples: int = BOOTSTRAP,
                      level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """(low, high): the ``level`` percentile band of :func:`expected_max` over bootstrap resamples."""
    v = np.asarray(values, dtype=float)
    ks = np.arange(1, len(v) + 1) if ks is None else np.asarray(ks)
    draws = rng.integers(len(v), size=(resamples, len(v)))  # (B, N) indices of each resample
    curves = np.stack([expected_max(v[idx], ks) for idx in draws])   # (B, K)
    tail = 100 * (1 - level) / 2
    return np.percentile(curves, tail, axis=0), np.percentile(curves, 100 - tail, axis=0)


@dataclass(frozen=True)
class Budget:
    """A tuning-budget curve: the expected best validation accuracy after k = 1..N trials."""

    label: str
    values: tuple[float, ...]       # each trial's validation accuracy (0 for one that did not complete)
    mean: tuple[float, ...]         # expected_max, k = 1..N
    low: tuple[float, ...]
    high: tuple[float, ...]


def budget_curve(label: str, values: list[float], seed: int = 0) -> Budget:
    """The curve and its band for one optimizer's trials (band seeded: the same files, the same band)."""
    rng = np.random.default_rng(seed)
    mean = expected_max(values)
    low, high = expected_max_band(values, rng)
    return Budget(label, tuple(map(float, values)), tuple(map(float, mean)), tuple(map(float, low)),
                  tuple(map(float, high)))


def censored_median(values) -> float:
    """The median of values where ``inf`` means "never" (right-censored): finite while fewer
    than half are inf (the lower median: an even count takes the smaller middle value)."""
    x = np.sort(np.asarray(values, dtype=float))
    return float(x[(len(x) - 1) // 2])


@dataclass(frozen=True)
class TimeToTarget:
    """Per variant: median over seeds of the steps (examples, seconds) to reach the target, with a
    bootstrap interval over seeds, and how many seeds never reached it."""

    seeds: int
    missed: int                                  # seeds that never reached the target (censored)
    steps: tuple[float, float, float]            # (median, low, high); inf: not reached
    examples: tuple[float, float, float]
    seconds: tuple[float, float, float]

    @property
    def missed_fraction(self) -> float:
        return self.missed / self.seeds if self.seeds else math.nan


def time_to_target(steps: list[int | None], batch: list[int], seconds: list[float | None],
                   rng: np.random.Generator, resamples: int = BOOTSTRAP, level: float = LEVEL) -> TimeToTarget:
    """``steps[s]``: seed s's first step at the target or None (never); ``batch[s]`` its batch
    size; ``seconds[s]`` its wall time at that step. The interval resamples seeds (all three
    measures from the same resamples)."""
    n = len(steps)
    inf = math.inf
    cols = np.array([[inf if s is None else float(s), inf if s is None else float(s) * b,
                      inf if s is None or t is None else float(t)]
                     for s, b, t in zip(steps, batch, seconds)], dtype=float).reshape(n, 3)   # (seeds, 3)
    tail = 100 * (1 - level) / 2
    out = []
    for j in range(3):
        col = cols[:, j]
        if n == 0:
            out.append((inf, inf, inf))
            continue
        idx = rng.integers(n, size=(resamples, n))                               # (B, seeds)
        meds = np.sort(col[idx], axis=1)[:, (n - 1) // 2]                        # (B,) lower medians
        # percentile of values with inf: use order statistics, so an inf end point stays inf
        meds.sort()
        lo = meds[int(math.floor(tail / 100 * (resamples - 1)))]
        hi = meds[int(math.ceil((1 - tail / 100) * (resamples - 1)))]
        out.append((censored_median(col), float(lo), float(hi)))
    missed = sum(s is None for s in steps)
    return TimeToTarget(n, missed, *out)


def trials_to_target(steps: list[int | None], metrics: list[dict], configs: list[dict]) -> TimeToTarget:
    """:func:`time_to_target` from trials' files: each seed's batch size from its config, its
    seconds from metrics.csv's ``time`` at that step (seeded: the same files, the same interval)."""
    batch = [int((c.get("train") or {}).get("batch_size") or 1) for c in configs]
    seconds = []
    for m, s in zip(metrics, steps):
        at = np.flatnonzero(np.asarray(m.get("step", [])) == s) if s is not None and "time" in m else []
        seconds.append(float(m["time"][at[0]]) if len(at) else None)
    return time_to_target(steps, batch, seconds, np.random.default_rng(0))


def interval_text(m: tuple[float, float, float], fmt: str = "{:.0f}") -> str:
    """``median [low, high]``; inf (not reached by the median seed / in the interval) as "never"."""
    def one(x: float) -> str:
        return "never" if math.isinf(x) else fmt.format(x)

    return f"{one(m[0])} [{one(m[1])}, {one(m[2])}]"


def time_to_target_table(target: float, rows: list[tuple[str, TimeToTarget]]):
    """The "Time to target" section of a comparison (results.md and report.html): (title, note,
    headers, rows), or None without seeds."""
    rows = [(label, t) for label, t in rows if t.seeds]
    if not rows:
        return None
    return (f"Time to {100 * target:.1f} % validation accuracy",
            "Median over seeds [95 % bootstrap interval over seeds]; a seed that never reaches the target "
            "counts as never (censored, not dropped), so a median or an end of the interval can be never.",
            ["variant", "steps", "examples", "seconds", "seeds never reaching it"],
            [[label, interval_text(t.steps), interval_text(t.examples), interval_text(t.seconds, '{:.2f}'),
              f"{t.missed} of {t.seeds}"] for label, t in rows])


def time_to_target_lines(target: float, rows: list[tuple[str, TimeToTarget]]) -> list[str]:
    """The "Time to target" section of a comparison's results.md; [] without seeds."""
    section = time_to_target_table(target, rows)
    if section is None:
        return []
    title, note, headers, cells = section
    return ["", f"## {title}", "", note, "", f"| {' | '.join(headers)} |", "|" + "---|" * len(headers),
            *(f"| {' | '.join(r)} |" for r in cells)]
