"""Reading a config's YAML safely: bounded, strict, and with the line of every key.

A config is a few hundred bytes of plain values, lists and mappings, so anything else is refused
with a ``file:line`` message (:class:`~optlab.config.problems.ConfigError`, exit 2) before it can
cost time or memory:

- the file must be a regular file (not a FIFO, a device such as ``/dev/zero``, a directory) of at
  most :data:`MAX_BYTES`, and is read no further than that;
- nesting is at most :data:`MAX_DEPTH` levels, counted while composing, so 20 000 ``[`` stop at
  the 33rd (and a linear pre-scan refuses deep brackets before PyYAML's quadratic scanner sees
  them); a document has at most :data:`MAX_NODES` nodes as written and :data:`MAX_EXPANDED`
  *with aliases expanded* ("billion laughs": nine anchors of ten aliases each are 10^9 nodes),
  and no alias may contain itself;
- mapping keys are plain scalars (``? [a, b]: 1`` is refused), an integer has at most
  :data:`MAX_INT_DIGITS` digits (Python refuses 4 300 anyway, with a raw ValueError);
- only the tags of plain data: ``!!set``, ``!!binary``, ``!!omap``, ``!!timestamp`` and any
  ``!custom`` tag are refused.

Scalars are resolved by YAML 1.2's core schema rather than PyYAML's YAML 1.1: ``1e-3`` is a
float (1.1 wants a dot), ``true``/``false`` are the only booleans (``yes``, ``on``, ``no`` stay
strings, so ``name: no`` is the name "no"), ``1:30`` is the string "1:30" and not 90 (base 60),
``010`` is ten and not eight, and ``2024-01-01`` is a string, not a date.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from optlab.config.problems import ConfigError, Problem

MAX_BYTES = 64 * 1024      # the largest shipped config is ~3 KB; PyYAML reads ~0.5 MB/s
MAX_DEPTH = 32             # sections are 4 deep at most (optimizer.schedule.every)
MAX_NODES = 2_000          # values as written (a config has about 100; PyYAML takes ~0.1 ms each)
MAX_EXPANDED = 50_000      # values with every alias expanded
MAX_INT_DIGITS = 30        # more than any count or seed a config needs

_T = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_T + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "merge")}

_INT = re.compile(r"^(?:[-+]?[0-9][0-9_]*|0x[0-9a-fA-F_]+|0o[0-7_]+)$")
_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                  |[-+]?(?:[0-9][0-9_]*)[eE][-+]?[0-9]+
                  |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                  |[-+]?\.(?:inf|Inf|INF)
                  |\.(?:nan|NaN|NAN))$""", re.X)
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


class _Refused(yaml.MarkedYAMLError):
    """A document refused by a bound or a rule of this module (not a syntax error)."""


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 scalars, duplicate-key detection and the bounds above."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
            if self._nodes > MAX_NODES:
                raise _Refused(None, None, f"more than {MAX_NODES} values (a config holds about 100)",
                               event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key].start_mark.line + 1})",
                    key_node.start_mark)
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        if not _INT.match(text):
            raise _Refused(None, None, f"{text!r} is not an integer", node.start_mark)
        digits = text.replace("_", "").lstrip("+-")
        if len(digits) > MAX_INT_DIGITS:
            raise _Refused(None, None, f"an integer of {len(digits)} digits (at most {MAX_INT_DIGITS})",
                           node.start_mark)
        clean = text.replace("_", "")
        if digits.startswith(("0x", "0o")):
            return int(clean, 16 if digits[1] == "x" else 8)
        return int(clean, 10)

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        text = str(self.construct_scalar(node))
        if _INT.match(text) and not text.startswith(("0x", "0o")):
            return float(self.construct_yaml_int(node))
        if not _FLOAT.match(text):
            raise _Refused(None, None, f"{text!r} is not a number", node.start_mark)
        return super().construct_yaml_float(node)   # handles .inf / .nan and '_'

    def construct_yaml_bool(self, node: yaml.ScalarNode) -> bool:
        text = str(self.construct_scalar(node))
        if not _BOOL.match(text):
            raise _Refused(None, None, f"{text!r} is not true or false", node.start_mark)
        return text.lower() == "true"


# YAML 1.2 core schema: drop PyYAML's 1.1 resolvers for bool, int, float, timestamp and '='.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in {_T + t for t in ("bool", "int", "float", "timestamp", "value")}]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_T + "bool", _BOOL, list("tTfF"))
_Loader.add_implicit_resolver(_T + "int", _INT, list("-+0123456789"))
_Loader.add_implicit_resolver(_T + "float", _FLOAT, list("-+0123456789."))
_Loader.add_constructor(_T + "map", _Loader.construct_mapping)
_Loader.add_constructor(_T + "int", _Loader.construct_yaml_int)
_Loader.add_constructor(_T + "float", _Loader.construct_yaml_float)
_Loader.add_constructor(_T + "bool", _Loader.construct_yaml_bool)


class _Dumper(yaml.SafeDumper):
    """SafeDumper that quotes every string _Loader would read as something else (``"1e3"``).

    SafeDumper quotes by the YAML 1.1 rules, which leave ``1e3`` bare, and _Loader would then
    read the run name "1e3" back as the float 1000.0.
    """


_Dumper.yaml_implicit_resolvers = {
    first: list(resolvers) for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
for _first, _resolvers in _Loader.yaml_implicit_resolvers.items():
    _Dumper.yaml_implicit_resolvers.setdefault(_first, [])
    _known = _Dumper.yaml_implicit_resolvers[_first]
    _known += [r for r in _resolvers if r not in _known]


def _check_graph(node: yaml.Node) -> None:
    """Refuse what composing alone cannot see: tags other than plain data, complex keys, an
    alias that contains itself, and too many nodes or levels once aliases are expanded."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(n: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise _Refused(None, None, f"nested more than {MAX_DEPTH} levels deep (with aliases expanded)",
                           n.start_mark)
        if n.tag not in _ALLOWED_TAGS:
            tag = n.tag.replace(_T, "!!")
            raise _Refused(None, None, f"the YAML tag {tag} is not allowed in a config (only plain numbers, "
                                       "strings, true/false, null, lists and mappings)", n.start_mark)
        if id(n) in sizes:
            return sizes[id(n)]
        if id(n) in active:
            raise _Refused(None, None, "an alias refers to a node that contains it (a recursive alias)",
                           n.start_mark)
        active.add(id(n))
        total = 1
        if isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                if not isinstance(key, yaml.ScalarNode):
                    raise _Refused(None, None, "a mapping key must be a plain name, not a list or mapping",
                                   key.start_mark)
                total += size(key, depth + 1) + size(value, depth + 1)
                if total > MAX_EXPANDED:
                    break
        elif isinstance(n, yaml.SequenceNode):
            for item in n.value:
                total += size(item, depth + 1)
                if total > MAX_EXPANDED:
                    break
        if total > MAX_EXPANDED:
            raise _Refused(None, None, f"more than {MAX_EXPANDED} values once aliases are expanded "
                                       "(an alias bomb?)", n.start_mark)
        active.discard(id(n))
        sizes[id(n)] = total
        return total

    size(node, 1)


def _flow_depth_line(text: str) -> int | None:
    """The line where brackets (``[``, ``{``) nest deeper than MAX_DEPTH, outside quotes and
    comments, else None. A linear pre-scan: PyYAML's scanner keeps every open bracket as a
    possible simple key and rescans them all at each token, which is quadratic (20 000 ``[``
    took 1.2 s before the composer's depth bound was ever reached)."""
    depth, quote, line, prev = 0, "", 1, " "
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        if quote:
            if c == "\\" and quote == '"':
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "#" and prev in " \t\n":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line
        elif c in "]}":
            depth = max(0, depth - 1)
        prev = c
        i += 1
    return None


def parse_yaml(text: str, where: str) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML text; return the data and the 1-based line of every key path in it."""
    if len(text) > MAX_BYTES:
        raise ConfigError([Problem(where, "", f"{len(text)} characters; a config may be at most {MAX_BYTES}")])
    deep = _flow_depth_line(text)
    if deep is not None:
        raise ConfigError([Problem(f"{where}:{deep}", "", f"refused: nested more than {MAX_DEPTH} levels deep")])
    try:
        loader = _Loader(text)   # the reader refuses control characters here, already
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise ConfigError([Problem(f"{where}:{line}", "", f"YAML error: unacceptable character "
                                   f"#x{exc.character:04x} (control characters are not allowed)")]) from None
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_graph(node)
        data = loader.construct_document(node) if node is not None else None
    except _Refused as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError([Problem(f"{where}{line}", "", f"refused: {exc.problem}")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        if exc.context and problem.startswith("but "):  # PyYAML splits one sentence in two
            problem = f"{exc.context}, {problem}"
        elif exc.context and exc.context_mark and "end of stream" in problem:
            # an unclosed quote or bracket is found at the end of the file; point at its start
            mark, problem = exc.context_mark, f"{problem} {exc.context} that starts here"
        line = f":{mark.line + 1}" if mark else ""
        if "\t" in problem or "'\\t'" in problem:
            problem += " (YAML does not allow tabs for indentation; use spaces)"
        raise ConfigError([Problem(f"{where}{line}", "", f"YAML syntax error: {problem}")]) from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
        raise ConfigError([Problem(where, "", f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    lines: dict[tuple, int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return data, lines


def _index_lines(node: yaml.Node, path: tuple, lines: dict[tuple, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            sub = path + (key_node.value,)
            lines[sub] = key_node.start_mark.line + 1
            _index_lines(value_node, sub, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, path + (i,), lines)


_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket"}


def read_text(path: Path) -> str:
    """The file's text, or a ConfigError saying why it cannot be read: missing, a directory, not a
    regular file (a FIFO or ``/dev/zero`` would block or never end), too large, not UTF-8."""
    where = str(path)
    try:
        info = os.stat(path)            # follows a symlink: what matters is what it points to
    except FileNotFoundError:
        raise ConfigError([Problem(where, "", "no such file")]) from None
    except OSError as exc:              # e.g. ENAMETOOLONG, ELOOP, EACCES on a folder
        raise ConfigError([Problem(where, "", f"cannot read: {exc.strerror or exc}")]) from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError([Problem(where, "", "is a directory; expected a YAML config file")])
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise ConfigError([Problem(where, "", f"is {kind}; expected a YAML config file")])
    if info.st_size > MAX_BYTES:
        raise ConfigError([Problem(where, "", f"is {info.st_size} bytes; a config may be at most {MAX_BYTES}")])
    try:
        # O_NONBLOCK: should the file be swapped for a FIFO after the stat, opening it must not hang
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise ConfigError([Problem(where, "", "is not a regular file; expected a YAML config file")])
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError([Problem(where, "", f"cannot read: {exc.strerror or exc}")]) from None
    if len(data) > MAX_BYTES:
        raise ConfigError([Problem(where, "", f"is more than {MAX_BYTES} bytes; a config may be at most that")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError([Problem(f"{where}:{line}", "", f"not UTF-8 text (byte 0x{data[exc.start]:02x})")]) from None
