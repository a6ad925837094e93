"""Three-level model: studies within diseases, with optional meta-regression.

    y_i ~ N(theta_i, v_i),  theta_i ~ N(mu_disease[d(i)] + x_i' beta, tau_within^2),
    mu_disease[d] ~ N(mu, tau_between^2)

(Konstantopoulos 2011, Res Synth Methods 2:61-76; Assink & Wibbelink 2016). Posterior variables:
mu, tau_within, tau_between, mu_disease (disease), theta (study_id), theta_new_disease (disease;
a new study of a known disease), mu_new_disease (the mean of a new disease) and theta_new (a new
study of a new disease), beta (covariate).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm

import xarray as xr

from bayes_il2.modeling._common import (BuiltModel, check_columns, check_parameterization, disease_index,
                                        leave_out_potential, linear_predictor, normal_study_loglik,
                                        prediction, random_effects, resolve_priors, study_labels)
from bayes_il2.modeling.nnhm import _measure, effect_values, regression_term

FAMILY = "three_level"


def studies_within_diseases(mu_d: Any, d_index: np.ndarray, xb: Any, mu: Any, tau_w: Any, tau_b: Any, yi: Any,
                            vi: Any, weight: Any, parameterization: str) -> Any:
    """The study level under disease means ``mu_d`` (inside a model context): theta_i ~ N(mu_d[d(i)] +
    x_i' beta, tau_w^2), the predictions for a new study in each disease and in a new disease, and the
    normal likelihood with leave-out weights. Shared by the three-level and EXNEX models, which differ
    only in the prior of the disease means."""
    theta = random_effects("theta", mu_d[d_index] + xb, tau_w, "study_id", parameterization)
    prediction("theta_new_disease", mu_d, tau_w, dims="disease")
    mu_new = prediction("mu_new_disease", mu, tau_b)
    prediction("theta_new", mu_new, tau_w)
    sigma = pm.math.sqrt(vi)
    pm.Normal("y", theta, sigma, observed=yi, dims="study_id")
    leave_out_potential(weight, pm.logp(pm.Normal.dist(theta, sigma), yi))
    return theta


def build_three_level(data: pd.DataFrame, *, priors: Mapping[str, Any] | None = None,
                      measure: str | None = None, covariates: Sequence[str] | None = None,
                      standardize: bool = True, parameterization: str = "noncentered",
                      r_prior: Any = None, approx_rel: float = 0.10,
                      extra_diseases: Sequence[str] = ()) -> BuiltModel:
    """Build the three-level model for an effect table with a ``disease`` column.

    A partial-information table (an ``info`` kind other than ``complete``) or ``extra_diseases``
    (disease levels without rows, e.g. pSS, predicted from the between-disease distribution) is
    built by :func:`bayes_il2.modeling.partial.build_partial`; otherwise exactly the model below.

    Parameters
    ----------
    data : DataFrame
        ``study_id``, ``disease``, ``yi``, ``vi`` (> 0), optional ``arm_id`` and covariates.
    priors : dict, optional
        Priors for ``mu``, ``tau_within``, ``tau_between`` and (with covariates) ``beta``.
    measure, covariates, standardize, parameterization
        As in :func:`bayes_il2.modeling.nnhm.build_nnhm`.
    r_prior, approx_rel, extra_diseases
        See :func:`bayes_il2.modeling.partial.build_partial`.

    Returns
    -------
    BuiltModel
    """
    from bayes_il2.modeling.partial import build_partial, is_partial

    if is_partial(data) or extra_diseases:
        return build_partial(data, family=FAMILY, priors=priors, measure=measure, covariates=covariates,
                             standardize=standardize, parameterization=parameterization, r_prior=r_prior,
                             approx_rel=approx_rel, extra_diseases=extra_diseases)
    check_columns(data, ["study_id", "disease", "yi", "vi"], FAMILY)
    check_parameterization(parameterization)
    data = data.reset_index(drop=True)
    values = effect_values(data, FAMILY)
    ids = study_labels(data, FAMILY)
    levels, d_index = disease_index(data, FAMILY)
    needed = ["mu", "tau_within", "tau_between"] + (["beta"] if covariates else [])
    priors = resolve_priors(priors, needed, FAMILY)
    settings: dict[str, Any] = {"parameterization": parameterization,
                                "covariates": list(covariates or []), "standardize": standardize}
    with pm.Model(coords={"study_id": ids, "disease": levels}) as model:
        yi = pm.Data("yi", values["yi"], dims="study_id")
        vi = pm.Data("vi", values["vi"], dims="study_id")
        weight = pm.Data("weight", np.ones(len(ids)), dims="study_id")
        mu = priors["mu"].to_pymc("mu")
        tau_w = priors["tau_within"].to_pymc("tau_within")
        tau_b = priors["tau_between"].to_pymc("tau_between")
        xb, design = linear_predictor(data, covariates, standardize, priors, FAMILY, model)
        settings.update(design)
        mu_d = random_effects("mu_disease", mu, tau_b, "disease", parameterization)
        studies_within_diseases(mu_d, d_index, xb, mu, tau_w, tau_b, yi, vi, weight, parameterization)
    settings["disease_of_study"] = [levels[i] for i in d_index]
    def integrated_loglik(post: xr.Dataset, const: xr.Dataset) -> xr.DataArray:
        """log N(y_i | mu_disease[d(i)] + x_i' beta, tau_within^2 + v_i): theta_i integrated out."""
        mu_d = post["mu_disease"].isel(disease=xr.DataArray(d_index, dims="study_id")).drop_vars("disease")
        mean = mu_d + regression_term(post, const)
        return normal_study_loglik(const["yi"], mean, post["tau_within"] ** 2 + const["vi"])

    return BuiltModel(model=model, family=FAMILY, measure=_measure(data, measure), data=data,
                      priors=priors, settings=settings, study_ids=ids, study_index={"y": None},
                      data_values=lambda table: effect_values(table.reset_index(drop=True), FAMILY),
                      integrated_loglik=integrated_loglik)
