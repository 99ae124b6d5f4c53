"""Named random streams for one run, all derived from the run's root seed.

docs/conventions.md ("Randomness"): one root seed per run; every consumer gets its own
``numpy.random.Generator`` spawned from ``numpy.random.SeedSequence(seed)`` and passed in
explicitly; nothing touches NumPy's global state.

Each consumer has a fixed spawn key, so a stream does not depend on which other streams a run
happens to use. That is what makes ``compare`` fair: two variants with the same seed draw the
same initial weights ("init") and the same mini-batch order ("batches") whatever their
optimizer is, and adding a new stream later does not change the existing ones.
"""

from __future__ import annotations

import numpy as np

# Explicit registry: stream name -> spawn key. Never reorder or reuse a key; append new ones.
STREAMS: dict[str, int] = {
    "data": 0,      # synthetic data generation
    "split": 1,     # validation hold-out and train_size subsets
    "init": 2,      # weight initialisation
    "batches": 3,   # mini-batch order
    "dropout": 4,   # dropout masks
    "search": 5,    # random / local search proposals
    "eval": 6,      # the fixed training subsample used for train accuracy
    "gradcheck": 7, # gradcheck's examples, sampled tensor elements and built-in inputs
    "sweep": 8,     # optlab sweep's random-search proposals (hyper-parameter values)
}


def stream(seed: int, name: str) -> np.random.Generator:
    """The Generator for consumer ``name`` of a run with root ``seed``.

    Equal to ``np.random.default_rng(np.random.SeedSequence(seed).spawn(k + 1)[k])`` with
    ``k = STREAMS[name]``, i.e. the k-th child of the root seed sequence.
    """
    if name not in STREAMS:
        raise KeyError(f"unknown random stream {name!r}; known: {', '.join(STREAMS)}")
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STREAMS[name],)))


class Streams:
    """The Generators one run hands out, kept by name so a checkpoint can save all of them.

    Every Generator whose state carries from one step to the next (mini-batch order, dropout
    masks) must come from here: :mod:`optlab.training.checkpoint` saves and restores
    ``bit_generator.state`` of each, which is what makes a resumed run bit-identical.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._made: dict[str, np.random.Generator] = {}

    def get(self, name: str) -> np.random.Generator:
        """The run's Generator ``name`` (the same object on every call)."""
        if name not in self._made:
            self._made[name] = stream(self.seed, name)
        return self._made[name]

    def states(self) -> dict[str, dict]:
        """``{name: bit_generator.state}`` of every Generator handed out so far (JSON-friendly)."""
        return {name: gen.bit_generator.state for name, gen in self._made.items()}

    def set_states(self, states: dict[str, dict]) -> None:
        """Restore saved states in place, so consumers holding a Generator see the change."""
        for name, state in states.items():
            self.get(name).bit_generator.state = state
