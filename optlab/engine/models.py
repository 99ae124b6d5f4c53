"""Models: a stack of layers with named parameters (``fc1.W``) and the builders for each config.

A :class:`Model` owns every parameter, gradient and buffer (batch norm's running statistics) of its
layers as views into three contiguous arrays (``flat_params``, ``flat_grads``, ``flat_buffers``),
so the whole parameter vector can be saved, restored or perturbed in one operation, while
``params``, ``grads`` and ``buffers`` stay dicts of named arrays. Those dicts are
:class:`TensorViews`: they also carry their array (``.flat``) and where each tensor lies in it
(``.spans``), which is how an optimizer updates the whole vector with a handful of numpy
operations instead of a Python loop over tensors (optlab.engine.optimizers, ``Optimizer.update``).

Builders (registry :data:`MODELS`):
- ``linear``: one Linear layer on flattened inputs (+ optional output activation); with
  ``bias: trick`` the bias is the last row of one matrix W (CS231n's bias trick);
- ``mlp``: (Linear -> [BatchNorm] -> activation -> [Dropout]) per hidden size, then Linear
  (+ optional output activation);
- ``neuron``: one sigmoid neuron with set initial w and b (Nielsen ch. 3).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optlab.engine.hyper import settings
from optlab.engine.init import INITIALIZERS
from optlab.engine.layers import ACTIVATIONS, BatchNorm, Dropout, Layer, Linear, LinearBiasTrick, Sigmoid


class TensorViews(dict):
    """Named arrays that :class:`Model` made as views into one contiguous 1-D buffer ``flat``:
    ``self[name]`` is ``flat[spans[name]]`` reshaped, in order, together tiling ``flat``.

    :meth:`whole` hands out ``flat`` only while that still holds (no entry was replaced, no copy
    was made, e.g. by ``copy.deepcopy``), so code that updates the whole buffer at once can never
    miss a tensor: it falls back to the named arrays.
    """

    def __init__(self, flat: np.ndarray) -> None:
        super().__init__()
        self.flat = flat
        self.spans: dict[str, slice] = {}

    def add_view(self, name: str, span: slice, shape: tuple[int, ...]) -> np.ndarray:
        self[name] = view = self.flat[span].reshape(shape)
        self.spans[name] = span
        return view

    def whole(self) -> np.ndarray | None:
        """``flat``, or None when some entry is not (or no longer) a view into it."""
        flat = self.flat
        if len(self) != len(self.spans) or not all(value.base is flat for value in self.values()):
            return None
        return flat


class Model:
    """Layers applied in order. ``names[i]`` prefixes layer i's parameters.

    ``buffers`` (views into ``flat_buffers``) hold the state layers keep that no gradient changes,
    such as batch norm's running statistics; checkpoints and early stopping save them with the
    parameters, because evaluation depends on them.
    """

    def __init__(self, layers: list[tuple[str, Layer]], dtype: Any = np.float64) -> None:
        self.layers = layers
        self.dtype = np.dtype(dtype)
        # grads are laid out like params (same keys, same order), so the flat arrays align
        self.flat_params, self.params = _flatten(layers, "params", self.dtype)
        self.flat_grads, self.grads = _flatten(layers, "grads", self.dtype)
        self.flat_buffers, self.buffers = _flatten(layers, "buffers", self.dtype)
        assert self.grads.spans == self.params.spans
        self.grads.spans = self.params.spans      # one layout object: optimizers check it by identity
        # Weight matrices (regularised); biases are not (docs/conventions.md, L2 penalty). Fixed with
        # the layers, so built once rather than on every step that asks.
        self.weight_names: list[str] = [name for name in self.params if name.endswith(".W")]

    @property
    def has_kinks(self) -> bool:
        return any(layer.has_kinks for _, layer in self.layers)

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        for _, layer in self.layers:
            x = layer.forward(x, train)
        return x

    def backward(self, dout: np.ndarray) -> None:
        """Fill ``grads`` from d loss / d outputs. The first layer's input gradient (d loss / d x)
        feeds nothing, so it is not computed (:meth:`Layer.backward_params`): for the MNIST MLP
        that is a 128x100 @ 100x784 product per step, for a linear model on full CIFAR-10 the
        largest product of all."""
        for _, layer in reversed(self.layers[1:]):
            dout = layer.backward(dout)
        self.layers[0][1].backward_params(dout)

    def n_params(self) -> int:
        return self.flat_params.size


def _flatten(layers: list[tuple[str, Layer]], attr: str, dtype: np.dtype) -> tuple[np.ndarray, TensorViews]:
    """One contiguous array holding every layer's ``attr`` dict (params, grads or buffers), and
    named views into it (``fc1.W``) that replace the layers' own arrays, values copied."""
    entries = [(f"{lname}.{key}", getattr(layer, attr), key) for lname, layer in layers for key in getattr(layer, attr)]
    flat = np.empty(sum(d[key].size for _, d, key in entries), dtype=dtype)
    views, offset = TensorViews(flat), 0
    for name, owner, key in entries:
        value = owner[key]
        owner[key] = views.add_view(name, slice(offset, offset + value.size), value.shape)
        views[name][...] = value
        offset += value.size
    return flat, views


def _dense(rng: np.random.Generator, init: Any, fan_in: int, fan_out: int) -> Linear:
    W = INITIALIZERS[init.name](rng, fan_in, fan_out, init.std)
    b = init.bias_std * rng.standard_normal(fan_out) if init.bias_std > 0 else np.zeros(fan_out)
    return Linear(W, b)


def _output(layers: list[tuple[str, Layer]], output: str) -> list[tuple[str, Layer]]:
    return layers + ([("out", Sigmoid())] if output == "sigmoid" else [])


def linear(cfg: Any, n_in: int, n_out: int, rng: np.random.Generator, dtype: Any, dropout_rng=None) -> Model:
    layer: Layer = _dense(rng, cfg.init, n_in, n_out)
    if cfg.bias == "trick":
        # The same draws as a separate bias, stacked: for one seed both forms start as one function.
        layer = LinearBiasTrick(np.vstack([layer.params["W"], layer.params["b"]]))
    return Model(_output([("fc1", layer)], cfg.output), dtype)


def mlp(cfg: Any, n_in: int, n_out: int, rng: np.random.Generator, dtype: Any,
        dropout_rng: np.random.Generator | None = None) -> Model:
    """Per hidden size: Linear -> [BatchNorm] -> activation -> [Dropout], the order of DLFS's
    MultiLayerNetExtend (ch. 6); then Linear (+ output activation). Linear keeps its bias under
    batch norm, as DLFS does, though beta makes it redundant."""
    sizes = [n_in, *cfg.hidden, n_out]
    layers: list[tuple[str, Layer]] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        layers.append((f"fc{i}", _dense(rng, cfg.init, fan_in, fan_out)))
        if i == len(sizes) - 1:
            break
        if cfg.batch_norm is not None:
            layers.append((f"bn{i}", BatchNorm(fan_out, cfg.batch_norm.momentum, cfg.batch_norm.eps)))
        layers.append((f"act{i}", ACTIVATIONS[cfg.activation]()))
        if cfg.drop_prob > 0:
            if dropout_rng is None:
                raise ValueError("dropout needs a Generator for its masks (the run's 'dropout' stream)")
            layers.append((f"drop{i}", Dropout(cfg.drop_prob, dropout_rng)))
    return Model(_output(layers, cfg.output), dtype)


def neuron(cfg: Any, n_in: int, n_out: int, rng: np.random.Generator, dtype: Any, dropout_rng=None) -> Model:
    if n_in != 1:
        raise ValueError(f"the neuron model takes one input feature; the data has {n_in}")
    return Model([("fc1", Linear(np.array([[cfg.w]]), np.array([cfg.b]))), ("out", Sigmoid())], dtype)


MODELS = {"linear": linear, "mlp": mlp, "neuron": neuron}


def build_model(cfg: Any, n_in: int, n_classes: int, rng: np.random.Generator, dtype: Any,
                dropout_rng: np.random.Generator | None = None) -> Model:
    """The model ``cfg`` describes, a plain mapping (``{"name": "mlp", "hidden": [100], ...}``, the
    ``model:`` section's values). Outputs: one per class, one for the neuron.

    ``rng`` draws the initial weights; ``dropout_rng`` the dropout masks (needed only with
    ``drop_prob`` > 0; a run passes its ``dropout`` stream so checkpoints save it).
    """
    cfg = settings(cfg)
    n_out = 1 if cfg.name == "neuron" else n_classes
    return MODELS[cfg.name](cfg, n_in, n_out, rng, dtype, dropout_rng)
