"""The ``model`` section: linear classifier, MLP, Nielsen's neuron and 2-D surfaces, by ``name``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from optlab.config.schema.base import MAX_UNITS, Section, _name_shorthand, _on_off, _union, as_tuple


# --------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------
class InitConfig(Section):
    """Initial weights: zeros, normal(std), xavier (Glorot) or he (docs/conventions.md)."""

    name: Literal["zeros", "normal", "xavier", "he"] = "he"
    std: float = Field(0.01, gt=0, description="std of `normal` (ignored by the others)")
    bias_std: float = Field(0.0, ge=0, description="biases ~ N(0, bias_std^2); 0 gives zero biases")


Activation = Literal["relu", "sigmoid", "tanh"]
OutputActivation = Literal["none", "sigmoid"]


class LinearModel(Section):
    """A linear classifier on flattened inputs: scores = x W + b."""

    name: Literal["linear"]
    init: Annotated[InitConfig, BeforeValidator(_name_shorthand)] = InitConfig(name="normal")
    output: OutputActivation = Field("none", description="activation on the scores")
    bias: Literal["separate", "trick"] = Field(
        "separate", description="`separate`: x W + b; `trick`: one matrix W with the bias as its last row, "
                                "scores = [x, 1] W (CS231n's bias trick; the bias row is then penalised with W)")



class BatchNormConfig(Section):
    """Batch normalisation after each hidden Linear layer (Ioffe & Szegedy 2015; DLFS ch. 6)."""

    momentum: float = Field(0.9, ge=0, lt=1, description="running statistics for evaluation: "
                            "r = momentum * r + (1 - momentum) * (batch mean or variance)")
    eps: float = Field(1e-5, gt=0, description="added to the variance under the square root")


class MLPModel(Section):
    """A fully connected network: (Linear -> [BatchNorm] -> activation -> [Dropout]) per hidden size,
    then Linear -> output."""

    name: Literal["mlp"]
    hidden: list[Annotated[int, Field(ge=1, le=MAX_UNITS)]] = Field([100], description="hidden layer sizes")
    activation: Activation = Field("relu", description="hidden-layer activation")
    init: Annotated[InitConfig, BeforeValidator(_name_shorthand)] = InitConfig()
    output: OutputActivation = Field("none", description="output activation (`sigmoid` for Nielsen's networks)")
    batch_norm: Annotated[BatchNormConfig | None, BeforeValidator(_on_off)] = Field(
        None, description="batch norm before each hidden activation: a section, `true` for its defaults, null: none")
    drop_prob: float = Field(0.0, ge=0, lt=1, description="inverted dropout after each hidden activation: the "
                             "probability of dropping a unit in training (0: no dropout)")


class NeuronModel(Section):
    """One sigmoid neuron a = sigmoid(w x + b), Nielsen ch. 3."""

    name: Literal["neuron"]
    w: float = Field(0.6, description="initial weight")
    b: float = Field(0.9, description="initial bias")


class SurfaceModel(Section):
    """A 2-D test function descended directly from ``start`` (optlab.engine.surfaces): no data, no loss."""

    name: Literal["surface"]
    function: Literal["bowl", "rosenbrock", "beale", "saddle"] = Field(description="the function f(x, y)")
    start: Annotated[tuple[float, float], BeforeValidator(as_tuple)] = Field(description="starting point [x, y], e.g. DLFS's [-7, 2] on the bowl")


ModelConfig = _union(LinearModel, MLPModel, NeuronModel, SurfaceModel)
