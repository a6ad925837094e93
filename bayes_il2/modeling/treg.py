"""Treg expansion under LD-IL-2: random-effects pooling of pre-post changes with the pre-post
correlation r either fixed (an explicit assumption) or given a Beta prior.

Input: an arm table, one row per arm, with ``study_id, arm_id, treatment, n, mean_pre, sd_pre,
mean_post, sd_post`` (optional ``disease``). ``treatment`` uses the registry's vocabulary; LD-IL-2
arms are ``ld_il2``, comparators ``placebo`` or ``control``.

Per arm the change and its variance, written v(r) = S - 2 r C:

- ``ROMC`` log ratio of means (Lajeunesse 2011, Ecology 92:2049-2055):
  y = log(m_post/m_pre), S = sd_post²/(n m_post²) + sd_pre²/(n m_pre²), C = sd_post sd_pre/(n m_post m_pre)
- ``MC`` raw mean change: y = m_post - m_pre, S = (sd_post² + sd_pre²)/n, C = sd_post sd_pre / n
- ``SMCR`` change standardized by the pre SD with Hedges' exact small-sample correction J(n-1)
  (Becker 1988, Br J Math Stat Psychol 41:257-278; the same estimator as
  :func:`bayes_il2.effects.standardized_mean_change_raw` and metafor's "SMCR"):
  y = J(n-1) (m_post - m_pre)/sd_pre, S = 2/n + y²/(2n), C = 1/n

``contrast="within"`` pools the LD-IL-2 arms' changes (one row per LD-IL-2 arm);
``contrast="controlled"`` pools, for studies with one placebo/control arm, the change under LD-IL-2
minus the change under the comparator (y_t - y_c, S_t + S_c, C_t + C_c; one r for both arms).

The model is the NNHM on these: y_i ~ N(theta_i, S_i - 2 r C_i), theta_i ~ N(mu, tau²), with a
single r shared by all arms. Fixed r lives in the data container ``r``, so a sensitivity analysis
over r refits without recompiling (``refit(fit, values={"r": 0.8})``). With ``r_prior=(a, b)``,
r ~ Beta(a, b) is a parameter; the data barely inform it, so its posterior stays close to the prior
and its uncertainty propagates into mu.

Posterior variables: mu, tau, theta (study_id), theta_new, r (when it has a prior).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm

import xarray as xr

from bayes_il2.effects._common import hedges_j
from bayes_il2.errors import ModelError

from bayes_il2.modeling._common import (BuiltModel, check_columns, check_parameterization,
                                        leave_out_potential, normal_study_loglik, numeric_column, prediction,
                                        random_effects, resolve_priors, study_labels)

FAMILY = "treg"
MEASURES = ("ROMC", "MC", "SMCR")
CONTRASTS = ("within", "controlled")
ACTIVE = "ld_il2"
COMPARATORS = ("placebo", "control")
COLUMNS = ["study_id", "arm_id", "treatment", "n", "mean_pre", "sd_pre", "mean_post", "sd_post"]


@dataclass(frozen=True)
class BetaR:
    """Beta(a, b) prior for the pre-post correlation r."""

    a: float
    b: float

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        return pm.Beta(name, alpha=self.a, beta=self.b, **kwargs)

    @property
    def mean(self) -> float:
        return self.a / (self.a + self.b)

    def logpdf(self, x: Any) -> np.ndarray:
        """Log density of Beta(a, b) at ``x`` (for power-scaling sensitivity)."""
        from scipy import stats

        return np.asarray(stats.beta(self.a, self.b).logpdf(np.asarray(x, dtype=float)), dtype=float)


def arm_changes(arms: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Per-arm change y and the variance components S and C of v(r) = S - 2 r C.

    Raises ModelError naming the study and arm for non-positive n or SDs, or (ROMC) means <= 0.
    """
    check_columns(arms, COLUMNS, FAMILY)
    if measure not in MEASURES:
        raise ModelError(f"{FAMILY}: measure must be one of {MEASURES}; got {measure!r}")
    n = numeric_column(arms, "n", FAMILY, positive=True)
    sd0 = numeric_column(arms, "sd_pre", FAMILY, positive=True)
    sd1 = numeric_column(arms, "sd_post", FAMILY, positive=True)
    ratio = measure == "ROMC"
    m0 = numeric_column(arms, "mean_pre", FAMILY, positive=ratio)
    m1 = numeric_column(arms, "mean_post", FAMILY, positive=ratio)
    if measure == "ROMC":
        y = np.log(m1 / m0)
        s = sd1 ** 2 / (n * m1 ** 2) + sd0 ** 2 / (n * m0 ** 2)
        c = sd1 * sd0 / (n * m1 * m0)
    elif measure == "MC":
        y = m1 - m0
        s = (sd1 ** 2 + sd0 ** 2) / n
        c = sd1 * sd0 / n
    else:
        if np.any(n <= 2):
            i = int(np.flatnonzero(n <= 2)[0])
            raise ModelError(f"{FAMILY}: arm {arms['study_id'].iloc[i]!r} has n = {n[i]:g}; SMCR needs n >= 3 "
                             "(Hedges' correction is undefined with n - 1 <= 1 degrees of freedom)")
        y = hedges_j(n - 1) * (m1 - m0) / sd0
        s = 2.0 / n + y ** 2 / (2.0 * n)
        c = 1.0 / n
    keep = [col for col in ("study_id", "arm_id", "treatment", "disease", "n") if col in arms.columns]
    out = arms[keep].reset_index(drop=True).copy()
    out["yi"], out["var_sum"], out["var_cross"] = y, s, c
    return out


def contrast_table(arms: pd.DataFrame, measure: str, contrast: str) -> pd.DataFrame:
    """The rows the model pools: LD-IL-2 arms (within) or LD-IL-2 minus comparator (controlled)."""
    if contrast not in CONTRASTS:
        raise ModelError(f"{FAMILY}: contrast must be one of {CONTRASTS}; got {contrast!r}")
    changes = arm_changes(arms, measure)
    active = changes[changes["treatment"].astype(str) == ACTIVE]
    if contrast == "within":
        if active.empty:
            raise ModelError(f"{FAMILY}: no arm has treatment {ACTIVE!r}")
        return active.reset_index(drop=True)
    rows = []
    for study, arm in active.groupby("study_id", sort=False):
        comp = changes[(changes["study_id"] == study) & changes["treatment"].astype(str).isin(COMPARATORS)]
        if len(comp) == 0:
            continue
        if len(comp) > 1:
            raise ModelError(f"{FAMILY}: study {study!r} has {len(comp)} comparator arms; keep one")
        c = comp.iloc[0]
        for _, t in arm.iterrows():
            row = t.to_dict()
            row["arm_id"] = f"{t['arm_id']}-{c['arm_id']}"
            row["yi"] = t["yi"] - c["yi"]
            row["var_sum"] = t["var_sum"] + c["var_sum"]
            row["var_cross"] = t["var_cross"] + c["var_cross"]
            row["n_c"] = c["n"]
            rows.append(row)
    if not rows:
        raise ModelError(f"{FAMILY}: no study has both an {ACTIVE!r} arm and a placebo/control arm")
    return pd.DataFrame(rows).reset_index(drop=True)


def _values(table: pd.DataFrame) -> dict[str, np.ndarray]:
    return {"yi": table["yi"].to_numpy(float), "var_sum": table["var_sum"].to_numpy(float),
            "var_cross": table["var_cross"].to_numpy(float)}


def build_treg(arms: pd.DataFrame, *, measure: str = "ROMC", contrast: str = "within",
               r: float | None = 0.5, r_prior: BetaR | tuple[float, float] | None = None,
               priors: Mapping[str, Any] | None = None,
               parameterization: str = "noncentered") -> BuiltModel:
    """Build the Treg-expansion model from an arm table.

    Parameters
    ----------
    arms : DataFrame
        One row per arm (see module docstring for columns).
    measure : {"ROMC", "MC", "SMCR"}
    contrast : {"within", "controlled"}
    r : float, optional
        Fixed pre-post correlation in [-1, 1) (ignored when ``r_prior`` is given). The default 0.5
        is an assumption to vary in a sensitivity analysis, not an estimate.
    r_prior : BetaR or (a, b), optional
        Beta prior for r (then r is estimated jointly).
    priors : dict, optional
        ``mu`` and ``tau``.
    parameterization : {"noncentered", "centered"}

    Returns
    -------
    BuiltModel
        Its ``data`` is the pooled table (yi, var_sum, var_cross, and vi at the fixed r or at the
        prior mean of r).
    """
    check_parameterization(parameterization)
    table = contrast_table(arms, measure, contrast)
    if r_prior is not None and not isinstance(r_prior, BetaR):
        a, b = r_prior
        r_prior = BetaR(float(a), float(b))
    if r_prior is None:
        if r is None or not -1 <= float(r) < 1:
            raise ModelError(f"{FAMILY}: a fixed r must lie in [-1, 1); got {r!r} (or give r_prior=(a, b))")
    r_ref = r_prior.mean if r_prior is not None else float(r)
    table["vi"] = table["var_sum"] - 2 * r_ref * table["var_cross"]
    ids = study_labels(table, FAMILY)
    priors = resolve_priors(priors, ["mu", "tau"], FAMILY)
    values = _values(table)
    with pm.Model(coords={"study_id": ids}) as model:
        yi = pm.Data("yi", values["yi"], dims="study_id")
        s = pm.Data("var_sum", values["var_sum"], dims="study_id")
        c = pm.Data("var_cross", values["var_cross"], dims="study_id")
        weight = pm.Data("weight", np.ones(len(ids)), dims="study_id")
        r_var = r_prior.to_pymc("r") if r_prior is not None else pm.Data("r", float(r))
        mu = priors["mu"].to_pymc("mu")
        tau = priors["tau"].to_pymc("tau")
        theta = random_effects("theta", mu, tau, "study_id", parameterization)
        prediction("theta_new", mu, tau)
        sigma = pm.math.sqrt(s - 2 * r_var * c)
        pm.Normal("y", theta, sigma, observed=yi, dims="study_id")
        leave_out_potential(weight, pm.logp(pm.Normal.dist(theta, sigma), yi))
    all_priors = dict(priors)
    if r_prior is not None:
        all_priors["r"] = r_prior
    settings = {"contrast": contrast, "parameterization": parameterization,
                "r": None if r_prior is not None else float(r),
                "r_prior": None if r_prior is None else [r_prior.a, r_prior.b]}

    def table_of(new_arms: pd.DataFrame) -> pd.DataFrame:
        new = contrast_table(new_arms, measure, contrast)
        new["vi"] = new["var_sum"] - 2 * r_ref * new["var_cross"]
        return new

    def data_values(new_arms: pd.DataFrame) -> dict[str, np.ndarray]:
        return _values(contrast_table(new_arms, measure, contrast))

    return BuiltModel(model=model, family=FAMILY, measure=measure, data=table, priors=all_priors,
                      settings=settings, study_ids=ids, study_index={"y": None}, data_values=data_values,
                      table_of=table_of, integrated_loglik=_integrated_loglik)


def _integrated_loglik(post: xr.Dataset, const: xr.Dataset) -> xr.DataArray:
    """log N(y_i | mu, tau^2 + S_i - 2 r C_i): theta_i integrated out (r drawn or fixed)."""
    r = post["r"] if "r" in post.data_vars else const["r"]
    var = post["tau"] ** 2 + const["var_sum"] - 2 * r * const["var_cross"]
    return normal_study_loglik(const["yi"], post["mu"], var)
