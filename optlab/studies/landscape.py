"""``optlab landscape``: the loss landscape around a finished run, from its run directory.

:func:`landscape` (one run) computes whichever pictures the run has what they need for, and saves
the values and figures in ``<run>/landscape/`` (optlab.record.landscape_report):

- ``interpolation``: loss along (1 - a) w_init + a w_final, a in [-0.5, 1.5] (Goodfellow et al.
  2015). w_init is rebuilt from the config and seed (the run drew it from its ``init`` stream;
  the step-0 snapshot is used when there is one), w_final is ``checkpoint.npz``'s (the last
  snapshot without one). The weights are formed as (1 - a) w_init + a w_final, so a = 0 and
  a = 1 are the two weight vectors exactly and give the run's recorded losses;
- ``slice``: the plane w_final + a d1 + b d2 of two filter-normalised random directions (Li et
  al. 2018), a, b in [-span, span]; for a linear classifier also CS231n's 1-D slices along random
  directions through W;
- ``path``: the snapshots (``diagnostics.snapshot_every``) projected onto the plane of their top
  two PCA directions through w_final, over the loss evaluated on that same plane.

:func:`between` interpolates between the final weights of two runs of one model and data.
The losses are those ``metrics.csv`` records: mean data loss + penalty, on the run's fixed
train-evaluation subset and on its validation split, in evaluation mode.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from optlab.engine.directions import filter_normalized, pca_directions, project, random_direction
from optlab.engine.landscape import PlaneLoss, grid_coefficients
from optlab.engine.layers import Linear, LinearBiasTrick
from optlab.record import landscape_report as files
from optlab.record.guard import LinkRefused, holder, is_locked
from optlab.record.reports import directory_kind
from optlab.record.run_report import render_run
from optlab.record.rundir import RunDir, read_metrics
from optlab.record.snapshots import SnapshotError, read_snapshots, snapshot_steps
from optlab.record.status import run_status
from optlab.studies.trials import default_workers
from optlab.training.checkpoint import CheckpointError, size_limit
from optlab.training.checkpoint import load as load_checkpoint
from optlab.training.memory import available_bytes
from optlab.training.setup import SetupError, build_setup, train_eval_split
from optlab.training.threads import limited, run_threads

PICTURES = ("interpolation", "slice", "path")
MAX_SNAPSHOTS = 300                 # the PCA takes at most this many, evenly spaced, first and last kept
ProgressFn = Callable[[int, int], None]


class LandscapeError(Exception):
    """Bad input: the run cannot give the asked picture (exit 2), with what to do instead."""


@dataclass
class Options:
    grid: int = 41                   # points per side of a 2-D grid
    points: int = 81                 # points of a 1-D interpolation over [-0.5, 1.5]
    span: float = 1.0                # the slice covers [-span, span]^2 in units of the directions
    examples: int | None = None      # first examples of each split (default: the run's evaluation sets)
    include_biases: bool = False     # Li et al.'s ignore='biasbn' unless set
    seed: int = 0                    # the random directions' Generator
    pictures: tuple[str, ...] = PICTURES
    explicit: bool = False           # the pictures were asked for by name: a missing input is an error
    max_memory: int | None = None    # bytes; default: what the system has available
    workers: int | None = None       # threads over grid points; default: the cores this process may use
    notes: list[str] = field(default_factory=list)


@dataclass
class Loaded:
    config: object
    setup: object
    initial: tuple[np.ndarray, np.ndarray]      # (params, buffers)
    final: tuple[np.ndarray, np.ndarray]
    snapshots: tuple[list[int], np.ndarray, np.ndarray]
    notes: list[str] = field(default_factory=list)     # what the pictures should say about the weights


def load_run(run_dir: Path, dtype: str | None = None) -> Loaded:
    """The run's config, data, model and weights; :class:`LandscapeError` when it has none to show.
    ``dtype``: build the model in this dtype instead of the run's (the weights are cast)."""
    from optlab.config.loading import ConfigError, load_config

    run_dir = Path(run_dir)
    notes: list[str] = []
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "metrics.csv").is_file():
        study = directory_kind(run_dir)
        hint = (f"; {study.what} holds one run directory per trial: give one of {run_dir / 'trials'}/*"
                if study is not None and study.study else "")
        raise LandscapeError(f"{run_dir}: not a run directory (no config.yaml and metrics.csv){hint}")
    try:
        config = load_config(run_dir / "config.yaml")
    except ConfigError as exc:
        raise LandscapeError(f"{run_dir}/config.yaml: {'; '.join(map(str, exc.problems))}") from None
    if dtype is not None:
        config = config.model_copy(update={"train": config.train.model_copy(update={"dtype": dtype})})
    if not config.kind.learns_from_data:
        raise LandscapeError(f"{run_dir}: a surface run ({config.model.function}) is its own 2-D landscape: its "
                             "path on the function's contours is path.png in the run directory "
                             f"(optlab report {run_dir} redraws it)")
    if not config.kind.checkpoints:
        raise LandscapeError(f"{run_dir}: a {config.search.strategy} search keeps no weights; landscapes are "
                             "drawn for gradient runs")
    status = _check_state(run_dir)
    try:
        setup = build_setup(config)
    except SetupError as exc:
        raise LandscapeError(f"{run_dir}: {exc}") from None
    model = setup.model
    try:
        snaps = read_snapshots(run_dir, _evenly(snapshot_steps(run_dir), MAX_SNAPSHOTS),
                               sizes=(model.flat_params.size, model.flat_buffers.size))
    except SnapshotError as exc:
        raise LandscapeError(f"{exc}; remove it (or the snapshots folder) to draw the other pictures") from None
    initial = (model.flat_params.copy(), model.flat_buffers.copy())
    if snaps[0] and snaps[0][0] == 0:
        initial = (snaps[1][0], snaps[2][0])
    if (run_dir / "checkpoint.npz").is_file():
        try:
            ckpt = load_checkpoint(run_dir / "checkpoint.npz", size_limit(config))
        except CheckpointError as exc:
            raise LandscapeError(str(exc)) from None
        final = (ckpt.params, ckpt.buffers)
        if status != "completed":        # interrupted or died: the weights of its last checkpoint
            notes.append(f"the run is {status}: its final weights here are checkpoint.npz's, at step {ckpt.step}, "
                         "not a finished run's")
    elif snaps[0]:
        final = (snaps[1][-1], snaps[2][-1])
    else:
        raise LandscapeError(f"{run_dir}: no final weights: the run wrote neither checkpoint.npz nor weight "
                             "snapshots; train it with diagnostics.snapshot_every set (e.g. "
                             "diagnostics.snapshot_every=50)")
    if final[0].shape != model.flat_params.shape:
        raise LandscapeError(f"{run_dir}: the saved weights ({final[0].size}) do not fit the config's model "
                             f"({model.flat_params.size} parameters)")
    if not (np.all(np.isfinite(final[0])) and np.all(np.isfinite(final[1]))):
        raise LandscapeError(f"{run_dir}: the final weights are not finite (NaN or infinity): no loss can be "
                             "evaluated around them")
    return Loaded(config, setup, initial, final, snaps, notes)


def _check_state(run_dir: Path) -> str:
    """The run's status; LandscapeError when its weights are no landscape's centre: still training
    (its writer lock is held: the checkpoint is a mid-run one, about to change), diverged (its
    weights went to NaN or infinity), or a ``landscape/`` that is a planted link."""
    try:
        files.check_folder(run_dir)
    except LinkRefused as exc:
        raise LandscapeError(exc.strerror or str(exc)) from None
    if is_locked(run_dir):
        raise LandscapeError(f"{run_dir}: still training ({holder(run_dir)} holds its lock): its checkpoint is a "
                             "mid-run one; draw the landscape once the run has ended")
    status = run_status(run_dir)
    if status == "running":
        raise LandscapeError(f"{run_dir}: meta.json says the run is still running: draw the landscape once it has "
                             "ended")
    if status == "diverged":
        summary = RunDir(run_dir).read_json("summary.json") if (run_dir / "summary.json").is_file() else {}
        at = (summary.get("diverged_at") or {}).get("step") if isinstance(summary, dict) else None
        raise LandscapeError(f"{run_dir}: the run diverged{f' at step {at}' if at is not None else ''}: its weights "
                             "went to NaN or infinity, so there is no landscape around them; train it with a smaller "
                             "optimizer.lr, or draw the landscape of a run that converged")
    return status


def point_threads(workers: int | None) -> int:
    """Threads that evaluate grid points side by side, each on one BLAS thread: ``workers``, else the
    cores this process may use; one when the user chose the BLAS thread count themselves (their
    threads then share out each product instead)."""
    if workers is not None:
        return max(1, workers)
    return 1 if run_threads() is None else default_workers()


def _evenly(steps: list[int], k: int) -> list[int]:
    if len(steps) <= k:
        return steps
    return [steps[i] for i in np.unique(np.linspace(0, len(steps) - 1, k).round().astype(int))]


def _splits(run: Loaded, examples: int | None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """[(split, x, y)]: the train-evaluation subset and the validation split (first ``examples``)."""
    data, dtype = run.setup.data, run.setup.dtype
    out = []
    for name, split in (("train", train_eval_split(run.config, data)), ("val", data.val)):
        part = split.take(slice(0, examples)) if examples is not None else split
        if len(part):
            out.append((name, data.features(part.x, dtype), part.y))
    return out


def check_memory(run: Loaded, n_examples: int, points: int, limit: int | None) -> int:
    """The bytes a landscape needs at the least; :class:`LandscapeError` when above ``limit``
    (default: the memory the system has available)."""
    model, item = run.setup.model, run.setup.dtype.itemsize
    widths = [layer.params["W"].shape[1] for _, layer in model.layers if isinstance(layer, (Linear, LinearBiasTrick))]
    need = (3 * n_examples * widths[0] * item                 # X W_0 and the two X D_j
            + 3 * model.n_params() * 8                        # the center and two directions
            + model.n_params() * item + 3 * n_examples * max(widths) * item   # one grid point
            + points * 8 * 8)                                 # coefficients, losses and accuracies, grids
    limit = limit if limit is not None else available_bytes()    # MemAvailable, or the cgroup's room if less
    if limit is not None and need > limit:
        raise LandscapeError(f"the landscape needs about {need / 2**30:.2f} GiB ({points:,} grid points over "
                             f"{n_examples:,} examples, {model.n_params():,} parameters) and "
                             f"{limit / 2**30:.2f} GiB are available: use a smaller --resolution or --examples")
    return need


class _Counter:
    def __init__(self, total: int, on_progress: ProgressFn | None) -> None:
        self.done, self.total, self.on_progress = 0, total, on_progress

    def evaluate(self, plane: PlaneLoss, coeffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        losses, accs = np.empty(len(coeffs)), np.empty(len(coeffs))
        for start in range(0, len(coeffs), plane.chunk):
            stop = start + plane.chunk
            losses[start:stop], accs[start:stop] = plane(coeffs[start:stop])
            self.done += len(coeffs[start:stop])
            if self.on_progress is not None:
                self.on_progress(self.done, self.total)
        return losses, accs


def _alphas(points: int, low: float = -0.5, high: float = 1.5) -> np.ndarray:
    """``points`` values over [low, high] plus 0 and 1 exactly (the two ends of the line)."""
    return np.union1d(np.linspace(low, high, points).round(12), [0.0, 1.0])


def _axis(low: float, high: float, n: int) -> np.ndarray:
    a = np.linspace(low, high, n)
    if low < 0 < high:
        a[np.argmin(np.abs(a))] = 0.0
    return a


def _interpolate(run: Loaded, splits, counter: _Counter, a_end: tuple, b_end: tuple, alphas: np.ndarray,
                 threads: int) -> dict:
    """Columns alpha, <split>_loss, <split>_acc along (1 - alpha) a_end + alpha b_end."""
    C = np.stack([1.0 - alphas, alphas], axis=1)
    table = {"alpha": alphas}
    for name, x, y in splits:
        plane = PlaneLoss(run.setup.model, run.setup.loss_fn, run.setup.penalty, x, y,
                          np.zeros_like(a_end[0]), np.stack([a_end[0], b_end[0]]),
                          np.zeros_like(a_end[1]), np.stack([a_end[1], b_end[1]]), threads=threads)
        table[f"{name}_loss"], table[f"{name}_acc"] = counter.evaluate(plane, C)
    return table


def landscape(run_dir: Path, opts: Options, on_progress: ProgressFn | None = None) -> dict:
    """Compute and save the pictures ``opts.pictures`` of a run (module docstring); returns the
    facts written to ``landscape/landscape.json`` (times, losses at the ends, notes).

    BLAS runs on one thread unless the user set a count, as training does (optlab.training.threads):
    the products are per grid point, small enough that a second thread waiting for a busy core
    slows them down (2.6 times on the shared 2-core machine, docs/performance.md), and the float32
    values then match the run's own evaluations."""
    with limited(run_threads()):
        return _landscape(Path(run_dir), opts, on_progress)


def _landscape(run_dir: Path, opts: Options, on_progress: ProgressFn | None) -> dict:
    run = load_run(run_dir)
    opts.notes += run.notes
    pictures = list(opts.pictures)
    if "path" in pictures and len(run.snapshots[0]) < 3:
        why = (f"{run_dir}: the optimizer's path needs weight snapshots, and the run kept "
               f"{len(run.snapshots[0]) or 'none'}: train it with diagnostics.snapshot_every set "
               "(e.g. diagnostics.snapshot_every=50)")
        if opts.explicit:
            raise LandscapeError(why)
        pictures.remove("path")
        opts.notes.append(why.replace(f"{run_dir}: ", "no path.png: "))
    splits = _splits(run, opts.examples)
    if not splits:
        raise LandscapeError(f"{run_dir}: no examples to evaluate the loss on")
    model, n = run.setup.model, len(splits[0][2])
    linear = sum(isinstance(layer, (Linear, LinearBiasTrick)) for _, layer in model.layers) == 1
    alphas, axis = _alphas(opts.points), _axis(-opts.span, opts.span, opts.grid)
    sizes = {"interpolation": len(alphas) * len(splits), "slice": opts.grid ** 2 + (3 * opts.points if linear else 0),
             "path": opts.grid ** 2}
    total = sum(sizes[p] for p in pictures)
    check_memory(run, n, total, opts.max_memory)
    threads = point_threads(opts.workers)
    counter = _Counter(total, on_progress)
    rng = np.random.default_rng(opts.seed)
    w1, b1 = run.final
    metrics = read_metrics(run_dir / "metrics.csv")
    recorded = [v for v in metrics.get("train_loss", []) if not math.isnan(v)]
    info: dict = {"examples": {name: len(y) for name, _, y in splits}, "grid": opts.grid, "seed": opts.seed,
                  "include_biases": opts.include_biases, "seconds": {}, "notes": opts.notes}
    train = [s for s in splits if s[0] == "train"]
    for picture in pictures:
        t0 = time.perf_counter()
        if picture == "interpolation":
            table = _interpolate(run, splits, counter, run.initial, run.final, alphas, threads)
            files.write_table(run_dir, "interpolation.csv", table)
            at = {a: float(table["train_loss"][np.flatnonzero(alphas == a)[0]]) for a in (0.0, 1.0)}
            info["interpolation"] = {"train_loss_at_0": at[0.0], "train_loss_at_1": at[1.0],
                                     "recorded_initial": recorded[0] if recorded else None,
                                     "recorded_final": recorded[-1] if recorded else None}
        elif picture == "slice":
            d1 = filter_normalized(model, w1, rng, opts.include_biases)
            d2 = filter_normalized(model, w1, rng, opts.include_biases)
            plane = PlaneLoss(model, run.setup.loss_fn, run.setup.penalty, *train[0][1:], w1, np.stack([d1, d2]),
                              b1, threads=threads)
            loss, acc = counter.evaluate(plane, grid_coefficients(axis, axis))
            shape = (len(axis), len(axis))
            files.write_arrays(run_dir, "slice.npz", {"alphas": axis, "betas": axis, "loss": loss.reshape(shape),
                                                      "accuracy": acc.reshape(shape)})
            info["slice"] = {"loss_at_origin": float(loss.reshape(shape)[len(axis) // 2, len(axis) // 2]),
                             "min": float(np.nanmin(loss)), "span": opts.span}
            if linear:   # CS231n: L(W + a W1) along random directions W1 (scaled to ||W||)
                a = _axis(-opts.span, opts.span, opts.points)
                table = {"alpha": a}
                for k in range(3):
                    d = random_direction(w1.size, rng, like=w1)
                    one = PlaneLoss(model, run.setup.loss_fn, run.setup.penalty, *train[0][1:], w1, d[None], b1,
                                    threads=threads)
                    table[f"direction_{k + 1}"] = counter.evaluate(one, a[:, None])[0]
                files.write_table(run_dir, "random_1d.csv", table)
        elif picture == "path":
            steps, P, _ = run.snapshots
            dirs, variance = pca_directions(P, 2)
            xy = project(P, P[-1], dirs[0], dirs[1])                     # (s, 2)
            lo, hi = xy.min(axis=0), xy.max(axis=0)
            pad = 0.25 * np.maximum(hi - lo, 1e-12)
            ax_a = _axis(lo[0] - pad[0], hi[0] + pad[0], opts.grid)
            ax_b = _axis(lo[1] - pad[1], hi[1] + pad[1], opts.grid)
            plane = PlaneLoss(model, run.setup.loss_fn, run.setup.penalty, *train[0][1:], P[-1], dirs, b1,
                              threads=threads)
            loss, _ = counter.evaluate(plane, grid_coefficients(ax_a, ax_b))
            start, _ = plane(xy[:1])                                    # the path's start, on the plane
            files.write_arrays(run_dir, "path.npz", {"alphas": ax_a, "betas": ax_b,
                                                     "loss": loss.reshape(len(ax_b), len(ax_a)), "path": xy,
                                                     "steps": np.asarray(steps), "variance": variance})
            info["path"] = {"snapshots": len(steps), "variance": [float(v) for v in variance],
                            "loss_at_projected_start": float(start[0])}
        info["seconds"][picture] = time.perf_counter() - t0
    files.write_info(run_dir, info)
    render_run(run_dir)   # the landscape figures, with the run's others and on its report.html
    return info


def between(run_a: Path, run_b: Path, opts: Options, on_progress: ProgressFn | None = None) -> dict:
    """Interpolate from run A's final weights (alpha = 0) to run B's (alpha = 1) on A's data;
    saved as ``<A>/landscape/pair_<B>.csv`` and ``.png``. One BLAS thread, as :func:`landscape`."""
    with limited(run_threads()):
        return _between(run_a, run_b, opts, on_progress)


def _between(run_a: Path, run_b: Path, opts: Options, on_progress: ProgressFn | None) -> dict:
    a, b = load_run(run_a), load_run(run_b)
    for key in ("data", "model", "loss", "regularization"):
        mine, theirs = getattr(a.config, key), getattr(b.config, key)
        if (mine.model_dump() if mine is not None else None) != (theirs.model_dump() if theirs is not None else None):
            raise LandscapeError(f"{run_a} and {run_b} differ in their {key} section: the interpolation between "
                                 "two runs needs one model on one objective")
    if a.config.train.dtype != b.config.train.dtype:
        raise LandscapeError(f"{run_a} and {run_b} differ in train.dtype")
    splits = _splits(a, opts.examples)
    alphas = _alphas(opts.points)
    check_memory(a, len(splits[0][2]), len(alphas) * len(splits), opts.max_memory)
    t0 = time.perf_counter()
    table = _interpolate(a, splits, _Counter(len(alphas) * len(splits), on_progress), a.final, b.final, alphas,
                         point_threads(opts.workers))
    name = Path(run_b).resolve().name
    files.write_table(run_a, f"pair_{name}.csv", table)
    info = {f"pair_{name}": {"other": str(run_b), "seconds": time.perf_counter() - t0,
                             "barrier": float(np.max(table["train_loss"][(alphas >= 0) & (alphas <= 1)])
                                              - max(table["train_loss"][alphas == 0][0],
                                                    table["train_loss"][alphas == 1][0]))}}
    files.write_info(run_a, info)
    render_run(run_a)
    return info
