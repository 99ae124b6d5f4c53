"""What every command shares: the error console, the exit codes' messages, loading a config or
exiting 2 with every problem (a study command's own: optlab.cli.study_run)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer

from optlab.cli.app import DEBUG, EXIT_BAD_INPUT, EXIT_FAILED


def optimizer_names() -> str:
    """The built-in optimizers' names for help texts, read without importing them (numpy would slow
    every ``--help``): each is its module's name in optlab/engine/optimizers, which the registry checks."""
    import importlib.util
    import pkgutil

    spec = importlib.util.find_spec("optlab.engine.optimizers")
    names = [m.name for m in pkgutil.iter_modules(spec.submodule_search_locations)]
    return ", ".join(n for n in names if n not in ("base", "conformance", "registry", "wrappers") and n[0] != "_")


def bad_input(message: str) -> typer.Exit:
    """Print ``error: message`` and return the exit-2 exception to raise."""
    from optlab.terminal import print_error

    print_error(err_console(), message)
    return typer.Exit(EXIT_BAD_INPUT)


def err_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, emoji=False)


def _config_problems(exc) -> typer.Exit:
    from optlab.terminal import print_error

    n = len(exc.problems)
    print_error(err_console(), f"{n} problem{'s' if n > 1 else ''} in the config:", [str(p) for p in exc.problems])
    return typer.Exit(EXIT_BAD_INPUT)


def resolve_or_exit(text: str | Path):
    """A config argument (a path, or a recipe's name) -> optlab.config.recipes.ConfigRef, or exit 2
    naming the closest recipe."""
    from optlab.config.loading import ConfigError
    from optlab.config.recipes import resolve

    try:
        ref = resolve(text)
    except ConfigError as exc:
        raise _config_problems(exc) from None
    say_shadowed(ref)
    return ref


def say_shadowed(ref) -> None:
    """On the terminal, not only in meta.json: a local NAME.yaml is run instead of the recipe NAME."""
    if ref.shadows:
        from optlab.terminal import say

        say(err_console(), "note:", f"running ./{ref.path} (a local file wins over the recipe {ref.shadows!r}; "
                                    f"optlab recipes show {ref.shadows} prints the recipe)", "yellow")


def load_config_or_exit(path: str | Path, overrides: list[str], resolved: bool = False):
    """The validated config from a path or a recipe's name (``resolved``: ``path`` is a file
    already), or exit 2 listing every problem."""
    from optlab.config.loading import ConfigError, load_config

    if not resolved:
        path = resolve_or_exit(path).path
    try:
        return load_config(path, overrides)
    except ConfigError as exc:
        raise _config_problems(exc) from None


@contextmanager
def exits_for(console, bad_input_error: type[Exception]) -> Iterator[None]:
    """A command's library call: its ``bad_input_error`` is exit 2 with its message, any other error
    one line and exit 1; with --debug, the traceback instead."""
    try:
        yield
    except bad_input_error as exc:
        if DEBUG["on"]:
            raise
        raise bad_input(str(exc)) from None
    except Exception as exc:
        if DEBUG["on"]:
            raise
        print_failure(console, exc)
        raise typer.Exit(EXIT_FAILED) from None


def print_failure(console, exc: Exception) -> None:
    from optlab.data import DataError
    from optlab.terminal import print_error

    if isinstance(exc, DataError):   # a message written for the user: no exception type
        print_error(console, str(exc))
    else:
        print_error(console, f"{type(exc).__name__}: {exc}")


def ensure_data(cfg, console, debug: bool) -> None:
    from optlab.data import DataError, ensure_files

    try:
        ensure_files(cfg.data, console=console)
    except DataError as exc:
        if debug:
            raise
        print_failure(console, exc)
        raise typer.Exit(EXIT_FAILED) from None


def ensure_run_data(run: Path, console, debug: bool) -> None:
    """The dataset a finished run trained on, found (or downloaded) before a command reads the run;
    a run whose config does not load is left for the library to report with the run's name."""
    cfg_path = Path(run) / "config.yaml"
    if not cfg_path.is_file():
        return
    from optlab.config.loading import ConfigError, load_config

    try:
        cfg = load_config(cfg_path)
    except ConfigError:
        return
    if cfg.data is not None:
        ensure_data(cfg, console, debug)


def bad_problems(problems, hint: str = "") -> typer.Exit:
    """Print input problems (config, variants, options) and return the exit-2 to raise."""
    from optlab.terminal import print_error

    console = err_console()
    n = len(problems)
    print_error(console, f"{n} problem{'s' if n > 1 else ''} in the input:", [str(p) for p in problems])
    if hint:
        console.print(hint, markup=False, soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


def output_overrides(fmt: str | None, tensorboard: bool) -> list[str]:
    """``--format`` and ``--tensorboard`` as the overrides they stand for."""
    return ([f"plots.format={fmt}"] if fmt is not None else []) + (["logging.tensorboard=true"] if tensorboard else [])


def require_extras(cfg) -> None:
    """Exit 2 before anything runs when the config needs an optional extra that is not installed."""
    from optlab.record.tensorboard import TensorBoardMissing, require_for

    try:
        require_for(cfg)
    except TensorBoardMissing as exc:
        raise bad_input(str(exc)) from None


# Options several commands share, declared once (typer's Annotated form) so their names and help
# cannot drift apart between train, compare and sweep.
Format = Annotated[Optional[str], typer.Option(
    "--format", metavar="png|svg|pdf", help="figure file format (same as plots.format=...)", show_default=False)]
TensorBoard = Annotated[bool, typer.Option(
    "--tensorboard", help="TensorBoard event files in every run: tensorboard --logdir DIR shows them all")]
Executor = Annotated[str, typer.Option(
    "--executor", metavar="local|dask", help="where trials run: local processes, or a Dask cluster (docs/distributed.md)")]
Scheduler = Annotated[Optional[str], typer.Option(
    "--scheduler", envvar="OPTLAB_SCHEDULER", metavar="tcp://HOST:8786",
    help="--executor dask: the cluster's scheduler", show_default="a LocalCluster on this machine")]
