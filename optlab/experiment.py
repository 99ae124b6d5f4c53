"""Run one experiment: build data, model, loss, penalty and optimizer from a config, train, and
record everything in a run directory.

``config.search.strategy`` picks the loop: ``random`` and ``local`` are in :mod:`optlab.search`;
``gradient`` is here. Every loop counts loss evaluations (:mod:`optlab.budget`), the one budget
its strategies share; metrics.csv records it beside steps and wall time.

The loop (search strategy ``gradient``): mini-batches shuffled each epoch from the run's
``batches`` Generator (conventions.md), forward, loss + penalty, backward (or the numerical
gradient, ``search.gradient: numerical``), one optimizer update;
the mini-batch loss and learning rate are recorded every step, train/validation loss and accuracy
every ``eval_every`` steps (and at step 0 and at the end), test accuracy once at the end. A
non-finite loss stops the run as ``diverged``. The same config and seed give identical metrics.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from optlab.budget import GradientStep
from optlab.config import dump_config
from optlab.data import Dataset, Split, load_dataset
from optlab.losses import Loss, accuracy, build_loss
from optlab.models import Model, build_model
from optlab.optimizers import build_optimizer
from optlab.regularizers import Penalty
from optlab.rng import stream
from optlab.rundir import RunDir
from optlab.schema import Config

EVAL_CHUNK = 10_000  # rows per forward pass when evaluating, to bound memory on big sets

# on_step(step, total_steps, loss): progress callback, e.g. the CLI's progress bar
ProgressFn = Callable[[int, int, float], None]


@dataclass
class Result:
    run_dir: Path
    status: str      # completed | diverged | interrupted | failed
    summary: dict


def batches(n: int, batch_size: int, sampling: str, rng: np.random.Generator) -> Iterator[tuple[int, np.ndarray]]:
    """Endless (epoch, indices) mini-batches: a fresh permutation per epoch, or with replacement."""
    epoch = 0
    while True:
        if sampling == "replacement":
            for _ in range(math.ceil(n / batch_size)):
                yield epoch, rng.integers(0, n, size=batch_size)
        else:
            order = rng.permutation(n)
            for start in range(0, n, batch_size):
                yield epoch, order[start: start + batch_size]
        epoch += 1


def evaluate(model: Model, loss_fn: Loss, penalty: Penalty, data: Dataset, split: Split, dtype) -> tuple[float, float]:
    """(objective = mean data loss + penalty, accuracy) on a split, in chunks; NaN for an empty split."""
    if len(split) == 0:
        return math.nan, math.nan
    total_loss, correct = 0.0, 0.0
    for start in range(0, len(split), EVAL_CHUNK):
        chunk = split.take(slice(start, start + EVAL_CHUNK))
        out = model.forward(data.features(chunk.x, dtype), train=False)
        loss, _ = loss_fn(out, chunk.y)
        total_loss += loss * len(chunk)
        correct += accuracy(out, chunk.y) * len(chunk)
    reg = penalty.loss(model.params, model.weight_names)
    return total_loss / len(split) + reg, correct / len(split)


@dataclass
class Setup:
    """Everything a run is built from, made from the config and its seed alone."""

    data: Dataset
    model: Model
    loss_fn: Loss
    penalty: Penalty
    dtype: np.dtype

    @classmethod
    def from_config(cls, config: Config) -> Setup:
        dtype = np.dtype(config.train.dtype)
        data = load_dataset(config.data, config.seed)
        model = build_model(config.model, data.n_features, data.n_classes, stream(config.seed, "init"), dtype)
        reg = config.regularization
        return cls(data, model, build_loss(config.loss), Penalty(l2=reg.l2, l1=reg.l1), dtype)

    def objective(self, x: np.ndarray, y: np.ndarray) -> float:
        """Forward pass, loss + penalty, backward: fills model.grads, returns the objective."""
        m = self.model
        out = m.forward(x, train=True)
        loss, dout = self.loss_fn(out, y)
        m.backward(dout)
        if self.penalty.active:
            loss += self.penalty.loss(m.params, m.weight_names)
            self.penalty.add_grad(m.params, m.grads, m.weight_names)
        return loss


def train_eval_split(config: Config, data: Dataset) -> Split:
    """The training examples train loss/accuracy are measured on: a fixed random subset of
    ``train.eval_train_size`` (from the ``eval`` stream, the same for every strategy), or all."""
    n = len(data.train)
    if n <= config.train.eval_train_size:
        return data.train
    return data.train.take(np.sort(stream(config.seed, "eval").choice(n, config.train.eval_train_size, replace=False)))


def total_steps(config: Config, n_train: int) -> tuple[int, int]:
    """(number of optimizer steps, steps per epoch) for a training set of n_train examples."""
    batch = min(config.train.batch_size, n_train)
    per_epoch = math.ceil(n_train / batch)
    if config.train.iterations is not None:
        return config.train.iterations, per_epoch
    return max(1, math.ceil(config.train.epochs * per_epoch)), per_epoch


# Overflow and NaN are handled explicitly (a non-finite loss stops the run as "diverged"), so
# numpy's floating-point warnings would only be noise on the way there.
@np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")
def _train(config: Config, setup: Setup, rd: RunDir, on_step: ProgressFn | None) -> dict:
    data, model, dtype = setup.data, setup.model, setup.dtype
    n = len(data.train)
    batch = min(config.train.batch_size, n)
    steps, per_epoch = total_steps(config, n)
    eval_every = config.train.eval_every or per_epoch
    optimizer = build_optimizer(config.optimizer)
    sampler = batches(n, batch, config.train.sampling, stream(config.seed, "batches"))
    eval_train = train_eval_split(config, data)
    gradient = GradientStep(setup, config.search.gradient)

    writer = rd.metrics()
    t0 = time.perf_counter()
    history = {"train": [], "val": []}   # (step, accuracy)

    def record_eval(step: int, row: dict) -> None:
        for split, part in (("train", eval_train), ("val", data.val)):
            loss, acc = evaluate(model, setup.loss_fn, setup.penalty, data, part, dtype)
            row[f"{split}_loss"], row[f"{split}_acc"] = loss, acc
            history[split].append((step, acc))

    status, last_loss, step, epoch = "completed", math.nan, 0, 0
    try:
        row = {"step": 0, "epoch": 0.0, "loss_evals": 0, "lr": optimizer.lr}
        record_eval(0, row)
        writer.write({**row, "time": time.perf_counter() - t0})
        for step in range(1, steps + 1):
            epoch, idx = next(sampler)
            xb = data.features(data.train.x[idx], dtype)        # (batch, features)
            last_loss = gradient(xb, data.train.y[idx])             # fills model.grads
            row = {"step": step, "epoch": step / per_epoch, "loss_evals": gradient.evals, "loss": last_loss,
                   "lr": optimizer.lr}
            if not math.isfinite(last_loss):
                status = "diverged"
                writer.write({**row, "time": time.perf_counter() - t0})
                break
            optimizer.update(model.params, model.grads)
            if step % eval_every == 0 or step == steps:
                record_eval(step, row)
            writer.write({**row, "time": time.perf_counter() - t0})
            if on_step is not None:
                on_step(step, steps, last_loss)
        test_loss, test_acc = evaluate(model, setup.loss_fn, setup.penalty, data, data.test, dtype)
    finally:
        writer.close()
        wall = time.perf_counter() - t0

    summary = {
        "status": status,
        "strategy": "gradient",
        "gradient": config.search.gradient,
        "steps": step,
        "epochs": step / per_epoch,
        "batch_size": batch,
        "loss_evals": gradient.evals,
        "examples_per_eval": batch,
        "loss_eval_examples": gradient.counter.examples,
        "final_loss": last_loss,
        "final_train_loss": row.get("train_loss", math.nan),
        "test_loss": test_loss,
        "wall_time_s": wall,
        "n_params": model.n_params(),
        "accuracy": {split: _final_and_peak(points) for split, points in history.items()},
    }
    summary["accuracy"]["test"] = {"final": test_acc, "peak": None, "peak_step": None}
    if status == "diverged":
        summary["diverged_at"] = {"step": step, "loss": last_loss}
    return summary


def _final_and_peak(points: list[tuple[int, float]]) -> dict:
    valid = [(s, a) for s, a in points if math.isfinite(a)]
    if not valid:
        return {"final": None, "peak": None, "peak_step": None}
    peak_step, peak = max(valid, key=lambda p: (p[1], -p[0]))  # the earliest step of the peak
    return {"final": valid[-1][1], "peak": peak, "peak_step": peak_step}


def run(config: Config, runs_root: Path, *, on_step: ProgressFn | None = None,
        command: list[str] | None = None) -> Result:
    """Train ``config`` into a new run directory under ``runs_root`` and render its report.

    Whatever happens, the run directory says so: meta.json's status is set to completed,
    diverged, interrupted (Ctrl-C) or failed (with the error), and plots and tables are rendered
    from whatever metrics were written.
    """
    from optlab import report

    rd = RunDir.create(runs_root, config.name)
    rd.write_text("config.yaml", dump_config(config))
    rd.start(command)
    try:
        setup = Setup.from_config(config)
        if config.search.strategy == "gradient":
            summary = _train(config, setup, rd, on_step)
        else:
            from optlab.search import run_search
            summary = run_search(config, setup, rd, on_step)
    except KeyboardInterrupt:
        rd.finish("interrupted")
        report.render_run(rd.path, quiet=True)
        raise
    except Exception as exc:
        rd.finish("failed", error=f"{type(exc).__name__}: {exc}")
        report.render_run(rd.path, quiet=True)
        raise
    rd.write_json("summary.json", summary)
    rd.finish(summary["status"])
    report.render_run(rd.path)
    return Result(rd.path, summary["status"], summary)
