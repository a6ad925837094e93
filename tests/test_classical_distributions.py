"""The classical estimators' distribution functions (scipy.special) equal scipy.stats', edge cases included."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from bayes_il2.classical import _distributions as dist

X = [-np.inf, -3.0, -0.5, 0.0, 1e-12, 0.7, 2.5, 40.0, np.inf, np.nan]
Q = [0.0, 1e-10, 0.025, 0.5, 0.975, 1 - 1e-12, 1.0, -0.1, 1.1, np.nan]
DF = [-1.0, 0.0, 0.5, 1.0, 3.0, 12.0, 250.0, np.nan]


def same(a, b) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


def test_normal_functions_equal_scipy_stats():
    assert same(dist.norm_ppf(Q), stats.norm.ppf(Q))
    assert same(dist.norm_sf(X), stats.norm.sf(X))
    assert isinstance(dist.norm_ppf(0.975), float) and dist.norm_ppf(0.975) == stats.norm.ppf(0.975)


@pytest.mark.parametrize("df", DF)
def test_t_and_chi2_functions_equal_scipy_stats(df):
    assert same(dist.t_ppf(Q, df), stats.t.ppf(Q, df))
    assert same(dist.t_sf(X, df), stats.t.sf(X, df))
    assert same(dist.chi2_sf(X, df), stats.chi2.sf(X, df))
    assert same(dist.chi2_ppf(Q, df), stats.chi2.ppf(Q, df))


def test_f_survival_equals_scipy_stats():
    for dfn, dfd in itertools.product(DF, DF):
        assert same(dist.f_sf(X, dfn, dfd), stats.f.sf(X, dfn, dfd)), (dfn, dfd)
