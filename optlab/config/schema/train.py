"""The ``search``, ``train``, ``diagnostics`` and ``compare`` sections: how a run is driven and
what it records."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from optlab.config.schema.base import Section, _on_off
from optlab.config.schema.optimizer import OptimizerConfig


# --------------------------------------------------------------------------------------------
# search strategy and training loop
# --------------------------------------------------------------------------------------------
class SearchConfig(Section):
    """How the weights are searched for (docs/search.md). Each strategy reads its own keys and
    ignores the others', so one config can be compared across strategies
    (`optlab compare --vary search.strategy=random,local,gradient`)."""

    strategy: Literal["gradient", "random", "local"] = Field(
        "gradient", description="`gradient`: the optimizer follows the gradient for train.epochs / "
                                "train.iterations steps; `random`: the best of `trials` random weight draws; "
                                "`local`: random local search, a proposal is kept only if the loss goes down")
    trials: int = Field(1000, ge=1, le=100_000_000, description="random / local: candidate weights tried "
                                                                "(local also evaluates its start)")
    scale: float = Field(1e-4, gt=0, allow_inf_nan=False,
                         description="random: every parameter of a draw is scale * N(0, 1) (CS231n: 1e-4)")
    init_scale: float = Field(1e-3, gt=0, allow_inf_nan=False,
                              description="local: the start is init_scale * N(0, 1) (CS231n: 1e-3)")
    step: float = Field(1e-4, gt=0, allow_inf_nan=False,
                        description="local: a proposal is incumbent + step * N(0, 1) (CS231n: 1e-4)")
    batch_size: int | None = Field(
        None, ge=1, description="random / local: the loss is over a fresh mini-batch of this size per trial, with "
                                "the incumbent re-evaluated on it (2 evaluations per trial); null: the whole "
                                "training set, as CS231n")
    gradient: Literal["analytic", "numerical"] = Field(
        "analytic", description="gradient: backpropagation, or centred differences (2 loss evaluations per "
                                "parameter per step; needs train.dtype: float64)")


class EarlyStoppingConfig(Section):
    """Stop when validation has not improved for `patience` evaluations; the best weights are restored."""

    metric: Literal["val_acc", "val_loss"] = Field("val_acc", description="the validation number watched")
    patience: int = Field(10, ge=1, description="evaluations without a new best before training stops")
    min_delta: float = Field(0.0, ge=0, description="a new best must beat the old one by more than this")


class TrainConfig(Section):
    """The training loop: mini-batches, length, evaluation, precision."""

    batch_size: int = Field(100, ge=1, description="examples per mini-batch (capped at the training-set size)")
    epochs: float | None = Field(None, gt=0, description="passes over the training set (give this or `iterations`; "
                                                         "the gradient strategy needs one)")
    iterations: int | None = Field(None, ge=1, description="optimizer steps (give this or `epochs`)")
    eval_every: int | None = Field(None, ge=1, description="steps (random / local: trials) between evaluations "
                                                           "(default: once per epoch; random / local: 50 in a run)")
    eval_train_size: int = Field(10000, ge=1, description="training examples (a fixed random subset) used for train accuracy")
    dtype: Literal["float32", "float64"] = Field("float32", description="floating-point precision of the run")
    sampling: Literal["shuffle", "replacement"] = Field(
        "shuffle", description="mini-batches without replacement, reshuffled each epoch, or drawn with replacement"
    )
    divergence_factor: float | None = Field(
        1000.0, gt=1, description="stop as diverged when the mini-batch loss exceeds this multiple of the initial "
        "training loss (NaN or inf always stops the run); null: only NaN or inf")
    checkpoint_every: int | None = Field(
        None, ge=1, description="steps between checkpoints (checkpoint.npz, for --resume); one is also written at "
        "the end and on Ctrl-C / SIGTERM. null: only then")
    early_stopping: Annotated[EarlyStoppingConfig | None, BeforeValidator(_on_off)] = Field(
        None, description="stop on validation and restore the best weights: a section, `true` for its defaults, "
        "null: train to the end")

    @model_validator(mode="after")
    def _one_length(self) -> TrainConfig:
        # A missing length is checked by Config: random and local search take theirs from search.trials.
        if self.epochs is not None and self.iterations is not None:
            raise ValueError("give train.epochs or train.iterations, not both")
        return self


class DiagnosticsConfig(Section):
    """What is recorded besides the metrics (optlab.training.diagnostics), each plotted in the run directory."""

    update_ratios: bool = Field(True, description="norm of each weight matrix's update over its norm "
                                "(CS231n: about 1e-3 is healthy), in diagnostics.csv")
    every: int | None = Field(None, ge=1, description="steps between update-ratio records; null: at every evaluation")
    histograms: list[Annotated[int, Field(ge=0)]] = Field(
        [0], description="steps at which each hidden layer's activations are histogrammed (0: at initialisation)")
    histogram_examples: int = Field(1000, ge=1, description="training examples forwarded (evaluation mode) "
                                    "for the histograms")
    snapshot_every: int | None = Field(
        None, ge=1, description="steps between weight snapshots (snapshots/ in the run directory; also step 0 "
        "and the last step), the optimizer's path that `optlab landscape` projects; null: none")
    sharpness_every: int | None = Field(
        None, ge=1, description="steps between measurements of the top Hessian eigenvalue of the training "
        "loss (sharpness.csv, against the stability threshold 2/lr; docs/landscape.md); null: none")
    sharpness_examples: int = Field(1000, ge=1, description="training examples (the first of the fixed "
                                    "train-evaluation subset) the sharpness is measured on")
    boundary_every: int | None = Field(
        None, ge=1, description="steps between snapshots of the decision boundary of 2-D data (the predicted "
        "class on a grid over the data, boundary.json; also step 0 and the last step), which report.html's time "
        "slider shows with the training points; null: none")
    boundary_grid: int = Field(48, ge=8, le=128, description="grid points per side of a boundary snapshot")
    sharpness_iterations: int = Field(20, ge=1, le=500, description="Lanczos iterations (each one exact "
                                      "Hessian-vector product, about a gradient) per sharpness measurement")


class CompareConfig(Section):
    """What `optlab compare` uses when the command line names no variants: the optimizers to
    compare with their settings, or named variants that each set their own keys (the hiker's three
    strategies, each with its own sensible settings, on one model)."""

    optimizers: list[OptimizerConfig] = Field(
        [], description="each optimizer's hyper-parameters in a comparison (e.g. the bowl's rates); "
                        "compared by default when the command line names none")
    variants: dict[str, dict[str, Any]] = Field(
        {}, description="named variants, each a mapping of config keys (dotted) to values applied on top of "
                        "the config, e.g. {local: {search.strategy: local, search.step: 1.0e-4}}; compared by "
                        "default when the command line names none (before compare.optimizers)")

    @model_validator(mode="after")
    def _distinct(self) -> CompareConfig:
        names = [o.name for o in self.optimizers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"each optimizer may appear once; given more than once: {', '.join(twice)}")
        return self
