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
    data, model, dtype = setup.data, setup.model, setup.dtype
    n = len(data.train)
    batch = min(config.train.batch_size, n)
    steps, per_epoch = total_steps(config, n)
    eval_every = config.train.eval_every or per_epoch
    every = config.train.checkpoint_every
    optimizer, schedule, early, parts, sampler = _stateful_parts(config, setup, setup.streams)
    eval_train = train_eval_split(config, data)
    gradient = GradientStep(setup, config.search.gradient)
    full_batch = optimizer.access == "vector"       # L-BFGS: the whole vector and a closure

    state = LoopState()
    if ckpt is not None:
        checkpoint.restore(ckpt, model=model, optimizer=optimizer, sampler=sampler, streams=setup.streams,
                           extra=parts)
        optimizer.to_training(model.params)     # the checkpoint holds the evaluation weights
        state = LoopState(**ckpt.loop)
        gradient.counter.evals, gradient.counter.examples = state.loss_evals, state.loss_eval_examples
    writer = rd.metrics(append=ckpt is not None)
    probe = data.features(eval_train.x[: config.diagnostics.histogram_examples], dtype)
    diagnostics = Recorder(config.diagnostics, model, probe, rd, eval_every,
                           resume_step=None if ckpt is None else ckpt.step)
    landscape = LandscapeRecorder(config.diagnostics, config.seed, config.optimizer.name, model, setup.loss_fn,
                                  setup.penalty, fixed_batch(config.diagnostics, data, eval_train, dtype), rd,
                                  resume_step=None if ckpt is None else ckpt.step)
    boundary = BoundaryRecorder(config.diagnostics, model, data, dtype, rd, steps,
                                resume_step=None if ckpt is None else ckpt.step)
    t0 = time.perf_counter() - state.elapsed
    last_beat = time.monotonic()

    def record_eval(step: int, row: dict) -> bool:
        """Evaluate into ``row`` at the evaluation weights (Schedule-Free's x); let the schedule and
        early stopping see it. True: stop now."""
        with optimizer.evaluation(model.params):
            for split, part in (("train", eval_train), ("val", data.val)):
                loss, acc = evaluate(model, setup.loss_fn, setup.penalty, data, part, dtype)
                row[f"{split}_loss"], row[f"{split}_acc"] = loss, acc
                state.track(split, step, acc)
            schedule.observe(step, row)
            if on_eval is not None:
                on_eval(step, dict(row))
            return early is not None and early.observe(step, row)

    def save_checkpoint() -> None:
        state.elapsed = time.perf_counter() - t0
        state.loss_evals, state.loss_eval_examples = gradient.evals, gradient.counter.examples
        with optimizer.evaluation(model.params):
            checkpoint.save(rd, step=state.step, config=config, model=model, optimizer=optimizer, sampler=sampler,
                            streams=setup.streams, loop=asdict(state),
                            extra={name: part.state_dict() for name, part in parts.items()})
        rd.heartbeat(checkpoint_step=state.step)

    status, last_loss, step, why, late = "completed", math.nan, state.step, None, False
    row: dict = {}
    test_loss = test_acc = math.nan
    try:
        if ckpt is None:
            optimizer.lr = schedule.rate(1)      # row 0 shows the rate the first step will use
            row = {"step": 0, "epoch": 0.0, "loss_evals": 0, "lr": optimizer.lr}
            record_eval(0, row)
            state.initial_loss = row["train_loss"]
            data_loss = row["train_loss"] - setup.penalty.loss(model.params, model.weight_names)
            state.initial_check = initial_loss_check(config.loss, data.n_classes, data_loss)
            diagnostics.histograms(0)
            with optimizer.evaluation(model.params):
                boundary.record(0)
                landscape.record(0, optimizer)
            writer.write({**row, "time": time.perf_counter() - t0})
        for step in range(state.step + 1, steps + 1):
            if stop.signum is not None:          # asked to stop: the previous step is complete
                status, step = "interrupted", state.step
                break
            _, idx = next(sampler)
            xb = data.features(data.train.x[idx], dtype)        # (batch, features)
            optimizer.lr = schedule.rate(step)
            if full_batch:       # L-BFGS: one iteration, its line search's evaluations on the same batch
                diagnostics.before_update(step)      # the update happens here, its loss known after
                last_loss = optimizer.update(model.params, model.grads, model.weight_names,
                                             closure=lambda: gradient(xb, data.train.y[idx]))
            else:
                last_loss = gradient(xb, data.train.y[idx])         # fills model.grads
            row = {"step": step, "epoch": step / per_epoch, "loss_evals": gradient.evals, "loss": last_loss,
                   "lr": optimizer.lr}
            why = divergence(last_loss, state.initial_loss, config.train.divergence_factor)
            if why is not None:
                status = "diverged"
                writer.write({**row, "time": time.perf_counter() - t0})
                break
            if not full_batch:
                diagnostics.before_update(step)
                optimizer.update(model.params, model.grads, model.weight_names)
            diagnostics.after_update(step)
            state.clipped_steps += optimizer.clipped
            state.step, state.last_loss = step, last_loss
            stopping = False
            if step % eval_every == 0 or step == steps or getattr(optimizer, "converged", None):
                stopping = record_eval(step, row)     # L-BFGS converged: its last step is the final one
            diagnostics.histograms(step)
            with optimizer.evaluation(model.params):
                boundary.record(step, last=stopping)
                landscape.record(step, optimizer)
            writer.write({**row, "time": time.perf_counter() - t0})
            if on_step is not None:
                on_step(step, steps, last_loss)
            if stopping or getattr(optimizer, "converged", None):   # early stopping, L-BFGS converged
                break
            if every is not None and step % every == 0 and step != steps:
                save_checkpoint()
                last_beat = time.monotonic()
            elif time.monotonic() - last_beat > HEARTBEAT_S:
                rd.heartbeat()
                last_beat = time.monotonic()
        with optimizer.evaluation(model.params):
            landscape.finish(state.step)   # the path ends where training did (not at a diverged step)
            boundary.record(state.step, last=True)
        late = status == "completed" and stop.stops_a_finished_run()   # asked during the last step: say so
        if late:
            status = "interrupted"
        if status in ("completed", "interrupted"):
            save_checkpoint()   # resume continues an interrupted run, or extends a finished one
        optimizer.to_evaluation(model.params)     # the run ends at its evaluation weights
        if early is not None and status == "completed":
            early.restore()     # after the checkpoint, which keeps the training state for --resume
        if status != "interrupted":  # a stop request should stop, not run a test pass first
            test_loss, test_acc = evaluate(model, setup.loss_fn, setup.penalty, data, data.test, dtype)
    finally:
        writer.close()
        diagnostics.close()
        landscape.close()
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
        "final_loss": last_loss if status == "diverged" else state.last_loss,
        "final_train_loss": row.get("train_loss", math.nan),
        "test_loss": test_loss,
        "wall_time_s": wall,
        "n_params": model.n_params(),
        "accuracy": {split: dict(best) for split, best in state.accuracy.items()},
        "val_source": data.val_source,    # "test": the validation rows are test-set numbers
    }
    summary["accuracy"]["test"] = {"final": test_acc, "peak": None, "peak_step": None}
    if late:
        summary["note"] = LATE_STOP_NOTE
    if state.initial_check is not None:
        summary["initial_loss_check"] = state.initial_check
    if getattr(config.optimizer, "clip_norm", None) is not None:
        summary["clipped_steps"] = state.clipped_steps
    if schedule.reductions:
        summary["lr_reductions"] = schedule.reductions
    if early is not None:
        summary["early_stopping"] = early.summary()
    if getattr(optimizer, "converged", None):
        summary["converged"] = optimizer.converged
    if status == "diverged":
        summary["diverged_at"] = {"step": step, "loss": last_loss, "rule": why, "lr": optimizer.lr,
                                  "initial_loss": state.initial_loss, "factor": config.train.divergence_factor}
    return summary
