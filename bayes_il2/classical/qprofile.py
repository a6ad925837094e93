"""Q-profile confidence intervals for tau^2, and through it for tau, I^2 and H^2.

The generalised Q statistic Q(tau^2) = sum_i w_i(tau^2) (y_i - x_i' beta_hat(tau^2))^2 with
w_i = 1/(v_i + tau^2) follows chi^2_{k-p} at the true tau^2 and decreases in tau^2. The interval
collects the tau^2 where Q(tau^2) lies between the chi^2 quantiles: the lower limit solves
Q(tau^2) = chi^2_{k-p, 1-alpha/2}, the upper Q(tau^2) = chi^2_{k-p, alpha/2}; a limit is 0 when Q(0)
is already below its quantile (the interval may be {0}).

References
----------
Viechtbauer W (2007). Confidence intervals for the amount of heterogeneity in meta-analysis.
Stat Med 26:37-52.
Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. Stat Med 21:1539-1558
(I^2 and H^2 from tau^2 and the typical within-study variance).
"""
from __future__ import annotations

import numpy as np

from bayes_il2.classical import _distributions as dist
from bayes_il2.classical._roots import brentq
from bayes_il2.classical.heterogeneity import _upper_bracket, generalized_q, residualize


def tau2_qprofile_ci(y: np.ndarray, v: np.ndarray, X: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """(lower, upper) Q-profile limits for tau^2 (Viechtbauer 2007)."""
    k, p = X.shape
    df = k - p
    if df < 1:
        return float("nan"), float("nan")
    y = residualize(y, X)  # Q(tau^2) is the same for the residuals, without cancellation
    alpha = 1.0 - level
    q_upper = dist.chi2_ppf(1.0 - alpha / 2.0, df)
    q_lower = dist.chi2_ppf(alpha / 2.0, df)

    def limit(target: float) -> float:
        f = lambda t2: generalized_q(y, v, X, t2) - target  # noqa: E731 - decreasing in t2
        if f(0.0) <= 0:
            return 0.0
        hi = _upper_bracket(f, float(np.var(y)) + float(v.mean()))
        return float(brentq(f, 0.0, hi, xtol=1e-14, rtol=1e-12))

    return limit(q_upper), limit(q_lower)


def i2_from_tau2(tau2: float, s2: float) -> float:
    """I^2 in percent: 100 tau^2 / (tau^2 + s^2)."""
    return 100.0 * tau2 / (tau2 + s2)


def h2_from_tau2(tau2: float, s2: float) -> float:
    """H^2 = (tau^2 + s^2) / s^2."""
    return (tau2 + s2) / s2
