"""The gallery: run the recipes, keep their numbers and figures, and write the docs that quote them.

    OPTLAB_DATA_DIR=../shared/data python benchmarks/gallery.py            # every recipe (about an hour on 2 cores)
    python benchmarks/gallery.py --only bowl rosenbrock saddle             # some of them
    python benchmarks/gallery.py --docs                                    # re-render the docs from results.json only
    python benchmarks/gallery.py --check                                   # do the docs quote results.json? (exit 1 if not)

Each recipe's own command (its first ``# Command:`` line, optlab.config.recipes) is run exactly as a
user types it, as ``python -m optlab ... --runs-dir DIR --quiet``, in a fresh process. The numbers
are read back from the run directory's files (summary.json of each run or trial, compare.json /
sweep.json, metrics.csv) into ``docs/gallery/results.json``, one entry per recipe, with the command,
optlab's version and the date; the figure is copied, shrunk, to ``docs/gallery/NAME.png``. Then
``docs/gallery.md`` and the generated blocks of README.md and docs/*.md (between
``<!-- gallery:KEY -->`` and ``<!-- /gallery -->``) are rendered from results.json by
benchmarks/gallery_docs.py; tests/test_gallery.py fails when they are not, and re-runs the cheap
recipes (``CHEAP``) to catch drift when it happens. The expensive ones are re-run here and by
``pytest -m slow``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from optlab.config.recipes import find  # noqa: E402
from optlab.record.rundir import read_metrics  # noqa: E402

GALLERY = REPO / "docs" / "gallery"
RESULTS = GALLERY / "results.json"

# The recipes the gallery runs, cheapest first; the figure each entry shows (None: a run quoted in
# README, no figure of its own).
FIGURES = {
    "quickstart": None, "spiral_linear": None,
    "bowl": "trajectories.png", "rosenbrock": "trajectories.png", "saddle": "trajectories.png",
    "nielsen_slowdown": "loss.png",
    "dlfs_weight_init": "loss.png", "mnist_mlp": "loss.png", "dlfs_weight_decay": "accuracy.png",
    "dlfs_dropout": "accuracy.png", "hiker": "accuracy.png", "nielsen_overfit": "accuracy.png",
    "dlfs_batch_norm": "scatter.png", "dlfs_hyperparameter_search": "scatter.png",
    "full_batch": "loss.png", "modern_optimizers": "accuracy.png",
}
# Commands the docs quote that are not a recipe's own (key -> command); run and kept like recipes.
EXTRAS = {
    "quickstart_optimizers": "optlab compare sgd momentum adagrad adam rmsprop nesterov --config quickstart "
                             "--seeds 3 --target 0.95",
}
# Seconds, not minutes: re-run by tests/test_gallery.py on every test run.
CHEAP = ("quickstart", "spiral_linear", "bowl", "rosenbrock", "saddle", "nielsen_slowdown")
ALL = [*FIGURES, *EXTRAS]
FIGURE_WIDTH = 900     # pixels: the committed figures stay small (docs/gallery/*.png)


def command_of(key: str) -> str:
    """What the gallery runs for ``key``: an extra command, else the recipe's own command."""
    return EXTRAS[key] if key in EXTRAS else find(key).command


def run_recipe(name: str, runs_dir: Path) -> Path:
    """Run ``command_of(name)`` in a fresh process, as a user types it; the directory it wrote."""
    command = command_of(name)
    argv = [sys.executable, "-m", "optlab", *shlex.split(command)[1:], "--runs-dir", str(runs_dir), "--quiet"]
    proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    out = proc.stdout.strip().splitlines()
    if proc.returncode not in (0, 1) or not out or not Path(out[-1]).is_dir():
        raise RuntimeError(f"{command} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return Path(out[-1])


def _summary(path: Path) -> dict:
    s = json.loads((path / "summary.json").read_text())
    acc = s.get("accuracy") or {}
    keep = {k: s.get(k) for k in ("status", "steps", "final_loss", "final_train_loss", "loss_eval_examples",
                                  "distance_to_minimum", "end") if k in s}
    for split in ("train", "val", "test"):
        for key in ("final", "peak", "peak_step"):
            value = (acc.get(split) or {}).get(key)
            if value is not None:
                keep[f"{split}_{key}"] = value
    return keep


def _metrics_at(path: Path, column: str, steps: list[int]) -> dict[str, float]:
    """A metrics column at given steps (the row of each step), for curves quoted in the docs."""
    m = read_metrics(path / "metrics.csv")
    step = np.asarray(m["step"])
    out = {}
    for s in steps:
        rows = np.flatnonzero(step == s)
        if len(rows):
            out[str(s)] = float(np.asarray(m[column])[rows[-1]])
    return out


def results_table(path: Path) -> str:
    """The first Markdown table of a results.md, without the wall-time column (it varies run to run)."""
    rows = [line for line in path.read_text().split("\n\n")[2].splitlines() if line.startswith("|")]
    cells = [row.strip("|").split("|") for row in rows]
    drop = {i for i, c in enumerate(cells[0]) if "wall time" in c}
    return "\n".join("|" + "|".join(c for i, c in enumerate(row) if i not in drop) + "|" for row in cells)


def _csv_rows(path: Path) -> list[dict]:
    import csv

    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _number(text: str):
    return None if text in ("", None) else float(text)


def seed_stats(path: Path, manifest: dict) -> dict:
    """Per variant, over all its seeds: results.csv's numbers (the tuned rate, means, the time to
    target's median and 95 % bootstrap interval; not its seconds or the wall time, which vary run to
    run), and each seed's steps and loss evaluations (L-BFGS stops when it converges)."""
    keep = ("lr", "final_train_loss_mean", "final_val_acc_mean", "final_val_acc_std", "test_acc_mean",
            "test_acc_std", "target", "target_missed_fraction",
            *(f"{what}_to_target_{k}" for what in ("steps", "examples") for k in ("median", "low", "high")))
    rows = {r["variant"]: r for r in _csv_rows(path / "results.csv")}
    out = {}
    for v in manifest["variants"]:
        summaries = [json.loads((path / t / "summary.json").read_text()) for t in v["trials"]]
        out[v["label"]] = {**{k: _number(rows[v["label"]].get(k)) for k in keep},
                           "steps": [s.get("steps") for s in summaries],
                           "loss_evals": [s.get("loss_evals") for s in summaries],
                           "converged": [s.get("converged") for s in summaries],
                           "lr_grid": [t["lr"] for t in v.get("tune_trials", [])]}
    return out


def budget_ends(path: Path) -> dict:
    """Each variant's expected best validation accuracy after 1 trial and after all of them, with
    the 95 % bootstrap band (budget.csv, Dodge et al. 2019)."""
    rows = _csv_rows(path)
    out = {}
    for label in dict.fromkeys(r["label"] for r in rows):
        mine = [r for r in rows if r["label"] == label]
        out[label] = {"trials": int(mine[0]["trials"]), **{
            key: [float(r[c]) for c in ("expected_best_val_acc", "band_low", "band_high")]
            for key, r in (("k1", mine[0]), ("all", mine[-1]))}}
    return out


def collect(name: str, path: Path) -> dict:
    """The numbers of one recipe's output directory (a run, a comparison or a sweep)."""
    if (path / "compare.json").exists():
        manifest = json.loads((path / "compare.json").read_text())
        variants = {}
        for v in manifest["variants"]:
            trial = path / v["trials"][0]
            variants[v["label"]] = entry = _summary(trial)
            if name == "nielsen_slowdown":
                entry["cost_at_epoch"] = _metrics_at(trial, "train_loss", [0, 100, 300])
        out = {"kind": "comparison", "variants": variants, "table": results_table(path / "results.md")}
        if manifest.get("tune") or manifest.get("target") is not None:
            out["stats"] = seed_stats(path, manifest)
        if (path / "budget.csv").exists():
            out["budget"] = budget_ends(path / "budget.csv")
        return out
    if (path / "sweep.json").exists():
        manifest = json.loads((path / "sweep.json").read_text())
        trials = []
        for t in manifest["trials"]:
            trial = path / t["dir"]
            s = _summary(trial) if (trial / "summary.json").exists() else {"status": "missing"}
            trials.append({"values": t["values"], **s})
        return {"kind": "sweep", "trials": trials}
    return {"kind": "run", **_summary(path)}


def save_figure(name: str, path: Path) -> None:
    """The recipe's figure, shrunk to FIGURE_WIDTH pixels and 8-bit colour, as docs/gallery/NAME.png."""
    from PIL import Image

    figure = FIGURES.get(name)
    if figure is None or not (path / figure).exists():
        return
    image = Image.open(path / figure).convert("RGB")
    if image.width > FIGURE_WIDTH:
        image = image.resize((FIGURE_WIDTH, round(image.height * FIGURE_WIDTH / image.width)), Image.LANCZOS)
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(GALLERY / f"{name}.png", optimize=True)


def load_results() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def reproduce(name: str, runs_dir: Path) -> tuple[dict, Path]:
    """Run one recipe and return its results entry (numbers, command, version, date)."""
    import optlab

    started = time.perf_counter()
    path = run_recipe(name, runs_dir)
    entry = collect(name, path)
    entry.update(command=command_of(name), optlab=optlab.__version__,
                 date=datetime.now(timezone.utc).strftime("%Y-%m-%d"),
                 wall_time_s=round(time.perf_counter() - started, 1))
    return entry, path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", metavar="RECIPE", help="run these recipes only (default: every one)")
    ap.add_argument("--docs", action="store_true", help="only re-render the docs from results.json")
    ap.add_argument("--check", action="store_true", help="only check that the docs quote results.json")
    ap.add_argument("--collect", action="store_true",
                    help="re-read the numbers of the newest run of each recipe under --runs-dir, running nothing")
    ap.add_argument("--runs-dir", type=Path, default=REPO / "runs" / "gallery", help="where the runs go")
    args = ap.parse_args(argv)
    import gallery_docs

    if args.check:
        stale = gallery_docs.stale(load_results())
        for file in stale:
            print(f"{file}: out of date with docs/gallery/results.json (python benchmarks/gallery.py --docs)")
        return 1 if stale else 0
    failed: list[str] = []
    if args.collect:
        results = load_results()
        for name in args.only or ALL:
            slug = name if name in EXTRAS else f"{name}-{ {'run': '', 'comparison': 'compare', 'sweep': 'sweep'}[find(name).kind]}"
            found = sorted(p for p in args.runs_dir.glob(f"*_{slug.rstrip('-')}") if p.is_dir())
            if found and name in results:
                results[name].update(collect(name, found[-1]))
        RESULTS.write_text(json.dumps(dict(sorted(results.items())), indent=1) + "\n")
    elif not args.docs:
        GALLERY.mkdir(parents=True, exist_ok=True)
        for name in args.only or ALL:
            print(f"::: {command_of(name)}", flush=True)
            try:
                entry, path = reproduce(name, args.runs_dir)
            except Exception as exc:       # keep going: one broken recipe should not cost the others
                print(f"    FAILED: {exc}", flush=True)
                failed.append(name)
                continue
            save_figure(name, path)
            results = load_results()          # re-read: another invocation may have written meanwhile
            results[name] = entry
            RESULTS.write_text(json.dumps(dict(sorted(results.items())), indent=1) + "\n")
            print(f"    {path}  ({entry['wall_time_s']} s)", flush=True)
    for file in gallery_docs.write(load_results()):
        print(f"wrote {file}")
    if not args.docs and failed:
        print(f"failed: {' '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
