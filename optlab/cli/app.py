"""The ``optlab`` typer application: its root options, the console script, and one-line help.

Each command lives in its own module of this package and registers itself on :data:`app`.
"""

from __future__ import annotations

import sys

import typer

from optlab.cli.helptext import OptlabTyper

app = OptlabTyper(
    name="optlab",
    help="A laboratory for how neural networks learn their parameters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain (click) help and usage errors: typer's rich help imports rich's Markdown, tracebacks and
    # syntax highlighting (~130 ms), which made `optlab --help` take 0.31 s on the shared machine
    # instead of 0.16 s (docs/performance.md). Commands list their whole first docstring line
    # (_full_short_help), not click's cut-off one.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},   # inherited by every command
)

EXIT_FAILED, EXIT_BAD_INPUT = 1, 2
DEBUG = {"on": False}   # set by --debug (root or command); read by main() for uncaught errors


def _version(value: bool) -> None:
    if value:
        from optlab import __version__

        typer.echo(f"optlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="show Python tracebacks (any command)"),
          version: bool = typer.Option(False, "--version", "-V", is_eager=True, callback=_version,
                                       help="print optlab's version and exit")) -> None:
    """optlab: run, compare and check the classic experiments of learning by gradient."""
    DEBUG["on"] = DEBUG["on"] or debug


def full_short_help(typer_app: typer.Typer) -> None:
    """Each command's summary in ``--help``: its docstring's first paragraph, whole (a summary
    that runs onto a second line is not cut after the first)."""
    def first_paragraph(text: str) -> str:
        return " ".join(text.strip().split("\n\n")[0].split())

    for info in typer_app.registered_commands:
        if info.short_help is None and info.callback is not None and info.callback.__doc__:
            info.short_help = first_paragraph(info.callback.__doc__)
    for group in typer_app.registered_groups:
        text = group.typer_instance.info.help
        if group.short_help is None or not isinstance(group.short_help, str):
            group.short_help = first_paragraph(text) if isinstance(text, str) and text.strip() else None
        full_short_help(group.typer_instance)


def main() -> None:
    """The console script: any uncaught error is one line and exit 1 (a traceback with --debug);
    Ctrl-C outside a run (e.g. while loading) exits 130 without a traceback."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if DEBUG["on"] or "--debug" in sys.argv[1:]:
            raise
        sys.stderr.write(f"error: {type(exc).__name__}: {exc}\n(run with --debug for the traceback)\n")
        sys.exit(EXIT_FAILED)
    finally:
        _quick_exit()


def _quick_exit() -> None:
    """The command is done; what remains is the interpreter's exit, whose garbage collections walk
    every object the imports made (matplotlib, pydantic's models): ~0.15 s of a train command
    (docs/performance.md, "The everyday loop"). Frozen (gc.freeze), those objects are skipped by
    the collector and still freed by reference counting; atexit handlers, open files and
    threads end as they would."""
    import gc

    gc.freeze()
