"""Interval estimates for few-seed results: IQM, stratified bootstrap intervals, probability of improvement."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as scipy_stats

from gcrl_depth import stats


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 13])
def test_iqm_is_the_quarter_trimmed_mean(n):
    values = np.random.default_rng(n).normal(size=n) ** 3  # skewed, outliers
    assert stats.iqm(values) == pytest.approx(scipy_stats.trim_mean(values, 0.25))
    assert stats.iqm([1, 2, 3, 4, 1000]) == pytest.approx(3.0)  # the outlier is cut


def test_bootstrap_interval_holds_the_estimate_and_covers_the_truth_about_as_often_as_it_says():
    rng = np.random.default_rng(0)
    point, low, high = stats.bootstrap_ci({"a": [1.0, 2.0, 3.0, 4.0], "b": [10.0, 11.0, 12.0, 13.0]}, np.mean, reps=500)
    assert low <= point <= high and point == pytest.approx(7.0)
    covered = 0
    for trial in range(60):  # 60 experiments of 3 tasks x 10 seeds, true mean 0
        scores = {task: rng.normal(0.0, 1.0, 10) for task in "xyz"}
        _, low, high = stats.bootstrap_ci(scores, np.mean, reps=300, seed=trial)
        covered += low <= 0.0 <= high
    assert covered >= 48  # a 95% interval (a bootstrap one runs a little narrow on 30 runs): >= 80% here


def test_probability_of_improvement_counts_pairs_and_ties_half():
    assert stats.probability_of_improvement({"t": [5, 6, 7]}, {"t": [1, 2, 3]}) == 1.0
    assert stats.probability_of_improvement({"t": [1, 2]}, {"t": [1, 2]}) == 0.5
    assert stats.probability_of_improvement({"t": [3], "u": [0]}, {"t": [1], "u": [1], "v": [9]}) == 0.5  # shared tasks
    point, low, high = stats.probability_of_improvement_ci({"t": [5, 6, 7, 8]}, {"t": [1, 2, 3, 9]}, reps=300)
    assert point == pytest.approx(12 / 16) and 0.0 <= low <= point <= high <= 1.0
    with pytest.raises(ValueError, match="tasks that both score"):
        stats.probability_of_improvement({"t": [1]}, {"u": [1]})


def test_performance_profile_is_the_fraction_of_runs_above_each_threshold():
    scores = {"a": [0.1, 0.5, 0.7], "b": [0.9]}  # two tasks pooled: 4 runs
    thresholds = [0.0, 0.3, 0.6, 0.95]
    points, lows, highs = stats.performance_profile(scores, thresholds, reps=300)
    assert points == pytest.approx([1.0, 3 / 4, 2 / 4, 0.0])
    assert all(low <= p <= high for p, low, high in zip(points, lows, highs))
    assert (lows[0], highs[0], lows[-1], highs[-1]) == (1.0, 1.0, 0.0, 0.0)  # no resample crosses those thresholds
    assert lows[1] < points[1] < highs[1]  # task a's 3 runs resampled: the fraction varies
    dense = stats.performance_profile(scores, np.linspace(0, 1, 21), reps=50)[0]
    assert all(x >= y for x, y in itertools.pairwise(dense))  # never rises with the threshold
