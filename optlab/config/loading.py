"""Load a config: YAML file + ``key.sub=value`` overrides -> a validated :class:`Config`.

Every problem is collected and reported at once as ``file:line  key.path  message`` (with the
valid choices, and the closest one, for an unknown name or key), so a user fixes a config in one
go. Errors are raised as :class:`ConfigError`; the CLI prints them and exits with code 2.

YAML is read by :mod:`optlab.config.safe_yaml` (bounded, YAML 1.2 scalars, duplicate keys and
tags other than plain data refused). Values are validated strictly (``Section``: a boolean is
not a number, the string "5" is not an integer), and every problem that comes from an override
is reported at that override, including an unknown section it introduces (``unknown.key=1``) or
a value it turns into a section (``data.name.foo=1``).
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

from optlab.config.problems import ConfigError, Problem
from optlab.config.safe_yaml import _Dumper, _Loader, parse_yaml, read_text
from optlab.config.schema import UNIONS, Config

__all__ = ["ConfigError", "Problem", "_Dumper", "_Loader", "parse_yaml", "read_text", "load_config", "loads_config",
           "dump_config", "parse_override", "split_override", "apply_override", "value_text", "validate"]

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


def replaces(later: tuple[str, ...], earlier: tuple[str, ...]) -> bool:
    """Whether an override of ``later`` applied after one of ``earlier`` undoes it: the same key,
    a section holding it, or its alternative (``train.epochs`` after ``train.iterations``)."""
    other = ALTERNATIVES.get(later)
    return earlier[:len(later)] == later or (other is not None and earlier[:len(other)] == other)


def value_text(value: Any) -> str:
    """A value as override text (YAML): floats by repr, so they read back exactly."""
    import yaml

    if isinstance(value, float):
        return repr(value)
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def apply_override(raw: dict, path: tuple[str, ...], value: Any, where: str) -> int:
    """Set ``raw[path] = value`` in place, expanding ``loss: hinge`` shorthands on the way
    (and dropping the key's alternative, see ALTERNATIVES).

    Returns how many leading keys of ``path`` the file already had as sections: the keys after
    those were made (or turned into sections) by the override, and their problems are its own."""
    node = raw
    kept = len(path) - 1
    for depth, part in enumerate(path[:-1]):
        child = node.get(part)
        if not isinstance(child, dict):
            kept = min(kept, depth)
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
    return kept


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
        tag = getattr(member, "TAG", None)     # a member told apart otherwise (a user's optimizer)
        if isinstance(tag, str):
            members[tag] = member
            continue
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
    named = {tag: m for tag, m in members.items() if not isinstance(getattr(m, "TAG", None), str)}
    section = next((k for k, v in UNIONS.items() if v == named), next(p for p in reversed(path) if isinstance(p, str)))
    return _Location(tuple(path), holder, section, tuple(named))


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


# strict validation (optlab.config.schema.base.Section): what a type error expected
_EXPECTED = {"int_type": "an integer", "int_from_float": "an integer", "float_type": "a number",
             "bool_type": "true or false", "string_type": "a string", "list_type": "a list",
             "tuple_type": "a list"}


def _describe(value: Any) -> str:
    """``true`` -> "a boolean (true)": the YAML type a value was read as, and the value."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number with a fractional part ({value!r})" if not value.is_integer() else f"a float ({value!r})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if value is None:
        return "null"
    kind = {dict: "a mapping", list: "a list", tuple: "a list", set: "a set", bytes: "binary data"}
    return kind.get(type(value), f"a {type(value).__name__}")


def _sexagesimal(value: Any) -> str:
    if isinstance(value, str) and re.fullmatch(r"[-+]?[0-9]+(:[0-5]?[0-9])+(\.[0-9]*)?", value.strip()):
        return " (YAML 1.1 would read it as a base-60 number; write the number itself)"
    return ""


def _message(err: dict) -> str:
    kind, loc, value = err["type"], err["loc"], err.get("input")
    where = _resolve(loc)
    if kind == "extra_forbidden":
        cls = where.holder
        valid = [k for k in (cls.model_fields if cls else {}) if k != "name"]
        head, colon, tail = str(loc[-1]).partition(":")
        if colon and head in (*valid, "name"):         # {name:normal}: YAML's plain scalar, not a key-value pair
            return (f"unknown key {loc[-1]!r}: YAML needs a space after the colon to read a key and its value; "
                    f"write '{head}: {tail.strip()}'")
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
    if kind in _EXPECTED:
        return f"must be {_EXPECTED[kind]}, not {_describe(value)}{_sexagesimal(value)}"
    msg = err["msg"].removeprefix("Value error, ")
    msg = re.sub(r"^(Input|String|Value|List) should ", "must ", msg)
    if kind not in ("value_error", "assertion_error") and not isinstance(value, (dict, list)):
        msg += f" (got {value!r})"
    return msg


def explain(err: dict, section: str = "") -> str:
    """optlab's words for one of pydantic's errors (what was expected, what was given); ``section``:
    the error was raised validating that top-level section alone (``plots`` for a report)."""
    return _message({**err, "loc": (section, *err["loc"])} if section else err)


def validate(raw: Any, lines: dict[tuple, str], where_default: str, base_dir: Path | None = None) -> Config:
    """Validate a raw dict into a Config, mapping every error to its file line or override.
    ``base_dir``: what a relative path in the config is relative to (a user's optimizer file)."""
    from pydantic import ValidationError

    if not isinstance(raw, dict):
        kind = "empty" if raw is None else f"a {type(raw).__name__}"
        raise ConfigError([Problem(where_default, "", f"expected a mapping of config sections, but the file is {kind}")])
    try:
        return Config.model_validate(raw, context={"config_dir": base_dir})
    except ValidationError as exc:
        problems = []
        for err in [*exc.errors(), *_under_closest_name(raw, exc.errors())]:
            resolved = _resolve(err["loc"])
            path = resolved.path
            if err["type"] == "union_tag_invalid" and isinstance(_node(raw, path), dict):
                path = path + ("name",)        # the misspelt name itself: its key and its line
            where = next((lines[path[:n]] for n in range(len(path), -1, -1) if path[:n] in lines), where_default)
            named = lines.get(path + ("name",), "")
            if resolved.union is not None and named.startswith("override"):
                where = named      # an override set the name the union is told apart by
            problems.append(Problem(where, ".".join(map(str, path)), _message(err)))
        problems.sort(key=_line_of)
        raise ConfigError(problems) from None


def _node(raw: Any, path: tuple) -> Any:
    for part in path:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return None
    return raw


def _under_closest_name(raw: dict, errors: list[dict]) -> list[dict]:
    """A section with an unknown name (``optimizer: {name: adamm, lr: -1}``) cannot be checked by
    pydantic, which would hide its other problems until the name is fixed: check it again under the
    closest name (adam), or under every name when none is close, and keep what each of them finds
    in the section, apart from unknown keys (a key of the optimizer meant may not be the closest's)."""
    import copy

    from pydantic import ValidationError

    extra = []
    for err in errors:
        if err["type"] != "union_tag_invalid" or not isinstance(_node(raw, _resolve(err["loc"]).path), dict):
            continue
        where = _resolve(err["loc"])
        close = difflib.get_close_matches(str(err["ctx"]["tag"]), list(where.choices), n=1, cutoff=0.6)
        found: list[list[dict]] = []
        for name in close or where.choices:
            patched = copy.deepcopy(raw)
            _node(patched, where.path)["name"] = name
            try:
                Config.model_validate(patched)
                found.append([])
            except ValidationError as again:
                found.append([e for e in again.errors() if e["type"] != "extra_forbidden"
                              and _resolve(e["loc"]).path[: len(where.path)] == where.path])
        seen = [{(str(_resolve(e["loc"]).path), e["msg"]) for e in f} for f in found]
        extra += [e for e in found[0] if all((str(_resolve(e["loc"]).path), e["msg"]) in s for s in seen)]
    return extra


def _line_of(problem: Problem) -> int:
    """Sort key: problems in file order, overrides (no line) last."""
    head, _, line = problem.where.rpartition(":")
    return int(line) if head and line.isdigit() else 1 << 30


# ---------------------------------------------------------------------------------------------
# public entry points
# ---------------------------------------------------------------------------------------------
def load_config(path: str | Path, overrides: Iterable[str] = (), base_dir: Path | None = None) -> Config:
    """Read, override and validate a config file; raise ConfigError with every problem found.
    ``base_dir``: what relative paths in it are relative to (default: the file's folder; a copy
    kept elsewhere, a sweep's source.yaml, gives its original's)."""
    path = Path(path)
    raw, key_lines = parse_yaml(read_text(path), str(path))
    lines = {key: f"{path}:{line}" for key, line in key_lines.items()}
    problems: list[Problem] = []
    if isinstance(raw, dict):
        for text in overrides:
            try:
                key, value = parse_override(text)
                kept = apply_override(raw, key, value, f"override {text!r}")
            except ConfigError as exc:
                problems += exc.problems
                continue
            # everything at and under the first key the override made is the override's; but
            # `optimizer: adam` + `optimizer.lr=...` keeps `optimizer` (its name) at the file's line
            mine, shorthand = key[: kept + 1], None
            if len(mine) < len(key) and mine[-1] != "name" and mine in lines:
                shorthand = lines[mine]
            for old in [k for k in lines if k[: len(mine)] == mine]:
                del lines[old]
            for n in range(len(mine), len(key) + 1):
                lines[key[:n]] = f"override {text!r}"
            if shorthand is not None:
                lines[mine] = shorthand
                if key != mine + ("name",):          # the name is the file's unless the override sets it
                    lines[mine + ("name",)] = shorthand
    try:
        config = validate(raw, lines, str(path), base_dir or path.resolve().parent)
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
