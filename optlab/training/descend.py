"""The data-free loop of a surface model (``model: surface``): the optimizer follows f(x, y) from
the configured start, and metrics.csv records the path (optlab.engine.surfaces).
"""

from __future__ import annotations

import math
import time

import numpy as np

from optlab.config.schema import Config
from optlab.engine.optimizers import build_optimizer
from optlab.engine.schedules import Schedule
from optlab.engine.surfaces import OBJECTIVES
from optlab.record.rundir import SURFACE_COLUMNS, RunDir
from optlab.training.gradient_loop import ProgressFn
from optlab.training.interrupt import LATE_STOP_NOTE, StopRequest


@np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")   # as train_gradient: divergence is a status
def descend(config: Config, rd: RunDir, on_step: ProgressFn | None, stop: StopRequest | None = None) -> dict:
    """The data-free loop of a surface model: ``train.iterations`` optimizer steps on f(x, y).

    The point is one parameter tensor ``xy``, updated in place by the same optimizer classes as a
    network's weights. Row ``step`` of metrics.csv is the point after ``step`` updates and f there,
    so step 0 is the start and the last row the end of the path. No randomness is involved: every
    seed gives the same path. ``stop``: polled before each step, like every loop's
    (optlab.training.interrupt); a surface keeps no checkpoint, so an interrupted path is re-run.
    """
    stop = stop or StopRequest()
    surface = OBJECTIVES[config.model.function]
    dtype = np.dtype(config.train.dtype)
    params = {"xy": np.array(config.model.start, dtype=dtype)}
    grads = {"xy": np.zeros(2, dtype=dtype)}
    optimizer = build_optimizer(config.optimizer.name, **config.optimizer.hyper)
    steps = config.train.iterations
    schedule = Schedule(config.optimizer.schedule.model_dump(), config.optimizer.lr, steps, steps_per_epoch=1)
    optimizer.lr = schedule.rate(1)
    writer = rd.metrics(SURFACE_COLUMNS)
    t0 = time.perf_counter()
    xy = params["xy"]

    def value() -> float:   # numpy scalars: an overflow gives inf (a divergence), not OverflowError
        return float(surface.value(np.float64(xy[0]), np.float64(xy[1])))

    status, step, f = "completed", 0, value()
    try:
        writer.write({"step": 0, "loss": f, "lr": optimizer.lr, "x": float(xy[0]), "y": float(xy[1]),
                      "time": time.perf_counter() - t0})
        for step in range(1, steps + 1):
            if stop.signum is not None:
                status, step = "interrupted", step - 1
                break
            grads["xy"][...] = surface.grad(xy[0], xy[1])
            optimizer.lr = schedule.rate(step)
            optimizer.update(params, grads)
            f = value()
            writer.write({"step": step, "loss": f, "lr": optimizer.lr, "x": float(xy[0]), "y": float(xy[1]),
                          "time": time.perf_counter() - t0})
            if not (math.isfinite(f) and np.isfinite(xy).all()):
                status = "diverged"
                break
            if on_step is not None:
                on_step(step, steps, f)
        late = status == "completed" and stop.stops_a_finished_run()
        if late:
            status = "interrupted"
    finally:
        writer.close()
        wall = time.perf_counter() - t0
    end = [float(v) for v in xy]
    summary = {
        "status": status,
        "steps": step,
        "objective": surface.name,
        "start": list(config.model.start),
        "end": end,
        "final_loss": f,
        "final_train_loss": f,
        "minimum": list(surface.minimum) if surface.minimum else None,
        "distance_to_minimum": math.dist(end, surface.minimum) if surface.minimum else None,
        "wall_time_s": wall,
        "n_params": 2,
    }
    if status == "diverged":
        summary["diverged_at"] = {"step": step, "loss": f}
    if status == "interrupted" and step == steps:
        summary["note"] = LATE_STOP_NOTE
    return summary
