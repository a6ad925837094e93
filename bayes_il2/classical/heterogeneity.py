"""Estimators of the between-study variance tau^2 for the (mixed-effects) random-effects model.

Model: y = X beta + u + e, u ~ N(0, tau^2 I), e ~ N(0, diag(v)). Every estimator returns tau^2 >= 0
(truncated at zero). The intercept-only model is the special case X = 1.

References
----------
DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. Control Clin Trials 7:177-188 (DL).
Paule RC, Mandel J (1982). Consensus values and weighting factors. J Res Natl Bur Stand 87:377-385 (PM).
Hedges LV (1983). A random effects model for effect sizes. Psychol Bull 93:388-395 (HE).
Sidik K, Jonkman JN (2005). Simple heterogeneity variance estimation for meta-analysis. J R Stat Soc C
54:367-384 (SJ).
Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators in the random-effects
model. J Educ Behav Stat 30:261-293 (ML and REML, their score equations).
Veroniki AA et al. (2016). Methods to estimate the between-study variance and its uncertainty in
meta-analysis. Res Synth Methods 7:55-79 (overview; the formulas used here).
"""
from __future__ import annotations

import numpy as np

from bayes_il2.classical._roots import brentq
from bayes_il2.errors import ModelError


def projection(v: np.ndarray, X: np.ndarray, tau2: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights w = 1/(v + tau^2) and P = W - W X (X'WX)^-1 X'W (Viechtbauer 2005, eq. 9)."""
    w = 1.0 / (v + tau2)
    WX = X * w[:, None]
    P = np.diag(w) - WX @ np.linalg.solve(X.T @ WX, WX.T)
    return w, P


def generalized_q(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> float:
    """Generalised Cochran Q(tau^2) = y' P(tau^2) y; Q(0) is Cochran's Q (residual Q_E)."""
    _, P = projection(v, X, tau2)
    return float(y @ P @ y)


def tau2_dl(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """DerSimonian-Laird: (Q - (k - p)) / tr(P(0)), truncated at 0."""
    k, p = X.shape
    w, P = projection(v, X, 0.0)
    q = float(y @ P @ y)
    return max(0.0, (q - (k - p)) / float(np.trace(P)))


def tau2_he(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """Hedges (unweighted method of moments): (RSS_OLS - tr(P_OLS V)) / (k - p), truncated at 0."""
    k, p = X.shape
    H = X @ np.linalg.solve(X.T @ X, X.T)
    M = np.eye(k) - H
    rss = float(y @ M @ y)
    return max(0.0, (rss - float(np.trace(M @ np.diag(v)))) / (k - p))


def tau2_sj(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """Sidik-Jonkman: tau0 = RSS_OLS / k, then tau0 * y'P(tau0)y / (k - p) (one re-weighting step)."""
    k, p = X.shape
    H = X @ np.linalg.solve(X.T @ X, X.T)
    tau0 = float(y @ (np.eye(k) - H) @ y) / k
    if tau0 <= 0:  # every study exactly on the regression line
        return 0.0
    return max(0.0, tau0 * generalized_q(y, v, X, tau0) / (k - p))  # y'Py can round to -1e-33


def _upper_bracket(f, start: float) -> float:
    """Smallest of start * 10^j where f turns negative (f decreasing in tau^2)."""
    hi = max(start, 1e-8)
    for _ in range(60):
        if f(hi) < 0:
            return hi
        hi *= 10.0
    raise ModelError("tau^2 estimation failed: no sign change of the estimating equation below 1e60")


def tau2_pm(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """Paule-Mandel: the root of Q(tau^2) = k - p (0 when Q(0) <= k - p)."""
    k, p = X.shape
    f = lambda t2: generalized_q(y, v, X, t2) - (k - p)  # noqa: E731 - decreasing in t2
    if f(0.0) <= 0:
        return 0.0
    hi = _upper_bracket(f, float(np.var(y)) + float(v.mean()))
    return float(brentq(f, 0.0, hi, xtol=1e-14, rtol=1e-12))


def _score(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, reml: bool) -> float:
    """Derivative of the (restricted) log-likelihood in tau^2 (Viechtbauer 2005, eqs. 10 and 12)."""
    w, P = projection(v, X, tau2)
    Py = P @ y
    if reml:
        return 0.5 * (float(Py @ Py) - float(np.trace(P)))
    WX = X * w[:, None]
    beta = np.linalg.solve(X.T @ WX, WX.T @ y)
    r = y - X @ beta
    return 0.5 * (float(np.sum(w ** 2 * r ** 2)) - float(np.sum(w)))


def restricted_loglik(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: np.ndarray,
                      reml: bool) -> np.ndarray:
    """(Restricted) log-likelihood at each of the values ``tau2``, without its constant
    (Viechtbauer 2005, eqs. 4 and 5)."""
    tau2 = np.atleast_1d(np.asarray(tau2, dtype=float))
    total = v[None, :] + tau2[:, None]
    w = 1.0 / total
    XtWX = np.einsum("gk,ki,kj->gij", w, X, X)
    beta = np.linalg.solve(XtWX, np.einsum("gk,ki,k->gi", w, X, y)[..., None])[..., 0]
    r = y[None, :] - beta @ X.T
    ll = -0.5 * np.sum(np.log(total), axis=1) - 0.5 * np.sum(w * r ** 2, axis=1)
    return ll - 0.5 * np.linalg.slogdet(XtWX)[1] if reml else ll


def _search_grid(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> np.ndarray:
    """0 and 40 points a decade from 1e-6 min(v) to 10 (RSS_OLS + sum v): every maximum lies below the
    top (for the intercept-only ML model a root of the score is at most range(y)^2 <= 2 RSS_OLS)."""
    top = 10.0 * (float(np.sum(residualize(y, X) ** 2)) + float(v.sum()))
    bottom = 1e-6 * float(v.min())
    decades = max(np.log10(top / bottom), 1.0)
    return np.concatenate([[0.0], np.geomspace(bottom, top, int(40 * decades) + 1)])


def tau2_likelihood(y: np.ndarray, v: np.ndarray, X: np.ndarray, reml: bool) -> float:
    """ML or REML: the global maximum of the (restricted) likelihood on [0, inf).

    The likelihood can have two maxima, one at 0 (score negative there) and a higher one inside
    (e.g. precise agreeing studies and an imprecise outlier), so a sign test of the score at 0 is not
    enough: the maximum is located on a log grid of tau^2, then refined as the root of the score
    between the grid's neighbours (a bounded search where the score does not change sign there).
    """
    grid = _search_grid(y, v, X)
    ll = restricted_loglik(y, v, X, grid, reml)
    j = int(np.argmax(ll))
    while j == grid.size - 1:  # not expected (see _search_grid); widen rather than stop at the edge
        grid = np.concatenate([grid, grid[-1] * np.geomspace(10 ** (1 / 40), 10.0, 40)])
        ll = restricted_loglik(y, v, X, grid, reml)
        j = int(np.argmax(ll))
        if grid[-1] > 1e60:
            raise ModelError("tau^2 estimation failed: the likelihood increases up to tau^2 = 1e60")
    score = lambda t2: _score(y, v, X, t2, reml)  # noqa: E731
    at = score(grid[j])
    if j == 0 and at <= 0:
        return 0.0
    lo, hi = (grid[j], grid[j + 1]) if at > 0 else (grid[j - 1], grid[j])
    if score(lo) > 0 > score(hi):
        return float(brentq(score, lo, hi, xtol=1e-14, rtol=1e-12))
    from scipy import optimize  # rarely reached: no sign change between the grid's neighbours

    lo, hi = grid[max(j - 1, 0)], grid[j + 1]
    found = optimize.minimize_scalar(lambda t2: -restricted_loglik(y, v, X, t2, reml)[0], bounds=(lo, hi),
                                     method="bounded", options={"xatol": 1e-14 + 1e-12 * hi})
    return float(found.x)


def residualize(y: np.ndarray, X: np.ndarray) -> np.ndarray:
    """y less its least-squares fit on X. Every estimator of tau^2 depends on y only through P y and
    (I - H) y, which annihilate X, so it gives the same tau^2 for these residuals; computing with them
    avoids cancellation: with y offset by 1e8, y'P(0)y lost all its digits (DL gave 0.545 for 0.0259)."""
    return y - X @ np.linalg.lstsq(X, y, rcond=None)[0]


def estimate_tau2(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str) -> float:
    """tau^2 by ``method`` (REML, ML, DL, PM, HE, SJ; EE gives 0)."""
    if method == "EE":
        return 0.0
    y = residualize(y, X)
    if method == "DL":
        return tau2_dl(y, v, X)
    if method == "PM":
        return tau2_pm(y, v, X)
    if method == "HE":
        return tau2_he(y, v, X)
    if method == "SJ":
        return tau2_sj(y, v, X)
    if method in ("REML", "ML"):
        return tau2_likelihood(y, v, X, reml=method == "REML")
    raise ModelError(f"unknown tau^2 estimator {method!r}")


def typical_variance(v: np.ndarray, X: np.ndarray) -> float:
    """Typical within-study variance s^2 = (k - p) / tr(P(0)) (Higgins & Thompson 2002 for p = 1)."""
    k, p = X.shape
    _, P = projection(v, X, 0.0)
    return (k - p) / float(np.trace(P))


def tau2_se(v: np.ndarray, X: np.ndarray, tau2: float, method: str) -> float:
    """Standard error of tau^2 from the expected information (ML, REML) (Viechtbauer 2005); NaN otherwise."""
    w, P = projection(v, X, tau2)
    if method == "REML":
        return float(np.sqrt(2.0 / np.sum(P * P.T)))
    if method == "ML":
        return float(np.sqrt(2.0 / np.sum(w ** 2)))
    return float("nan")
