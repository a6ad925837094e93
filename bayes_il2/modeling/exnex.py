"""EXNEX: diseases exchangeable with a prior probability, non-exchangeable otherwise.

    y_i ~ N(theta_i, v_i),   theta_i ~ N(mu_disease[d(i)], tau_within^2)
    mu_disease[d] ~ p_exch * N(mu, tau_between^2) + (1 - p_exch) * N(m_nex, s_nex^2)

(Neuenschwander, Wandel, Roychoudhury & Bailey 2016, Pharm Stat 15:123-134, "EXNEX"). Each
disease's mean is either exchangeable with the others (drawn from the three-level model's
between-disease distribution) or non-exchangeable (its own weakly informative prior
``N(m_nex, s_nex^2)``, the ``nex`` prior). The discrete indicator is marginalised: the prior of
``mu_disease[d]`` is the two-component normal mixture (``pm.NormalMixture``, a log-sum-exp of the two
component log densities), so NUTS samples only continuous parameters.

The posterior exchangeability probability of disease d is the posterior mean of

    w_d = p_exch N(mu_d | mu, tau_between^2) / [p_exch N(mu_d | mu, tau_between^2)
          + (1 - p_exch) N(mu_d | m_nex, s_nex^2)],

the conditional probability of the EX component given each draw (a Rao-Blackwellised estimate of
P(EX_d | y)); ``p_exch_post`` (dim disease) holds w_d per draw. With ``p_exch = 1`` the model is the
three-level model (:mod:`bayes_il2.modeling.three_level`) with a centered ``mu_disease``.

What the NEX prior means: the belief about a disease's mean effect *if it is unlike the others*. It
should be weakly informative on the scale of the measure (default ``Normal(0, 2)``, e.g. ratios of
means between exp(-4) and exp(4) for ROMC): a very wide NEX prior makes the NEX component improbable
for any data (the Lindley-Bartlett effect), so p_exch_post depends on it. Posterior variables: mu,
tau_within, tau_between, mu_disease, p_exch_post (disease), theta (study_id), theta_new_disease
(disease), mu_new_disease and theta_new (a new exchangeable disease).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayes_il2.errors import ModelError
# shared with the exact engine (a lower layer): the p_exch check, the default NEX prior, the caveats
from bayes_il2.exact.exnex import DEFAULT_NEX_PRIOR, check_p_exch, exnex_caveats  # noqa: F401
from bayes_il2.modeling._common import (BuiltModel, check_columns, check_parameterization, disease_index,
                                        normal_study_loglik, resolve_priors, study_labels)
from bayes_il2.modeling.nnhm import _measure, effect_values
from bayes_il2.modeling.three_level import studies_within_diseases

FAMILY = "exnex"
_caveats = exnex_caveats


def _nex_prior(priors: Mapping[str, Any]) -> tuple[float, float, Any]:
    from bayes_il2.priors import Normal

    nex = priors.get("nex")
    if nex is None:
        nex = Normal(*DEFAULT_NEX_PRIOR)
    if not isinstance(nex, Normal):
        raise ModelError(f"{FAMILY}: the 'nex' prior must be a Normal(m_nex, s_nex); got {nex!r}")
    return float(nex.mu), float(nex.sigma), nex


def _log_normal_pdf(x: Any, mean: Any, sd: Any) -> Any:
    return -0.5 * np.log(2 * np.pi) - pt.log(sd) - 0.5 * ((x - mean) / sd) ** 2


def exnex_disease_means(mu: Any, tau_b: Any, p: float, m_nex: float, s_nex: float, n_d: int) -> Any:
    """``mu_disease`` (dim disease) with the EXNEX mixture prior, and the deterministic ``p_exch_post``.

    Call inside a model with a ``disease`` coordinate. ``p_exch_post`` is the conditional probability
    of the EX component given the draw (see the module docstring).
    """
    ones = pt.ones((n_d,))
    means = pt.stack([mu * ones, m_nex * ones], axis=-1)
    sds = pt.stack([tau_b * ones, s_nex * ones], axis=-1)
    mu_d = pm.NormalMixture("mu_disease", w=np.array([p, 1.0 - p]), mu=means, sigma=sds, dims="disease")
    log_ex = np.log(p) + _log_normal_pdf(mu_d, mu, tau_b)
    if p < 1.0:
        log_nex = np.log1p(-p) + _log_normal_pdf(mu_d, m_nex, s_nex)
        w_ex = pt.exp(log_ex - pt.logaddexp(log_ex, log_nex))
    else:
        w_ex = ones
    pm.Deterministic("p_exch_post", w_ex, dims="disease")
    return mu_d


def build_exnex(data: pd.DataFrame, *, priors: Mapping[str, Any] | None = None, p_exch: float = 0.5,
                measure: str | None = None, parameterization: str = "noncentered") -> BuiltModel:
    """Build the EXNEX model for an effect table with a ``disease`` column.

    Parameters
    ----------
    data : DataFrame
        ``study_id``, ``disease``, ``yi``, ``vi`` (> 0), optional ``arm_id``.
    priors : dict, optional
        Priors for ``mu``, ``tau_within``, ``tau_between`` and ``nex`` (a ``Normal``: the prior of a
        non-exchangeable disease's mean; default ``Normal(0, 2)``).
    p_exch : float
        Prior probability that a disease is exchangeable, in (0, 1] (the same for every disease).
    measure : str, optional
    parameterization : {"noncentered", "centered"}
        Of the study effects ``theta`` (``mu_disease`` is always centered: its prior is a mixture).

    Returns
    -------
    BuiltModel

    References
    ----------
    Neuenschwander B, Wandel S, Roychoudhury S, Bailey S (2016). Robust exchangeability designs for
    early phase clinical trials with multiple strata. Pharm Stat 15:123-134.
    """
    check_columns(data, ["study_id", "disease", "yi", "vi"], FAMILY)
    check_parameterization(parameterization)
    p = check_p_exch(p_exch)
    data = data.reset_index(drop=True)
    values = effect_values(data, FAMILY)
    ids = study_labels(data, FAMILY)
    levels, d_index = disease_index(data, FAMILY)
    given = dict(priors or {})
    m_nex, s_nex, nex = _nex_prior(given)
    given.pop("nex", None)
    resolved = resolve_priors(given, ["mu", "tau_within", "tau_between"], FAMILY)
    settings: dict[str, Any] = {"parameterization": parameterization, "p_exch": p,
                                "nex_prior": [m_nex, s_nex]}
    caveats = _caveats(levels, d_index)
    if caveats:
        settings["caveats"] = caveats
    n_d = len(levels)
    with pm.Model(coords={"study_id": ids, "disease": levels, "component": ["ex", "nex"]}) as model:
        yi = pm.Data("yi", values["yi"], dims="study_id")
        vi = pm.Data("vi", values["vi"], dims="study_id")
        weight = pm.Data("weight", np.ones(len(ids)), dims="study_id")
        mu = resolved["mu"].to_pymc("mu")
        tau_w = resolved["tau_within"].to_pymc("tau_within")
        tau_b = resolved["tau_between"].to_pymc("tau_between")
        mu_d = exnex_disease_means(mu, tau_b, p, m_nex, s_nex, n_d)
        studies_within_diseases(mu_d, d_index, 0.0, mu, tau_w, tau_b, yi, vi, weight, parameterization)
    settings["disease_of_study"] = [levels[i] for i in d_index]

    def integrated_loglik(post: xr.Dataset, const: xr.Dataset) -> xr.DataArray:
        """log N(y_i | mu_disease[d(i)], tau_within^2 + v_i): theta_i integrated out."""
        mean = post["mu_disease"].isel(disease=xr.DataArray(d_index, dims="study_id")).drop_vars("disease")
        return normal_study_loglik(const["yi"], mean, post["tau_within"] ** 2 + const["vi"])

    return BuiltModel(model=model, family=FAMILY, measure=_measure(data, measure), data=data,
                      priors={**resolved, "nex": nex}, settings=settings, study_ids=ids,
                      study_index={"y": None},
                      data_values=lambda table: effect_values(table.reset_index(drop=True), FAMILY),
                      integrated_loglik=integrated_loglik)


def exchangeability_table(fit: Any) -> pd.DataFrame:
    """Per disease: prior and posterior exchangeability probability and the EXNEX disease mean
    (from the draws of an MCMC fit; exact for a fit of the exact engine, :mod:`bayes_il2.exact.exnex`).

    Columns: disease, k (studies), p_exch_prior, p_exch_post, mu_disease_mean, mu_disease_low,
    mu_disease_high (95% equal-tailed, model scale).
    """
    post = fit.idata["posterior"]
    if "p_exch_post" not in post.data_vars:
        raise ModelError("exchangeability_table: the fit is not an EXNEX fit (no p_exch_post)")
    levels = [str(d) for d in post["disease"].values]
    counts = pd.Series(fit.settings.get("disease_of_study", [])).value_counts()
    if getattr(fit, "sampler", None) == "exact":  # from the exact marginals, not the draws
        from bayes_il2.exact.exnex import exnex

        data, priors = fit.data, fit.priors
        model = exnex(data["yi"], data["vi"], data["disease"].astype(str), priors["tau_within"], priors["tau_between"],
                      mu_prior=priors["mu"], nex_prior=priors.get("nex"), p_exch=fit.settings.get("p_exch", 0.5))
        return pd.DataFrame([{"disease": d, "k": int(counts.get(d, 0)), "p_exch_prior": fit.settings.get("p_exch"),
                              "p_exch_post": model.p_exch_post(d), "mu_disease_mean": model.mu_disease(d).mean,
                              **dict(zip(("mu_disease_low", "mu_disease_high"),
                                         map(float, model.mu_disease(d).ppf(np.array([0.025, 0.975])))))}
                             for d in levels])
    rows = []
    for d in levels:
        w = np.asarray(post["p_exch_post"].sel(disease=d)).ravel()
        m = np.asarray(post["mu_disease"].sel(disease=d)).ravel()
        rows.append({"disease": d, "k": int(counts.get(d, 0)), "p_exch_prior": fit.settings.get("p_exch"),
                     "p_exch_post": float(w.mean()), "mu_disease_mean": float(m.mean()),
                     "mu_disease_low": float(np.quantile(m, 0.025)),
                     "mu_disease_high": float(np.quantile(m, 0.975))})
    return pd.DataFrame(rows)
