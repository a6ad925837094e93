"""``reanalyze``: one endpoint of a two-arm trial under a community of priors, as a table.

Per prior the table gives the posterior median and 95% equal-tailed credible interval of the
effect (odds ratio, or mean difference) and of the risk difference (binary endpoints),
P(benefit), P(effect beyond the clinically important value), the prior's effective sample size and
a prior-data conflict check.

Effective sample size (ESS): the expected local-information ratio (ELIR; Neuenschwander et al. 2020,
Biometrics 76:578-587) with the trial's own information per patient: ESS = I_prior · se² · N, with
I_prior = E_prior[-(log p)''] (1/s² for a normal prior, so the ESS is then the variance ratio
se²/s² times N), se the trial's standard error (Woolf for binary endpoints) and N the patients in
both arms. ``prior_info_ratio`` = I_prior · se² is the prior's information as a fraction of the
trial's and is given even where N is unknown.

Prior-data conflict: the observed estimate (log OR with Woolf SE, or the reported difference) is
located in its prior predictive distribution N(theta, se²) integrated over the prior; the table gives
the two-sided tail probability 2·min(F, 1 - F) (Box 1980, JRSS A 143:383-430; Evans & Moshonov
2006). Small values (< 0.05) flag a conflict.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_il2.reanalysis.endpoints import BinaryEndpoint, Endpoint
from bayes_il2.reanalysis.mixture import FlatPrior, NormalMixture
from bayes_il2.reanalysis.posterior import GridPosterior, posterior
from bayes_il2.reanalysis.priors import Prior, build_priors, important_effect

COLUMNS = ("endpoint", "kind", "measure", "data", "prior", "prior_summary", "median", "cri_low", "cri_high",
           "rd_median", "rd_low", "rd_high", "p_benefit", "important_value", "p_important", "prior_p_benefit",
           "prior_ess", "prior_info_ratio", "conflict_p", "conflict")
CONFLICT_ALPHA = 0.05


@dataclass(frozen=True, eq=False)
class EndpointReanalysis:
    """Everything computed for one endpoint: the priors, the posteriors and their table."""

    endpoint: Endpoint
    priors: dict[str, Prior]
    posteriors: dict[str, GridPosterior | NormalMixture]
    important: float | None
    table: pd.DataFrame

    def natural(self, x: np.ndarray) -> np.ndarray:
        """Model scale -> reported scale (exp for the log odds ratio)."""
        return np.exp(x) if isinstance(self.endpoint, BinaryEndpoint) else np.asarray(x)

    def exceedance(self, prior: str, x: np.ndarray) -> np.ndarray:
        """P(effect better than x) under ``prior``; x on the model scale (log OR or MD)."""
        return p_beyond(self.posteriors[prior], self.endpoint, np.asarray(x, dtype=float))


def format_probability(p: float) -> str:
    """Three decimals, with '> 0.999' / '< 0.001' instead of rounding to 1 or 0."""
    if p > 0.999:
        return "> 0.999"
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}"


def p_beyond(post: GridPosterior | NormalMixture, endpoint: Endpoint, x: np.ndarray | float) -> np.ndarray:
    """Posterior probability that the effect lies beyond ``x`` in the direction of benefit."""
    return post.sf(x) if endpoint.benefit_sign > 0 else post.cdf(x)


def _prior_p_beyond(prior: Prior, endpoint: Endpoint, x: float) -> float:
    if isinstance(prior, FlatPrior):
        return float("nan")
    return float(p_beyond(prior, endpoint, x))


def conflict_p(prior: Prior, endpoint: Endpoint) -> float:
    """Two-sided prior-predictive tail probability of the observed estimate (NaN for a flat prior)."""
    if isinstance(prior, FlatPrior):
        return float("nan")
    f = float(prior.predictive(endpoint.se).cdf(endpoint.estimate))
    return 2.0 * min(f, 1.0 - f)


def prior_information(prior: Prior, endpoint: Endpoint) -> tuple[float, float]:
    """(ESS in patients or NaN, prior information / trial information) — see the module docstring."""
    ratio = prior.location_information() * endpoint.se**2
    n = endpoint.n_total
    return (ratio * n if n is not None else float("nan")), ratio


def summarize(endpoint: Endpoint, name: str, prior: Prior, post: GridPosterior | NormalMixture,
              important: float | None) -> dict:
    """One table row (see :data:`COLUMNS`)."""
    binary = isinstance(endpoint, BinaryEndpoint)
    to_nat = math.exp if binary else float
    lo, med, hi = (float(v) for v in post.ppf(np.array([0.025, 0.5, 0.975])))
    row = {"endpoint": endpoint.name, "kind": endpoint.kind, "measure": endpoint.measure,
           "data": endpoint.describe(), "prior": name, "prior_summary": prior.describe(),
           "median": to_nat(med), "cri_low": to_nat(lo), "cri_high": to_nat(hi)}
    if isinstance(post, GridPosterior):
        rlo, rmed, rhi = (float(v) for v in post.rd_ppf(np.array([0.025, 0.5, 0.975])))
    else:
        rlo = rmed = rhi = float("nan")
    ess, ratio = prior_information(prior, endpoint)
    cp = conflict_p(prior, endpoint)
    row.update(rd_median=rmed, rd_low=rlo, rd_high=rhi, p_benefit=float(p_beyond(post, endpoint, 0.0)),
               important_value=to_nat(important) if important is not None else float("nan"),
               p_important=float(p_beyond(post, endpoint, important)) if important is not None else float("nan"),
               prior_p_benefit=_prior_p_beyond(prior, endpoint, 0.0), prior_ess=ess, prior_info_ratio=ratio,
               conflict_p=cp, conflict=bool(cp < CONFLICT_ALPHA) if not math.isnan(cp) else False)
    return row


def reanalyze_endpoint(endpoint: Endpoint, priors: list[str] | tuple[str, ...] | dict[str, Prior], *,
                       clinically_important_or: float = 2.0, mcid: float | None = None,
                       robust_weight: float = 0.2, map_prior: NormalMixture | None = None,
                       **posterior_options) -> EndpointReanalysis:
    """Like :func:`reanalyze` but keeps the prior and posterior objects (for figures)."""
    built = build_priors(endpoint, priors, clinically_important_or=clinically_important_or, mcid=mcid,
                         robust_weight=robust_weight, map_prior=map_prior)
    important = important_effect(endpoint, clinically_important_or, mcid)
    posts = {name: posterior(endpoint, prior, **posterior_options) for name, prior in built.items()}
    rows = [summarize(endpoint, name, built[name], posts[name], important) for name in built]
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    # the rows hold the risk-difference quantiles; the kept posteriors drop their per-cell arrays
    posts = {name: post.without_rd_arrays() if isinstance(post, GridPosterior) else post
             for name, post in posts.items()}
    return EndpointReanalysis(endpoint=endpoint, priors=built, posteriors=posts, important=important, table=table)


def reanalyze(endpoint: Endpoint,
              priors: list[str] | tuple[str, ...] | dict[str, Prior] = ("skeptical", "neutral", "enthusiastic"),
              clinically_important_or: float = 2.0, mcid: float | None = None, robust_weight: float = 0.2,
              map_prior: NormalMixture | None = None, **posterior_options) -> pd.DataFrame:
    """Bayesian reanalysis of one two-arm endpoint under several priors.

    Parameters
    ----------
    endpoint : BinaryEndpoint or ContinuousEndpoint
        Counts per arm (exact binomial likelihood) or a difference with its CI (normal likelihood).
    priors : list of str or dict
        Built-in names (``skeptical``, ``neutral``, ``enthusiastic``, ``flat``, ``map``,
        ``map_robust``) or a dict name -> :class:`NormalMixture` / :class:`FlatPrior`.
    clinically_important_or : float
        Clinically important odds ratio for binary endpoints (2.0; for a harm the same factor
        towards fewer events, 1/2).
    mcid : float, optional
        Clinically important mean difference (its size; the sign follows the endpoint's direction).
    robust_weight : float
        Weight of the vague component of ``map_robust``.
    map_prior : NormalMixture, optional
        The MAP prior (needed for ``map`` and ``map_robust``).
    **posterior_options
        Passed to :func:`bayes_il2.reanalysis.posterior.binary_posterior` (e.g. ``baseline_sd``).

    Returns
    -------
    DataFrame
        One row per prior with the columns :data:`COLUMNS`; ``median``, ``cri_low``, ``cri_high``
        and ``important_value`` are odds ratios (binary) or mean differences (continuous).

    References
    ----------
    Spiegelhalter DJ, Abrams KR, Myles JP. Bayesian Approaches to Clinical Trials and Health-Care
    Evaluation. Wiley 2004 (community of priors). Schmidli H et al. Robust meta-analytic-predictive
    priors in clinical trials with historical control information. Biometrics 2014;70:1023-1032.
    """
    return reanalyze_endpoint(endpoint, priors, clinically_important_or=clinically_important_or, mcid=mcid,
                              robust_weight=robust_weight, map_prior=map_prior, **posterior_options).table
