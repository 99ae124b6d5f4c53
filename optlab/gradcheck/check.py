"""Gradient checking: analytic gradients against numerical ones, per tensor, with a verdict.

A :class:`~optlab.gradcheck.parts.Part` is one scalar function of named tensors (a layer behind a
random projection, a loss, a penalty, a model with its loss, a configured objective) with its
analytic gradient and the kink signature of its last evaluation. :func:`check_part` compares the
two gradients tensor by tensor; :func:`verdict` judges each tensor by its max relative error
``abs(a - n) / max(abs(a), abs(n), 1e-12)`` with CS231n's thresholds (docs/conventions.md):

- <= 1e-7: ``pass``;
- <= 1e-4: ``pass (kinks)`` where the function has kinks (ReLU, hinge, L1), otherwise ``fail``;
- above: ``fail``.

Two kinds of element are counted apart and left out of the max and median, because there the
difference quotient proves nothing about the analytic gradient:

- kinks: f(x+h) and f(x-h) fall on different sides of a kink (the winner of a max changed: a
  ReLU mask, the set of active hinge margins, sign(W) under L1), so the quotient is not a
  derivative; the components responsible are named;
- noise: the error is above 1e-7 but ``|a - n|`` is within ``ROUNDING_MARGIN`` times what one
  rounding of each float64 evaluation of f moves the quotient by (``numgrad.Probe``). This
  happens where an element's gradient is ~1e-4 of the loss or smaller; a wrong gradient is off by
  far more than rounding (1 % of 1e-6 is 1e-8; the resolution is ~1e-11), so it still fails.

A tensor with more than ``samples`` elements is checked on a seeded sample of that many.
Each part's Hessian-vector product is checked too, after the gradients (optlab.gradcheck.hvp_check:
the R-operator against the centred difference of the gradient, the same verdicts).
Everything is computed in float64. Each part's objective is evaluated twice before checking and
must give the same value bit for bit: randomness (e.g. a dropout mask) that is not frozen would
make the two sides of a difference see different functions, and is reported as an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from optlab.engine.numgrad import DEFAULT_H, METHODS, StepTooSmall, probe, relative_error
from optlab.engine.rng import stream
from optlab.gradcheck.hvp_check import HvpCheck, check_hvp
from optlab.gradcheck.parts import Part, builtin_parts, config_parts

PASS, PASS_WITH_KINKS = 1e-7, 1e-4      # CS231n "Gradient checks"; docs/conventions.md
# An element above PASS whose |a - n| is within this many times the estimate's float64 resolution
# (numgrad.Probe) is rounding, not a wrong gradient. Correct built-ins over 30 seeds reach 0.91x.
ROUNDING_MARGIN = 4.0
DEFAULT_SAMPLES = 50                     # elements per tensor above which a sample is checked
DEFAULT_EXAMPLES = 8                     # examples of a config's data: few, so few kinks (CS231n)


class GradcheckError(Exception):
    """A part that cannot be checked at all (non-finite or non-deterministic objective)."""


class GradcheckInputError(GradcheckError):
    """Bad input: a config that cannot be built, or an h too small to move a parameter."""


@dataclass
class TensorCheck:
    tensor: str
    size: int
    checked: int
    kinks: int                                   # checked elements that straddled a kink
    kink_sources: list[str]                      # the components whose kinks they straddled
    noise: int                                   # elements whose error is float64 rounding
    max_error: dict[str, float]                  # method -> max rel. error over the other elements
    median_error: dict[str, float]
    verdict: str


@dataclass
class PartCheck:
    part: str
    has_kinks: bool
    tensors: list[TensorCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(t.verdict != "fail" for t in self.tensors)


@dataclass
class Report:
    subject: str                   # "built-ins" or the config's path
    methods: tuple[str, ...]       # the first one decides the verdicts
    h: float
    samples: int
    examples: int | None           # examples of the configured data (None for the built-ins)
    parts: list[PartCheck]
    hvp: list[HvpCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.parts) and all(c.passed for c in self.hvp)

    def failures(self) -> list[tuple[str, str]]:
        return [(p.part, t.tensor) for p in self.parts for t in p.tensors if t.verdict == "fail"]

    def hvp_failures(self) -> list[tuple[str, str]]:
        return [(c.part, t.tensor) for c in self.hvp for t in c.tensors if t.verdict == "fail"]

    def to_dict(self) -> dict:
        """The report as plain JSON-ready data (the CLI's ``--json``); NaN becomes null."""
        def num(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {
            "subject": self.subject, "methods": list(self.methods), "h": self.h, "dtype": "float64",
            "samples": self.samples, "examples": self.examples,
            "thresholds": {"pass": PASS, "pass_with_kinks": PASS_WITH_KINKS, "rounding_margin": ROUNDING_MARGIN},
            "passed": self.passed,
            "parts": [{
                "part": p.part, "has_kinks": p.has_kinks, "passed": p.passed,
                "tensors": [{
                    "tensor": t.tensor, "size": t.size, "checked": t.checked, "kinks": t.kinks,
                    "kink_sources": t.kink_sources, "noise": t.noise,
                    "max_rel_error": {m: num(v) for m, v in t.max_error.items()},
                    "median_rel_error": {m: num(v) for m, v in t.median_error.items()},
                    "verdict": t.verdict,
                } for t in p.tensors],
            } for p in self.parts],
            "hvp": [{"part": c.part, "passed": c.passed,
                     "tensors": [{"tensor": t.tensor, "size": t.size, "rel_error": num(t.error), "verdict": t.verdict}
                                 for t in c.tensors]} for c in self.hvp],
        }


def verdict(max_error: float, has_kinks: bool, judged: int, kinks: int = 0) -> str:
    """CS231n's thresholds (docs/conventions.md) on the max error of the ``judged`` elements.

    With no element left to judge: ``kink`` if some straddled a kink, else ``pass`` (every element
    then agreed with the numerical gradient to within float64 rounding).
    """
    if judged == 0:
        return "kink" if kinks else "pass"
    if max_error <= PASS:          # False for NaN: a NaN error fails
        return "pass"
    if max_error <= PASS_WITH_KINKS and has_kinks:
        return "pass (kinks)"
    return "fail"


def sample_indices(size: int, samples: int, rng: np.random.Generator) -> np.ndarray | None:
    """None (every element) for a small tensor, else ``samples`` distinct flat indices, sorted."""
    if size <= samples:
        return None
    return np.sort(rng.choice(size, samples, replace=False))


def check_part(part: Part, *, methods: tuple[str, ...] = ("centred",), h: float = DEFAULT_H,
               samples: int = DEFAULT_SAMPLES, rng: np.random.Generator) -> PartCheck:
    """Compare ``part``'s analytic gradient with the numerical one by each method, per tensor.

    An element that straddles a kink under any of the methods is set apart for all of them, so
    the errors of ``--method both`` compare the same elements; noise is judged per method.
    """
    first, again = part.objective(), part.objective()
    if not math.isfinite(first):
        raise GradcheckError(f"{part.name}: the objective is {first} before any perturbation; "
                             "a gradient cannot be checked there")
    if first != again:
        raise GradcheckError(f"{part.name}: two evaluations at the same parameters gave {first!r} and "
                             f"{again!r}; freeze every random draw (e.g. dropout masks) before checking")
    analytic = {k: np.array(v, dtype=np.float64, copy=True) for k, v in part.gradient().items()}
    indices = {k: idx for k, v in part.tensors.items() if (idx := sample_indices(v.size, samples, rng)) is not None}
    try:
        probes = {m: probe(part.objective, part.tensors, h=h, method=m, indices=indices, signature=part.signature)
                  for m in methods}
    except StepTooSmall as exc:
        raise GradcheckInputError(f"{part.name}: {exc}") from None

    result = PartCheck(part.name, part.has_kinks)
    for name, arr in part.tensors.items():
        idx = indices.get(name)
        a = analytic[name].ravel() if idx is None else analytic[name].ravel()[idx]
        crossed = [set().union(*per) for per in zip(*(probes[m].kinks[name] for m in methods))]
        smooth = np.array([not c for c in crossed], dtype=bool)
        max_e, med_e, noise = {}, {}, {}
        for m in methods:
            n = probes[m].grads[name].ravel()
            err = relative_error(a, n)
            at_noise = smooth & (err > PASS) & (np.abs(a - n) <= ROUNDING_MARGIN * probes[m].resolution[name].ravel())
            judged = err[smooth & ~at_noise]
            noise[m] = int(at_noise.sum())
            max_e[m] = float(judged.max()) if judged.size and not np.isnan(judged).any() else math.nan
            med_e[m] = float(np.median(judged)) if judged.size else math.nan
        first_method = methods[0]
        judged_count = int(smooth.sum()) - noise[first_method]
        result.tensors.append(TensorCheck(
            tensor=name, size=arr.size, checked=len(a), kinks=int((~smooth).sum()),
            kink_sources=sorted(set().union(*crossed)), noise=noise[first_method],
            max_error=max_e, median_error=med_e,
            verdict=verdict(max_e[first_method], part.has_kinks, judged_count, int((~smooth).sum()))))
    return result


def run_checks(parts: list[Part], subject: str, *, methods: tuple[str, ...] = ("centred",),
               h: float = DEFAULT_H, samples: int = DEFAULT_SAMPLES, examples: int | None = None,
               rng: np.random.Generator) -> Report:
    """Check every part in order with one Generator, so the sampled elements are reproducible."""
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {m!r}")
    checks = [check_part(p, methods=methods, h=h, samples=samples, rng=rng) for p in parts]
    # after every gradient check, so their sampled elements are those drawn without it
    hvp = [check_hvp(p, rng, verdict) for p in parts]
    return Report(subject, tuple(methods), h, samples, examples, checks, hvp)


def gradcheck(config=None, *, subject: str = "built-ins", method: str = "centred", h: float = DEFAULT_H,
              samples: int = DEFAULT_SAMPLES, examples: int = DEFAULT_EXAMPLES, seed: int | None = None) -> Report:
    """Check every built-in part, or ``config``'s objective: the one call behind ``optlab gradcheck``.

    ``method`` is ``centred``, ``forward`` or ``both`` (centred decides the verdicts, forward is
    shown beside it). ``seed`` draws the built-ins' inputs, the config's examples and the sampled
    elements (stream "gradcheck"); it defaults to the config's seed, or 0 for the built-ins.
    Raises GradcheckInputError for bad input and GradcheckError where a part cannot be checked.
    """
    methods = METHODS if method == "both" else (method,)
    if seed is None:
        seed = config.seed if config is not None else 0
    rng = stream(seed, "gradcheck")
    if config is None:
        parts = builtin_parts(rng)
    elif not config.kind.learns_from_data:   # a surface: no layers, loss or data, nothing of a network to check
        raise GradcheckInputError(f"model surface ({config.model.function}) is a 2-D test function, not a network; "
                                  "gradcheck checks a network's objective (its gradients are tested in "
                                  "tests/test_objectives.py)")
    else:
        try:
            parts = config_parts(config, examples, rng)
        except ValueError as exc:     # e.g. a model that does not fit the data
            raise GradcheckInputError(f"cannot build the config: {exc}") from None
    return run_checks(parts, subject, methods=methods, h=h, samples=samples,
                      examples=None if config is None else examples, rng=rng)
