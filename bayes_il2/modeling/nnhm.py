"""Normal-normal hierarchical model (random-effects meta-analysis), with optional meta-regression.

    y_i ~ N(theta_i, v_i),   theta_i ~ N(mu + x_i' beta, tau^2)

with known within-study variances v_i (Spiegelhalter, Abrams & Myles 2004, ch. 3.17; Röver 2020,
bayesmeta, J Stat Softw 93(6)). Posterior variables: mu, tau, theta (study_id), theta_new
(a new study at the covariate means / reference levels), i2 (Higgins & Thompson 2002:
tau^2 / (tau^2 + s^2) with their "typical" within-study variance s^2), beta (covariate).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm

import xarray as xr

from bayes_il2.effects.measures import table_measure
from bayes_il2.modeling._common import (BuiltModel, check_columns, check_parameterization,
                                        leave_out_potential, linear_predictor, normal_study_loglik,
                                        numeric_column, prediction, random_effects, resolve_priors,
                                        study_labels)

FAMILY = "nnhm"


def typical_variance(vi: Any, k: int) -> Any:
    """Higgins & Thompson (2002) typical within-study variance ``(k-1) sum w / ((sum w)^2 - sum w^2)``.

    Works on numpy arrays and PyTensor tensors; for a single study it is that study's variance.
    """
    if k == 1:
        return vi[0]
    w = 1.0 / vi
    return (k - 1) * w.sum() / (w.sum() ** 2 - (w ** 2).sum())


def effect_values(data: pd.DataFrame, family: str = FAMILY) -> dict[str, np.ndarray]:
    """The data containers of a normal-likelihood model: yi, vi."""
    return {"yi": numeric_column(data, "yi", family), "vi": numeric_column(data, "vi", family, positive=True)}


def build_nnhm(data: pd.DataFrame, *, priors: Mapping[str, Any] | None = None,
               measure: str | None = None, covariates: Sequence[str] | None = None,
               standardize: bool = True, parameterization: str = "noncentered",
               r_prior: Any = None, approx_rel: float = 0.10) -> BuiltModel:
    """Build the NNHM (meta-regression when ``covariates`` are given) for an effect table.

    A table with an ``info`` column holding a kind other than ``complete`` (partially reported
    results) is built by :func:`bayes_il2.modeling.partial.build_partial` (``r_prior`` and
    ``approx_rel`` apply there); a table whose rows are all complete gives exactly the model below.

    Parameters
    ----------
    data : DataFrame
        Effect table with ``study_id``, ``yi``, ``vi`` (> 0), optional ``arm_id``, ``measure`` and
        the covariate columns.
    priors : dict, optional
        Priors for ``mu``, ``tau`` and (with covariates) ``beta``; defaults in
        :func:`bayes_il2.modeling._common.default_priors`.
    measure : str, optional
        Measure code (default: the table's ``measure`` column when it has one value).
    covariates : list of str, optional
        Columns used as covariates (see :func:`bayes_il2.modeling._common.design_matrix`).
    standardize : bool
        Divide numeric covariates by their SD (they are always centered).
    parameterization : {"noncentered", "centered"}
    r_prior, approx_rel
        Partial-information tables only (see :mod:`bayes_il2.modeling.partial`).

    Returns
    -------
    BuiltModel

    Raises
    ------
    ModelError
        Missing columns, non-finite yi, vi <= 0 (naming the study), unknown prior names.
    """
    from bayes_il2.modeling.partial import build_partial, is_partial

    if is_partial(data):
        return build_partial(data, family=FAMILY, priors=priors, measure=measure, covariates=covariates,
                             standardize=standardize, parameterization=parameterization, r_prior=r_prior,
                             approx_rel=approx_rel)
    check_columns(data, ["study_id", "yi", "vi"], FAMILY)
    check_parameterization(parameterization)
    data = data.reset_index(drop=True)
    values = effect_values(data)
    ids = study_labels(data, FAMILY)
    needed = ["mu", "tau"] + (["beta"] if covariates else [])
    priors = resolve_priors(priors, needed, FAMILY)
    settings: dict[str, Any] = {"parameterization": parameterization,
                                "covariates": list(covariates or []), "standardize": standardize}
    with pm.Model(coords={"study_id": ids}) as model:
        yi = pm.Data("yi", values["yi"], dims="study_id")
        vi = pm.Data("vi", values["vi"], dims="study_id")
        weight = pm.Data("weight", np.ones(len(ids)), dims="study_id")
        mu = priors["mu"].to_pymc("mu")
        tau = priors["tau"].to_pymc("tau")
        xb, design = linear_predictor(data, covariates, standardize, priors, FAMILY, model)
        settings.update(design)
        theta = random_effects("theta", mu + xb, tau, "study_id", parameterization)
        prediction("theta_new", mu, tau)
        s2 = typical_variance(vi, len(ids))
        pm.Deterministic("i2", tau ** 2 / (tau ** 2 + s2))
        sigma = pm.math.sqrt(vi)
        pm.Normal("y", theta, sigma, observed=yi, dims="study_id")
        leave_out_potential(weight, pm.logp(pm.Normal.dist(theta, sigma), yi))
    return BuiltModel(model=model, family=FAMILY, measure=_measure(data, measure), data=data,
                      priors=priors, settings=settings, study_ids=ids, study_index={"y": None},
                      data_values=lambda table: effect_values(table.reset_index(drop=True)),
                      integrated_loglik=_integrated_loglik)


def regression_term(post: xr.Dataset, const: xr.Dataset) -> xr.DataArray | float:
    """x_i' beta per draw and study (0 without covariates)."""
    if "beta" not in post.data_vars:
        return 0.0
    return (const["X"] * post["beta"]).sum("covariate")


def _integrated_loglik(post: xr.Dataset, const: xr.Dataset) -> xr.DataArray:
    """log N(y_i | mu + x_i' beta, tau^2 + v_i): theta_i integrated out."""
    mean = post["mu"] + regression_term(post, const)
    return normal_study_loglik(const["yi"], mean, post["tau"] ** 2 + const["vi"])


_measure = table_measure  # the measure code of an effect table (kept for the other families)
