"""Checkpoints: everything a run needs to continue exactly where it stopped.

``checkpoint.npz`` (written atomically through :class:`optlab.record.rundir.RunDir`, read with
``allow_pickle=False``) holds

- ``params`` and ``buffers``: the model's flat parameter vector and its buffers (batch norm's
  running statistics; empty for a model without them);
- ``optimizer/<slot>/<tensor>`` and ``optimizer/t``: the optimizer's state (velocities, moments,
  step count) from :meth:`Optimizer.state_dict`;
- ``sampler_order``: the current epoch's permutation of the training set;
- ``info``: JSON with the format number, the optlab and numpy versions, the resolved config, the
  step, the sampler's epoch and offset, ``bit_generator.state`` of every Generator the run handed
  out (:class:`optlab.engine.rng.Streams`: mini-batch order, dropout masks) and the
  loop's own state (initial loss, best-so-far accuracies, elapsed time);
- ``<part>/<key>`` arrays and ``info["extra"][part]`` values: the state of the loop's other parts
  with memory (``schedule``: plateau's factor and watch; ``early_stopping``: its watch and the copy
  of the best weights), from each part's ``state_dict``.

Reading is bounded (optlab.record.bounded_npz): before any member is inflated, its declared
size and its ``.npy`` header's shape must fit what the run's config can need (:func:`size_limit`),
so a 1.5 MB member that would inflate to 1.5 GB is refused; only numeric arrays are read (no
pickles, no objects).

Restoring all of it makes a resumed run bit-identical to one that was never stopped. A checkpoint
is refused, with a message naming each difference, when it comes from another config (except
the run's length and checkpoint interval, which ``--resume`` may change) or from another optlab
or numpy version (either could change the numbers, and then "resumed" would silently mean
"different").
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import optlab
from optlab.record.bounded_npz import read_npz
from optlab.record.rundir import METRIC_COLUMNS, RunDir
from optlab.record.status import run_status

NAME = "checkpoint.npz"
FORMAT = 2   # 2: model buffers and the loop parts' state (schedule, early stopping)
# Keys a resumed run may change: how long it runs and how often it checkpoints. Anything else
# would make the continuation a different experiment.
RESUMABLE_KEYS = ("train.iterations", "train.epochs", "train.checkpoint_every")
# Sections that change how results are drawn and logged, never a number: free to differ (and absent
# from checkpoints written before they existed).
PRESENTATION_SECTIONS = ("plots.", "logging.")
RESUMABLE_STATUSES = ("interrupted", "pruned", "completed", "failed", "died")


class CheckpointError(Exception):
    """A run cannot be resumed: no checkpoint, a different config or version, nothing to do."""


@dataclass
class Checkpoint:
    step: int
    info: dict[str, Any]
    params: np.ndarray
    optimizer: dict[str, np.ndarray]
    sampler_order: np.ndarray
    buffers: np.ndarray
    extra: dict[str, dict[str, Any]]       # part -> its state_dict (arrays and JSON values)

    @property
    def loop(self) -> dict[str, Any]:
        return self.info["loop"]


def save(rd: RunDir, *, step: int, config: Any, model: Any, optimizer: Any, sampler: Any, streams: Any,
         loop: dict[str, Any], extra: dict[str, dict[str, Any]] | None = None) -> None:
    """Write ``checkpoint.npz`` for the state after ``step`` (atomically: a kill keeps the old one).

    ``extra``: ``{part: state_dict}`` of the loop's other stateful parts; arrays in a state go
    into the npz as ``part/key``, everything else into the JSON info.
    """
    sampler_state = sampler.state_dict()
    extra = extra or {}
    info = {
        "format": FORMAT,
        "optlab": optlab.__version__,
        "numpy": np.__version__,
        "config": config.model_dump(mode="json"),
        "step": step,
        "sampler": {"epoch": sampler_state["epoch"], "offset": sampler_state["offset"]},
        "streams": streams.states(),
        "loop": loop,
        "extra": {part: {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
                  for part, state in extra.items()},
    }
    arrays = {"params": model.flat_params.copy(), "buffers": model.flat_buffers.copy(),
              "sampler_order": sampler_state["order"], "info": np.array(json.dumps(info))}
    arrays.update({f"{part}/{k}": v for part, state in extra.items() for k, v in state.items()
                   if isinstance(v, np.ndarray)})
    arrays.update({f"optimizer/{key}": value for key, value in optimizer.state_dict().items()})
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    rd.write_bytes(NAME, buf.getvalue())


_REQUIRED_INFO = {"format": int, "step": int, "config": dict, "sampler": dict, "streams": dict, "loop": dict}


def size_limit(config: Any) -> int:
    """The most a checkpoint of ``config`` can hold, generously: every array of the model in
    float64, twice over per optimizer state vector (at least 8 copies), the sampler's order, and 64 MB."""
    from optlab.engine.optimizers import lookup
    from optlab.training.memory import data_shape, parameter_count

    _, _, examples, _ = data_shape(config)
    vectors = max(8, 2 * lookup(config.optimizer.name).state_vectors(config.optimizer.model_dump()))
    return vectors * parameter_count(config) * 8 + 16 * examples + 64 * 1024 * 1024


def load(path: Path, limit: int = 1 << 34) -> Checkpoint:
    """Read a checkpoint file; :class:`CheckpointError` if it is missing, unreadable, larger than
    ``limit`` bytes inflated, or lacks any part a checkpoint has."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint" + (" (a symbolic link is not one)" if path.is_symlink() else ""))
    try:
        arrays = read_npz(path, limit, "a checkpoint of this config")
        if "info" not in arrays or "params" not in arrays or "sampler_order" not in arrays:
            missing = sorted({"info", "params", "sampler_order"} - set(arrays))
            raise KeyError(f"no {', '.join(missing)}")
        info = json.loads(str(arrays.pop("info")))
        if not isinstance(info, dict):
            raise ValueError("info is not a mapping")
        for key, kind in _REQUIRED_INFO.items():
            if not isinstance(info.get(key), kind) or isinstance(info.get(key), bool):
                raise ValueError(f"info.{key} is missing or not a {kind.__name__}")
        optimizer = {k.removeprefix("optimizer/"): v for k, v in arrays.items() if k.startswith("optimizer/")}
        extra_info = info.get("extra", {})
        extra = {part: dict(values) for part, values in extra_info.items()} if isinstance(extra_info, dict) else {}
        for key, value in arrays.items():
            part, _, name = key.partition("/")
            if part in extra:
                extra[part][name] = value
        return Checkpoint(int(info["step"]), info, arrays["params"], optimizer, arrays["sampler_order"],
                          arrays.get("buffers", np.zeros(0)), extra)   # format 1 had none
    except Exception as exc:   # any damage (zip, npy, JSON, missing entries) is "unreadable"
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc})") from None


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def differences(saved: dict, current: dict) -> list[str]:
    """``"optimizer.lr: 0.01 in the checkpoint, 0.02 now"`` for every key that differs."""
    a, b = _flatten(saved), _flatten(current)
    out = []
    for key in sorted(set(a) | set(b)):
        if key in RESUMABLE_KEYS or key.startswith(PRESENTATION_SECTIONS) or a.get(key, "<absent>") == b.get(key, "<absent>"):
            continue
        out.append(f"{key}: {a.get(key, '<absent>')!r} in the checkpoint, {b.get(key, '<absent>')!r} now")
    return out


def check_compatible(ckpt: Checkpoint, config: Any) -> None:
    """:class:`CheckpointError` naming every difference that would break bit-identical resumption."""
    info, problems = ckpt.info, []
    if info.get("format") != FORMAT:
        problems.append(f"checkpoint format {info.get('format')}, this optlab reads format {FORMAT}")
    if info.get("optlab") != optlab.__version__:
        problems.append(f"written by optlab {info.get('optlab')}, this is optlab {optlab.__version__}")
    if info.get("numpy") != np.__version__:
        problems.append(f"written with numpy {info.get('numpy')}, this is numpy {np.__version__} "
                        "(random streams and arithmetic may differ)")
    problems += differences(info.get("config", {}), config.model_dump(mode="json"))
    if problems:
        raise CheckpointError("the checkpoint does not match this run:\n  " + "\n  ".join(problems))


def prepare_resume(run_dir: Path, config: Any) -> Checkpoint:
    """The checkpoint to resume ``run_dir`` from, after checking that resuming makes sense."""
    run_dir = Path(run_dir)
    if not (run_dir / "meta.json").is_file():
        raise CheckpointError(f"{run_dir}: not a run directory (no meta.json)")
    meta = check_meta(run_dir)
    status = run_status(run_dir)
    if status == "running":
        raise CheckpointError(f"{run_dir}: the run is still running (pid {meta.get('pid')} on {meta.get('host')})")
    if status not in RESUMABLE_STATUSES:
        hint = "; start a new run with a smaller optimizer.lr" if status == "diverged" else ""
        raise CheckpointError(f"{run_dir}: a {status} run cannot be resumed{hint}")
    if not (run_dir / NAME).is_file():
        raise CheckpointError(f"{run_dir}: no {NAME}: the run stopped before one was written "
                              "(set train.checkpoint_every to write them periodically)")
    ckpt = load(run_dir / NAME, size_limit(config))
    check_compatible(ckpt, config)
    return ckpt


def check_tables(run_dir: Path) -> None:
    """metrics.csv (and diagnostics.csv, if any) must be regular files whose every complete row
    has the header's width and a step number first: a resume cuts them at the checkpoint."""
    for name, required in (("metrics.csv", True), ("diagnostics.csv", False)):
        path = Path(run_dir) / name
        if not required and not (path.exists() or path.is_symlink()):
            continue
        try:
            text = RunDir(run_dir).read_bytes(name).decode("utf-8")
        except FileNotFoundError:
            raise CheckpointError(f"{run_dir}: no {name}; the run's metrics are gone, so it cannot be continued "
                                  "(start it again)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{run_dir}: {name} cannot be read ({exc})") from None
        lines = text.split("\n")
        header = lines[0].split(",")
        if name == "metrics.csv" and header != METRIC_COLUMNS:
            raise CheckpointError(f"{run_dir}: {name} does not start with the header optlab writes")
        for number, line in enumerate(lines[1:-1], start=2):   # the last piece: a line a kill cut (dropped)
            cells = line.split(",")
            if line and len(cells) == len(header) and not cells[0].isdigit():
                raise CheckpointError(f"{run_dir}: {name} line {number} has no step number ({cells[0]!r})")


def check_meta(run_dir: Path) -> dict:
    """meta.json, read and checked field by field (a resume rewrites it, so it must be whole)."""
    from datetime import datetime

    try:
        meta = RunDir(run_dir).read_json("meta.json")
    except (OSError, ValueError) as exc:   # OSError: a link or not a file; ValueError: not JSON / UTF-8
        raise CheckpointError(f"{run_dir}: meta.json cannot be read ({exc})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{run_dir}: meta.json is not a JSON object")
    problems = []
    if not isinstance(meta.get("status"), str):
        problems.append(f"status {meta.get('status')!r} is not a status")
    pid = meta.get("pid")
    if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 1 << 31):
        problems.append(f"pid {pid!r} is not a process id")
    for key in ("heartbeat", "started"):
        value = meta.get(key)
        try:
            if value is not None:
                datetime.fromisoformat(value)
        except (TypeError, ValueError):
            problems.append(f"{key} {value!r} is not a time")
    if not isinstance(meta.get("resumed", []), list):
        problems.append("resumed is not a list")
    if problems:
        raise CheckpointError(f"{run_dir}: meta.json is damaged: " + "; ".join(problems))
    return meta


def restore(ckpt: Checkpoint, *, model: Any, optimizer: Any, sampler: Any, streams: Any,
            extra: dict[str, Any] | None = None) -> None:
    """Put the saved state into freshly built objects (same config, so same shapes); ``extra``:
    ``{part: object with load_state_dict}``, as given to :func:`save`."""
    for what, saved, mine in (("parameters", ckpt.params, model.flat_params),
                              ("buffers", ckpt.buffers, model.flat_buffers)):
        if saved.shape != mine.shape or saved.dtype != mine.dtype:
            raise CheckpointError(f"checkpoint {what} are {saved.dtype}{list(saved.shape)}, "
                                  f"the model's are {mine.dtype}{list(mine.shape)}")
    missing = sorted(set(extra or {}) - set(ckpt.extra))
    if missing:
        raise CheckpointError(f"the checkpoint holds no state for {', '.join(missing)}")
    model.flat_params[...] = ckpt.params
    model.flat_buffers[...] = ckpt.buffers
    for part, obj in (extra or {}).items():
        obj.load_state_dict(ckpt.extra[part])
    optimizer.load_state_dict(ckpt.optimizer)
    sampler.load_state_dict({**ckpt.info["sampler"], "order": ckpt.sampler_order})
    streams.set_states(ckpt.info["streams"])
