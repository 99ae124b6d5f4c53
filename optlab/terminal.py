"""What the CLI shows in the terminal: a rich progress bar and the results table of a run, and
for a comparison one progress display for all its trials and its results table.

Text that comes from the user (run and variant names, swept values such as ``lin:-1:1``) is
never read as rich markup or emoji codes: consoles are made by :func:`make_console` (no emoji, no
highlighting), table cells and titles are :class:`rich.text.Text`, progress labels are escaped.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from optlab.record.kinds import explain_divergence, summary_record
from optlab.record.run_report import accuracy_rows, facts
from optlab.record.words import count


def make_console(stderr: bool = False, wide_when_piped: bool = False) -> Console:
    """A console that prints user text literally. ``wide_when_piped``: not a terminal (a pipe, a
    log file) gets one line per table row rather than rich's default 80 columns."""
    width = None if not wide_when_piped or sys.stdout.isatty() else 200
    return Console(stderr=stderr, highlight=False, emoji=False, width=width)


def say(console: Console, label: str, message: str = "", style: str = "bold red", lines=()) -> None:
    """``label message``, the label styled and everything else literal (never rich markup or emoji
    codes: a message may quote the user's ``[1, 2]`` or ``:smile:``), then each of ``lines``
    indented; never wrapped, so a message stays one greppable line."""
    text = Text(label, style=style)
    if message:
        text.append(f" {message}")
    console.print(text, soft_wrap=True)
    for line in lines:
        console.print(Text(f"  {line}"), soft_wrap=True)


def print_error(console: Console, message: str, lines=()) -> None:
    """The one way optlab prints an error: ``error: message`` (and indented ``lines``), literally."""
    say(console, "error:", message, "bold red", lines)


def _cells(row) -> list[Text]:
    return [Text(str(cell)) for cell in row]


@contextmanager
def progress_bar(console: Console, name: str, disable: bool = False) -> Iterator:
    """Yield an ``on_step(step, total, loss)`` callback that drives a progress bar (~10 Hz)."""
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, disable=disable or not console.is_terminal, transient=False,
    )
    task = progress.add_task(escape(name), total=None, loss="—")
    last = [0.0]

    def on_step(step: int, total: int, loss: float) -> None:
        now = time.monotonic()
        if now - last[0] > 0.1 or step == total:
            last[0] = now
            progress.update(task, completed=step, total=total, loss=f"{loss:.4g}")

    with progress:
        yield on_step


def print_run_results(result, console: Console | None = None) -> None:
    """The accuracy table and facts of a finished run; the run directory's path comes last."""
    console = console or make_console()
    if summary_record(result.summary).kind.learns_from_data:   # a surface run has no accuracy, only facts
        table = Table(title=Text(result.run_dir.name))
        for col in ("split", "final accuracy", "peak accuracy", "step of peak"):
            table.add_column(col, justify="left" if col == "split" else "right")
        for row in accuracy_rows(result.summary):
            table.add_row(*_cells(row))
        console.print(table)
    lines = facts(result.summary)
    for key, value in lines:
        if key != "diverged":   # said once, in red, below
            console.print(f"{key}: {value}", markup=False)
    if result.status == "diverged":
        why = dict(lines).get("diverged") or explain_divergence(result.summary)
        say(console, "diverged", why)
    console.print(str(result.run_dir), markup=False, soft_wrap=True)


class CompareProgress:
    """One rich display for every trial of a comparison: a bar per group (a variant, or its
    learning-rate search), advanced by the fraction each of its trials has done.

    Implements optlab.studies.executor.Progress; ``update`` may be called from a reader thread.
    """

    def __init__(self, console: Console, disable: bool = False) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[done]}/{task.total:.0f} trials"),
            TimeElapsedColumn(), TimeRemainingColumn(),
            console=console, disable=disable or not console.is_terminal, transient=False,
        )
        self._done: dict[int, dict[int, float]] = {}
        self._lock = threading.Lock()

    def add_group(self, label: str, trials: int) -> int:
        task = self.progress.add_task(escape(label), total=trials, done=0)
        self._done[task] = {}
        return task

    def update(self, group: int, trial: int, fraction: float) -> None:
        with self._lock:   # late reports from a worker never move a bar back
            done = self._done[group]
            done[trial] = max(done.get(trial, 0.0), min(fraction, 1.0))
            completed, finished = sum(done.values()), sum(v >= 1.0 for v in done.values())
        self.progress.update(group, completed=completed, done=finished)

    def __enter__(self) -> CompareProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()


def print_compare_results(path, console: Console | None = None) -> None:
    """The comparison's results table (the rows of results.md, best in bold); its path last."""
    from optlab.record.compare_report import grid_edge_notes, table
    from optlab.record.compare_stats import compare_stats

    # Not a terminal (a pipe, a log file): one line per row rather than rich's default 80 columns.
    console = console or make_console(wide_when_piped=True)
    manifest, stats = compare_stats(path)
    headers, rows, best = table(manifest, stats)
    out = Table(title=Text(path.name))
    for i, col in enumerate(headers):
        out.add_column(col, justify="left" if i == 0 or col == "status" else "right", no_wrap=i == 0)
    for i, row in enumerate(rows):
        if i == best:
            out.add_row(*_cells([row[0] + " ★", *row[1:]]), style="bold")
        else:
            out.add_row(*_cells(row))
    console.print(out)
    for note in grid_edge_notes(manifest):
        say(console, "note:", note, "yellow")
    console.print(str(path), markup=False, soft_wrap=True)


def print_sweep_results(path, top: int = 10, console: Console | None = None) -> None:
    """The first ``top`` rows of a sweep's leaderboard (results.md has them all); its path last."""
    from optlab.record.sweep_report import leaderboard, table

    console = console or make_console(wide_when_piped=True)
    manifest, entries = leaderboard(path)
    headers, rows = table(manifest, entries)
    out = Table(title=Text(f"{path.name}: best {min(top, len(rows))} of {count(len(rows), 'trial')} by validation accuracy"))
    for col in headers:
        out.add_column(col, justify="left" if col in ("trial", "status") else "right", no_wrap=True)
    for i, row in enumerate(rows[:top]):
        out.add_row(*_cells(row), style="bold" if i == 0 else None)
    console.print(out)
    diverged = sum(e.trial.status == "diverged" for e in entries)
    if diverged:
        console.print(f"{diverged} trial{'s' if diverged > 1 else ''} diverged (ranked last)", style="dim")
    console.print(str(path), markup=False, soft_wrap=True)


_VERDICT_STYLE = {"pass": "green", "pass (kinks)": "green", "kink": "yellow", "fail": "bold red"}


def _err(x: float) -> str:
    return "—" if x != x else f"{x:.1e}"   # NaN (no element left to judge) -> dash


def print_gradcheck(report, console: Console | None = None) -> None:
    """The gradcheck table (part / tensor / checked / max and median rel. error / verdict) and verdict."""
    # Not a terminal (a pipe, a log file): one line per row rather than rich's default 80 columns.
    console = console or make_console(wide_when_piped=True)
    methods = report.methods
    names = f"{methods[0]} (verdict) and {methods[1]}" if len(methods) > 1 else methods[0]
    table = Table(title=Text(f"gradient check of {report.subject}: {names} differences, h = {report.h:g}, float64"))
    table.add_column("part", overflow="fold")
    table.add_column("tensor", overflow="fold")
    for col in ("checked", "kinks", "noise"):
        table.add_column(col, justify="right", overflow="fold")
    for m in methods:
        suffix = f" {m}" if len(methods) > 1 else ""
        table.add_column(f"max rel. error{suffix}", justify="right", no_wrap=True)
        table.add_column(f"median{suffix}", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for part in report.parts:
        for i, t in enumerate(part.tensors):
            checked = str(t.checked) if t.checked == t.size else f"{t.checked} of {t.size}"
            kinks = f"{t.kinks} ({', '.join(t.kink_sources)})" if t.kinks else ""
            errors = [_err(d[m]) for m in methods for d in (t.max_error, t.median_error)]
            style = _VERDICT_STYLE[t.verdict]
            table.add_row(Text(part.part if i == 0 else ""), Text(t.tensor), checked, Text(kinks), str(t.noise or ""),
                          *errors, f"[{style}]{t.verdict}[/]", end_section=i == len(part.tensors) - 1)
    console.print(table)
    console.print("thresholds (CS231n): max rel. error <= 1e-7 pass; <= 1e-4 pass only where the part has kinks "
                  "(ReLU, hinge, L1). Set apart, not judged: kinks = f(x+h) and f(x-h) straddle a kink; "
                  "noise = the difference is float64 rounding of f.", style="dim")
    n = sum(len(p.tensors) for p in report.parts)
    failures = report.failures()
    unjudged = sum(t.verdict == "kink" for p in report.parts for t in p.tensors)
    if failures:
        console.print(f"[bold red]FAIL[/]: {len(failures)} of {n} tensors: "
                      + "; ".join(escape(f"{part} / {tensor}") for part, tensor in failures), soft_wrap=True)
    else:
        console.print(f"[bold green]PASS[/]: {n - unjudged} of {n} tensor{'s' if n > 1 else ''} pass "
                      f"in {len(report.parts)} part{'s' if len(report.parts) > 1 else ''}")
    if unjudged:
        console.print(f"[yellow]{unjudged} tensor{'s' if unjudged > 1 else ''} not judged[/]: every element "
                      "checked straddles a kink (e.g. ReLU inputs at exactly 0), so no difference quotient "
                      "there is a derivative")
    if report.hvp:
        print_hvp_check(report, console)


def print_hvp_check(report, console: Console) -> None:
    """The Hessian-vector product table (part / tensor / rel. error / verdict) and its verdict."""
    table = Table(title=Text("Hessian-vector products: the R-operator against centred differences of the "
                             "gradient along a random direction"))
    for col in ("part", "tensor"):
        table.add_column(col, overflow="fold")
    table.add_column("rel. error", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for check in report.hvp:
        for i, t in enumerate(check.tensors):
            style = _VERDICT_STYLE.get(t.verdict, "yellow")
            table.add_row(Text(check.part if i == 0 else ""), Text(t.tensor), _err(t.error), f"[{style}]{t.verdict}[/]",
                          end_section=i == len(check.tensors) - 1)
    console.print(table)
    console.print("rel. error = max |a - n| / the product's largest entry; thresholds as above; none = no "
                  "R-operator (finite differences of the gradient are used instead).", style="dim")
    n = sum(len(c.tensors) for c in report.hvp)
    failures = report.hvp_failures()
    if failures:
        console.print(f"[bold red]FAIL[/]: {len(failures)} of {n} Hessian-vector products: "
                      + "; ".join(escape(f"{part} / {tensor}") for part, tensor in failures), soft_wrap=True)
    else:
        console.print(f"[bold green]PASS[/]: Hessian-vector products of {len(report.hvp)} parts")
