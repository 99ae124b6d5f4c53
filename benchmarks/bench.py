"""``python benchmarks/bench.py``: optlab's speed against the matrix products it must do, and against
PyTorch on the CPU, all measured in one process run.

Sections (each can be skipped with ``--skip``):

1. ``mlp``: one training step of the seed-003 network (784-100-100-100-100-10 ReLU, softmax
   cross-entropy, batch 128, float32) on MNIST, with Adam and with SGD:

   - *optlab*: ``optlab train`` itself (:func:`optlab.training.run.run`), timed per step from the
     ``time`` column of its metrics.csv, so the step includes everything the loop does (batch
     gather, forward, loss, backward, update, the metrics row); steps that evaluate are left out;
   - *PyTorch*: the same network, loss and optimizer (``torch.optim`` defaults), eager, on the CPU,
     with the same data and batch gather (only when PyTorch is installed: ``pip install -e ".[bench]"``);
   - *floor*: the bare matrix products of one step in numpy (5 forward, 5 weight gradients, 4
     input gradients: the first layer's input needs none) plus the batch gather and scaling,
     into preallocated arrays: what any implementation of this step must spend.

   Each is measured at one BLAS thread and at the library's default, in rounds that interleave
   all of them (so a change in machine load hits every column alike); the table shows the
   median per step (and the fastest step), ratios at the same thread count.
2. ``svm``: the CIFAR-10 linear SVM of configs/cifar10_svm.yaml (3072 -> 10, hinge, L2,
   float64): one loss and gradient over the full 49 000-image training set, against its two
   bare products ``X @ W`` and ``X.T @ dscores``. CIFAR-10 itself when it is on disk, otherwise
   random uint8 images of its shape (the timing does not depend on the pixel values).
3. ``compare``: ``optlab compare sgd momentum adagrad adam`` on the MNIST network with 1 worker and
   with one per core; the reference is what the machine gives two processes right now (two
   pure-Python busy loops, serially vs side by side), so speed-up / reference is the pool's
   efficiency whatever else runs.
4. ``startup``: wall time of ``optlab --help`` in a fresh process, and the import time of
   ``optlab.cli`` (``python -X importtime``), with the heavy modules it must not import.

Timings depend on the machine and on what else runs on it: the report prints the CPU, the
versions and the load average before and after. Not a test. ``--json PATH`` writes every number.
The module also runs against an older optlab tree (``PYTHONPATH=<tree> python benchmarks/bench.py``
with this file copied in), which is how docs/performance.md's before/after numbers were taken.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

HIDDEN = [100, 100, 100, 100]
BATCH = 128
OPTIMIZERS = {"adam": {"name": "adam", "lr": 0.001}, "sgd": {"name": "sgd", "lr": 0.01}}
WARMUP = 5                 # first steps of each optlab run left out (state allocation, caches)
COMPARE_OPTIMIZERS = ["sgd", "momentum", "adagrad", "adam"]
HEAVY = ("numpy", "matplotlib", "pydantic")
THREAD_ENV = "OMP_NUM_THREADS"


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
def stats(samples: list[float]) -> dict[str, float]:
    """Median and minimum of per-step times, in seconds (NaN when there are none)."""
    if not samples:
        return {"median": math.nan, "min": math.nan, "n": 0}
    return {"median": statistics.median(samples), "min": min(samples), "n": len(samples)}


def ms(seconds: float) -> str:
    return "—" if not math.isfinite(seconds) else f"{seconds * 1e3:.3f}"


def ratio(a: float, b: float) -> float:
    return a / b if math.isfinite(a) and math.isfinite(b) and b > 0 else math.nan


def fmt_ratio(r: float) -> str:
    return "—" if not math.isfinite(r) else f"{r:.2f}×"


def default_blas_threads() -> int:
    """The BLAS thread count numpy starts with (threadpoolctl), at least 1."""
    from threadpoolctl import threadpool_info

    counts = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    return max(counts) if counts else 1


def torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    return torch


@contextmanager
def threads(n: int) -> Iterator[None]:
    """Every math library here at ``n`` threads: numpy's BLAS (threadpoolctl), PyTorch's intra-op
    pool, and ``OMP_NUM_THREADS=n`` in the environment, which is how a user overrides optlab's
    own choice of threads for a training run (optlab.training.threads) and how this benchmark does."""
    from threadpoolctl import threadpool_limits

    torch = torch_or_none()
    before_env, before_torch = os.environ.get(THREAD_ENV), torch.get_num_threads() if torch else None
    os.environ[THREAD_ENV] = str(n)
    if torch:
        torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n, user_api="blas"):
            yield
    finally:
        if before_env is None:
            os.environ.pop(THREAD_ENV, None)
        else:
            os.environ[THREAD_ENV] = before_env
        if torch:
            torch.set_num_threads(before_torch)


def machine() -> dict[str, Any]:
    from threadpoolctl import threadpool_info

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    torch = torch_or_none()
    blas = [f"{lib['internal_api']} {lib.get('version') or ''} ({lib['num_threads']} threads)".replace("  ", " ")
            for lib in threadpool_info() if lib["user_api"] == "blas"]
    import optlab

    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": ", ".join(blas) or "none found",
        "torch": torch.__version__ if torch else None,
        "optlab": optlab.__version__,
        "platform": platform.platform(),
    }


# ------------------------------------------------------------------------------------------------
# 1. the MLP training step
# ------------------------------------------------------------------------------------------------
def mlp_config(optimizer: str, steps: int):
    from optlab.config.schema import Config

    return Config.model_validate({
        "name": f"bench_mlp_{optimizer}", "seed": 0,
        "data": {"name": "mnist", "val_size": 5000, "preprocess": "scale"},
        "model": {"name": "mlp", "hidden": HIDDEN, "activation": "relu", "init": "he"},
        "loss": "cross_entropy",
        "optimizer": OPTIMIZERS[optimizer],
        "train": {"batch_size": BATCH, "iterations": steps, "eval_every": steps, "dtype": "float32",
                  "eval_train_size": 1000},
    })


def optlab_steps(optimizer: str, steps: int, runs_root: Path) -> list[float]:
    """Seconds per training step of ``optlab train`` (the real loop), from its metrics.csv."""
    from optlab.record.rundir import read_metrics
    from optlab.training.run import run

    result = run(mlp_config(optimizer, steps), runs_root, command=["optlab.bench"])
    times = read_metrics(result.run_dir / "metrics.csv")["time"]
    per_step = np.diff(times)            # entry k - 1: step k; row 0 is the step-0 evaluation
    return [float(t) for t in per_step[WARMUP:-1]]   # the last step evaluates


def batches(n: int, steps: int, seed: int) -> Iterator[np.ndarray]:
    """Shuffled mini-batch indices, as optlab draws them (without replacement, per epoch)."""
    rng = np.random.default_rng(seed)
    drawn = 0
    while drawn < steps:
        order = rng.permutation(n)
        for start in range(0, n - BATCH + 1, BATCH):
            if drawn == steps:
                return
            drawn += 1
            yield order[start:start + BATCH]


def floor_steps(x8: np.ndarray, steps: int) -> dict[str, list[float]]:
    """Seconds per step of the bare work of one step: gather + scale the batch, 14 products
    (``step``), and its two parts (``gather``, ``products``)."""
    rng = np.random.default_rng(0)
    sizes = [x8.shape[1], *HIDDEN, 10]
    pairs = list(zip(sizes[:-1], sizes[1:]))
    W = [(rng.standard_normal(p) * np.sqrt(2 / p[0])).astype(np.float32) for p in pairs]
    gW = [np.empty_like(w) for w in W]
    h = [None] + [np.empty((BATCH, s), np.float32) for s in sizes[1:]]        # layer outputs
    d = [np.empty((BATCH, s), np.float32) for s in sizes[:-1]] + [
        (rng.standard_normal((BATCH, sizes[-1])) / BATCH).astype(np.float32)]  # d loss / d outputs
    scale = np.float32(1 / 255)
    out: dict[str, list[float]] = {"step": [], "gather": [], "products": []}
    for idx in batches(len(x8), steps, 1):
        t0 = time.perf_counter()
        xb = x8[idx].astype(np.float32)
        xb *= scale
        h[0] = xb
        t1 = time.perf_counter()
        for i, w in enumerate(W):
            np.matmul(h[i], w, out=h[i + 1])
        for i in reversed(range(len(W))):
            np.matmul(h[i].T, d[i + 1], out=gW[i])
            if i > 0:
                np.matmul(d[i + 1], W[i].T, out=d[i])
        t2 = time.perf_counter()
        out["step"].append(t2 - t0)
        out["gather"].append(t1 - t0)
        out["products"].append(t2 - t1)
    return {k: v[WARMUP:] for k, v in out.items()}


PARTS = ("gather", "forward", "loss", "backward", "update")


def breakdown_steps(optimizer: str, steps: int) -> dict[str, list[float]]:
    """optlab's step taken apart, as the training loop does it (optlab.training.run._train and
    Setup.objective), with the thread count a run uses: seconds per step of each part."""
    from optlab.engine.optimizers import build_optimizer
    from optlab.training.run import Setup
    from optlab.training.sampling import BatchSampler

    config = mlp_config(optimizer, steps)
    setup = Setup.from_config(config)
    data, model, dtype = setup.data, setup.model, setup.dtype
    opt = build_optimizer(config.optimizer.name, **config.optimizer.hyper)
    sampler = BatchSampler(len(data.train), BATCH, "shuffle", setup.streams.get("batches"))
    out: dict[str, list[float]] = {part: [] for part in PARTS}
    with as_a_run():
        for _ in range(steps):
            t0 = time.perf_counter()
            _, idx = next(sampler)
            xb, yb = data.features(data.train.x[idx], dtype), data.train.y[idx]
            t1 = time.perf_counter()
            scores = model.forward(xb, train=True)
            t2 = time.perf_counter()
            _, dout = setup.loss_fn(scores, yb)
            t3 = time.perf_counter()
            model.backward(dout)
            t4 = time.perf_counter()
            opt.update(model.params, model.grads, model.weight_names)
            t5 = time.perf_counter()
            for part, a, b in zip(PARTS, (t0, t1, t2, t3, t4), (t1, t2, t3, t4, t5)):
                out[part].append(b - a)
            out.setdefault("total", []).append(t5 - t0)
    return {k: v[WARMUP:] for k, v in out.items()}


def torch_steps(torch, optimizer: str, x8, y, steps: int) -> list[float]:
    """Seconds per step of the same network in PyTorch eager on the CPU."""
    torch.manual_seed(0)
    sizes = [x8.shape[1], *HIDDEN, 10]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    spec = OPTIMIZERS[optimizer]
    opt = (torch.optim.Adam(net.parameters(), lr=spec["lr"], betas=(0.9, 0.999), eps=1e-8) if optimizer == "adam"
           else torch.optim.SGD(net.parameters(), lr=spec["lr"]))
    X, Y = torch.from_numpy(x8), torch.from_numpy(y)
    out = []
    for idx in batches(len(x8), steps, 1):
        t0 = time.perf_counter()
        i = torch.from_numpy(idx)
        xb = X[i].to(torch.float32).mul_(1 / 255)
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(xb), Y[i])
        loss.backward()
        opt.step()
        loss.item()                      # optlab reads the loss every step too
        out.append(time.perf_counter() - t0)
    return out[WARMUP:]


def optlab_choice() -> int | None:
    """The BLAS thread count optlab trains with here (optlab.training.threads), None for the library's
    default (also for an optlab from before optlab.training.threads, when benchmarking an older tree)."""
    try:
        from optlab.training.threads import run_threads
    except ImportError:
        return None
    return run_threads()


@contextmanager
def as_a_run() -> Iterator[None]:
    """The thread setting a training run applies (optlab.training.threads; none in older trees)."""
    try:
        from optlab.training.threads import limited, run_threads
    except ImportError:
        yield
        return
    with limited(run_threads()):
        yield


def section_mlp(rounds: int, steps: int, thread_counts: list[int], say) -> dict:
    from optlab.data import DataError, load_dataset

    config = mlp_config("sgd", steps)
    try:
        data = load_dataset(config.data, config.seed)
    except DataError as exc:
        say(f"[mlp] skipped: MNIST is not available ({exc}); optlab data download mnist")
        return {"skipped": str(exc)}
    x8 = np.ascontiguousarray(data.train.x.reshape(len(data.train.x), -1))
    y = data.train.y.astype(np.int64)
    torch = torch_or_none()
    samples: dict[str, list[float]] = {}
    own = optlab_choice() or default_blas_threads()

    def add(key: str, values: list[float]) -> None:
        samples.setdefault(key, []).extend(values)

    with tempfile.TemporaryDirectory(prefix="optlab-bench-") as tmp:
        for r in range(rounds):
            for n in thread_counts:
                with threads(n):
                    for part, values in floor_steps(x8, steps).items():
                        add(f"floor/{n}" if part == "step" else f"floor/{part}/{n}", values)
                    for opt in OPTIMIZERS:
                        add(f"optlab/{opt}/{n}", optlab_steps(opt, steps, Path(tmp)))
                        if torch:
                            add(f"torch/{opt}/{n}", torch_steps(torch, opt, x8, y, steps))
                        if n == own:                # taken apart, at the thread count optlab trains with
                            for part, values in breakdown_steps(opt, steps).items():
                                add(f"parts/{opt}/{part}", values)
            say(f"[mlp] round {r + 1}/{rounds} done")
    return {"threads": thread_counts, "steps_per_run": steps, "rounds": rounds,
            "torch": torch.__version__ if torch else None, "optlab_choice": optlab_choice(),
            "times": {k: stats(v) for k, v in samples.items()}}


# ------------------------------------------------------------------------------------------------
# 2. the CIFAR-10 linear SVM, full training set
# ------------------------------------------------------------------------------------------------
SVM = {
    "name": "bench_svm", "seed": 0,
    "data": {"name": "cifar10", "train_size": 49000, "val_size": 1000, "subset": "first", "preprocess": "center"},
    "model": {"name": "linear", "init": {"name": "normal", "std": 0.001}},
    "loss": "hinge",
    "regularization": {"l2": 5.0e4},
    "optimizer": {"name": "sgd", "lr": 1.0e-7},
    "train": {"batch_size": 200, "iterations": 1500, "sampling": "replacement", "dtype": "float64"},
}


def svm_setup():
    """(Setup, source) for the SVM of configs/cifar10_svm.yaml: real CIFAR-10 if present, else
    random images of its shape with the same preprocessing and model."""
    from optlab.config.schema import Config
    from optlab.data import DataError, load_dataset
    from optlab.data.base import Dataset, Split
    from optlab.data.preprocess import fit
    from optlab.engine.losses import build_loss
    from optlab.engine.models import build_model
    from optlab.engine.regularizers import Penalty
    from optlab.engine.rng import Streams
    from optlab.training.run import Setup

    config = Config.model_validate(SVM)
    try:
        data, source = load_dataset(config.data, config.seed), "CIFAR-10"
    except DataError:
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (49000, 3, 32, 32), dtype=np.uint8)
        train = Split(x, rng.integers(0, 10, 49000))
        empty = Split(x[:0], train.y[:0])
        data = Dataset("cifar10-shaped", train, empty, empty, 10, transform=fit("center", x, flatten=True))
        source = "random uint8 images of CIFAR-10's shape (CIFAR-10 is not on this machine)"
    dtype = np.dtype(config.train.dtype)
    streams = Streams(config.seed)
    model = build_model(config.model.model_dump(), data.n_features, data.n_classes, streams.get("init"), dtype)
    loss = build_loss(config.loss.name, **config.loss.model_dump(exclude={"name"}))
    setup = Setup(data, model, loss, Penalty(l2=config.regularization.l2), dtype, streams)
    return setup, source


def section_svm(rounds: int, thread_counts: list[int], say) -> dict:
    setup, source = svm_setup()
    X = setup.data.features(setup.data.train.x, setup.dtype)      # (49000, 3072), the run's dtype
    y = setup.data.train.y
    W = setup.model.params["fc1.W"]
    D = np.random.default_rng(1).standard_normal((len(X), W.shape[1])).astype(setup.dtype) / len(X)
    samples: dict[str, list[float]] = {}
    for r in range(rounds):
        for n in thread_counts:
            with threads(n):
                t0 = time.perf_counter()
                setup.objective(X, y)
                samples.setdefault(f"optlab/{n}", []).append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                X @ W
                X.T @ D
                samples.setdefault(f"floor/{n}", []).append(time.perf_counter() - t0)
        say(f"[svm] round {r + 1}/{rounds} done")
    return {"source": source, "shape": list(X.shape), "dtype": str(setup.dtype), "threads": thread_counts,
            "optlab_choice": optlab_choice(), "times": {k: stats(v) for k, v in samples.items()}}


# ------------------------------------------------------------------------------------------------
# 3. compare: 1 worker vs one per core
# ------------------------------------------------------------------------------------------------
def _burn(_: int = 0) -> float:
    t0 = time.perf_counter()
    total = 0
    for i in range(5_000_000):
        total += i
    return time.perf_counter() - t0


def reference_speedup(workers: int) -> float:
    """``workers`` busy loops one after the other here, then side by side in as many processes."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_burn, range(workers)))                 # start the processes first
        t0 = time.perf_counter()
        for _ in range(workers):
            _burn()
        serial = time.perf_counter() - t0
        t0 = time.perf_counter()
        list(pool.map(_burn, range(workers)))
        parallel = time.perf_counter() - t0
    return serial / parallel


def trial_numbers(compare_dir: Path) -> dict:
    """Every trial's metrics but the clock column: what must not depend on the workers."""
    from optlab.record.rundir import read_metrics

    manifest = json.loads((compare_dir / "compare.json").read_text())
    out = {}
    for entry in manifest["variants"]:
        for d in entry["trials"]:
            metrics = read_metrics(compare_dir / d / "metrics.csv")
            metrics.pop("time")
            out[d] = metrics
    return out


def section_compare(iterations: int, say) -> dict:
    from optlab.config.loading import dump_config
    from optlab.data import DataError, ensure_files
    from optlab.studies.compare import make_plan, run_compare
    from optlab.studies.study import StudySession
    from optlab.studies.executor import default_workers
    from optlab.studies.variants import build_variants

    config = mlp_config("sgd", iterations)
    config = config.model_copy(update={"name": "bench_compare"})
    try:
        ensure_files(config.data)
    except DataError as exc:
        say(f"[compare] skipped: MNIST is not available ({exc})")
        return {"skipped": str(exc)}
    cores = default_workers()
    times, dirs = {}, {}
    with tempfile.TemporaryDirectory(prefix="optlab-bench-") as tmp:
        path = Path(tmp) / "base.yaml"
        raw = config.model_dump(mode="json")
        raw["train"]["eval_every"] = max(1, iterations // 10)
        raw["train"]["eval_train_size"] = 10000
        from optlab.config.schema import Config

        path.write_text(dump_config(Config.model_validate(raw)))
        base, varied, variants = build_variants(path, COMPARE_OPTIMIZERS)
        plan = make_plan(variants, base, varied, seeds=1)
        references = []                 # what the machine gives `cores` processes, before, between and after
        for workers in sorted({1, cores}):
            references.append(reference_speedup(cores) if cores > 1 else 1.0)
            t0 = time.perf_counter()
            result = run_compare(plan, Path(tmp), StudySession.local(workers, command=["optlab.bench"]))
            times[workers] = time.perf_counter() - t0
            dirs[workers] = result.path
            say(f"[compare] {workers} worker(s): {times[workers]:.2f} s")
        references.append(reference_speedup(cores) if cores > 1 else 1.0)
        identical = trial_numbers(dirs[1]) == trial_numbers(dirs[cores])
    return {"iterations": iterations, "trials": len(COMPARE_OPTIMIZERS), "workers": cores,
            "seconds": {str(k): v for k, v in times.items()}, "speedup": times[1] / times[cores],
            "reference": statistics.mean(references), "references": references, "identical_metrics": identical}


# ------------------------------------------------------------------------------------------------
# 4. start-up
# ------------------------------------------------------------------------------------------------
def _wall(cmd: list[str], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        out.append(time.perf_counter() - t0)
    return out


def section_startup(repeat: int, say) -> dict:
    script = Path(sys.executable).parent / "optlab"
    help_cmd = [str(script), "--help"] if script.exists() else [sys.executable, "-m", "optlab", "--help"]
    samples: dict[str, list[float]] = {"python": [], "help": [], "import": []}
    heavy = None
    for _ in range(repeat):                 # interleaved, like everything else here
        samples["python"] += _wall([sys.executable, "-c", "pass"], 1)
        samples["help"] += _wall(help_cmd, 1)
        proc = subprocess.run([sys.executable, "-X", "importtime", "-c",
                               f"import sys, optlab.cli; print([m for m in {HEAVY!r} if m in sys.modules])"],
                              capture_output=True, text=True, check=True)
        heavy = proc.stdout.strip()
        match = re.search(r"\|\s*(\d+)\s*\|\s*optlab\.cli\s*$", proc.stderr, re.M)
        if match:
            samples["import"].append(int(match.group(1)) * 1e-6)
    say("[startup] done")
    return {"command": " ".join(Path(c).name if i == 0 else c for i, c in enumerate(help_cmd)),
            "heavy_modules_imported": heavy, "times": {k: stats(v) for k, v in samples.items()}}


# ------------------------------------------------------------------------------------------------
# the report
# ------------------------------------------------------------------------------------------------
def render(results: dict, console) -> None:
    from rich.table import Table

    m = results["machine"]
    console.print(f"[bold]machine[/]: {m['cpu']}, {m['cores']} cores; Python {m['python']}, numpy {m['numpy']} "
                  f"({m['blas']}), PyTorch {m['torch'] or 'not installed'}, optlab {m['optlab']}")
    console.print(f"[bold]load average[/] (1, 5, 15 min): before {results['load_before']}, after {results['load_after']}")

    mlp = results.get("mlp")
    if mlp and "times" in mlp:
        t = mlp["times"]
        choice = mlp.get("optlab_choice")
        console.print(f"\n[bold]1. MLP training step[/] (784-100-100-100-100-10 ReLU, batch {BATCH}, float32, MNIST): "
                      f"ms per step, median (fastest) over {mlp['rounds']} interleaved rounds of "
                      f"{mlp['steps_per_run']} steps; optlab picks {choice if choice else 'the default number of'} "
                      f"BLAS thread(s) for this shape")
        table = Table()
        for col in ("optimizer", "threads", "optlab", "PyTorch", "floor", "PyTorch / optlab", "optlab / floor"):
            table.add_column(col, justify="left" if col == "optimizer" else "right")
        for opt in OPTIMIZERS:
            for n in mlp["threads"]:
                o, f = t[f"optlab/{opt}/{n}"], t[f"floor/{n}"]
                p = t.get(f"torch/{opt}/{n}", stats([]))
                torch_cell = (f"{ms(p['median'])} ({ms(p['min'])})" if p["n"] else "not installed")
                mark = " *" if n == choice else ""
                table.add_row(opt, f"{n}{mark}", f"{ms(o['median'])} ({ms(o['min'])})", torch_cell,
                              f"{ms(f['median'])} ({ms(f['min'])})",
                              fmt_ratio(ratio(p["median"], o["median"])) if p["n"] else "—",
                              fmt_ratio(ratio(o["median"], f["median"])))
        console.print(table)
        console.print("targets: PyTorch / optlab >= 1.5×, optlab / floor <= 1.3× (* = optlab's own thread choice)")
        if "parts/adam/update" in t:
            n = choice or max(mlp["threads"])
            console.print(f"\nwhere optlab's step goes ({n} thread(s); ms, medians per step of each part, timed in a loop "
                          "that does what optlab train does, interleaved with the runs above; the floor's parts "
                          "on the right; optlab train adds the metrics row, flushed every step, the divergence check "
                          "and progress):")
            parts = Table()
            for col in ("part", *OPTIMIZERS, "floor"):
                parts.add_column(col, justify="left" if col == "part" else "right")
            floor_of = {"gather": t.get(f"floor/gather/{n}"), "forward": None, "loss": None,
                        "backward": t.get(f"floor/products/{n}"), "update": None}
            labels = {"gather": "batch gather + scaling", "forward": "forward (5 products, bias, ReLU)",
                      "loss": "softmax cross-entropy", "backward": "backward (9 products, bias, ReLU)",
                      "update": "optimizer update"}
            for part in PARTS:
                f = floor_of[part]
                floor_cell = ("all 14 products: " + ms(f["median"])) if part == "backward" and f else (
                    ms(f["median"]) if f else "")
                parts.add_row(labels[part], *(ms(t[f"parts/{opt}/{part}"]["median"]) for opt in OPTIMIZERS), floor_cell)
            parts.add_row("these parts together (same loop)", *(ms(t[f"parts/{o}/total"]["median"]) for o in OPTIMIZERS),
                          ms(t[f"floor/{n}"]["median"]))
            parts.add_row("the step in optlab train (table above)",
                          *(ms(t[f"optlab/{o}/{n}"]["median"]) for o in OPTIMIZERS), "")
            console.print(parts)

    svm = results.get("svm")
    if svm and "times" in svm:
        rounds = svm["times"][f"optlab/{svm['threads'][0]}"]["n"]
        console.print(f"\n[bold]2. CIFAR-10 linear SVM[/], one loss + gradient over the full training set "
                      f"{tuple(svm['shape'])} {svm['dtype']} ({svm['source']}), against its two products "
                      f"(X @ W, X.T @ dscores): ms, median (fastest) of {rounds}")
        table = Table()
        for col in ("threads", "optlab", "bare products", "optlab / products"):
            table.add_column(col, justify="right")
        for n in svm["threads"]:
            o, f = svm["times"][f"optlab/{n}"], svm["times"][f"floor/{n}"]
            table.add_row(f"{n}{' *' if n == svm.get('optlab_choice') else ''}", f"{ms(o['median'])} ({ms(o['min'])})",
                          f"{ms(f['median'])} ({ms(f['min'])})", fmt_ratio(ratio(o["median"], f["median"])))
        console.print(table)

    cmp_ = results.get("compare")
    if cmp_ and "seconds" in cmp_:
        s = cmp_["seconds"]
        console.print(f"\n[bold]3. compare[/] {' '.join(COMPARE_OPTIMIZERS)} (MNIST network, {cmp_['iterations']} "
                      f"steps each): 1 worker {s['1']:.2f} s, {cmp_['workers']} workers {s[str(cmp_['workers'])]:.2f} s: "
                      f"speed-up {cmp_['speedup']:.2f}× (target 1.8×); what the machine gave {cmp_['workers']} "
                      f"busy processes meanwhile: {cmp_['reference']:.2f}× (measured "
                      f"{', '.join(f'{r:.2f}' for r in cmp_.get('references', [cmp_['reference']]))}; efficiency "
                      f"{cmp_['speedup'] / cmp_['reference']:.0%}); "
                      f"identical metrics: {cmp_['identical_metrics']}")

    st = results.get("startup")
    if st:
        t = st["times"]
        console.print(f"\n[bold]4. start-up[/]: `{st['command']}` {t['help']['median']:.3f} s median "
                      f"(fastest {t['help']['min']:.3f} s; target < 0.3 s), of which Python itself "
                      f"{t['python']['median']:.3f} s; import of optlab.cli {t['import']['median'] * 1e3:.0f} ms; "
                      f"heavy modules imported by it: {st['heavy_modules_imported']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/bench.py", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per measurement (default 3)")
    parser.add_argument("--steps", type=int, default=300, help="training steps per run in the MLP section (default 300)")
    parser.add_argument("--compare-iterations", type=int, default=2000,
                        help="steps of each compare trial (default 2000, configs/mnist_mlp.yaml)")
    parser.add_argument("--threads", default=None,
                        help="comma-separated BLAS thread counts for the MLP section (default: 1 and the library's default)")
    parser.add_argument("--skip", action="append", default=[], choices=["mlp", "svm", "compare", "startup"],
                        help="leave a section out (repeatable)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and steps: a smoke run, not a measurement")
    parser.add_argument("--json", type=Path, default=None, help="also write every number to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.steps, args.compare_iterations = 1, 60, 100

    from rich.console import Console

    console = Console(highlight=False)

    def say(text: str) -> None:
        console.print(text, style="dim", markup=False)

    counts = ([int(n) for n in args.threads.split(",")] if args.threads
              else sorted({1, default_blas_threads()}))
    results: dict[str, Any] = {"machine": machine(), "load_before": [round(v, 2) for v in os.getloadavg()]}
    if "mlp" not in args.skip:
        results["mlp"] = section_mlp(args.rounds, args.steps, counts, say)
    if "svm" not in args.skip:
        results["svm"] = section_svm(max(args.rounds, 3), counts, say)
    if "compare" not in args.skip:
        results["compare"] = section_compare(args.compare_iterations, say)
    if "startup" not in args.skip:
        results["startup"] = section_startup(max(2 * args.rounds, 5), say)
    results["load_after"] = [round(v, 2) for v in os.getloadavg()]
    render(results, console)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
