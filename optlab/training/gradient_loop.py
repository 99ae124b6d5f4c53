"""The gradient loop (search strategy ``gradient``): mini-batches shuffled each epoch from the run's
``batches`` Generator (docs/conventions.md), forward, loss + penalty, backward (or the numerical
gradient, ``search.gradient: numerical``), one optimizer update.

The mini-batch loss and learning rate are recorded every step, train/validation loss and accuracy
every ``eval_every`` steps (and at step 0 and at the end), test accuracy once at the end. The same
config and seed give identical metrics. :class:`LoopState` is what a checkpoint needs besides the
model, optimizer and sampler, so a resumed run's numbers equal an uninterrupted one's.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from optlab.config.schema import Config
from optlab.engine.optimizers import build_optimizer
from optlab.engine.schedules import Schedule
from optlab.record.rundir import HEARTBEAT_S, RunDir
from optlab.training import checkpoint
from optlab.training.budget import GradientStep
from optlab.training.boundary import BoundaryRecorder
from optlab.training.curvature import LandscapeRecorder, fixed_batch
from optlab.training.diagnostics import Recorder, initial_loss_check
from optlab.training.early_stopping import EarlyStopping
from optlab.training.interrupt import LATE_STOP_NOTE, StopRequest
from optlab.training.sampling import BatchSampler
from optlab.training.setup import Setup, evaluate, total_steps, train_eval_split

# on_step(step, total_steps, loss): progress callback, e.g. the CLI's progress bar
ProgressFn = Callable[[int, int, float], None]
# on_eval(step, row): after each evaluation, the metrics row so far (train/val loss and accuracy),
# e.g. for a study's pruner (optlab.studies.executor); a copy, called before the row is written
EvalFn = Callable[[int, dict], None]


@dataclass
class LoopState:
    """What the loop carries from step to step besides model, optimizer and sampler; saved in
    every checkpoint so a resumed run's summary and divergence test match an uninterrupted one."""

    step: int = 0                       # last completed step
    last_loss: float = math.nan         # mini-batch objective of that step
    initial_loss: float = math.nan      # step-0 training objective, the divergence reference
    loss_evals: int = 0                 # loss evaluations so far (optlab.training.budget)
    loss_eval_examples: int = 0         # examples forwarded in them
    elapsed: float = 0.0                # wall seconds trained so far, over all sessions
    clipped_steps: int = 0              # updates whose gradient optimizer.clip_norm rescaled
    initial_check: dict | None = None   # step-0 data loss against chance (optlab.training.diagnostics)
    accuracy: dict = field(default_factory=lambda: {s: {"final": None, "peak": None, "peak_step": None}
                                                    for s in ("train", "val")})

    def track(self, split: str, step: int, acc: float) -> None:
        """Final and peak (earliest step of the peak) accuracy, docs/conventions.md "peak vs final"."""
        if not math.isfinite(acc):
            return
        best = self.accuracy[split]
        best["final"] = acc
        if best["peak"] is None or acc > best["peak"]:
            best["peak"], best["peak_step"] = acc, step


def divergence(loss: float, initial: float, factor: float | None) -> str | None:
    """Why ``loss`` means the run diverged (``non-finite`` / ``factor``), or None if it did not."""
    if not math.isfinite(loss):
        return "non-finite"
    if factor is not None and math.isfinite(initial) and initial > 0 and loss > factor * initial:
        return "factor"
    return None


def _stateful_parts(config: Config, setup: Setup, streams):
    """The loop's parts with state (what a checkpoint restores): optimizer, schedule, early
    stopping (or None), ``{name: part}`` of the checkpointed extras, and the batch sampler."""
    n = len(setup.data.train)
    steps, per_epoch = total_steps(config, n)
    optimizer = build_optimizer(config.optimizer.name, **config.optimizer.hyper)
    schedule = Schedule(config.optimizer.schedule.model_dump(), config.optimizer.lr, steps, per_epoch)
    early = EarlyStopping(config.train.early_stopping, setup.model) if config.train.early_stopping else None
    parts = {"schedule": schedule, **({"early_stopping": early} if early else {})}   # checkpointed state
    sampler = BatchSampler(n, min(config.train.batch_size, n), config.train.sampling, streams.get("batches"))
    return optimizer, schedule, early, parts, sampler


def check_restorable(config: Config, setup: Setup, ckpt: checkpoint.Checkpoint) -> None:
    """Restore ``ckpt`` into a throw-away set of the loop's parts: a checkpoint that lacks an entry
    (the optimizer's ``t``) or has one of the wrong shape is refused (CheckpointError) before a
    resume changes anything in the run directory. The model's parameters are overwritten with the
    checkpoint's, which the resumed loop does again."""
    from optlab.engine.rng import Streams

    streams = Streams(config.seed)
    optimizer, _, _, parts, sampler = _stateful_parts(config, setup, streams)
    try:
        checkpoint.restore(ckpt, model=setup.model, optimizer=optimizer, sampler=sampler, streams=streams,
                           extra=parts)
        LoopState(**ckpt.loop)
    except checkpoint.CheckpointError as exc:
        raise checkpoint.CheckpointError(f"the checkpoint cannot be restored: {exc}") from None
    except Exception as exc:     # KeyError, ValueError, TypeError: an entry missing or malformed
        raise checkpoint.CheckpointError(f"the checkpoint is incomplete or damaged ({type(exc).__name__}: {exc}); "
                                         "it was not written by this optlab, or was changed since") from None


# Overflow and NaN are handled explicitly (a non-finite loss stops the run as "diverged"), so
# numpy's floating-point warnings would only be noise on the way there.
@np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")
def train_gradient(config: Config, setup: Setup, rd: RunDir, on_step: ProgressFn | None, stop: StopRequest,
                   ckpt: checkpoint.Checkpoint | None = None, on_eval: EvalFn | None = None) -> dict:
    """Train ``setup``'s model as ``config`` says, writing metrics.csv (and the diagnostics) into
    ``rd``; from ``ckpt`` when resuming. Returns the summary (summary.json without its kind)."""
    run = _GradientRun(config, setup, rd, ckpt, on_eval)
    status, why, late = "completed", None, False
    try:
        if ckpt is None:
            run.first_row()
        status, why = run.train(on_step, stop)
        status, late = run.finish(status, stop)
    finally:
        run.close()
    return run.summary(status, why, late)


class _GradientRun:
    """The parts of one gradient run and what it carries from stanza to stanza of
    :func:`train_gradient`: built (or restored from a checkpoint), the evaluated step 0, the
    steps, the end (checkpoint, evaluation weights, test pass), the summary."""

    def __init__(self, config: Config, setup: Setup, rd: RunDir, ckpt: checkpoint.Checkpoint | None,
                 on_eval: EvalFn | None) -> None:
        data, model, dtype = setup.data, setup.model, setup.dtype
        self.config, self.setup, self.rd, self.on_eval = config, setup, rd, on_eval
        n = len(data.train)
        self.batch = min(config.train.batch_size, n)
        self.steps, self.per_epoch = total_steps(config, n)
        self.eval_every = config.train.eval_every or self.per_epoch
        self.optimizer, self.schedule, self.early, self.parts, self.sampler = _stateful_parts(config, setup,
                                                                                              setup.streams)
        self.eval_train = train_eval_split(config, data)
        self.gradient = GradientStep(setup, config.search.gradient)
        self.full_batch = self.optimizer.access == "vector"       # L-BFGS: the whole vector and a closure
        self.state = LoopState()
        if ckpt is not None:
            checkpoint.restore(ckpt, model=model, optimizer=self.optimizer, sampler=self.sampler,
                               streams=setup.streams, extra=self.parts)
            self.optimizer.to_training(model.params)     # the checkpoint holds the evaluation weights
            self.state = LoopState(**ckpt.loop)
            self.gradient.counter.evals, self.gradient.counter.examples = (self.state.loss_evals,
                                                                           self.state.loss_eval_examples)
        resume_step = None if ckpt is None else ckpt.step
        self.writer = rd.metrics(append=ckpt is not None)
        probe = data.features(self.eval_train.x[: config.diagnostics.histogram_examples], dtype)
        self.diagnostics = Recorder(config.diagnostics, model, probe, rd, self.eval_every, resume_step=resume_step)
        self.landscape = LandscapeRecorder(config.diagnostics, config.seed, config.optimizer.name, model,
                                           setup.loss_fn, setup.penalty,
                                           fixed_batch(config.diagnostics, data, self.eval_train, dtype), rd,
                                           resume_step=resume_step)
        self.boundary = BoundaryRecorder(config.diagnostics, model, data, dtype, rd, self.steps,
                                         resume_step=resume_step)
        self.t0 = time.perf_counter() - self.state.elapsed
        self.step, self.last_loss = self.state.step, math.nan   # the last step taken, and its loss
        self.row: dict = {}                                      # the last metrics row
        self.test_loss = self.test_acc = self.wall = math.nan

    def write(self, row: dict) -> None:
        self.writer.write({**row, "time": time.perf_counter() - self.t0})

    def record_eval(self, step: int, row: dict) -> bool:
        """Evaluate into ``row`` at the evaluation weights (Schedule-Free's x); let the schedule and
        early stopping see it. True: stop now."""
        setup, data, optimizer = self.setup, self.setup.data, self.optimizer
        with optimizer.evaluation(setup.model.params):
            for split, part in (("train", self.eval_train), ("val", data.val)):
                loss, acc = evaluate(setup.model, setup.loss_fn, setup.penalty, data, part, setup.dtype)
                row[f"{split}_loss"], row[f"{split}_acc"] = loss, acc
                self.state.track(split, step, acc)
            self.schedule.observe(step, row)
            if self.on_eval is not None:
                self.on_eval(step, dict(row))
            return self.early is not None and self.early.observe(step, row)

    def save_checkpoint(self) -> None:
        state, model, optimizer = self.state, self.setup.model, self.optimizer
        state.elapsed = time.perf_counter() - self.t0
        state.loss_evals, state.loss_eval_examples = self.gradient.evals, self.gradient.counter.examples
        with optimizer.evaluation(model.params):
            checkpoint.save(self.rd, step=state.step, config=self.config, model=model, optimizer=optimizer,
                            sampler=self.sampler, streams=self.setup.streams, loop=asdict(state),
                            extra={name: part.state_dict() for name, part in self.parts.items()})
        self.rd.heartbeat(checkpoint_step=state.step)

    def first_row(self) -> None:
        """Row 0 of a new run: the evaluation before any step, the divergence reference and the
        step-0 loss check against chance, the first histograms, boundary and landscape point."""
        setup, optimizer, state = self.setup, self.optimizer, self.state
        optimizer.lr = self.schedule.rate(1)      # row 0 shows the rate the first step will use
        self.row = {"step": 0, "epoch": 0.0, "loss_evals": 0, "lr": optimizer.lr}
        self.record_eval(0, self.row)
        state.initial_loss = self.row["train_loss"]
        data_loss = self.row["train_loss"] - setup.penalty.loss(setup.model.params, setup.model.weight_names)
        state.initial_check = initial_loss_check(self.config.loss, setup.data.n_classes, data_loss)
        self.diagnostics.histograms(0)
        with optimizer.evaluation(setup.model.params):
            self.boundary.record(0)
            self.landscape.record(0, optimizer)
        self.write(self.row)

    def train(self, on_step: ProgressFn | None, stop: StopRequest) -> tuple[str, str | None]:
        """The steps after the last one taken, up to the run's length: (status, divergence rule)."""
        config, data, model, optimizer, state = self.config, self.setup.data, self.setup.model, self.optimizer, \
            self.state
        every = config.train.checkpoint_every
        last_beat = time.monotonic()
        for step in range(state.step + 1, self.steps + 1):
            self.step = step
            if stop.signum is not None:          # asked to stop: the previous step is complete
                self.step = state.step
                return "interrupted", None
            _, idx = next(self.sampler)
            xb = data.features(data.train.x[idx], self.setup.dtype)        # (batch, features)
            optimizer.lr = self.schedule.rate(step)
            if self.full_batch:       # L-BFGS: one iteration, its line search's evaluations on the same batch
                self.diagnostics.before_update(step)      # the update happens here, its loss known after
                self.last_loss = optimizer.update(model.params, model.grads, model.weight_names,
                                                  closure=lambda: self.gradient(xb, data.train.y[idx]))
            else:
                self.last_loss = self.gradient(xb, data.train.y[idx])         # fills model.grads
            self.row = {"step": step, "epoch": step / self.per_epoch, "loss_evals": self.gradient.evals,
                        "loss": self.last_loss, "lr": optimizer.lr}
            why = divergence(self.last_loss, state.initial_loss, config.train.divergence_factor)
            if why is not None:
                self.write(self.row)
                return "diverged", why
            if not self.full_batch:
                self.diagnostics.before_update(step)
                optimizer.update(model.params, model.grads, model.weight_names)
            self.diagnostics.after_update(step)
            state.clipped_steps += optimizer.clipped
            state.step, state.last_loss = step, self.last_loss
            stopping = False
            if step % self.eval_every == 0 or step == self.steps or getattr(optimizer, "converged", None):
                stopping = self.record_eval(step, self.row)     # L-BFGS converged: its last step is the final one
            self.diagnostics.histograms(step)
            with optimizer.evaluation(model.params):
                self.boundary.record(step, last=stopping)
                self.landscape.record(step, optimizer)
            self.write(self.row)
            if on_step is not None:
                on_step(step, self.steps, self.last_loss)
            if stopping or getattr(optimizer, "converged", None):   # early stopping, L-BFGS converged
                break
            if every is not None and step % every == 0 and step != self.steps:
                self.save_checkpoint()
                last_beat = time.monotonic()
            elif time.monotonic() - last_beat > HEARTBEAT_S:
                self.rd.heartbeat()
                last_beat = time.monotonic()
        return "completed", None

    def finish(self, status: str, stop: StopRequest) -> tuple[str, bool]:
        """The end of the path and of the boundary, the last checkpoint, the evaluation weights and
        the test pass: (status, whether a stop came during the last step)."""
        model, optimizer = self.setup.model, self.optimizer
        with optimizer.evaluation(model.params):
            self.landscape.finish(self.state.step)   # the path ends where training did (not at a diverged step)
            self.boundary.record(self.state.step, last=True)
        late = status == "completed" and stop.stops_a_finished_run()   # asked during the last step: say so
        if late:
            status = "interrupted"
        if status in ("completed", "interrupted"):
            self.save_checkpoint()   # resume continues an interrupted run, or extends a finished one
        optimizer.to_evaluation(model.params)     # the run ends at its evaluation weights
        if self.early is not None and status == "completed":
            self.early.restore()     # after the checkpoint, which keeps the training state for --resume
        if status != "interrupted":  # a stop request should stop, not run a test pass first
            s = self.setup
            self.test_loss, self.test_acc = evaluate(model, s.loss_fn, s.penalty, s.data, s.data.test, s.dtype)
        return status, late

    def close(self) -> None:
        self.writer.close()
        self.diagnostics.close()
        self.landscape.close()
        self.wall = time.perf_counter() - self.t0

    def summary(self, status: str, why: str | None, late: bool) -> dict:
        config, state, optimizer, step = self.config, self.state, self.optimizer, self.step
        summary = {
            "status": status,
            "strategy": "gradient",
            "gradient": config.search.gradient,
            "steps": step,
            "epochs": step / self.per_epoch,
            "batch_size": self.batch,
            "loss_evals": self.gradient.evals,
            "examples_per_eval": self.batch,
            "loss_eval_examples": self.gradient.counter.examples,
            "final_loss": self.last_loss if status == "diverged" else state.last_loss,
            "final_train_loss": self.row.get("train_loss", math.nan),
            "test_loss": self.test_loss,
            "wall_time_s": self.wall,
            "n_params": self.setup.model.n_params(),
            "accuracy": {split: dict(best) for split, best in state.accuracy.items()},
            "val_source": self.setup.data.val_source,    # "test": the validation rows are test-set numbers
        }
        summary["accuracy"]["test"] = {"final": self.test_acc, "peak": None, "peak_step": None}
        if late:
            summary["note"] = LATE_STOP_NOTE
        if state.initial_check is not None:
            summary["initial_loss_check"] = state.initial_check
        if getattr(config.optimizer, "clip_norm", None) is not None:
            summary["clipped_steps"] = state.clipped_steps
        if self.schedule.reductions:
            summary["lr_reductions"] = self.schedule.reductions
        if self.early is not None:
            summary["early_stopping"] = self.early.summary()
        if getattr(optimizer, "converged", None):
            summary["converged"] = optimizer.converged
        if status == "diverged":
            summary["diverged_at"] = {"step": step, "loss": self.last_loss, "rule": why, "lr": optimizer.lr,
                                      "initial_loss": state.initial_loss, "factor": config.train.divergence_factor}
        return summary
