"""Generate the config reference (docs/config.md) from the schema, so the two cannot drift.

Run ``python -m optlab.config.reference > docs/config.md``; ``tests/test_docs.py`` fails when the file is stale.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

import annotated_types as at
from pydantic import BaseModel

from optlab.config.schema import UNIONS, Config

_BOUNDS = {at.Gt: (">", "gt"), at.Ge: (">=", "ge"), at.Lt: ("<", "lt"), at.Le: ("<=", "le")}


def _type(ann: Any) -> str:
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        inner = [_unannotated(a) for a in args if a is not type(None)]
        if len(inner) > 1 and all(isinstance(a, type) and issubclass(a, BaseModel) for a in inner):
            names = [f"`{typing.get_args(a.model_fields['name'].annotation)[0]}`" if not hasattr(a, "TAG")
                     else "a user's optimizer (`from:`)" for a in inner]
            return "section named " + " \\| ".join(names)
        return " or ".join(_type(a) for a in inner) + (" (optional)" if len(inner) < len(args) else "")
    if origin is list:
        return f"list of {_type(args[0])}"
    if origin is typing.Annotated:
        return _type(args[0])
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return f"section ({ann.__name__})"
    return getattr(ann, "__name__", str(ann))


def _unannotated(ann: Any) -> Any:
    return typing.get_args(ann)[0] if typing.get_origin(ann) is typing.Annotated else ann


def _constraints(field: Any) -> str:
    parts = []
    for meta in field.metadata:
        for kind, (op, attr) in _BOUNDS.items():
            if isinstance(meta, kind):
                parts.append(f"{op} {getattr(meta, attr)}")
    return ", ".join(parts)


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.default
    if isinstance(value, BaseModel):
        value = value.model_dump()
    return f"`{value}`"


def _table(model: type[BaseModel], skip: tuple[str, ...] = ("name",)) -> list[str]:
    rows = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for key, field in model.model_fields.items():
        if key in skip:
            continue
        rows.append(f"| `{key}` | {_type(field.annotation)} | {_default(field)} | {_constraints(field)} | "
                    f"{field.description or ''} |")
    return rows if len(rows) > 2 else ["(no options)"]


def reference() -> str:
    out = ["# Config reference", "",
           "Generated from `optlab/config/schema/` by `python -m optlab.config.reference`; do not edit by hand.",
           "A config is one YAML file; every key below can also be set on the command line as",
           "`section.key=value` (values are YAML: `model.hidden=[64,64]`). Unknown keys are errors.",
           "Sections that name a component (`data`, `model`, `loss`, `optimizer`) take `name:` plus that",
           "component's options; `loss: hinge` is short for `loss: {name: hinge}`.", "",
           "## Top level", "", *_table(Config, skip=tuple(UNIONS)), ""]
    for section, members in UNIONS.items():
        out += [f"## `{section}`", ""]
        for name, model in members.items():
            doc = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else ""
            out += [f"### `{section}: {name}`", "", doc, "", *_table(model), ""]
    sections: dict[str, list[type[BaseModel]]] = {k: list(v.values()) for k, v in UNIONS.items()}
    for key, field in Config.model_fields.items():
        ann = field.annotation
        if key not in UNIONS and isinstance(ann, type) and issubclass(ann, BaseModel):
            out += [f"## `{key}`", "", (ann.__doc__ or "").strip(), "", *_table(ann, skip=()), ""]
            sections[key] = [ann]
    out += _nested(sections)
    return "\n".join(out)


def _nested(sections: dict[str, list[type[BaseModel]]]) -> list[str]:
    """A table for every section inside a section (`model.init`, `optimizer.schedule`, ...), once
    per key path however many components share it; a union gets one table per member."""
    out: list[str] = []
    seen: set[str] = set()
    for section, models in sections.items():
        for model in models:
            for key, field in model.model_fields.items():
                path = f"{section}.{key}"
                inner = _sections_in(field.annotation)
                if not inner or path in seen:
                    continue
                seen.add(path)
                out += [f"## `{path}`", ""]
                if len(inner) == 1:
                    out += [(inner[0].__doc__ or "").strip(), "", *_table(inner[0], skip=()), ""]
                    continue
                for member in inner:
                    name = typing.get_args(member.model_fields["name"].annotation)[0]
                    doc = (member.__doc__ or "").strip().splitlines()[0]
                    out += [f"### `{key}: {name}`", "", doc, "", *_table(member), ""]
    return out


def _sections_in(ann: Any) -> list[type[BaseModel]]:
    """The section models a field holds: one (``X``, ``X | None``) or a union's members."""
    candidates = typing.get_args(ann) if typing.get_origin(ann) in (typing.Union, types.UnionType) else (ann,)
    return [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]


if __name__ == "__main__":
    print(reference(), end="")
