"""How much the pooling assumptions matter: EXNEX beside the three-level model, design-bias
variants, and the model-averaged answer (the tables an ``exnex`` analysis writes).

:func:`pooling_comparison` takes an EXNEX fit and returns two tables:

``exnex_by_disease``
    Per disease: k, designs, the three-level posterior of the disease mean (exact engine, the same
    priors: every disease exchangeable), the EXNEX posterior, the prior and posterior
    exchangeability probability and the shift EXNEX minus three-level (model scale).
``model_average``
    The weights and averaged mu of two model sets: (a) exact marginal likelihoods of common effect,
    random effects, three-level and EXNEX (its exact engine, :mod:`bayes_il2.exact.exnex`; the note
    says so) (:func:`bayes_il2.modeling.averaging.exact_model_average`, with its prior-sensitivity flag), (b) stacking (PSIS-LOO) of the MCMC fits EXNEX, three-level and
    design bias (:func:`bayes_il2.modeling.averaging.stacking_average`). The two sets are
    weighted separately: stacking weights are predictive, not posterior probabilities.

:func:`rate_pooling_comparison` does the same for an ``exnex_rate`` fit (single-arm event rates):
the plain two-level single-arm model, EXNEX and the design-bias rate model side by side per disease,
and their stacking average (no exact engine for binomial likelihoods).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from bayes_il2.errors import ModelError


def exnex_by_disease(exnex_fit: Any, table: pd.DataFrame, priors: Mapping[str, Any], level: float = 0.95) -> pd.DataFrame:
    """Per-disease estimates with and without EXNEX (see the module docstring)."""
    from bayes_il2 import exact
    from bayes_il2.modeling.exnex import exchangeability_table

    ex = exchangeability_table(exnex_fit).set_index("disease")
    three = exact.three_level(table["yi"], table["vi"], table["disease"].astype(str), priors["tau_within"],
                              priors["tau_between"], mu_prior=priors["mu"])
    tail = (1 - level) / 2
    rows = []
    for d, block in table.groupby(table["disease"].astype(str), sort=True):
        m = three.mu_disease(d)
        rows.append({"disease": d, "k": int(len(block)),
                     "designs": ", ".join(sorted(set(block["design"].astype(str)))) if "design" in block else "",
                     "three_level_mean": m.mean, "three_level_low": float(m.ppf(tail)),
                     "three_level_high": float(m.ppf(1 - tail)),
                     "exnex_mean": ex.loc[d, "mu_disease_mean"], "exnex_low": ex.loc[d, "mu_disease_low"],
                     "exnex_high": ex.loc[d, "mu_disease_high"], "p_exch_prior": ex.loc[d, "p_exch_prior"],
                     "p_exch_post": ex.loc[d, "p_exch_post"],
                     "shift": ex.loc[d, "mu_disease_mean"] - m.mean})
    return pd.DataFrame(rows)


def pooling_comparison(exnex_fit: Any, table: pd.DataFrame, priors: Mapping[str, Any],
                       fit_variant: Callable[[str, Mapping[str, Any], Mapping[str, Any]], Any]) -> dict[str, pd.DataFrame]:
    """The side-by-side tables of an EXNEX analysis.

    Parameters
    ----------
    exnex_fit : Fit
        The EXNEX fit (family ``exnex``).
    table : DataFrame
        Its effect table (``study_id``, ``disease``, ``design``, ``yi``, ``vi``).
    priors : mapping
        ``mu``, ``tau_within``, ``tau_between`` (and optionally ``nex``) prior objects; the design-bias
        and random-effects models use ``tau_within`` as their tau prior.
    fit_variant : callable
        ``fit_variant(family, priors, options) -> Fit``: fits another family to ``table`` with the
        analysis's sampler settings (the pipeline passes one).

    Returns
    -------
    dict with ``exnex_by_disease`` and ``model_average`` DataFrames.
    """
    from bayes_il2.modeling.averaging import exact_model_average, stacking_average
    from bayes_il2.modeling.design_bias import design_groups

    for name in ("mu", "tau_within", "tau_between"):
        if name not in priors:
            raise ModelError(f"pooling comparison: a {name!r} prior is needed")
    out = {"exnex_by_disease": exnex_by_disease(exnex_fit, table, priors)}
    from bayes_il2.priors import Normal

    groups = table["disease"].astype(str).tolist()
    p_exch = (getattr(exnex_fit, "settings", {}) or {}).get("p_exch")
    # EXNEX joins the exact average where its exact engine applies (a Normal mu prior, <= 8 diseases)
    exnex = ({"p_exch": p_exch, "nex": priors.get("nex")}
             if p_exch is not None and isinstance(priors["mu"], Normal) and len(set(groups)) <= 8 else None)
    exact_avg = exact_model_average(table["yi"].to_numpy(float), table["vi"].to_numpy(float),
                                    mu_prior=priors["mu"], tau_prior=priors["tau_within"], group=groups,
                                    tau_within_prior=priors["tau_within"], tau_between_prior=priors["tau_between"],
                                    exnex=exnex)
    rows = [exact_avg.table().assign(method=exact_avg.method, prior_sensitive=exact_avg.prior_sensitive)]
    level3 = {k: priors[k] for k in ("mu", "tau_within", "tau_between")}
    fits = {"exnex": exnex_fit, "three_level": fit_variant("three_level", level3, {})}
    notes = list(exact_avg.notes)
    if exnex is not None and "exnex" in set(exact_avg.weights["model"]):
        nex = priors.get("nex")
        notes.insert(0, f"exact marginal likelihood: EXNEX (p_exch = {p_exch:g}, NEX prior "
                        f"{nex if nex is not None else 'Normal(0, 2)'}) joins common effect, random effects and three-level")
    if "design" in table.columns and design_groups(table.reset_index(drop=True))[0]:
        fits["design_bias"] = fit_variant("design_bias", {"mu": priors["mu"], "tau": priors["tau_within"]},
                                          {"design_adjustment": "bias"})
        notes += [f"design_bias: {c['message']}" for c in fits["design_bias"].settings.get("caveats", [])
                  if c.get("parameter") in ("b_design", "mu") and "randomised contrast" in c.get("message", "")]
    stack = stacking_average(fits)
    rows.append(stack.table().assign(method=stack.method, prior_sensitive=np.nan))
    average = pd.concat(rows, ignore_index=True)
    notes += list(stack.notes)
    average["note"] = ["; ".join(notes) if i == 0 else "" for i in range(len(average))]
    cols = ["method", "model", "prior_prob", "log_ml", "elpd_loo", "pareto_k_high", "weight", "mu_mean", "mu_low", "mu_high",
            "prior_sensitive", "note"]
    out["model_average"] = average.reindex(columns=cols)
    return out


def _disease_interval(fit: Any, level: float) -> dict[str, tuple[float, float, float]]:
    """Posterior mean and equal-tailed interval of ``mu_disease`` per disease (model scale)."""
    post = fit.idata["posterior"]["mu_disease"]
    tail = (1 - level) / 2
    out = {}
    for d in post["disease"].values:
        x = np.asarray(post.sel(disease=d)).ravel()
        out[str(d)] = (float(x.mean()), float(np.quantile(x, tail)), float(np.quantile(x, 1 - tail)))
    return out


def rate_pooling_comparison(exnex_fit: Any, table: pd.DataFrame, priors: Mapping[str, Any],
                            fit_variant: Callable[[str, Mapping[str, Any], Mapping[str, Any]], Any],
                            bias_options: Mapping[str, Any] | None = None,
                            level: float = 0.95) -> dict[str, pd.DataFrame]:
    """The side-by-side tables of an ``exnex_rate`` analysis (single-arm event rates, logit scale).

    ``exnex_by_disease``
        Per disease: k (studies), designs, the plain two-level single-arm model's disease mean
        (every disease exchangeable; :func:`bayes_il2.modeling.single_arm.build_single_arm`,
        ``levels=2``, the same priors), the EXNEX disease mean, the prior and posterior
        exchangeability probability, the shift EXNEX minus single-arm and, where the table has a
        weaker design, the design-bias model's disease mean (``design_bias_rate``, ``levels=2``: the
        rate of an RCT arm in that disease). Means and 95% equal-tailed intervals on the logit scale.
    ``model_average``
        Stacking (PSIS-LOO of the per-study integrated likelihoods;
        :func:`bayes_il2.modeling.averaging.stacking_average`) of single_arm, exnex_rate and
        design_bias_rate, with the averaged mu as a row ``model = "averaged"``; the columns of the
        Treg table (:func:`pooling_comparison`), the exact-likelihood columns empty (no exact engine
        for binomial likelihoods).

    Parameters
    ----------
    exnex_fit : Fit
        The ``exnex_rate`` fit.
    table : DataFrame
        Its arm table (``study_id``, ``disease``, ``events``, ``n``, optional ``design``, ``arm_id``).
    priors : mapping
        ``mu``, ``tau_within``, ``tau_between`` (``rho`` optional) prior objects, shared by the variants.
    fit_variant : callable
        ``fit_variant(family, priors, options) -> Fit`` with the analysis's sampler settings.
    bias_options : mapping, optional
        ``bias_sd``, ``bias_spread`` of the design-bias variant (its defaults otherwise).
    level : float
        Credible level of the intervals.

    Returns
    -------
    dict with ``exnex_by_disease`` and ``model_average`` DataFrames.

    References
    ----------
    Neuenschwander B et al. (2016). Pharm Stat 15:123-134. Verde PE (2021). Biometrical J 63:406-422.
    Yao Y, Vehtari A, Simpson D, Gelman A (2018). Bayesian Analysis 13:917-1007.
    """
    from bayes_il2.modeling.averaging import stacking_average
    from bayes_il2.modeling.design_bias_rate import study_designs
    from bayes_il2.modeling.exnex import exchangeability_table

    for name in ("mu", "tau_within", "tau_between"):
        if name not in priors:
            raise ModelError(f"rate pooling comparison: a {name!r} prior is needed")
    table = table.reset_index(drop=True)
    shared = {k: priors[k] for k in ("mu", "tau_within", "tau_between", "rho") if k in priors}
    fits = {"single_arm": fit_variant("single_arm", shared, {"levels": 2}), "exnex_rate": exnex_fit}
    notes: list[str] = []
    if "design" in table.columns and study_designs(table)[0]:
        fits["design_bias_rate"] = fit_variant("design_bias_rate", shared, {"levels": 2, **dict(bias_options or {})})
        notes += [f"design_bias_rate: {c['message']}" for c in fits["design_bias_rate"].settings.get("caveats", [])
                  if c.get("parameter") == "b_design"]
    ex = exchangeability_table(exnex_fit).set_index("disease")
    plain = _disease_interval(fits["single_arm"], level)
    biased = _disease_interval(fits["design_bias_rate"], level) if "design_bias_rate" in fits else {}
    rows = []
    for d, block in table.groupby(table["disease"].astype(str), sort=True):
        m, lo, hi = plain[d]
        row = {"disease": d, "k": int(block["study_id"].astype(str).nunique()),
               "designs": ", ".join(sorted(set(block["design"].astype(str)))) if "design" in block else "",
               "single_arm_mean": m, "single_arm_low": lo, "single_arm_high": hi,
               "exnex_mean": ex.loc[d, "mu_disease_mean"], "exnex_low": ex.loc[d, "mu_disease_low"],
               "exnex_high": ex.loc[d, "mu_disease_high"], "p_exch_prior": ex.loc[d, "p_exch_prior"],
               "p_exch_post": ex.loc[d, "p_exch_post"], "shift": ex.loc[d, "mu_disease_mean"] - m}
        if biased:
            row.update(dict(zip(("design_bias_mean", "design_bias_low", "design_bias_high"), biased[d])))
        rows.append(row)
    stack = stacking_average(fits)
    average = stack.table().assign(method=stack.method, prior_prob=np.nan, log_ml=np.nan, prior_sensitive=np.nan)
    notes += list(stack.notes)
    average["note"] = ["; ".join(notes) if i == 0 else "" for i in range(len(average))]
    cols = ["method", "model", "prior_prob", "log_ml", "elpd_loo", "pareto_k_high", "weight", "mu_mean", "mu_low",
            "mu_high", "prior_sensitive", "note"]
    return {"exnex_by_disease": pd.DataFrame(rows), "model_average": average.reindex(columns=cols)}
