"""The ``optlab`` command line: thin typer commands that parse options, load the config and call
one library function each. Heavy modules (numpy, matplotlib, pydantic) are imported inside the
commands so that ``optlab --help`` stays fast.

Exit codes (conventions.md): 0 success; 1 the run failed (diverged, error, interrupted);
2 bad input (config or arguments). No traceback for a user error unless ``--debug``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(
    name="optlab",
    help="A laboratory for how neural networks learn their parameters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_FAILED, EXIT_BAD_INPUT = 1, 2


@app.callback()
def _root() -> None:
    """optlab: run, compare and check the classic experiments of learning by gradient."""


def _err_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _load_config(path: Path, overrides: list[str]):
    """The validated config, or exit 2 listing every problem."""
    from optlab.config import ConfigError, load_config

    try:
        return load_config(path, overrides)
    except ConfigError as exc:
        console = _err_console()
        n = len(exc.problems)
        console.print(f"[bold red]error:[/] {n} problem{'s' if n > 1 else ''} in the config:")
        for problem in exc.problems:
            console.print(f"  {problem}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None


@app.command()
def train(
    config: Path = typer.Argument(..., help="YAML config file, e.g. configs/quickstart.yaml"),
    overrides: Optional[list[str]] = typer.Argument(
        None, metavar="[KEY=VALUE]...", help="override config keys, e.g. optimizer.lr=0.01 model.hidden=[50,50]"),
    runs_dir: Optional[Path] = typer.Option(
        None, "--runs-dir", envvar="OPTLAB_RUNS_DIR", help="where run directories go [default: ./runs]"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    debug: bool = typer.Option(False, "--debug", help="show Python tracebacks"),
) -> None:
    """Train the model a config describes and write a run directory.

    Example: optlab train configs/quickstart.yaml optimizer.lr=0.01 seed=3
    """
    cfg = _load_config(config, overrides or [])
    from optlab.experiment import run
    from optlab.rundir import default_runs_root
    from optlab.terminal import print_run_results, progress_bar

    console = _err_console()
    _ensure_data(cfg, console, debug)     # download first: its own progress bar, no run dir if offline
    try:
        with progress_bar(console, cfg.name, disable=quiet) as on_step:
            result = run(cfg, runs_dir or default_runs_root(), on_step=on_step, command=sys.argv)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: the run directory keeps what was written (status: interrupted)")
        raise typer.Exit(130) from None
    except Exception as exc:
        if debug:
            raise
        _print_failure(console, exc)
        raise typer.Exit(EXIT_FAILED) from None
    print_run_results(result)
    if result.status != "completed":
        raise typer.Exit(EXIT_FAILED)


def _print_failure(console, exc: Exception) -> None:
    from optlab.data import DataError

    if isinstance(exc, DataError):   # a message written for the user: no exception type, no markup
        console.print("[bold red]error:[/] ", end="")
        console.print(str(exc), markup=False, soft_wrap=True)
    else:
        console.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}", markup=True)


def _ensure_data(cfg, console, debug: bool) -> None:
    from optlab.data import DataError, ensure_files

    try:
        ensure_files(cfg.data, console=console)
    except DataError as exc:
        if debug:
            raise
        _print_failure(console, exc)
        raise typer.Exit(EXIT_FAILED) from None


# --------------------------------------------------------------------------------------------
# optlab data: list and download the real datasets (library code in optlab/data/catalog.py)
# --------------------------------------------------------------------------------------------
data_app = typer.Typer(help="List and download the real datasets (MNIST, Fashion-MNIST, CIFAR-10).",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")

_ROOT_HELP = "data directory [default: $OPTLAB_DATA_DIR, else the per-user cache]"


@data_app.command("list")
def data_list(root: Optional[Path] = typer.Option(None, "--root", help=_ROOT_HELP)) -> None:
    """Every dataset: whether its files are present and verify, where, and their size."""
    from optlab.data.catalog import print_catalog

    print_catalog(root)


@data_app.command("download")
def data_download(
    name: str = typer.Argument(..., help="mnist, fashion_mnist or cifar10"),
    root: Optional[Path] = typer.Option(None, "--root", help=_ROOT_HELP),
    debug: bool = typer.Option(False, "--debug", help="show Python tracebacks"),
) -> None:
    """Download a dataset's files, verify their checksums and keep them in the data directory.

    Example: optlab data download mnist
    """
    import difflib

    from optlab.data import DataError
    from optlab.data.catalog import download
    from optlab.data.sources import SPECS

    console = _err_console()
    if name not in SPECS:
        close = difflib.get_close_matches(name, list(SPECS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        console.print(f"[bold red]error:[/] unknown dataset {name!r}{hint} (downloadable: {', '.join(SPECS)})",
                      markup=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        download(name, root, console=console)
    except DataError as exc:
        if debug:
            raise
        _print_failure(console, exc)
        raise typer.Exit(EXIT_FAILED) from None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
