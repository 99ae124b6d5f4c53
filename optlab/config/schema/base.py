"""What every config section shares: unknown keys refused, values re-validated on assignment, no
inf/NaN; the size bounds; the ``name`` shorthand that makes ``loss: hinge`` mean ``{name: hinge}``."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are re-validated on set.

    ``allow_inf_nan=False``: YAML reads ``1e999`` as inf and ``.nan`` as NaN; no setting means
    anything with them (``gt=0`` alone would let ``lr: 1e999`` through to fail mid-run).

    ``strict=True``: a value must already have its type. In pydantic's lax mode ``seed: true`` is
    the seed 1, ``batch_size: "100"`` the number 100 and ``lr: 1`` with a YAML boolean trains;
    a config is written by hand, so a boolean where a number belongs is a mistake to point at.
    (An integer is still a valid float: ``lr: 1`` is 1.0.)
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False, strict=True)


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
