"""Bayesian model averaging over the pooling structures: exact marginal likelihoods or stacking.

Two routes, chosen by what the models allow:

* :func:`exact_model_average` — the normal models the exact engine integrates (common effect,
  random effects, three-level and optionally EXNEX; :mod:`bayes_il2.exact`). Posterior model probabilities are
  p(M | y) proportional to p(M) p(y | M), with p(y | M) the exact marginal likelihood under
  *proper* priors (Gronau et al. 2021, metaBMA, Adv Methods Pract Psychol Sci 4(1); Bartoš et al.
  2021, RoBMA). The averaged posterior of mu is the mixture of the models' exact marginals. Because
  Bayes factors depend on the priors of the parameters a model adds (Lindley-Bartlett), the weights
  are recomputed under alternative heterogeneity priors and flagged when any weight moves by more
  than ``sensitivity_threshold`` (default 0.1).
* :func:`stacking_average` — any set of MCMC fits of the same studies (EXNEX, design bias, ...):
  stacking of the leave-one-study-out predictive densities (PSIS-LOO of the integrated per-study
  log-likelihood; Yao, Vehtari, Simpson & Gelman 2018, Bayesian Analysis 13:917-1007; ArviZ
  ``compare(method="stacking")``). The averaged posterior of mu is a weighted resample of the fits'
  draws. Stacking weights are predictive weights, not posterior model probabilities.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayes_il2.errors import ModelError
from bayes_il2.exact.marginals import GaussianMixture

#: Default alternatives to the heterogeneity prior for the sensitivity of exact weights.
SENSITIVITY_SCALES = (0.5, 2.0)


@dataclass(frozen=True)
class ModelAverage:
    """Weights of a model set and the averaged posterior of mu.

    Attributes
    ----------
    method : "exact marginal likelihood" or "stacking"
    weights : DataFrame
        One row per model: model, prior_prob (exact), log_ml (exact) or elpd_loo and pareto_k_high
        (studies with Pareto k > 0.7; stacking), weight,
        mu_mean, mu_low, mu_high (95% equal-tailed, model scale).
    mu : dict
        Averaged mu: mean, sd, median, low, high.
    sensitivity : DataFrame
        Exact route: the weights under each alternative tau prior (one row per prior and model) with
        the change against the main weights; empty for stacking.
    prior_sensitive : bool
        True when some weight changes by more than the threshold under an alternative prior.
    notes : tuple of str
    """

    method: str
    weights: pd.DataFrame
    mu: dict[str, float]
    sensitivity: pd.DataFrame = field(default_factory=pd.DataFrame)
    prior_sensitive: bool = False
    notes: tuple[str, ...] = ()

    def table(self) -> pd.DataFrame:
        """The weights with the averaged answer as a last row ``model = "averaged"``."""
        avg = {"model": "averaged", "weight": 1.0, "mu_mean": self.mu["mean"], "mu_low": self.mu["low"],
               "mu_high": self.mu["high"]}
        return pd.concat([self.weights, pd.DataFrame([avg])], ignore_index=True)


def _exact_models(yi, vi, group, mu_prior, tau_prior, tau_within_prior, tau_between_prior,
                  exnex: Mapping[str, Any] | None = None) -> dict[str, Any]:
    from bayes_il2 import exact

    models = {"common_effect": exact.common_effect(yi, vi, mu_prior=mu_prior),
              "random_effects": exact.nnhm(yi, vi, tau_prior, mu_prior=mu_prior)}
    if group is not None and len(set(map(str, group))) >= 2:
        models["three_level"] = exact.three_level(yi, vi, group, tau_within_prior or tau_prior,
                                                  tau_between_prior or tau_prior, mu_prior=mu_prior)
        if exnex is not None:
            models["exnex"] = exact.exnex(yi, vi, group, tau_within_prior or tau_prior, tau_between_prior or tau_prior,
                                          mu_prior=mu_prior, nex_prior=exnex.get("nex"),
                                          p_exch=exnex.get("p_exch", 0.5))
    return models


def _posterior_probs(log_ml: np.ndarray, prior: np.ndarray) -> np.ndarray:
    from scipy.special import logsumexp

    lp = log_ml + np.log(prior)
    return np.exp(lp - logsumexp(lp))


def _scaled(prior: Any, factor: float) -> Any:
    """The same prior family with its scale multiplied by ``factor`` (HalfNormal, HalfCauchy, ...)."""
    from dataclasses import replace

    if not hasattr(prior, "scale"):
        raise ModelError(f"model averaging: cannot rescale the tau prior {prior!r}; give alternative_tau_priors")
    return replace(prior, scale=float(prior.scale) * factor)


def exact_model_average(yi: Any, vi: Any, *, mu_prior: Any, tau_prior: Any, group: Sequence[Any] | None = None,
                        tau_within_prior: Any = None, tau_between_prior: Any = None,
                        prior_probs: Mapping[str, float] | None = None,
                        alternative_tau_priors: Sequence[Any] | None = None,
                        sensitivity_threshold: float = 0.1, level: float = 0.95,
                        exnex: Mapping[str, Any] | None = None) -> ModelAverage:
    """Average common-effect, random-effects and (with ``group``) three-level models exactly, and
    the EXNEX model when ``exnex`` is given.

    Parameters
    ----------
    yi, vi : array-like
        Effects and known sampling variances.
    mu_prior : Normal
        Proper prior of mu (the same in every model; marginal likelihoods need it proper).
    tau_prior : prior
        Proper prior of tau (random effects; three-level unless the next two are given).
    group : sequence, optional
        Group (disease) of each study; the three-level model joins the set with two or more groups.
    tau_within_prior, tau_between_prior : prior, optional
    prior_probs : mapping, optional
        Prior model probabilities (default equal).
    alternative_tau_priors : sequence of priors, optional
        Heterogeneity priors for the sensitivity statement (default: the tau prior with its scale
        halved and doubled; used for every heterogeneity parameter).
    sensitivity_threshold : float
        A weight change above this under an alternative prior marks the weights prior-sensitive.
    level : float
        Credible level of the reported intervals.
    exnex : mapping, optional
        ``p_exch`` and ``nex`` (Normal) of an EXNEX model (:func:`bayes_il2.exact.exnex.exnex`) that
        joins the set (with ``group``; its scale priors are the three-level ones).

    Returns
    -------
    ModelAverage

    References
    ----------
    Gronau QF, Heck DW, Berkhout SW, Haaf JM, Wagenmakers EJ (2021). A primer on Bayesian
    model-averaged meta-analysis. Adv Methods Pract Psychol Sci 4(3). Hoeting JA, Madigan D,
    Raftery AE, Volinsky CT (1999). Bayesian model averaging: a tutorial. Stat Sci 14:382-417.
    """
    if mu_prior is None or not getattr(mu_prior, "proper", True):
        raise ModelError("model averaging by marginal likelihood needs a proper mu prior (e.g. Normal(0, 2))")
    models = _exact_models(yi, vi, group, mu_prior, tau_prior, tau_within_prior, tau_between_prior, exnex)
    names = list(models)
    given = dict(prior_probs or {})
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ModelError(f"model averaging: no model named {', '.join(unknown)}; models: {', '.join(names)}")
    prior = np.array([float(given.get(n, 1.0)) for n in names])
    if np.any(prior < 0) or not prior.sum() > 0:
        raise ModelError("model averaging: prior model probabilities must be >= 0 and not all 0")
    prior = prior / prior.sum()
    log_ml = np.array([models[n].log_marginal_likelihood for n in names])
    w = _posterior_probs(log_ml, prior)
    tail = (1 - level) / 2
    rows = []
    for n, p0, lm, wn in zip(names, prior, log_ml, w):
        mu = models[n].mu
        rows.append({"model": n, "prior_prob": p0, "log_ml": lm, "weight": wn, "mu_mean": mu.mean,
                     "mu_low": float(mu.ppf(tail)), "mu_high": float(mu.ppf(1 - tail))})
    mix = GaussianMixture(np.concatenate([wn * models[n].mu.weights for n, wn in zip(names, w)]),
                          np.concatenate([models[n].mu.means for n in names]),
                          np.concatenate([models[n].mu.sds for n in names]))
    averaged = {"mean": mix.mean, "sd": mix.sd, "median": float(mix.ppf(0.5)), "low": float(mix.ppf(tail)),
                "high": float(mix.ppf(1 - tail))}
    alternatives = list(alternative_tau_priors) if alternative_tau_priors is not None else None
    sens_rows = []
    for i, factor in enumerate(SENSITIVITY_SCALES if alternatives is None else range(len(alternatives))):
        alt = _scaled(tau_prior, factor) if alternatives is None else alternatives[i]
        alt_w_prior = None if tau_within_prior is None else (
            _scaled(tau_within_prior, factor) if alternatives is None else alt)
        alt_b_prior = None if tau_between_prior is None else (
            _scaled(tau_between_prior, factor) if alternatives is None else alt)
        alt_models = _exact_models(yi, vi, group, mu_prior, alt, alt_w_prior, alt_b_prior, exnex)
        alt_w = _posterior_probs(np.array([alt_models[n].log_marginal_likelihood for n in names]), prior)
        for n, a, b in zip(names, alt_w, w):
            sens_rows.append({"tau_prior": repr(alt), "model": n, "weight": a, "change": a - b})
    sensitivity = pd.DataFrame(sens_rows)
    sensitive = bool(len(sensitivity) and sensitivity["change"].abs().max() > sensitivity_threshold)
    notes = []
    if sensitive:
        worst = sensitivity.loc[sensitivity["change"].abs().idxmax()]
        notes.append(f"the weights are prior-sensitive: under tau prior {worst['tau_prior']} the weight of "
                     f"{worst['model']} changes by {worst['change']:+.2f} (threshold {sensitivity_threshold})")
    return ModelAverage(method="exact marginal likelihood", weights=pd.DataFrame(rows), mu=averaged,
                        sensitivity=sensitivity, prior_sensitive=sensitive, notes=tuple(notes))


def stacking_average(fits: Mapping[str, Any], *, draws: int = 4000, seed: int = 1, level: float = 0.95,
                     var: str = "mu") -> ModelAverage:
    """Stacking weights (PSIS-LOO) of MCMC fits to the same studies and the averaged posterior of ``var``.

    Parameters
    ----------
    fits : mapping name -> Fit
        At least two fits with a ``log_likelihood`` group over the same ``study_id`` values.
    draws : int
        Size of the weighted resample of ``var``.
    seed : int
    level : float
    var : str
        Scalar posterior variable every fit has (default ``mu``).

    Returns
    -------
    ModelAverage

    References
    ----------
    Yao Y, Vehtari A, Simpson D, Gelman A (2018). Using stacking to average Bayesian predictive
    distributions. Bayesian Analysis 13:917-1007.
    """
    from bayes_il2._arviz import arviz_stats  # imported on use: about a second (scipy.stats)

    az = arviz_stats()

    if len(fits) < 2:
        raise ModelError("stacking needs at least two fits")
    names = list(fits)
    studies = None
    for n in names:
        idata = fits[n].idata
        if "log_likelihood" not in idata.children:
            raise ModelError(f"stacking: fit {n!r} has no log_likelihood group")
        ids = [str(s) for s in idata["log_likelihood"]["y"]["study_id"].values]
        if studies is None:
            studies = ids
        elif sorted(ids) != sorted(studies):
            raise ModelError(f"stacking: fit {n!r} is of other studies than {names[0]!r}; weights need the same data")
        if var not in idata["posterior"].data_vars:
            raise ModelError(f"stacking: fit {n!r} has no posterior variable {var!r}")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = az.compare({n: fits[n].idata for n in names}, method="stacking", var_name="y", round_to="none")
        high_k = {n: int((np.asarray(az.loo(fits[n].idata, pointwise=True, var_name="y").pareto_k) > 0.7).sum())
                  for n in names}
    weights = np.array([float(cmp.loc[n, "weight"]) for n in names])
    weights = weights / weights.sum()
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(draws, weights)
    tail = (1 - level) / 2
    rows, pooled = [], []
    for n, wn, c in zip(names, weights, counts):
        x = np.asarray(fits[n].idata["posterior"][var]).ravel()
        pooled.append(rng.choice(x, size=int(c), replace=True))
        rows.append({"model": n, "elpd_loo": float(cmp.loc[n, "elpd"]), "pareto_k_high": high_k[n],
                     "weight": wn, "mu_mean": float(x.mean()),
                     "mu_low": float(np.quantile(x, tail)), "mu_high": float(np.quantile(x, 1 - tail))})
    sample = np.concatenate(pooled)
    averaged = {"mean": float(sample.mean()), "sd": float(sample.std(ddof=1)), "median": float(np.median(sample)),
                "low": float(np.quantile(sample, tail)), "high": float(np.quantile(sample, 1 - tail))}
    notes = ["stacking weights are predictive (leave-one-study-out) weights, not posterior model probabilities"]
    if any(high_k.values()):
        worst = ", ".join(f"{n}: {k}" for n, k in high_k.items() if k)
        notes.append(f"PSIS-LOO is unreliable (studies with Pareto k > 0.7 per model: {worst}); the stacking "
                     "weights are rough")
    if len(studies) < 10:
        notes.append(f"only {len(studies)} studies: stacking weights are noisy and often all-or-nothing")
    notes = tuple(notes)
    return ModelAverage(method="stacking", weights=pd.DataFrame(rows), mu=averaged, notes=notes)
