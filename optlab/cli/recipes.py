"""``optlab recipes`` / ``recipes show`` / ``recipes copy``: the experiments shipped with optlab
(library code in optlab/config/recipes.py)."""

from __future__ import annotations

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
    from optlab.terminal import print_error

    console = err_console()
    for problem in exc.problems:
        print_error(console, f"{problem.where}: {problem.message}")
    return typer.Exit(EXIT_BAD_INPUT)


@recipes_app.callback()
def recipes_root(ctx: typer.Context) -> None:
    """``optlab recipes`` alone lists them, as ``optlab recipes list`` does."""
    if ctx.invoked_subcommand is None:
        _print_recipes()


@recipes_app.command("list")
def recipes_list() -> None:
    """Every recipe: its name, kind (run, comparison, sweep), the question it asks, its source and command."""
    _print_recipes()


def _print_recipes() -> None:
    """One block per recipe, wrapped at spaces to the terminal's width (a name or a file name is
    never cut: a table's narrow columns cut ``cifar10_svm.yaml`` at 80 columns)."""
    from rich.padding import Padding
    from rich.text import Text

    from optlab.config.recipes import recipes
    from optlab.terminal import make_console

    console = make_console()
    console.print(Text("optlab recipes  (show NAME: the file; copy NAME: a copy to edit)"))
    for r in recipes():
        console.print()
        console.print(Text.assemble((r.name, "bold"), f"  ({r.kind})"))
        body = Text(r.headline + "\n")
        body.append(f"source: {r.source.split(':')[0]}")
        console.print(Padding(body, (0, 0, 0, 2)))
        console.print(Text(f"  $ {r.command}", style="bold"), soft_wrap=True)   # one line, to copy whole


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
    dest: Optional[str] = typer.Argument(None, help="file or directory (DIR/: a directory, made if needed) to write",
                                         show_default="./NAME.yaml"),
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
