"""``optlab hessian``: the Hessian's top eigenvalues, trace and spectral density of a finished run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from optlab.cli.app import DEBUG, app
from optlab.cli.common import ensure_run_data, err_console, exits_for


@app.command()
def hessian(
    run: Path = typer.Argument(..., metavar="RUN_DIR", help="a run directory"),
    examples: int = typer.Option(1000, "--examples", min=1, help="the first N examples of the run's "
                                 "train-evaluation subset"),
    top_k: int = typer.Option(20, "--top-k", min=1, help="top eigenvalues (Lanczos)"),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, show_default="2 top-k + 20",
                                        help="Lanczos steps for the top eigenvalues"),
    probes: int = typer.Option(30, "--probes", min=2, help="Hutchinson probes for the trace"),
    slq_runs: int = typer.Option(3, "--slq-runs", min=1, help="Lanczos runs of the spectral density"),
    slq_steps: int = typer.Option(80, "--slq-steps", min=2, help="Lanczos steps of each density run"),
    no_layers: bool = typer.Option(False, "--no-layers", help="the whole network only, not each layer's block"),
    snapshots: bool = typer.Option(False, "--snapshots", help="at every weight snapshot (evenly spaced, at most "
                                   "--max-snapshots), not only the final weights"),
    max_snapshots: int = typer.Option(12, "--max-snapshots", min=2),
    seed: int = typer.Option(0, "--seed", help="seed of the Lanczos starts and the probes"),
    debug: bool = typer.Option(False, "--debug", help="show Python tracebacks"),
) -> None:
    """The Hessian's spectrum of a run: top-k eigenvalues, trace, spectral density, per layer too.

    Writes RUN_DIR/hessian/ (CSV/NPZ and the figures; optlab report redraws them). The cost, in
    Hessian-vector products and seconds, is printed before anything is computed.

    Examples: optlab hessian runs/2026-01-01_120000_mnist_mlp;  optlab hessian RUN --snapshots --no-layers
    """
    DEBUG["on"] = DEBUG["on"] or debug
    from optlab.studies.hessian import HessianError, Options
    from optlab.studies.hessian import hessian as compute

    console = err_console()
    ensure_run_data(run, console, debug)
    opts = Options(examples=examples, top_k=top_k, steps=steps, probes=probes, slq_runs=slq_runs,
                   slq_steps=slq_steps, layers=not no_layers, snapshots=snapshots, max_snapshots=max_snapshots,
                   seed=seed)

    def on_plan(info: dict) -> None:
        p = info["plan"]
        console.print(f"hessian: {p['products']:,} Hessian-vector products ({info['method']}), "
                      f"about {p['seconds']:.1f} s ({1e3 * p['seconds_per_product']:.1f} ms each); "
                      f"{p['points']} point(s) x blocks {', '.join(p['blocks'])}"
                      + (f"; on the first {info['examples']:,} examples of the train-evaluation subset"
                         if info.get("examples") else ""), markup=False, soft_wrap=True)

    with exits_for(console, HessianError):
        info = compute(run, opts, on_plan)
    _print(info, run)


def _print(info: dict, run: Path) -> None:
    from optlab.terminal import make_console

    out = make_console()
    last = max(r["step"] for r in info["points"])
    for r in info["points"]:
        if r["step"] != last:
            continue
        out.print(f"{r['block']} ({r['params']:,} params): λ_max {r['lambda_max']:.6g}, λ_min {r['lambda_min']:.4g}, "
                  f"trace {r['trace']:.6g} ± {1.96 * r['trace_std_error']:.2g} (95 %), "
                  f"negative {100 * r['negative_fraction']:.1f} % of the spectrum, outliers {r['outliers']}",
                  markup=False, soft_wrap=True)
    if info.get("classes"):
        out.print(f"outliers above the bulk: {next(r['outliers'] for r in info['points'] if r['step'] == last)} "
                  f"(C - 1 = {info['classes'] - 1}, Papyan 2019)", markup=False)
    out.print(f"{info['seconds']:.2f} s", markup=False)
    out.print(str(Path(run) / "hessian"), markup=False, soft_wrap=True)
