"""The optimizer interface: one class per rule, ``update(params, grads, weights)`` changing ``params`` in place.

A rule declares, as class attributes (a whole example: docs/optimizers.md)::

    class Adam(Optimizer):
        '''Adam, Kingma & Ba 2015, Algorithm 1 (the formulas, one per line).'''
        name = "adam"                                   # the config name, optimizer: {name: adam}
        year = 2014                                     # listing order: oldest first
        lr = CATALOGUE["lr"].but(0.001, "Kingma & Ba 2015, Alg. 1")   # a Hyper: default, range, meaning, source
        beta1 = Hyper(0.9, Range(0, 1), "first-moment decay", "Kingma & Ba 2015")
        slots = ("m", "v")                              # per-tensor state, zero at the start
        def step(self, W, g, m, v): ...                 # the formula

and optionally ``stability`` (the sharpness above which it diverges on a quadratic, for
optlab.engine.hessian) and ``preconditioner``. The constructor, its checks, ``hyper``,
``state_dict`` and the chain of :mod:`.wrappers` (clipping, decoupled weight decay) come from
this base class; ``optimizer.t`` counts updates from 1.

How ``step`` is called depends on ``access``:

- ``"elementwise"`` (every rule of DLFS ch. 6): when ``params`` and ``grads`` are a model's views
  into its two contiguous buffers (optlab.engine.models.TensorViews), ``step`` runs once on the
  whole buffers, with state buffers laid out the same way; otherwise once per tensor. The numbers
  are identical, and ``state`` still holds each tensor's arrays by name (views into the state
  buffers), so checkpoints are the same either way.
- ``"tensor"``: once per tensor, with its shape (a 2-D weight matrix is a matrix): Muon
  orthogonalises the update of each 2-D tensor and treats the others as AdamW does; the slots of a
  tensor may depend on it (override :meth:`slots_for`).
- ``"vector"``: once on the whole parameter vector (a flat copy when the tensors are not one
  buffer), for rules that need inner products over all parameters (L-BFGS's two-loop recursion);
  ``update(..., closure=f)`` passes ``closure`` to ``step`` (``f()`` re-evaluates the loss and
  gradients at the current parameters, for a line search). State that is not one array per
  tensor (L-BFGS's history) is kept by the rule, which extends ``state_dict``/``load_state_dict``.

A rule with separate evaluation weights (Schedule-Free: gradients at y, evaluation at x) keeps x
in a slot and the training loop swaps it in around evaluation and checkpoints.

Each built-in ``step`` is its rule's formulas, written with :mod:`optlab.engine.formula`:
``m.set(beta1 * m + (1 - beta1) * g)`` computes ``m = beta1 * m + (1 - beta1) * g`` in place,
operator by operator in Python's order (so the numbers are plain numpy's on the same formula, bit
for bit), with its intermediates in scratch arrays the optimizer keeps (:meth:`Optimizer.scratch`),
never in a fresh array the size of the parameters (why: docs/performance.md).
"""

from __future__ import annotations

import inspect
import math
from contextlib import contextmanager
from typing import Any, Callable, ClassVar, Iterable

import numpy as np

from optlab.engine.hyper import Hyper
from optlab.engine.optimizers.wrappers import DEFAULT_CHAIN, Transform

ACCESS = ("elementwise", "tensor", "vector")


class Optimizer:
    """Base class: runs the chain of transforms, then ``step`` on every tensor, and counts updates in ``t``.

        W -= lr * weight_decay * W            tensors named in ``weights``; if weight_decay > 0
        g = g * min(1, clip_norm / ||g||)     ||g|| the global norm; if clip_norm is set
        <step: the optimizer's rule>
    """

    name: ClassVar[str] = ""                  # the config name; empty: not registrable (a base class)
    year: ClassVar[int] = 9999                # when the rule was published: the order of listings
    slots: ClassVar[tuple[str, ...]] = ()     # names of the per-tensor state arrays
    access: ClassVar[str] = "elementwise"     # how step sees the parameters (module docstring)
    scalars: ClassVar[tuple[str, ...]] = ()   # scalar state besides t (NAdam's running product), checkpointed
    transforms: ClassVar[tuple[type[Transform], ...]] = DEFAULT_CHAIN
    hypers: ClassVar[dict[str, Hyper]] = {}   # every hyper-parameter, the rule's then the chain's
    hyper_names: ClassVar[tuple[str, ...]] = ()
    found_in: ClassVar[str] = "optlab"        # where the registry found it: optlab, a file, an entry point
    source_file: ClassVar[str | None] = None  # the user's file that defines it (a config's ``from``)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own: dict[str, Hyper] = {}
        for klass in reversed(cls.__mro__):
            own.update({key: value for key, value in vars(klass).items() if isinstance(value, Hyper)})
        cls.hypers = {**own, **{key: h for link in cls.transforms for key, h in link.hypers.items()}}
        cls.hyper_names = tuple(cls.hypers)
        cls.__signature__ = inspect.Signature(      # what help() and inspect show: the hyper-parameters
            [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=h.default) for k, h in cls.hypers.items()])

    def __init__(self, **hyper: float | None) -> None:
        unknown = sorted(set(hyper) - set(self.hypers))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no hyper-parameter {', '.join(unknown)} "
                            f"(it has: {', '.join(self.hyper_names)})")
        for key, h in self.hypers.items():
            setattr(self, key, h.check(key, hyper.get(key, h.default)))
        self.t = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.grad_norm = math.nan     # global gradient norm before clipping (computed only to clip)
        self.clipped = False          # whether the last update was clipped
        self._whole: tuple[dict, dict[str, np.ndarray]] | None = None   # (layout, state buffers)
        self._scratch: dict[tuple, list[np.ndarray]] = {}   # (shape, dtype) -> work arrays, never state

    def __setattr__(self, name: str, value: Any) -> None:
        # Hyper-parameters stay Python floats (or None), whoever sets them (a schedule changes lr):
        # a numpy float64 would make every float32 update compute in float64 (NEP 50 promotion).
        if name in self.hypers and value is not None:
            value = self.hypers[name].kind(value)
        super().__setattr__(name, value)

    @property
    def hyper(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.hyper_names}

    @classmethod
    def defaults(cls) -> dict[str, float | None]:
        return {name: h.default for name, h in cls.hypers.items()}

    # ------------------------------------------------------------------------------------------
    # the rule
    # ------------------------------------------------------------------------------------------
    def step(self, W: np.ndarray, g: np.ndarray, **state: np.ndarray) -> None:
        raise NotImplementedError

    def slots_for(self, name: str, W: np.ndarray) -> tuple[str, ...]:
        """The state arrays tensor ``name`` gets (a ``"tensor"`` rule may give matrices other slots)."""
        return self.slots

    @classmethod
    def stability(cls, lr: float, hyper: dict[str, float]) -> tuple[float, bool, str] | None:
        """(threshold, preconditioned?, formula): the sharpness above which the rule is unstable on
        a quadratic with that curvature, and whether it applies to P^(-1) H (docs/landscape.md,
        "Sharpness"); None: not known."""
        return None

    @classmethod
    def preconditioner(cls, state: dict[str, np.ndarray], hyper: dict[str, float], t: int) -> np.ndarray | None:
        """The diagonal P of an adaptive rule's update W -= lr P^(-1) (...) from its flat state, or None."""
        return None

    # ------------------------------------------------------------------------------------------
    # applying it
    # ------------------------------------------------------------------------------------------
    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
               weights: Iterable[str] | None = None, closure: Callable | None = None) -> None:
        """One step on every tensor of ``params``. ``grads`` may be rescaled in place (clipping).
        ``weights``: the tensors weight decay applies to (default: all; a model passes its weight
        matrices, so biases and batch norm's gamma and beta are not decayed)."""
        self.t += 1
        for link in self.transforms:
            link.apply(self, params, grads, weights)
        if self.access == "vector":
            return self._update_vector(params, grads, closure)
        W, g = _whole(params), _whole(grads)
        whole = self.ensure_state(params, grads)
        if whole is not None:
            self.step(W, g, **whole)                          # every tensor at once, the same numbers
            return
        for name, W in params.items():
            self.step(W, grads[name], **self.state[name])

    def ensure_state(self, params, grads) -> dict[str, np.ndarray] | None:
        """Make every tensor's state (at :meth:`initial`) if it is not there; the whole-buffer
        state when ``step`` will run on the whole buffers, else None."""
        W, g = _whole(params), _whole(grads)
        if self.access == "elementwise" and W is not None and g is not None and params.spans is grads.spans:
            return self._whole_state(params)
        for name, W in params.items():
            if name not in self.state:
                self.state[name] = {slot: self.initial(slot, W) for slot in self.slots_for(name, W)}
        return None

    def initial(self, slot: str, W: np.ndarray) -> np.ndarray:
        """The value state ``slot`` of tensor ``W`` starts at: zero, but for Schedule-Free's z and x."""
        return np.zeros_like(W)

    @classmethod
    def state_vectors(cls, hyper: dict) -> int:
        """How many arrays the size of the parameters the rule keeps (memory and checkpoint estimates)."""
        return len(cls.slots)

    # ------------------------------------------------------------------------------------------
    # evaluation weights (Schedule-Free trains at y and is evaluated at its average x)
    # ------------------------------------------------------------------------------------------
    @contextmanager
    def evaluation(self, params: dict[str, np.ndarray]):
        """Inside, ``params`` hold the weights to evaluate, checkpoint and project (the landscape);
        after, the training weights again. The same arrays for every rule but Schedule-Free."""
        self.to_evaluation(params)
        try:
            yield params
        finally:
            self.to_training(params)

    def to_evaluation(self, params: dict[str, np.ndarray]) -> None:
        """Put the evaluation weights into ``params`` (nothing to do but for Schedule-Free)."""

    def to_training(self, params: dict[str, np.ndarray]) -> None:
        """Put the training weights into ``params``, from the evaluation weights and the state."""

    def _update_vector(self, params, grads, closure: Callable | None):
        w, g = _whole(params), _whole(grads)
        packed = w is None or g is None or params.spans is not grads.spans
        P, G = (_pack(params), _pack(grads)) if packed else (params, grads)
        extra = {} if closure is None else {"closure": closure}
        out = self.step(P.flat, G.flat, **self._whole_state(P), **extra)
        if packed:
            for name, value in params.items():
                value[...] = P[name]
        return out

    def _whole_state(self, params) -> dict[str, np.ndarray]:
        """One buffer per slot laid out like ``params.flat``; ``state[name][slot]`` become views
        into it, keeping whatever they held (state restored from a checkpoint, or earlier steps)."""
        if self._whole is None or self._whole[0] is not params.spans:
            buffers = {slot: np.zeros_like(params.flat) for slot in self.slots}
            for name, span in params.spans.items():
                old = self.state.get(name, {})
                views = {slot: buffers[slot][span].reshape(params[name].shape) for slot in self.slots}
                for slot, view in views.items():
                    view[...] = old[slot] if slot in old else self.initial(slot, params[name])
                self.state[name] = views
            self._whole = (params.spans, buffers)
        return self._whole[1]

    def scratch(self, like: np.ndarray, k: int) -> list[np.ndarray]:
        """``k`` work arrays shaped like ``like``, kept between steps (their contents are garbage):
        where :mod:`optlab.engine.formula` puts a rule's intermediate results."""
        return self.work(like.shape, like.dtype, k)

    def work(self, shape: tuple[int, ...], dtype, k: int, tag: str = "") -> list[np.ndarray]:
        """``k`` work arrays of ``shape`` and ``dtype`` kept between steps (contents garbage); a
        ``tag`` keeps a rule's own arrays (Muon's Newton-Schulz) apart from the formulas' scratch."""
        key = (tuple(shape), np.dtype(dtype), tag)
        have = self._scratch.setdefault(key, [])
        while len(have) < k:
            have.append(np.empty(shape, dtype))
        return have[:k]

    # ------------------------------------------------------------------------------------------
    # checkpoints
    # ------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat dict of arrays (``"v/fc1.W"``) plus the step count ``t`` and the ``scalars``; fits ``np.savez``."""
        out = {"t": np.array(self.t), **{name: np.array(getattr(self, name)) for name in self.scalars}}
        for name, slots in self.state.items():
            for slot, value in slots.items():
                out[f"{slot}/{name}"] = value.copy()
        return out

    def load_state_dict(self, saved: dict[str, np.ndarray]) -> None:
        self.t = int(saved["t"])
        for name in self.scalars:
            setattr(self, name, float(saved[name]))
        self.state = {}
        self._whole = None
        for key, value in saved.items():
            if key != "t" and key not in self.scalars:
                slot, name = key.split("/", 1)
                self.state.setdefault(name, {})[slot] = np.array(value)


def _whole(tensors: dict[str, np.ndarray]) -> np.ndarray | None:
    """The contiguous buffer behind ``tensors`` (a model's TensorViews), or None for a plain dict."""
    whole = getattr(tensors, "whole", None)
    return whole() if whole is not None else None


def _pack(tensors: dict[str, np.ndarray]):
    """A copy of ``tensors`` as views into one flat buffer (optlab.engine.models.TensorViews)."""
    from optlab.engine.models import TensorViews

    arrays = list(tensors.values())
    dtype = np.result_type(*arrays) if arrays else np.float64
    out = TensorViews(np.concatenate([np.asarray(a, dtype=dtype).ravel() for a in arrays]) if arrays else np.zeros(0))
    start = 0
    for name, a in tensors.items():
        out.add_view(name, slice(start, start + a.size), a.shape)
        start += a.size
    return out
