"""Mixed-effects meta-regression: ``rma_regression`` (tau^2 by REML etc., Wald or Knapp-Hartung tests).

Model: y_i = x_i' beta + u_i + e_i, u_i ~ N(0, tau^2), e_i ~ N(0, v_i). beta_hat = (X'WX)^-1 X'W y with
W = diag(1/(v_i + tau_hat^2)); Var(beta_hat) = (X'WX)^-1, multiplied by q = y'P y / (k - p) under
Knapp-Hartung (t_{k-p} tests; omnibus F test of the moderators with (m, k - p) df), by max(q, 1)
under the modified version.

References
----------
Knapp G, Hartung J (2003). Improved tests for a random effects meta-regression with a single
covariate. Stat Med 22:2693-2710.
Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators in the random-effects
model. J Educ Behav Stat 30:261-293.
Raudenbush SW (2009). Analyzing effect sizes: random-effects models. In: Cooper H, Hedges LV,
Valentine JC (eds), The Handbook of Research Synthesis and Meta-Analysis, 2nd ed. (pseudo R^2).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayes_il2.classical import _distributions as dist
from bayes_il2.classical._inputs import check_effects, check_level, check_method, check_test, design_matrix
from bayes_il2.classical.heterogeneity import estimate_tau2, projection, tau2_se, typical_variance
from bayes_il2.classical.qprofile import h2_from_tau2, i2_from_tau2, tau2_qprofile_ci
from bayes_il2.classical.result import RegressionResult
from bayes_il2.errors import ModelError


def rma_regression(yi: Any, vi: Any, X: Any, method: str = "REML", test: str = "knha",
                   level: float = 0.95, intercept: bool = True, tau2: float | None = None) -> RegressionResult:
    """Meta-regression of ``yi`` on the moderators ``X`` (an intercept is added unless ``intercept=False``).

    Parameters
    ----------
    yi, vi : array-like
        Effect sizes and sampling variances.
    X : array-like or DataFrame, shape (k,) or (k, m)
        Moderators (column names are kept from a DataFrame).
    method : str
        tau^2 estimator (REML, ML, DL, PM, HE, SJ; EE for a fixed-effects meta-regression).
    test : {"knha", "knha_modified", "z"}
        Knapp-Hartung t/F tests (default), their modification with q = max(q, 1), or Wald z/chi^2.
    level : float
        Confidence level of the coefficient intervals.
    intercept : bool
        Add an intercept column (``intrcpt``).
    tau2 : float, optional
        Fix tau^2 at this value instead of estimating it (as metafor's ``tau2`` argument).

    Returns
    -------
    RegressionResult

    Raises
    ------
    ModelError
        Bad yi/vi/X, collinear moderators, as many coefficients as studies.
    """
    who = "rma_regression"
    method, test, level = check_method(method, who), check_test(test, who), check_level(level, who)
    y, v = check_effects(yi, vi, who, min_k=2)
    k = y.size
    M, names = design_matrix(X, k, who, intercept=intercept)
    p = M.shape[1]
    if tau2 is None:
        tau2 = estimate_tau2(y, v, M, method)
    elif not (np.isfinite(tau2) and tau2 >= 0):
        raise ModelError(f"{who}: a fixed tau2 must be a finite number >= 0; got {tau2!r}")
    w, P = projection(v, M, tau2)
    WX = M * w[:, None]
    cov = np.linalg.inv(M.T @ WX)
    beta = cov @ (WX.T @ y)
    df_resid = k - p
    q_kh = float(y @ P @ y) / df_resid
    if test == "z":
        factor, crit = 1.0, dist.norm_ppf(0.5 + level / 2.0)
    else:
        factor = q_kh if test == "knha" else max(q_kh, 1.0)
        crit = dist.t_ppf(0.5 + level / 2.0, df_resid)
    cov = cov * factor
    se = np.sqrt(np.diag(cov))
    statistic = beta / se
    if test == "z":
        p_values = 2 * dist.norm_sf(np.abs(statistic))
    else:
        p_values = 2 * dist.t_sf(np.abs(statistic), df_resid)
    coefficients = pd.DataFrame({"name": names, "estimate": beta, "se": se, "statistic": statistic,
                                 "p": p_values, "ci_low": beta - crit * se, "ci_high": beta + crit * se})
    moderators = [j for j, n in enumerate(names) if not (intercept and n == "intrcpt")]
    m = len(moderators)
    if m:
        b = beta[moderators]
        qm = float(b @ np.linalg.solve(cov[np.ix_(moderators, moderators)], b))
        if test == "z":
            qm_p, qm_test = float(dist.chi2_sf(qm, m)), "chi2"
        else:
            qm, qm_test = qm / m, "F"
            qm_p = float(dist.f_sf(qm, m, df_resid))
    else:
        qm, qm_p, qm_test = float("nan"), float("nan"), ""
    _, P0 = projection(v, M, 0.0)
    qe = float(y @ P0 @ y)
    s2 = typical_variance(v, M)
    r2 = float("nan")
    if intercept and m and method != "EE":
        tau2_0 = estimate_tau2(y, v, np.ones((k, 1)), method)
        r2 = max(0.0, 100.0 * (tau2_0 - tau2) / tau2_0) if tau2_0 > 0 else 0.0
    return RegressionResult(
        coefficients=coefficients, tau2=float(tau2), tau2_se=tau2_se(v, M, tau2, method),
        tau2_ci=tau2_qprofile_ci(y, v, M, level), i2=i2_from_tau2(tau2, s2), h2=h2_from_tau2(tau2, s2),
        qe=qe, qe_df=df_resid, qe_p=float(dist.chi2_sf(qe, df_resid)), qm=qm, qm_df=m, qm_p=qm_p,
        qm_test=qm_test, df_resid=float(df_resid), r2=r2, k=k, method=method, test=test, level=level)
