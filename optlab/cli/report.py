"""``optlab report``: re-render run, comparison and sweep directories from their files."""

from __future__ import annotations

from pathlib import Path

import typer

from optlab.cli.app import EXIT_BAD_INPUT, app
from optlab.cli.common import bad_problems, err_console


@app.command()
def report(
    dirs: list[Path] = typer.Argument(..., metavar="DIR...", help="run, comparison or sweep directories"),
    debug: bool = typer.Option(False, "--debug", help="show Python tracebacks"),
) -> None:
    """Rebuild the plots and tables of run, comparison or sweep directories from their files (no training).

    Example: optlab report runs/2026-01-01_120000_quickstart-compare
    """
    from optlab.record.reports import NotARunDirectory, render_directory
    from optlab.terminal import print_compare_results, print_run_results, print_sweep_results

    missing = [d for d in dirs if not any((d / f).is_file() for f in ("compare.json", "sweep.json", "metrics.csv"))]
    if missing:
        from optlab.config.loading import Problem

        raise bad_problems([Problem(str(d), "", "no such directory" if not d.exists() else
                                     "not a run directory (no metrics.csv), a comparison (no compare.json) "
                                     "nor a sweep (no sweep.json)") for d in missing])
    for d in dirs:
        try:
            kind = render_directory(d)
        except (NotARunDirectory, OSError, ValueError, KeyError) as exc:
            if debug:
                raise
            err_console().print(f"[bold red]error:[/] cannot render {d}: {type(exc).__name__}: {exc}", soft_wrap=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        if kind == "compare":
            print_compare_results(d)
        elif kind == "sweep":
            print_sweep_results(d)
        else:
            from optlab.record.rundir import RunDir
            from optlab.training.run import Result

            summary = RunDir(d).read_json("summary.json") if (d / "summary.json").exists() else {}
            print_run_results(Result(d, summary.get("status", "?"), summary))
