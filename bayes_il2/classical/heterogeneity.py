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
from scipy import optimize

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
    return tau0 * generalized_q(y, v, X, tau0) / (k - p)


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
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-14, rtol=1e-12))


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


def tau2_likelihood(y: np.ndarray, v: np.ndarray, X: np.ndarray, reml: bool) -> float:
    """ML or REML: the root of the score equation, 0 when the score at 0 is not positive.

    The (restricted) likelihood of the normal random-effects model is maximised on [0, inf); its
    score is positive at 0 exactly when the maximum lies inside, and is negative for large tau^2.
    """
    f = lambda t2: _score(y, v, X, t2, reml)  # noqa: E731
    if f(0.0) <= 0:
        return 0.0
    hi = _upper_bracket(f, float(np.var(y)) + float(v.mean()))
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-14, rtol=1e-12))


def estimate_tau2(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str) -> float:
    """tau^2 by ``method`` (REML, ML, DL, PM, HE, SJ; EE gives 0)."""
    if method == "EE":
        return 0.0
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
