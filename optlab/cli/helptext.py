"""How every command's ``--help`` names its arguments: one convention for all of them.

Typer's plain help writes a required argument as ``{CONFIG}``, an optional one as ``[config]``,
and appends Python types (``<list[str]>``, ``<path>``). optlab's help follows the usual Unix
usage line instead: ``optlab sweep [OPTIONS] CONFIG [KEY=SPEC]...`` — upper-case names, brackets
only for what may be left out, ``...`` for what repeats — and options show a metavar
(``--seeds N``, ``--root DIR``, ``--format png|svg|pdf``), never a Python type. What an option
defaults to, reads from the environment or accepts is written one way after its help, in one
bracket: ``[default: 1; env var: OPTLAB_RUNS_DIR; at least 1]`` (:func:`option_extras`), never as
prose in the help text. :class:`OptlabTyper` makes every command of the app use
:class:`OptlabCommand`, so a new command gets this without asking.
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
        return label.strip("[]")
    return _METAVARS.get(label, label.upper())


_RANGE = [(re.compile(r"^x>=(\S+)$"), "at least {0}"), (re.compile(r"^x>(\S+)$"), "above {0}"),
          (re.compile(r"^x<=(\S+)$"), "at most {0}"), (re.compile(r"^(\S+)<=x<=(\S+)$"), "{0} to {1}")]


def _split_outside_parentheses(text: str) -> list[str]:
    """``"default: (a; b); x>=1"`` -> ``["default: (a; b)", "x>=1"]``."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and text.startswith("; ", i):
            parts.append(text[start:i])
            start = i + 2
    return [*parts, text[start:]]


def option_extras(text: str) -> str:
    """An option's help as typer writes it (``help  [env var: E; default: (D); x>=1]``) with the
    bracket written optlab's one way: ``help  [default: D; env var: E; at least 1]``."""
    help_text, sep, bracket = text.rpartition("  [")
    if not sep and text.startswith("["):     # an option without help: the bracket alone
        help_text, sep, bracket = "", "[", text[1:]
    if not sep or not bracket.endswith("]"):
        return text
    order = {"default": [], "env var": [], "range": [], "required": []}
    for part in _split_outside_parentheses(bracket[:-1]):
        key, colon, value = part.partition(": ")
        if colon and key in ("default", "env var"):
            value = value[1:-1] if key == "default" and value.startswith("(") and value.endswith(")") else value
            order[key].append(f"{key}: {value}")
        elif part == "required":
            order["required"].append(part)
        else:
            for pattern, words in _RANGE:
                m = pattern.match(part.replace(" ", ""))
                if m:
                    order["range"].append(words.format(*m.groups()))
                    break
            else:
                return text                  # not typer's bracket: part of the help itself
    parts = [p for group in order.values() for p in group]
    return f"{help_text}  [{'; '.join(parts)}]" if help_text else f"[{'; '.join(parts)}]"


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
                arguments.append((argument_name(param), option_extras(text)))
            else:
                names = _TYPE_SUFFIX.sub("", names)
                takes_value = not getattr(param, "is_flag", False) and not getattr(param, "count", False)
                if takes_value and not (param.metavar and names.endswith(param.metavar)):
                    names = f"{names} {option_metavar(param, ctx)}"
                options.append((names, option_extras(text)))
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class OptlabTyper(typer.Typer):
    """A Typer app whose commands are :class:`OptlabCommand` unless a command asks otherwise."""

    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or OptlabCommand, **kwargs)
