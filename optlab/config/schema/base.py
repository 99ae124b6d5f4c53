"""What every config section shares: unknown keys refused, values re-validated on assignment, no
inf/NaN; the size bounds; the ``name`` shorthand that makes ``loss: hinge`` mean ``{name: hinge}``."""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, model_validator


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are re-validated on set.

    ``allow_inf_nan=False``: YAML reads ``1e999`` as inf and ``.nan`` as NaN; no setting means
    anything with them (``gt=0`` alone would let ``lr: 1e999`` through to fail mid-run).

    ``strict=True``: a value must already have its type. In pydantic's lax mode ``seed: true`` is
    the seed 1, ``batch_size: "100"`` the number 100 and ``lr: 1`` with a YAML boolean trains;
    a config is written by hand, so a boolean where a number belongs is a mistake to point at.
    (An integer is still a valid float: ``lr: 1`` is 1.0; and a whole float is a valid integer,
    so ``iterations: 1e4`` stays 10000, see :meth:`_whole_floats`.)
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _whole_floats(cls, raw: Any) -> Any:
        """``iterations: 1e4`` (YAML reads a float) where an integer belongs, and it is whole: the
        integer. Nothing else is converted: ``2.5`` and ``true`` are still refused."""
        if not isinstance(raw, dict):
            return raw
        out = raw
        for name, field in cls.model_fields.items():
            if name in raw and _wants_int(field.annotation):
                value = _whole(raw[name])
                if value is not raw[name]:
                    out = dict(out) if out is raw else out
                    out[name] = value
        return out


def _kinds(annotation: Any) -> list[Any]:
    """The types a field accepts, Annotated, unions and list items unwrapped."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _kinds(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType, list):
        return [k for a in typing.get_args(annotation) for k in _kinds(a)]
    return [annotation]


def _wants_int(annotation: Any) -> bool:
    kinds = _kinds(annotation)
    return int in kinds and float not in kinds


def _whole(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, list) and any(isinstance(v, float) for v in value):
        return [_whole(v) for v in value]
    return value


# Upper bounds on sizes, so that a typo such as `size: 60000000000` is a config error with a line
# number instead of a MemoryError (or the OOM killer) once the arrays are allocated.
MAX_EXAMPLES = 10_000_000
MAX_UNITS = 100_000


def _val_below_size(value: int, info: ValidationInfo) -> int:
    """Validation is held out of the training draw, so it must leave some training examples."""
    size = info.data.get("size")
    if size is not None and value >= size:
        raise ValueError(f"val_size ({value}) must be smaller than size ({size}): "
                         "validation examples are held out of the training set")
    return value


def _name_shorthand(value: Any) -> Any:
    """``loss: hinge`` -> ``{name: hinge}``, so both spellings validate the same way."""
    return {"name": value} if isinstance(value, str) else value


def _union(*members: type[BaseModel]) -> Any:
    return Annotated[Union[members], Field(discriminator="name"), BeforeValidator(_name_shorthand)]



def as_tuple(value: Any) -> Any:
    """A YAML list for a fixed-length field (strict mode takes only tuples there)."""
    return tuple(value) if isinstance(value, list) else value


def _on_off(value: Any) -> Any:
    """``batch_norm: true`` -> the section with its defaults; ``false`` -> off (null)."""
    if value is True:
        return {}
    return None if value is False else value
