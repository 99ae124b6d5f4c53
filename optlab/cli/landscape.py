"""``optlab landscape``: loss-landscape pictures of a finished run, or between two runs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from optlab.cli.app import DEBUG, app
from optlab.cli.common import bad_input, ensure_run_data, err_console, exits_for


@app.command()
def landscape(
    runs: list[Path] = typer.Argument(..., metavar="RUN_DIR...",
                                      help="a run directory; with a second: interpolate between their final weights"),
    grid: int = typer.Option(41, "--resolution", min=3, metavar="N",
                             help="points per side of the 2-D grids (slice, path)"),
    points: int = typer.Option(81, "--points", min=3, help="points of a 1-D interpolation over α in [-0.5, 1.5]"),
    span: float = typer.Option(1.0, "--span", min=1e-9, help="the slice covers [-span, span]² of the two directions"),
    examples: Optional[int] = typer.Option(None, "--examples", min=1, show_default="the run's evaluation sets",
                                           help="evaluate on the first N examples of each split"),
    only: Optional[str] = typer.Option(None, "--only", metavar="interpolation,slice,path",
                                       help="just these pictures", show_default="every one the run has data for"),
    include_biases: bool = typer.Option(False, "--include-biases", help="move biases and batch-norm parameters "
                                        "too (Li et al. leave them out of the slice directions, as optlab does "
                                        "by default)"),
    seed: int = typer.Option(0, "--seed", help="seed of the random directions"),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1, show_default="the cores this process may use",
                                          help="threads that evaluate grid points side by side (same numbers for any count)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    debug: bool = typer.Option(False, "--debug", help="show Python tracebacks"),
) -> None:
    """Draw the loss landscape of a run: interpolation, filter-normalised 2-D slice, the optimizer's path.

    Writes RUN_DIR/landscape/ (values as CSV/NPZ and the figures; optlab report redraws them).

    Examples: optlab landscape runs/2026-01-01_120000_mnist_mlp --examples 5000;
    optlab landscape runs/CMP/trials/sgd-s0 runs/CMP/trials/adam-s0
    """
    DEBUG["on"] = DEBUG["on"] or debug
    if len(runs) > 2:
        raise bad_input(f"give one run directory, or two to interpolate between (got {len(runs)})")
    from optlab.studies.landscape import PICTURES, LandscapeError, Options, between
    from optlab.studies.landscape import landscape as draw

    pictures = tuple(p.strip() for p in only.split(",") if p.strip()) if only else PICTURES
    unknown = [p for p in pictures if p not in PICTURES]
    if unknown:
        raise bad_input(f"--only {only}: unknown picture {', '.join(unknown)}; choose from {', '.join(PICTURES)}")
    opts = Options(grid=grid, points=points, span=span, examples=examples, include_biases=include_biases, seed=seed,
                   pictures=pictures, explicit=only is not None, workers=workers)
    console = err_console()
    for run in runs:
        ensure_run_data(run, console, debug)
    with exits_for(console, LandscapeError), _progress(console, quiet) as on_progress:
        info = (between(runs[0], runs[1], opts, on_progress) if len(runs) == 2
                else draw(runs[0], opts, on_progress))
    _print(info, runs[0], console)


def _progress(console, quiet: bool):
    from contextlib import contextmanager

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    @contextmanager
    def bar():
        progress = Progress(TextColumn("[bold]landscape"), BarColumn(), MofNCompleteColumn(), TextColumn("points"),
                            TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                            disable=quiet or not console.is_terminal)
        task = progress.add_task("landscape", total=None)
        with progress:
            yield lambda done, total: progress.update(task, completed=done, total=total)

    return bar()


def _print(info: dict, run: Path, console) -> None:
    from optlab.terminal import make_console, say

    out = make_console()
    for what, seconds in info.get("seconds", {}).items():
        out.print(f"{what}: {seconds:.2f} s", markup=False)
    inter = info.get("interpolation")
    if inter:
        for end, key in (("0 (initial)", "initial"), ("1 (final)", "final")):
            rec = inter.get(f"recorded_{key}")
            rec_text = "" if rec is None else f" (metrics.csv: {rec:.6g})"
            out.print(f"training loss at α = {end}: {inter[f'train_loss_at_{end[0]}']:.6g}{rec_text}", markup=False)
    if "slice" in info:
        out.print(f"slice: loss at the final weights {info['slice']['loss_at_origin']:.6g}, lowest on the grid "
                  f"{info['slice']['min']:.6g}", markup=False)
    if "path" in info:
        var = info["path"]["variance"]
        out.print(f"path: {info['path']['snapshots']} snapshots; the PCA plane holds "
                  f"{100 * (var[0] + var[1]):.1f} % of their variance", markup=False)
    for key, value in info.items():
        if key.startswith("pair_"):
            out.print(f"{key}: barrier {value['barrier']:.4g} above the higher end ({value['seconds']:.2f} s)",
                      markup=False)
    for note in info.get("notes", []):
        say(console, "note:", note, "yellow")
    out.print(str(Path(run) / "landscape"), markup=False, soft_wrap=True)
