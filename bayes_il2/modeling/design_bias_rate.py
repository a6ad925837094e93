"""Design bias for single-arm event rates (family ``design_bias_rate``): the single-arm model
(:func:`bayes_il2.modeling.single_arm.build_single_arm`) with an additive bias of weaker designs on
the linear-predictor scale (logit, or log rate when ``exposure = "cloglog"``).

    events_a ~ Bin(n_a, p_a),  link(p_a) = theta_a (+ log t_a),
    theta_a = mu + study and arm deviations (total SD tau, arms nested in their study)     (RCT arm)
    theta_a = mu + b[g(s)] + gamma zeta_s + deviations                     (study s of weaker design g)
    b[g] ~ N(0, bias_sd^2),  gamma ~ HalfNormal(bias_spread),  zeta_s ~ N(0, 1)

in the spirit of Verde's bias-corrected meta-analysis (Verde 2021, Biometrical J 63:406-422), as
:mod:`bayes_il2.modeling.design_bias` does for effect sizes. The bias and its extra spread are
shared by the arms of a study (a study's design is one property: every arm of it is biased alike);
arms of RCTs (the IL-2 arms of randomised trials) are taken as unbiased, so mu, p_pooled and
theta_new describe an arm of an RCT. Weaker designs are every other ``design`` value (single_arm,
dose_finding, cohort, ...), each with its own mean bias.

Meaning of the priors (model scale): ``bias_sd`` is how large a design's mean bias could plausibly
be (0.5 on the logit scale: odds of an event inflated or deflated up to about exp(+-1) = 2.7-fold at
95%; on the cloglog scale the same for the rate); ``bias_spread`` scales how much the bias varies
between studies of one design beyond tau (the inflated variance). With both at zero the model is the
single-arm model. Without an RCT arm the biases are separated from mu by their prior alone (a caveat
through :func:`bayes_il2.modeling.identifiability.check_identifiable`).

Posterior variables: those of the single-arm model (one level, or two with ``levels=2``), b_design (biased_design), gamma,
theta_new_design (biased_design: a new arm of a new study of that design).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayes_il2.errors import ModelError
from bayes_il2.modeling._common import BuiltModel, check_columns, prediction
from bayes_il2.modeling.design_bias import UNBIASED_DESIGNS, check_design_options
from bayes_il2.modeling.single_arm import REFERENCE_WEEKS, ArmShift, arm_structure, build_single_arm

FAMILY = "design_bias_rate"


def study_designs(data: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """Weaker designs present (sorted) and each study's index among them (-1: RCT), studies in order
    of appearance. ModelError when a row has no design or the arms of a study differ in design."""
    design = data["design"].astype("string")
    missing = (design.isna() | (design.str.len() == 0)).to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise ModelError(f"{FAMILY}: study {data['study_id'].iloc[i]!r} (row {i}) has no design")
    studies, s_index, _ = arm_structure(data)
    per_study = []
    for j, s in enumerate(studies):
        found = sorted(set(design[s_index == j].tolist()))
        if len(found) > 1:
            raise ModelError(f"{FAMILY}: the arms of study {s!r} have different designs ({', '.join(found)})")
        per_study.append(found[0])
    levels = sorted({d for d in per_study if d not in UNBIASED_DESIGNS})
    return levels, np.array([levels.index(d) if d in levels else -1 for d in per_study], dtype=int)


def _bias_shift(levels: list[str], g_study: np.ndarray, row_study: np.ndarray, bias_sd: float,
                bias_spread: float, two_level: bool) -> ArmShift:
    """The hook: b[g(s)] + gamma zeta_s for the arms of a weaker-design study s, 0 for RCT arms."""
    weak_studies = np.flatnonzero(g_study >= 0)

    def build(s_index: np.ndarray, studies: list[str]) -> Any:
        model = pm.modelcontext(None)
        model.add_coord("biased_design", levels)
        model.add_coord("biased_study", [studies[j] for j in weak_studies])
        b_z = pm.Normal("b_design_z", 0.0, 1.0, dims="biased_design")
        b = pm.Deterministic("b_design", bias_sd * b_z, dims="biased_design")
        gamma = pm.Deterministic("gamma", bias_spread * pm.HalfNormal("gamma_z", 1.0))
        zeta = pm.Normal("bias_study_z", 0.0, 1.0, dims="biased_study")
        slot = np.full(len(studies), len(weak_studies), dtype=int)  # RCTs -> the appended 0
        slot[weak_studies] = np.arange(len(weak_studies))
        per_study = pt.concatenate([b[g_study[weak_studies]] + gamma * zeta, pt.zeros(1)])[slot]
        # a new arm of a new study of design g (of a new disease with two levels)
        var = model["tau_within"] ** 2 + model["tau_between"] ** 2 if two_level else model["tau"] ** 2
        prediction("theta_new_design", model["mu"] + b, pt.sqrt(var + gamma**2), dims="biased_design")
        return per_study[s_index]

    def loglik_terms(post: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
        b = np.asarray(post["b_design"])  # (chain, draw, design)
        gamma2 = np.asarray(post["gamma"])[..., None] ** 2
        g = g_study[row_study]
        weak = (g >= 0).astype(float)
        return b[..., np.maximum(g, 0)] * weak, gamma2 * weak

    return ArmShift(build=build, loglik_terms=loglik_terms,
                    settings={"bias_sd": float(bias_sd), "bias_spread": float(bias_spread)})


def build_design_bias_rate(data: pd.DataFrame, *, priors: Mapping[str, Any] | None = None,
                           bias_sd: float = 0.5, bias_spread: float = 0.25, levels: int = 1, exposure: str = "none",
                           measure: str | None = None, parameterization: str = "noncentered",
                           reference_weeks: float = REFERENCE_WEEKS) -> BuiltModel:
    """Build the design-bias model of single-arm event rates (see the module docstring).

    Parameters
    ----------
    data : DataFrame
        ``study_id``, ``design``, ``events``, ``n`` (one row per arm; ``arm_id``; ``exposure_years``
        for ``exposure="cloglog"``).
    priors : dict, optional
        ``mu``, ``tau`` and ``rho`` (multi-arm studies), as in the single-arm model.
    bias_sd, bias_spread : float >= 0
        Prior SD of each weaker design's mean bias and HalfNormal scale of its extra study-to-study
        spread (model scale).
    levels : {1, 2}
        As in the single-arm model (2: studies within diseases, ``disease`` column, priors
        ``tau_within``/``tau_between``; the bias is added to the arms' disease means).
    exposure : {"none", "cloglog"}
    measure : str, optional
    parameterization : {"noncentered", "centered"}
        Of the study and arm deviations (the biases are always non-centred).
    reference_weeks : float
        As in the single-arm model (cloglog only).

    Returns
    -------
    BuiltModel

    References
    ----------
    Verde PE (2021). A bias-corrected meta-analysis model for combining studies of different types
    and quality. Biometrical J 63:406-422. Verde PE, Ohmann C (2015). Res Synth Methods 6:45-62.
    """
    check_columns(data, ["study_id", "design", "events", "n"], FAMILY)
    check_design_options("bias", bias_sd, bias_spread, 0.5)
    data = data.reset_index(drop=True)
    designs, g_study = study_designs(data)
    shift = None
    if designs:
        shift = _bias_shift(designs, g_study, arm_structure(data)[1], float(bias_sd), float(bias_spread),
                            levels == 2)
    built = build_single_arm(data, priors=priors, levels=levels, parameterization=parameterization, measure=measure,
                             exposure=exposure, reference_weeks=reference_weeks, arm_shift=shift)
    settings = {**built.settings, "biased_designs": designs, "unbiased_designs": list(UNBIASED_DESIGNS),
                "design_of_study": data["design"].astype(str).tolist()}
    if not designs:
        settings["caveats"] = [*settings.get("caveats", []),
                               {"parameter": "mu", "pooled": True,
                                "message": "every arm is from an RCT: the design adjustment does nothing"}]
    return replace(built, family=FAMILY, settings=settings)
