"""Small-study effects and publication bias: Egger's regression test and the Mathur-VanderWeele S-value.

Egger's test is refused below 10 studies: with fewer the test has too little power to tell chance
from real asymmetry (Cochrane Handbook for Systematic Reviews of Interventions, version 6, section
10.4.3.1: tests for funnel plot asymmetry should be used only when there are at least 10 studies).
The S-value is the sensitivity analysis offered instead for few studies: it asks how strongly
publication would have to favour "affirmative" results (significant, in the favoured direction) over
the others for the pooled estimate (or its confidence limit) to reach the null.

References
----------
Egger M, Davey Smith G, Schneider M, Minder C (1997). Bias in meta-analysis detected by a simple,
graphical test. BMJ 315:629-634.
Sterne JAC, Egger M (2005). Regression methods to detect publication and other bias in meta-analysis.
In: Rothstein HR, Sutton AJ, Borenstein M (eds), Publication Bias in Meta-Analysis. Wiley, 99-110.
Page MJ, Higgins JPT, Sterne JAC (2019). Chapter 13 and Sterne JAC et al. Chapter 10.4.3.1 in: Higgins
JPT et al. (eds), Cochrane Handbook for Systematic Reviews of Interventions, version 6. Cochrane.
Mathur MB, VanderWeele TJ (2020). Sensitivity analysis for publication bias in meta-analyses. J R Stat
Soc C 69(5):1091-1119.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayes_il2.classical import _distributions as dist
from bayes_il2.classical._inputs import check_effects, check_level
from bayes_il2.classical._roots import brentq
from bayes_il2.classical.heterogeneity import estimate_tau2
from bayes_il2.errors import ModelError

EGGER_MIN_K = 10
EGGER_REFUSAL = (
    "Egger's test needs at least {min_k} studies; got k = {k}. The Cochrane Handbook (version 6, section "
    "10.4.3.1) advises against tests for funnel plot asymmetry with fewer than 10 studies: the power is "
    "too low to distinguish chance from real asymmetry, and asymmetry has other causes than publication "
    "bias (heterogeneity, small-study effects, chance). Use the contour-enhanced funnel plot and the "
    "S-value sensitivity analysis (bayes_il2.classical.svalue) instead.")


@dataclass(frozen=True)
class EggerResult:
    """Egger's regression test: slope on the standard error (asymmetry) and the limit estimate
    (intercept: the effect as the standard error goes to 0)."""

    statistic: float
    p: float
    df: float
    slope: float
    slope_se: float
    limit_estimate: float
    limit_ci_low: float
    limit_ci_high: float
    k: int
    model: str

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(self)])


def egger_test(yi: Any, vi: Any, model: str = "lm", level: float = 0.95) -> EggerResult:
    """Egger's regression test for funnel plot asymmetry.

    ``model="lm"`` (Egger et al. 1997): weighted least squares of y_i on sqrt(v_i) with weights 1/v_i
    and a multiplicative dispersion term, t test of the slope with k - 2 df (equivalently, the
    intercept of the regression of y_i/sqrt(v_i) on 1/sqrt(v_i)). ``model="rma"``: the slope in a
    REML mixed-effects meta-regression on sqrt(v_i), z test (Sterne & Egger 2005).

    Raises
    ------
    ModelError
        Fewer than 10 studies (the message gives the Cochrane Handbook's reasons), or bad input.
    """
    level = check_level(level, "egger_test")
    y, v = check_effects(yi, vi, "egger_test")
    k = y.size
    if k < EGGER_MIN_K:
        raise ModelError(EGGER_REFUSAL.format(min_k=EGGER_MIN_K, k=k))
    sei = np.sqrt(v)
    if model == "lm":
        X = np.column_stack([np.ones(k), sei])
        w = 1.0 / v
        XtW = X.T * w
        cov = np.linalg.inv(XtW @ X)
        beta = cov @ (XtW @ y)
        resid = y - X @ beta
        sigma2 = float(np.sum(w * resid ** 2) / (k - 2))
        cov = cov * sigma2
        df = float(k - 2)
        se = np.sqrt(np.diag(cov))
        stat = beta[1] / se[1]
        p = float(2 * dist.t_sf(abs(stat), df))
        crit = dist.t_ppf(0.5 + level / 2.0, df)
    elif model == "rma":
        from bayes_il2.classical.regression import rma_regression

        fit = rma_regression(y, v, pd.DataFrame({"sei": sei}), method="REML", test="z", level=level)
        coef = fit.coefficients.set_index("name")
        beta = coef["estimate"].to_numpy()
        se = coef["se"].to_numpy()
        stat = float(coef.loc["sei", "statistic"])
        p, df = float(coef.loc["sei", "p"]), float("nan")
        crit = dist.norm_ppf(0.5 + level / 2.0)
    else:
        raise ModelError(f"egger_test: model must be 'lm' or 'rma'; got {model!r}")
    return EggerResult(statistic=float(stat), p=p, df=df, slope=float(beta[1]), slope_se=float(se[1]),
                       limit_estimate=float(beta[0]), limit_ci_low=float(beta[0] - crit * se[0]),
                       limit_ci_high=float(beta[0] + crit * se[0]), k=k, model=model)


@dataclass(frozen=True)
class SValueResult:
    """How severe publication bias would have to be to move the pooled estimate to ``q``.

    ``sval_est``: the ratio eta (how many times more likely an affirmative study is published than a
    non-affirmative one) at which the bias-corrected estimate equals ``q``; ``sval_ci``: the eta at
    which its confidence limit nearest ``q`` reaches ``q``. ``inf`` ("not possible"): no amount of
    selection of this kind moves it there; 1: it is there without any selection. ``estimate_naive``
    and ``estimate_worst``: the uncorrected estimate and the limit as eta -> inf (the mean of the
    non-affirmative studies alone).
    """

    sval_est: float
    sval_ci: float
    q: float
    estimate_naive: float
    estimate_worst: float
    tau2: float
    k: int
    k_affirmative: int
    k_nonaffirmative: int
    favor_positive: bool
    model: str
    note: str

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(self)])


def corrected_estimate(y: np.ndarray, v: np.ndarray, affirmative: np.ndarray, eta: float, tau2: float,
                       level: float = 0.95) -> tuple[float, float, float]:
    """Bias-corrected estimate at selection ratio ``eta`` with a robust (sandwich) confidence interval.

    Non-affirmative studies are up-weighted by eta: weights a_i / (v_i + tau^2), a_i = eta for
    non-affirmative and 1 for affirmative studies (Mathur & VanderWeele 2020, section 3). The variance
    is the heteroscedasticity-robust sandwich with the small-sample factor k/(k - 1) and t_{k-1}
    limits (the paper uses robust variance estimation; robumeta's CR2 correction is not reproduced).
    """
    w = np.where(affirmative, 1.0, eta) / (v + tau2)
    mu = float(np.sum(w * y) / w.sum())
    k = y.size
    var = float(np.sum(w ** 2 * (y - mu) ** 2) / w.sum() ** 2) * k / (k - 1)
    half = dist.t_ppf(0.5 + level / 2.0, k - 1) * np.sqrt(var)
    return mu, mu - half, mu + half


def svalue(yi: Any, vi: Any, q: float = 0.0, favor_positive: bool | None = None, model: str = "random",
           level: float = 0.95, eta_max: float = 1e6) -> SValueResult:
    """Mathur & VanderWeele's (2020) S-values for publication bias.

    Parameters
    ----------
    yi, vi : array-like
        Effect sizes and sampling variances (k >= 2).
    q : float
        The value the estimate should be moved to (0: the null on a difference or log scale).
    favor_positive : bool, optional
        Whether publication favours positive estimates; default: the sign of the uncorrected estimate.
    model : {"random", "fixed"}
        Weights 1/(v_i + tau^2) with tau^2 by REML from the uncorrected data, held fixed (random), or 1/v_i.
    level : float
        Confidence level of the limit used for ``sval_ci``.

    Notes
    -----
    Sound with few studies in the sense that it needs no estimate of the selection process: it asks
    only how strong selection would have to be. Affirmative: two-sided p < 0.05 and the estimate in
    the favoured direction (y_i / sqrt(v_i) > 1.96 after orienting).
    """
    level = check_level(level, "svalue")
    y, v = check_effects(yi, vi, "svalue", min_k=2)
    if model not in ("random", "fixed"):
        raise ModelError(f"svalue: model must be 'random' or 'fixed'; got {model!r}")
    k = y.size
    tau2 = estimate_tau2(y, v, np.ones((k, 1)), "REML") if model == "random" else 0.0
    w = 1.0 / (v + tau2)
    naive = float(np.sum(w * y) / w.sum())
    if favor_positive is None:
        favor_positive = naive >= q
    sign = 1.0 if favor_positive else -1.0
    ys, qs = sign * y, sign * q  # oriented: publication favours large ys
    crit = dist.norm_ppf(0.975)
    affirmative = ys / np.sqrt(v) > crit
    n_aff, n_non = int(affirmative.sum()), int((~affirmative).sum())
    naive_s = sign * naive
    worst = float(np.sum(ys[~affirmative] * w[~affirmative]) / w[~affirmative].sum()) if n_non else float("nan")
    note = ""
    if n_aff == 0:
        note = "no affirmative study: selection for affirmative results cannot have inflated the estimate"
        s_est = s_ci = float("inf")
    elif n_non == 0:
        note = "every study is affirmative: the corrected estimate does not depend on eta (S-value undefined)"
        s_est = s_ci = float("nan")
    else:
        def limit(eta: float) -> float:
            return corrected_estimate(ys, v, affirmative, eta, tau2, level)[1] - qs

        def point(eta: float) -> float:
            return corrected_estimate(ys, v, affirmative, eta, tau2, level)[0] - qs

        s_est = _solve_eta(point, eta_max)
        s_ci = _solve_eta(limit, eta_max)
        if s_est == float("inf"):
            note = "not possible: even infinitely strong selection leaves the estimate beyond q"
        if s_ci == 1.0:
            note = "; ".join(x for x in (note, "the robust confidence interval already reaches q without "
                                                "any selection") if x)
    return SValueResult(sval_est=s_est, sval_ci=s_ci, q=q, estimate_naive=naive,
                        estimate_worst=sign * worst if n_non else float("nan"), tau2=float(tau2), k=k,
                        k_affirmative=n_aff, k_nonaffirmative=n_non, favor_positive=bool(favor_positive),
                        model=model, note=note)


def _solve_eta(f, eta_max: float) -> float:
    """Smallest eta >= 1 with f(eta) = 0 for f decreasing in eta: 1 if f(1) <= 0, inf if f(eta_max) > 0."""
    if f(1.0) <= 0:
        return 1.0
    if f(eta_max) > 0:
        return float("inf")
    return float(brentq(f, 1.0, eta_max, xtol=1e-10, rtol=1e-12))
