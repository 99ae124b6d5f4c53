"""``optlab recipes`` / ``recipes show`` / ``recipes copy``: the experiments shipped with optlab
(library code in optlab/config/recipes.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from optlab.cli.app import EXIT_BAD_INPUT, app
from optlab.cli.common import err_console
from optlab.cli.helptext import OptlabTyper

recipes_app = OptlabTyper(
    help="The shipped experiments: list them, show one, copy one to edit. Run one by name: optlab train quickstart.",
    invoke_without_command=True)
app.add_typer(recipes_app, name="recipes")


def _bad(exc) -> typer.Exit:
    console = err_console()
    for problem in exc.problems:
        console.print("[bold red]error:[/] ", end="")
        console.print(f"{problem.where}: {problem.message}", markup=False, soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


@recipes_app.callback()
def recipes_list(ctx: typer.Context) -> None:
    """Every recipe: its name, kind (run, comparison, sweep), the question it asks and its source."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from optlab.config.recipes import recipes

    table = Table(show_lines=True, title="optlab recipes  (optlab recipes show NAME: the file and its command)")
    table.add_column("recipe", no_wrap=True)     # names stay whole: they are what a user types
    table.add_column("kind", no_wrap=True)
    table.add_column("question", overflow="fold", ratio=3)
    table.add_column("source", overflow="fold", ratio=2)
    for r in recipes():
        table.add_row(r.name, r.kind, r.headline, r.source.split(":")[0])
    Console(highlight=False).print(table)


@recipes_app.command("show")
def recipes_show(name: str = typer.Argument(..., help="a recipe's name, e.g. mnist_mlp")) -> None:
    """Print a recipe: its file, with the question, source and command at the top."""
    from optlab.config.loading import ConfigError
    from optlab.config.recipes import find

    try:
        recipe = find(name)
    except ConfigError as exc:
        raise _bad(exc) from None
    typer.echo(recipe.path.read_text(encoding="utf-8"), nl=False)


@recipes_app.command("copy")
def recipes_copy(
    name: str = typer.Argument(..., help="a recipe's name, e.g. mnist_mlp"),
    dest: Optional[str] = typer.Argument(None, help="file or directory (DIR/: a directory, made if needed) to write "
                                                    "[default: ./NAME.yaml]"),
    force: bool = typer.Option(False, "--force", "-f", help="overwrite DEST if it exists"),
) -> None:
    """Write an editable copy of a recipe; `optlab train NAME` then runs the copy (a local file wins)."""
    from optlab.config.loading import ConfigError
    from optlab.config.recipes import copy

    try:
        target = copy(name, dest, force=force)
    except ConfigError as exc:
        raise _bad(exc) from None
    err_console().print(f"wrote {target}", markup=False, soft_wrap=True)
    typer.echo(str(target))
