"""Posterior and mixed predictive checks per study.

For each observed quantity (``y`` for normal likelihoods; ``events``/``events_t``/``events_c`` for
binomial ones) the observed value is set against its posterior predictive interval. For
normal-likelihood models the *mixed* predictive (a fresh study effect drawn from N(mu, tau^2), then
y ~ N(theta, v_i)) is also given: it does not reuse the study's own effect and so flags outlying
studies that the plain posterior predictive hides (Marshall & Spiegelhalter 2007, Stat Med
26:1035-1054; Gelman, Meng & Stern 1996).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

OBSERVED_VARIABLES = ("y", "events", "events_t", "events_c")


def _stack(da: xr.DataArray) -> np.ndarray:
    """(draws, elements) array with chain and draw flattened."""
    other = [d for d in da.dims if d not in ("chain", "draw")]
    return np.asarray(da.transpose("chain", "draw", *other)).reshape(-1, int(np.prod([da.sizes[d] for d in other])))


def predictive_table(idata: xr.DataTree, level: float = 0.95, seed: int = 0,
                     disease_of_study: list[str] | None = None) -> pd.DataFrame:
    """Observed value, predictive interval and predictive p-value of every observation.

    Parameters
    ----------
    idata : DataTree
        With posterior_predictive, observed_data and (for the mixed predictive) constant_data.
    level : float
        Central probability of the predictive interval.
    seed : int
        Seed of the mixed-predictive draws.
    disease_of_study : list of str, optional
        Disease of each study (three-level models: the mixed predictive draws a new study of the
        study's own disease).

    Returns
    -------
    DataFrame
        Columns study_id, variable, observed, pp_low, pp_high, pp_pvalue, outside (observed
        outside the central ``level`` interval), and for normal models mixed_low, mixed_high,
        mixed_pvalue, outside_mixed. p-values are two-sided: 2 min(P(rep <= obs), P(rep >= obs)).
    """
    if "posterior_predictive" not in idata.children or "observed_data" not in idata.children:
        return pd.DataFrame(columns=["study_id", "variable", "observed", "pp_low", "pp_high",
                                     "pp_pvalue", "outside"])
    alpha = (1.0 - level) / 2.0
    rows = []
    pp = idata["posterior_predictive"]
    obs = idata["observed_data"]
    for var in OBSERVED_VARIABLES:
        if var not in pp.data_vars or var not in obs.data_vars:
            continue
        reps = _stack(pp[var])
        observed = np.asarray(obs[var]).reshape(-1)
        dim = [d for d in obs[var].dims][0] if obs[var].dims else None
        labels = obs[var][dim].values if dim else np.array(["all"])
        low, high = np.quantile(reps, [alpha, 1 - alpha], axis=0)
        p_le = (reps <= observed).mean(axis=0)
        p_ge = (reps >= observed).mean(axis=0)
        pvalue = np.minimum(1.0, 2 * np.minimum(p_le, p_ge))
        block = pd.DataFrame({"study_id": labels.astype(str), "variable": var, "observed": observed,
                              "pp_low": low, "pp_high": high, "pp_pvalue": pvalue,
                              "outside": (observed < low) | (observed > high)})
        if var == "y":
            mixed = _mixed_predictive(idata, seed, disease_of_study)
            if mixed is not None:
                mlow, mhigh = np.quantile(mixed, [alpha, 1 - alpha], axis=0)
                mp = np.minimum(1.0, 2 * np.minimum((mixed <= observed).mean(0), (mixed >= observed).mean(0)))
                block = block.assign(mixed_low=mlow, mixed_high=mhigh, mixed_pvalue=mp,
                                     outside_mixed=(observed < mlow) | (observed > mhigh))
        rows.append(block)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def _sampling_sd(idata: xr.DataTree) -> np.ndarray | None:
    """(draws or 1, studies) within-study SDs: sqrt(vi), or sqrt(S - 2 r C) for the Treg model."""
    const = idata["constant_data"] if "constant_data" in idata.children else None
    if const is None:
        return None
    if "vi" in const.data_vars:
        return np.sqrt(np.asarray(const["vi"], dtype=float)).reshape(1, -1)
    if {"var_sum", "var_cross"} <= set(const.data_vars):
        post = idata["posterior"]
        if "r" in post.data_vars:
            r = _stack(post["r"]).reshape(-1, 1)
        elif "r" in const.data_vars:
            r = np.asarray(const["r"], dtype=float).reshape(1, 1)
        else:
            return None
        s = np.asarray(const["var_sum"], dtype=float).reshape(1, -1)
        c = np.asarray(const["var_cross"], dtype=float).reshape(1, -1)
        return np.sqrt(s - 2 * r * c)
    return None


def _mixed_predictive(idata: xr.DataTree, seed: int, disease_of_study: list[str] | None) -> np.ndarray | None:
    post = idata["posterior"]
    sd = _sampling_sd(idata)
    if sd is None:
        return None
    if "tau" in post.data_vars and "mu" in post.data_vars:
        centre = _stack(post["mu"]).reshape(-1, 1)
        spread = _stack(post["tau"]).reshape(-1, 1)
    elif {"mu_disease", "tau_within"} <= set(post.data_vars) and disease_of_study is not None:
        mu_d = post["mu_disease"].sel(disease=xr.DataArray(np.asarray(disease_of_study), dims="study_id"))
        centre = _stack(mu_d)
        spread = _stack(post["tau_within"]).reshape(-1, 1)
    else:
        return None
    if "beta" in post.data_vars:
        return None  # the study's covariates would be needed; the plain posterior predictive remains
    rng = np.random.default_rng(seed)
    shape = (centre.shape[0], sd.shape[1])
    theta = centre + spread * rng.standard_normal(shape)
    return theta + sd * rng.standard_normal(shape)
