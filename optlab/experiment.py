"""Run one experiment: build data, model, loss, penalty and optimizer from a config, train, and
record everything in a run directory.

``config.search.strategy`` picks the loop: ``random`` and ``local`` are in :mod:`optlab.search`;
``gradient`` is here. Every loop counts loss evaluations (:mod:`optlab.budget`), the one budget
its strategies share; metrics.csv records it beside steps and wall time.

The loop (search strategy ``gradient``): mini-batches shuffled each epoch from the run's
``batches`` Generator (conventions.md), forward, loss + penalty, backward (or the numerical
gradient, ``search.gradient: numerical``), one optimizer update;
the mini-batch loss and learning rate are recorded every step, train/validation loss and accuracy
every ``eval_every`` steps (and at step 0 and at the end), test accuracy once at the end. The same
config and seed give identical metrics.

How a run can end, and what its directory then says (meta.json ``status``):

- ``completed``; a checkpoint is written, so ``--resume`` can extend it;
- ``diverged``: the mini-batch loss was NaN / inf, or above ``train.divergence_factor`` times the
  step-0 training loss; the run stops at that step, summary.json says where and why;
- ``interrupted``: a graceful stop (:mod:`optlab.interrupt`) was requested; the step in progress
  finishes, a checkpoint is written, then the run stops;
- ``failed``: an exception (its message is in meta.json);
- ``running`` with a stale heartbeat or a dead pid: killed (:func:`optlab.rundir.run_status`).

Problems found before training are raised before any run directory exists: an unusable runs
directory (:class:`~optlab.rundir.RunDirError`) or a config that cannot be built
(:class:`SetupError`); refused resumptions raise :class:`~optlab.checkpoint.CheckpointError`.

A surface model (optlab.objectives) has no data: :func:`_descend` follows the optimizer on
f(x, y) from the configured start and records the path.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from optlab import checkpoint
from optlab.budget import GradientStep
from optlab.config import dump_config
from optlab.data import Dataset, Split, load_dataset
from optlab.diagnostics import Recorder, initial_loss_check
from optlab.early_stopping import EarlyStopping
from optlab.interrupt import Abort, StopRequest
from optlab.losses import Loss, accuracy, build_loss
from optlab.models import Model, build_model
from optlab.objectives import OBJECTIVES
from optlab.optimizers import build_optimizer
from optlab.regularizers import Penalty
from optlab.rng import Streams, stream
from optlab.rundir import HEARTBEAT_S, SURFACE_COLUMNS, RunDir, RunDirError, check_space, check_writable
from optlab.sampling import BatchSampler
from optlab.schedules import Schedule
from optlab.schema import Config
from optlab.threads import limited, run_threads

EVAL_CHUNK = 10_000  # rows per forward pass when evaluating, to bound memory on big sets

# on_step(step, total_steps, loss): progress callback, e.g. the CLI's progress bar
ProgressFn = Callable[[int, int, float], None]


@dataclass
class Result:
    run_dir: Path
    status: str      # completed | diverged | interrupted | failed
    summary: dict


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


class SetupError(Exception):
    """The config validates but asks for something that cannot be built (bad input, exit 2)."""


@dataclass
class Setup:
    """Everything a run is built from, made from the config and its seed alone.

    ``streams`` hands out the run's Generators; any that is consumed during training must come
    from it, so that checkpoints save its state (optlab.rng.Streams).
    """

    data: Dataset
    model: Model
    loss_fn: Loss
    penalty: Penalty
    dtype: np.dtype
    streams: Streams

    @classmethod
    def from_config(cls, config: Config) -> Setup:
        dtype = np.dtype(config.train.dtype)
        streams = Streams(config.seed)
        data = load_dataset(config.data, config.seed)
        # the dropout stream is taken only when masks are drawn, so it is checkpointed exactly then
        masks = streams.get("dropout") if getattr(config.model, "drop_prob", 0) > 0 else None
        model = build_model(config.model, data.n_features, data.n_classes, streams.get("init"), dtype, masks)
        reg = config.regularization
        return cls(data, model, build_loss(config.loss), Penalty(l2=reg.l2, l1=reg.l1), dtype, streams)

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


@dataclass
class LoopState:
    """What the loop carries from step to step besides model, optimizer and sampler; saved in
    every checkpoint so a resumed run's summary and divergence test match an uninterrupted one."""

    step: int = 0                       # last completed step
    last_loss: float = math.nan         # mini-batch objective of that step
    initial_loss: float = math.nan      # step-0 training objective, the divergence reference
    loss_evals: int = 0                 # loss evaluations so far (optlab.budget)
    loss_eval_examples: int = 0         # examples forwarded in them
    elapsed: float = 0.0                # wall seconds trained so far, over all sessions
    clipped_steps: int = 0              # updates whose gradient optimizer.clip_norm rescaled
    initial_check: dict | None = None   # step-0 data loss against chance (optlab.diagnostics)
    accuracy: dict = field(default_factory=lambda: {s: {"final": None, "peak": None, "peak_step": None}
                                                    for s in ("train", "val")})

    def track(self, split: str, step: int, acc: float) -> None:
        """Final and peak (earliest step of the peak) accuracy, conventions.md "peak vs final"."""
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


# Overflow and NaN are handled explicitly (a non-finite loss stops the run as "diverged"), so
# numpy's floating-point warnings would only be noise on the way there.
@np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")
def _train(config: Config, setup: Setup, rd: RunDir, on_step: ProgressFn | None, stop: StopRequest,
           ckpt: checkpoint.Checkpoint | None = None) -> dict:
    data, model, dtype = setup.data, setup.model, setup.dtype
    n = len(data.train)
    batch = min(config.train.batch_size, n)
    steps, per_epoch = total_steps(config, n)
    eval_every = config.train.eval_every or per_epoch
    every = config.train.checkpoint_every
    optimizer = build_optimizer(config.optimizer)
    schedule = Schedule(config.optimizer.schedule, config.optimizer.lr, steps, per_epoch)
    early = EarlyStopping(config.train.early_stopping, model) if config.train.early_stopping else None
    parts = {"schedule": schedule, **({"early_stopping": early} if early else {})}   # checkpointed state
    sampler = BatchSampler(n, batch, config.train.sampling, setup.streams.get("batches"))
    eval_train = train_eval_split(config, data)
    gradient = GradientStep(setup, config.search.gradient)

    state = LoopState()
    if ckpt is not None:
        checkpoint.restore(ckpt, model=model, optimizer=optimizer, sampler=sampler, streams=setup.streams,
                           extra=parts)
        state = LoopState(**ckpt.loop)
        gradient.counter.evals, gradient.counter.examples = state.loss_evals, state.loss_eval_examples
    writer = rd.metrics(append=ckpt is not None)
    probe = data.features(eval_train.x[: config.diagnostics.histogram_examples], dtype)
    diagnostics = Recorder(config.diagnostics, model, probe, rd, eval_every,
                           resume_step=None if ckpt is None else ckpt.step)
    t0 = time.perf_counter() - state.elapsed
    last_beat = time.monotonic()

    def record_eval(step: int, row: dict) -> bool:
        """Evaluate into ``row``; let the schedule and early stopping see it. True: stop now."""
        for split, part in (("train", eval_train), ("val", data.val)):
            loss, acc = evaluate(model, setup.loss_fn, setup.penalty, data, part, dtype)
            row[f"{split}_loss"], row[f"{split}_acc"] = loss, acc
            state.track(split, step, acc)
        schedule.observe(step, row)
        return early is not None and early.observe(step, row)

    def save_checkpoint() -> None:
        state.elapsed = time.perf_counter() - t0
        state.loss_evals, state.loss_eval_examples = gradient.evals, gradient.counter.examples
        checkpoint.save(rd, step=state.step, config=config, model=model, optimizer=optimizer, sampler=sampler,
                        streams=setup.streams, loop=asdict(state),
                        extra={name: part.state_dict() for name, part in parts.items()})
        rd.heartbeat(checkpoint_step=state.step)

    status, last_loss, step, why = "completed", math.nan, state.step, None
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
            writer.write({**row, "time": time.perf_counter() - t0})
        for step in range(state.step + 1, steps + 1):
            if stop.signum is not None:          # asked to stop: the previous step is complete
                status, step = "interrupted", state.step
                break
            _, idx = next(sampler)
            xb = data.features(data.train.x[idx], dtype)        # (batch, features)
            last_loss = gradient(xb, data.train.y[idx])             # fills model.grads
            optimizer.lr = schedule.rate(step)
            row = {"step": step, "epoch": step / per_epoch, "loss_evals": gradient.evals, "loss": last_loss,
                   "lr": optimizer.lr}
            why = divergence(last_loss, state.initial_loss, config.train.divergence_factor)
            if why is not None:
                status = "diverged"
                writer.write({**row, "time": time.perf_counter() - t0})
                break
            diagnostics.before_update(step)
            optimizer.update(model.params, model.grads, model.weight_names)
            diagnostics.after_update(step)
            state.clipped_steps += optimizer.clipped
            state.step, state.last_loss = step, last_loss
            stopping = False
            if step % eval_every == 0 or step == steps:
                stopping = record_eval(step, row)
            diagnostics.histograms(step)
            writer.write({**row, "time": time.perf_counter() - t0})
            if on_step is not None:
                on_step(step, steps, last_loss)
            if stopping:                         # early stopping: the run is complete here
                break
            if every is not None and step % every == 0 and step != steps:
                save_checkpoint()
                last_beat = time.monotonic()
            elif time.monotonic() - last_beat > HEARTBEAT_S:
                rd.heartbeat()
                last_beat = time.monotonic()
        if status in ("completed", "interrupted"):
            save_checkpoint()   # resume continues an interrupted run, or extends a finished one
        if early is not None and status == "completed":
            early.restore()     # after the checkpoint, which keeps the training state for --resume
        if status != "interrupted":  # a stop request should stop, not run a test pass first
            test_loss, test_acc = evaluate(model, setup.loss_fn, setup.penalty, data, data.test, dtype)
    finally:
        writer.close()
        diagnostics.close()
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
    if state.initial_check is not None:
        summary["initial_loss_check"] = state.initial_check
    if config.optimizer.clip_norm is not None:
        summary["clipped_steps"] = state.clipped_steps
    if schedule.reductions:
        summary["lr_reductions"] = schedule.reductions
    if early is not None:
        summary["early_stopping"] = early.summary()
    if status == "diverged":
        summary["diverged_at"] = {"step": step, "loss": last_loss, "rule": why, "lr": optimizer.lr,
                                  "initial_loss": state.initial_loss, "factor": config.train.divergence_factor}
    return summary


def _build(config: Config) -> Setup:
    """Setup.from_config, with "cannot be built" errors as :class:`SetupError` (bad input)."""
    try:
        setup = Setup.from_config(config)
    except MemoryError as exc:
        raise SetupError(f"the config needs more memory than is available ({exc})") from exc
    except ValueError as exc:
        raise SetupError(str(exc)) from exc
    watchers = [key for key, on in (("train.early_stopping", config.train.early_stopping is not None),
                                    ("optimizer.schedule: plateau", config.optimizer.schedule.name == "plateau")) if on]
    if watchers and len(setup.data.val) == 0:
        raise SetupError(f"{' and '.join(watchers)} watch the validation set, and this data has none "
                         "(give the data a val_size)")
    return setup


def estimate_bytes(config: Config, setup: Setup) -> int:
    """A generous upper bound on what a run writes: metrics rows, two checkpoints (the old one
    lives until the new one is renamed over it) and the plots and tables."""
    if config.search.strategy == "gradient":
        steps, _ = total_steps(config, len(setup.data.train))
    else:
        steps = config.search.trials            # one row per trial, and no checkpoint
    row = 250                                   # a metrics.csv row with every column filled in
    state = setup.model.n_params() * setup.dtype.itemsize * 3 + len(setup.data.train) * 8
    return (steps + 1) * row + 2 * state + 2_000_000


@np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")   # as _train: divergence is a status
def _descend(config: Config, rd: RunDir, on_step: ProgressFn | None) -> dict:
    """The data-free loop of a surface model: ``train.iterations`` optimizer steps on f(x, y).

    The point is one parameter tensor ``xy``, updated in place by the same optimizer classes as a
    network's weights. Row ``step`` of metrics.csv is the point after ``step`` updates and f there,
    so step 0 is the start and the last row the end of the path. No randomness is involved: every
    seed gives the same path.
    """
    surface = OBJECTIVES[config.model.function]
    dtype = np.dtype(config.train.dtype)
    params = {"xy": np.array(config.model.start, dtype=dtype)}
    grads = {"xy": np.zeros(2, dtype=dtype)}
    optimizer = build_optimizer(config.optimizer)
    steps = config.train.iterations
    schedule = Schedule(config.optimizer.schedule, config.optimizer.lr, steps, steps_per_epoch=1)
    optimizer.lr = schedule.rate(1)
    writer = rd.metrics(SURFACE_COLUMNS)
    t0 = time.perf_counter()
    xy = params["xy"]

    def value() -> float:   # numpy scalars: an overflow gives inf (a divergence), not OverflowError
        return float(surface.value(np.float64(xy[0]), np.float64(xy[1])))

    status, step, f = "completed", 0, value()
    try:
        writer.write({"step": 0, "loss": f, "lr": optimizer.lr, "x": float(xy[0]), "y": float(xy[1]),
                      "time": time.perf_counter() - t0})
        for step in range(1, steps + 1):
            grads["xy"][...] = surface.grad(xy[0], xy[1])
            optimizer.lr = schedule.rate(step)
            optimizer.update(params, grads)
            f = value()
            writer.write({"step": step, "loss": f, "lr": optimizer.lr, "x": float(xy[0]), "y": float(xy[1]),
                          "time": time.perf_counter() - t0})
            if not (math.isfinite(f) and np.isfinite(xy).all()):
                status = "diverged"
                break
            if on_step is not None:
                on_step(step, steps, f)
    finally:
        writer.close()
        wall = time.perf_counter() - t0
    end = [float(v) for v in xy]
    summary = {
        "status": status,
        "steps": step,
        "objective": surface.name,
        "start": list(config.model.start),
        "end": end,
        "final_loss": f,
        "final_train_loss": f,
        "minimum": list(surface.minimum) if surface.minimum else None,
        "distance_to_minimum": math.dist(end, surface.minimum) if surface.minimum else None,
        "wall_time_s": wall,
        "n_params": 2,
    }
    if status == "diverged":
        summary["diverged_at"] = {"step": step, "loss": f}
    return summary


def run(config: Config, runs_root: Path, *, on_step: ProgressFn | None = None,
        command: list[str] | None = None, stop: StopRequest | None = None,
        dir_name: str | None = None) -> Result:
    """Train ``config`` into a new run directory under ``runs_root`` and render its report.

    The directory is ``<date>_<time>_<config.name>``, or exactly ``dir_name`` when given (the
    trials of a comparison).

    Before anything is created: ``runs_root`` must be writable with room for the run
    (RunDirError) and the config must build (SetupError). After that, whatever happens, the run
    directory says so in meta.json and summary.json. ``stop``: poll it to stop gracefully
    (optlab.interrupt.graceful_stop).
    """
    runs_root = Path(runs_root)
    check_writable(runs_root)
    surface = config.model.name == "surface"
    setup = None if surface else _build(config)
    check_space(runs_root, 2_000_000 if surface else estimate_bytes(config, setup))
    try:
        rd = RunDir.create(runs_root, dir_name or config.name, stamp=dir_name is None)
    except OSError as exc:
        raise RunDirError(f"cannot create a run directory under {runs_root}: {exc.strerror or exc}") from None
    try:
        rd.write_text("config.yaml", dump_config(config))
        rd.start(command)
    except OSError as exc:
        # nothing has run yet: leave no half-made directory behind
        for leftover in rd.path.iterdir():
            leftover.unlink()
        rd.path.rmdir()
        raise RunDirError(f"cannot write to {rd.path}: {exc.strerror or exc}") from None
    return _execute(rd, config, setup, on_step, stop or StopRequest(), None)


def resume(run_dir: Path, config: Config, *, on_step: ProgressFn | None = None,
           command: list[str] | None = None, stop: StopRequest | None = None) -> Result:
    """Continue ``run_dir`` from its checkpoint up to ``config``'s length, in the same directory.

    ``config`` must equal the run's own config except for train.iterations / train.epochs /
    train.checkpoint_every (checkpoint.CheckpointError names any other difference). metrics.csv
    loses the rows written after the checkpoint and is then appended to, so the finished run's
    files equal those of a run that was never stopped (but for wall times).
    """
    rd = RunDir(Path(run_dir))
    if config.search.strategy != "gradient":
        raise checkpoint.CheckpointError(f"{rd.path}: a {config.search.strategy} search keeps no checkpoint; "
                                         "run it again (same config and seed: the same trials)")
    ckpt = checkpoint.prepare_resume(rd.path, config)
    check_writable(rd.path)
    setup = _build(config)
    steps, per_epoch = total_steps(config, len(setup.data.train))
    stopped_at = ckpt.extra.get("early_stopping", {}).get("stopped_at")
    if stopped_at is not None:
        raise checkpoint.CheckpointError(
            f"{rd.path}: early stopping ended the run at step {stopped_at} (train.early_stopping); a longer run "
            "would have stopped there too, so there is nothing to continue")
    if steps <= ckpt.step:
        raise checkpoint.CheckpointError(
            f"{rd.path}: the checkpoint is at step {ckpt.step} and the config asks for {steps} steps; "
            f"ask for more, e.g. train.iterations={ckpt.step + max(ckpt.step, 1)}")
    saved_steps, _ = total_steps(Config.model_validate(ckpt.info["config"]), len(setup.data.train))
    schedule = Schedule(config.optimizer.schedule, config.optimizer.lr, steps, per_epoch)
    if schedule.depends_on_length and steps != saved_steps:
        raise checkpoint.CheckpointError(
            f"{rd.path}: the cosine schedule spans the run's {saved_steps} steps (optimizer.schedule.period: null); "
            f"over {steps} steps it would have used other rates for the steps already taken. Start a new run, "
            "or give the schedule a period")
    check_space(rd.path, estimate_bytes(config, setup))
    rd.truncate_metrics(ckpt.step)
    if (rd.path / "diagnostics.csv").is_file():
        rd.truncate_metrics(ckpt.step, name="diagnostics.csv")
    rd.write_text("config.yaml", dump_config(config))   # the new length; re-running it repeats the run
    for stale in ("summary.json", "results.md"):        # they described the run before it resumed
        rd.remove(stale)
    rd.restart(command, ckpt.step)
    return _execute(rd, config, setup, on_step, stop or StopRequest(), ckpt)


def _execute(rd: RunDir, config: Config, setup: Setup | None, on_step: ProgressFn | None, stop: StopRequest,
             ckpt: checkpoint.Checkpoint | None) -> Result:
    from optlab import report

    try:
        if setup is None:   # a surface model: no data, no network (optlab.objectives)
            summary = _descend(config, rd, on_step)
        else:
            with limited(run_threads()):   # one BLAS thread: faster steps, a worker's numbers (optlab.threads)
                if config.search.strategy == "gradient":
                    summary = _train(config, setup, rd, on_step, stop, ckpt)
                else:
                    from optlab.search import run_search
                    summary = run_search(config, setup, rd, on_step, stop)
    except Abort as exc:        # a second signal: record it and leave at once (no plotting)
        with stop.shielded():
            rd.finish("interrupted", signal=exc.args[0], note="stopped at once by a second signal")
        raise
    except KeyboardInterrupt:   # Ctrl-C without graceful_stop (e.g. a library user)
        rd.finish("interrupted", signal="SIGINT")
        report.render_run(rd.path, quiet=True)
        raise
    except Exception as exc:
        rd.finish("failed", error=f"{type(exc).__name__}: {exc}")
        report.render_run(rd.path, quiet=True)
        raise
    with stop.shielded():
        rd.write_json("summary.json", summary)
        extra = {"signal": stop.name} if summary["status"] == "interrupted" else {}
        rd.finish(summary["status"], **extra)
    report.render_run(rd.path, quiet=summary["status"] != "completed")
    return Result(rd.path, summary["status"], summary)
