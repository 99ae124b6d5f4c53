"""``optlab explore``: the surface explorer, a page where sliders re-run the optimizers on a 2-D surface."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from optlab.cli.app import app
from optlab.cli.common import bad_input


@app.command()
def explore(
    surface: str = typer.Argument(..., metavar="SURFACE", help="bowl, rosenbrock, beale or saddle"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="FILE",
                                       show_default="SURFACE-explorer.html in the current directory",
                                       help="where to write the page"),
    start: Optional[str] = typer.Option(None, "--start", metavar="X,Y", show_default="the surface's recipe's",
                                        help="the start point"),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, max=1000, show_default="the surface's recipe's",
                                        help="number of steps"),
    show: bool = typer.Option(False, "--open", help="open the page in the web browser"),
) -> None:
    """Write an offline page where sliders re-run every optimizer on a 2-D surface (drag the start point).

    Its update rules are the engine's: the paths equal optlab train's of the same settings.
    Example: optlab explore bowl --open
    """
    from optlab.engine.surfaces import OBJECTIVES

    if surface not in OBJECTIVES:
        raise bad_input(f"unknown surface {surface!r}: choose from {', '.join(OBJECTIVES)}")
    point = None
    if start is not None:
        try:
            point = tuple(float(v) for v in start.split(","))
        except ValueError:
            point = ()
        if len(point) != 2 or not all(abs(v) < 1e300 for v in point):
            raise bad_input(f"--start {start}: expected two finite numbers X,Y, e.g. --start=-7,2")
    from optlab.record.explorer import explorer_page

    path = out or Path(f"{surface}-explorer.html")
    try:
        path.write_text(explorer_page(surface, start=point, steps=steps), encoding="utf-8")
    except OSError as exc:
        raise bad_input(f"cannot write {path}: {exc.strerror or exc}") from None
    print(path)
    if show:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())
