"""``optlab data list`` / ``optlab data download``: the real datasets (library code in optlab/data/catalog.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from optlab.cli.app import EXIT_BAD_INPUT, EXIT_FAILED, app
from optlab.cli.common import err_console, print_failure
from optlab.cli.helptext import OptlabTyper

data_app = OptlabTyper(help="List and download the real datasets (MNIST, Fashion-MNIST, CIFAR-10).",
                       invoke_without_command=True)
app.add_typer(data_app, name="data")

_ROOT_HELP = "data directory"
_ROOT_DEFAULT = "$OPTLAB_DATA_DIR, else the per-user cache"


@data_app.callback()
def data_root(ctx: typer.Context) -> None:
    """``optlab data`` alone lists the datasets, as ``optlab data list`` does."""
    if ctx.invoked_subcommand is None:
        from optlab.data.catalog import print_catalog

        print_catalog(None)


@data_app.command("list")
def data_list(root: Optional[Path] = typer.Option(None, "--root", metavar="DIR", help=_ROOT_HELP,
                                                  show_default=_ROOT_DEFAULT)) -> None:
    """Every dataset: whether its files are present and verify, where, and their size."""
    from optlab.data.catalog import print_catalog

    print_catalog(root)


@data_app.command("download")
def data_download(
    name: str = typer.Argument(..., help="mnist, fashion_mnist or cifar10"),
    root: Optional[Path] = typer.Option(None, "--root", metavar="DIR", help=_ROOT_HELP, show_default=_ROOT_DEFAULT),
    debug: bool = typer.Option(False, "--debug", help="show Python tracebacks"),
) -> None:
    """Download a dataset's files, verify their checksums and keep them in the data directory.

    Example: optlab data download mnist
    """
    import difflib

    from optlab.data import DataError
    from optlab.data.catalog import download
    from optlab.data.sources import SPECS
    from optlab.terminal import print_error

    console = err_console()
    if name not in SPECS:
        close = difflib.get_close_matches(name, list(SPECS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        print_error(console, f"unknown dataset {name!r}{hint} (downloadable: {', '.join(SPECS)})")
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        download(name, root, console=console)
    except DataError as exc:
        if debug:
            raise
        print_failure(console, exc)
        raise typer.Exit(EXIT_FAILED) from None
