"""The edge-of-stability recipe (configs/edge_of_stability.yaml, Cohen et al. 2021) reproduces:
after progressive sharpening, lambda_max stays within +-15 % of 2/lr over the last half of
training at each learning rate. A whole-recipe reproduction (about a minute per rate): slow."""

from __future__ import annotations

import pytest
from conftest import load_benchmark


@pytest.mark.slow
def test_sharpness_hovers_at_two_over_lr():
    eos = load_benchmark("edge_of_stability")
    results = eos.reproduce()
    for lr, s in results.items():
        assert s["initial"] < 0.8 * s["threshold"], (lr, s)                 # it had to sharpen first
        assert s["reached_step"] is not None and s["reached_step"] <= 1500, s
        assert 1 - eos.BAND <= s["min"] and s["max"] <= 1 + eos.BAND, (lr, s)
