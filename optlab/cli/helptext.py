"""How every command's ``--help`` names its arguments: one convention for all of them.

Typer's plain help writes a required argument as ``{CONFIG}``, an optional one as ``[config]``,
and appends Python types (``<list[str]>``, ``<path>``). optlab's help follows the usual Unix
usage line instead: ``optlab sweep [OPTIONS] CONFIG [KEY=SPEC]...`` — upper-case names, brackets
only for what may be left out, ``...`` for what repeats — and options show a metavar
(``--seeds N``, ``--root DIR``), never a Python type. :class:`OptlabTyper` makes every command of
the app use :class:`OptlabCommand`, so a new command gets this without asking.
"""

from __future__ import annotations

import re

import typer
from typer.core import TyperCommand

_TYPE_SUFFIX = re.compile(r" <[^<>]*>$")   # typer's " <path>" / " <list[str]>" after a name
_METAVARS = {"integer": "N", "int": "N", "int range": "N", "integer range": "N", "float": "X", "float range": "X",
             "path": "PATH", "text": "TEXT", "str": "TEXT"}


def argument_name(param) -> str:
    """``CONFIG``, ``[CONFIG]``, ``DIR...`` or ``[KEY=VALUE]...`` for one positional argument."""
    name = param.metavar or (param.name or "arg").upper()
    repeats = param.nargs != 1
    if name.startswith("[") or name.endswith("..."):   # the metavar already says it
        return name
    if not param.required:
        name = f"[{name}]"
    return f"{name}..." if repeats else name


def option_metavar(param, ctx) -> str:
    """The placeholder after an option that takes a value: its metavar, else one by its type
    (typer's ``<integer>`` becomes ``N``, ``<a|b>`` becomes ``[a|b]``)."""
    if param.metavar:
        return param.metavar
    label = (param.display_type(ctx) or "<text>").strip("<>")
    if "|" in label:
        return f"[{label}]"
    return _METAVARS.get(label, label.upper())


class OptlabCommand(TyperCommand):
    """A typer command whose usage line and help records follow :func:`argument_name` and
    :func:`option_metavar`."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + [argument_name(p) for p in self.get_params(ctx) if p.param_type_name == "argument"]

    def format_options(self, ctx, formatter) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            names, text = record
            if param.param_type_name == "argument":
                arguments.append((argument_name(param), text))
            else:
                names = _TYPE_SUFFIX.sub("", names)
                takes_value = not getattr(param, "is_flag", False) and not getattr(param, "count", False)
                if takes_value and not (param.metavar and names.endswith(param.metavar)):
                    names = f"{names} {option_metavar(param, ctx)}"
                options.append((names, text))
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class OptlabTyper(typer.Typer):
    """A Typer app whose commands are :class:`OptlabCommand` unless a command asks otherwise."""

    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or OptlabCommand, **kwargs)
