"""Model comparison: common-effect vs random-effects vs three-level.

By exact marginal likelihoods (Bayes factors) where the exact engine applies and the mu prior is
proper; the common-effect model's marginal likelihood is the closed form
y ~ N(m0 1, V + s0^2 1 1^T) under mu ~ N(m0, s0^2). Otherwise ``None`` (compare by LOO).
Reference: Kass & Raftery (1995), JASA 90:773-795; Röver (2020), J Stat Softw 93(6).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from bayes_il2.diagnostics.exact_bridge import supports_exact


def common_effect_log_ml(yi: np.ndarray, vi: np.ndarray, mu_prior) -> float:
    """log marginal likelihood of the common-effect model with a normal prior on mu (closed form)."""
    cov = np.diag(vi) + mu_prior.sigma ** 2 * np.ones((len(yi), len(yi)))
    return float(stats.multivariate_normal(mean=np.full(len(yi), mu_prior.mu), cov=cov).logpdf(yi))


def compare_models(fit) -> pd.DataFrame | None:
    """log marginal likelihoods and Bayes factors against the random-effects model."""
    from bayes_il2 import exact
    from bayes_il2.priors import HalfNormal, Normal

    priors = getattr(fit, "priors", {}) or {}
    mu_prior = priors.get("mu")
    if not supports_exact(fit) or not isinstance(mu_prior, Normal):
        return None
    data = fit.data
    yi, vi = data["yi"].to_numpy(float), data["vi"].to_numpy(float)
    tau_prior = priors.get("tau", priors.get("tau_within", HalfNormal(0.5)))
    rows = [("common effect", common_effect_log_ml(yi, vi, mu_prior)),
            ("random effects (NNHM)", exact.nnhm(yi, vi, tau_prior=tau_prior, mu_prior=mu_prior).log_marginal_likelihood)]
    if "disease" in data.columns and data["disease"].nunique() > 1:
        three = exact.three_level(yi, vi, data["disease"].astype(str).to_numpy(), tau_within_prior=tau_prior,
                                  tau_between_prior=priors.get("tau_between", HalfNormal(0.5)), mu_prior=mu_prior)
        rows.append(("three-level (disease)", three.log_marginal_likelihood))
    table = pd.DataFrame(rows, columns=["model", "log_marginal_likelihood"])
    reference = table.loc[table["model"] == "random effects (NNHM)", "log_marginal_likelihood"].iloc[0]
    table["log_bf_vs_random"] = table["log_marginal_likelihood"] - reference
    table["bf_vs_random"] = np.exp(table["log_bf_vs_random"])
    return table
