"""The config schema: every key a config file may hold, its type, default and allowed values.

The sections live one module each (data, model, objective, optimizer, train) beside
:mod:`base`; the whole :class:`Config` and the :data:`UNIONS` registry are here.

Each section that names a component (``data``, ``model``, ``loss``, ``optimizer``) is a union of
one pydantic model per component, told apart by ``name``; ``loss: hinge`` is shorthand for
``loss: {name: hinge}``. Unknown keys are refused everywhere (``extra="forbid"``).
``docs/config.md`` is generated from these models (``python -m optlab.config.reference``) and a test checks
that it is up to date, so the reference and the schema cannot drift.

Pure pydantic, no numpy: the CLI imports it only inside commands.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from optlab.config.kinds import GRADIENT, SEARCH, SURFACE, RunKind, kind_of, run_kind
from optlab.config.schema.base import MAX_EXAMPLES, MAX_UNITS, Section
from optlab.config.schema.data import (
    BlobsData,
    CIFAR10Data,
    DataConfig,
    FashionMNISTData,
    ImageData,
    MNISTData,
    SingleData,
    SpiralData,
)
from optlab.config.schema.model import (
    Activation,
    BatchNormConfig,
    InitConfig,
    LinearModel,
    MLPModel,
    ModelConfig,
    NeuronModel,
    OutputActivation,
    SurfaceModel,
)
from optlab.config.schema.objective import (
    BinaryCrossEntropyLoss,
    CrossEntropyLoss,
    HingeLoss,
    LossConfig,
    QuadraticLoss,
    RegularizationConfig,
)
from optlab.config.schema.optimizer import (
    BUILTIN_SECTIONS,
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    InverseTimeSchedule,
    OptimizerConfig,
    OptimizerSection,
    PlateauSchedule,
    PluginSection,
    ScheduleConfig,
    StepSchedule,
    Unit,
    section_for,
)
from optlab.config.schema.output import LoggingConfig, PlotsConfig
from optlab.config.schema.train import CompareConfig, DiagnosticsConfig, EarlyStoppingConfig, SearchConfig, TrainConfig


class Config(Section):
    """A whole experiment."""

    name: str = Field("run", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="run name, used in the run directory's name")
    seed: int = Field(0, ge=0, description="root seed: every random stream of the run derives from it")
    # Required, but null (and absent) for a surface model, which is its own objective.
    data: DataConfig | None
    model: ModelConfig
    loss: LossConfig | None
    regularization: RegularizationConfig = RegularizationConfig()
    optimizer: OptimizerConfig = BUILTIN_SECTIONS["sgd"](name="sgd")
    search: SearchConfig = SearchConfig()
    train: TrainConfig
    diagnostics: DiagnosticsConfig = DiagnosticsConfig()
    compare: CompareConfig = CompareConfig()
    plots: PlotsConfig = PlotsConfig()
    logging: LoggingConfig = LoggingConfig()

    @property
    def kind(self) -> RunKind:
        """The kind of run this config makes (optlab.config.kinds)."""
        return run_kind(self)

    @model_validator(mode="before")
    @classmethod
    def _surface_needs_no_data(cls, raw: Any) -> Any:
        """A surface config leaves out data and loss; every other config is told they are missing."""
        if isinstance(raw, dict) and not run_kind(raw).learns_from_data:
            return {"data": None, "loss": None, **raw}
        return raw

    @model_validator(mode="after")
    def _surface_or_data(self) -> Config:
        """A surface is its own objective (no data, no loss, a step count); anything else needs both."""
        if not self.kind.learns_from_data:
            problems = []
            given = [key for key in ("data", "loss") if getattr(self, key) is not None]
            if given:
                problems.append(f"a surface model is its own objective: remove {' and '.join(given)}")
            if self.train.iterations is None:
                problems.append("a surface has no epochs (there is no data): give train.iterations")
            if self.train.early_stopping is not None or self.optimizer.schedule.name == "plateau":
                problems.append("a surface has no validation set for train.early_stopping or a plateau schedule "
                                "to watch")
            if problems:
                raise ValueError("; ".join(problems))
            return self
        for key in ("data", "loss"):
            if getattr(self, key) is None:
                raise ValueError(f"model {self.model.name} learns from data: {key} cannot be null")
        return self

    # A field validator on `search` (validated after `model`), so an error points at the search line.
    @field_validator("search")
    @classmethod
    def _techniques_need_backprop(cls, search: SearchConfig, info: ValidationInfo) -> SearchConfig:
        """Dropout draws a mask and batch norm updates its running statistics at every forward pass in
        training mode: one per step with backpropagation, but one per candidate in a random or local
        search and 1 + 2n per step with numerical gradients, which changes what they mean."""
        model = info.data.get("model")
        on = [k for k, v in (("model.drop_prob", getattr(model, "drop_prob", 0) > 0),
                             ("model.batch_norm", getattr(model, "batch_norm", None) is not None)) if v]
        kind = kind_of(getattr(model, "name", None), search.strategy)
        if on and (kind is not GRADIENT or search.gradient != "analytic"):
            what = f"search.strategy {search.strategy}" if kind is not GRADIENT else "search.gradient numerical"
            raise ValueError(f"{' and '.join(on)} act at every forward pass in training mode, which {what} makes "
                             "many per step; use them with search.strategy gradient and analytic gradients")
        return search

    # A field validator on `train` (validated after `search`), so an error points at the train line.
    @field_validator("train")
    @classmethod
    def _train_fits_search(cls, train: TrainConfig, info: ValidationInfo) -> TrainConfig:
        search, model = info.data.get("search"), info.data.get("model")
        if search is None:
            return train
        kind = kind_of(getattr(model, "name", None), search.strategy)
        searched = kind_of(None, search.strategy) is SEARCH     # the strategy alone would make it a search
        if model is not None and kind is SURFACE and (searched or search.gradient != "analytic"):
            raise ValueError("a surface is descended along its own analytic gradient; search.strategy "
                             f"{search.strategy} / search.gradient {search.gradient} need a model with data")
        if searched:
            return train
        if train.epochs is None and train.iterations is None:
            raise ValueError("give the run's length as train.epochs or train.iterations")
        if search.gradient == "numerical" and train.dtype != "float64":
            raise ValueError("search.gradient: numerical needs train.dtype: float64 (centred differences in "
                             "float32 are swamped by rounding; docs/conventions.md, numerical gradient)")
        return train

    # A field validator on `diagnostics` (validated after `model` and `search`), so an error points there.
    @field_validator("diagnostics")
    @classmethod
    def _curvature_needs_a_gradient_run(cls, diagnostics: DiagnosticsConfig, info: ValidationInfo) -> DiagnosticsConfig:
        """Weight snapshots and sharpness are recorded by the gradient loop on a model with data: a
        search has no optimizer path to project and a surface is its own 2-D landscape."""
        on = [f"diagnostics.{k}" for k in ("snapshot_every", "sharpness_every") if getattr(diagnostics, k) is not None]
        model, search = info.data.get("model"), info.data.get("search")
        if not on or model is None or search is None:
            return diagnostics
        kind = kind_of(model.name, search.strategy)
        if not kind.learns_from_data:
            raise ValueError(f"{' and '.join(on)}: a surface is its own 2-D landscape (its path is drawn on it); "
                             "snapshots and sharpness are for models with data")
        if not kind.checkpoints:
            raise ValueError(f"{' and '.join(on)} {'are' if len(on) > 1 else 'is'} recorded by gradient training; "
                             f"a {search.strategy} search has no optimizer path: set search.strategy: gradient or "
                             f"leave {'them' if len(on) > 1 else 'it'} out")
        return diagnostics

    @field_validator("diagnostics")
    @classmethod
    def _boundary_needs_2d_data(cls, diagnostics: DiagnosticsConfig, info: ValidationInfo) -> DiagnosticsConfig:
        """A decision boundary is drawn in the plane of the inputs: 2-D data, trained by gradient."""
        if diagnostics.boundary_every is None:
            return diagnostics
        data, search = info.data.get("data"), info.data.get("search")
        if data is not None and not (data.name == "spiral" or (data.name == "blobs" and data.dims == 2)):
            raise ValueError("diagnostics.boundary_every: the decision boundary is drawn in the plane of 2-D "
                             f"inputs (data spiral, or blobs with dims: 2), not {data.name} data; leave it out")
        if search is not None and kind_of(None, search.strategy) is SEARCH:
            raise ValueError(f"diagnostics.boundary_every is recorded by gradient training, not a {search.strategy} "
                             "search: set search.strategy: gradient or leave it out")
        return diagnostics

    # A field validator on `loss` (not a model validator) so the error points at the loss line
    # and key path; `data` and `model` are validated before `loss`, so they are in info.data.
    @field_validator("loss")
    @classmethod
    def _compatible(cls, loss: Any, info: ValidationInfo) -> Any:
        model = info.data.get("model")
        if model is None or loss is None or not kind_of(model.name, None).learns_from_data:
            return loss
        if model.name == "neuron" and loss.name in ("hinge", "cross_entropy"):
            raise ValueError(f"the neuron has one output; loss {loss.name} needs one score per class "
                             "(use quadratic or binary_cross_entropy)")
        if loss.name == "binary_cross_entropy" and model.name != "neuron" and model.output != "sigmoid":
            raise ValueError("binary_cross_entropy needs outputs in (0, 1): set model.output: sigmoid")
        data = info.data.get("data")
        if data is not None and not getattr(data, "flatten", True):
            raise ValueError(f"model {model.name} takes flat vectors; set data.flatten: true")
        return loss


# Registries of the union members by section, used to resolve error locations and for the docs.
UNIONS: dict[str, dict[str, type[BaseModel]]] = {
    "data": {"spiral": SpiralData, "blobs": BlobsData, "single": SingleData,
             "mnist": MNISTData, "fashion_mnist": FashionMNISTData, "cifar10": CIFAR10Data},
    "model": {"linear": LinearModel, "mlp": MLPModel, "neuron": NeuronModel, "surface": SurfaceModel},
    "loss": {"hinge": HingeLoss, "cross_entropy": CrossEntropyLoss, "quadratic": QuadraticLoss,
             "binary_cross_entropy": BinaryCrossEntropyLoss},
    "optimizer": BUILTIN_SECTIONS,     # made from the optimizer registry (schema.optimizer)
}

__all__ = ["Config", "UNIONS", "MAX_EXAMPLES", "MAX_UNITS", "Section", "Activation", "BUILTIN_SECTIONS", "BatchNormConfig", "BinaryCrossEntropyLoss", "BlobsData", "CIFAR10Data", "CompareConfig", "ConstantSchedule", "CosineSchedule", "CrossEntropyLoss", "DataConfig", "DiagnosticsConfig", "EarlyStoppingConfig", "ExponentialSchedule", "FashionMNISTData", "HingeLoss", "ImageData", "InitConfig", "InverseTimeSchedule", "LinearModel", "LossConfig", "MLPModel", "MNISTData", "ModelConfig", "NeuronModel", "OptimizerConfig", "OptimizerSection", "PluginSection", "OutputActivation", "PlateauSchedule", "QuadraticLoss", "RegularizationConfig", "ScheduleConfig", "SearchConfig", "SingleData", "SpiralData", "StepSchedule", "SurfaceModel", "TrainConfig", "Unit", "_Schedule", "section_for"]
