"""Hessian-vector products checked like gradients: each part's exact product (the R-operator,
optlab.engine.hvp and the layers' ``forward_r`` / ``backward_r``) against the centred difference
of its analytic gradient along the same random direction v,

    (g(w + h v) - g(w - h v)) / (2 h)  =  H v + O(h^2),

tensor by tensor. The error of a tensor is ``max |a - n| / max(max |a|, max |n|, 1e-12)``, the
maxima over the whole product (every tensor): CS231n's relative error on the product's largest
entry, since whole blocks of H v can vanish where others do not (a bias followed by batch norm,
the input of a ReLU: their rows of the Hessian are zero, and both sides are rounding there). The verdicts
are the gradients' (optlab.gradcheck.check.verdict): <= 1e-7 pass, <= 1e-4 pass only where the
part has kinks, else fail; where w + h v and w - h v fall on different pieces (the kink signature
differs) the difference is no derivative and the verdict is ``kink``. A part without an
R-operator gets ``none``: its Hessian-vector products are finite differences of the gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from optlab.gradcheck.parts import Part

HVP_H = 1e-5      # the relative step: h = HVP_H (1 + max |w|) / max |v|


@dataclass
class HvpTensor:
    tensor: str
    size: int
    error: float
    verdict: str


@dataclass
class HvpCheck:
    part: str
    has_kinks: bool
    tensors: list[HvpTensor] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(t.verdict != "fail" for t in self.tensors)


def _perturbed_gradient(part: Part, base: dict, v: dict, step: float) -> tuple[dict, dict]:
    for k, arr in part.tensors.items():
        arr[...] = base[k] + step * v[k]
    part.objective()
    signature = {k: np.array(s, copy=True) for k, s in part.signature().items()}
    return {k: np.array(g, dtype=np.float64, copy=True) for k, g in part.gradient().items()}, signature


def check_hvp(part: Part, rng: np.random.Generator, verdict: Callable[[float, bool, int], str]) -> HvpCheck:
    """One random direction (standard normal, every tensor), the exact product against the difference;
    ``verdict(error, has_kinks, judged)``: the gradients' (optlab.gradcheck.check passes it in)."""
    result = HvpCheck(part.name, part.has_kinks)
    v = {k: rng.standard_normal(arr.shape) for k, arr in part.tensors.items()}
    if part.hvp is None:
        result.tensors = [HvpTensor(k, arr.size, math.nan, "none") for k, arr in part.tensors.items()]
        return result
    analytic = {k: np.array(a, dtype=np.float64, copy=True) for k, a in part.hvp(v).items()}
    base = {k: arr.copy() for k, arr in part.tensors.items()}
    scale = max(float(np.max(np.abs(b))) if b.size else 0.0 for b in base.values())
    h = HVP_H * (1.0 + scale) / max(float(np.max(np.abs(x))) for x in v.values())
    try:
        plus, sig_plus = _perturbed_gradient(part, base, v, h)
        minus, sig_minus = _perturbed_gradient(part, base, v, -h)
    finally:
        for k, arr in part.tensors.items():
            arr[...] = base[k]
    crossed = any(not np.array_equal(sig_plus[k], sig_minus[k]) for k in sig_plus)
    numeric = {k: (plus[k] - minus[k]) / (2 * h) for k in part.tensors}
    scale = max([1e-12] + [float(np.max(np.abs(d[k]))) for d in (analytic, numeric) for k in part.tensors
                           if d[k].size])
    for k, arr in part.tensors.items():
        a, n = analytic[k], numeric[k]
        err = float(np.max(np.abs(a - n))) / scale if a.size else 0.0
        result.tensors.append(HvpTensor(k, arr.size, err, "kink" if crossed else verdict(err, part.has_kinks, 1)))
    return result
