"""The data of report.html's interactive curves (optlab.record.html_chart), computed from the same
metrics and with the same plot controls (x-axis, smoothing, y scale and limits) as the figures."""

from __future__ import annotations

import numpy as np

from optlab.config.schema import PlotsConfig
from optlab.record.compare_stats import band
from optlab.record.figures import SPLIT_LABELS, smooth
from optlab.record.html_chart import DASHES, series
from optlab.record.plot_options import window
from optlab.record.style import color
from optlab.record.words import count


def _log(opts: PlotsConfig, kind: str, values) -> bool:
    scale = getattr(opts.y_scale, kind)
    if scale != "auto":
        return scale == "log"
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    return bool(len(v) and v.min() > 0 and v.max() / v.min() > 50)


def chart(title: str, xlabel: str, ylabel: str, kind: str, opts: PlotsConfig, items: list[dict]) -> dict:
    values = [v for s in items for v in s["y"] if v is not None]
    limits = getattr(opts.y_limits, kind)
    return {"title": title, "xlabel": xlabel, "ylabel": ylabel, "series": items,
            "ylog": _log(opts, kind, values), "ylim": limits}


def run_charts(m: dict[str, np.ndarray], x: np.ndarray, xlabel: str, opts: PlotsConfig,
               val_label: str = SPLIT_LABELS["val"], what: str = "mini-batch loss") -> list[dict]:
    """A data run's loss (``what`` it is over, smoothed as in loss.png) and accuracy (%) curves."""
    out = []
    ok = np.isfinite(m["loss"])
    if ok.sum() > 1:
        loss = m["loss"][ok]
        w = window(len(loss), opts)
        shown = smooth(loss, w) if w > 1 else loss
        name = f"{what}, smoothed ({w})" if w > 1 else what
        out.append(chart("training loss", xlabel, "loss", "loss", opts, [series(name, x[ok], shown, color(0))]))
    acc = []
    for split in opts.splits or ("train", "val"):
        a = m.get(f"{split}_acc")
        if a is not None and np.isfinite(a).any():
            good = np.isfinite(a)
            acc.append(series(val_label if split == "val" else "train", x[good], 100 * a[good],
                              color(0 if split == "val" else 1), "" if split == "val" else DASHES[1]))
    if acc:
        out.append(chart("accuracy", xlabel, "accuracy (%)", "accuracy", opts, acc))
    return out


def compare_charts(labels: list[str], trials: list[list], xlabel: str, opts: PlotsConfig, x_of,
                   record_of) -> list[dict]:
    """Per variant: the mean over seeds of the training loss (smoothed where it is a batch loss),
    and of each accuracy split (validation by default; ``plots.splits`` adds training), each with
    its ± 1 std band over seeds (the static figures' band). ``x_of(trial)``: the x of each row;
    ``record_of(kind)``: the kind's record entry (optlab.record.kinds), which names its curve."""
    loss_series, acc_series = [], []
    splits = list(opts.splits or ["val"])
    for i, (label, ts) in enumerate(zip(labels, trials)):
        kept = [t for t in ts if len(t.metrics.get("step", [])) > 1]
        if not kept:
            continue
        record = record_of(kept[0].kind)        # its loss curve: a search's best so far, a noisy batch loss...
        key, smoothed = record.curve, record.smoothed
        start = 1 if smoothed else 0            # a data run's step 0 has no batch loss
        raw = [t.metrics[key][start:] for t in kept]
        n = min(len(r) for r in raw)
        if n > 1:
            w = window(n, opts) if smoothed else 1
            mean, std = band([smooth(r[:n], w) if w > 1 else r[:n] for r in raw])
            loss_series.append(series(label, x_of(kept[0])[start: start + n], mean, color(i), DASHES[i % len(DASHES)],
                                      std))
        for split in splits:
            curves, xs = [], None
            for t in kept:
                a = t.metrics.get(f"{split}_acc")
                if a is not None and np.isfinite(a).any():
                    good = np.isfinite(a)
                    curves.append(100 * a[good])
                    if xs is None or good.sum() > len(xs):
                        xs = x_of(t)[good]
            if curves:
                mean, std = band(curves)
                name = label if len(splits) == 1 else f"{label} ({'validation' if split == 'val' else 'train'})"
                dash = DASHES[i % len(DASHES)] if len(splits) == 1 else ("" if split == "val" else DASHES[3])
                acc_series.append(series(name, xs[: len(mean)], mean, color(i), dash, std))
    out = []
    if loss_series:
        out.append(chart("training loss (mean over seeds)", xlabel, "loss", "loss", opts, loss_series))
    if acc_series:
        what = "validation accuracy" if splits == ["val"] else "accuracy"
        out.append(chart(f"{what} (mean over seeds)", xlabel, f"{what} (%)", "accuracy", opts, acc_series))
    return out


def sweep_charts(entries: list, opts: PlotsConfig, n: int = 10) -> list[dict]:
    """Validation accuracy of the ``n`` best completed trials of a sweep (leaderboard order),
    named by trial and values; against the epoch unless plots.x says otherwise."""
    from optlab.record.plot_options import examples_per_step, x_values

    items, xlabel = [], "epoch"
    best = [e for e in entries if e.score[:2] == (1, 1)][:n]
    for i, e in enumerate(best):
        m = e.trial.metrics
        acc = m.get("val_acc")
        if acc is None or not np.isfinite(acc).any():
            continue
        x, xlabel = x_values(m, opts if opts.x else opts.model_copy(update={"x": "epochs"}), "step",
                             examples_per_step(e.trial.config, e.trial.summary))
        good = np.isfinite(acc)
        values = ", ".join(f"{k.rsplit('.', 1)[-1]}={v:.3g}" if isinstance(v, float) else f"{k.rsplit('.', 1)[-1]}={v}"
                           for k, v in e.values.items())
        items.append(series(f"{e.name} ({values})", x[good], 100 * acc[good], color(i), DASHES[i % len(DASHES)]))
    return [chart(f"validation accuracy of the best {count(len(items), 'trial')}", xlabel, "validation accuracy (%)",
                  "accuracy", opts, items)] if items else []
