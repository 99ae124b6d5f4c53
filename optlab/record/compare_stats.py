"""The numbers of a comparison, read from its directory: each trial's files, and per variant the
mean ± std over seeds, steps to the target, and which variant is best.

Apart from compare_report (its tables and figures) so that sweeps and the terminal can read
trials and statistics without the rendering.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from optlab.config.kinds import RunKind, recorded_kind
from optlab.record.rundir import RunDir, read_metrics
from optlab.record.status import study_status
from optlab.record.tuning_stats import TimeToTarget, trials_to_target


@dataclass
class TrialData:
    path: Path
    status: str
    summary: dict
    metrics: dict[str, np.ndarray]
    config: dict
    meta: dict = field(default_factory=dict)

    @property
    def kind(self) -> RunKind:
        """The kind of run the trial is (optlab.config.kinds.recorded_kind)."""
        return recorded_kind(self.summary, self.meta, self.config)


def load_trial(path: Path) -> TrialData:
    """What a trial's run directory holds; missing files read as empty (an interrupted trial)."""
    rd = RunDir(path)
    meta = rd.read_json("meta.json") if (path / "meta.json").exists() else {}
    summary = rd.read_json("summary.json") if (path / "summary.json").exists() else {}
    metrics = {}
    if (path / "metrics.csv").exists():
        metrics = {k: np.asarray(v) for k, v in read_metrics(path / "metrics.csv").items()}
    size = summary.get("examples_per_eval")
    if size and "loss_evals" in metrics:   # every evaluation of a run forwards the same number of examples
        metrics["examples"] = metrics["loss_evals"] * float(size)
    return TrialData(path, summary.get("status") or meta.get("status", "missing"), summary, metrics,
                     rd.read_config(), meta)


# ------------------------------------------------------------------------------------------------
# statistics over seeds
# ------------------------------------------------------------------------------------------------
def mean_std(values: list) -> tuple[float | None, float | None]:
    """Mean and sample std (n - 1) of the finite values; std None for one value, both None for none."""
    x = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if len(x) == 0:
        return None, None
    return float(x.mean()), (float(x.std(ddof=1)) if len(x) > 1 else None)


def steps_to(metrics: dict[str, np.ndarray], target: float) -> int | None:
    """The first evaluated step at which validation accuracy reaches ``target``, or None."""
    acc = metrics.get("val_acc")
    if acc is None:
        return None
    hit = np.flatnonzero(np.isfinite(acc) & (acc >= target))
    return int(metrics["step"][hit[0]]) if len(hit) else None


def target_stats(trials: list[TrialData], target: float) -> tuple[list[int | None], TimeToTarget]:
    """Steps to target per seed and their summary (optlab.record.tuning_stats.trials_to_target)."""
    steps = [steps_to(t.metrics, target) for t in trials]
    return steps, trials_to_target(steps, [t.metrics for t in trials], [t.config for t in trials])


def _acc(summary: dict, split: str, key: str):
    return ((summary.get("accuracy") or {}).get(split) or {}).get(key)


@dataclass
class VariantStats:
    label: str
    lr: float | None
    n: int
    statuses: list[str]
    final_loss: tuple
    final_val: tuple
    peak_val: tuple
    peak_step: int | None
    test: tuple
    reached: list[int | None] | None   # steps to target per seed (None: not reached); None: no target
    ttt: TimeToTarget | None            # their median and bootstrap interval (optlab.record.tuning_stats)
    wall: tuple
    distance: tuple                    # surfaces: distance of the end point to the minimum
    end: tuple[float, float] | None    # surfaces: the end point of the first seed's path
    surface: bool                      # a path on a 2-D objective, not a network learning from data

    @property
    def all_completed(self) -> bool:
        return self.n > 0 and all(s == "completed" for s in self.statuses)


def variant_stats(label: str, trials: list[TrialData], target: float | None) -> VariantStats:
    s = [t.summary for t in trials]
    peak_steps = sorted(x for x in (_acc(x, "val", "peak_step") for x in s) if x is not None)
    # a random or local search has no learning rate: its optimizer section is never used
    lr = next((t.config.get("optimizer", {}).get("lr") for t in trials if t.config and t.kind.uses_optimizer), None)
    end = next((tuple(x["end"]) for x in s if x.get("end")), None)
    reached, ttt = target_stats(trials, target) if target is not None else (None, None)
    return VariantStats(
        label=label, lr=lr, n=len(trials), statuses=[t.status for t in trials],
        final_loss=mean_std([x.get("final_train_loss") for x in s]),
        final_val=mean_std([_acc(x, "val", "final") for x in s]),
        peak_val=mean_std([_acc(x, "val", "peak") for x in s]),
        peak_step=peak_steps[(len(peak_steps) - 1) // 2] if peak_steps else None,   # the lower median
        test=mean_std([_acc(x, "test", "final") for x in s]),
        reached=reached, ttt=ttt,
        wall=mean_std([x.get("wall_time_s") for x in s]),
        distance=mean_std([x.get("distance_to_minimum") for x in s]),
        end=end,
        surface=any(not t.kind.learns_from_data for t in trials),
    )


def best_index(stats: list[VariantStats]) -> int | None:
    """The best variant (see the module docstring), or None when no variant qualifies."""
    done = [i for i, v in enumerate(stats) if v.all_completed]
    with_acc = [i for i in done if stats[i].final_val[0] is not None]
    if with_acc:
        def key(i: int) -> tuple:   # ties on accuracy go to the lower final loss
            loss = stats[i].final_loss[0]
            return stats[i].final_val[0], -(math.inf if loss is None else loss)

        return max(with_acc, key=key)
    with_loss = [i for i in done if stats[i].final_loss[0] is not None]
    return min(with_loss, key=lambda i: stats[i].final_loss[0]) if with_loss else None


# ------------------------------------------------------------------------------------------------
# tables
# ------------------------------------------------------------------------------------------------


def load_compare(path: Path) -> tuple[dict, list[str], list[list[TrialData]]]:
    """(manifest, variant labels, each variant's final trials that exist on disk)."""
    manifest = RunDir(path).read_json("compare.json")
    manifest["status"] = study_status(manifest)   # "running" with its process gone: died
    labels = [e["label"] for e in manifest["variants"]]
    trials = [[load_trial(path / d) for d in e["trials"] if (path / d / "config.yaml").exists()]
              for e in manifest["variants"]]
    return manifest, labels, trials


def compare_stats(path: Path) -> tuple[dict, list[VariantStats]]:
    manifest, labels, trials = load_compare(path)
    return manifest, [variant_stats(label, t, manifest.get("target")) for label, t in zip(labels, trials)]


def _stack(curves: list[np.ndarray]) -> np.ndarray:
    """Curves of unequal length (a diverged seed stops early) as rows padded with NaN."""
    n = max(len(c) for c in curves)
    out = np.full((len(curves), n), np.nan)
    for i, c in enumerate(curves):
        out[i, : len(c)] = c
    return out


def band(curves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample std (n - 1) over seeds at each point, from the seeds that have a value there
    (std 0 where only one has)."""
    stacked = _stack(curves)
    ok = np.isfinite(stacked)
    count = ok.sum(axis=0)
    filled = np.where(ok, stacked, 0.0)
    mean = np.divide(filled.sum(axis=0), count, out=np.full(stacked.shape[1], np.nan), where=count > 0)
    dev = np.where(ok, stacked - mean, 0.0)
    var = np.divide((dev * dev).sum(axis=0), count - 1, out=np.zeros(stacked.shape[1]), where=count > 1)
    return mean, np.sqrt(var)
