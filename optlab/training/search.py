"""Search without a gradient: random search and random local search, the blindfolded hiker's first
two strategies (CS231n, "Optimization: Stochastic Gradient Descent", strategies #1 and #2).

Both treat the model's parameters as one flat vector (``Model.flat_params``: every weight and
bias), so they work for every model and loss of optlab, and both keep an *incumbent*: the best
weights so far and their loss.

- ``random``: candidate k is ``W = scale * N(0, 1)``, independent of everything before; the
  incumbent is the candidate with the lowest loss (CS231n: scale 1e-4).
- ``local``: the incumbent starts at ``init_scale * N(0, 1)``; candidate k is
  ``incumbent + step * N(0, 1)`` and replaces it only if its loss is strictly lower, so the walk
  never goes uphill (CS231n: 1e-3 and 1e-4).

The loss is over the whole training set (CS231n), or over a fresh mini-batch per trial
(``search.batch_size``); then the incumbent is evaluated again on the same batch, so a candidate
is compared with the incumbent on equal terms rather than against a lucky batch from the past,
at two evaluations per trial. Proposals come from the run's ``search`` stream, mini-batches from
its ``batches`` stream (docs/conventions.md, "Randomness"); draws are made in float64 and cast, so a
float32 and a float64 run see the same proposals.

On the whole set, up to 16 candidates are evaluated per pass over the data (optlab.training.blocks), with
the same proposals, decisions and trials as one at a time. Each candidate is one loss evaluation
(optlab.training.budget), the budget every strategy is measured in.

:func:`walk` is the strategy itself; :func:`run_search` runs it for a config and records the run
(metrics rows: ``rundir.SEARCH_COLUMNS``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from optlab.record.rundir import HEARTBEAT_S, SEARCH_COLUMNS
from optlab.training.blocks import BlockEvaluator
from optlab.training.budget import Examples, LossCounter
from optlab.training.gradient_loop import LoopState
from optlab.training.sampling import BatchSampler
from optlab.training.setup import evaluate, train_eval_split

# loss(batch): the objective at the model's current parameters; batch None = the whole set
LossFn = Callable[[np.ndarray | None], float]


@dataclass(frozen=True)
class Trial:
    step: int          # 0: the start of a local search; then 1 .. trials
    loss: float        # the candidate's loss (step 0: the start's; NaN if it was not evaluated)
    best: float        # the incumbent's loss after this trial, on this trial's examples
    accepted: bool     # the candidate became the incumbent
    evals: int         # loss evaluations made so far, this trial's included


class RandomSearch:
    """Strategy #1: independent draws ``scale * N(0, 1)``; keep the best."""

    relative = False                                        # a candidate is its delta alone

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def start(self, rng: np.random.Generator, params: np.ndarray) -> np.ndarray | None:
        return None                                         # no incumbent until a finite loss

    def deltas(self, k: int, rng: np.random.Generator, params: np.ndarray) -> np.ndarray:
        """The next k draws (k, n_params); k at once are the same numbers as k one at a time."""
        return (self.scale * rng.standard_normal((k, params.size))).astype(params.dtype)


class LocalSearch:
    """Strategy #2: from ``init_scale * N(0, 1)``, try ``incumbent + step * N(0, 1)``; keep it if lower."""

    relative = True                                         # a candidate is incumbent + delta

    def __init__(self, init_scale: float, step: float) -> None:
        self.init_scale, self.step = init_scale, step

    def start(self, rng: np.random.Generator, params: np.ndarray) -> np.ndarray:
        return (self.init_scale * rng.standard_normal(params.size)).astype(params.dtype)

    def deltas(self, k: int, rng: np.random.Generator, params: np.ndarray) -> np.ndarray:
        return (self.step * rng.standard_normal((k, params.size))).astype(params.dtype)


def walk(strategy, params: np.ndarray, loss: LossFn, trials: int, rng: np.random.Generator,
         batches: Iterator[np.ndarray] | None = None, blocks: BlockEvaluator | None = None) -> Iterator[Trial]:
    """Run ``strategy`` on the flat parameter vector ``params`` (changed in place), yielding each trial.

    After each yield ``params`` holds the incumbent (the candidate, before any is accepted), so the
    caller can evaluate it. ``batches`` yields the example indices of each trial; None means every
    trial uses the whole set and each candidate costs one evaluation, the start of a local search
    one more; then ``blocks``, if given, evaluates ``blocks.block`` candidates per pass over the
    data (optlab.training.blocks): the same proposals, decisions and trials. A candidate with a NaN or
    infinite loss is never accepted.
    """
    if batches is None and blocks is not None:
        yield from _walk_in_blocks(strategy, params, blocks, trials, rng)
        return
    incumbent = strategy.start(rng, params)
    best, evals = math.inf, 0
    if incumbent is not None:
        params[...] = incumbent
        if batches is None:
            best, evals = loss(None), 1
        yield Trial(0, best if batches is None else math.nan, best if batches is None else math.nan, True, evals)
    for k in range(1, trials + 1):
        batch = next(batches) if batches is not None else None
        delta = strategy.deltas(1, rng, params)[0]
        candidate = incumbent + delta if strategy.relative else delta
        params[...] = candidate
        value = loss(batch)
        evals += 1
        if batch is not None and incumbent is not None:   # the incumbent on the same examples
            params[...] = incumbent
            best = loss(batch)
            evals += 1
        accepted = value < best                             # False for NaN
        if accepted:
            incumbent, best = candidate, value
        if incumbent is not None:
            params[...] = incumbent
        yield Trial(k, value, best, accepted, evals)


def _walk_in_blocks(strategy, params: np.ndarray, blocks: BlockEvaluator, trials: int,
                    rng: np.random.Generator) -> Iterator[Trial]:
    """:func:`walk` on the whole set, ``blocks.block`` candidates per pass over the data."""
    incumbent = strategy.start(rng, params)
    best, evals, k = math.inf, 0, 0
    blocks.set_base(incumbent)
    if incumbent is not None:
        best, evals = blocks.base_loss(), 1
        params[...] = incumbent
        yield Trial(0, best, best, True, evals)
    while k < trials:
        deltas = strategy.deltas(min(blocks.block, trials - k), rng, params)
        blocks.load(deltas)
        for j in range(len(deltas)):
            k, evals = k + 1, evals + 1
            value = blocks.loss(j)
            accepted = value < best                         # False for NaN
            if accepted:
                best = value
                incumbent = blocks.accept(j) if strategy.relative else deltas[j].copy()
            params[...] = incumbent if incumbent is not None else deltas[j]
            yield Trial(k, value, best, accepted, evals)


STRATEGIES = {"random": lambda s: RandomSearch(s.scale), "local": lambda s: LocalSearch(s.init_scale, s.step)}


# Overflow and NaN in a candidate's loss are expected (a candidate far too large): such a candidate
# is never accepted, and a run with no finite loss at all ends as "diverged".
@np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")
def run_search(config, setup, rd, on_step: Callable[[int, int, float], None] | None, stop=None) -> dict:
    """Run ``config.search`` (random or local) on ``setup``'s model; write metrics; return the summary.

    Train / validation loss and accuracy of the incumbent are recorded at the first trial, every
    ``train.eval_every`` trials (default: 50 times in a run) and at the end, and only recomputed
    when the incumbent has changed; test accuracy once at the end. ``stop`` (optlab.training.interrupt)
    ends the run as ``interrupted`` after the trial in progress; a search keeps no checkpoint (it
    is cheap to repeat: the same config and seed give the same trials).
    """
    s, data, model = config.search, setup.data, setup.model
    batch, counter, loss, sampler, blocks = _candidate_loss(config, setup)
    eval_every = config.train.eval_every or max(1, s.trials // 50)
    incumbent, tally = _Incumbent(config, setup), _Tally(len(data.train), batch)
    writer = rd.metrics(SEARCH_COLUMNS)
    t0 = last_beat = time.perf_counter()
    status, trial = "completed", None
    test_loss = test_acc = math.nan
    rng = setup.streams.get("search")
    try:
        for trial in walk(STRATEGIES[s.strategy](s), model.flat_params, loss, s.trials, rng, sampler, blocks):
            tally.add(trial)
            row = {"step": trial.step, "epoch": tally.epochs(trial.evals), "loss_evals": trial.evals,
                   "loss": trial.loss, "best_loss": trial.best, "accepted": int(trial.accepted)}
            last = trial.step == s.trials or (stop is not None and stop.signum is not None)
            if tally.exists and (trial.step <= 1 or trial.step % eval_every == 0 or last):
                incumbent.record(trial.step, row, tally.changed)
                tally.changed = False
            writer.write({**row, "time": time.perf_counter() - t0})
            if on_step is not None and trial.step > 0:
                on_step(trial.step, s.trials, trial.best)
            if time.perf_counter() - last_beat > HEARTBEAT_S:
                rd.heartbeat()
                last_beat = time.perf_counter()
            if trial.step == 0 and batch is None and not math.isfinite(trial.best):
                break                                       # a non-finite start: nothing can be lower
            if stop is not None and stop.signum is not None:
                status = "interrupted"
                break
        if tally.exists and status != "interrupted":
            test_loss, test_acc = evaluate(model, setup.loss_fn, setup.penalty, data, data.test, setup.dtype)
    finally:
        writer.close()
        wall = time.perf_counter() - t0
    best = trial.best if trial is not None else math.nan
    if status == "completed" and not (tally.exists and math.isfinite(best)):
        status = "diverged"
    summary = {"status": status, "strategy": s.strategy, "steps": trial.step if trial is not None else 0,
               "trials": s.trials, **tally.budget(counter), "accepted": tally.accepted, "best_loss": best,
               "final_loss": best, "final_train_loss": incumbent.evaluated.get("train_loss", math.nan),
               "test_loss": test_loss, "wall_time_s": wall, "n_params": model.n_params(),
               **incumbent.accuracy(test_acc), "val_source": data.val_source}
    if status == "diverged":
        summary["diverged_at"] = {"step": summary["steps"], "loss": best}
    return summary


@dataclass
class _Tally:
    """What a search's trials add up to: examples drawn (mini-batch searches), candidates
    accepted, and whether an incumbent exists and changed since its last evaluation."""

    n: int                  # training examples
    batch: int | None       # examples per candidate's loss; None: all of them
    drawn: int = 0
    accepted: int = 0
    exists: bool = False
    changed: bool = False

    def add(self, trial: Trial) -> None:
        self.drawn += self.batch if self.batch and trial.step > 0 else 0
        self.accepted += trial.accepted and trial.step > 0
        self.exists |= trial.accepted
        self.changed |= trial.accepted

    def epochs(self, evals: int) -> float:
        """Passes over the training set: examples drawn / n, or whole-set evaluations."""
        return self.drawn / self.n if self.batch else evals

    def budget(self, counter: LossCounter) -> dict:
        return {"epochs": self.epochs(counter.evals), "batch_size": self.batch or self.n,
                "loss_evals": counter.evals, "examples_per_eval": self.batch or self.n,
                "loss_eval_examples": counter.examples}


def _candidate_loss(config, setup):
    """(batch size or None for the whole training set, the loss counter, loss(indices) of the
    current weights, the mini-batch index sampler or None, the block evaluator or None)."""
    s, data, model = config.search, setup.data, setup.model
    n = len(data.train)
    batch = min(s.batch_size, n) if s.batch_size else None
    counter = LossCounter(setup)
    if batch is None:
        everything = Examples(data, data.train, setup.dtype)
        blocks = BlockEvaluator(counter, everything) if BlockEvaluator.supports(model) else None
        return batch, counter, lambda _: counter.full(everything), None, blocks
    sampler = (idx for _, idx in BatchSampler(n, batch, config.train.sampling, setup.streams.get("batches")))
    return (batch, counter, lambda idx: counter.batch(data.features(data.train.x[idx], setup.dtype), data.train.y[idx]),
            sampler, None)


class _Incumbent:
    """Train / validation loss and accuracy of the incumbent, recomputed only when it changed, and
    its final and peak accuracy (a :class:`LoopState`'s)."""

    def __init__(self, config, setup) -> None:
        self.setup, self.eval_train = setup, train_eval_split(config, setup.data)
        self.state = LoopState()
        self.evaluated: dict[str, float] = {}

    def record(self, step: int, row: dict, changed: bool) -> None:
        setup = self.setup
        if changed or not self.evaluated:
            for split, part in (("train", self.eval_train), ("val", setup.data.val)):
                self.evaluated[f"{split}_loss"], self.evaluated[f"{split}_acc"] = evaluate(
                    setup.model, setup.loss_fn, setup.penalty, setup.data, part, setup.dtype)
        row.update(self.evaluated)
        for split in ("train", "val"):
            self.state.track(split, step, self.evaluated[f"{split}_acc"])

    def accuracy(self, test: float) -> dict:
        """The summary's ``accuracy``: final and peak of the incumbent, and its test accuracy."""
        acc = {split: dict(best) for split, best in self.state.accuracy.items()}
        return {"accuracy": {**acc, "test": {"final": test, "peak": None, "peak_step": None}}}
