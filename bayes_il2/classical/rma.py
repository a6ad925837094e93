"""Random-effects (and common-effect) meta-analysis by inverse-variance weighting: ``rma``.

Estimate mu_hat = sum w_i y_i / sum w_i with w_i = 1/(v_i + tau_hat^2), Var_wald = 1/sum w_i.
Tests and intervals:

- ``z``: Wald-type, mu_hat +/- z_{1-alpha/2} sqrt(Var_wald).
- ``knha``: Hartung-Knapp-Sidik-Jonkman, Var_KH = q Var_wald with q = sum w_i (y_i - mu_hat)^2 / (k-1),
  t_{k-1} quantiles (Hartung & Knapp 2001; Sidik & Jonkman 2002). With q < 1 the interval can be
  narrower than the Wald one.
- ``knha_modified``: q replaced by max(q, 1), so the interval is never narrower than the Wald one
  (Knapp & Hartung 2003; Röver, Knapp & Friede 2015).

Prediction intervals (k >= 3, random-effects methods): mu_hat +/- t_{k-2} sqrt(tau^2 + Var_wald)
(Higgins, Thompson & Spiegelhalter 2009), and Partlett & Riley's (2017) variant with Var_KH in place
of Var_wald (their REML + HKSJ + t_{k-2} interval).

References
----------
Hartung J, Knapp G (2001). On tests of the overall treatment effect in meta-analysis with normally
distributed responses. Stat Med 20:1771-1782.
Sidik K, Jonkman JN (2002). A simple confidence interval for meta-analysis. Stat Med 21:3153-3159.
Knapp G, Hartung J (2003). Improved tests for a random effects meta-regression with a single
covariate. Stat Med 22:2693-2710.
Röver C, Knapp G, Friede T (2015). Hartung-Knapp-Sidik-Jonkman approach and its modification for
random-effects meta-analysis with few studies. BMC Med Res Methodol 15:99.
Higgins JPT, Thompson SG, Spiegelhalter DJ (2009). A re-evaluation of random-effects meta-analysis.
J R Stat Soc A 172:137-159.
Partlett C, Riley RD (2017). Random effects meta-analysis: coverage performance of 95% confidence and
prediction intervals following REML estimation. Stat Med 36:301-317.
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36(3)
(the conventions and the printed examples this module is checked against).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from bayes_il2.classical import _distributions as dist
from bayes_il2.classical._inputs import check_effects, check_level, check_method, check_test
from bayes_il2.classical.heterogeneity import estimate_tau2, tau2_se, typical_variance
from bayes_il2.classical.qprofile import h2_from_tau2, i2_from_tau2, tau2_qprofile_ci
from bayes_il2.classical.result import RMAResult
from bayes_il2.errors import ModelError

NAN = float("nan")


def rma(yi: Any, vi: Any, method: str = "REML", test: str = "z", level: float = 0.95,
        tau2: float | None = None) -> RMAResult:
    """Random-effects meta-analysis of effect sizes ``yi`` with sampling variances ``vi``.

    Parameters
    ----------
    yi, vi : array-like
        Effect sizes and their sampling variances (vi > 0), one per study.
    method : {"REML", "ML", "DL", "PM", "HE", "SJ", "EE"}
        tau^2 estimator; ``EE`` is the common-effect (equal-effects) model, tau^2 = 0.
    test : {"z", "knha", "knha_modified"}
        Wald-type normal test, Hartung-Knapp-Sidik-Jonkman t test, or its modification with
        q = max(q, 1) (never narrower than Wald).
    level : float
        Confidence level of every interval.
    tau2 : float, optional
        Fix tau^2 at this value instead of estimating it (as metafor's ``tau2`` argument); ``method``
        then only labels the result.

    Returns
    -------
    RMAResult

    Raises
    ------
    ModelError
        k = 1 with a random-effects method or a Knapp-Hartung test (tau^2 and the t test are not
        defined with one study), all variances zero, a NaN or infinite value, an unknown option.

    References
    ----------
    See the module docstring (DerSimonian & Laird 1986; Viechtbauer 2005, 2007; Hartung & Knapp 2001;
    Röver et al. 2015; Higgins et al. 2009; Partlett & Riley 2017).
    """
    who = "rma"
    method, test, level = check_method(method, who), check_test(test, who), check_level(level, who)
    y, v = check_effects(yi, vi, who)
    k = y.size
    if k == 1 and (method != "EE" or test != "z"):
        raise ModelError(f"{who}: k = 1: with a single study tau^2 and the Knapp-Hartung test are undefined "
                         "(use method='EE', test='z' to restate that study, or add studies)")
    X = np.ones((k, 1))
    if tau2 is None:
        tau2 = estimate_tau2(y, v, X, method)
    elif not (np.isfinite(tau2) and tau2 >= 0):
        raise ModelError(f"{who}: a fixed tau2 must be a finite number >= 0; got {tau2!r}")
    w = 1.0 / (v + tau2)
    sw = float(w.sum())
    mu = float(np.sum(w * y) / sw)
    var_wald = 1.0 / sw
    se_wald = float(np.sqrt(var_wald))
    z = dist.norm_ppf(0.5 + level / 2.0)
    q_kh = float(np.sum(w * (y - mu) ** 2) / (k - 1)) if k > 1 else NAN
    if test == "z":
        se, df, crit = se_wald, NAN, z
    else:
        factor = q_kh if test == "knha" else max(q_kh, 1.0)
        se, df = float(np.sqrt(factor * var_wald)), float(k - 1)
        crit = dist.t_ppf(0.5 + level / 2.0, df)
    statistic = mu / se if se > 0 else NAN
    p = float(2 * (dist.norm_sf(abs(statistic)) if test == "z" else dist.t_sf(abs(statistic), df)))
    # heterogeneity: Cochran's Q (fixed-effect weights), I^2/H^2 from tau^2, Q-profile intervals
    w0 = 1.0 / v
    mu0 = float(np.sum(w0 * y) / w0.sum())
    q = float(np.sum(w0 * (y - mu0) ** 2))
    q_df = k - 1
    q_p = float(dist.chi2_sf(q, q_df)) if q_df > 0 else NAN
    if k > 1:
        s2 = typical_variance(v, X)
        lo, hi = tau2_qprofile_ci(y, v, X, level)
        if method == "EE":  # I^2 of the common-effect model: (Q - df) / Q (Higgins & Thompson 2002)
            i2 = max(0.0, 100.0 * (q - q_df) / q) if q > 0 else 0.0
            h2 = q / q_df
        else:
            i2, h2 = i2_from_tau2(tau2, s2), h2_from_tau2(tau2, s2)
        i2_ci = (i2_from_tau2(lo, s2), i2_from_tau2(hi, s2))
        h2_ci = (h2_from_tau2(lo, s2), h2_from_tau2(hi, s2))
    else:
        lo = hi = i2 = h2 = NAN
        i2_ci = h2_ci = (NAN, NAN)
    if k >= 3 and method != "EE":
        t2 = dist.t_ppf(0.5 + level / 2.0, k - 2)
        half = t2 * np.sqrt(tau2 + var_wald)
        half_pr = t2 * np.sqrt(tau2 + q_kh * var_wald)
        pi = (mu - half, mu + half)
        pi_pr = (mu - half_pr, mu + half_pr)
    else:
        pi = pi_pr = (NAN, NAN)
    return RMAResult(
        estimate=mu, se=se, ci_low=float(mu - crit * se), ci_high=float(mu + crit * se), statistic=float(statistic),
        p=p, df=df, se_wald=se_wald, wald_low=float(mu - z * se_wald), wald_high=float(mu + z * se_wald),
        tau2=float(tau2), tau2_se=tau2_se(v, X, tau2, method) if k > 1 else NAN, tau2_ci=(float(lo), float(hi)),
        i2=float(i2), i2_ci=(float(i2_ci[0]), float(i2_ci[1])), h2=float(h2), h2_ci=(float(h2_ci[0]), float(h2_ci[1])),
        q=q, q_df=q_df, q_p=q_p,
        pi_low=float(pi[0]), pi_high=float(pi[1]), pi_pr_low=float(pi_pr[0]), pi_pr_high=float(pi_pr[1]),
        k=k, method=method, test=test, level=level, weights=tuple(100.0 * w / sw))
