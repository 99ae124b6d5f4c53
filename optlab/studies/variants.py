"""What a comparison compares: command-line words -> variants of one config, validated.

A variant is the base config plus a list of ``key=value`` overrides, so every variant is
validated (and every mistake located) by the same loader as ``optlab train`` (optlab.config.loading):

- optimizer form, ``sgd momentum adam:lr=0.003,beta1=0.8``: each variant sets the whole
  ``optimizer`` section to that optimizer's settings from the config — its entry in
  ``compare.optimizers``, else the config's ``optimizer`` if it is the same optimizer, else
  optlab's defaults (optlab.engine.hyper, DLFS ch. 6) — then applies ``name:key=value`` on top. The
  training techniques in the optimizer section (``TECHNIQUES``: schedule, weight decay, clipping)
  are the config's for every optimizer compared, unless its ``compare.optimizers`` entry sets
  them: they are part of the training set-up, not of the optimizer's rule;
- ``--vary KEY=V1,V2,...``: each variant overrides one config key (``--vary optimizer=sgd,adam``
  is the optimizer form);
- the config's ``compare.variants`` (when the command line names none): each named variant sets
  its own keys, e.g. the hiker's three strategies, each with its own settings, on one model.

Order of application: what the config gives the variant (its optimizer section, its
``compare.variants`` settings), then the overrides the command line gives for all
(``train.iterations=500``), so a key typed for every variant reaches every variant, then the
variant's own ``name:key=value``, the most specific word of the command line last. A variant
the override cannot apply to (``optimizer.beta1=0.8`` for an SGD variant) is refused naming the
override and the variant. Bad input raises :class:`optlab.config.loading.ConfigError` (the CLI exits 2).
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from optlab.config.loading import ConfigError, Problem, load_config, parse_override
from optlab.config.plugins import names
from optlab.config.schema import Config
from optlab.engine.optimizers import lookup

OPTIMIZER_KEYS = (("optimizer",), ("optimizer", "name"))   # --vary keys meaning the optimizer form
_HYPER_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Variant:
    label: str                    # as the user wrote it: "adam:lr=0.003", "xavier"
    overrides: tuple[str, ...]    # applied to the config file in this order
    config: Config                # the validated result (root seed of the config)


def is_override(word: str) -> bool:
    """``train.iterations=500`` is an override; ``adam`` and ``adam:lr=0.003`` name optimizers."""
    eq, colon = word.find("="), word.find(":")
    return eq != -1 and (colon == -1 or eq < colon)


def split_values(text: str) -> list[str]:
    """``he,xavier`` -> ``["he", "xavier"]``; commas inside [...] or {...} do not split."""
    parts, depth, current = [], 0, []
    for ch in text:
        depth += (ch in "[{") - (ch in "]}")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def _optimizer_spec(spec: str) -> tuple[str, list[str]]:
    """``adam:lr=0.003,beta1=0.8`` -> ("adam", ["optimizer.lr=0.003", "optimizer.beta1=0.8"])."""
    where = f"variant {spec!r}"
    name, sep, rest = spec.partition(":")
    name = name.strip()
    known = names()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError([Problem(where, "", f"unknown optimizer {name!r}{hint} (valid: {', '.join(known)})")])
    overrides = []
    for pair in (split_values(rest) if sep else []):
        key, eq, value = pair.partition("=")
        if not eq or not _HYPER_KEY.match(key.strip()) or not value.strip():
            raise ConfigError([Problem(where, "", f"expected {name}:KEY=VALUE[,KEY=VALUE...], e.g. adam:lr=0.003; "
                                                  f"got {pair!r}")])
        overrides.append(f"optimizer.{key.strip()}={value.strip()}")
    return name, overrides


# Keys of every optimizer section that the training loop applies around any rule (optlab.engine.optimizers,
# optlab.engine.schedules): a comparison of optimizers keeps the config's unless an entry sets its own.
TECHNIQUES = ("weight_decay", "clip_norm", "schedule")


def optimizer_section(base: Config, name: str) -> dict:
    """The settings optimizer ``name`` gets in a comparison (see the module docstring)."""
    # only what the config sets, and only the keys the rule has: adamw keeps its own default decay,
    # lbfgs takes no clipping or decay
    try:
        has = {*lookup(name).hyper_names, "schedule"}
    except KeyError:                  # a user's rule not loaded yet: its section is checked later
        has = set(TECHNIQUES)
    shared = base.optimizer.model_dump(include={k for k in TECHNIQUES if k in base.optimizer.model_fields_set
                                                and k in has})
    for entry in base.compare.optimizers:
        if entry.name == name:
            own = entry.model_dump()
            return {**own, **{k: v for k, v in shared.items() if k not in entry.model_fields_set}}
    if base.optimizer.name == name:
        return base.optimizer.model_dump()
    return {"name": name, **shared}


def _load_variant(path: Path, label: str, overrides: list[str], own: set[str], where: str) -> Variant | list[Problem]:
    """Validate one variant; problems caused by its own overrides are shown at ``where``."""
    try:
        return Variant(label, tuple(overrides), load_config(path, overrides))
    except ConfigError as exc:
        own_where = {f"override {text!r}" for text in own}
        return [Problem(where, p.key, p.message) if p.where in own_where else p for p in exc.problems]


def _key_conflicts(key: tuple[str, ...], overrides: list[str]) -> list[Problem]:
    """Overrides for all that would undo what is compared: the key, a section holding it, or a
    key inside it (except optimizer.lr and the like, which every compared optimizer takes)."""
    out = []
    for text in overrides:
        other, _ = parse_override(text)
        n = min(len(key), len(other))
        clash = other in OPTIMIZER_KEYS if key in OPTIMIZER_KEYS else key[:n] == other[:n]
        if clash:
            out.append(Problem(f"override {text!r}", ".".join(other),
                               f"conflicts with what is compared ({'.'.join(key)}); drop one of them"))
    return out


def build_variants(path: Path, words: list[str], vary: str | None = None,
                   own: tuple[list[str], str | None] | None = None) -> tuple[Config, str, list[Variant]]:
    """(base config, what is varied, variants) from the command line's words and ``--vary``.

    ``words`` mixes optimizer specs and ``KEY=VALUE`` overrides (told apart by
    :func:`is_override`). With neither specs nor ``--vary``, the config's ``compare.variants``
    are compared, else its ``compare.optimizers``, else ``own``: the optimizer specs and
    ``--vary`` of the recipe's own command (a comparison recipe: optlab.config.recipes).
    """
    path = Path(path)
    overrides = [w for w in words if is_override(w)]
    specs = [w for w in words if not is_override(w)]
    base = load_config(path, overrides)
    if own is not None and not specs and vary is None and not base.compare.variants and not base.compare.optimizers:
        specs, vary = list(own[0]), own[1]

    key: tuple[str, ...] = ("optimizer",)
    values: list[str] = specs
    if vary is not None:
        if specs:
            raise ConfigError([Problem("--vary", "", f"compare optimizers ({' '.join(specs)}) or --vary, not both")])
        text, eq, rest = vary.partition("=")
        if not eq:
            raise ConfigError([Problem("--vary", "", f"expected --vary KEY=V1,V2,..., e.g. --vary model.init=xavier,he; "
                                                     f"got {vary!r}")])
        try:
            key, _ = parse_override(f"{text}=0")
        except ConfigError as exc:
            raise ConfigError([Problem("--vary", text, exc.problems[0].message)]) from None
        values = split_values(rest)
        if not rest.strip() or any(not v for v in values):
            raise ConfigError([Problem("--vary", ".".join(key), "empty value in the list: give V1,V2,... after '='")])
    elif not specs and base.compare.variants:
        return base, "variant", _named_variants(path, base, overrides)
    elif not specs:
        values = [entry.name for entry in base.compare.optimizers]
        if not values:
            raise ConfigError([Problem("", "", "nothing to compare: name optimizers (optlab compare sgd adam ...), "
                                               "give --vary KEY=V1,V2,..., or list compare.optimizers or compare.variants in the config")])
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise ConfigError([Problem("--vary" if vary else "", ".".join(key), f"given more than once: {', '.join(twice)}")])
    problems = _key_conflicts(key, overrides)
    if problems:
        raise ConfigError(problems)

    results: list[Variant | list[Problem]] = []
    if key in OPTIMIZER_KEYS:
        varied = "optimizer"
        for spec in values:
            try:
                name, own = _optimizer_spec(spec)
            except ConfigError as exc:
                results.append(exc.problems)
                continue
            section = f"optimizer={json.dumps(optimizer_section(base, name))}"
            results.append(_load_variant(path, spec, [section, *overrides, *own], {section, *own}, f"variant {spec!r}"))
    else:
        varied = ".".join(key)
        for value in values:
            own = f"{varied}={value}"
            results.append(_load_variant(path, value, [*overrides, own], {own}, "--vary"))
    problems = [p for r in results if isinstance(r, list) for p in r]
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))   # each problem once, in order
    return base, varied, [r for r in results if isinstance(r, Variant)]


def _named_variants(path: Path, base: Config, overrides: list[str]) -> list[Variant]:
    """The config's ``compare.variants``: each sets its own keys, then the overrides for all (the
    command line wins over the config). An override a variant cannot take names both."""
    results: list[Variant | list[Problem]] = []
    for label, settings in base.compare.variants.items():
        own = [f"{key}={json.dumps(value)}" for key, value in settings.items()]
        where = f"compare.variants.{label}"
        loaded = _load_variant(path, label, [*own, *overrides], set(own), where)
        if isinstance(loaded, list):
            mentioned = {f"override {text!r}" for text in overrides}
            loaded = [Problem(f"{p.where} with {where}", p.key, p.message) if p.where in mentioned else p
                      for p in loaded]
        results.append(loaded)
    problems = [p for r in results if isinstance(r, list) for p in r]
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    return [r for r in results if isinstance(r, Variant)]


# compare's options that take no value; every other option in a recipe's command takes one
_COMPARE_FLAGS = {"-q", "--quiet", "--debug", "--trial-figures", "--no-trial-figures", "--tensorboard"}


def own_comparison(path: Path) -> tuple[list[str], str | None] | None:
    """What a comparison recipe compares by its own command (its first ``# Command:`` line,
    optlab.config.recipes): the optimizers it names and its ``--vary``, so that
    ``optlab compare --config NAME`` runs that comparison; None for a config of another kind."""
    import shlex

    from optlab.config.recipes import parse_header

    try:
        commands = parse_header(Path(path).read_text(encoding="utf-8"))["command"]
        argv = shlex.split(commands[0]) if commands else []
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if argv[:2] != ["optlab", "compare"]:
        return None
    specs: list[str] = []
    vary: str | None = None
    args = iter(argv[2:])
    for arg in args:
        if arg == "--vary":
            vary = next(args, None)
        elif arg.startswith("--vary="):
            vary = arg.split("=", 1)[1]
        elif arg.startswith("-"):
            if arg not in _COMPARE_FLAGS and "=" not in arg:
                next(args, None)      # the option's value
        elif not is_override(arg):
            specs.append(arg)
    return (specs, vary) if specs or vary else None
