"""What one run is built from: the data, model, loss and penalty a config and its seed make, and
the numbers derived from them before training (steps, the evaluation subset, the disk estimate).

Anything that cannot be built raises :class:`SetupError` (bad input, exit 2) before a run
directory exists. :func:`evaluate` is here because every loop measures a split the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from optlab.config.schema import Config
from optlab.data import Dataset, Split, load_dataset
from optlab.engine.losses import Loss, accuracy, build_loss
from optlab.engine.models import Model, build_model
from optlab.engine.regularizers import Penalty
from optlab.engine.rng import Streams, stream
from optlab.training.memory import EVAL_CHUNK, check_memory


def evaluate(model: Model, loss_fn: Loss, penalty: Penalty, data: Dataset, split: Split, dtype) -> tuple[float, float]:
    """(objective = mean data loss + penalty, accuracy) on a split, in chunks; NaN for an empty split."""
    if len(split) == 0:
        return math.nan, math.nan
    total_loss, correct = 0.0, 0.0
    for start in range(0, len(split), EVAL_CHUNK):
        chunk = split.take(slice(start, start + EVAL_CHUNK))
        out = model.forward(data.features(chunk.x, dtype), train=False)
        loss, _ = loss_fn(out, chunk.y)
        total_loss += loss * len(chunk)
        correct += accuracy(out, chunk.y) * len(chunk)
    reg = penalty.loss(model.params, model.weight_names)
    return total_loss / len(split) + reg, correct / len(split)


class SetupError(Exception):
    """The config validates but asks for something that cannot be built (bad input, exit 2)."""


@dataclass
class Setup:
    """Everything a run is built from, made from the config and its seed alone.

    ``streams`` hands out the run's Generators; any that is consumed during training must come
    from it, so that checkpoints save its state (optlab.engine.rng.Streams).
    """

    data: Dataset
    model: Model
    loss_fn: Loss
    penalty: Penalty
    dtype: np.dtype
    streams: Streams

    @classmethod
    def from_config(cls, config: Config) -> Setup:
        dtype = np.dtype(config.train.dtype)
        streams = Streams(config.seed)
        data = load_dataset(config.data, config.seed)
        # the dropout stream is taken only when masks are drawn, so it is checkpointed exactly then
        masks = streams.get("dropout") if getattr(config.model, "drop_prob", 0) > 0 else None
        model = build_model(config.model.model_dump(), data.n_features, data.n_classes, streams.get("init"), dtype, masks)
        reg = config.regularization
        loss = build_loss(config.loss.name, **config.loss.model_dump(exclude={"name"}))
        return cls(data, model, loss, Penalty(l2=reg.l2, l1=reg.l1), dtype, streams)

    def objective(self, x: np.ndarray, y: np.ndarray) -> float:
        """Forward pass, loss + penalty, backward: fills model.grads, returns the objective."""
        m = self.model
        out = m.forward(x, train=True)
        loss, dout = self.loss_fn(out, y)
        m.backward(dout)
        if self.penalty.active:
            loss += self.penalty.loss(m.params, m.weight_names)
            self.penalty.add_grad(m.params, m.grads, m.weight_names)
        return loss


def train_eval_split(config: Config, data: Dataset) -> Split:
    """The training examples train loss/accuracy are measured on: a fixed random subset of
    ``train.eval_train_size`` (from the ``eval`` stream, the same for every strategy), or all."""
    n = len(data.train)
    if n <= config.train.eval_train_size:
        return data.train
    return data.train.take(np.sort(stream(config.seed, "eval").choice(n, config.train.eval_train_size, replace=False)))


def total_steps(config: Config, n_train: int) -> tuple[int, int]:
    """(number of optimizer steps, steps per epoch) for a training set of n_train examples."""
    batch = min(config.train.batch_size, n_train)
    per_epoch = math.ceil(n_train / batch)
    if config.train.iterations is not None:
        return config.train.iterations, per_epoch
    return max(1, math.ceil(config.train.epochs * per_epoch)), per_epoch


def build_setup(config: Config) -> Setup:
    """Setup.from_config, with "cannot be built" errors as :class:`SetupError` (bad input): more
    memory than the machine has (checked before anything is allocated), data or initial weights
    that are not finite numbers in the run's dtype."""
    too_big = check_memory(config)
    if too_big is not None:
        raise SetupError(too_big)
    try:
        with np.errstate(over="ignore", invalid="ignore"):   # _check_finite says what overflowed
            setup = Setup.from_config(config)
    except MemoryError as exc:
        raise SetupError(f"the config needs more memory than is available ({exc})") from exc
    except ArithmeticError as exc:    # e.g. OverflowError: data.spread 1e308
        raise SetupError(f"the config cannot be built: {exc} (a value is too large for the arithmetic; "
                         "check the data section's scales, e.g. data.spread)") from exc
    except ValueError as exc:
        raise SetupError(str(exc)) from exc
    _check_finite(config, setup)
    watchers = [key for key, on in (("train.early_stopping", config.train.early_stopping is not None),
                                    ("optimizer.schedule: plateau", config.optimizer.schedule.name == "plateau")) if on]
    n_train = len(setup.data.train)
    if config.optimizer.name == "lbfgs" and config.kind.uses_optimizer and config.train.batch_size < n_train:
        raise SetupError(
            f"lbfgs is a full-batch method and train.batch_size {config.train.batch_size} is less than the "
            f"{n_train} training examples: its curvature pairs y = g(x_k+1) - g(x_k) and its line search compare "
            "one objective at different points, and a new mini-batch each step changes the objective, so the "
            f"pairs and the Wolfe test measure the noise. Set train.batch_size to {n_train} (or more), or train on "
            "fewer examples (the data section's size)")
    if watchers and len(setup.data.val) == 0:
        raise SetupError(f"{' and '.join(watchers)} watch the validation set, and this data has none "
                         "(give the data a val_size)")
    return setup


def _check_finite(config: Config, setup: Setup) -> None:
    """Data and initial weights must be finite in the run's dtype: ``data.spread: 1e308`` makes
    infinite centres, ``model.w: 1e39`` overflows float32 (largest 3.4e38). Either would train
    on inf and NaN from the first step."""
    dtype = setup.dtype
    largest = float(np.finfo(dtype).max)
    with np.errstate(over="ignore", invalid="ignore"):
        for name in ("train", "val", "test"):
            x = getattr(setup.data, name).x
            if x.size and x.dtype.kind == "f" and not (np.isfinite(x).all() and np.abs(x).max() <= largest):
                raise SetupError(f"the {config.data.name} data's {name} features are not finite {dtype} numbers "
                                 f"(largest {largest:.3g}); check the data section's scales (e.g. data.spread)")
        params = setup.model.flat_params
        if not np.isfinite(params).all():
            raise SetupError(f"the model's initial parameters are not finite {dtype} numbers (largest "
                             f"{largest:.3g}); check model.init, or model.w / model.b of a neuron")


def estimate_bytes(setup: Setup, steps: int) -> int:
    """A generous upper bound on what a run of ``steps`` metrics rows (after row 0) writes: the
    rows, two checkpoints (the old one lives until the new one is renamed over it) and the plots
    and tables."""
    row = 250                                   # a metrics.csv row with every column filled in
    state = setup.model.n_params() * setup.dtype.itemsize * 3 + len(setup.data.train) * 8
    return (steps + 1) * row + 2 * state + 2_000_000
