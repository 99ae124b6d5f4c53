"""The optimizer registry: name -> class, whether built in, from a user's file or from an installed package.

- **built in**: every module of this package (but base, registry, wrappers, conformance and
  ``_*.py``, code rules share) defines one rule, an :class:`Optimizer` subclass whose ``name`` is
  the module's; :func:`builtin` imports them all, so adding a rule is adding a file.
- **a user's**: from a file (``optimizer: {name: mylion, from: ./mylion.py}``) or an installed
  package's entry point (group ``optlab.optimizers``), found by optlab.config.plugins, which
  :func:`register` s them here.

Everything else that knows optimizers asks here: the config schema (one section per rule, made
from its hyper-parameters), CLI help and ``optlab optimizers``, the sweep's search space (which
keys each rule has), the stability thresholds of optlab.engine.hessian, memory estimates (slots).

How the rules of 2018-2025 fit (the interface is optlab.engine.optimizers.base):

- elementwise rules (NAdam, RAdam, Lion, ...): one file each, ``access = "elementwise"``; the
  whole-buffer fast path applies as it does to Adam. Lion's decoupled decay is the default chain's.
- Muon: ``access = "tensor"``: ``step`` sees each tensor with its shape, runs Newton-Schulz on the
  2-D ones and AdamW on the rest; ``slots_for(name, W)`` gives matrices and vectors their own slots.
- Schedule-Free: x (evaluation) and z are slots beside the parameters y; its own decay replaces
  the chain (``transforms = (ClipByGlobalNorm,)``); the training loop swaps x in to evaluate.
- L-BFGS: ``access = "vector"``: ``step(w, g, closure=...)`` on the whole flat vector, the
  closure re-evaluating loss and gradient for its line search; its history is state it saves by
  extending ``state_dict``/``load_state_dict``.

A class is checked when it is registered (:func:`check_class`): a name, a ``step`` whose
arguments are ``W, g`` and the slots, defaults inside their ranges. A broken plugin is a
:class:`PluginError` naming the file and the reason.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

from optlab.engine.optimizers.base import ACCESS, Optimizer

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_NOT_RULES = {"base", "registry", "wrappers", "conformance"}

_builtin: dict[str, type[Optimizer]] = {}
_plugins: dict[str, type[Optimizer]] = {}     # users' rules registered in this process


class PluginError(ValueError):
    """A user's optimizer that cannot be used: ``where`` (file or entry point) and why."""

    def __init__(self, where: str, reason: str) -> None:
        self.where, self.reason = where, reason
        super().__init__(f"{where}: {reason}")


def builtin() -> dict[str, type[Optimizer]]:
    """The rules optlab ships, oldest first."""
    if not _builtin:
        package = importlib.import_module("optlab.engine.optimizers")
        found = []
        for module in pkgutil.iter_modules(package.__path__):
            if module.name not in _NOT_RULES and not module.name.startswith("_"):   # _x.py: shared code
                rules = _rules_in(importlib.import_module(f"{package.__name__}.{module.name}"))
                if [cls.name for cls in rules] != [module.name]:   # help texts list the modules (optlab.cli.common)
                    raise RuntimeError(f"optlab/engine/optimizers/{module.name}.py must define one optimizer "
                                       f"named {module.name!r}, not {[cls.name for cls in rules]}")
                found += rules
        for cls in sorted(found, key=lambda c: (c.year, c.name)):
            _builtin[cls.name] = cls
    return _builtin


def _rules_in(module) -> list[type[Optimizer]]:
    """The rules a module defines (not those it imports)."""
    return [obj for obj in vars(module).values()
            if isinstance(obj, type) and issubclass(obj, Optimizer) and obj.__module__ == module.__name__
            and obj.name]


def lookup(name: str) -> type[Optimizer]:
    """The rule called ``name``: built in or registered in this process. KeyError (with the known
    names) when there is none."""
    if name in builtin():
        return _builtin[name]
    if name in _plugins:
        return _plugins[name]
    raise KeyError(f"unknown optimizer {name!r} (known: {', '.join(known())})")


def known() -> dict[str, type[Optimizer]]:
    """Every rule known in this process: built-in, then registered."""
    return {**builtin(), **_plugins}


def register(cls: type[Optimizer], where: str) -> type[Optimizer]:
    """Make a user's rule known by its name in this process (after :func:`check_class`); a later
    registration of the same name replaces it (the file was edited, or another file has it)."""
    check_class(cls, where)
    if cls.name in builtin() and _builtin[cls.name] is not cls:
        raise PluginError(where, f"the name {cls.name!r} is a built-in optimizer's; choose another")
    cls.found_in = where
    _plugins[cls.name] = cls
    return cls


def check_class(cls: object, where: str) -> None:
    """PluginError unless ``cls`` is a usable rule: an Optimizer subclass with a lower-case name,
    a ``step(self, W, g, <slots>)``, a known ``access`` and defaults inside their ranges."""
    if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
        raise PluginError(where, f"{cls!r} is not a subclass of optlab.engine.optimizers.Optimizer")
    if not isinstance(cls.name, str) or not _NAME.match(cls.name):
        raise PluginError(where, f"needs a class attribute name = 'lower_case_name' (got {cls.name!r})")
    if cls.step is Optimizer.step:
        raise PluginError(where, "has no step method: define step(self, W, g, <one argument per slot>)")
    if cls.access not in ACCESS:
        raise PluginError(where, f"access must be one of {', '.join(ACCESS)} (got {cls.access!r})")
    try:
        params = list(inspect.signature(cls.step).parameters.values())[1:]
    except (TypeError, ValueError):
        raise PluginError(where, "step is not a function") from None
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    rest = [p for p in params[2:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
    missing = [s for s in cls.slots if s not in {p.name for p in rest} and not takes_any]
    extra = [p.name for p in rest if p.default is p.empty and p.name not in cls.slots
             and not (cls.access == "vector" and p.name == "closure")]
    if len(positional) < 2 or missing or extra:
        shown = ", ".join(["self", *(p.name for p in params)])
        raise PluginError(where, f"step must be step(self, W, g{''.join(', ' + s for s in cls.slots)}): the "
                                 f"parameters, the gradient and one argument per slot in slots = {tuple(cls.slots)!r}; "
                                 f"got step({shown})")
    for key, h in cls.hypers.items():
        try:
            h.check(key, h.default)
        except ValueError as exc:
            raise PluginError(where, f"hyper-parameter default: {exc}") from None


def build_optimizer(name: str, **hyper: float | None) -> Optimizer:
    """The rule called ``name`` with these hyper-parameters (the others at their defaults)."""
    return lookup(name)(**hyper)
