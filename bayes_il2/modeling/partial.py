"""Likelihoods of partially reported results, shared by the NNHM, meta-regression and three-level
families (and used, in their closed forms, by :func:`bayes_il2.exact.nnhm_partial`).

A partial-information effect table is an effect table with an ``info`` column (see
:mod:`bayes_il2.modeling._partial` and docs/architecture.md). With theta_i a row's true effect on the
model scale and se_i its standard error, each row contributes (Phi the standard normal cdf):

- ``complete``:    yi ~ N(theta_i, vi)
- ``bound``:       log[Phi((y_high - theta_i)/se_i) - Phi((y_low - theta_i)/se_i)] (an
  interval-censored estimate; one bound may be infinite)
- ``pvalue``:      z ~ N(theta_i/se_i, 1) known to lie in [z_low, z_high]: an interval-censored test
  statistic. ``direction`` 0 (two-sided, direction unknown) reads [z_low, z_high] as the interval of
  |z| (z_low >= 0) and takes the union of both tails. A t statistic is treated as normal once the
  table has turned its P into z bounds with the t quantile (its df).
- ``no_spread``:   yi ~ N(theta_i, se_i^2) with se_i latent (below)
- ``approximate``: yi ~ N(theta_i, se_i^2 + s_round^2): a printed "about x" is read as the value
  within +-``approx_rel`` (default 10%) of x with 95% probability, i.e. s_round =
  log(1 + approx_rel)/1.96 on a log-ratio scale and approx_rel |yi| / 1.96 otherwise (an additive
  inflation, because se_i itself may be latent); se_i known (vi) or latent.
- ``aggregate``:   yi ~ N(m_i, vi + tau^2/k): a published pooled estimate of k trials, whose
  expectation m_i is the disease mean mu_d (mu in the NNHM) plus x_i' beta, and whose variance adds
  the between-study variance of a mean of k study effects. An aggregate on a standardized scale
  (SMCR, SMCC, SMD) in a ROMC model is put on that scale by SMCR = (exp(m) - 1)/cv_pre (the inverse
  of ROMC = log(1 + SMCR cv_pre)) with its own latent cv_pre, and tau by the delta method
  (tau exp(m)/cv_pre).

Interval probabilities are computed in log space without cancellation: log Phi by the erfcx form in
the lower tail, log[Phi(b) - Phi(a)] = log Phi(b) + log1mexp(log Phi(a) - log Phi(b)), and an
interval in the upper tail is mirrored (P(a < Z < b) = P(-b < Z < -a)). In PyTensor every branch gets
finite inputs (the "double where"), so no NaN gradient leaks from the branch not taken.

Latent standard errors (a row with vi missing):
- ROMC (Lajeunesse 2011): se^2 = (cv_pre^2 + cv_post^2 - 2 r cv_pre cv_post) / n, for a two-sample
  contrast times (1/n_a + 1/n_b) instead of 1/n (both arms share the latent CVs). log cv ~
  N(cv_log_mean, cv_log_sd^2) is hierarchical: every cv_pre/cv_post the table reports enters as an
  observation of that distribution, each missing one is a latent draw from it. Hyperpriors:
  cv_log_mean ~ N(log 0.4, 1) (a CV of 0.4 is typical of Treg percentages; the SD of 1 spans CVs of
  0.06-2.8), cv_log_sd ~ HalfNormal(0.5).
- SMCR (Becker 1988, Br J Math Stat Psychol 41:257-278): se^2 = 2(1 - r)/n + theta^2/(2n); SMCC:
  1/n + theta^2/(2n) (theta the row's true effect); for a two-sample contrast 1/n becomes
  1/n_a + 1/n_b and the theta^2 term is divided by n_a + n_b.
- r, the pre-post correlation: the row's ``r`` where reported, else one shared r ~ ``r_prior``
  (default Beta(2, 2) on [0, 1]: centred on the package's fixed default r = 0.5, 95% in
  (0.09, 0.91); a negative pre-post correlation of the same patients' Treg level is implausible,
  and the data carry almost no information on r, so the prior's width is what propagates).

Arms of one trial (rows sharing a ``study_id``) share the trial's true effect: theta_row =
theta_trial + x_row' beta with theta_trial ~ N(mu_d + ..., tau^2), so regimen moderators still
separate the arms while the trial is counted once in the between-study variance (a documented
combination; a separate arm-within-trial variance is not identified with one or two multi-arm
trials). The per-row ``log_likelihood/y`` integrates theta out given the hyperparameters (and the
drawn latent se): closed forms with the between-study variance added (y ~ N(m, se^2 + tau^2);
z ~ N(m/se, 1 + tau^2/se^2)); for SMCR/SMCC latent se the drawn se (which depends on theta) is used
(an approximation).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayes_il2.errors import ModelError
from bayes_il2.exact.censored import censored_normal_logpdf, log_interval_probability, pvalue_logpdf  # noqa: F401
from bayes_il2.modeling._common import (BuiltModel, check_columns, check_parameterization, disease_index,
                                        linear_predictor, prediction, random_effects, resolve_priors,
                                        study_labels)
from bayes_il2.modeling._partial import (INFO_KINDS, RATIO_MEASURES, STANDARDIZED_MEASURES, STUDY_KINDS,
                                         TESTS)

_SQRT2 = float(np.sqrt(2.0))
LATENT_SE_MEASURES = ("ROMC", "SMCR", "SMCC")
CV_LOG_MEAN_PRIOR = (float(np.log(0.4)), 1.0)
CV_LOG_SD_SCALE = 0.5
DEFAULT_APPROX_REL = 0.10


def smcr_to_romc(smcr: Any, cv_pre: Any) -> np.ndarray:
    """ROMC = log(1 + SMCR * cv_pre).

    Assumes the change is standardized by the baseline SD (SMCR, without the small-sample factor)
    and that the baseline mean and SD are those of the same population: then
    (m_post - m_pre)/m_pre = SMCR * sd_pre/m_pre. Exact for the population quantities; NaN where
    1 + SMCR cv_pre <= 0 (a fall of more than the whole baseline mean).
    """
    x = 1.0 + np.asarray(smcr, dtype=float) * np.asarray(cv_pre, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.nan)


def romc_to_smcr(romc: Any, cv_pre: Any) -> np.ndarray:
    """SMCR = (exp(ROMC) - 1) / cv_pre (the inverse of :func:`smcr_to_romc`)."""
    return np.expm1(np.asarray(romc, dtype=float)) / np.asarray(cv_pre, dtype=float)


# --------------------------------------------------------------------------------------------
# The same in PyTensor
# --------------------------------------------------------------------------------------------
def pt_log_ndtr(z: Any) -> Any:
    """log Phi(z) with finite gradients everywhere (erfcx form below z = -1)."""
    neg = pt.lt(z, -1.0)
    z_neg = pt.switch(neg, z, -1.0)
    z_pos = pt.switch(neg, 0.0, z)
    left = pt.log(pt.erfcx(-z_neg / _SQRT2) / 2.0) - z_neg ** 2 / 2.0
    right = pt.log1p(-pt.erfc(z_pos / _SQRT2) / 2.0)
    return pt.switch(neg, left, right)


def pt_censored_normal_logp(y_low: Any, y_high: Any, mean: Any, sd: Any) -> Any:
    """PyTensor log P(y_low < Y < y_high), Y ~ N(mean, sd^2); y_low/y_high are data (may be +-inf)."""
    lo_fin, hi_fin = pt.isfinite(y_low), pt.isfinite(y_high)
    zl = (pt.switch(lo_fin, y_low, 0.0) - mean) / sd
    zh = (pt.switch(hi_fin, y_high, 0.0) - mean) / sd
    both = lo_fin & hi_fin
    a = pt.switch(both, zl, -1.0)
    b = pt.switch(both, zh, 1.0)
    flip = pt.gt(a, 0.0)
    lo = pt.switch(flip, -b, a)
    hi = pt.switch(flip, -a, b)
    l_hi, l_lo = pt_log_ndtr(hi), pt_log_ndtr(lo)
    two_sided = l_hi + pm.math.log1mexp(l_lo - l_hi)
    upper_only = pt_log_ndtr(pt.switch(hi_fin, zh, 0.0))
    lower_only = pt_log_ndtr(-pt.switch(lo_fin, zl, 0.0))
    return pt.switch(both, two_sided, pt.switch(hi_fin, upper_only, pt.switch(lo_fin, lower_only, 0.0)))


def _pt_normal_logp(y: Any, mean: Any, sd: Any) -> Any:
    return -0.5 * np.log(2 * np.pi) - pt.log(sd) - 0.5 * ((y - mean) / sd) ** 2


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------
def is_partial(data: pd.DataFrame) -> bool:
    """True when the table has an ``info`` column with a kind other than ``complete``."""
    if not isinstance(data, pd.DataFrame) or "info" not in data.columns:
        return False
    return bool((data["info"].astype(str) != "complete").any())


@dataclass(frozen=True)
class PartialRows:
    """The arrays the partial likelihood reads (one entry per row), built by :func:`prepare_rows`."""

    kind: np.ndarray
    measure: str
    row_measure: np.ndarray
    yi: np.ndarray
    vi: np.ndarray
    y_low: np.ndarray
    y_high: np.ndarray
    z_low: np.ndarray
    z_high: np.ndarray
    direction: np.ndarray
    inv_n: np.ndarray
    n_total: np.ndarray
    k_members: np.ndarray
    cv_pre: np.ndarray
    cv_post: np.ndarray
    r: np.ndarray
    s_round2: np.ndarray

    @property
    def latent_se(self) -> np.ndarray:
        return np.isin(self.kind, STUDY_KINDS) & ~np.isfinite(self.vi)

    @property
    def converted(self) -> np.ndarray:
        """Aggregate rows on a standardized scale in a ROMC model."""
        return (self.kind == "aggregate") & (self.row_measure != self.measure)

    def structure(self) -> tuple:
        """What must not change for a refit with the same compiled model."""
        return (tuple(self.kind), self.measure, tuple(self.row_measure), tuple(self.latent_se),
                tuple(~np.isfinite(self.cv_pre)), tuple(~np.isfinite(self.cv_post)), tuple(~np.isfinite(self.r)),
                tuple(self.direction == 0))


def _col(data: pd.DataFrame, name: str) -> np.ndarray:
    if name not in data.columns:
        return np.full(len(data), np.nan)
    return pd.to_numeric(data[name], errors="coerce").to_numpy(float).copy()


def _model_measure(data: pd.DataFrame, measure: str | None, kind: np.ndarray, family: str) -> str:
    if measure is not None:
        return measure
    if "measure" not in data.columns:
        return "unspecified"
    codes = sorted(set(data.loc[kind != "aggregate", "measure"].dropna().astype(str)))
    if len(codes) > 1:
        raise ModelError(f"{family}: the study rows mix measures {codes}; give measure=...")
    return codes[0] if codes else str(data["measure"].iloc[0])


def prepare_rows(data: pd.DataFrame, measure: str | None = None, family: str = "nnhm",
                 approx_rel: float = DEFAULT_APPROX_REL) -> PartialRows:
    """Check a partial-information table and return its arrays.

    Raises
    ------
    ModelError
        Naming the study and column: unknown ``info``, a complete row without yi/vi, a bound or
        z interval that is empty or missing, a latent se without n (or n_a, n_b) or on a measure
        without a latent-se formula, an aggregate without k_members, an aggregate on a scale that
        cannot be converted.
    """
    check_columns(data, ["study_id", "yi", "vi"], family)
    data = data.reset_index(drop=True)
    if "info" not in data.columns:
        data = data.assign(info="complete")
    ids = data["study_id"].astype(str).to_numpy()
    kind = data["info"].astype(str).to_numpy()
    for i, k in enumerate(kind):
        if k not in INFO_KINDS:
            raise ModelError(f"{family}: row {i} (study {ids[i]!r}), column 'info': {k!r} is not one of "
                             f"{', '.join(INFO_KINDS)}")
    model_measure = _model_measure(data, measure, kind, family)
    # the scale a row's numbers are on: `scale` where the table gives it (the effects builder does),
    # else the row's measure
    row_measure = (data["measure"].astype(str).to_numpy() if "measure" in data.columns
                   else np.full(len(data), model_measure))
    if "scale" in data.columns:
        given = data["scale"].fillna("").astype(str).to_numpy()
        row_measure = np.where(given != "", given, row_measure)
    row_measure = np.where(kind == "aggregate", row_measure, model_measure)
    yi, vi = _col(data, "yi"), _col(data, "vi")
    y_low, y_high = _col(data, "y_low"), _col(data, "y_high")
    z_low, z_high = _col(data, "z_low"), _col(data, "z_high")
    direction = _col(data, "direction")
    n, n_a, n_b = _col(data, "n"), _col(data, "n_a"), _col(data, "n_b")
    test = (data["test"].fillna("paired").astype(str).to_numpy() if "test" in data.columns
            else np.full(len(data), "paired"))
    k_members = _col(data, "k_members")
    cv_pre, cv_post, r = _col(data, "cv_pre"), _col(data, "cv_post"), _col(data, "r")

    def fail(i: int, column: str, rule: str) -> None:
        raise ModelError(f"{family}: row {i} (study {ids[i]!r}, info {kind[i]!r}), column {column!r}: {rule}")

    two_sample = test == "two_sample"
    inv_n = np.where(two_sample, 1.0 / n_a + 1.0 / n_b, 1.0 / n)
    n_total = np.where(two_sample, n_a + n_b, n)
    s_round2 = np.zeros(len(data))
    for i, k in enumerate(kind):
        if not np.isnan(vi[i]) and not vi[i] > 0:
            fail(i, "vi", f"{vi[i]!r}; expected a number > 0 or blank (latent)")
        if k in ("complete", "no_spread", "approximate", "aggregate") and not np.isfinite(yi[i]):
            fail(i, "yi", "a finite estimate is required for this kind")
        if k in ("complete", "aggregate") and not np.isfinite(vi[i]):
            fail(i, "vi", "a known sampling variance is required for this kind")
        if k == "bound":
            if np.isnan(y_low[i]) or np.isnan(y_high[i]) or not y_low[i] < y_high[i] \
                    or (np.isinf(y_low[i]) and np.isinf(y_high[i])):
                fail(i, "y_low/y_high", f"[{y_low[i]}, {y_high[i]}]; expected y_low < y_high, one of them "
                     "finite (the other may be -inf/inf)")
        if k == "pvalue":
            if np.isnan(z_low[i]) or np.isnan(z_high[i]) or not z_low[i] < z_high[i]:
                fail(i, "z_low/z_high", f"[{z_low[i]}, {z_high[i]}]; expected z_low < z_high")
            d = 1.0 if np.isnan(direction[i]) else direction[i]
            if d not in (-1.0, 0.0, 1.0):
                fail(i, "direction", f"{direction[i]!r}; expected +1, -1 or 0")
            if d == 0 and z_low[i] < 0:
                fail(i, "z_low", f"{z_low[i]}; with direction 0 (unknown) [z_low, z_high] bounds |z|, so "
                     "z_low >= 0")
            direction[i] = d
        if k == "aggregate" and not (np.isfinite(k_members[i]) and k_members[i] >= 1):
            fail(i, "k_members", f"{k_members[i]!r}; an aggregate needs the number of trials pooled (>= 1)")
        if k == "aggregate" and row_measure[i] != model_measure and not (
                row_measure[i] in STANDARDIZED_MEASURES and model_measure in RATIO_MEASURES):
            fail(i, "measure", f"{row_measure[i]!r} cannot enter a {model_measure!r} model (only a "
                 f"standardized aggregate ({', '.join(STANDARDIZED_MEASURES)}) into a ratio model, via "
                 "ROMC = log(1 + SMCR cv_pre))")
        if k in STUDY_KINDS and not np.isfinite(vi[i]):
            if model_measure not in LATENT_SE_MEASURES:
                fail(i, "vi", f"missing, and measure {model_measure!r} has no latent-se formula "
                     f"(only {', '.join(LATENT_SE_MEASURES)})")
            if test[i] not in TESTS:
                fail(i, "test", f"{test[i]!r}; expected one of {', '.join(TESTS)}")
            if not (np.isfinite(inv_n[i]) and inv_n[i] > 0):
                fail(i, "n" if not two_sample[i] else "n_a/n_b",
                     "a latent se needs the number of patients (n, or n_a and n_b for a two-sample test)")
        for name, arr in (("cv_pre", cv_pre), ("cv_post", cv_post)):
            if not np.isnan(arr[i]) and not arr[i] > 0:
                fail(i, name, f"{arr[i]!r}; expected a number > 0 or blank (latent)")
        if not np.isnan(r[i]) and not -1 < r[i] < 1:
            fail(i, "r", f"{r[i]!r}; expected a correlation in (-1, 1) or blank (uncertain)")
        if k == "approximate":
            rel = float(approx_rel)
            s = np.log1p(rel) / 1.96 if model_measure in RATIO_MEASURES else rel * abs(yi[i]) / 1.96
            s_round2[i] = s ** 2
    direction = np.where(np.isnan(direction), 1.0, direction)
    return PartialRows(kind=kind, measure=model_measure, row_measure=row_measure, yi=yi, vi=vi, y_low=y_low,
                       y_high=y_high, z_low=z_low, z_high=z_high, direction=direction, inv_n=inv_n,
                       n_total=n_total, k_members=k_members, cv_pre=cv_pre, cv_post=cv_post, r=r,
                       s_round2=s_round2)


def _fill(x: np.ndarray, value: float) -> np.ndarray:
    return np.where(np.isnan(x), value, x)


def _containers(rows: PartialRows) -> dict[str, np.ndarray]:
    """Data-container values (NaN placeholders replaced; infinities kept for the bounds)."""
    return {"yi": _fill(rows.yi, 0.0), "vi": _fill(rows.vi, 1.0),
            "y_low": _fill(rows.y_low, -np.inf), "y_high": _fill(rows.y_high, np.inf),
            "z_low": _fill(rows.z_low, -np.inf), "z_high": _fill(rows.z_high, np.inf),
            "inv_n": _fill(rows.inv_n, 1.0), "n_total": _fill(rows.n_total, 1.0),
            "k_members": _fill(rows.k_members, 1.0), "cv_pre": _fill(rows.cv_pre, 1.0),
            "cv_post": _fill(rows.cv_post, 1.0), "r_row": _fill(rows.r, 0.0), "s_round2": rows.s_round2,
            "cv_log_observed": _observed_log_cv(rows)}


def _observed_log_cv(rows: PartialRows) -> np.ndarray:
    cv = np.concatenate([rows.cv_pre, rows.cv_post])
    return np.log(cv[np.isfinite(cv)])


def _used_containers(rows: PartialRows) -> set[str]:
    """The per-row data containers the log density reads (nutpie knows only those)."""
    kinds = set(rows.kind)
    used = {"vi"}
    if kinds & {"complete", "no_spread", "approximate", "aggregate"}:
        used |= {"yi"}
    if kinds & {"complete", "no_spread", "approximate"}:
        used |= {"s_round2"}
    if "bound" in kinds:
        used |= {"y_low", "y_high"}
    if "pvalue" in kinds:
        used |= {"z_low", "z_high"}
    if "aggregate" in kinds:
        used |= {"k_members"}
    if rows.latent_se.any():
        used |= {"inv_n"}
        used |= {"cv_pre", "cv_post", "r_row"} if rows.measure == "ROMC" else {"n_total"}
        if rows.measure == "SMCR":
            used |= {"r_row"}
    return used


def _needs_cv(rows: PartialRows) -> bool:
    romc_latent = rows.latent_se & (rows.measure == "ROMC")
    missing = romc_latent & (~np.isfinite(rows.cv_pre) | ~np.isfinite(rows.cv_post))
    return bool(missing.any() or rows.converted.any())


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------
def build_partial(data: pd.DataFrame, *, family: str = "nnhm", priors: Mapping[str, Any] | None = None,
                  measure: str | None = None, covariates: Sequence[str] | None = None,
                  standardize: bool = True, parameterization: str = "noncentered",
                  r_prior: Any = None, approx_rel: float = DEFAULT_APPROX_REL,
                  extra_diseases: Sequence[str] = ()) -> BuiltModel:
    """Build the NNHM / meta-regression (``family="nnhm"``) or three-level model
    (``family="three_level"``) for a partial-information table.

    Parameters
    ----------
    data : DataFrame
        Effect table with ``info`` and the columns of the contract (module docstring).
    priors : dict, optional
        ``mu``, ``tau`` (NNHM) or ``tau_within``, ``tau_between`` (three-level), ``beta``.
    measure : str, optional
        Model scale (default: the measure of the study rows).
    covariates, standardize, parameterization
        As in :func:`bayes_il2.modeling.nnhm.build_nnhm` (regimen moderators: ``schedule``,
        ``dose_miu``, ``cumulative_dose_miu``).
    r_prior : BetaR or (a, b), optional
        Prior of the shared pre-post correlation for rows without ``r`` (default Beta(2, 2)).
    approx_rel : float
        Relative rounding error of ``approximate`` rows (95% within +-approx_rel).
    extra_diseases : sequence of str
        Three-level only: disease levels with no row (e.g. pSS), whose ``mu_disease`` and
        ``theta_new_disease`` are then predictions from the between-disease distribution.

    Returns
    -------
    BuiltModel
        Posterior adds ``se`` (study_id), ``theta_trial`` (trial), ``r`` (when latent),
        ``cv_log_mean``/``cv_log_sd`` (when latent CVs are needed).
    """
    from bayes_il2.modeling.treg import BetaR

    if family not in ("nnhm", "three_level"):
        raise ModelError(f"partial likelihoods exist for 'nnhm' and 'three_level'; got {family!r}")
    check_parameterization(parameterization)
    data = data.reset_index(drop=True)
    rows = prepare_rows(data, measure, family, approx_rel)
    if r_prior is None:
        r_prior = BetaR(2.0, 2.0)
    elif not isinstance(r_prior, BetaR):
        r_prior = BetaR(float(r_prior[0]), float(r_prior[1]))
    ids = study_labels(data, family)
    three = family == "three_level"
    levels, d_index = (disease_index(data, family) if three else ([], np.zeros(len(data), dtype=int)))
    if three and extra_diseases:
        levels = sorted(set(levels) | {str(d) for d in extra_diseases})
        d_index = np.array([levels.index(str(d)) for d in data["disease"].astype(str)], dtype=int)
    tau_name = "tau_within" if three else "tau"
    needed = (["mu", "tau_within", "tau_between"] if three else ["mu", "tau"]) + (["beta"] if covariates else [])
    priors = resolve_priors(priors, needed, family)
    study_rows = np.flatnonzero(rows.kind != "aggregate")
    if study_rows.size == 0:
        raise ModelError(f"{family}: the table has only aggregate rows; at least one study row is needed")
    trial_ids = list(dict.fromkeys(data["study_id"].astype(str).to_numpy()[study_rows]))
    trial_of_row = np.array([trial_ids.index(s) if k != "aggregate" else 0
                             for s, k in zip(data["study_id"].astype(str), rows.kind)], dtype=int)
    if three:
        for t, tid in enumerate(trial_ids):
            ds = {levels[d_index[i]] for i in study_rows if trial_of_row[i] == t}
            if len(ds) > 1:
                raise ModelError(f"{family}: trial {tid!r} has rows of several diseases {sorted(ds)}")
    trial_disease = np.array([d_index[study_rows[trial_of_row[study_rows] == t][0]] for t in range(len(trial_ids))],
                             dtype=int)
    settings: dict[str, Any] = {"parameterization": parameterization, "covariates": list(covariates or []),
                                "standardize": standardize, "partial": True, "approx_rel": float(approx_rel),
                                "r_prior": [r_prior.a, r_prior.b],
                                "info": [str(k) for k in rows.kind]}
    coords: dict[str, Any] = {"study_id": ids, "trial": trial_ids}
    if three:
        coords["disease"] = levels
    values = _containers(rows)
    latent = rows.latent_se
    latent_idx = np.flatnonzero(latent)
    needs_cv = _needs_cv(rows)
    r_missing = latent & ~np.isfinite(rows.r) & np.isin(rows.measure, ("ROMC", "SMCR"))
    used = _used_containers(rows)
    with pm.Model(coords=coords) as model:
        d = {name: pm.Data(name, val, dims="study_id") for name, val in values.items() if name in used}
        weight = pm.Data("weight", np.ones(len(ids)), dims="study_id")
        mu = priors["mu"].to_pymc("mu")
        tau = priors[tau_name].to_pymc(tau_name)
        xb, design = linear_predictor(data, covariates, standardize, priors, family, model)
        settings.update(design)
        if three:
            tau_b = priors["tau_between"].to_pymc("tau_between")
            mu_d = random_effects("mu_disease", mu, tau_b, "disease", parameterization)
            level_mean = mu_d[d_index]
            trial_mean = mu_d[trial_disease]
        else:
            level_mean = mu + pt.zeros(len(ids))
            trial_mean = mu + pt.zeros(len(trial_ids))
        mean_row = level_mean + xb
        theta_trial = random_effects("theta_trial", trial_mean, tau, "trial", parameterization)
        is_agg = rows.kind == "aggregate"
        theta = pm.Deterministic("theta", pt.switch(is_agg, mean_row, theta_trial[trial_of_row] + xb),
                                 dims="study_id")
        if three:
            prediction("theta_new_disease", mu_d, tau, dims="disease")
            mu_new = prediction("mu_new_disease", mu, tau_b)
            prediction("theta_new", mu_new, tau)
        else:
            prediction("theta_new", mu, tau)

        # pre-post correlation and coefficients of variation (only where a latent se needs them)
        r_vec = d.get("r_row")
        if r_missing.any():
            r_shared = r_prior.to_pymc("r")
            r_vec = pt.set_subtensor(r_vec[np.flatnonzero(r_missing)], r_shared)
        cv_pre, cv_post = d.get("cv_pre"), d.get("cv_post")
        agg_cv = None
        if needs_cv:
            m_cv = pm.Normal("cv_log_mean", *CV_LOG_MEAN_PRIOR)
            s_cv = pm.HalfNormal("cv_log_sd", CV_LOG_SD_SCALE)
            observed = values["cv_log_observed"]
            if observed.size:
                model.add_coord("cv_observed", np.arange(observed.size))
                obs = pm.Data("cv_log_observed", observed, dims="cv_observed")
                pm.Normal("cv_log", m_cv, s_cv, observed=obs, dims="cv_observed")
            romc_latent = latent & (rows.measure == "ROMC")
            miss_pre = np.flatnonzero(romc_latent & ~np.isfinite(rows.cv_pre))
            miss_post = np.flatnonzero(romc_latent & ~np.isfinite(rows.cv_post))
            conv = np.flatnonzero(rows.converted)
            m = miss_pre.size + miss_post.size + conv.size
            model.add_coord("cv_draw", np.arange(m))
            z = pm.Normal("cv_latent_z", 0.0, 1.0, dims="cv_draw")
            cv_lat = pm.Deterministic("cv_latent", pt.exp(m_cv + s_cv * z), dims="cv_draw")
            if miss_pre.size:
                cv_pre = pt.set_subtensor(cv_pre[miss_pre], cv_lat[:miss_pre.size])
            if miss_post.size:
                cv_post = pt.set_subtensor(cv_post[miss_post], cv_lat[miss_pre.size:miss_pre.size + miss_post.size])
            if conv.size:
                agg_cv = cv_lat[miss_pre.size + miss_post.size:]

        # standard errors: known sqrt(vi), or latent
        se = pt.sqrt(d["vi"])
        if latent_idx.size:
            i = latent_idx
            if rows.measure == "ROMC":
                var = (cv_pre[i] ** 2 + cv_post[i] ** 2 - 2 * r_vec[i] * cv_pre[i] * cv_post[i]) * d["inv_n"][i]
            elif rows.measure == "SMCR":
                var = 2 * (1 - r_vec[i]) * d["inv_n"][i] + theta[i] ** 2 / (2 * d["n_total"][i])
            else:  # SMCC
                var = d["inv_n"][i] + theta[i] ** 2 / (2 * d["n_total"][i])
            se = pt.set_subtensor(se[i], pt.sqrt(var))
        se = pm.Deterministic("se", se, dims="study_id")

        # aggregate rows: mean and between-study variance of a mean of k effects, on the row's scale
        agg_mean, tau2_row = mean_row, tau ** 2 + pt.zeros(len(ids))
        agg = np.flatnonzero(is_agg)
        if agg.size:
            tau2_row = pt.set_subtensor(tau2_row[agg], tau ** 2 / d["k_members"][agg])
        conv = np.flatnonzero(rows.converted)
        if conv.size:
            growth = pt.exp(mean_row[conv])
            agg_mean = pt.set_subtensor(agg_mean[conv], (growth - 1.0) / agg_cv)
            tau2_row = pt.set_subtensor(tau2_row[conv], tau ** 2 * (growth / agg_cv) ** 2 / d["k_members"][conv])
        pm.Deterministic("mean_row", agg_mean, dims="study_id")
        pm.Deterministic("tau2_row", tau2_row, dims="study_id")

        ll = pt.zeros(len(ids))
        for kinds, fn in _ROW_TERMS:
            idx = np.flatnonzero(np.isin(rows.kind, kinds))
            if idx.size:
                ll = pt.set_subtensor(ll[idx], fn(d, idx, theta, se, agg_mean, tau2_row, rows))
        pm.Potential("partial_loglik", pt.sum(weight * ll))
        if not three:
            s2_rows = np.flatnonzero(~is_agg)
            k = len(s2_rows)
            w = 1.0 / se[s2_rows] ** 2
            s2 = se[s2_rows[0]] ** 2 if k == 1 else (k - 1) * w.sum() / (w.sum() ** 2 - (w ** 2).sum())
            pm.Deterministic("i2", tau ** 2 / (tau ** 2 + s2))
    settings["disease_of_study"] = [levels[i] for i in d_index] if three else []
    settings["extra_diseases"] = [str(x) for x in extra_diseases]
    all_priors = dict(priors)
    if r_missing.any():
        all_priors["r"] = r_prior
    structure = rows.structure()

    def data_values(table: pd.DataFrame) -> dict[str, np.ndarray]:
        new = prepare_rows(table.reset_index(drop=True), measure or rows.measure, family, approx_rel)
        if new.structure() != structure:
            raise ModelError(f"{family}: a refit needs a table of the same structure (row kinds, measure, "
                             "which se, CVs and r are latent)")
        vals = _containers(new)
        keep = used | ({"cv_log_observed"} if needs_cv and vals["cv_log_observed"].size else set())
        return {name: val for name, val in vals.items() if name in keep}

    def integrated(post: xr.Dataset, const: xr.Dataset) -> xr.DataArray:
        return integrated_loglik(post, const, rows.kind, rows.direction)

    measure_out = rows.measure
    return BuiltModel(model=model, family=family, measure=measure_out, data=data, priors=all_priors,
                      settings=settings, study_ids=ids, study_index={}, data_values=data_values,
                      integrated_loglik=integrated)


def _term_gauss(d, idx, theta, se, agg_mean, tau2_row, rows):
    sd = pt.sqrt(se[idx] ** 2 + d["s_round2"][idx])
    return _pt_normal_logp(d["yi"][idx], theta[idx], sd)


def _term_bound(d, idx, theta, se, agg_mean, tau2_row, rows):
    return pt_censored_normal_logp(d["y_low"][idx], d["y_high"][idx], theta[idx], se[idx])


def _term_pvalue(d, idx, theta, se, agg_mean, tau2_row, rows):
    mean = theta[idx] / se[idx]
    one = pt_censored_normal_logp(d["z_low"][idx], d["z_high"][idx], mean, 1.0)
    unknown = rows.direction[idx] == 0
    if not unknown.any():
        return one
    mirror = pt_censored_normal_logp(-d["z_high"][idx], -d["z_low"][idx], mean, 1.0)
    return pt.switch(unknown, pt.logaddexp(one, mirror), one)


def _term_aggregate(d, idx, theta, se, agg_mean, tau2_row, rows):
    return _pt_normal_logp(d["yi"][idx], agg_mean[idx], pt.sqrt(d["vi"][idx] + tau2_row[idx]))


_ROW_TERMS = ((("complete", "no_spread", "approximate"), _term_gauss), (("bound",), _term_bound),
              (("pvalue",), _term_pvalue), (("aggregate",), _term_aggregate))


def integrated_loglik(post: xr.Dataset, const: xr.Dataset, kind: np.ndarray, direction: np.ndarray) -> xr.DataArray:
    """Per-row log-likelihood with theta integrated out given the hyperparameters (and the drawn se):

    gaussian rows log N(y | m, tau2 + se^2 (+ s_round^2)); aggregate log N(y | m, tau2/k + vi);
    bound log P(y_low < y < y_high), y ~ N(m, se^2 + tau2); pvalue log P(z_low < z < z_high),
    z ~ N(m/se, 1 + tau2/se^2) (union of both tails for direction 0); m = ``mean_row``,
    tau2 = ``tau2_row``.
    """
    m, t2, se = post["mean_row"], post["tau2_row"], post["se"]
    dims = ("chain", "draw", "study_id")
    m, t2, se = (x.transpose(*dims).to_numpy() for x in (m, t2, se))
    n = len(kind)
    c = {name: const[name].to_numpy() if name in const else np.zeros(n)
         for name in ("yi", "vi", "y_low", "y_high", "z_low", "z_high", "s_round2")}
    out = np.empty_like(m)
    g = np.isin(kind, ("complete", "no_spread", "approximate"))
    var = t2 + se ** 2 + c["s_round2"]
    out[..., g] = (-0.5 * (np.log(2 * np.pi * var) + (c["yi"] - m) ** 2 / var))[..., g]
    a = kind == "aggregate"
    var_a = t2 + c["vi"]
    out[..., a] = (-0.5 * (np.log(2 * np.pi * var_a) + (c["yi"] - m) ** 2 / var_a))[..., a]
    b = kind == "bound"
    if b.any():
        sd = np.sqrt(se[..., b] ** 2 + t2[..., b])
        out[..., b] = censored_normal_logpdf(c["y_low"][b], c["y_high"][b], m[..., b], sd)
    p = kind == "pvalue"
    if p.any():
        out[..., p] = pvalue_logpdf(c["z_low"][p], c["z_high"][p], m[..., p] / se[..., p],
                                    np.sqrt(1.0 + t2[..., p] / se[..., p] ** 2), direction[p])
    return xr.DataArray(out, dims=dims, coords={"chain": post["chain"], "draw": post["draw"]})


# --------------------------------------------------------------------------------------------
# Predictions
# --------------------------------------------------------------------------------------------
def predict_new_study(fit: Any, disease: str | None = None, *, seed: int = 20221110,
                      **regimen: Any) -> xr.DataArray:
    """Posterior predictive true effect of a NEW study (a prediction, not an estimate).

    Three-level fits: for a disease level of the model (with or without data; a disease with no
    data, e.g. pSS given as ``extra_diseases``, has mu_disease drawn from the between-disease
    distribution) theta_pred = mu_disease[d] + x' beta + tau_within z; for a disease the model does
    not know, mu_new_disease (mu + tau_between z') replaces mu_disease[d]. NNHM fits: mu + x' beta +
    tau z. ``regimen`` gives the covariate values (e.g. ``schedule="daily_x5", dose_miu=1.0``);
    a covariate not given is set to its mean (numeric) or reference level (text).

    Returns
    -------
    DataArray ``theta_pred`` (chain, draw) on the model scale, with scalar coords ``disease`` and
    one per regimen value, and ``attrs["kind"] = "prediction"``.
    """
    post = fit.idata["posterior"]
    rng = np.random.default_rng(seed)
    design = fit.settings.get("design", {})
    names = fit.settings.get("covariate_columns", [])
    unknown = sorted(set(regimen) - set(design))
    if unknown:
        raise ModelError(f"predict_new_study: {', '.join(unknown)} is not a covariate of this fit "
                         f"(covariates: {', '.join(design) or 'none'})")
    x = np.zeros(len(names))
    for cov, info in design.items():
        if cov not in regimen:
            continue
        value = regimen[cov]
        if "center" in info:
            x[names.index(cov)] = (float(value) - info["center"]) / info["scale"]
        else:
            if str(value) not in info["levels"]:
                raise ModelError(f"predict_new_study: {cov}={value!r} is not a level of the fit "
                                 f"({', '.join(info['levels'])})")
            if str(value) != info["reference"]:
                x[names.index(f"{cov}[{value}]")] = 1.0
    mu = post["mu"]
    shape = mu.shape
    if "tau_within" in post.data_vars:
        tau = post["tau_within"]
        if disease is not None and disease in list(post["mu_disease"].coords["disease"].values):
            base = post["mu_disease"].sel(disease=disease).drop_vars("disease")
        else:
            base = mu + post["tau_between"] * rng.standard_normal(shape)
    else:
        tau = post["tau"]
        base = mu
    xb = (post["beta"] * xr.DataArray(x, dims="covariate", coords={"covariate": names})).sum("covariate") \
        if "beta" in post.data_vars else 0.0
    out = base + xb + tau * rng.standard_normal(shape)
    coords = {"disease": str(disease) if disease is not None else "new"}
    coords.update({k: str(v) for k, v in regimen.items()})
    out = out.rename("theta_pred").assign_coords(coords)
    out.attrs.update(kind="prediction", measure=fit.measure,
                     note="posterior predictive true effect of a new study; not an estimate from data of it")
    return out


def on_standardized_scale(fit: Any, var: str = "mu", cv_pre: float | None = None) -> xr.DataArray:
    """Draws of a ROMC-scale variable put on the SMCR scale: SMCR = (exp(x) - 1) / cv_pre.

    ``cv_pre`` fixed when given; otherwise the typical baseline CV exp(cv_log_mean) of the fit's
    hierarchical CV distribution, draw by draw (so its uncertainty propagates). The assumption is
    that of :func:`smcr_to_romc` (change standardized by the baseline SD of the same population);
    the result is the standardized change of a study with the typical CV, for a side-by-side look
    at published pooled SMDs, not a re-estimate on that scale.

    Raises
    ------
    ModelError
        The fit is not on the ROMC scale, or has no CV distribution and no ``cv_pre`` is given.
    """
    if fit.measure not in RATIO_MEASURES:
        raise ModelError(f"on_standardized_scale: the fit's measure is {fit.measure!r}, not a log ratio of means")
    post = fit.idata["posterior"]
    if cv_pre is not None:
        if not cv_pre > 0:
            raise ModelError(f"on_standardized_scale: cv_pre must be > 0; got {cv_pre!r}")
        cv: Any = float(cv_pre)
    elif "cv_log_mean" in post.data_vars:
        cv = np.exp(post["cv_log_mean"])
    else:
        raise ModelError("on_standardized_scale: this fit has no CV distribution (no latent CV); give cv_pre")
    out = np.expm1(post[var]) / cv
    out.attrs.update(measure="SMCR", converted_from=fit.measure,
                     assumption="SMCR = (exp(ROMC) - 1) / cv_pre, cv_pre " +
                     ("fixed" if cv_pre is not None else "= exp(cv_log_mean) per draw"))
    return out.rename(f"{var}_smcr")
