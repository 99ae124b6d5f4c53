"""How much memory a config needs, and how much this machine has: checked before anything is
allocated, so that a layer of 30 000 x 30 000 units is a clear "needs 14.4 GB, 3.1 GB available"
(exit 2) instead of a MemoryError mid-setup or the kernel's OOM killer mid-run.

The estimate is from the config alone (no data is loaded): the stored data, the parameters and
their gradients, the optimizer's state (one array per slot per parameter: Momentum 1, Adam 2),
the early-stopping copy of the best weights, and the activations a forward and backward pass
keep for the larger of a mini-batch and an evaluation chunk. It is an estimate of the large
arrays only (the interpreter, numpy and matplotlib come on top, about 150 MB).

What the machine has is ``MemAvailable`` of ``/proc/meminfo`` (free plus reclaimable cache), or
less where a cgroup limit (a container, a batch job's allocation) leaves less: ``memory.max``
minus ``memory.current`` (cgroup v2) or ``memory.limit_in_bytes`` minus ``memory.usage_in_bytes``
(v1), or less where an address-space limit (``ulimit -v``, RLIMIT_AS) leaves less room to map.
Where none of these can be read (not Linux), ``os.sysconf``'s available pages, else no check.
"""

from __future__ import annotations

import os
from pathlib import Path

from optlab.config.schema import Config
from optlab.engine.optimizers import lookup

EVAL_CHUNK = 10_000  # rows per forward pass when evaluating (optlab.training.setup.evaluate), to bound memory

# (features per example, examples in the dataset files, bytes per stored feature) of the image sets
_IMAGES = {"mnist": (784, 70_000, 1), "fashion_mnist": (784, 70_000, 1), "cifar10": (3072, 60_000, 1)}


def data_shape(config: Config) -> tuple[int, int, int, int]:
    """(features, classes, examples stored, bytes per stored feature) from the data section."""
    data = config.data
    if data.name in _IMAGES:
        features, examples, itemsize = _IMAGES[data.name]
        return features, 10, examples, itemsize
    if data.name == "single":
        return 1, 2, 1, 8
    features = data.dims if data.name == "blobs" else 2
    return features, data.classes, data.size + data.test_size, 8    # generated in float64


def layer_widths(config: Config) -> list[int]:
    """Input, hidden and output widths of the network the config builds."""
    features, classes, _, _ = data_shape(config)
    model = config.model
    if model.name == "neuron":
        return [1, 1]
    hidden = list(model.hidden) if model.name == "mlp" else []
    return [features, *hidden, classes]


def parameter_count(config: Config) -> int:
    widths = layer_widths(config)
    return sum((a + 1) * b for a, b in zip(widths, widths[1:]))   # weights and biases


def needed_bytes(config: Config) -> dict[str, int]:
    """The large arrays of a run, by part, in bytes."""
    itemsize = 4 if config.train.dtype == "float32" else 8
    features, _, examples, stored = data_shape(config)
    n = parameter_count(config)
    slots = lookup(config.optimizer.name).state_vectors(config.optimizer.model_dump())
    copies = 2 + (1 if config.train.early_stopping is not None else 0)       # params, grads, best copy
    widths = layer_widths(config)
    rows = max(min(config.train.batch_size, examples), min(EVAL_CHUNK, examples))
    # per layer: its input, pre-activation, activation and their gradients (~4 arrays of rows x width)
    activations = 4 * rows * sum(widths) * itemsize
    return {"data": examples * (features * stored + 8),
            "parameters and gradients": copies * n * itemsize,
            "optimizer state": slots * n * itemsize,
            "activations": activations}


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None     # "max": no limit


def _cgroup_room() -> int | None:
    """What the process's cgroup still allows, if it has a limit."""
    root = Path("/sys/fs/cgroup")
    for limit, usage in (("memory.max", "memory.current"),                                   # cgroup v2
                         ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):  # v1
        cap, used = _read_int(root / limit), _read_int(root / usage)
        if cap is not None and cap < 1 << 60 and used is not None:   # v1 says "no limit" with a huge number
            return max(0, cap - used)
    return None


def address_space_room() -> tuple[int, int] | None:
    """(bytes this process may still map, its cap) under an address-space limit (``ulimit -v``,
    RLIMIT_AS: common on shared servers), or None without one. The cap counts every mapping, not
    only what is touched, so numpy's allocations fail at it long before physical memory runs out."""
    try:
        import resource

        cap = resource.getrlimit(resource.RLIMIT_AS)[0]
    except (ImportError, ValueError, OSError, AttributeError):
        return None
    if cap == resource.RLIM_INFINITY or cap <= 0:
        return None
    used = 0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                used = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    return max(0, cap - used), cap


def available_bytes() -> int | None:
    """Memory this process can still take, or None if it cannot be told: the least of the
    machine's available memory, its cgroup's room and its address-space room (RLIMIT_AS)."""
    found = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    if found is None:
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    room = _cgroup_room()
    found = found if room is None else min(found, room)
    space = address_space_room()
    return found if space is None else min(found, space[0])


def gigabytes(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def check_memory(config: Config) -> str | None:
    """A message if the config needs more memory than is available, else None."""
    if not config.kind.learns_from_data:   # a surface: two numbers
        return None
    parts = needed_bytes(config)
    need, have = sum(parts.values()), available_bytes()
    if have is None or need <= have:
        return None
    detail = ", ".join(f"{k} {gigabytes(v)}" for k, v in parts.items() if v >= 1e6)
    hint = " or train.dtype: float32" if config.train.dtype == "float64" else ""
    space = address_space_room()
    if space is not None and space[0] == have:
        where = (f"this process may map {gigabytes(have)} more under its address-space limit (ulimit -v / "
                 f"RLIMIT_AS: {gigabytes(space[1])})")
    else:
        where = f"this machine has {gigabytes(have)} available"
    return (f"the config needs about {gigabytes(need)} of memory ({detail}) and {where}; make the model "
            f"(model.hidden) or the data smaller{hint}")
