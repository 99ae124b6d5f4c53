"""Models: a stack of layers with named parameters (``fc1.W``) and the builders for each config.

A :class:`Model` owns every parameter and gradient of its layers as views into two contiguous
buffers (``flat_params``, ``flat_grads``), so the whole parameter vector can be saved, restored or
perturbed in one operation, while ``params`` and ``grads`` stay dicts of named arrays. Those dicts
are :class:`TensorViews`: they also carry the buffer (``.flat``) and where each tensor lies in it
(``.spans``), which is how an optimizer updates the whole vector with a handful of numpy
operations instead of a Python loop over tensors (optlab.optimizers, ``Optimizer.update``).

Builders (registry :data:`MODELS`):
- ``linear``: one Linear layer on flattened inputs (+ optional output activation); with
  ``bias: trick`` the bias is the last row of one matrix W (CS231n's bias trick);
- ``mlp``: (Linear -> activation) per hidden size, then Linear (+ optional output activation);
- ``neuron``: one sigmoid neuron with set initial w and b (Nielsen ch. 3).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optlab.init import INITIALIZERS
from optlab.layers import ACTIVATIONS, Layer, Linear, LinearBiasTrick, Sigmoid


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
    """Layers applied in order. ``names[i]`` prefixes layer i's parameters."""

    def __init__(self, layers: list[tuple[str, Layer]], dtype: Any = np.float64) -> None:
        self.layers = layers
        self.dtype = np.dtype(dtype)
        entries = [(f"{lname}.{key}", layer, key) for lname, layer in layers for key in layer.params]
        size = sum(layer.params[key].size for _, layer, key in entries)
        self.flat_params = np.empty(size, dtype=self.dtype)
        self.flat_grads = np.zeros(size, dtype=self.dtype)
        self.params = TensorViews(self.flat_params)
        self.grads = TensorViews(self.flat_grads)
        self.grads.spans = self.params.spans      # one layout: optimizers check it by identity
        offset = 0
        for name, layer, key in entries:
            value = layer.params[key]
            span = slice(offset, offset + value.size)
            layer.params[key] = self.params.add_view(name, span, value.shape)
            layer.grads[key] = self.grads.add_view(name, span, value.shape)
            self.params[name][...] = value
            offset += value.size

    @property
    def weight_names(self) -> list[str]:
        """Weight matrices (regularised); biases are not (conventions.md, L2 penalty)."""
        return [name for name in self.params if name.endswith(".W")]

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


def _dense(rng: np.random.Generator, init: Any, fan_in: int, fan_out: int) -> Linear:
    W = INITIALIZERS[init.name](rng, fan_in, fan_out, init.std)
    b = init.bias_std * rng.standard_normal(fan_out) if init.bias_std > 0 else np.zeros(fan_out)
    return Linear(W, b)


def _output(layers: list[tuple[str, Layer]], output: str) -> list[tuple[str, Layer]]:
    return layers + ([("out", Sigmoid())] if output == "sigmoid" else [])


def linear(cfg: Any, n_in: int, n_out: int, rng: np.random.Generator, dtype: Any) -> Model:
    layer: Layer = _dense(rng, cfg.init, n_in, n_out)
    if cfg.bias == "trick":
        # The same draws as a separate bias, stacked: for one seed both forms start as one function.
        layer = LinearBiasTrick(np.vstack([layer.params["W"], layer.params["b"]]))
    return Model(_output([("fc1", layer)], cfg.output), dtype)


def mlp(cfg: Any, n_in: int, n_out: int, rng: np.random.Generator, dtype: Any) -> Model:
    sizes = [n_in, *cfg.hidden, n_out]
    layers: list[tuple[str, Layer]] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        layers.append((f"fc{i}", _dense(rng, cfg.init, fan_in, fan_out)))
        if i < len(sizes) - 1:
            layers.append((f"act{i}", ACTIVATIONS[cfg.activation]()))
    return Model(_output(layers, cfg.output), dtype)


def neuron(cfg: Any, n_in: int, n_out: int, rng: np.random.Generator, dtype: Any) -> Model:
    if n_in != 1:
        raise ValueError(f"the neuron model takes one input feature; the data has {n_in}")
    return Model([("fc1", Linear(np.array([[cfg.w]]), np.array([cfg.b]))), ("out", Sigmoid())], dtype)


MODELS = {"linear": linear, "mlp": mlp, "neuron": neuron}


def build_model(cfg: Any, n_in: int, n_classes: int, rng: np.random.Generator, dtype: Any) -> Model:
    """The model a config section describes. Outputs: one per class, one for the neuron."""
    n_out = 1 if cfg.name == "neuron" else n_classes
    return MODELS[cfg.name](cfg, n_in, n_out, rng, dtype)
