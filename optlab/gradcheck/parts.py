"""The parts ``optlab gradcheck`` checks: every built-in component, or a configured objective.

Built-ins (:func:`builtin_parts`), all on small float64 inputs from one seeded Generator:

- each layer (Linear, LinearBiasTrick, ReLU, Sigmoid, Tanh, Dropout, BatchNorm) behind a fixed
  random projection of its output to a scalar, ``f = sum(layer(x) * R)``, so ``backward(R)`` is its
  gradient; the input ``x`` is checked as a tensor too, which is how the backward of a layer
  without parameters gets tested. Dropout is checked with a frozen mask (a fresh mask per
  evaluation would make f(x+h) and f(x-h) different functions), batch norm in training mode,
  where each output depends on the whole batch through its mean and variance;
- each loss (hinge, cross_entropy, quadratic, binary_cross_entropy) with respect to its input;
- the L2, L1 and elastic-net penalties (a bias is included to show it is not penalised);
- each model (linear, linear with the bias trick, mlp with each activation, neuron) with each loss
  it can be trained with, and the mlp with batch norm and dropout (frozen masks).

A config (:func:`config_parts`) is built by ``Setup.from_config`` with ``train.dtype`` forced to
float64, on a seeded sample of its training examples, and checked as the data loss, each
regulariser alone, then the total objective exactly as training computes it
(``Setup.objective``), so a failure points at the culprit. Its dropout masks are drawn once, on
those examples, and frozen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from optlab.engine.hvp import ExactHVP, missing_rop
from optlab.engine.layers import BatchNorm, Dropout, Layer, Linear, LinearBiasTrick, ReLU, Sigmoid, Tanh, sigmoid
from optlab.engine.losses import LOSSES, Loss
from optlab.engine.models import Model, build_model
from optlab.engine.regularizers import Penalty

F64 = np.float64
BATCH, N_IN, N_CLASSES = 5, 3, 3     # built-in inputs: 5 examples, 3 features, 3 classes
HIDDEN = [5]


@dataclass
class Part:
    """One scalar function of named tensors and its analytic gradient.

    ``objective()`` and ``gradient()`` read the arrays in ``tensors`` (perturbed in place while
    checking); ``gradient()`` returns d objective / d tensor for every key of ``tensors`` (it may
    return the model's own gradient buffers: the check copies them at once); ``signature()``
    returns the kink state of the last ``objective()`` call, keyed by component.
    """

    name: str
    tensors: dict[str, np.ndarray]
    objective: Callable[[], float]
    gradient: Callable[[], Mapping[str, np.ndarray]]
    signature: Callable[[], Mapping[str, np.ndarray]]
    has_kinks: bool
    # direction per tensor -> the exact Hessian-vector product per tensor (optlab.gradcheck.hvp_check);
    # None where the part has no R-operator
    hvp: Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]] | None = None


def _signature(layers: list[tuple[str, Layer]] = (), loss: Loss | None = None, penalty: Penalty | None = None,
               params: Mapping[str, np.ndarray] | None = None, weights: list[str] = ()
               ) -> Callable[[], dict[str, np.ndarray]]:
    """kink_state() of every component with kinks, keyed by a name a user recognises ("ReLU act1")."""
    kinky = [(f"{type(layer).__name__} {name}".strip(), layer) for name, layer in layers if layer.has_kinks]

    def signature() -> dict[str, np.ndarray]:
        out = {label: layer.kink_state() for label, layer in kinky}
        if loss is not None and loss.has_kinks:
            out[f"{type(loss).__name__} loss"] = loss.kink_state()
        if penalty is not None and penalty.has_kinks:
            out["L1 penalty"] = penalty.kink_state(params, weights)
        return out
    return signature


# ---------------------------------------------------------------------------------------------
# single components
# ---------------------------------------------------------------------------------------------
def layer_part(name: str, layer: Layer, x: np.ndarray, rng: np.random.Generator) -> Part:
    """``f = sum(layer.forward(x) * R)`` with R fixed and random; tensors: the params and ``x``."""
    tensors = {**layer.params, "x": x}
    proj = rng.standard_normal(layer.forward(x).shape)     # (batch, out features)

    def objective() -> float:
        return float(np.sum(layer.forward(x) * proj))

    def gradient() -> dict[str, np.ndarray]:
        layer.forward(x)
        dx = layer.backward(proj)
        return {**layer.grads, "x": dx}

    def hvp(v: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        layer.forward(x)
        layer.forward_r(v["x"], {k: v[k] for k in layer.params})
        out = {k: np.zeros_like(p) for k, p in layer.params.items()}
        _, r_dx = layer.backward_r(proj, None, out)
        return {**out, "x": np.zeros_like(x) if r_dx is None else r_dx}     # None: zero (a linear layer in x)

    return Part(name, tensors, objective, gradient, _signature([("", layer)]), layer.has_kinks,
                hvp if layer.has_rop else None)


def loss_part(name: str, loss: Loss, out: np.ndarray, y: np.ndarray) -> Part:
    """The mean loss as a function of the model output ``out`` (batch, units)."""
    def hvp(v: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        loss(out, y)
        r = loss.r_grad(v["out"])
        return {"out": np.zeros_like(out) if r is None else r}

    return Part(name, {"out": out}, lambda: loss(out, y)[0], lambda: {"out": loss(out, y)[1]},
                _signature(loss=loss), loss.has_kinks, hvp if loss.has_rop else None)


def penalty_part(name: str, penalty: Penalty, params: dict[str, np.ndarray], weights: list[str]) -> Part:
    """The penalty of ``params[weights]``; every tensor in ``params`` is checked (biases get 0)."""
    def gradient() -> dict[str, np.ndarray]:
        grads = {k: np.zeros_like(v) for k, v in params.items()}
        penalty.add_grad(params, grads, weights)
        return grads

    def hvp(v: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {k: np.zeros_like(p) for k, p in params.items()}
        penalty.add_hvp(v, out, weights)
        return out

    return Part(name, params, lambda: penalty.loss(params, weights), gradient,
                _signature(penalty=penalty, params=params, weights=weights), penalty.has_kinks, hvp)


def model_hvp(model: Model, loss: Loss, penalty: Penalty, x: np.ndarray, y: np.ndarray):
    """The Part.hvp of a model's objective: exact products through optlab.engine.hvp, with the
    training forward pass the part's objective takes (frozen dropout masks included); None where
    some layer or the loss has no R-operator."""
    if missing_rop(model, loss):
        return None

    def hvp(v: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        flat = np.zeros(model.n_params())
        for name, span in model.params.spans.items():
            flat[span] = np.ravel(v[name])
        hv = ExactHVP(model, loss, penalty, x, y, dropout=True)(flat)
        return {name: hv[span].reshape(model.params[name].shape) for name, span in model.params.spans.items()}
    return hvp


def freeze_dropout(layers: list[tuple[str, Layer]], forward: Callable[[], object]) -> None:
    """Draw every dropout mask once (by calling ``forward``), then keep it for later evaluations."""
    forward()
    for _, layer in layers:
        if isinstance(layer, Dropout):
            layer.frozen = True


def model_part(name: str, model: Model, loss: Loss, x: np.ndarray, y: np.ndarray) -> Part:
    """The mean data loss of ``model`` on (x, y) as a function of its parameters."""
    def objective() -> float:
        return loss(model.forward(x, train=True), y)[0]

    def gradient() -> dict[str, np.ndarray]:
        model.backward(loss(model.forward(x, train=True), y)[1])
        return model.grads

    return Part(name, model.params, objective, gradient, _signature(model.layers, loss),
                model.has_kinks or loss.has_kinks, model_hvp(model, loss, Penalty(), x, y))


# ---------------------------------------------------------------------------------------------
# the built-in suite
# ---------------------------------------------------------------------------------------------
def _builtin_models():
    """(label, model config, losses) for every built-in model and each loss it trains with."""
    from optlab.config.schema import InitConfig, LinearModel, MLPModel, NeuronModel

    init = InitConfig(name="he", bias_std=0.1)   # non-zero biases: a bias bug cannot hide at 0
    smooth_out, sigmoid_out = ["hinge", "cross_entropy", "quadratic"], ["quadratic", "binary_cross_entropy"]
    specs = []
    for output, losses in (("none", smooth_out), ("sigmoid", sigmoid_out)):
        suffix = "" if output == "none" else ", sigmoid out"
        specs.append((f"linear{suffix}", LinearModel(name="linear", init=init, output=output), losses))
        if output == "none":
            specs.append(("linear, bias trick", LinearModel(name="linear", init=init, bias="trick"), losses))
        for act in ("relu", "sigmoid", "tanh"):
            cfg = MLPModel(name="mlp", hidden=HIDDEN, activation=act, init=init, output=output)
            specs.append((f"mlp {act}{suffix}", cfg, losses))
    specs.append(("neuron", NeuronModel(name="neuron"), sigmoid_out))
    return specs


def builtin_parts(rng: np.random.Generator) -> list[Part]:
    """Every layer, loss, regulariser and model of optlab, on small random float64 inputs."""
    normal = rng.standard_normal
    parts = [
        layer_part("layer Linear", Linear(normal((N_IN, 4)), normal(4)), normal((BATCH, N_IN)), rng),
        layer_part("layer LinearBiasTrick", LinearBiasTrick(normal((N_IN + 1, 4))), normal((BATCH, N_IN)), rng),
        *(layer_part(f"layer {cls.__name__}", cls(), normal((BATCH, 4)), rng) for cls in (ReLU, Sigmoid, Tanh)),
    ]
    n_layers = len(parts)
    y = rng.integers(0, N_CLASSES, BATCH)
    for name, cls in LOSSES.items():
        out = normal((BATCH, N_CLASSES))
        if name == "binary_cross_entropy":     # it takes outputs in (0, 1)
            out = sigmoid(out)
        parts.append(loss_part(f"loss {name}", cls(), out, y))
    weights = {"fc1.W": normal((N_IN, 4)), "fc1.b": normal(4), "fc2.W": normal((4, N_CLASSES))}
    for name, penalty in (("L2", Penalty(l2=0.1)), ("L1", Penalty(l1=0.1)), ("elastic net", Penalty(l2=0.1, l1=0.1))):
        parts.append(penalty_part(f"penalty {name}", penalty, {k: v.copy() for k, v in weights.items()},
                                  ["fc1.W", "fc2.W"]))
    x, x1, y2 = normal((BATCH, N_IN)), normal((BATCH, 1)), rng.integers(0, 2, BATCH)
    for label, cfg, losses in _builtin_models():
        for loss_name in losses:
            inputs, labels = (x1, y2) if cfg.name == "neuron" else (x, y)
            model = build_model(cfg.model_dump(), inputs.shape[1], N_CLASSES, rng, F64)
            parts.append(model_part(f"model {label} + {loss_name}", model, LOSSES[loss_name](), inputs, labels))
    # Drawn after everything above, so adding them left the other parts' inputs as they were;
    # listed with the layers and models they belong to.
    parts[n_layers:n_layers] = _train_mode_layers(rng)
    parts.append(_regularised_mlp(rng, x, y))
    return parts


def _train_mode_layers(rng: np.random.Generator) -> list[Part]:
    """Dropout with a frozen mask, batch norm in training mode (random gamma and beta)."""
    normal = rng.standard_normal
    dropout, x = Dropout(0.5, rng), normal((BATCH, 4))
    freeze_dropout([("", dropout)], lambda: dropout.forward(x))
    bn = BatchNorm(4)
    bn.params["gamma"][...], bn.params["beta"][...] = normal(4), normal(4)
    return [layer_part("layer Dropout (frozen mask)", dropout, x, rng),
            layer_part("layer BatchNorm (training mode)", bn, normal((BATCH, 4)), rng)]


def _regularised_mlp(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> Part:
    """The mlp with every option: Linear -> BatchNorm -> ReLU -> Dropout, twice, + cross-entropy."""
    from optlab.config.schema import InitConfig, MLPModel

    cfg = MLPModel(name="mlp", hidden=[5, 5], init=InitConfig(name="he", bias_std=0.1), batch_norm=True,
                   drop_prob=0.3)
    model = build_model(cfg.model_dump(), x.shape[1], N_CLASSES, rng, F64, dropout_rng=rng)
    freeze_dropout(model.layers, lambda: model.forward(x, train=True))
    return model_part("model mlp relu, batch norm, dropout + cross_entropy", model, LOSSES["cross_entropy"](), x, y)


# ---------------------------------------------------------------------------------------------
# a configured objective
# ---------------------------------------------------------------------------------------------
def config_parts(config, examples: int, rng: np.random.Generator) -> list[Part]:
    """Data loss, each regulariser, then the total, of ``config`` in float64 on ``examples`` examples.

    Raises ValueError where the config cannot be built (e.g. a model that does not fit the data).
    """
    from optlab.training.run import Setup

    config = config.model_copy(update={"train": config.train.model_copy(update={"dtype": "float64"})})
    setup = Setup.from_config(config)
    model, loss, data = setup.model, setup.loss_fn, setup.data
    n = len(data.train)
    idx = np.sort(rng.choice(n, min(examples, n), replace=False))
    x, y = data.features(data.train.x[idx], F64), data.train.y[idx]
    freeze_dropout(model.layers, lambda: model.forward(x, train=True))

    parts = [model_part(f"data loss ({config.model.name} + {config.loss.name})", model, loss, x, y)]
    reg = config.regularization
    for label, penalty in (("L2", Penalty(l2=reg.l2)), ("L1", Penalty(l1=reg.l1))):
        if penalty.active:
            strength = penalty.l2 or penalty.l1
            parts.append(penalty_part(f"{label} penalty ({label.lower()}={strength:g})", penalty,
                                      model.params, model.weight_names))
    if setup.penalty.active:   # the objective training follows, through its own code path
        def total() -> float:
            return setup.objective(x, y)

        def total_gradient() -> dict[str, np.ndarray]:
            setup.objective(x, y)
            return model.grads

        parts.append(Part("total (data loss + penalty)", model.params, total, total_gradient,
                          _signature(model.layers, loss, setup.penalty, model.params, model.weight_names),
                          model.has_kinks or loss.has_kinks or setup.penalty.has_kinks,
                          model_hvp(model, loss, setup.penalty, x, y)))
    return parts
