"""How much the pooling assumptions matter: EXNEX beside the three-level model, design-bias
variants, and the model-averaged answer (the tables an ``exnex`` analysis writes).

:func:`pooling_comparison` takes an EXNEX fit and returns two tables:

``exnex_by_disease``
    Per disease: k, designs, the three-level posterior of the disease mean (exact engine, the same
    priors: every disease exchangeable), the EXNEX posterior, the prior and posterior
    exchangeability probability and the shift EXNEX minus three-level (model scale).
``model_average``
    The weights and averaged mu of two model sets: (a) exact marginal likelihoods of common effect,
    random effects and three-level (:func:`bayes_il2.modeling.averaging.exact_model_average`, with
    its prior-sensitivity flag), (b) stacking (PSIS-LOO) of the MCMC fits EXNEX, three-level and
    design bias (:func:`bayes_il2.modeling.averaging.stacking_average`). The two sets are
    weighted separately: stacking weights are predictive, not posterior probabilities.
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
    exact_avg = exact_model_average(table["yi"].to_numpy(float), table["vi"].to_numpy(float),
                                    mu_prior=priors["mu"], tau_prior=priors["tau_within"],
                                    group=table["disease"].astype(str).tolist(),
                                    tau_within_prior=priors["tau_within"], tau_between_prior=priors["tau_between"])
    rows = [exact_avg.table().assign(method=exact_avg.method, prior_sensitive=exact_avg.prior_sensitive)]
    level3 = {k: priors[k] for k in ("mu", "tau_within", "tau_between")}
    fits = {"exnex": exnex_fit, "three_level": fit_variant("three_level", level3, {})}
    notes = list(exact_avg.notes)
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
