"""Is a reported median summary skewed? The test of Shi et al. (2023) from the quantiles alone.

The mean/SD conversions of :mod:`bayes_il2.effects.conversions` assume roughly normal data. Shi et
al. (2023) derived tests of that assumption that need only the reported quantiles and n:

=================  ==============================================  ===============================
summary             statistic T                                       critical value (5% level)
=================  ==============================================  ===============================
median + range      T1 = |a + b - 2m| / (b - a)                        1/ln(n + 9) + 2.5/(n + 1)
median + IQR        T2 = |q1 + q3 - 2m| / (q3 - q1)                    2.65/sqrt(n) - 6/n^2
all five            max(2.65 ln(0.6 n)/sqrt(n) T1, T2)                 3/sqrt(n) - 40/n^3
=================  ==============================================  ===============================

The data are called skewed when T >= the critical value; metafor's ``conv.fivenum`` then declines to
convert by default. The test is not applied below n = 5 (``skewed`` False, critical value NaN): the
critical values were derived for larger samples and turn negative below n = 3 for five numbers, so a
symmetric summary of two values was called skewed; metafor's ``conv.fivenum`` does not convert such
rows at all. With ``dist="lognormal"`` the test is applied to the log quantiles, i.e. it asks
whether a log-normal model is adequate.

Reference
---------
Shi J, Luo D, Wan X, Liu Y, Liu J, Bian Z, Tong T (2023). Detecting the skewness of data from the
five-number summary and its application in meta-analysis. Stat Methods Med Res 32:1338-1360.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bayes_il2.effects._common import ArrayLike, check_choice, fail_rows
from bayes_il2.effects.conversions import _check_order, _log_quantiles, _quantile_inputs
from bayes_il2.effects.lognormal import DISTRIBUTIONS
from bayes_il2.errors import EffectSizeError


#: The smallest n the test is applied to (metafor's ``conv.fivenum`` leaves rows with n < 5 alone).
MIN_N = 5


class SkewnessTest(NamedTuple):
    """Test statistic, 5% critical value and verdict (``statistic >= critical``), per row; below
    n = :data:`MIN_N` the critical value is NaN and the verdict False (not tested)."""

    statistic: ArrayLike
    critical: ArrayLike
    skewed: ArrayLike


def skewness_test(median: ArrayLike, n: ArrayLike, *, minimum: ArrayLike | None = None, q1: ArrayLike | None = None,
                  q3: ArrayLike | None = None, maximum: ArrayLike | None = None, dist: str = "normal",
                  ids: ArrayLike | None = None) -> SkewnessTest:
    """Test a median summary for skewness (Shi et al. 2023); see the module docstring for the formulas.

    Pass the range (``minimum``, ``maximum``), the quartiles (``q1``, ``q3``) or both; the scenario
    follows from what is given.

    Raises
    ------
    EffectSizeError
        Neither a range nor quartiles; quantiles out of order; n < 2; non-positive quantiles with
        ``dist="lognormal"`` (naming the rows).
    """
    check_choice("dist", dist, DISTRIBUTIONS)
    has_range, has_iqr = minimum is not None and maximum is not None, q1 is not None and q3 is not None
    if not (has_range or has_iqr):
        raise EffectSizeError("skewness_test needs the range (minimum, maximum), the quartiles (q1, q3) or both")
    values = {"median": median, "n": n}
    if has_range:
        values.update(minimum=minimum, maximum=maximum)
    if has_iqr:
        values.update(q1=q1, q3=q3)
    x = _quantile_inputs(ids, **values)
    fail_rows(x, x["n"] < 2, "n must be >= 2")
    order = tuple(k for k in ("minimum", "q1", "median", "q3", "maximum") if k in values)
    for lower, upper in zip(order, order[1:]):
        _check_order(x, lower, upper, "quantiles out of order")
    q = _log_quantiles(x, order) if dist == "lognormal" else {k: x[k] for k in order}
    n_ = x["n"]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_range = (np.abs(q["minimum"] + q["maximum"] - 2 * q["median"]) / (q["maximum"] - q["minimum"])
                   if has_range else None)
        t_iqr = np.abs(q["q1"] + q["q3"] - 2 * q["median"]) / (q["q3"] - q["q1"]) if has_iqr else None
    if has_range and has_iqr:
        statistic = np.maximum(2.65 * np.log(0.6 * n_) / np.sqrt(n_) * t_range, t_iqr)
        critical = 3 / np.sqrt(n_) - 40 / n_ ** 3
    elif has_iqr:
        statistic, critical = t_iqr, 2.65 / np.sqrt(n_) - 6 / n_ ** 2
    else:
        statistic, critical = t_range, 1 / np.log(n_ + 9) + 2.5 / (n_ + 1)
    statistic = np.nan_to_num(statistic, nan=0.0)  # a zero-width range or IQR: nothing to call skewed
    critical = np.where(n_ >= MIN_N, critical, np.nan)
    return SkewnessTest(x.wrap(statistic), x.wrap(critical), x.wrap(statistic >= critical))
