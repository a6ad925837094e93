"""Single-arm event rates on the logit scale with exact binomial likelihoods (no continuity
correction for 0 or n events).

One level (``levels=1``; Stijnen, Hamza & Özdemir 2010, Stat Med 29:3046-3067, the
binomial-normal model for proportions):

    events_i ~ Bin(n_i, p_i),  logit p_i = theta_i ~ N(mu, tau^2)

Two levels (``levels=2``, studies within diseases):

    theta_i ~ N(mu_disease[d(i)], tau_within^2),  mu_disease[d] ~ N(mu, tau_between^2)

``log_likelihood/y`` is each study's likelihood with its logit rate integrated out (adaptive
Gauss-Hermite quadrature), so PSIS-LOO predicts a new study (see :mod:`bayes_il2.modeling._common`).

Posterior variables: mu (logit scale), theta (study_id), p_pooled = expit(mu) (the rate of a
typical study: the median of the random-effects distribution of rates, not its mean), p_new =
expit(theta_new) (the rate of a new study; with two levels, of a new study in a new disease), and
with two levels tau_within, tau_between, mu_disease, p_disease = expit(mu_disease),
theta_new_disease; with one level tau.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm

from bayes_il2.errors import ModelError
import xarray as xr

from bayes_il2.modeling._common import (BuiltModel, binomial_normal_study_loglik, check_columns,
                                        check_parameterization, disease_index, leave_out_potential,
                                        numeric_column, prediction, random_effects, resolve_priors,
                                        study_labels)

FAMILY = "single_arm"


def rate_values(data: pd.DataFrame) -> dict[str, np.ndarray]:
    """Data containers r, n (whole, 0 <= r <= n, n > 0; ModelError names the study)."""
    r = numeric_column(data, "events", FAMILY, integer=True, nonnegative=True)
    n = numeric_column(data, "n", FAMILY, integer=True, positive=True)
    over = np.flatnonzero(r > n)
    if over.size:
        i = int(over[0])
        raise ModelError(f"{FAMILY}: study {data['study_id'].iloc[i]!r} has events={r[i]:g} > n={n[i]:g}")
    return {"r": r.astype("int64"), "n": n.astype("int64")}


def build_single_arm(data: pd.DataFrame, *, priors: Mapping[str, Any] | None = None, levels: int = 1,
                     parameterization: str = "noncentered", measure: str = "PLO") -> BuiltModel:
    """Build the random-effects model of single-arm event rates.

    Parameters
    ----------
    data : DataFrame
        ``study_id, events, n`` (and ``disease`` for ``levels=2``; optional ``arm_id``).
    priors : dict, optional
        ``mu`` and ``tau`` (one level) or ``tau_within``, ``tau_between`` (two levels).
    levels : {1, 2}
    parameterization : {"noncentered", "centered"}
    measure : str
        Only ``PLO`` (logit proportion).

    Returns
    -------
    BuiltModel
    """
    check_columns(data, ["study_id", "events", "n"], FAMILY)
    check_parameterization(parameterization)
    if levels not in (1, 2):
        raise ModelError(f"{FAMILY}: levels must be 1 or 2; got {levels!r}")
    if measure != "PLO":
        raise ModelError(f"{FAMILY}: rates are modelled on the logit scale; measure must be 'PLO', got {measure!r}")
    data = data.reset_index(drop=True)
    values = rate_values(data)
    ids = study_labels(data, FAMILY)
    coords: dict[str, Any] = {"study_id": ids}
    if levels == 2:
        disease_levels, d_index = disease_index(data, FAMILY)
        coords["disease"] = disease_levels
    needed = ["mu"] + (["tau"] if levels == 1 else ["tau_within", "tau_between"])
    priors = resolve_priors(priors, needed, FAMILY)
    with pm.Model(coords=coords) as model:
        r = pm.Data("r", values["r"], dims="study_id")
        n = pm.Data("n", values["n"], dims="study_id")
        weight = pm.Data("weight", np.ones(len(ids)), dims="study_id")
        mu = priors["mu"].to_pymc("mu")
        pm.Deterministic("p_pooled", pm.math.invlogit(mu))
        if levels == 1:
            tau = priors["tau"].to_pymc("tau")
            theta = random_effects("theta", mu, tau, "study_id", parameterization)
            theta_new = prediction("theta_new", mu, tau)
        else:
            tau_w = priors["tau_within"].to_pymc("tau_within")
            tau_b = priors["tau_between"].to_pymc("tau_between")
            mu_d = random_effects("mu_disease", mu, tau_b, "disease", parameterization)
            pm.Deterministic("p_disease", pm.math.invlogit(mu_d), dims="disease")
            theta = random_effects("theta", mu_d[d_index], tau_w, "study_id", parameterization)
            prediction("theta_new_disease", mu_d, tau_w, dims="disease")
            mu_new = prediction("mu_new_disease", mu, tau_b)
            theta_new = prediction("theta_new", mu_new, tau_w)
        pm.Deterministic("p_new", pm.math.invlogit(theta_new))
        pm.Binomial("events", n=n, logit_p=theta, observed=r, dims="study_id")
        leave_out_potential(weight, pm.logp(pm.Binomial.dist(n=n, logit_p=theta), r))
    def integrated_loglik(post: xr.Dataset, const: xr.Dataset) -> xr.DataArray:
        """log of the Bin(r_i | n_i, expit(theta)) N(theta | mean_i, tau^2) integral (theta_i out)."""
        if levels == 1:
            mean, sd = post["mu"].expand_dims(study_id=ids, axis=-1), post["tau"]
        else:
            mean = post["mu_disease"].isel(disease=xr.DataArray(d_index, dims="study_id")).drop_vars("disease")
            sd = post["tau_within"]
        mean = mean.transpose("chain", "draw", "study_id")
        sd = sd.broadcast_like(mean).transpose("chain", "draw", "study_id")
        values = binomial_normal_study_loglik(np.asarray(const["r"])[None, None, :],
                                              np.asarray(const["n"])[None, None, :],
                                              np.asarray(mean), np.asarray(sd))
        return xr.DataArray(values, dims=("chain", "draw", "study_id"),
                            coords={"chain": mean["chain"], "draw": mean["draw"]})

    settings: dict[str, Any] = {"levels": levels, "parameterization": parameterization}
    if levels == 2:
        settings["disease_of_study"] = [disease_levels[i] for i in d_index]
    return BuiltModel(model=model, family=FAMILY, measure=measure, data=data, priors=priors,
                      settings=settings, study_ids=ids, study_index={"events": None},
                      data_values=lambda table: rate_values(table.reset_index(drop=True)),
                      integrated_loglik=integrated_loglik)
