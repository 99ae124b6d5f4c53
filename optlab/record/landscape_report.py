"""The files and figures of ``optlab landscape``, in ``<run>/landscape/``, and the sharpness figure of
a run that recorded it; every figure is drawn from the saved values alone, so ``optlab report``
re-renders it without evaluating a single loss.

- ``interpolation.csv`` -> ``interpolation.png``: loss along (1 - alpha) w_init + alpha w_final
  (Goodfellow, Vinyals & Saxe 2015), training and validation;
- ``pair_<other>.csv`` -> ``pair_<other>.png``: the same between this run's final weights
  (alpha = 0) and another run's (alpha = 1);
- ``slice.npz`` -> ``slice.png``: the loss on the plane w_final + a d1 + b d2 of two
  filter-normalised random directions (Li et al. 2018), as contours;
- ``path.npz`` -> ``path.png``: the loss on the plane of the top two PCA directions of the weight
  snapshots and the snapshots' path projected onto that same plane;
- ``random_1d.csv`` -> ``random_1d.png``: a linear classifier's loss along random directions
  through its W (CS231n, "Visualizing the loss function");
- ``landscape.json``: how the values were made (examples, grid, seeds, times);
- the run's ``sharpness.csv`` -> ``sharpness.png`` (:func:`sharpness_figure`).

Each figure is drawn with the run's others (optlab.record.run_report.render_run, through
:func:`draw_landscape`): in ``plots.format`` and on the run's report.html.
"""

from __future__ import annotations

import csv
import io
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from optlab.record.bounded_npz import read_npz
from optlab.record.guard import LinkRefused
from optlab.record.rundir import RunDir, read_metrics

FOLDER = "landscape"


def check_folder(run_dir: Path) -> None:
    """LinkRefused (optlab.record.guard) when ``<run>/landscape`` is a symbolic link or not a
    directory: the landscape's files are written into the run directory itself, never through a
    link to elsewhere."""
    folder = Path(run_dir) / FOLDER
    if folder.is_symlink():
        raise LinkRefused(0, f"{folder} is a symbolic link (to {os.readlink(folder)}); optlab does not write "
                             "through links: remove it, and the landscape is written in the run directory")
    if folder.exists() and not folder.is_dir():
        raise LinkRefused(0, f"{folder} is not a directory; remove it")


def _rd(run_dir: Path) -> RunDir:
    check_folder(run_dir)
    (Path(run_dir) / FOLDER).mkdir(exist_ok=True)
    return RunDir(run_dir)


def write_table(run_dir: Path, name: str, columns: dict[str, np.ndarray]) -> None:
    """A CSV of equal-length columns (floats by repr), atomically."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(columns))
    for row in zip(*columns.values()):
        w.writerow([repr(float(v)) for v in row])
    _rd(run_dir).write_text(f"{FOLDER}/{name}", buf.getvalue())


def write_arrays(run_dir: Path, name: str, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    _rd(run_dir).write_bytes(f"{FOLDER}/{name}", buf.getvalue())


def write_info(run_dir: Path, info: dict) -> None:
    rd = _rd(run_dir)
    path = rd.path / FOLDER / "landscape.json"
    old = rd.read_json(f"{FOLDER}/landscape.json") if path.is_file() else {}
    rd.write_json(f"{FOLDER}/landscape.json", {**old, **info})


def _levels(Z: np.ndarray, n: int = 30) -> np.ndarray:
    """Contour levels from the minimum to the 90th percentile: the far corners of a slice can be
    orders of magnitude higher and would squash the basin into one level."""
    ok = Z[np.isfinite(Z)]
    low, high = float(ok.min()), float(np.percentile(ok, 90))
    if not high > low:
        high = low + max(abs(low), 1.0) * 1e-3
    return np.linspace(low, high, n)


def _contour(ax, alphas, betas, Z, fig):
    if not np.isfinite(Z).any():
        raise ValueError("no finite loss anywhere on the grid (the weights it is drawn around are not finite)")
    Zc = np.where(np.isfinite(Z), Z, np.nanmax(np.where(np.isfinite(Z), Z, np.nan)))
    filled = ax.contourf(alphas, betas, Zc, levels=_levels(Z), cmap="viridis", extend="max")
    ax.contour(alphas, betas, Zc, levels=_levels(Z, 15), colors="white", linewidths=0.4, alpha=0.6)
    fig.colorbar(filled, ax=ax, label="training loss")


def interpolation_figure(table: dict, title: str, ends: tuple[str, str] = ("initial", "final")):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.add_subplot()
    a = np.asarray(table["alpha"])
    ax.plot(a, table["train_loss"], color="tab:blue", label="training")
    if "val_loss" in table and np.isfinite(table["val_loss"]).any():
        ax.plot(a, table["val_loss"], color="tab:orange", label="validation")
    for x, label in zip((0.0, 1.0), ends):
        ax.axvline(x, color="0.5", ls=":", lw=1)
        ax.annotate(label, (x, 0.98), xycoords=("data", "axes fraction"), ha="center", va="top", fontsize="small",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8})
    finite = np.asarray(table["train_loss"])[np.isfinite(table["train_loss"])]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
        ax.set_yscale("log")
    ax.set(xlabel="α", ylabel="loss (data + penalty)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="center right")
    return fig


def slice_figure(data: dict, title: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 5.2), layout="constrained")
    ax = fig.add_subplot()
    _contour(ax, data["alphas"], data["betas"], data["loss"], fig)
    ax.plot([0], [0], marker="*", color="red", ms=12, ls="none", label="final weights")
    ax.set(xlabel="α (direction 1)", ylabel="β (direction 2)", title=title, aspect="equal")
    ax.legend(loc="upper right", fontsize="small")
    return fig


def path_figure(data: dict, title: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 5.2), layout="constrained")
    ax = fig.add_subplot()
    _contour(ax, data["alphas"], data["betas"], data["loss"], fig)
    xy = data["path"]
    ax.plot(xy[:, 0], xy[:, 1], color="red", lw=1.2, marker=".", ms=3, label="optimizer's path")
    ax.plot(*xy[0], marker="o", color="white", mec="red", ms=8, ls="none", label=f"step {int(data['steps'][0])}")
    ax.plot(*xy[-1], marker="*", color="red", ms=12, ls="none", label=f"step {int(data['steps'][-1])}")
    var = data["variance"]
    ax.set(xlabel=f"PCA direction 1 ({100 * var[0]:.1f} % of the path's variance)",
           ylabel=f"PCA direction 2 ({100 * var[1]:.1f} %)", title=title)
    ax.legend(loc="upper right", fontsize="small")
    return fig


def random_1d_figure(table: dict, title: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.add_subplot()
    a = np.asarray(table["alpha"])
    for key in [k for k in table if k.startswith("direction_")]:
        ax.plot(a, table[key], lw=1.2, label=key.replace("_", " "))
    ax.axvline(0, color="0.5", ls=":", lw=1)
    ax.set(xlabel="a  (W + a W1)", ylabel="loss (data + penalty)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def sharpness_figure(table: dict, title: str):
    """lambda_max (or the preconditioned one, when the threshold is for it) against the step, with
    the stability threshold of the learning rate of each step."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.add_subplot()
    step = np.asarray(table["step"])
    pre = np.asarray(table["preconditioned"], dtype=float)
    rule = table.get("rule_text", "2/η")
    ax.plot(step, table["lambda_max"], color="tab:blue", marker="." if len(step) < 80 else None,
            label="λ_max of the Hessian")
    if np.isfinite(pre).any():
        ax.plot(step, pre, color="tab:green", marker="." if len(step) < 80 else None,
                label="preconditioned λ_max (P⁻¹H)")
    ax.plot(step, table["threshold"], color="tab:red", ls="--", drawstyle="steps-post", label=f"threshold {rule}")
    ax.set(xlabel="step", ylabel="sharpness", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def read_table(path: Path) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in read_metrics(path).items()}


def read_sharpness(path: Path) -> dict:
    """sharpness.csv as columns (``rule`` kept as text in ``rule_text``)."""
    text = Path(path).read_text(encoding="utf-8")
    rows = [r for r in csv.reader(io.StringIO(text))]
    header, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    out: dict = {name: np.array([float(r[i]) if r[i] else math.nan for r in body])
                 for i, name in enumerate(header) if name != "rule"}
    out["rule_text"] = body[-1][header.index("rule")] if body else "2/η"
    return out


def draw_landscape(run_dir: Path, figures) -> None:
    """Add every landscape figure whose values ``run_dir/landscape/`` holds to ``figures`` (an
    optlab.record.figure_set.FigureSet: files in ``plots.format``, and the run's report.html).
    optlab.record.run_report.render_run calls it, so ``optlab landscape`` and
    ``optlab report`` draw them with the run's other figures."""
    name, folder = Path(run_dir).name, Path(run_dir) / FOLDER
    if folder.is_symlink() or not folder.is_dir():   # never read through a planted link
        return

    def add(stem: str, build, caption: str) -> None:
        """One figure; values that cannot be read or drawn (a landscape cut short, a diverged run's
        NaN) cost that figure alone, reported on the page, never the run's report."""
        try:
            fig = build()
        except (OSError, ValueError, KeyError, IndexError, EOFError, zipfile.BadZipFile) as exc:
            figures.fail(f"{FOLDER}/{stem}", caption, exc)
            return
        figures.add(f"{FOLDER}/{stem}", fig, caption)

    def arrays(stem: str) -> dict:
        return read_npz(folder / f"{stem}.npz", 1 << 28, "a landscape file")

    if (folder / "interpolation.csv").is_file():
        add("interpolation", lambda: interpolation_figure(
            read_table(folder / "interpolation.csv"), f"{name}: from the initial to the final weights"),
            "the loss along the line from the initial to the final weights (Goodfellow et al. 2015)")
    for pair in sorted(folder.glob("pair_*.csv")):
        other = pair.stem.removeprefix("pair_")
        add(pair.stem, lambda pair=pair, other=other: interpolation_figure(
            read_table(pair), f"from {name} (α = 0) to {other} (α = 1)", ends=(name, other)),
            f"the loss along the line from this run's final weights to {other}'s")
    if (folder / "random_1d.csv").is_file():
        add("random_1d", lambda: random_1d_figure(
            read_table(folder / "random_1d.csv"), f"{name}: the loss along random directions through W"),
            "the loss along random directions through W (CS231n, 'Visualizing the loss function')")
    for stem, draw, what, caption in (
            ("slice", slice_figure, "filter-normalised slice",
             "the loss on a plane of two filter-normalised random directions through the final weights "
             "(Li et al. 2018)"),
            ("path", path_figure, "the path on its PCA plane",
             "the weight snapshots' path on the plane of their top two PCA directions, over the loss on that plane")):
        if (folder / f"{stem}.npz").is_file():
            add(stem, lambda stem=stem, draw=draw, what=what: draw(arrays(stem), f"{name}: {what}"), caption)
