"""Single-arm event rates with exact binomial likelihoods (no continuity correction for 0 or n
events), arms nested in their study, and optionally the time at risk.

Link (``exposure``)
-------------------
``exposure="none"`` (logit link, measure ``PLO``; Stijnen, Hamza & Özdemir 2010, Stat Med
29:3046-3067, the binomial-normal model for proportions):

    events_a ~ Bin(n_a, p_a),  logit p_a = theta_a

``exposure="cloglog"`` (measure ``IRLN``, log incidence rate per patient-year): the probability
of at least one event in an arm's observation window of t_a years under a constant hazard
lambda_a is 1 - exp(-lambda_a t_a), so

    events_a ~ Bin(n_a, p_a),  cloglog p_a = log(-log(1 - p_a)) = theta_a + log t_a,  theta_a = log lambda_a

(the complementary log-log link with a log-exposure offset; the grouped-time proportional-hazards
model of Prentice & Gloeckler 1978, Biometrics 34:57-67). The table needs ``exposure_years``.
Rates are of *first* events (patients with >= 1 event), per patient-year at risk, assuming every
patient was followed for the whole window.

Random effects
--------------
One level (``levels=1``): theta_a = mu + study and arm deviations with total SD tau.
Two levels (``levels=2``): theta_a = mu_disease[d] + deviations with total SD tau_within,
mu_disease[d] ~ N(mu, tau_between^2).

Arms of one study (e.g. dose groups) are nested in it: for a study with several arms

    theta_a = centre + u_s + e_a,  u_s ~ N(0, rho tau^2),  e_a ~ N(0, (1 - rho) tau^2)

so that arms of one study are correlated (correlation rho, the intra-study correlation) and every
arm has the same marginal SD tau as the single arm of a one-arm study, whose theta is
centre + u_s with u_s ~ N(0, tau^2). ``tau_study = sqrt(rho) tau`` and ``tau_arm = sqrt(1 - rho)
tau`` are reported; rho gets a Uniform(0, 1) prior unless given one (``priors["rho"]``). When no
study has several arms the model is the binomial-normal model above, rho is absent, and the log
density is that of the model without nesting (tested).

Per-study log-likelihood
------------------------
``log_likelihood/y`` has one entry per *study* (not per arm): the likelihood of all its arms with
the study and arm effects integrated out (nested adaptive Gauss-Hermite quadrature,
:mod:`bayes_il2.modeling._nested`), so PSIS-LOO leaves out a whole study and predicts a new one.

Posterior variables: mu, theta (study_id: one per arm row, ``study:arm`` labels where a study has
several), theta_new (a new arm of a new study), tau or tau_within/tau_between (+ mu_disease,
theta_new_disease), rho/tau_study/tau_arm where arms are nested; logit link: p_pooled =
expit(mu) (the rate of a typical study: the median of the random-effects distribution of rates,
not its mean), p_new, p_disease; cloglog: rate_pooled = exp(mu) (events per patient-year),
rate_new, risk_pooled and risk_new = 1 - exp(-rate * reference window), rate_disease.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayes_il2.errors import ModelError
from bayes_il2.modeling._common import (BuiltModel, binomial_normal_study_loglik, check_columns,
                                        check_parameterization, disease_index, leave_out_potential, map_in_threads,
                                        numeric_column, prediction, random_effects, resolve_priors, study_labels,
                                        usable_cores)
from bayes_il2.modeling._nested import arm_loglik, nested_study_loglik

FAMILY = "single_arm"
EXPOSURES = ("none", "cloglog")
#: Weeks per year (365.25 / 7): exposure windows are recorded in weeks, rates given per patient-year.
WEEKS_PER_YEAR = 365.25 / 7.0
#: Default reference window (weeks) for the risk reported by the cloglog model.
REFERENCE_WEEKS = 12.0
MEASURE_OF = {"none": "PLO", "cloglog": "IRLN"}


def rate_values(data: pd.DataFrame, exposure: str = "none") -> dict[str, np.ndarray]:
    """Data containers r, n (whole, 0 <= r <= n, n > 0) and, for cloglog, log_exposure (log years)."""
    r = numeric_column(data, "events", FAMILY, integer=True, nonnegative=True)
    n = numeric_column(data, "n", FAMILY, integer=True, positive=True)
    over = np.flatnonzero(r > n)
    if over.size:
        i = int(over[0])
        raise ModelError(f"{FAMILY}: study {data['study_id'].iloc[i]!r} has events={r[i]:g} > n={n[i]:g}")
    out = {"r": r.astype("int64"), "n": n.astype("int64")}
    if exposure == "cloglog":
        out["log_exposure"] = np.log(numeric_column(data, "exposure_years", FAMILY, positive=True))
    return out


def arm_structure(data: pd.DataFrame) -> tuple[list[str], np.ndarray, list[int]]:
    """Studies (in order of appearance), the study index of each row, and the rows of multi-arm studies."""
    sid = data["study_id"].astype(str).tolist()
    studies = list(dict.fromkeys(sid))
    index = np.array([studies.index(s) for s in sid], dtype=int)
    counts = np.bincount(index, minlength=len(studies))
    multi_rows = [i for i, s in enumerate(index) if counts[s] > 1]
    return studies, index, multi_rows


@dataclass(frozen=True)
class ArmShift:
    """An additive term of every arm's linear predictor, shared by the arms of a study (a hook of
    :func:`build_single_arm`; the design-bias rate model uses it).

    Attributes
    ----------
    build : callable
        ``build(s_index, studies) -> tensor`` (one value per arm row), called inside the model after
        ``mu`` and the heterogeneity scale exist; it creates its own variables.
    loglik_terms : callable
        ``loglik_terms(posterior) -> (shift, extra_var)``: arrays (chain, draw, arm row) of the
        shift's mean and of its study-level variance, for the integrated per-study likelihood.
    settings : dict
        Merged into the model's settings.
    """

    build: Callable[[np.ndarray, list[str]], Any]
    loglik_terms: Callable[[xr.Dataset], tuple[np.ndarray, np.ndarray]]
    settings: Mapping[str, Any] = field(default_factory=dict)


def nested_arm_deviations(scale: Any, rho_prior: Any, s_index: np.ndarray, multi_rows: list[int], n_rows: int,
                          parameterization: str) -> Any:
    """The study and arm deviations of every arm row (inside a model with ``study``/``arm`` coords).

    One-arm studies: u_s ~ N(0, scale^2); arms of a multi-arm study: u_s + e_a with
    u_s ~ N(0, rho scale^2), e_a ~ N(0, (1 - rho) scale^2) (``rho_prior`` None: no multi-arm study).
    """
    if rho_prior is None:
        u = random_effects("study_effect", 0.0, scale, "study", parameterization)
        return u[s_index]
    multi_study = np.zeros(int(s_index.max()) + 1, dtype=bool)
    multi_study[np.unique(s_index[multi_rows])] = True
    arm_slot = np.full(n_rows, len(multi_rows), dtype=int)  # rows of one-arm studies -> the zero slot
    arm_slot[multi_rows] = np.arange(len(multi_rows))
    rho = rho_prior.to_pymc("rho")
    tau_study = pm.Deterministic("tau_study", scale * pt.sqrt(rho))
    tau_arm = pm.Deterministic("tau_arm", scale * pt.sqrt(1.0 - rho))
    study_sd = pt.switch(pt.as_tensor(multi_study), tau_study, scale)
    u = random_effects("study_effect", 0.0, study_sd, "study", parameterization)
    e = random_effects("arm_effect", 0.0, tau_arm, "arm", parameterization)
    return u[s_index] + pt.concatenate([e, pt.zeros(1)])[arm_slot]


def study_logliks(centres: np.ndarray, sd: np.ndarray, rho: np.ndarray | None, s_index: np.ndarray,
                  r: np.ndarray, n: np.ndarray, offset: np.ndarray, link: str,
                  extra_var: np.ndarray | None = None) -> np.ndarray:
    """Per study (last axis, in order of ``s_index``): all its arms' log-likelihood, effects integrated out.

    ``centres`` (..., arm row) are the arms' means, ``sd`` (...) the total arm SD, ``rho`` (...) the
    intra-study correlation (None without multi-arm studies), ``extra_var`` (..., arm row) an extra
    study-level variance (a shared random shift; default none).

    The draws are split into one slice per usable core, computed by threads (numpy's ufuncs release
    the GIL): a study with several arms costs far more than a single arm (its nested quadrature), so
    slices of draws balance where studies would not. Every draw is computed by elementwise steps
    (Newton steps on the active elements, quadrature row by row), so the result is the loop's bit for
    bit (tested).
    """
    sd = np.asarray(sd, dtype=float)
    lead, arms = sd.shape, centres.shape[-1]
    flat_rho = None if rho is None else np.broadcast_to(rho, lead).reshape(-1)
    flat_extra = None if extra_var is None else np.broadcast_to(extra_var, (*lead, arms)).reshape(-1, arms)
    flat_centres, flat_sd = np.broadcast_to(centres, (*lead, arms)).reshape(-1, arms), sd.reshape(-1)
    pieces = np.array_split(np.arange(flat_sd.size), min(usable_cores(), max(flat_sd.size, 1)))

    def draws(rows: np.ndarray) -> np.ndarray:
        return _study_logliks(flat_centres[rows], flat_sd[rows], None if flat_rho is None else flat_rho[rows],
                              s_index, r, n, offset, link, None if flat_extra is None else flat_extra[rows])

    out = np.concatenate(map_in_threads(draws, pieces), axis=0)
    return out.reshape(*lead, out.shape[-1])


def _study_logliks(centres: np.ndarray, sd: np.ndarray, rho: np.ndarray | None, s_index: np.ndarray,
                   r: np.ndarray, n: np.ndarray, offset: np.ndarray, link: str,
                   extra_var: np.ndarray | None) -> np.ndarray:
    def study(j: int) -> np.ndarray:
        rows = np.flatnonzero(s_index == j)
        extra = 0.0 if extra_var is None else extra_var[..., rows[0]]
        if len(rows) == 1:
            i = int(rows[0])
            total = np.sqrt(sd**2 + extra)
            if link == "logit":  # the shared helper of the other binomial families
                return binomial_normal_study_loglik(r[i], n[i], centres[..., i], total)
            return arm_loglik(r[i], n[i], centres[..., i], total, offset=offset[i], link=link)
        return nested_study_loglik(r[rows], n[rows], centres[..., rows[0]], np.sqrt(sd**2 * rho + extra),
                                   sd * np.sqrt(1.0 - rho), offset=offset[rows], link=link)

    return np.stack([study(j) for j in range(int(s_index.max()) + 1)], axis=-1)


def build_single_arm(data: pd.DataFrame, *, priors: Mapping[str, Any] | None = None, levels: int = 1,
                     parameterization: str = "noncentered", measure: str | None = None,
                     exposure: str = "none", reference_weeks: float = REFERENCE_WEEKS,
                     arm_shift: ArmShift | None = None) -> BuiltModel:
    """Build the random-effects model of single-arm event rates (arms nested in studies).

    Parameters
    ----------
    data : DataFrame
        ``study_id, events, n`` (one row per arm; ``arm_id`` tells arms of one study apart;
        ``disease`` for ``levels=2``; ``exposure_years`` for ``exposure="cloglog"``).
    priors : dict, optional
        ``mu`` and ``tau`` (one level) or ``tau_within``, ``tau_between`` (two levels); ``rho``
        (within-study correlation of arms; default Uniform(0, 1)) where a study has several arms.
    levels : {1, 2}
    parameterization : {"noncentered", "centered"}
    measure : str, optional
        ``PLO`` (exposure none) or ``IRLN`` (exposure cloglog); default from ``exposure``.
    exposure : {"none", "cloglog"}
        See the module docstring.
    reference_weeks : float
        Window of the reported risk ``risk_pooled`` (cloglog only).
    arm_shift : ArmShift, optional
        An additive study-level term of the linear predictor (see :class:`ArmShift`); the reported
        mu, theta_new and p_pooled/rate_pooled stay those of an arm without it.

    Returns
    -------
    BuiltModel
    """
    check_columns(data, ["study_id", "events", "n"], FAMILY)
    check_parameterization(parameterization)
    if levels not in (1, 2):
        raise ModelError(f"{FAMILY}: levels must be 1 or 2; got {levels!r}")
    if exposure not in EXPOSURES:
        raise ModelError(f"{FAMILY}: exposure must be one of {EXPOSURES}; got {exposure!r}")
    measure = measure or MEASURE_OF[exposure]
    if measure != MEASURE_OF[exposure]:
        raise ModelError(f"{FAMILY}: exposure {exposure!r} models the {MEASURE_OF[exposure]} scale; "
                         f"measure must be {MEASURE_OF[exposure]!r}, got {measure!r}")
    if exposure == "cloglog":
        check_columns(data, ["exposure_years"], FAMILY)
        if not reference_weeks > 0:
            raise ModelError(f"{FAMILY}: reference_weeks must be > 0; got {reference_weeks!r}")
    data = data.reset_index(drop=True)
    values = rate_values(data, exposure)
    ids = study_labels(data, FAMILY)
    studies, s_index, multi_rows = arm_structure(data)
    nested = bool(multi_rows)
    coords: dict[str, Any] = {"study_id": ids, "study": studies}
    if nested:
        coords["arm"] = [ids[i] for i in multi_rows]
    if levels == 2:
        disease_levels, d_index = disease_index(data, FAMILY)
        coords["disease"] = disease_levels
        mixed = [s for s in studies if len(set(np.asarray(d_index)[s_index == studies.index(s)])) > 1]
        if mixed:
            raise ModelError(f"{FAMILY}: the arms of study {mixed[0]!r} have different diseases")
    needed = ["mu"] + (["tau"] if levels == 1 else ["tau_within", "tau_between"])
    given = dict(priors or {})
    if nested:
        from bayes_il2.priors import Uniform

        given.setdefault("rho", Uniform(0.0, 1.0))
        needed.append("rho")
    elif "rho" in given:
        given.pop("rho")  # no study with several arms: nothing for rho to describe
    priors = resolve_priors(given, needed, FAMILY)
    multi_study = np.zeros(len(studies), dtype=bool)
    multi_study[np.unique(s_index[multi_rows])] = True

    with pm.Model(coords=coords) as model:
        r = pm.Data("r", values["r"], dims="study_id")
        n = pm.Data("n", values["n"], dims="study_id")
        weight = pm.Data("weight", np.ones(len(ids)), dims="study_id")
        mu = priors["mu"].to_pymc("mu")
        if levels == 1:
            scale = priors["tau"].to_pymc("tau")
            centre = mu
        else:
            scale = priors["tau_within"].to_pymc("tau_within")
            tau_b = priors["tau_between"].to_pymc("tau_between")
            mu_d = random_effects("mu_disease", mu, tau_b, "disease", parameterization)
            centre = mu_d[d_index]
        deviation = nested_arm_deviations(scale, priors["rho"] if nested else None, s_index, multi_rows,
                                          len(ids), parameterization)
        if arm_shift is not None:
            centre = centre + arm_shift.build(s_index, studies)
        theta = pm.Deterministic("theta", centre + deviation, dims="study_id")
        if levels == 1:
            theta_new = prediction("theta_new", mu, scale)
        else:
            prediction("theta_new_disease", mu_d, scale, dims="disease")
            mu_new = prediction("mu_new_disease", mu, tau_b)
            theta_new = prediction("theta_new", mu_new, scale)
        if exposure == "none":
            pm.Deterministic("p_pooled", pm.math.invlogit(mu))
            pm.Deterministic("p_new", pm.math.invlogit(theta_new))
            if levels == 2:
                pm.Deterministic("p_disease", pm.math.invlogit(mu_d), dims="disease")
            logit_p = theta
        else:
            log_t = pm.Data("log_exposure", values["log_exposure"], dims="study_id")
            years = reference_weeks / WEEKS_PER_YEAR
            rate, rate_new = pm.math.exp(mu), pm.math.exp(theta_new)
            pm.Deterministic("rate_pooled", rate)
            pm.Deterministic("rate_new", rate_new)
            pm.Deterministic("risk_pooled", -pt.expm1(-rate * years))
            pm.Deterministic("risk_new", -pt.expm1(-rate_new * years))
            if levels == 2:
                pm.Deterministic("rate_disease", pm.math.exp(mu_d), dims="disease")
            hazard = pm.math.exp(theta + log_t)  # expected events in the window, lambda t
            # logit of p = 1 - exp(-hazard), computed stably: log p - log(1 - p)
            logit_p = pt.log(-pt.expm1(-hazard)) + hazard
        pm.Binomial("events", n=n, logit_p=logit_p, observed=r, dims="study_id")
        leave_out_potential(weight, pm.logp(pm.Binomial.dist(n=n, logit_p=logit_p), r))

    link = "logit" if exposure == "none" else "cloglog"

    def integrated_loglik(post: xr.Dataset, const: xr.Dataset) -> xr.DataArray:
        """Per study: all its arms' likelihood with study and arm effects integrated out."""
        if levels == 1:
            centres = np.asarray(post["mu"])[..., None] * np.ones(len(ids))
            sd = np.asarray(post["tau"])
        else:
            centres = np.asarray(post["mu_disease"])[..., d_index]
            sd = np.asarray(post["tau_within"])
        extra = None
        if arm_shift is not None:
            shift, extra = arm_shift.loglik_terms(post)
            centres = centres + shift
        off = np.asarray(const["log_exposure"], dtype=float) if link == "cloglog" else np.zeros(len(ids))
        out = study_logliks(centres, sd, np.asarray(post["rho"]) if nested else None, s_index,
                            np.asarray(const["r"], dtype=float), np.asarray(const["n"], dtype=float), off, link,
                            extra_var=extra)
        return xr.DataArray(out, dims=("chain", "draw", "study_id"),
                            coords={"chain": post["chain"], "draw": post["draw"], "study_id": studies})

    settings: dict[str, Any] = {"levels": levels, "parameterization": parameterization, "exposure": exposure,
                                "k_studies": len(studies), "k_arms": len(ids),
                                "multi_arm_studies": [s for s, m in zip(studies, multi_study) if m]}
    if exposure == "cloglog":
        settings["reference_weeks"] = float(reference_weeks)
        settings["rate_unit"] = "first events per patient-year (constant hazard within each window)"
    if levels == 2:
        settings["disease_of_study"] = [disease_levels[i] for i in d_index]
    if arm_shift is not None:
        settings.update(arm_shift.settings)
    return BuiltModel(model=model, family=FAMILY, measure=measure, data=data, priors=priors,
                      settings=settings, study_ids=ids, study_index={"events": None},
                      data_values=lambda table: rate_values(table.reset_index(drop=True), exposure),
                      integrated_loglik=integrated_loglik)
