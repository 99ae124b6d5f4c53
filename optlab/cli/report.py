"""``optlab report``: re-render run, comparison and sweep directories from their files."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from optlab.cli.app import EXIT_BAD_INPUT, app
from optlab.cli.common import bad_problems, err_console


@app.command()
def report(
    words: list[str] = typer.Argument(..., metavar="DIR... [plots.KEY=VALUE]...",
                                      help="run, comparison or sweep directories, then plot settings for this "
                                           "rendering, e.g. plots.x=epochs plots.y_limits.accuracy=[80,90]"),
    fmt: Optional[str] = typer.Option(None, "--format", metavar="png|svg|pdf",
                                      help="figure file format (same as plots.format=...)", show_default=False),
    html: bool = typer.Option(False, "--html", help="rewrite only report.html, leaving figures and tables as they are"),
    debug: bool = typer.Option(False, "--debug", help="show Python tracebacks"),
) -> None:
    """Rebuild the plots, tables and report.html of run, comparison or sweep directories from their files (no training).

    Example: optlab report runs/2026-01-01_120000_quickstart-compare plots.x=epochs --format svg
    """
    from optlab.config.loading import ConfigError, Problem
    from optlab.record.reports import NotARunDirectory, directory_kind, render_directory, why_not

    # a word with "=" is a plots override, unless a path by that name exists (a directory "lr=0.1")
    overrides = [w for w in words if "=" in w and not Path(w).exists()]
    dirs = [Path(w) for w in words if "=" not in w or Path(w).exists()]
    if fmt is not None:
        overrides.append(f"plots.format={fmt}")
    if not dirs:
        raise bad_problems([Problem("DIR", "", "give at least one run, comparison or sweep directory")])
    missing = [d for d in dirs if directory_kind(d) is None]
    if missing:
        raise bad_problems([Problem(str(d), "", why_not(d)) for d in missing])
    for d in dirs:
        try:
            kind = render_directory(d, overrides, html_only=html)
        except ConfigError as exc:
            raise bad_problems(exc.problems) from None
        except (NotARunDirectory, OSError, ValueError, KeyError) as exc:
            if debug:
                raise
            from optlab.terminal import print_error

            print_error(err_console(), f"cannot render {d}: {type(exc).__name__}: {exc}")
            raise typer.Exit(EXIT_BAD_INPUT) from None
        if html:
            print(d / "report.html")
        elif kind == "run":
            from optlab.record.run_report import live_summary
            from optlab.terminal import print_run_results
            from optlab.training.run import Result

            summary = live_summary(d)        # a run still training: its live status and steps so far
            print_run_results(Result(d, summary["status"], summary))
        else:
            from optlab.cli.study_run import show_results

            show_results(kind, d)
