"""The ``optimizer`` section and its ``schedule``: ranges and defaults come from optlab.engine.hyper,
the table the optimizers themselves check against."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from optlab.config.schema.base import Section, _union
from optlab.engine.hyper import DEFAULTS, DESCRIPTIONS, RANGES


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
# optimizer: ranges and defaults come from optlab.engine.hyper, the table the optimizers check against;
# schedule is applied by the training loop, not by the optimizer (it sets the optimizer's lr)
# --------------------------------------------------------------------------------------------
def _hyper(optimizer: str, key: str) -> Any:
    r = RANGES[key]
    bounds = {"gt" if r.low_open else "ge": r.low}
    if r.high != float("inf"):
        bounds["lt" if r.high_open else "le"] = r.high
    return Field(DEFAULTS[optimizer][key], description=DESCRIPTIONS[key], **bounds)


class SGDConfig(Section):
    """W -= lr * g"""

    name: Literal["sgd"]
    lr: float = _hyper("sgd", "lr")
    weight_decay: float = _hyper("sgd", "weight_decay")
    clip_norm: float | None = _hyper("sgd", "clip_norm")
    schedule: ScheduleConfig = _SCHEDULE


class MomentumConfig(Section):
    """v = momentum * v - lr * g; W += v"""

    name: Literal["momentum"]
    lr: float = _hyper("momentum", "lr")
    momentum: float = _hyper("momentum", "momentum")
    weight_decay: float = _hyper("momentum", "weight_decay")
    clip_norm: float | None = _hyper("momentum", "clip_norm")
    schedule: ScheduleConfig = _SCHEDULE


class NesterovConfig(Section):
    """Bengio et al. 2012 / CS231n form of Nesterov momentum."""

    name: Literal["nesterov"]
    lr: float = _hyper("nesterov", "lr")
    momentum: float = _hyper("nesterov", "momentum")
    weight_decay: float = _hyper("nesterov", "weight_decay")
    clip_norm: float | None = _hyper("nesterov", "clip_norm")
    schedule: ScheduleConfig = _SCHEDULE


class AdaGradConfig(Section):
    """h += g^2; W -= lr * g / (sqrt(h) + eps)"""

    name: Literal["adagrad"]
    lr: float = _hyper("adagrad", "lr")
    eps: float = _hyper("adagrad", "eps")
    weight_decay: float = _hyper("adagrad", "weight_decay")
    clip_norm: float | None = _hyper("adagrad", "clip_norm")
    schedule: ScheduleConfig = _SCHEDULE


class RMSpropConfig(Section):
    """h = decay * h + (1 - decay) * g^2; W -= lr * g / (sqrt(h) + eps)"""

    name: Literal["rmsprop"]
    lr: float = _hyper("rmsprop", "lr")
    decay: float = _hyper("rmsprop", "decay")
    eps: float = _hyper("rmsprop", "eps")
    weight_decay: float = _hyper("rmsprop", "weight_decay")
    clip_norm: float | None = _hyper("rmsprop", "clip_norm")
    schedule: ScheduleConfig = _SCHEDULE


class AdamConfig(Section):
    """Kingma & Ba, Algorithm 1."""

    name: Literal["adam"]
    lr: float = _hyper("adam", "lr")
    beta1: float = _hyper("adam", "beta1")
    beta2: float = _hyper("adam", "beta2")
    eps: float = _hyper("adam", "eps")
    weight_decay: float = _hyper("adam", "weight_decay")
    clip_norm: float | None = _hyper("adam", "clip_norm")
    schedule: ScheduleConfig = _SCHEDULE


class AdamWConfig(Section):
    """Adam with decoupled weight decay 0.01 (Loshchilov & Hutter 2019; torch.optim.AdamW)."""

    name: Literal["adamw"]
    lr: float = _hyper("adamw", "lr")
    beta1: float = _hyper("adamw", "beta1")
    beta2: float = _hyper("adamw", "beta2")
    eps: float = _hyper("adamw", "eps")
    weight_decay: float = _hyper("adamw", "weight_decay")
    clip_norm: float | None = _hyper("adamw", "clip_norm")
    schedule: ScheduleConfig = _SCHEDULE


class NAdamConfig(Section):
    """Adam with Nesterov momentum (Dozat 2016; torch.optim.NAdam); docs/optimizers.md."""

    name: Literal["nadam"]
    lr: float = _hyper("nadam", "lr")
    beta1: float = _hyper("nadam", "beta1")
    beta2: float = _hyper("nadam", "beta2")
    eps: float = _hyper("nadam", "eps")
    momentum_decay: float = _hyper("nadam", "momentum_decay")
    weight_decay: float = _hyper("nadam", "weight_decay")
    clip_norm: float | None = _hyper("nadam", "clip_norm")
    schedule: ScheduleConfig = _SCHEDULE


class RAdamConfig(Section):
    """Adam with the adaptive step rectified early on (Liu et al. 2020); docs/optimizers.md."""

    name: Literal["radam"]
    lr: float = _hyper("radam", "lr")
    beta1: float = _hyper("radam", "beta1")
    beta2: float = _hyper("radam", "beta2")
    eps: float = _hyper("radam", "eps")
    weight_decay: float = _hyper("radam", "weight_decay")
    clip_norm: float | None = _hyper("radam", "clip_norm")
    schedule: ScheduleConfig = _SCHEDULE


class LionConfig(Section):
    """W -= lr * sign(beta1 * m + (1 - beta1) * g) (Chen et al. 2023); docs/optimizers.md."""

    name: Literal["lion"]
    lr: float = _hyper("lion", "lr")
    beta1: float = _hyper("lion", "beta1")
    beta2: float = _hyper("lion", "beta2")
    weight_decay: float = _hyper("lion", "weight_decay")
    clip_norm: float | None = _hyper("lion", "clip_norm")
    schedule: ScheduleConfig = _SCHEDULE


class SGDScheduleFreeConfig(Section):
    """Schedule-Free SGD (Defazio et al. 2024): gradients at y, evaluation at x; docs/optimizers.md."""

    name: Literal["sgd_schedulefree"]
    lr: float = _hyper("sgd_schedulefree", "lr")
    momentum: float = _hyper("sgd_schedulefree", "momentum")
    warmup_steps: float = _hyper("sgd_schedulefree", "warmup_steps")
    r: float = _hyper("sgd_schedulefree", "r")
    weight_lr_power: float = _hyper("sgd_schedulefree", "weight_lr_power")
    weight_decay: float = _hyper("sgd_schedulefree", "weight_decay")
    clip_norm: float | None = _hyper("sgd_schedulefree", "clip_norm")
    schedule: ScheduleConfig = _SCHEDULE


class AdamWScheduleFreeConfig(Section):
    """Schedule-Free AdamW (Defazio et al. 2024): gradients at y, evaluation at x; docs/optimizers.md."""

    name: Literal["adamw_schedulefree"]
    lr: float = _hyper("adamw_schedulefree", "lr")
    beta1: float = _hyper("adamw_schedulefree", "beta1")
    beta2: float = _hyper("adamw_schedulefree", "beta2")
    eps: float = _hyper("adamw_schedulefree", "eps")
    warmup_steps: float = _hyper("adamw_schedulefree", "warmup_steps")
    r: float = _hyper("adamw_schedulefree", "r")
    weight_lr_power: float = _hyper("adamw_schedulefree", "weight_lr_power")
    weight_decay: float = _hyper("adamw_schedulefree", "weight_decay")
    clip_norm: float | None = _hyper("adamw_schedulefree", "clip_norm")
    schedule: ScheduleConfig = _SCHEDULE


class MuonConfig(Section):
    """Muon on weight matrices, AdamW on the rest (Jordan et al. 2024); docs/optimizers.md."""

    name: Literal["muon"]
    lr: float = _hyper("muon", "lr")
    momentum: float = _hyper("muon", "momentum")
    adam_lr: float = _hyper("muon", "adam_lr")
    beta1: float = _hyper("muon", "beta1")
    beta2: float = _hyper("muon", "beta2")
    eps: float = _hyper("muon", "eps")
    weight_decay: float = _hyper("muon", "weight_decay")
    clip_norm: float | None = _hyper("muon", "clip_norm")
    schedule: ScheduleConfig = _SCHEDULE


class LBFGSConfig(Section):
    """L-BFGS, full batch (Nocedal & Wright Alg. 7.4; torch.optim.LBFGS); docs/optimizers.md."""

    name: Literal["lbfgs"]
    lr: float = _hyper("lbfgs", "lr")
    history_size: int = _hyper("lbfgs", "history_size")
    tolerance_grad: float = _hyper("lbfgs", "tolerance_grad")
    tolerance_change: float = _hyper("lbfgs", "tolerance_change")
    line_search: Literal["strong_wolfe", "none"] = Field(
        "strong_wolfe", description="`strong_wolfe`: a step meeting the strong Wolfe conditions (N&W Alg. 3.5); "
        "`none`: the fixed step lr")
    schedule: ScheduleConfig = _SCHEDULE


OptimizerConfig = _union(SGDConfig, MomentumConfig, NesterovConfig, AdaGradConfig, RMSpropConfig, AdamConfig,
                         AdamWConfig, NAdamConfig, RAdamConfig, LionConfig, SGDScheduleFreeConfig, AdamWScheduleFreeConfig,
                         MuonConfig, LBFGSConfig)
