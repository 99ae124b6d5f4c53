"""What the CLI shows in the terminal: a rich progress bar and the results table of a run."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from optlab.report import accuracy_rows, facts


@contextmanager
def progress_bar(console: Console, name: str, disable: bool = False) -> Iterator:
    """Yield an ``on_step(step, total, loss)`` callback that drives a progress bar (~10 Hz)."""
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, disable=disable or not console.is_terminal, transient=False,
    )
    task = progress.add_task(name, total=None, loss="—")
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
    console = console or Console(highlight=False)
    if "accuracy" in result.summary:   # a surface run has no accuracy, only facts
        table = Table(title=f"{result.run_dir.name}")
        for col in ("split", "final accuracy", "peak accuracy", "step of peak"):
            table.add_column(col, justify="left" if col == "split" else "right")
        for row in accuracy_rows(result.summary):
            table.add_row(*row)
        console.print(table)
    for key, value in facts(result.summary):
        console.print(f"{key}: {value}")
    if result.status == "diverged":
        console.print("[bold red]diverged[/]: the loss became NaN or infinite; try a smaller optimizer.lr")
    console.print(str(result.run_dir), markup=False, soft_wrap=True)
