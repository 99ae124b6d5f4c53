"""The ``plots`` and ``logging`` sections: how a run's results are drawn and where else they are
logged. Neither changes a single number of the run; ``optlab report DIR plots.x=epochs`` redraws a
finished run with other values (docs/reports.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from optlab.config.schema.base import Section

FigureFormat = Literal["png", "svg", "pdf"]
XAxis = Literal["steps", "epochs", "examples", "seconds", "evaluations"]
Scale = Literal["auto", "linear", "log"]


def _per_quantity(what: str, example: str):
    """``plots.y_scale: log`` -> the same for loss and accuracy; a bare pair for y_limits would be
    ambiguous (a loss of 80?), so it is refused with the spelling that says which axis."""
    def before(value: Any) -> Any:
        if isinstance(value, str):
            return {"loss": value, "accuracy": value}
        if isinstance(value, (list, tuple)):
            raise ValueError(f"say which axis: {what}.accuracy={example} (in %) or {what}.loss=[0, 2]")
        return value
    return BeforeValidator(before)


def _limits_ok(value: list[float] | None) -> list[float] | None:
    if value is not None and not value[0] < value[1]:
        raise ValueError(f"expected [low, high] with low < high, got {value}")
    return value


Limits = Annotated[list[float], Field(min_length=2, max_length=2)] | None


class YScales(Section):
    """The y-axis scale of each kind of figure."""

    loss: Scale = Field("auto", description="loss figures (training loss, f(x, y), a search's best loss): "
                                            "`auto` is log when the curve spans more than 50x")
    accuracy: Scale = Field("linear", description="accuracy figures (in %)")


class YLimits(Section):
    """Fixed y-axis ranges; null: fitted to the data."""

    loss: Limits = Field(None, description="[low, high] of loss figures")
    accuracy: Limits = Field(None, description="[low, high] of accuracy figures, in % (Nielsen's overfitting "
                                               "figure: [80, 90])")

    @model_validator(mode="after")
    def _ordered(self) -> YLimits:
        _limits_ok(self.loss)
        _limits_ok(self.accuracy)
        return self


class PlotsConfig(Section):
    """How every figure of a run, comparison or sweep is drawn (docs/reports.md)."""

    format: FigureFormat = Field("png", description="file format of the figures: png, or svg / pdf (vector, for "
                                                    "slides and papers); report.html always holds them as SVG")
    x: XAxis | None = Field(None, description="x-axis of the curves: steps, epochs, examples (steps x mini-batch), "
                                              "seconds (wall time) or evaluations (loss evaluations); null: steps "
                                              "(loss evaluations when a random or local search is shown)")
    y_scale: Annotated[YScales, _per_quantity("plots.y_scale", "log")] = Field(
        YScales(), description="`auto`, `linear` or `log` per figure kind (`plots.y_scale=log`: both)")
    y_limits: Annotated[YLimits, _per_quantity("plots.y_limits", "[80, 90]")] = Field(
        YLimits(), description="fixed y ranges per figure kind, e.g. plots.y_limits.accuracy=[80, 90]")
    smooth: int | None = Field(None, ge=1, le=100_001, description="window (points) of the smoothed loss curve "
                                                                   "(DLFS's smooth_curve); 1: raw; null: about 1 % "
                                                                   "of the run")
    splits: list[Literal["train", "val"]] | None = Field(
        None, min_length=1, description="accuracies drawn: null: train and validation for a run, validation for "
                                        "a comparison; [train, val] shows a comparison's train-test gap")


class LoggingConfig(Section):
    """Where the metrics go besides metrics.csv."""

    tensorboard: bool = Field(False, description="also write TensorBoard event files into the run directory "
                                                 "(needs `pip install -e '.[tensorboard]'` in optlab's clone)")
