"""The ``optimizer`` section and its ``schedule``. The optimizer sections are not written here: each
is made from its rule's declared hyper-parameters (optlab.engine.optimizers.registry), built-in
rules when this module is imported, a user's rule (``from: ./mylion.py`` or an installed entry
point) when a config names it."""

from __future__ import annotations

import functools
import inspect
import itertools
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SerializeAsAny,
    Tag,
    ValidationInfo,
    create_model,
    model_validator,
)

from optlab.config.schema.base import Section, _name_shorthand, _union
from optlab.engine.hyper import Hyper
from optlab.config.plugins import find, load_file, names
from optlab.engine.optimizers.registry import PluginError, builtin, lookup


# --------------------------------------------------------------------------------------------
# learning-rate schedules (optlab.engine.schedules): optimizer.schedule
# --------------------------------------------------------------------------------------------
class _Schedule(Section):
    name: str   # each schedule narrows it to its own Literal; declared here so it comes first
    warmup: int = Field(0, ge=0, description="steps of linear warmup, lr * s / warmup at step s, before the "
                        "schedule starts (Goyal et al. 2017); 0: none")


Unit = Literal["steps", "epochs"]


class ConstantSchedule(_Schedule):
    """lr at every step."""

    name: Literal["constant"]


class StepSchedule(_Schedule):
    """lr * factor ** floor(t / every): multiplied by `factor` every `every` steps or epochs."""

    name: Literal["step"]
    every: int = Field(ge=1, description="steps or epochs (see `unit`) between reductions")
    factor: float = Field(0.1, gt=0, lt=1, description="multiplies the rate at each reduction")
    unit: Unit = Field("steps", description="what t and `every` count")


class ExponentialSchedule(_Schedule):
    """lr * exp(-k t) (CS231n, "annealing the learning rate")."""

    name: Literal["exponential"]
    k: float = Field(gt=0, description="decay rate per unit of t")
    unit: Unit = Field("steps", description="what t counts")


class InverseTimeSchedule(_Schedule):
    """lr / (1 + k t) (CS231n's 1/t decay)."""

    name: Literal["inverse_time"]
    k: float = Field(gt=0, description="decay rate per unit of t")
    unit: Unit = Field("steps", description="what t counts")


class CosineSchedule(_Schedule):
    """lr_min + (lr - lr_min) (1 + cos(pi t / T)) / 2, lr_min = lr * min_factor (Loshchilov & Hutter 2017)."""

    name: Literal["cosine"]
    min_factor: float = Field(0.0, ge=0, lt=1, description="the rate at the end, as a fraction of lr")
    period: int | None = Field(None, ge=1, description="T in steps; null: the run's length after warmup")


class PlateauSchedule(_Schedule):
    """Nielsen's rule (ch. 3): lr * factor each time validation has not improved for `patience` evaluations."""

    name: Literal["plateau"]
    metric: Literal["val_acc", "val_loss"] = Field("val_acc", description="the validation number watched")
    patience: int = Field(10, ge=1, description="evaluations without a new best before the rate is reduced")
    factor: float = Field(0.5, gt=0, lt=1, description="multiplies the rate at each reduction (Nielsen: halve)")
    min_factor: float = Field(1 / 128, gt=0, le=1, description="the rate never goes below lr * min_factor "
                              "(Nielsen stops at 1/128 of the initial rate)")


ScheduleConfig = _union(ConstantSchedule, StepSchedule, ExponentialSchedule, InverseTimeSchedule,
                        CosineSchedule, PlateauSchedule)
_SCHEDULE = Field(ConstantSchedule(name="constant"), description="learning-rate schedule, set by the training "
                  "loop (see `optimizer.schedule`); `schedule: cosine` is one with its defaults")


# --------------------------------------------------------------------------------------------
# optimizer: one section per rule, made from the rule's declared hyper-parameters (its defaults,
# ranges and meanings: optlab.engine.optimizers); schedule is applied by the training loop, not by
# the optimizer (it sets the optimizer's lr)
# --------------------------------------------------------------------------------------------
class OptimizerSection(Section):
    """What every optimizer section has: ``name``, the rule's hyper-parameters, ``schedule``."""

    name: str

    @property
    def hyper(self) -> dict[str, Any]:
        """The rule's hyper-parameters by name: the keyword arguments of its class."""
        return {key: getattr(self, key) for key in lookup(self.name).hyper_names}


class PluginSection(OptimizerSection):
    """A user's optimizer: ``from`` is its file (relative to the config), or absent for one an
    installed package provides (entry point group ``optlab.optimizers``); validated as the
    section made from that rule."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)
    TAG: ClassVar[str] = "plugin"
    from_: str | None = Field(None, alias="from", description="the file defining the optimizer, relative to the config")

    @model_validator(mode="wrap")
    @classmethod
    def _as_its_rule(cls, data: Any, handler: Any, info: ValidationInfo) -> Any:
        if cls is not PluginSection or isinstance(data, PluginSection):
            return handler(data)     # the rule's own section (below) validates its keys
        if not isinstance(data, dict):
            raise ValueError(f"must be a section of keys (a mapping), got {data!r}")
        name, source = data.get("name"), data.get("from", data.get("from_"))
        base = (info.context or {}).get("config_dir") if info.context else None
        try:
            if source is not None:
                path = Path(source).expanduser()
                path = (Path(base) / path if base is not None and not path.is_absolute() else path).resolve()
                rules = load_file(path)
                if name not in rules:
                    raise ValueError(f"{path} defines no optimizer named {name!r} (it defines: {', '.join(rules)})")
                data = {**{k: v for k, v in data.items() if k != "from_"}, "from": str(path)}
            rule = find(name)
        except PluginError as exc:
            raise ValueError(f"optimizer {name!r} cannot be used: {exc}") from None
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        if source is None and rule.source_file is not None:    # named after its file was loaded: keep where
            data = {**data, "from": rule.source_file}
        return section_for(rule).model_validate(data, context=info.context)

    def __reduce__(self):
        # its class is made when the rule's file is loaded: pickled as its values, loaded again on the
        # other side (a worker process), so it names the same file
        return PluginSection.model_validate, (self.model_dump(by_alias=True),)


def _field(h: Hyper) -> Any:
    r = h.range
    bounds = {"gt" if r.low_open else "ge": r.low}
    if r.high != float("inf"):
        bounds["lt" if r.high_open else "le"] = r.high
    return Field(h.default, description=h.meaning, **bounds)


@functools.cache
def section_for(rule: type) -> type[OptimizerSection]:
    """The config section of an optimizer class: ``name``, each hyper-parameter (its type, default,
    range and meaning), ``schedule``; a user's rule's section also takes ``from``."""
    fields: dict[str, Any] = {"name": (Literal[rule.name], ...)}
    for key, h in rule.hypers.items():
        kind = h.kind | None if h.optional else h.kind
        fields[key] = (kind, _field(h))
    fields["schedule"] = (ScheduleConfig, _SCHEDULE)
    builtin_rule = builtin().get(rule.name) is rule
    return create_model(f"{rule.__name__}Config", __base__=OptimizerSection if builtin_rule else PluginSection,
                        __module__=__name__, __doc__=_summary(rule), **fields)


def _summary(rule: type) -> str:
    """One line for the docs: the docstring's first paragraph and its formula (its indented lines)."""
    raw = (rule.__doc__ or rule.name).splitlines()
    paragraph = itertools.takewhile(str.strip, inspect.cleandoc("\n".join(raw)).splitlines())
    first = " ".join(line.strip() for line in paragraph)
    formula = [line.strip() for line in raw[1:] if line.startswith(" " * 8) and line.strip()]   # indented in the class
    return first + (f" `{'; '.join(formula)}`" if formula else "")


def _tag(value: Any) -> str | None:
    """Which member of the optimizer union validates ``value``: a built-in rule by its name, else
    the plugin member (a file given in ``from``, or an installed entry point)."""
    if isinstance(value, dict):
        name, plugin = value.get("name"), "from" in value or "from_" in value
    else:
        name, plugin = getattr(value, "name", None), isinstance(value, PluginSection)
    if isinstance(name, str) and name in BUILTIN_SECTIONS:
        return name
    if plugin or (isinstance(name, str) and name in names()):
        return PluginSection.TAG
    return name if isinstance(name, str) else None


BUILTIN_SECTIONS: dict[str, type[OptimizerSection]] = {name: section_for(rule) for name, rule in builtin().items()}
# every built-in section importable by its class name (pickling finds a model class by its module and name)
globals().update({model.__name__: model for model in BUILTIN_SECTIONS.values()})
OptimizerConfig = Annotated[
    Union[tuple(Annotated[model, Tag(name)] for name, model in BUILTIN_SECTIONS.items())
          # SerializeAsAny: dumped with the rule's own keys, not only the base section's
          + (Annotated[SerializeAsAny[PluginSection], Tag(PluginSection.TAG)],)],
    Discriminator(_tag), BeforeValidator(_name_shorthand)]
