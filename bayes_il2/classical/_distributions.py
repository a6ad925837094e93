"""Normal, t, chi-square and F distribution functions of the classical estimators, from scipy.special.

scipy.stats computes these with the same scipy.special functions (norm.ppf = ndtri, norm.sf(x) =
ndtr(-x), t.sf(x, df) = stdtr(df, -x), t.ppf = stdtrit, chi2.sf = chdtrc, chi2.ppf(p, df) =
2 gammaincinv(df/2, p), F.sf = fdtrc) after its argument checks, which are kept here (NaN for a
non-positive degree of freedom; the support's bounds outside it and at p = 0 or 1). Importing
scipy.stats costs about a second (it parses the docstrings of hundreds of functions), which
``bayes-il2 fit``'s classical table need not pay (issue #19). ``tests/test_classical_distributions.py``
checks every function against scipy.stats, edge cases included.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special


def _result(values: np.ndarray) -> Any:
    return values[()] if values.ndim == 0 else values


def _positive(df: Any) -> np.ndarray:
    df = np.asarray(df, dtype=float)
    return np.where(df > 0, df, np.nan)


def norm_ppf(q: Any) -> Any:
    """Standard normal quantile."""
    return _result(np.asarray(special.ndtri(np.asarray(q, dtype=float))))


def norm_sf(x: Any) -> Any:
    """Standard normal upper tail probability P(Z > x)."""
    return _result(np.asarray(special.ndtr(-np.asarray(x, dtype=float))))


def t_ppf(q: Any, df: Any) -> Any:
    """Quantile of Student's t with ``df`` degrees of freedom."""
    q, df = np.broadcast_arrays(np.asarray(q, dtype=float), _positive(df))
    out = np.asarray(special.stdtrit(df, q), dtype=float)
    out = np.where(q == 0, -np.inf, np.where(q == 1, np.inf, out))
    return _result(np.where(np.isnan(df) | (q < 0) | (q > 1), np.nan, out))


def t_sf(x: Any, df: Any) -> Any:
    """Upper tail probability of Student's t with ``df`` degrees of freedom."""
    return _result(np.asarray(special.stdtr(_positive(df), -np.asarray(x, dtype=float)), dtype=float))


def chi2_sf(x: Any, df: Any) -> Any:
    """Upper tail probability of the chi-square distribution (1 below its support)."""
    x, df = np.broadcast_arrays(np.asarray(x, dtype=float), _positive(df))
    out = np.where(x < 0, 1.0, special.chdtrc(df, np.maximum(x, 0.0)))
    return _result(np.where(np.isnan(df), np.nan, out))


def chi2_ppf(q: Any, df: Any) -> Any:
    """Quantile of the chi-square distribution."""
    q, df = np.broadcast_arrays(np.asarray(q, dtype=float), _positive(df))
    out = np.where(q == 1, np.inf, 2.0 * special.gammaincinv(df / 2.0, q))
    return _result(np.where(np.isnan(df) | (q < 0) | (q > 1), np.nan, out))


def f_sf(x: Any, dfn: Any, dfd: Any) -> Any:
    """Upper tail probability of the F distribution (1 below its support)."""
    x, dfn, dfd = np.broadcast_arrays(np.asarray(x, dtype=float), _positive(dfn), _positive(dfd))
    out = np.where(x < 0, 1.0, special.fdtrc(dfn, dfd, np.maximum(x, 0.0)))
    return _result(np.where(np.isnan(dfn) | np.isnan(dfd), np.nan, out))
