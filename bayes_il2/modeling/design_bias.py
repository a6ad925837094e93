"""Design-bias adjustment: weaker designs carry a bias, or their likelihood is down-weighted.

Two adjustments of the NNHM (:mod:`bayes_il2.modeling.nnhm`) for an effect table with a
``design`` column; randomised contrasts (design ``rct``) are taken as unbiased.

``adjustment = "bias"`` (Verde & Ohmann 2015, Res Synth Methods 6:45-62; Verde 2021, Biometrical
J 63:406-422, the bias-corrected meta-analysis): an estimate from a weaker design g (single_arm,
cohort, non_randomised_controlled, ...), or a within-arm pre-post change even from an RCT (group
``rct_prepost``: the change on LD-IL-2 alone confounds treatment with the natural course, like a
single-arm change), estimates the treatment effect plus a bias shared by the studies of that group,
with extra study-to-study spread of the bias:

    y_i ~ N(theta_i, v_i)
    theta_i ~ N(mu, tau^2)                                  (RCT)
    theta_i ~ N(mu + b[g(i)], tau^2 + gamma^2)              (weaker design g)
    b[g] ~ N(0, bias_sd^2),   gamma ~ HalfNormal(bias_spread)

Meaning of the priors: ``bias_sd`` is how large the average bias of a design could plausibly be on
the model scale (0.5 on a log ratio: a design may inflate or deflate ratios by up to about
exp(+-1) = 2.7-fold at 95%); the prior mean 0 says its direction is unknown. ``bias_spread`` scales
how much the bias varies between studies of one design beyond tau (the "inflated variance"). With
both at zero the model is the NNHM. The biases are identified only relative to the RCTs: without
RCT rows mu and b are separated by the prior alone (a caveat is recorded).

``adjustment = "power"`` (power prior; Ibrahim & Chen 2000, Stat Sci 15:46-60): the log-likelihood
of every weaker-design study is multiplied by ``power_alpha`` in (0, 1] (for a normal likelihood the
same as inflating its variance by 1/power_alpha), implemented exactly by a potential
``-(1 - power_alpha) * loglik``. ``power_alpha = 1`` is the NNHM.

Posterior variables: mu, tau, theta (study_id), theta_new (a new RCT), and with ``bias``:
b_design (biased_design), gamma, theta_new_design (biased_design; a new study of that design).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayes_il2.errors import ModelError
from bayes_il2.modeling._common import (BuiltModel, check_columns, leave_out_potential, normal_study_loglik,
                                        prediction, resolve_priors, study_labels)
from bayes_il2.modeling.nnhm import _measure, effect_values

FAMILY = "design_bias"
ADJUSTMENTS = ("bias", "power")
#: Designs taken as unbiased (randomised contrasts).
UNBIASED_DESIGNS = ("rct",)
#: Within-arm pre-post change measures: an RCT row with one of these is the change in one arm, not the
#: randomised contrast, and carries the natural course like a single-arm change (group ``rct_prepost``).
PREPOST_MEASURES = ("ROMC", "SMCR", "SMCC", "MC")


def check_design_options(adjustment: str, bias_sd: Any, bias_spread: Any, power_alpha: Any) -> None:
    """ModelError for an unknown adjustment or a prior width / weight out of range."""
    if adjustment not in ADJUSTMENTS:
        raise ModelError(f"{FAMILY}: design_adjustment must be one of {', '.join(ADJUSTMENTS)}; got {adjustment!r}")
    for name, value in (("bias_sd", bias_sd), ("bias_spread", bias_spread)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
            raise ModelError(f"{FAMILY}: {name} must be a finite number >= 0; got {value!r}")
    if isinstance(power_alpha, bool) or not isinstance(power_alpha, (int, float)) or not 0 < power_alpha <= 1:
        raise ModelError(f"{FAMILY}: power_alpha must lie in (0, 1]; got {power_alpha!r}")


def design_groups(data: pd.DataFrame, unbiased: Sequence[str] = UNBIASED_DESIGNS) -> tuple[list[str], np.ndarray]:
    """Weaker designs present (sorted) and each row's index among them (-1 for an unbiased design).

    A row of an unbiased design whose ``measure`` is a within-arm pre-post change (``PREPOST_MEASURES``)
    is not a randomised contrast: it joins the group ``<design>_prepost`` (e.g. ``rct_prepost``).
    """
    design = data["design"].astype("string")
    if design.isna().any() or (design.str.len() == 0).any():
        i = int(np.flatnonzero((design.isna() | (design.str.len() == 0)).to_numpy())[0])
        raise ModelError(f"{FAMILY}: study {data['study_id'].iloc[i]!r} (row {i}) has no design")
    values = design.tolist()
    if "measure" in data.columns:
        prepost = data["measure"].astype(str).isin(PREPOST_MEASURES).tolist()
        values = [f"{d}_prepost" if d in unbiased and p else d for d, p in zip(values, prepost)]
    levels = sorted({d for d in values if d not in unbiased})
    index = np.array([levels.index(d) if d in levels else -1 for d in values], dtype=int)
    return levels, index


def build_design_bias(data: pd.DataFrame, *, priors: Mapping[str, Any] | None = None,
                      design_adjustment: str = "bias", bias_sd: float = 0.5, bias_spread: float = 0.25,
                      power_alpha: float = 0.5, measure: str | None = None,
                      parameterization: str = "noncentered") -> BuiltModel:
    """Build the design-bias (or power-prior) model for an effect table with a ``design`` column.

    Parameters
    ----------
    data : DataFrame
        ``study_id``, ``design``, ``yi``, ``vi`` (> 0), optional ``arm_id``.
    priors : dict, optional
        Priors for ``mu`` and ``tau``.
    design_adjustment : {"bias", "power"}
    bias_sd, bias_spread : float >= 0
        Prior SD of each weaker design's mean bias and HalfNormal scale of its extra spread
        (``bias`` only; see the module docstring for their meaning).
    power_alpha : float in (0, 1]
        Likelihood weight of weaker-design studies (``power`` only).
    measure : str, optional
    parameterization : {"noncentered"}
        Study effects are always non-centered (``theta_z``).

    Returns
    -------
    BuiltModel

    References
    ----------
    Verde PE, Ohmann C (2015). Res Synth Methods 6:45-62. Verde PE (2021). A bias-corrected
    meta-analysis model for combining studies of different types and quality. Biometrical J
    63:406-422. Ibrahim JG, Chen MH (2000). Power prior distributions. Stat Sci 15:46-60.
    """
    check_columns(data, ["study_id", "design", "yi", "vi"], FAMILY)
    if parameterization != "noncentered":
        raise ModelError(f"{FAMILY}: only the noncentered parameterization is available")
    check_design_options(design_adjustment, bias_sd, bias_spread, power_alpha)
    data = data.reset_index(drop=True)
    values = effect_values(data, FAMILY)
    ids = study_labels(data, FAMILY)
    levels, g_index = design_groups(data)
    weak = (g_index >= 0).astype(float)
    resolved = resolve_priors(priors, ["mu", "tau"], FAMILY)
    settings: dict[str, Any] = {"parameterization": parameterization, "design_adjustment": design_adjustment,
                                "biased_designs": levels, "unbiased_designs": list(UNBIASED_DESIGNS)}
    caveats = []
    if not levels:
        caveats.append({"parameter": "mu", "message": "every study is an RCT: the design adjustment does nothing",
                        "pooled": True})
    elif not (weak == 0).any():
        caveats.append({"parameter": "b_design" if design_adjustment == "bias" else "mu",
                        "message": "no randomised contrast in the table (no RCT, or only within-arm pre-post "
                                   "changes): the design biases are separated from mu by their prior alone "
                                   "(not identified by the data)", "pooled": True})
    if caveats:
        settings["caveats"] = caveats
    coords: dict[str, Any] = {"study_id": ids}
    if levels and design_adjustment == "bias":
        coords["biased_design"] = levels
    with pm.Model(coords=coords) as model:
        yi = pm.Data("yi", values["yi"], dims="study_id")
        vi = pm.Data("vi", values["vi"], dims="study_id")
        weight = pm.Data("weight", np.ones(len(ids)), dims="study_id")
        mu = resolved["mu"].to_pymc("mu")
        tau = resolved["tau"].to_pymc("tau")
        mean, sd = mu, tau * pt.ones((len(ids),))
        if design_adjustment == "bias" and levels:
            settings.update(bias_sd=float(bias_sd), bias_spread=float(bias_spread))
            b_z = pm.Normal("b_design_z", 0.0, 1.0, dims="biased_design")
            b = pm.Deterministic("b_design", float(bias_sd) * b_z, dims="biased_design")
            g_z = pm.HalfNormal("gamma_z", 1.0)
            gamma = pm.Deterministic("gamma", float(bias_spread) * g_z)
            bias = pt.concatenate([b, pt.zeros((1,))])[g_index]  # index -1 -> the appended 0 (RCT)
            mean = mu + bias
            sd = pt.sqrt(tau ** 2 + weak * gamma ** 2)
            prediction("theta_new_design", mu + b, pt.sqrt(tau ** 2 + gamma ** 2), dims="biased_design")
        theta_z = pm.Normal("theta_z", 0.0, 1.0, dims="study_id")
        theta = pm.Deterministic("theta", mean + sd * theta_z, dims="study_id")
        prediction("theta_new", mu, tau)
        sigma = pm.math.sqrt(vi)
        pm.Normal("y", theta, sigma, observed=yi, dims="study_id")
        loglik = pm.logp(pm.Normal.dist(theta, sigma), yi)
        if design_adjustment == "power" and levels:
            settings["power_alpha"] = float(power_alpha)
            pm.Potential("power_prior", -(1.0 - float(power_alpha)) * pt.sum(pt.as_tensor(weak) * loglik))
        leave_out_potential(weight, loglik)
    settings["design_of_study"] = data["design"].astype(str).tolist()

    def integrated_loglik(post: xr.Dataset, const: xr.Dataset) -> xr.DataArray:
        """log N(y_i | mu + b[g(i)], tau^2 + gamma^2 [weak] + v_i): theta_i integrated out."""
        mean = post["mu"] + 0.0 * const["yi"]
        var = post["tau"] ** 2 + const["vi"]
        if "b_design" in post.data_vars:
            idx = xr.DataArray(np.where(g_index >= 0, g_index, 0), dims="study_id")
            w = xr.DataArray(weak, dims="study_id")
            mean = mean + w * post["b_design"].isel(biased_design=idx).drop_vars("biased_design")
            var = var + w * post["gamma"] ** 2
        return normal_study_loglik(const["yi"], mean, var)

    return BuiltModel(model=model, family=FAMILY, measure=_measure(data, measure), data=data,
                      priors=resolved, settings=settings, study_ids=ids, study_index={"y": None},
                      data_values=lambda table: effect_values(table.reset_index(drop=True), FAMILY),
                      integrated_loglik=integrated_loglik)
