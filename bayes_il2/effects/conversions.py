"""Conversions of reported summaries to a mean and SD (or an SE), for effect sizes that need them.

Quantile summaries (``n`` = sample size; a = minimum, q1, m = median, q3, b = maximum)
-------------------------------------------------------------------------------------
With xi(n) = 2 Phi^-1((n - 0.375)/(n + 0.25)) and eta(n) = 2 Phi^-1((0.75 n - 0.125)/(n + 0.25))
(Wan et al. 2014, eqs. 7 and 15), the estimators used by default are

=====================  =====================================================  ==============================
summary                 mean (Luo et al. 2018)                                  SD
=====================  =====================================================  ==============================
median + range (S1)     w (a+b)/2 + (1-w) m,  w = 4/(4 + n^0.75)                (b-a)/xi(n)       (Wan S1)
median + IQR (S3)       w (q1+q3)/2 + (1-w) m,  w = 0.7 + 0.39/n                 (q3-q1)/eta(n)    (Wan S3)
all five (S2)           w1 (a+b)/2 + w2 (q1+q3)/2 + (1-w1-w2) m,                  w (b-a)/xi(n) + (1-w)(q3-q1)/eta(n),
                        w1 = 2.2/(2.2 + n^0.75), w2 = 0.7 - 0.72/n^0.55           w = 1/(1 + 0.07 n^0.6)  (Shi 2020)
=====================  =====================================================  ==============================

``mean_method="wan"`` gives Wan et al.'s means instead: (a + 2m + b)/4, (q1 + m + q3)/3 and
(a + 2q1 + 2m + 2q3 + b)/8; ``sd_method="wan"`` for five numbers gives
(b-a)/(2 xi(n)) + (q3-q1)/(2 eta(n)). All assume roughly normal data: test that with
:func:`bayes_il2.effects.skewness.skewness_test` (Shi et al. 2023). For right-skewed positive data
(Treg counts) ``dist="lognormal"`` applies them to the log quantiles and back-transforms (Shi et al.
2020b, :mod:`bayes_il2.effects.lognormal`); for fold changes see :func:`log_fold_from_median_iqr`.

Other conversions follow the Cochrane Handbook (Higgins et al., version 6.4, 2023), chapter 6:
SD from SE (6.5.2.2), from a 95% CI (6.5.2.2; t-distribution for n < 60), from a p-value or t
(6.5.2.3), combining two subgroups (Table 6.5.a), the SE of a difference from its CI (6.3.1).

References
----------
Wan X, Wang W, Liu J, Tong T (2014). Estimating the sample mean and standard deviation from the
sample size, median, range and/or interquartile range. BMC Med Res Methodol 14:135.
Luo D, Wan X, Liu J, Tong T (2018). Optimally estimating the sample mean from the sample size,
median, mid-range, and/or mid-quartile range. Stat Methods Med Res 27:1785-1805.
Shi J, Luo D, Weng H, et al. (2020). Optimally estimating the sample standard deviation from the
five-number summary. Res Synth Methods 11:641-654.
Higgins JPT, Li T, Deeks JJ (eds) (2023). Chapter 6: Choosing effect measures and computing
estimates of effect. Cochrane Handbook for Systematic Reviews of Interventions, version 6.4.
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy import integrate, stats

from bayes_il2.effects import lognormal
from bayes_il2.effects._common import (ArrayLike, EffectSize, Inputs, check_choice, coerce, fail_rows,
                                       require_finite, require_positive, result)
from bayes_il2.errors import EffectSizeError


class MeanSD(NamedTuple):
    """An estimated mean and SD (same shape as the inputs)."""

    mean: ArrayLike
    sd: ArrayLike


class Combined(NamedTuple):
    """Size, mean and SD of two groups combined into one."""

    n: ArrayLike
    mean: ArrayLike
    sd: ArrayLike


# --------------------------------------------------------------------------- divisors
def xi(n: ArrayLike) -> np.ndarray:
    """xi(n) = 2 Phi^-1((n - 0.375)/(n + 0.25)): approximate expected range of n standard normals.

    Wan et al. (2014), eq. 7 (their Table 1 lists the exact expectations, see
    :func:`expected_normal_range`).
    """
    n = np.asarray(n, dtype=float)
    return 2 * stats.norm.ppf((n - 0.375) / (n + 0.25))


def eta(n: ArrayLike) -> np.ndarray:
    """eta(n) = 2 Phi^-1((0.75 n - 0.125)/(n + 0.25)): approximate expected IQR of n standard normals.

    Wan et al. (2014), eq. 15.
    """
    n = np.asarray(n, dtype=float)
    return 2 * stats.norm.ppf((0.75 * n - 0.125) / (n + 0.25))


@lru_cache(maxsize=512)
def _range_expectation(n: int) -> float:
    if n < 2:
        return 0.0

    def integrand(z: float) -> float:
        cdf = stats.norm.cdf(z)
        return 1 - cdf ** n - (1 - cdf) ** n

    value, _ = integrate.quad(integrand, -np.inf, np.inf, epsabs=1e-10, epsrel=1e-10)
    return float(value)


def expected_normal_range(n: ArrayLike) -> np.ndarray:
    """Exact E[max - min] of n independent standard normals, E = ∫ 1 - Φ(z)^n - (1 - Φ(z))^n dz.

    These are the values of Wan et al. (2014), Table 1 (and the d2 constants of quality control);
    ``exact_range=True`` in the range conversions divides by them instead of :func:`xi`.
    """
    n = np.atleast_1d(np.asarray(n, dtype=float))
    out = np.full(n.shape, np.nan)
    ok = np.isfinite(n) & (n >= 1) & (n == np.round(n))
    out[ok] = [_range_expectation(int(k)) for k in n[ok]]
    return out


# --------------------------------------------------------------------------- quantile summaries
def _quantile_inputs(ids, **values) -> Inputs:
    x = coerce(ids, **values)
    require_finite(x, *values)
    fail_rows(x, x["n"] < 2, "n must be >= 2 (the quantiles of one value carry no spread)")
    return x


def _check_order(x: Inputs, lower: str, upper: str, what: str) -> None:
    fail_rows(x, x[lower] > x[upper], f"{what}: {lower} > {upper}")


def _on_scale(x: Inputs, dist: str, names: tuple[str, ...], **fixed: tuple[object, object]) -> dict[str, np.ndarray]:
    """The quantiles on the scale the estimators work on: as given, or logged for ``dist="lognormal"``.

    The log-normal method (Shi et al. 2020b) is defined for the recommended estimators only, so each
    ``fixed`` option (value, required) must hold; it also needs n >= 5 and positive quantiles.
    """
    check_choice("dist", dist, lognormal.DISTRIBUTIONS)
    if dist == "normal":
        return {k: x[k] for k in names}
    for option, (value, required) in fixed.items():
        if value != required:
            raise EffectSizeError(f'dist="lognormal" needs {option}={required!r} (Shi et al. 2020b); got {value!r}')
    fail_rows(x, x["n"] < 5, 'dist="lognormal" needs n >= 5')
    return _log_quantiles(x, names)


def _log_quantiles(x: Inputs, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named quantiles on the log scale (all must be > 0)."""
    for k in names:
        fail_rows(x, x[k] <= 0, f'{k} must be > 0 for dist="lognormal"')
    return {k: np.log(x[k]) for k in names}


def _finish(x: Inputs, dist: str, scenario: str, mean: np.ndarray, sd: np.ndarray) -> MeanSD:
    if dist == "lognormal":
        mean, sd = lognormal.back_transform(scenario, mean, sd, x["n"])
    return MeanSD(x.wrap(mean), x.wrap(sd))


def _range_divisor(x: Inputs, exact_range: bool) -> np.ndarray:
    if exact_range:
        fail_rows(x, x["n"] != np.round(x["n"]), "exact_range=True needs a whole number n")
        return expected_normal_range(x["n"])
    return xi(x["n"])


def mean_sd_from_median_iqr(median: ArrayLike, q1: ArrayLike, q3: ArrayLike, n: ArrayLike, *,
                            mean_method: str = "luo", dist: str = "normal", ids: ArrayLike | None = None) -> MeanSD:
    """Mean and SD from the median and interquartile range (scenario S3 of Wan et al. 2014).

    mean: Luo et al. (2018) w (q1+q3)/2 + (1-w) m with w = 0.7 + 0.39/n (``"luo"``), or
    (q1 + m + q3)/3 (``"wan"``); SD: (q3 - q1)/eta(n) (Wan et al. 2014, eq. 16).
    ``dist="lognormal"``: the same estimators on the log scale, back-transformed
    (:mod:`bayes_il2.effects.lognormal`).

    Raises
    ------
    EffectSizeError
        Median outside [q1, q3], q1 > q3, n < 1 or a missing value (naming the rows).
    """
    check_choice("mean_method", mean_method, ("luo", "wan"))
    x = _quantile_inputs(ids, median=median, q1=q1, q3=q3, n=n)
    _check_order(x, "q1", "median", "median outside the IQR")
    _check_order(x, "median", "q3", "median outside the IQR")
    q = _on_scale(x, dist, ("median", "q1", "q3"), mean_method=(mean_method, "luo"))
    m, a, b, n_ = q["median"], q["q1"], q["q3"], x["n"]
    if mean_method == "luo":
        w = 0.7 + 0.39 / n_
        mean = w * (a + b) / 2 + (1 - w) * m
    else:
        mean = (a + m + b) / 3
    return _finish(x, dist, "iqr", mean, (b - a) / eta(n_))


def mean_sd_from_median_range(median: ArrayLike, minimum: ArrayLike, maximum: ArrayLike, n: ArrayLike, *,
                              mean_method: str = "luo", exact_range: bool = False, dist: str = "normal",
                              ids: ArrayLike | None = None) -> MeanSD:
    """Mean and SD from the median and range (scenario S1 of Wan et al. 2014).

    mean: Luo et al. (2018) w (a+b)/2 + (1-w) m with w = 4/(4 + n^0.75) (``"luo"``), or
    (a + 2m + b)/4 (``"wan"``, Hozo et al. 2005); SD: (b - a)/xi(n) (Wan et al. 2014, eq. 9), or
    divided by the exact expected range with ``exact_range=True``. ``dist="lognormal"``: the same
    estimators on the log scale, back-transformed (:mod:`bayes_il2.effects.lognormal`).
    """
    check_choice("mean_method", mean_method, ("luo", "wan"))
    x = _quantile_inputs(ids, median=median, minimum=minimum, maximum=maximum, n=n)
    _check_order(x, "minimum", "median", "median outside the range")
    _check_order(x, "median", "maximum", "median outside the range")
    q = _on_scale(x, dist, ("median", "minimum", "maximum"), mean_method=(mean_method, "luo"),
                  exact_range=(exact_range, False))
    m, a, b, n_ = q["median"], q["minimum"], q["maximum"], x["n"]
    if mean_method == "luo":
        w = 4 / (4 + n_ ** 0.75)
        mean = w * (a + b) / 2 + (1 - w) * m
    else:
        mean = (a + 2 * m + b) / 4
    return _finish(x, dist, "range", mean, (b - a) / _range_divisor(x, exact_range))


def mean_sd_from_five_numbers(minimum: ArrayLike, q1: ArrayLike, median: ArrayLike, q3: ArrayLike,
                              maximum: ArrayLike, n: ArrayLike, *, mean_method: str = "luo",
                              sd_method: str = "shi", dist: str = "normal", ids: ArrayLike | None = None) -> MeanSD:
    """Mean and SD from the five-number summary (scenario S2 of Wan et al. 2014).

    mean (Luo et al. 2018, eq. 15): w1 (a+b)/2 + w2 (q1+q3)/2 + (1-w1-w2) m with
    w1 = 2.2/(2.2 + n^0.75), w2 = 0.7 - 0.72/n^0.55; or Wan's (a + 2q1 + 2m + 2q3 + b)/8.
    SD (Shi et al. 2020): w (b-a)/xi(n) + (1-w)(q3-q1)/eta(n), w = 1/(1 + 0.07 n^0.6); or Wan's
    (b-a)/(2 xi(n)) + (q3-q1)/(2 eta(n)) (eq. 13). ``dist="lognormal"``: Luo's mean and Shi's SD on
    the log scale, back-transformed (:mod:`bayes_il2.effects.lognormal`).
    """
    check_choice("mean_method", mean_method, ("luo", "wan"))
    check_choice("sd_method", sd_method, ("shi", "wan"))
    x = _quantile_inputs(ids, minimum=minimum, q1=q1, median=median, q3=q3, maximum=maximum, n=n)
    for lo, hi in (("minimum", "q1"), ("q1", "median"), ("median", "q3"), ("q3", "maximum")):
        _check_order(x, lo, hi, "five numbers out of order")
    q = _on_scale(x, dist, ("minimum", "q1", "median", "q3", "maximum"), mean_method=(mean_method, "luo"),
                  sd_method=(sd_method, "shi"))
    a, q1_, m, q3_, b = (q[k] for k in ("minimum", "q1", "median", "q3", "maximum"))
    n_ = x["n"]
    if mean_method == "luo":
        w1 = 2.2 / (2.2 + n_ ** 0.75)
        w2 = 0.7 - 0.72 / n_ ** 0.55
        mean = w1 * (a + b) / 2 + w2 * (q1_ + q3_) / 2 + (1 - w1 - w2) * m
    else:
        mean = (a + 2 * q1_ + 2 * m + 2 * q3_ + b) / 8
    w = 1 / (1 + 0.07 * n_ ** 0.6) if sd_method == "shi" else 0.5
    sd = w * (b - a) / xi(n_) + (1 - w) * (q3_ - q1_) / eta(n_)
    return _finish(x, dist, "five", mean, sd)


def sd_from_range(minimum: ArrayLike, maximum: ArrayLike, n: ArrayLike, *, exact_range: bool = False,
                  ids: ArrayLike | None = None) -> ArrayLike:
    """SD from the range alone: (b - a)/xi(n) (Wan et al. 2014, eq. 9); for a mean reported with a range."""
    x = _quantile_inputs(ids, minimum=minimum, maximum=maximum, n=n)
    _check_order(x, "minimum", "maximum", "range")
    return x.wrap((x["maximum"] - x["minimum"]) / _range_divisor(x, exact_range))


# --------------------------------------------------------------------------- SE, CI, p-values
def sd_from_se(se: ArrayLike, n: ArrayLike, *, ids: ArrayLike | None = None) -> ArrayLike:
    """SD = SE sqrt(n) (Cochrane Handbook 6.5.2.2)."""
    x = coerce(ids, se=se, n=n)
    require_positive(x, "se", "n")
    return x.wrap(x["se"] * np.sqrt(x["n"]))


def _critical(level: float, df: np.ndarray | None) -> np.ndarray:
    if not 0.0 < float(level) < 1.0:
        raise EffectSizeError(f"level must lie in (0, 1), e.g. 0.95 for a 95% interval; got {level!r}")
    q = 0.5 + level / 2
    if df is None:
        return np.asarray(stats.norm.ppf(q))
    return np.where(np.isfinite(df), stats.t.ppf(q, df), stats.norm.ppf(q))


def sd_from_ci(ci_low: ArrayLike, ci_high: ArrayLike, n: ArrayLike, *, level: float = 0.95,
               dist: str = "auto", ids: ArrayLike | None = None) -> ArrayLike:
    """SD of one group from the CI of its mean: sqrt(n) (high - low) / (2 c) (Cochrane Handbook 6.5.2.2).

    c is the normal quantile (1.96 for 95%) with ``dist="z"``, the t quantile with n - 1 df with
    ``dist="t"``; ``dist="auto"`` uses t for n < 60 and z otherwise, as the Handbook advises.
    """
    check_choice("dist", dist, ("auto", "z", "t"))
    x = coerce(ids, lo=ci_low, hi=ci_high, n=n)
    require_finite(x, "lo", "hi")
    require_positive(x, "n")
    fail_rows(x, x["hi"] <= x["lo"], "ci_high must exceed ci_low")
    n_ = x["n"]
    use_t = (n_ < 60) if dist == "auto" else np.full(n_.shape, dist == "t")
    fail_rows(x, use_t & (n_ < 2), "a t-based CI needs n >= 2")
    df = np.where(use_t, n_ - 1, np.inf)
    return x.wrap(np.sqrt(n_) * (x["hi"] - x["lo"]) / (2 * _critical(level, df)))


def se_from_ci(ci_low: ArrayLike, ci_high: ArrayLike, *, level: float = 0.95, ratio: bool = False,
               df: ArrayLike | None = None, ids: ArrayLike | None = None) -> ArrayLike:
    """SE of an estimate (e.g. a difference) from its CI: (high - low)/(2 c) (Cochrane Handbook 6.3.1).

    ``ratio=True`` for ratio measures (OR, RR, HR, ROM): the SE is of the log estimate,
    (log high - log low)/(2 c). ``df`` switches c from the normal to the t quantile.
    """
    x = coerce(ids, lo=ci_low, hi=ci_high, df=df)
    require_finite(x, "lo", "hi")
    fail_rows(x, x["hi"] <= x["lo"], "ci_high must exceed ci_low")
    lo, hi = x["lo"], x["hi"]
    if ratio:
        fail_rows(x, lo <= 0, "ratio CI bounds must be > 0")
        lo, hi = np.log(lo), np.log(hi)
    if df is not None:
        fail_rows(x, x["df"] <= 0, "df must be > 0")
    crit = _critical(level, None if df is None else x["df"])
    return x.wrap((hi - lo) / (2 * crit))


def se_from_p_value(estimate: ArrayLike, p_value: ArrayLike, *, df: ArrayLike | None = None,
                    ids: ArrayLike | None = None) -> ArrayLike:
    """SE of an estimate from its two-sided p-value: |estimate| / c, c = Phi^-1(1 - p/2) or t_df.

    Cochrane Handbook 6.3.2 (z) and 6.5.2.3 (t). For a ratio measure pass the log estimate.
    """
    x = coerce(ids, est=estimate, p=p_value, df=df)
    require_finite(x, "est", "p")
    fail_rows(x, (x["p"] <= 0) | (x["p"] >= 1), "p_value must lie in (0, 1)")
    fail_rows(x, x["est"] == 0, "estimate is 0: no SE follows from a p-value")
    if df is not None:
        fail_rows(x, x["df"] <= 0, "df must be > 0")
    half = x["p"] / 2  # isf keeps precision for small p, where ppf(1 - p/2) would round
    crit = stats.norm.isf(half) if df is None else np.where(np.isfinite(x["df"]), stats.t.isf(half, x["df"]),
                                                               stats.norm.isf(half))
    return x.wrap(np.abs(x["est"]) / crit)


def sd_from_p_value(mean_difference: ArrayLike, p_value: ArrayLike, n1: ArrayLike, n2: ArrayLike, *,
                    ids: ArrayLike | None = None) -> ArrayLike:
    """Common within-group SD from a mean difference and its two-sided t-test p-value.

    t = t^-1(1 - p/2; n1 + n2 - 2), SE = |MD| / t, SD = SE / sqrt(1/n1 + 1/n2)
    (Cochrane Handbook 6.5.2.3).
    """
    x = coerce(ids, md=mean_difference, p=p_value, n1=n1, n2=n2)
    require_positive(x, "n1", "n2")
    fail_rows(x, x["n1"] + x["n2"] < 3, "n1 + n2 must be >= 3")
    se = np.asarray(se_from_p_value(x["md"], x["p"], df=x["n1"] + x["n2"] - 2, ids=x.ids))
    return x.wrap(se / np.sqrt(1 / x["n1"] + 1 / x["n2"]))


def combine_groups(n1: ArrayLike, m1: ArrayLike, sd1: ArrayLike, n2: ArrayLike, m2: ArrayLike, sd2: ArrayLike, *,
                   ids: ArrayLike | None = None) -> Combined:
    """Combine two subgroups into one (Cochrane Handbook Table 6.5.a).

    N = n1 + n2, M = (n1 m1 + n2 m2)/N,
    SD = sqrt(((n1-1) sd1² + (n2-1) sd2² + n1 n2/N (m1² + m2² - 2 m1 m2)) / (N - 1));
    exactly the mean and SD of the pooled sample.
    """
    x = coerce(ids, n1=n1, m1=m1, sd1=sd1, n2=n2, m2=m2, sd2=sd2)
    require_finite(x, "m1", "m2", "sd1", "sd2")
    require_positive(x, "n1", "n2")
    fail_rows(x, (x["sd1"] < 0) | (x["sd2"] < 0), "SD must be >= 0")
    a, b = x["n1"], x["n2"]
    total = a + b
    mean = (a * x["m1"] + b * x["m2"]) / total
    ss = (a - 1) * x["sd1"] ** 2 + (b - 1) * x["sd2"] ** 2 + a * b / total * (x["m1"] - x["m2"]) ** 2
    return Combined(x.wrap(total), x.wrap(mean), x.wrap(np.sqrt(ss / (total - 1))))


# --------------------------------------------------------------------------- fold changes
def log_fold_from_median_iqr(median: ArrayLike, q1: ArrayLike, q3: ArrayLike, n: ArrayLike, *,
                             mean_method: str = "luo", ids: ArrayLike | None = None) -> EffectSize:
    """Log fold change (post/baseline ratio) from the median fold change and its IQR (measure ``ROMC``).

    Fold changes are ratios, skewed on the raw scale and roughly symmetric on the log scale; the
    quantiles are log-transformed (monotone, so the log median is the median of the log folds) and
    :func:`mean_sd_from_median_iqr` applied there: mean log fold by Luo et al. (2018) (or Wan et al.
    2014 with ``mean_method="wan"``), SD log fold = (log q3 - log q1)/eta(n) (Wan et al. 2014).
    Returns yi = mean log fold, vi = SD²/n.
    """
    x = _quantile_inputs(ids, median=median, q1=q1, q3=q3, n=n)
    fail_rows(x, (x["q1"] <= 0) | (x["median"] <= 0), "fold changes must be > 0")
    logs = mean_sd_from_median_iqr(np.log(x["median"]), np.log(x["q1"]), np.log(x["q3"]), x["n"],
                                   mean_method=mean_method, ids=x.ids)
    sd = np.asarray(logs.sd, dtype=float)
    return result(x, np.asarray(logs.mean, dtype=float), sd ** 2 / x["n"], "ROMC")


def log_fold_from_mean_sd(mean: ArrayLike, sd: ArrayLike, n: ArrayLike, *, ids: ArrayLike | None = None) -> EffectSize:
    """Log of a mean fold change with delta-method variance: yi = log(mean), vi = sd²/(n mean²) (``ROMC``)."""
    x = coerce(ids, mean=mean, sd=sd, n=n)
    require_positive(x, "mean", "sd", "n")
    return result(x, np.log(x["mean"]), x["sd"] ** 2 / (x["n"] * x["mean"] ** 2), "ROMC")
