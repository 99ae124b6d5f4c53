"""Expected validation performance (Dodge et al. 2019) against brute-force enumeration, its
bootstrap band, and time to target with censored seeds."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from optlab.record.tuning_stats import censored_median, expected_max, expected_max_band, time_to_target


def brute_force(values, k):
    """The mean of the max over all N^k ordered draws with replacement."""
    return np.mean([max(draw) for draw in itertools.product(values, repeat=k)])


@pytest.mark.parametrize("values", [[0.5], [0.1, 0.9], [0.3, 0.3, 0.7], [0.2, 0.8, 0.5, 0.5], [0.9, 0.1, 0.4, 0.6, 0.0]])
def test_expected_max_equals_enumerating_every_draw(values):
    curve = expected_max(values)
    for k in range(1, len(values) + 1):
        assert curve[k - 1] == pytest.approx(brute_force(values, k), abs=1e-12)
    assert curve[0] == pytest.approx(np.mean(values))                      # k = 1: the mean
    assert np.all(np.diff(curve) >= -1e-12) and curve[-1] <= max(values)  # grows towards the max


def test_expected_max_for_larger_budgets_than_trials_approaches_the_best():
    v = np.random.default_rng(0).uniform(size=7)
    assert expected_max(v, [1000])[0] == pytest.approx(v.max(), abs=1e-6)
    assert expected_max(v, [3])[0] == pytest.approx(brute_force(list(v), 3))


def test_bootstrap_band_brackets_the_curve_and_is_seeded():
    v = np.random.default_rng(1).uniform(0.5, 0.9, size=12)
    low, high = expected_max_band(v, np.random.default_rng(3), resamples=500)
    mean = expected_max(v)
    assert np.all(low <= mean + 1e-12) and np.all(mean <= high + 1e-12) and np.all(high - low > 0)
    again = expected_max_band(v, np.random.default_rng(3), resamples=500)
    assert np.array_equal(low, again[0]) and np.array_equal(high, again[1])


def test_censored_median_counts_seeds_that_never_reach_the_target():
    assert censored_median([100, 200, math.inf]) == 200
    assert math.isinf(censored_median([100, math.inf, math.inf]))
    t = time_to_target([100, 300, None, 200], [10] * 4, [1.0, 3.0, None, 2.0], np.random.default_rng(0), resamples=400)
    assert (t.seeds, t.missed, t.missed_fraction) == (4, 1, 0.25)
    assert t.steps[0] == 200 and t.examples[0] == 2000 and t.seconds[0] == 2.0    # lower median of 100,200,300,inf
    assert t.steps[1] <= 200 and math.isinf(t.steps[2])                          # a resample can be mostly "never"
    none = time_to_target([None, None], [1, 1], [None, None], np.random.default_rng(0))
    assert math.isinf(none.steps[0]) and none.missed == 2
