"""The plot controls (the config's ``plots`` section) as the figures apply them: which metrics
column is the x-axis, how the y-axis is scaled and limited, how much a loss curve is smoothed.

A directory's own config.yaml gives them (a run's, or a study's base config); ``optlab report DIR
plots.x=epochs`` overrides them for one rendering without changing the run's files.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Iterable

import numpy as np

from optlab.config.loading import ConfigError, Problem, apply_override, explain, parse_override
from optlab.config.schema import PlotsConfig
from optlab.record.rundir import RunDir

# plots.x -> (metrics column, axis label); "examples" is derived (steps x mini-batch)
X_COLUMNS = {"steps": ("step", "step"), "epochs": ("epoch", "epoch"), "seconds": ("time", "wall time (s)"),
             "evaluations": ("loss_evals", "loss evaluations"), "examples": (None, "training examples seen")}
AUTO_LOG_SPAN = 50       # a loss spanning more than this factor is drawn on a log axis (y_scale auto)


def plot_options(path: Path, overrides: Iterable[str] = (), config: dict | None = None) -> PlotsConfig:
    """The ``plots`` section of ``path/config.yaml`` (defaults where absent) with ``overrides``
    (``plots.KEY=VALUE`` only) applied; ConfigError names a bad override. ``config``: that file
    as a mapping, when the caller has read it (RunDir.read_config)."""
    # a copy: the overrides below are applied in place and must not reach the caller's mapping
    raw = copy.deepcopy((RunDir(path).read_config() if config is None else config).get("plots") or {})
    source = Path(path) / "config.yaml"     # where a bad override's problem is said to be
    problems, origin = [], {}
    for text in overrides:
        where = f"override {text!r}"
        try:
            key, value = parse_override(text)
        except ConfigError as exc:
            problems += exc.problems
            continue
        if key[0] != "plots" or len(key) < 2:
            problems.append(Problem(where, ".".join(key), "a report redraws: only plots.* keys can be set here "
                                                          "(e.g. plots.x=epochs, plots.y_limits.accuracy=[80,90])"))
            continue
        apply_override(raw, key[1:], value, where)
        origin[key[1]] = where
    if problems:
        raise ConfigError(problems)
    try:
        return PlotsConfig.model_validate(raw)
    except Exception as exc:   # pydantic's ValidationError: one problem per error
        errors = exc.errors() if hasattr(exc, "errors") else [{"loc": (), "msg": str(exc)}]
        raise ConfigError([Problem(origin.get(str(e["loc"][0]) if e["loc"] else "", str(source)),
                                   "plots." + ".".join(map(str, e["loc"])),
                                   explain(e, "plots") if "type" in e else e["msg"]) for e in errors]) from None


def x_values(metrics: dict[str, np.ndarray], opts: PlotsConfig, default: str = "step",
             examples_per_step: float | None = None) -> tuple[np.ndarray, str]:
    """(x of every metrics row, axis label) for ``opts.x``; ``default`` (a column) when unset.

    A column the metrics lack (a surface has no epochs) falls back to ``default``, the label saying
    so. ``examples``: the step (or, for a search, the loss evaluation) times ``examples_per_step``.
    """
    shown = {"loss_evals": "loss evaluations", "examples": "examples forwarded (loss evaluations × their size)"}
    if opts.x is None:
        return metrics[default], shown.get(default, default)
    column, label = X_COLUMNS[opts.x]
    if opts.x == "examples" and default == "examples":   # a search comparison: already examples (#15)
        return metrics["examples"], label
    if opts.x == "examples":
        if examples_per_step:
            return metrics[default] * examples_per_step, label
        column = None
    if column is None or column not in metrics:
        return metrics[default], f"{shown.get(default, default)} ({opts.x} not recorded)"
    return metrics[column], label


def examples_per_step(config: dict, summary: dict | None) -> float | None:
    """Examples behind each step (or loss evaluation): the summary's, else the config's batch size."""
    if summary and summary.get("examples_per_eval"):
        return float(summary["examples_per_eval"])
    train = (config or {}).get("train") or {}
    return float(train["batch_size"]) if train.get("batch_size") else None


def window(n: int, opts: PlotsConfig) -> int:
    """Smoothing window (odd) of a curve of ``n`` points: plots.smooth, else about 1 % of it, >= 11."""
    w = opts.smooth if opts.smooth is not None else max(11, (n // 100) | 1)
    return w | 1


def finish_y(ax, kind: str, opts: PlotsConfig, values: Iterable[float] = ()) -> None:
    """Scale and limit the y-axis of a ``kind`` ("loss" or "accuracy") figure as ``opts`` says;
    ``values``: what is drawn, for the automatic log scale."""
    scale = getattr(opts.y_scale, kind)
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if scale == "auto":
        scale = "log" if len(v) and v.min() > 0 and v.max() / v.min() > AUTO_LOG_SPAN else "linear"
    if scale == "log" and (not len(v) or v.max() > 0):
        from matplotlib.ticker import LogFormatter

        ax.set_yscale("log")
        # matplotlib's log labels are mathtext ($10^{-1}$), which the style's plain text shows raw
        ax.yaxis.set_major_formatter(LogFormatter(10))
        ax.yaxis.set_minor_formatter(LogFormatter(10, labelOnlyBase=False))
    limits = getattr(opts.y_limits, kind)
    if limits is not None:
        ax.set_ylim(*limits)
