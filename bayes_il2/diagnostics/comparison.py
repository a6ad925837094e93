"""Model comparison: common-effect vs random-effects vs three-level.

By exact marginal likelihoods (Bayes factors) where the exact engine applies and the mu prior is
proper (:func:`compare_models`; the common-effect model is the exact engine's
:func:`bayes_il2.exact.common_effect`); by PSIS-LOO for any fitted models with the same per-study
log-likelihood, e.g. binomial families (:func:`compare_by_loo`).
References: Kass & Raftery (1995), JASA 90:773-795; Röver (2020), J Stat Softw 93(6);
Vehtari, Gelman & Gabry (2017), Stat Comput 27:1413-1432; Yao et al. (2018), Bayesian Anal 13:917-1007.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_il2.diagnostics.exact_bridge import supports_exact
from bayes_il2.errors import ModelError


def compare_models(fit) -> pd.DataFrame | None:
    """log marginal likelihoods and Bayes factors against the random-effects model."""
    from bayes_il2 import exact
    from bayes_il2.priors import HalfNormal, Normal

    priors = getattr(fit, "priors", {}) or {}
    mu_prior = priors.get("mu")
    if not supports_exact(fit) or fit.family == "binomial_normal" or not isinstance(mu_prior, Normal):
        return None
    data = fit.data
    yi, vi = data["yi"].to_numpy(float), data["vi"].to_numpy(float)
    tau_prior = priors.get("tau", priors.get("tau_within", HalfNormal(0.5)))
    rows = [("common effect", exact.common_effect(yi, vi, mu_prior=mu_prior).log_marginal_likelihood),
            ("random effects (NNHM)", exact.nnhm(yi, vi, tau_prior=tau_prior, mu_prior=mu_prior).log_marginal_likelihood)]
    if "disease" in data.columns and data["disease"].nunique() > 1:
        three = exact.three_level(yi, vi, data["disease"].astype(str).to_numpy(), tau_within_prior=tau_prior,
                                  tau_between_prior=priors.get("tau_between", HalfNormal(0.5)), mu_prior=mu_prior)
        rows.append(("three-level (disease)", three.log_marginal_likelihood))
        if fit.family == "exnex":
            from bayes_il2.diagnostics.exact_bridge import exact_model

            rows.append((f"EXNEX (p_exch = {fit.settings.get('p_exch', 0.5):g})",
                         exact_model(fit).log_marginal_likelihood))
    table = pd.DataFrame(rows, columns=["model", "log_marginal_likelihood"])
    reference = table.loc[table["model"] == "random effects (NNHM)", "log_marginal_likelihood"].iloc[0]
    table["log_bf_vs_random"] = table["log_marginal_likelihood"] - reference
    table["bf_vs_random"] = np.exp(table["log_bf_vs_random"])
    return table


def compare_by_loo(fits: dict[str, object]) -> pd.DataFrame:
    """Rank fitted models by PSIS-LOO expected log predictive density (ArviZ ``compare``).

    Parameters
    ----------
    fits : dict of name -> Fit
        Models of the same studies (the same ``study_id`` coordinate of ``log_likelihood/y``), e.g.
        a random-effects and a common-effect binomial model, or two- and three-level rate models.

    Returns
    -------
    DataFrame
        One row per model, best first: ``elpd``, ``se``, ``elpd_diff``, ``dse`` (SE of the
        difference), ``p`` (effective parameters), ``weight`` (stacking) and ``warning`` (Pareto k).
    """
    from bayes_il2._arviz import arviz_stats  # imported on use: about a second (scipy.stats)

    az = arviz_stats()

    if len(fits) < 2:
        raise ModelError("compare_by_loo needs at least two fits")
    studies = {name: tuple(np.asarray(f.idata["log_likelihood"]["y"]["study_id"]).tolist()) for name, f in fits.items()}
    if len(set(studies.values())) > 1:
        raise ModelError(f"compare_by_loo: the fits hold different studies: {studies}")
    table = az.compare({name: f.idata for name, f in fits.items()}, var_name="y", round_to=None)
    keep = [c for c in ("rank", "elpd", "p", "elpd_diff", "weight", "se", "dse", "warning") if c in table.columns]
    return table[keep].rename_axis("model").reset_index()
