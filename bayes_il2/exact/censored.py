"""Closed-form likelihoods of interval-censored normal observations (numpy), shared by the exact
engine (:func:`bayes_il2.exact.nnhm_partial`) and the PyMC partial-information models
(:mod:`bayes_il2.modeling.partial`, whose PyTensor versions compute the same quantities).

log P(a < Z < b) for Z ~ N(0, 1) is computed as log Phi(b) + log1p(-exp(log Phi(a) - log Phi(b)))
with scipy's log_ndtr, after mirroring an interval in the upper tail (P(a < Z < b) = P(-b < Z < -a)),
so neither tail loses precision to cancellation.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special


def log_interval_probability(lower: Any, upper: Any) -> np.ndarray:
    """log P(lower < Z < upper) for Z ~ N(0, 1), stable in both tails (bounds may be +-inf)."""
    a, b = np.broadcast_arrays(np.asarray(lower, dtype=float), np.asarray(upper, dtype=float))
    flip = a > 0
    lo = np.where(flip, -b, a)
    hi = np.where(flip, -a, b)
    lb, la = special.log_ndtr(hi), special.log_ndtr(lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = lb + np.log1p(-np.exp(la - lb))
    return np.where(hi <= lo, -np.inf, out)


def censored_normal_logpdf(y_low: Any, y_high: Any, mean: Any, sd: Any) -> np.ndarray:
    """log P(y_low < Y < y_high) for Y ~ N(mean, sd^2): the likelihood of an interval-censored
    normal observation (e.g. Klein & Moeschberger 2003, Survival Analysis, sec. 3.5)."""
    mean, sd = np.asarray(mean, dtype=float), np.asarray(sd, dtype=float)
    return log_interval_probability((np.asarray(y_low, dtype=float) - mean) / sd,
                                    (np.asarray(y_high, dtype=float) - mean) / sd)


def pvalue_logpdf(z_low: Any, z_high: Any, mean: Any, sd: Any = 1.0, direction: Any = 1) -> np.ndarray:
    """log-likelihood of a test statistic known to lie in [z_low, z_high], z ~ N(mean, sd^2).

    ``direction`` 0: [z_low, z_high] bounds |z| (two-sided P, direction unknown): the union of
    [z_low, z_high] and [-z_high, -z_low].
    """
    one = censored_normal_logpdf(z_low, z_high, mean, sd)
    if not np.any(np.asarray(direction) == 0):
        return one
    mirror = censored_normal_logpdf(-np.asarray(z_high, dtype=float), -np.asarray(z_low, dtype=float), mean, sd)
    return np.where(np.asarray(direction) == 0, np.logaddexp(one, mirror), one)
