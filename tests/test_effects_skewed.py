"""Skewed summaries: the skewness test (Shi et al. 2023) and the log-normal conversions (Shi et al. 2020b).

The printed examples are in test_effects_published.py; here the conversions are checked by simulation
(log-normal samples, where they should recover the sample mean and SD and beat the normal-theory
estimators) and bad input is rejected with the row named.
"""
from __future__ import annotations

import numpy as np
import pytest

from bayes_il2 import effects as fx
from bayes_il2.errors import EffectSizeError


def _lognormal_summaries(reps: int = 120, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(reps):
        n = int(rng.integers(200, 2000))
        x = np.exp(rng.normal(rng.uniform(-1, 2), rng.uniform(0.3, 1.0), n))
        yield n, np.percentile(x, [0, 25, 50, 75, 100]), x.mean(), x.std(ddof=1)


CONVERSIONS = {
    "range": lambda q, n, dist: fx.mean_sd_from_median_range(q[2], q[0], q[4], n, dist=dist),
    "iqr": lambda q, n, dist: fx.mean_sd_from_median_iqr(q[2], q[1], q[3], n, dist=dist),
    "five": lambda q, n, dist: fx.mean_sd_from_five_numbers(*q, n, dist=dist),
}


@pytest.mark.parametrize("scenario", list(CONVERSIONS))
def test_lognormal_conversion_recovers_lognormal_samples_better_than_normal_theory(scenario):
    convert = CONVERSIONS[scenario]
    err = {"lognormal": [], "normal": []}
    for n, q, mean, sd in _lognormal_summaries():
        for dist in err:
            est = convert(q, n, dist)
            err[dist].append((abs(est.mean / mean - 1), abs(est.sd / sd - 1)))
    log_err, normal_err = (np.median(np.array(err[d]), axis=0) for d in ("lognormal", "normal"))
    # median relative errors seen over 300 replications: mean 0.9-1.9 %, SD 4-8 %
    assert log_err[0] < 0.04 and log_err[1] < 0.12, log_err
    assert log_err[0] < normal_err[0] / 2, (log_err, normal_err)


def test_skewness_test_flags_lognormal_samples_and_passes_their_logs():
    flagged = []
    for n, q, _, _ in _lognormal_summaries(reps=60, seed=1):
        raw = fx.skewness_test(q[2], n, minimum=q[0], q1=q[1], q3=q[3], maximum=q[4])
        logged = fx.skewness_test(q[2], n, minimum=q[0], q1=q[1], q3=q[3], maximum=q[4], dist="lognormal")
        flagged.append((bool(raw.skewed), bool(logged.skewed)))
    flagged = np.array(flagged)
    assert flagged[:, 0].mean() > 0.9      # large skewed samples: the raw quantiles are called skewed
    assert flagged[:, 1].mean() < 0.2      # and their logs (normal) mostly are not (5% level)


def test_skewness_test_is_vectorised_and_symmetric():
    right = fx.skewness_test([6.0, 6.0], [20, 20], q1=[4.0, 2.0], q3=[10.0, 8.0])
    assert right.statistic.tolist() == pytest.approx([1 / 3, 1 / 3])   # mirror images, same |T|
    assert right.skewed.tolist() == [False, False]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: fx.skewness_test(6.0, 20), "needs the range"),
    (lambda: fx.skewness_test(6.0, 20, q1=7.0, q3=10.0), "q1 > median"),
    (lambda: fx.skewness_test(6.0, 1, q1=4.0, q3=10.0), "n must be >= 2"),
    (lambda: fx.skewness_test(6.0, 20, q1=0.0, q3=10.0, dist="lognormal"), "q1 must be > 0"),
    (lambda: fx.mean_sd_from_median_iqr([6, 6], [4, 4], [10, 10], [20, 4], dist="lognormal"), "row 1: .*n >= 5"),
    (lambda: fx.mean_sd_from_median_range(6, 0, 14, 20, dist="lognormal"), "minimum must be > 0"),
    (lambda: fx.mean_sd_from_median_range(6, 2, 14, 20, dist="lognormal", exact_range=True), "exact_range=False"),
    (lambda: fx.mean_sd_from_five_numbers(2, 4, 6, 10, 14, 20, dist="lognormal", sd_method="wan"),
     "sd_method='shi'"),
    (lambda: fx.mean_sd_from_median_iqr(6, 4, 10, 20, dist="gamma"), "dist"),
])
def test_bad_input_is_rejected_with_the_rule(call, message):
    with pytest.raises(EffectSizeError, match=message):
        call()
