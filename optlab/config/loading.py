"""Load a config: YAML file + ``key.sub=value`` overrides -> a validated :class:`Config`.

Every problem is collected and reported at once as ``file:line  key.path  message`` (with the
valid choices, and the closest one, for an unknown name or key), so a user fixes a config in one
go. Errors are raised as :class:`ConfigError`; the CLI prints them and exits with code 2.

YAML is read with a ``yaml.SafeLoader`` subclass that (a) reads ``1e-3`` as a float (PyYAML
follows YAML 1.1, where a float needs a dot, and would read it as the *string* "1e-3"), and
(b) refuses duplicate keys instead of silently keeping the last one.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal

import yaml

from optlab.config.schema import UNIONS, Config

# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    where: str    # "path/to/file.yaml:12", "override 'lr=1'" or the file alone
    key: str      # dotted key path, "" for the whole file
    message: str

    def __str__(self) -> str:
        return "  ".join(part for part in (self.where, self.key, self.message) if part)


class ConfigError(Exception):
    """One or more problems in a config file or its overrides."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# ---------------------------------------------------------------------------------------------
# YAML
# ---------------------------------------------------------------------------------------------
_FLOAT = "tag:yaml.org,2002:float"


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 floats (``1e-3``) and duplicate-key detection."""

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


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _FLOAT]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                  |[-+]?(?:[0-9][0-9_]*)[eE][-+]?[0-9]+
                  |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                  |[-+]?\.(?:inf|Inf|INF)
                  |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_mapping)


class _Dumper(yaml.SafeDumper):
    """SafeDumper that quotes every string _Loader would read as something else (``"1e3"``).

    SafeDumper quotes by the YAML 1.1 rules, which leave ``1e3`` bare, and _Loader would then
    read the run name "1e3" back as the float 1000.0.
    """


_Dumper.yaml_implicit_resolvers = {first: list(resolvers) for first, resolvers in _Loader.yaml_implicit_resolvers.items()}


def parse_yaml(text: str, where: str) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML text; return the data and the 1-based line of every key path in it."""
    try:
        loader = _Loader(text)   # the reader refuses control characters here, already
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise ConfigError([Problem(f"{where}:{line}", "", f"YAML error: unacceptable character "
                                   f"#x{exc.character:04x} (control characters are not allowed)")]) from None
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
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
    except yaml.YAMLError as exc:
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


# ---------------------------------------------------------------------------------------------
# overrides
# ---------------------------------------------------------------------------------------------
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def split_override(text: str, where: str | None = None) -> tuple[str, str]:
    """``"model.hidden=[64, 64]"`` -> ``("model.hidden", "[64, 64]")``, the key checked, the value
    unparsed (``optlab sweep`` reads its own syntax there)."""
    where = where or f"override {text!r}"
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep:
        raise ConfigError([Problem(where, "", "expected KEY=VALUE, e.g. optimizer.lr=0.01")])
    if not _KEY.match(key):
        raise ConfigError([Problem(where, key, "expected a dotted key such as optimizer.lr before '='")])
    if not value.strip():
        raise ConfigError([Problem(where, key, "no value after '='")])
    return key, value.strip()


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """``"model.hidden=[64, 64]"`` -> ``(("model", "hidden"), [64, 64])``; values are YAML."""
    where = f"override {text!r}"
    key, value = split_override(text, where)
    try:
        parsed, _ = parse_yaml(value, where)
    except ConfigError as exc:
        raise ConfigError([Problem(where, key, exc.problems[0].message)]) from None
    return tuple(key.split(".")), parsed


# Keys of which a config gives exactly one: an override of one removes the other from the file's
# values, so `train.iterations=500` on a config with `train.epochs` means "500 steps instead".
ALTERNATIVES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("train", "iterations"): ("train", "epochs"),
    ("train", "epochs"): ("train", "iterations"),
}


def value_text(value: Any) -> str:
    """A value as override text (YAML): floats by repr, so they read back exactly."""
    import yaml

    if isinstance(value, float):
        return repr(value)
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def apply_override(raw: dict, path: tuple[str, ...], value: Any, where: str) -> None:
    """Set ``raw[path] = value`` in place, expanding ``loss: hinge`` shorthands on the way
    (and dropping the key's alternative, see ALTERNATIVES)."""
    node = raw
    for depth, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif isinstance(child, str):  # `optimizer: adam` + `optimizer.lr=...`
            child = node[part] = {"name": child}
        elif child is True:           # `batch_norm: true` (a section with its defaults) + `batch_norm.eps=...`
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise ConfigError([Problem(where, ".".join(path),
                                       f"{'.'.join(path[:depth + 1])} is a {type(child).__name__}, not a section")])
        node = child
    node[path[-1]] = value
    other = ALTERNATIVES.get(path)
    if other is not None and other[:-1] == path[:-1]:
        node.pop(other[-1], None)


# ---------------------------------------------------------------------------------------------
# validation errors -> problems
# ---------------------------------------------------------------------------------------------
def _alternatives(annotation: Any) -> list[Any]:
    """The types a value may have, unions flattened, ``Annotated`` and ``None`` dropped."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _alternatives(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [t for a in typing.get_args(annotation) for t in _alternatives(a)]
    return [] if annotation is type(None) else [annotation]


def _tagged_members(annotation: Any) -> dict[str, type] | None:
    """``{name: model}`` when ``annotation`` is a union of sections told apart by ``name``
    (``data``, ``loss | None``, ``optimizer.schedule``)."""
    args = _alternatives(annotation)
    if len(args) < 2:
        return None
    members = {}
    for member in args:
        field = getattr(member, "model_fields", {}).get("name")
        if field is None or typing.get_origin(field.annotation) is not Literal:
            return None
        members.update({tag: member for tag in typing.get_args(field.annotation)})
    return members


def _section_of(annotation: Any) -> type | None:
    """The section model of ``Section`` or ``Section | None``, else None."""
    return next((a for a in _alternatives(annotation) if isinstance(a, type) and hasattr(a, "model_fields")), None)


@dataclass
class _Location:
    path: tuple                          # the key path a user writes (discriminator tags dropped)
    holder: type | None                  # the model class holding the last key
    union: str | None = None             # where the location ends at a union: its section name
    choices: tuple[str, ...] = ()        # and the names it accepts


def _resolve(loc: tuple) -> _Location:
    """Follow a pydantic error location through the schema, dropping the discriminator tags it
    inserts at every union however deep (``('optimizer', 'adam', 'schedule', 'step', 'every')``
    -> ``optimizer.schedule.every``), and note the model class that holds the last key."""
    cls: type | None = Config
    holder: type | None = Config
    members: dict[str, type] | None = None
    path: list = []
    for part in loc:
        if members is not None and part in members:      # a tag: the member it names holds the rest
            cls, members = members[part], None
            continue
        path.append(part)
        if isinstance(part, int):                        # a list item: typed by its list's key
            continue
        holder = cls
        field = cls.model_fields.get(part) if cls is not None else None
        annotation = field.annotation if field is not None else None
        if typing.get_origin(annotation) is list:
            annotation = typing.get_args(annotation)[0]
        members = _tagged_members(annotation)
        cls = None if members is not None else _section_of(annotation)
    if members is None:
        return _Location(tuple(path), holder)
    # unknown or missing name: say which union, by its section name where it is a known one
    section = next((k for k, v in UNIONS.items() if v == members), next(p for p in reversed(path) if isinstance(p, str)))
    return _Location(tuple(path), holder, section, tuple(members))


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _message(err: dict) -> str:
    kind, loc, value = err["type"], err["loc"], err.get("input")
    where = _resolve(loc)
    if kind == "extra_forbidden":
        cls = where.holder
        valid = [k for k in (cls.model_fields if cls else {}) if k != "name"]
        hint = _suggest(loc[-1], valid)
        return f"unknown key {loc[-1]!r}{hint}" + (f" (valid keys: {', '.join(valid)})" if valid else "")
    if kind == "union_tag_invalid":
        tag = err["ctx"]["tag"]
        return f"unknown {where.union} {tag!r}{_suggest(tag, where.choices)} (valid: {', '.join(where.choices)})"
    if kind == "union_tag_not_found":
        return f"needs a name: one of {', '.join(where.choices)}"
    if kind == "missing":
        return "required key is missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a section of keys (a mapping), got {value!r}"
    msg = err["msg"].removeprefix("Value error, ")
    msg = re.sub(r"^(Input|String|Value|List) should ", "must ", msg)
    if kind not in ("value_error", "assertion_error") and not isinstance(value, (dict, list)):
        msg += f" (got {value!r})"
    return msg


def validate(raw: Any, lines: dict[tuple, str], where_default: str) -> Config:
    """Validate a raw dict into a Config, mapping every error to its file line or override."""
    from pydantic import ValidationError

    if not isinstance(raw, dict):
        kind = "empty" if raw is None else f"a {type(raw).__name__}"
        raise ConfigError([Problem(where_default, "", f"expected a mapping of config sections, but the file is {kind}")])
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path = _resolve(err["loc"]).path
            where = next((lines[path[:n]] for n in range(len(path), -1, -1) if path[:n] in lines), where_default)
            problems.append(Problem(where, ".".join(map(str, path)), _message(err)))
        problems.sort(key=_line_of)
        raise ConfigError(problems) from None


def _line_of(problem: Problem) -> int:
    """Sort key: problems in file order, overrides (no line) last."""
    head, _, line = problem.where.rpartition(":")
    return int(line) if head and line.isdigit() else 1 << 30


# ---------------------------------------------------------------------------------------------
# public entry points
# ---------------------------------------------------------------------------------------------
def read_text(path: Path) -> str:
    """The file's text, or a ConfigError saying why it cannot be read."""
    where = str(path)
    if not path.exists():
        raise ConfigError([Problem(where, "", "no such file")])
    if path.is_dir():
        raise ConfigError([Problem(where, "", "is a directory; expected a YAML config file")])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([Problem(where, "", f"cannot read: {exc.strerror}")]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError([Problem(f"{where}:{line}", "", f"not UTF-8 text (byte 0x{data[exc.start]:02x})")]) from None


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> Config:
    """Read, override and validate a config file; raise ConfigError with every problem found."""
    path = Path(path)
    raw, key_lines = parse_yaml(read_text(path), str(path))
    lines = {key: f"{path}:{line}" for key, line in key_lines.items()}
    problems: list[Problem] = []
    if isinstance(raw, dict):
        for text in overrides:
            try:
                key, value = parse_override(text)
                apply_override(raw, key, value, f"override {text!r}")
            except ConfigError as exc:
                problems += exc.problems
                continue
            for old in [k for k in lines if k[: len(key)] == key]:
                del lines[old]
            lines[key] = f"override {text!r}"
    try:
        config = validate(raw, lines, str(path))
    except ConfigError as exc:
        problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return config


def dump_config(config: Config) -> str:
    """The resolved config as YAML: every default filled in, enough to re-run exactly."""
    return yaml.dump(config.model_dump(mode="json"), Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def loads_config(text: str, where: str = "<config>") -> Config:
    """Validate YAML text (for tests and resolved configs)."""
    raw, key_lines = parse_yaml(text, where)
    return validate(raw, {k: f"{where}:{v}" for k, v in key_lines.items()}, where)
