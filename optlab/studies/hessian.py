"""``optlab hessian``: the Hessian's spectrum of a finished run, at its final weights or at every
weight snapshot, from Hessian-vector products (docs/hessian.md).

The objective is the training one, mean data loss + penalty, on the first ``examples`` of the
run's fixed train-evaluation subset, in float64, batch norm on the batch's statistics and dropout
off (as ``diagnostics.sharpness_every`` measures it). The products are exact (the R-operator,
optlab.engine.hvp) where every part of the model has one, else centred differences of the gradient
(said so in hessian.json and on the terminal). A surface run's Hessian is its function's closed
form (optlab.engine.surfaces) at the path's last point (each recorded point with snapshots).

For each point and each block — the whole network, then each layer's diagonal block (the Hessian
of the objective in that layer's parameters alone, the others held) — :func:`hessian` computes
with optlab.engine.spectrum: the top-k eigenvalues and eigenvectors (Lanczos, full
re-orthogonalisation), the trace (Hutchinson, Rademacher probes, 95 % interval), and the spectral
density (SLQ), and counts the outliers above the bulk next to C - 1 (Papyan 2019). The values go
to ``<run>/hessian/`` (optlab.record.hessian_report) and the figures onto the run's report.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from optlab.engine import spectrum
from optlab.record import hessian_report as files
from optlab.record.run_report import render_run
from optlab.record.rundir import read_metrics
from optlab.record.snapshots import read_snapshots, snapshot_steps
from optlab.studies.landscape import LandscapeError, load_run
from optlab.training.curvature import hessian_vector_operator
from optlab.training.setup import train_eval_split
from optlab.training.threads import limited, run_threads

Operator = Callable[[np.ndarray], np.ndarray]


class HessianError(LandscapeError):
    """Bad input (exit 2): the run cannot give the asked spectrum."""


@dataclass
class Options:
    examples: int = 1000            # first examples of the train-evaluation subset
    top_k: int = 20
    steps: int | None = None        # Lanczos steps for the top-k (default 2k + 20)
    probes: int = 30                # Hutchinson probes
    slq_runs: int = 3
    slq_steps: int = 80
    layers: bool = True             # each layer's diagonal block too
    snapshots: bool = False         # every weight snapshot (at most max_snapshots, evenly spaced)
    max_snapshots: int = 12
    seed: int = 0


@dataclass
class Target:
    """What the spectrum is taken of: points (step, make_operator) and the blocks of the parameters."""
    points: list[tuple[int, Callable[[], tuple[Operator, str]]]]
    blocks: list[tuple[str, slice]]          # ("network", everything) first
    n: int
    classes: int | None
    examples: int | None


def _evenly(items: list, k: int) -> list:
    if len(items) <= k:
        return items
    return [items[i] for i in np.unique(np.linspace(0, len(items) - 1, k).round().astype(int))]


def _surface_target(run_dir: Path, config, opts: Options) -> Target:
    from optlab.engine.surfaces import OBJECTIVES

    objective = OBJECTIVES[config.model.function]
    m = read_metrics(run_dir / "metrics.csv")
    rows = [(int(s), x, y) for s, x, y in zip(m["step"], m["x"], m["y"]) if math.isfinite(x) and math.isfinite(y)]
    if not rows:
        raise HessianError(f"{run_dir}: the path has no finite point")
    rows = _evenly(rows, opts.max_snapshots) if opts.snapshots else rows[-1:]

    def at(x: float, y: float):
        H = objective.hessian(x, y)
        return lambda: ((lambda v: H @ v), "exact (closed form)")

    return Target([(s, at(x, y)) for s, x, y in rows], [("network", slice(0, 2))], 2, None, None)


def _network_target(run_dir: Path, opts: Options) -> Target:
    try:
        run = load_run(run_dir, dtype="float64")
    except LandscapeError as exc:
        raise HessianError(str(exc)) from None
    setup, model = run.setup, run.setup.model
    split = train_eval_split(run.config, setup.data).take(slice(0, opts.examples))
    if not len(split):
        raise HessianError(f"{run_dir}: no training examples to take the Hessian on")
    x, y = setup.data.features(split.x, np.float64), split.y

    def at(params: np.ndarray, buffers: np.ndarray):
        def make() -> tuple[Operator, str]:
            model.flat_params[...] = params
            model.flat_buffers[...] = buffers
            return hessian_vector_operator(model, setup.loss_fn, setup.penalty, x, y)
        return make

    if opts.snapshots:
        steps = _evenly(snapshot_steps(run_dir), opts.max_snapshots)
        if len(steps) < 2:
            raise HessianError(f"{run_dir}: --snapshots needs weight snapshots and the run kept "
                               f"{len(steps) or 'none'}: train it with diagnostics.snapshot_every set "
                               "(e.g. diagnostics.snapshot_every=50)")
        got, P, B = read_snapshots(run_dir, steps)
        points = [(s, at(P[i].astype(np.float64), B[i].astype(np.float64))) for i, s in enumerate(got)]
    else:
        m = read_metrics(run_dir / "metrics.csv")
        last = int(m["step"][-1]) if m.get("step") else 0
        points = [(last, at(run.final[0].astype(np.float64), run.final[1].astype(np.float64)))]
    blocks = [("network", slice(0, model.n_params()))]
    if opts.layers:
        spans = model.params.spans
        for lname, layer in model.layers:
            if layer.params:
                own = [spans[f"{lname}.{k}"] for k in layer.params]
                blocks.append((lname, slice(own[0].start, own[-1].stop)))
        if len(blocks) == 2:      # one layer: its block is the network
            blocks = blocks[:1]
    return Target(points, blocks, model.n_params(), setup.data.n_classes, len(y))


def block_operator(op: Operator, n: int, block: slice) -> Operator:
    """The diagonal block H[block, block] as an operator on the block's coordinates."""
    def product(v: np.ndarray) -> np.ndarray:
        full = np.zeros(n)
        full[block] = v
        return op(full)[block]
    return product


def products_per_block(size: int, opts: Options) -> int:
    steps = min(size, opts.steps or 2 * opts.top_k + 20)
    probes = size if size <= opts.probes else opts.probes
    return steps + min(opts.top_k, steps) + probes + opts.slq_runs * min(size, opts.slq_steps)


def plan(target: Target, opts: Options, seconds_per_product: float) -> dict:
    per_point = sum(products_per_block(b.stop - b.start, opts) for _, b in target.blocks)
    total = per_point * len(target.points)
    return {"products": total, "seconds": total * seconds_per_product, "seconds_per_product": seconds_per_product,
            "points": len(target.points), "blocks": [name for name, _ in target.blocks]}


def hessian(run_dir: Path, opts: Options, on_plan: Callable[[dict], None] | None = None) -> dict:
    """Compute and save the spectra (module docstring); returns what hessian.json holds. BLAS runs
    as training does (optlab.training.threads)."""
    with limited(run_threads()):
        return _hessian(Path(run_dir), opts, on_plan)


def _target(run_dir: Path, opts: Options) -> Target:
    from optlab.config.loading import ConfigError, load_config

    if not (run_dir / "config.yaml").is_file() or not (run_dir / "metrics.csv").is_file():
        return _network_target(run_dir, opts)      # says why it is not a run directory
    try:
        config = load_config(run_dir / "config.yaml")
    except ConfigError as exc:
        raise HessianError(f"{run_dir}/config.yaml: {'; '.join(map(str, exc.problems))}") from None
    return _network_target(run_dir, opts) if config.kind.learns_from_data else _surface_target(run_dir, config, opts)


def _hessian(run_dir: Path, opts: Options, on_plan) -> dict:
    target = _target(run_dir, opts)
    t0 = time.perf_counter()
    op, method = target.points[-1][1]()
    probe = np.random.default_rng(opts.seed).standard_normal(target.n)
    op(probe)                                        # warm-up, then the time of one product
    t1 = time.perf_counter()
    op(probe)
    info = {"examples": target.examples, "method": method, "seed": opts.seed, "top_k": opts.top_k,
            "probes": opts.probes, "slq_runs": opts.slq_runs, "slq_steps": opts.slq_steps,
            "plan": plan(target, opts, time.perf_counter() - t1), "classes": target.classes, "points": []}
    if on_plan is not None:
        on_plan(info)
    top_rows, summary_rows, arrays, vectors = [], [], {}, None
    for step, make in target.points:
        op, _ = make()
        for name, block in target.blocks:
            size = block.stop - block.start
            bop = op if size == target.n else block_operator(op, target.n, block)
            rng = np.random.default_rng([opts.seed, step, len(summary_rows)])
            ts = time.perf_counter()
            values, vecs, residuals = spectrum.top_eigen(bop, size, opts.top_k, rng, opts.steps)
            trace = spectrum.hutchinson(bop, size, opts.probes, rng)
            nodes, weights = spectrum.slq(bop, size, opts.slq_runs, opts.slq_steps, rng)
            outliers, gap = spectrum.count_outliers(values)
            for rank, (v, r) in enumerate(zip(values, residuals), start=1):
                top_rows.append({"step": step, "block": name, "rank": rank, "eigenvalue": float(v),
                                 "residual": float(r)})
            arrays[f"nodes__{name}__{step}"], arrays[f"weights__{name}__{step}"] = nodes, weights
            summary_rows.append({
                "step": step, "block": name, "params": size, "lambda_max": float(values[0]),
                "lambda_min": float(nodes[weights > 0].min()), "trace": trace.estimate,
                "trace_std_error": trace.std_error, "trace_low": trace.low, "trace_high": trace.high,
                "trace_slq": size * spectrum.quadrature_mean(nodes, weights),
                "negative_fraction": spectrum.negative_mass(nodes, weights), "outliers": outliers,
                "outlier_gap": gap, "seconds": time.perf_counter() - ts})
            if name == "network":
                vectors = vecs
    info["seconds"] = time.perf_counter() - t0
    info["points"] = summary_rows
    files.write_rows(run_dir, "summary.csv", summary_rows)
    files.write_rows(run_dir, "top_k.csv", top_rows)
    files.write_arrays(run_dir, "density.npz", arrays)
    files.write_arrays(run_dir, "eigenvectors.npz", {"step": np.asarray(target.points[-1][0]),
                                                     "eigenvalues": np.asarray(
                                                         [r["eigenvalue"] for r in top_rows
                                                          if r["block"] == "network"
                                                          and r["step"] == target.points[-1][0]]),
                                                     "eigenvectors": vectors})
    files.write_info(run_dir, info)
    render_run(run_dir)
    return info
