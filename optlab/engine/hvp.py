"""Exact Hessian-vector products of a model's training objective (Pearlmutter 1994).

The R-operator R{f} = d/dr f(w + r v) |_{r=0} is pushed forward through the forward pass (each
layer's ``forward_r``: R{activations}), turned around at the loss (``Loss.r_grad``: the loss's
Hessian in the outputs times R{outputs}) and pushed back through the backward pass (each layer's
``backward_r``: R{d loss / d activations} and R{gradients}); R{gradient} = H v exactly, up to
rounding, at about the cost of one more gradient. L2 adds l2 V_W (``Penalty.add_hvp``).

:class:`ExactHVP` runs the forward pass once at construction and keeps the layers' caches of it
(their attributes: the arrays a forward pass makes are new, so a shallow copy holds them), so each
product costs only the two R passes; a call puts those caches and the weights it was built at
back for its duration, so the model may run (train, evaluate) in between. The forward pass is the one curvature is measured on
(optlab.training.curvature): batch norm on the batch's own statistics (its running statistics put
back at once), dropout off. :func:`missing_rop` names the parts without an R-operator, where the
caller falls back to finite differences of the gradient (optlab.engine.hessian.hvp).
"""

from __future__ import annotations

import numpy as np

from optlab.engine.layers import Dropout


def missing_rop(model, loss_fn, penalty=None) -> list[str]:
    """The parts of the objective that have no exact R-operator (empty: :class:`ExactHVP` applies)."""
    missing = [f"{type(layer).__name__} {name}" for name, layer in model.layers if not layer.has_rop]
    if not getattr(loss_fn, "has_rop", False):
        missing.append(f"{type(loss_fn).__name__} loss")
    return missing


class ExactHVP:
    """``v (n,) -> H v (n,)`` (float64) of mean loss + penalty on (x, y) at the model's current weights."""

    def __init__(self, model, loss_fn, penalty, x: np.ndarray, y: np.ndarray, dropout: bool = False) -> None:
        """``dropout``: run dropout layers in training mode (their masks frozen: gradient checking)."""
        missing = missing_rop(model, loss_fn, penalty)
        if missing:
            raise ValueError(f"no exact Hessian-vector product: {', '.join(missing)} has no R-operator")
        self.model, self.loss_fn, self.penalty = model, loss_fn, penalty
        saved = model.flat_buffers.copy()
        try:
            h = x
            for _, layer in model.layers:
                h = layer.forward(h, train=dropout or not isinstance(layer, Dropout))
            self.loss, self.dout = loss_fn(h, y)            # dout: (batch, outputs)
        finally:
            model.flat_buffers[...] = saved
        self.w = model.flat_params.copy()
        self.caches = [vars(layer).copy() for _, layer in model.layers] + [vars(loss_fn).copy()]
        self.n = model.n_params()
        self.products = 0

    def _views(self, flat: np.ndarray) -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]]:
        """Named views into ``flat`` laid out like the parameters, and per layer by local name."""
        spans, params = self.model.params.spans, self.model.params
        named = {name: flat[span].reshape(params[name].shape) for name, span in spans.items()}
        return named, [{key: named[f"{lname}.{key}"] for key in layer.params} for lname, layer in self.model.layers]

    def __call__(self, v: np.ndarray) -> np.ndarray:
        model = self.model
        owners = [layer for _, layer in model.layers] + [self.loss_fn]
        theirs, w = [vars(o).copy() for o in owners], model.flat_params.copy()
        try:
            for owner, cache in zip(owners, self.caches):
                vars(owner).update(cache)
            model.flat_params[...] = self.w
            return self._product(v)
        finally:
            for owner, cache in zip(owners, theirs):
                vars(owner).clear()
                vars(owner).update(cache)
            model.flat_params[...] = w

    def _product(self, v: np.ndarray) -> np.ndarray:
        model = self.model
        v_flat = np.ascontiguousarray(v, dtype=model.dtype)
        hv_flat = np.zeros(self.n, dtype=model.dtype)
        v_named, v_layers = self._views(v_flat)
        hv_named, hv_layers = self._views(hv_flat)
        r = None                                              # R{x} of the data: zero
        for (_, layer), v_l in zip(model.layers, v_layers):
            r = layer.forward_r(r, v_l)
        dout, rdout = self.dout, self.loss_fn.r_grad(r)
        for i in range(len(model.layers) - 1, -1, -1):
            dout, rdout = model.layers[i][1].backward_r(dout, rdout, hv_layers[i], need_dx=i > 0)
        if self.penalty is not None and self.penalty.active:
            self.penalty.add_hvp(v_named, hv_named, model.weight_names)
        self.products += 1
        return hv_flat.astype(np.float64)
