"""The files and figures of ``optlab hessian``, in ``<run>/hessian/``; every figure is drawn from
the saved values alone, so ``optlab report`` re-renders it without a Hessian-vector product.

- ``summary.csv``: one row per (step, block) — block ``network`` or a layer's name (its diagonal
  block of the Hessian): params, lambda_max, lambda_min (the lowest Lanczos value of the density's
  runs), trace by Hutchinson with its 95 % interval, trace by SLQ, the negative part of the
  spectrum (its fraction by the quadrature), the outliers above the widest gap of the top-k;
- ``top_k.csv``: the top-k eigenvalues and their residuals ||H u - lambda u||, per (step, block);
- ``density.npz``: the SLQ nodes and weights of each (step, block) (``nodes__<block>__<step>``,
  ``weights__...``); ``eigenvectors.npz``: the whole network's top-k eigenvectors at the last step;
- ``hessian.json``: how they were made (examples, method, seeds, products, seconds).

Figures (through the run's FigureSet, :func:`draw_hessian`): ``density`` (PyHessian's figure: the
broadened density on a log scale, network and layers, zero marked, the negative side drawn),
``top_k`` (the top eigenvalues per block), and with several steps ``training`` (the density of
each step as a heat map, the top-k eigenvalues over it: the outliers' growth and the bulk in one).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from optlab.engine.spectrum import default_sigma, density, density_grid
from optlab.record.rundir import RunDir

FOLDER = "hessian"


def _rd(run_dir: Path) -> RunDir:
    (Path(run_dir) / FOLDER).mkdir(exist_ok=True)
    return RunDir(run_dir)


def write_rows(run_dir: Path, name: str, rows: list[dict]) -> None:
    """A CSV of dict rows (floats by repr), atomically."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: repr(float(v)) if isinstance(v, (float, np.floating)) else v for k, v in row.items()})
    _rd(run_dir).write_text(f"{FOLDER}/{name}", buf.getvalue())


def write_arrays(run_dir: Path, name: str, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    _rd(run_dir).write_bytes(f"{FOLDER}/{name}", buf.getvalue())


def write_info(run_dir: Path, info: dict) -> None:
    _rd(run_dir).write_json(f"{FOLDER}/hessian.json", info)


def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def read_density(path: Path) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
    """{(block, step): (nodes, weights)} from density.npz."""
    out = {}
    with np.load(path, allow_pickle=False) as npz:
        for key in npz.files:
            kind, block, step = key.split("__")
            if kind == "nodes":
                out[(block, int(step))] = (npz[key], npz[f"weights__{block}__{step}"])
    return out


def _curve(nodes, weights, sigma=None):
    sigma = sigma or default_sigma(nodes)
    grid = density_grid(nodes, sigma, 2000)
    return grid, density(nodes, weights, grid, sigma)


def density_figure(spectra: dict, step: int, title: str):
    """PyHessian's density figure (Ghorbani et al. 2019, fig. 1): log-density against eigenvalue."""
    from matplotlib.figure import Figure

    blocks = [b for b, s in spectra if s == step]
    fig = Figure(figsize=(7, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for i, block in enumerate(blocks):
        grid, phi = _curve(*spectra[(block, step)])
        ax.semilogy(grid, np.maximum(phi, 1e-12), lw=1.6 if block == "network" else 1.0,
                    color="black" if block == "network" else f"C{i}", label=block)
    ax.axvline(0, color="0.4", ls=":", lw=1)
    ax.axvspan(ax.get_xlim()[0], 0, color="tab:red", alpha=0.06, lw=0, label="negative curvature")
    ax.set_ylim(1e-8, None)
    ax.set(xlabel="eigenvalue", ylabel="density (SLQ, Gaussian-broadened)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def top_k_figure(rows: list[dict], step: int, title: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.add_subplot()
    blocks = list(dict.fromkeys(r["block"] for r in rows if int(r["step"]) == step))
    for i, block in enumerate(blocks):
        vals = [float(r["eigenvalue"]) for r in rows if int(r["step"]) == step and r["block"] == block]
        ax.plot(np.arange(1, len(vals) + 1), vals, marker="o", ms=4, lw=1,
                color="black" if block == "network" else f"C{i}", label=block)
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.axhline(0, color="0.4", ls=":", lw=1)
    ax.set(xlabel="rank", ylabel="eigenvalue (Lanczos)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def training_figure(spectra: dict, rows: list[dict], title: str):
    """The whole network's density at each step (heat map, log scale) and its top-k eigenvalues over it."""
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    steps = sorted(s for b, s in spectra if b == "network")
    all_nodes = np.concatenate([spectra[("network", s)][0].ravel() for s in steps])
    sigma = default_sigma(all_nodes)
    grid = density_grid(all_nodes, sigma, 800)
    Z = np.array([density(*spectra[("network", s)], grid, sigma) for s in steps]).T     # (grid, steps)
    fig = Figure(figsize=(7.5, 4.6), layout="constrained")
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(np.arange(len(steps)), grid, np.maximum(Z, 1e-8), shading="nearest", cmap="Greys",
                         norm=LogNorm(vmin=1e-6, vmax=max(1e-5, float(Z.max()))))
    fig.colorbar(mesh, ax=ax, label="density (bulk)")
    top = {s: [float(r["eigenvalue"]) for r in rows if r["block"] == "network" and int(r["step"]) == s] for s in steps}
    k = min(len(v) for v in top.values())
    for j in range(k):
        ax.plot(np.arange(len(steps)), [top[s][j] for s in steps], color="tab:red", lw=0.9, alpha=0.8,
                label="top-k eigenvalues" if j == 0 else None)
    ax.axhline(0, color="tab:blue", ls=":", lw=1)
    ticks = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 8)).round().astype(int))
    ax.set_xticks(ticks, [str(steps[t]) for t in ticks])
    ax.set(xlabel="step", ylabel="eigenvalue", title=title)
    ax.legend(fontsize="small", loc="upper left")
    return fig


def draw_hessian(run_dir: Path, figures) -> None:
    """Add the hessian/ figures (if ``optlab hessian`` saved values) to ``figures``
    (optlab.record.run_report.render_run calls it, so ``optlab report`` redraws them)."""
    name, folder = Path(run_dir).name, Path(run_dir) / FOLDER
    if not (folder / "top_k.csv").is_file() or not (folder / "density.npz").is_file():
        return
    rows, spectra = read_rows(folder / "top_k.csv"), read_density(folder / "density.npz")
    last = max(s for _, s in spectra)
    figures.add(f"{FOLDER}/density", density_figure(spectra, last, f"{name}: Hessian density, step {last}"),
                "the Hessian's spectral density by stochastic Lanczos quadrature (Ghorbani et al. 2019), whole "
                "network and each layer's diagonal block; the shaded side is negative curvature")
    figures.add(f"{FOLDER}/top_k", top_k_figure(rows, last, f"{name}: top Hessian eigenvalues, step {last}"),
                "the top eigenvalues by Lanczos, whole network and per layer")
    if len({s for b, s in spectra if b == "network"}) > 1:
        figures.add(f"{FOLDER}/training", training_figure(spectra, rows, f"{name}: the Hessian over training"),
                    "the spectral density at each snapshot (grey) and the top eigenvalues (red): the outliers "
                    "grow out of the bulk (Sagun et al. 2017, Papyan 2019)")
