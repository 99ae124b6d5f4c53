"""Gradient clipping, decoupled weight decay against the L2 penalty, every learning-rate schedule
at chosen steps, and the watch behind early stopping and the plateau schedule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optlab.config.schema import (
    ConstantSchedule,
    CosineSchedule,
    EarlyStoppingConfig,
    ExponentialSchedule,
    InverseTimeSchedule,
    PlateauSchedule,
    StepSchedule,
)
from optlab.engine.optimizers import OPTIMIZERS, ClipByGlobalNorm, DecoupledWeightDecay, global_norm

CLIPPED = [name for name, cls in OPTIMIZERS.items() if ClipByGlobalNorm in cls.transforms]
# the default chain's decay on W (AdamW's has its own default; Schedule-Free decays z, L-BFGS none)
DECAYED = [name for name, cls in OPTIMIZERS.items() if DecoupledWeightDecay in cls.transforms]
from optlab.engine.schedules import Schedule
from optlab.training.early_stopping import EarlyStopping, Watch


# ------------------------------------------------------------------------------------------------
# clipping
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", CLIPPED)
def test_clipping_bounds_the_global_norm_and_keeps_the_direction(name):
    g = np.random.default_rng(0)
    grads = {"a": 10 * g.standard_normal((4, 3)), "b": 10 * g.standard_normal(5)}
    original = {k: v.copy() for k, v in grads.items()}
    opt = OPTIMIZERS[name](clip_norm=2.0)
    opt.update({"a": np.zeros((4, 3)), "b": np.zeros(5)}, grads)
    norm = global_norm(original.values())
    assert opt.clipped and opt.grad_norm == pytest.approx(norm) and norm > 2
    assert global_norm(grads.values()) == pytest.approx(2.0, rel=1e-12)
    for k in grads:
        assert np.allclose(grads[k], original[k] * 2.0 / norm)       # the same direction, scaled


def test_a_gradient_within_the_bound_is_left_alone_and_the_step_uses_the_clipped_gradient():
    small = {"w": np.array([0.3, -0.4])}                              # norm 0.5
    opt = OPTIMIZERS["sgd"](lr=0.1, clip_norm=1.0)
    W = np.zeros(2)
    opt.update({"w": W}, small)
    assert not opt.clipped and np.array_equal(small["w"], [0.3, -0.4]) and np.allclose(W, [-0.03, 0.04])
    W = np.zeros(2)
    opt.update({"w": W}, {"w": np.array([3.0, -4.0])})                # norm 5 -> 1
    assert opt.clipped and np.allclose(W, [-0.1 * 0.6, 0.1 * 0.8])


def test_global_norm_accumulates_float32_in_float64():
    a = np.full(10_000_000, 1e-3, dtype=np.float32)
    assert global_norm([a]) == pytest.approx(math.sqrt(10_000_000 * float(np.float32(1e-3)) ** 2), rel=1e-9)


# ------------------------------------------------------------------------------------------------
# decoupled weight decay
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", DECAYED)
def test_weight_decay_shrinks_the_named_weights_by_lr_times_decay(name):
    """With a zero gradient every rule leaves W alone (zero state), so only the decay acts."""
    W, b = np.array([2.0, -4.0]), np.array([1.0])
    opt = OPTIMIZERS[name](lr=0.1, weight_decay=0.5)
    opt.update({"W": W, "b": b}, {"W": np.zeros(2), "b": np.zeros(1)}, weights=["W"])
    assert np.allclose(W, [2.0 * 0.95, -4.0 * 0.95]) and b[0] == 1.0   # the bias is not decayed


def test_for_sgd_decoupled_decay_is_the_l2_penalty():
    g = np.random.default_rng(1)
    data_grads = [g.standard_normal(3) for _ in range(5)]
    W1, W2 = np.ones(3), np.ones(3)
    decoupled, penalised = OPTIMIZERS["sgd"](lr=0.1, weight_decay=0.3), OPTIMIZERS["sgd"](lr=0.1)
    for dg in data_grads:
        decoupled.update({"W": W1}, {"W": dg.copy()})
        penalised.update({"W": W2}, {"W": dg + 0.3 * W2})             # gradient of 0.5 * l2 * |W|^2
    assert np.allclose(W1, W2, rtol=1e-14)


def test_for_adam_they_differ_l2_moves_every_weight_by_lr_decay_shrinks_by_a_fraction():
    """No data gradient: Adam's first step on the L2 gradient l2 * W is lr * sign(W), whatever the
    size of W, while AdamW shrinks every weight by the same fraction lr * weight_decay."""
    W_l2, W_decay = np.array([10.0, 0.01]), np.array([10.0, 0.01])
    OPTIMIZERS["adam"](lr=0.001).update({"W": W_l2}, {"W": 0.1 * W_l2})
    OPTIMIZERS["adam"](lr=0.001, weight_decay=0.1).update({"W": W_decay}, {"W": np.zeros(2)})
    assert np.allclose(W_l2, [10.0 - 0.001, 0.01 - 0.001], rtol=1e-6)
    assert np.allclose(W_decay, [10.0 * (1 - 1e-4), 0.01 * (1 - 1e-4)], rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# schedules: lr0 = 0.1 throughout; 10 steps per epoch where it matters
# ------------------------------------------------------------------------------------------------
def rates(cfg, steps: list[int], total: int = 100, per_epoch: int = 10) -> list[float]:
    schedule = Schedule(cfg, 0.1, total, per_epoch)
    return [schedule.rate(s) for s in steps]


CASES = [
    (ConstantSchedule(name="constant"), [1, 50, 100], [0.1, 0.1, 0.1]),
    # factor 0.5 every 30 steps: t = s - 1
    (StepSchedule(name="step", every=30, factor=0.5), [1, 30, 31, 61, 100], [0.1, 0.1, 0.05, 0.025, 0.0125]),
    # every 2 epochs: t = completed epochs = (s - 1) // 10
    (StepSchedule(name="step", every=2, factor=0.1, unit="epochs"), [1, 20, 21, 41], [0.1, 0.1, 0.01, 0.001]),
    (ExponentialSchedule(name="exponential", k=0.01), [1, 101], [0.1, 0.1 * math.exp(-1)]),
    (ExponentialSchedule(name="exponential", k=0.5, unit="epochs"), [10, 11, 35], [0.1, 0.1 * math.exp(-0.5),
                                                                                    0.1 * math.exp(-1.5)]),
    (InverseTimeSchedule(name="inverse_time", k=0.1), [1, 11, 91], [0.1, 0.05, 0.01]),
    # T = 100 steps: cos(0) = 1 at s = 1, half way at s = 51, the floor lr * min_factor after T
    (CosineSchedule(name="cosine", min_factor=0.1), [1, 51, 101], [0.1, 0.1 * 0.55, 0.01]),
    (CosineSchedule(name="cosine", period=20), [1, 11, 21, 80], [0.1, 0.05, 0.0, 0.0]),
    # warmup 4: rate(5) * s / 4, then the schedule's clock starts at step 5
    (StepSchedule(name="step", every=10, factor=0.5, warmup=4), [1, 2, 4, 5, 14, 15], [0.025, 0.05, 0.1, 0.1, 0.1, 0.05]),
    # warmup 10 of 100 steps: T = 90, t = s - 11
    (CosineSchedule(name="cosine", warmup=10), [5, 11, 56, 100], [0.05, 0.1, 0.05, 0.1 * (1 + math.cos(math.pi * 89 / 90)) / 2]),
]


@pytest.mark.parametrize("cfg,steps,expected", CASES, ids=[f"{c.name}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_schedule_values_at_chosen_steps(cfg, steps, expected):
    assert rates(cfg, steps) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_cosine_period_defaults_to_the_run_after_warmup_and_marks_the_run_length_dependence():
    assert Schedule(CosineSchedule(name="cosine", warmup=10), 0.1, 110, 1).period == 100
    assert Schedule(CosineSchedule(name="cosine"), 0.1, 110, 1).depends_on_length
    assert not Schedule(CosineSchedule(name="cosine", period=50), 0.1, 110, 1).depends_on_length


def test_plateau_halves_after_patience_evaluations_without_a_new_best_down_to_its_floor():
    schedule = Schedule(PlateauSchedule(name="plateau", patience=2, min_factor=0.25), 0.1, 100, 10)
    accuracies = [0.5, 0.6, 0.6, 0.55,   # two without a new best: halve (step 30)
                  0.59, 0.7, 0.65, 0.7,  # a best at 50, then two without (a tie is no best): halve to the floor (70)
                  0.6, 0.6, 0.6, 0.6]    # at the floor: no further reduction
    seen = []
    for i, acc in enumerate(accuracies):
        schedule.observe(10 * i, {"val_acc": acc})
        seen.append(schedule.rate(10 * i + 1))
    assert schedule.reductions == [30, 70]
    assert seen == pytest.approx([0.1] * 3 + [0.05] * 4 + [0.025] * 5)


def test_plateau_state_round_trips_and_val_loss_counts_lower_as_better():
    a = Schedule(PlateauSchedule(name="plateau", metric="val_loss", patience=1), 0.1, 100, 10)
    for step, loss in enumerate([1.0, 0.8, 0.9]):
        a.observe(step, {"val_loss": loss})
    assert a.reductions == [2] and a.rate(3) == pytest.approx(0.05)
    b = Schedule(PlateauSchedule(name="plateau", metric="val_loss", patience=1), 0.1, 100, 10)
    b.load_state_dict(a.state_dict())
    for s in (a, b):
        s.observe(3, {"val_loss": 0.85})
    assert a.state_dict() == b.state_dict() and b.rate(4) == pytest.approx(0.025)


# ------------------------------------------------------------------------------------------------
# the watch and early stopping on their own
# ------------------------------------------------------------------------------------------------
def test_watch_counts_evaluations_since_the_best_and_ignores_missing_values():
    w = Watch("val_acc", min_delta=0.01)
    assert [w.observe(s, {"val_acc": a}) for s, a in enumerate([0.5, 0.505, 0.52, math.nan, 0.52])] == [
        True, False, True, None, False]
    assert (w.best, w.best_step, w.wait) == (0.52, 2, 1)


class FlatModel:
    def __init__(self) -> None:
        self.flat_params, self.flat_buffers = np.zeros(3), np.zeros(1)


def test_early_stopping_stops_after_patience_and_restores_the_best_copy():
    model = FlatModel()
    early = EarlyStopping(EarlyStoppingConfig(patience=2, metric="val_loss"), model)
    history = [(0, 2.0), (5, 1.0), (10, 1.5), (15, 0.9), (20, 0.95), (25, 0.91)]
    stops = []
    for step, loss in history:
        model.flat_params[...] = step                       # the weights "at" that step
        model.flat_buffers[...] = -step
        stops.append(early.observe(step, {"val_loss": loss}))
    assert stops == [False, False, False, False, False, True] and early.stopped_at == 25
    early.restore()
    assert np.array_equal(model.flat_params, [15, 15, 15]) and model.flat_buffers[0] == -15
    assert early.summary() == {"metric": "val_loss", "patience": 2, "best_value": 0.9, "best_step": 15,
                               "stopped_at": 25}
