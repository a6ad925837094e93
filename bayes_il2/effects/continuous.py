"""Effect sizes for a continuous outcome in two independent groups: MD, SMD (Hedges' g), ROM.

Argument names follow metafor's escalc: ``m1i, sd1i, n1i`` (treatment group) and ``m2i, sd2i,
n2i`` (control group). Effects are group 1 minus (or over) group 2.

References
----------
Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). Introduction to Meta-Analysis. Wiley,
chapter 4.
Hedges LV (1981). Distribution theory for Glass's estimator of effect size and related estimators.
J Educ Stat 6:107-128.
Hedges LV, Gurevitch J, Curtis PS (1999). The meta-analysis of response ratios in experimental
ecology. Ecology 80:1150-1156.
"""
from __future__ import annotations

import numpy as np

from bayes_il2.effects._common import (ArrayLike, EffectSize, check_choice, coerce, hedges_j, require_finite,
                                       require_positive, result)


def _groups(ids, **values):
    x = coerce(ids, **values)
    require_finite(x, "m1i", "m2i")
    require_positive(x, "sd1i", "sd2i", "n1i", "n2i")
    return x


def mean_difference(m1i: ArrayLike, sd1i: ArrayLike, n1i: ArrayLike, m2i: ArrayLike, sd2i: ArrayLike,
                    n2i: ArrayLike, *, ids: ArrayLike | None = None) -> EffectSize:
    """Raw mean difference (measure ``MD``): yi = m1 - m2, vi = sd1²/n1 + sd2²/n2.

    The variance does not assume equal group variances (Borenstein et al. 2009, eq. 4.3; metafor's
    default for MD).

    Raises
    ------
    EffectSizeError
        A missing mean, or SD / n <= 0, naming the rows.
    """
    x = _groups(ids, m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i)
    yi = x["m1i"] - x["m2i"]
    vi = x["sd1i"] ** 2 / x["n1i"] + x["sd2i"] ** 2 / x["n2i"]
    return result(x, yi, vi, "MD")


def standardized_mean_difference(m1i: ArrayLike, sd1i: ArrayLike, n1i: ArrayLike, m2i: ArrayLike,
                                 sd2i: ArrayLike, n2i: ArrayLike, *, vtype: str = "LS",
                                 ids: ArrayLike | None = None) -> EffectSize:
    """Standardized mean difference, Hedges' g (measure ``SMD``).

    d = (m1 - m2) / S_within with the pooled SD S_within² = ((n1-1) sd1² + (n2-1) sd2²)/(n1+n2-2);
    g = J(n1+n2-2) d with the exact correction J(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2))
    (Hedges 1981).

    Variance: ``vtype="LS"`` (default, as metafor's ``escalc``) vi = 1/n1 + 1/n2 + g²/(2(n1+n2)),
    the large-sample variance (Hedges 1982), so results match metafor's printed values;
    ``vtype="hedges"`` vi = J² [(n1+n2)/(n1 n2) + d²/(2(n1+n2))] (Borenstein et al. 2009, eqs. 4.20
    and 4.24), smaller by the factor J² (about 20% for N < 10).
    """
    check_choice("vtype", vtype, ("hedges", "LS"))
    x = _groups(ids, m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i)
    n1, n2 = x["n1i"], x["n2i"]
    df = n1 + n2 - 2
    # in units of the larger SD: a scale-free measure, and squares of SDs beyond 1e154 overflowed
    unit = np.maximum(x["sd1i"], x["sd2i"])
    with np.errstate(invalid="ignore", divide="ignore"):
        sp = np.sqrt(((n1 - 1) * (x["sd1i"] / unit) ** 2 + (n2 - 1) * (x["sd2i"] / unit) ** 2) / df)
        d = (x["m1i"] / unit - x["m2i"] / unit) / sp
    j = hedges_j(df)
    g = j * d
    if vtype == "hedges":
        vi = j ** 2 * ((n1 + n2) / (n1 * n2) + d ** 2 / (2 * (n1 + n2)))
    else:
        vi = 1 / n1 + 1 / n2 + g ** 2 / (2 * (n1 + n2))
    return result(x, g, vi, "SMD")


def log_ratio_of_means(m1i: ArrayLike, sd1i: ArrayLike, n1i: ArrayLike, m2i: ArrayLike, sd2i: ArrayLike,
                       n2i: ArrayLike, *, ids: ArrayLike | None = None) -> EffectSize:
    """Log ratio of means, the response ratio (measure ``ROM``).

    yi = log(m1 / m2), vi = sd1²/(n1 m1²) + sd2²/(n2 m2²) (Hedges, Gurevitch & Curtis 1999, eq. 1
    and the delta-method variance). Both means must be > 0 (a ratio scale).
    """
    x = _groups(ids, m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i)
    require_positive(x, "m1i", "m2i")
    yi = np.log(x["m1i"]) - np.log(x["m2i"])
    # coefficients of variation first: the squares of means or SDs beyond 1e154 overflowed
    vi = (x["sd1i"] / x["m1i"]) ** 2 / x["n1i"] + (x["sd2i"] / x["m2i"]) ** 2 / x["n2i"]
    return result(x, yi, vi, "ROM")
