"""The ``loss`` and ``regularization`` sections: what a run minimises besides the model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from optlab.config.schema.base import Section, _union


# --------------------------------------------------------------------------------------------
# loss and regularisation
# --------------------------------------------------------------------------------------------
class HingeLoss(Section):
    """Weston-Watkins multiclass SVM loss, mean over the batch (docs/conventions.md)."""

    name: Literal["hinge"]
    margin: float = Field(1.0, gt=0, description="the margin Delta")


class CrossEntropyLoss(Section):
    """Softmax cross-entropy from logits (log-sum-exp), mean over the batch."""

    name: Literal["cross_entropy"]


class QuadraticLoss(Section):
    """0.5 * ||a - y||^2 on the model's output, one-hot targets, mean over the batch."""

    name: Literal["quadratic"]


class BinaryCrossEntropyLoss(Section):
    """Nielsen's cross-entropy cost on sigmoid outputs, summed over units, mean over the batch."""

    name: Literal["binary_cross_entropy"]


LossConfig = _union(HingeLoss, CrossEntropyLoss, QuadraticLoss, BinaryCrossEntropyLoss)


class RegularizationConfig(Section):
    """Penalties on weight matrices (not biases); both non-zero is the elastic net."""

    l2: float = Field(0.0, ge=0, description="0.5 * l2 * sum(W^2), gradient l2 * W")
    l1: float = Field(0.0, ge=0, description="l1 * sum(|W|), subgradient l1 * sign(W)")
