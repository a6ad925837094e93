"""Binomial-normal models for two-arm event counts (exact binomial likelihoods, no continuity
correction, so zero-event arms need no special handling).

Contrast-based (Smith, Spiegelhalter & Thomas 1995, Stat Med 14:2685-2699; Jackson et al. 2018,
Stat Med 37:1059-1085, model 4 with fixed baselines):

    events_c[i] ~ Bin(n_c[i], expit(alpha_i)),  events_t[i] ~ Bin(n_t[i], expit(alpha_i + theta_i)),
    theta_i ~ N(mu, tau^2),  alpha_i ~ prior "alpha" (independent study baselines).

Arm-based variant (``variant="random_baselines"``): the baselines are exchangeable too,
alpha_i ~ N(alpha_mu, alpha_sd^2), as in the random-baseline models of Jackson et al. 2018.

Trials with several LD-IL-2 doses against one placebo enter as one row: the dose arms are combined
by adding events and patients (Cochrane Handbook 23.3.4; done by
:func:`bayes_il2.effects.event_contrast_table`), so the shared control is counted once and each trial
has one baseline alpha_i and one effect theta_i. This assumes the doses share one effect; a
dose-response model of arms against the shared baseline is not implemented.

Posterior variables: mu (pooled log odds ratio), tau, theta (study_id), theta_new, alpha
(study_id); with random baselines also alpha_mu, alpha_sd. ``log_likelihood/y`` is the likelihood
of both arms of a study with its baseline alpha_i and effect theta_i integrated out (2-D adaptive
Gauss-Hermite quadrature), i.e. the predictive density of a new study, which keeps PSIS-LOO
stable; with a non-normal alpha prior it is the conditional likelihood of both arms summed.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm

from bayes_il2.errors import ModelError
import xarray as xr

from bayes_il2.modeling._common import (BuiltModel, binomial_pair_study_loglik, check_columns,
                                        check_parameterization, leave_out_potential, map_in_threads,
                                        numeric_column, prediction, random_effects, resolve_priors,
                                        study_labels)

FAMILY = "binomial_normal"
VARIANTS = ("contrast", "random_baselines")


def event_values(data: pd.DataFrame) -> dict[str, np.ndarray]:
    """Data containers r_t, n_t, r_c, n_c; ModelError for counts that are not whole, negative or
    larger than n (naming the study)."""
    out = {}
    for arm in ("t", "c"):
        r = numeric_column(data, f"events_{arm}", FAMILY, integer=True, nonnegative=True)
        n = numeric_column(data, f"n_{arm}", FAMILY, integer=True, positive=True)
        over = np.flatnonzero(r > n)
        if over.size:
            i = int(over[0])
            raise ModelError(f"{FAMILY}: study {data['study_id'].iloc[i]!r} has events_{arm}={r[i]:g} > "
                             f"n_{arm}={n[i]:g}")
        out[f"r_{arm}"], out[f"n_{arm}"] = r.astype("int64"), n.astype("int64")
    return out


def build_binomial_normal(data: pd.DataFrame, *, priors: Mapping[str, Any] | None = None,
                          variant: str = "contrast", parameterization: str = "noncentered",
                          measure: str = "OR") -> BuiltModel:
    """Build the binomial-normal model for a contrast event table.

    Parameters
    ----------
    data : DataFrame
        ``study_id, events_t, n_t, events_c, n_c`` (t = LD-IL-2, c = placebo/control).
    priors : dict, optional
        ``mu``, ``tau``, and ``alpha`` (contrast variant) or ``alpha_mu``, ``alpha_sd``
        (random baselines).
    variant : {"contrast", "random_baselines"}
    parameterization : {"noncentered", "centered"}
        Of the study effects theta (and of the baselines in the random-baseline variant).
    measure : str
        Only ``OR`` (logit link).

    Returns
    -------
    BuiltModel
    """
    check_columns(data, ["study_id", "events_t", "n_t", "events_c", "n_c"], FAMILY)
    check_parameterization(parameterization)
    if variant not in VARIANTS:
        raise ModelError(f"{FAMILY}: variant must be one of {VARIANTS}; got {variant!r}")
    if measure != "OR":
        raise ModelError(f"{FAMILY}: the logit link gives log odds ratios; measure must be 'OR', got {measure!r}")
    data = data.reset_index(drop=True)
    values = event_values(data)
    ids = study_labels(data, FAMILY)
    needed = ["mu", "tau"] + (["alpha"] if variant == "contrast" else ["alpha_mu", "alpha_sd"])
    priors = resolve_priors(priors, needed, FAMILY)
    with pm.Model(coords={"study_id": ids}) as model:
        d = {k: pm.Data(k, v, dims="study_id") for k, v in values.items()}
        weight = pm.Data("weight", np.ones(len(ids)), dims="study_id")
        mu = priors["mu"].to_pymc("mu")
        tau = priors["tau"].to_pymc("tau")
        if variant == "contrast":
            alpha = priors["alpha"].to_pymc("alpha", dims="study_id")
        else:
            alpha_mu = priors["alpha_mu"].to_pymc("alpha_mu")
            alpha_sd = priors["alpha_sd"].to_pymc("alpha_sd")
            alpha = random_effects("alpha", alpha_mu, alpha_sd, "study_id", parameterization)
        theta = random_effects("theta", mu, tau, "study_id", parameterization)
        prediction("theta_new", mu, tau)
        logit_c, logit_t = alpha, alpha + theta
        pm.Binomial("events_c", n=d["n_c"], logit_p=logit_c, observed=d["r_c"], dims="study_id")
        pm.Binomial("events_t", n=d["n_t"], logit_p=logit_t, observed=d["r_t"], dims="study_id")
        loglik = (pm.logp(pm.Binomial.dist(n=d["n_c"], logit_p=logit_c), d["r_c"])
                  + pm.logp(pm.Binomial.dist(n=d["n_t"], logit_p=logit_t), d["r_t"]))
        leave_out_potential(weight, loglik)
    alpha_prior = priors.get("alpha")
    normal_baselines = variant == "random_baselines" or type(alpha_prior).__name__ == "Normal"

    def integrated_loglik(post: xr.Dataset, const: xr.Dataset) -> xr.DataArray:
        """Both arms' likelihood with the study's alpha_i and theta_i integrated out."""
        mu, tau = np.asarray(post["mu"]), np.asarray(post["tau"])
        if variant == "random_baselines":
            am, asd = np.asarray(post["alpha_mu"]), np.asarray(post["alpha_sd"])
        else:
            am, asd = float(alpha_prior.mu), float(alpha_prior.sigma)
        tables = [tuple(float(const[k].values[i]) for k in ("r_c", "n_c", "r_t", "n_t")) for i in range(len(ids))]
        columns = map_in_threads(lambda counts: binomial_pair_study_loglik(*counts, am, asd, mu, tau), tables)
        return xr.DataArray(np.stack(columns, axis=-1), dims=("chain", "draw", "study_id"),
                            coords={"chain": post["chain"], "draw": post["draw"]})

    return BuiltModel(model=model, family=FAMILY, measure=measure, data=data, priors=priors,
                      settings={"variant": variant, "parameterization": parameterization},
                      study_ids=ids, study_index={"events_t": None, "events_c": None},
                      data_values=lambda table: event_values(table.reset_index(drop=True)),
                      integrated_loglik=integrated_loglik if normal_baselines else None)
