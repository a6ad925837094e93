"""Exact posterior of the normal-normal hierarchical model (NNHM) and the common-effect model.

Model: y_i ~ N(theta_i, v_i), theta_i ~ N(mu, tau^2), mu ~ N(m0, s0^2) or flat, tau ~ p(tau).
Given tau everything is Gaussian: mu | tau, y ~ N(m(tau), V(tau)) with precision weights
w_i = 1/(v_i + tau^2); theta_i | tau, y and theta_new | tau, y are Gaussian too. The marginal
posterior of tau, p(tau | y) ∝ p(tau) p(y | tau), is integrated numerically
(:mod:`bayes_il2.exact._quadrature`), and mu, theta_i, theta_new become Gaussian mixtures over the
quadrature nodes.

References
----------
Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package. J Stat Softw
93(6), sections 2-3.
Röver C, Friede T (2017). Discrete approximation of a mixture distribution via restricted
divergence. J Comput Graph Stat 26(1):217-222.
Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. Stat Med
21:1539-1558 (the typical within-study variance behind I^2).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from bayes_il2.errors import ModelError
from bayes_il2.exact._common import (check_effects, check_labels, labels_of, location_prior, normal_marginal,
                                     prior_scales, variance_prior_bounds)
from bayes_il2.exact._quadrature import build_grid_1d
from bayes_il2.exact.marginals import (GaussianMixture, GridMarginal, Marginal, MonotoneTransform, PointMass,
                                       mixture_quantiles)

SUMMARY_COLUMNS = ["parameter", "coord", "mean", "median", "sd", "eti_low", "eti_high", "hdi_low", "hdi_high"]


@dataclass(frozen=True)
class KnownTau:
    """A point-mass 'prior': tau fixed at ``value`` (``KnownTau(0)`` is the common-effect model)."""

    value: float = 0.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.value) and self.value >= 0):
            raise ModelError(f"KnownTau: value must be a finite number >= 0; got {self.value!r}")


def typical_variance(vi: np.ndarray) -> float:
    """Higgins & Thompson's (2002) typical within-study variance (k-1) sum w / ((sum w)^2 - sum w^2);
    the single variance itself when k = 1."""
    w = 1.0 / vi
    if len(vi) == 1:
        return float(vi[0])
    return float((len(vi) - 1) * w.sum() / (w.sum() ** 2 - (w ** 2).sum()))


def summary_rows(items: Sequence[tuple[str, str, Marginal]], level: float) -> pd.DataFrame:
    rows = []
    for parameter, coord, marginal in items:
        rows.append({"parameter": parameter, "coord": coord, **marginal.summary(level)})
    index = [p if c == "" else f"{p}[{c}]" for p, c, _ in items]
    return pd.DataFrame(rows, index=index, columns=SUMMARY_COLUMNS)


class ExactNNHM:
    """Posterior of the NNHM (returned by :func:`nnhm` and :func:`common_effect`).

    Attributes
    ----------
    mu, tau, theta_new : marginal objects
        ``pdf``, ``cdf``, ``ppf``, ``mean``, ``median``, ``sd``, ``interval(level, kind)``.
    i2 : marginal
        I^2 = tau^2 / (tau^2 + s^2) with s^2 the typical within-study variance.
    labels : list of str
        Study labels (``theta(label)``).
    """

    def __init__(self, y: np.ndarray, v: np.ndarray, labels: list[str], tau_prior: Any, mu_prior: Any,
                 tau: Marginal, nodes: np.ndarray, weights: np.ndarray, cond: dict[str, np.ndarray],
                 log_evidence: float):
        self.yi, self.vi, self.labels = y, v, labels
        self.tau_prior, self.mu_prior = tau_prior, mu_prior
        self.tau = tau
        self.nodes, self.weights = nodes, weights
        self._m, self._V = cond["m"], cond["V"]
        self._log_evidence = log_evidence

    def __repr__(self) -> str:
        return (f"ExactNNHM(k={len(self.yi)}, tau_prior={self.tau_prior!r}, mu_prior={self.mu_prior!r}, "
                f"mu={self.mu.mean:.4g} (sd {self.mu.sd:.4g}), tau median={self.tau.median:.4g})")

    @property
    def k(self) -> int:
        return len(self.yi)

    @cached_property
    def mu(self) -> GaussianMixture:
        return GaussianMixture(self.weights, self._m, np.sqrt(self._V))

    @cached_property
    def theta_new(self) -> GaussianMixture:
        """Predictive distribution of the true effect of a new study."""
        return GaussianMixture(self.weights, self._m, np.sqrt(self._V + self.nodes ** 2))

    def _index(self, label: Any) -> int:
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            if 0 <= int(label) < self.k:
                return int(label)
            raise ModelError(f"study position {label} is out of range 0..{self.k - 1}")
        key = str(label)
        if key in self.labels:
            return self.labels.index(key)
        raise ModelError(f"no study labelled {label!r}; labels: {', '.join(self.labels)}")

    def theta(self, label: Any) -> GaussianMixture:
        """Posterior of the true effect theta_i of study ``label`` (a label string, or an int position)."""
        i = self._index(label)
        v, t2 = self.vi[i], self.nodes ** 2
        b = v / (v + t2)
        mean = b * self._m + (1 - b) * self.yi[i]
        var = v * (1 - b) + b * b * self._V
        return GaussianMixture(self.weights, mean, np.sqrt(var))

    @cached_property
    def i2(self) -> MonotoneTransform:
        s2 = typical_variance(self.vi)
        return MonotoneTransform(
            self.tau,
            forward=lambda t: np.asarray(t, dtype=float) ** 2 / (np.asarray(t, dtype=float) ** 2 + s2),
            inverse=lambda x: np.sqrt(s2 * x / (1 - x)),
            dinverse=lambda x: s2 / (2 * np.sqrt(s2 * x / (1 - x)) * (1 - x) ** 2),
            support=(0.0, 1.0))

    @property
    def log_marginal_likelihood(self) -> float:
        """log p(y) under the model's priors (needs a proper mu prior)."""
        if self.mu_prior is None or not getattr(self.mu_prior, "proper", True):
            raise ModelError("the marginal likelihood needs a proper mu prior (e.g. mu_prior=Normal(0, 2)); "
                             "with a flat prior it is defined only up to an arbitrary constant")
        return self._log_evidence

    @property
    def marginal_likelihood(self) -> float:
        return float(np.exp(self.log_marginal_likelihood))

    def bayes_factor(self, other: "ExactNNHM") -> float:
        """p(y | this model) / p(y | other) (same data)."""
        return float(np.exp(self.log_marginal_likelihood - other.log_marginal_likelihood))

    @cached_property
    def shrinkage(self) -> pd.DataFrame:
        """Shrinkage estimates: per study yi, sei, the posterior of theta_i and the posterior mean of
        the shrinkage factor B_i = v_i / (v_i + tau^2) (weight of mu in E[theta_i | tau, y])."""
        t2 = self.nodes ** 2
        v = self.vi[:, None]
        b = v / (v + t2)  # (k, J): shrinkage factor of each study at each tau node
        means = b * self._m + (1 - b) * self.yi[:, None]
        sds = np.sqrt(v * (1 - b) + b * b * self._V)
        low, median, high = mixture_quantiles(self.weights, means, sds, np.array([0.025, 0.5, 0.975])).T
        mean = means @ self.weights
        sd = np.sqrt((sds ** 2 + (means - mean[:, None]) ** 2) @ self.weights)
        rows = {"yi": self.yi, "sei": np.sqrt(self.vi), "mean": mean, "median": median, "sd": sd,
                "eti_low": low, "eti_high": high, "shrinkage_factor": b @ self.weights}
        return pd.DataFrame(rows, index=pd.Index(self.labels, name="study"))

    def summary(self, level: float = 0.95, theta: bool = True) -> pd.DataFrame:
        """mu, tau, theta_new and (``theta=True``) every theta_i: mean, median, sd, equal-tailed and
        shortest interval (columns as in :meth:`bayes_il2.fit.Fit.summary`)."""
        items = [("mu", "", self.mu), ("tau", "", self.tau), ("theta_new", "", self.theta_new)]
        if theta:
            items += [("theta", label, self.theta(i)) for i, label in enumerate(self.labels)]
        return summary_rows(items, level)


def _tau_posterior(log_post, prior, y, v, tol, order, who="nnhm"):
    lo, hi = variance_prior_bounds(prior, who, "tau")
    scales = [float(np.sqrt(v.min())), float(np.sqrt(v.max())), *prior_scales(prior)]
    if len(y) > 1:
        scales.append(float(np.ptp(y)))
    grid = build_grid_1d(log_post, prior, lo, hi, float(np.sqrt(v.min() / len(v))), scales, order=order, tol=tol)
    nodes, qw = grid.nodes_weights()
    lp = log_post(nodes)
    with np.errstate(divide="ignore"):
        terms = lp + np.log(qw)
    log_z = float(special.logsumexp(terms))
    weights = np.exp(terms - log_z)
    return GridMarginal(log_post, grid, log_z, nodes, weights), nodes, weights, log_z


def nnhm(yi: Any, vi: Any, tau_prior: Any, mu_prior: Any = None, labels: Sequence[Any] | None = None,
         *, tol: float = 1e-11, order: int = 8) -> ExactNNHM:
    """Exact posterior of the normal-normal hierarchical model.

    Parameters
    ----------
    yi, vi : array-like
        Effect estimates and their (known) sampling variances, vi > 0.
    tau_prior : prior, KnownTau or float
        A proper prior on tau >= 0 (:mod:`bayes_il2.priors`), or a fixed tau (``KnownTau(t)`` or a
        number ``t``; ``0`` gives the common-effect model).
    mu_prior : Normal or Flat, optional
        Prior of mu; default flat (improper: no marginal likelihood).
    labels : sequence, optional
        Study labels, e.g. ``table.study_id`` (default: the index of ``yi`` when it is a Series indexed
        by study, else "1".."k"); ``summary()`` and ``theta(label)`` use them.
    tol, order : float, int
        Relative error tolerance of the adaptive Gauss-Legendre panels on log(tau), and nodes per
        panel.

    Returns
    -------
    ExactNNHM

    Raises
    ------
    ModelError
        Bad data (non-finite yi, vi <= 0), a prior of the wrong kind.

    References
    ----------
    Röver C (2020). J Stat Softw 93(6).
    """
    who = "nnhm"
    from bayes_il2.priors import parse_prior

    # priors written as strings or tables ("half_normal(0.5)") go through the package's one parser
    tau_prior = parse_prior(tau_prior) if isinstance(tau_prior, (str, dict)) else tau_prior
    mu_prior = parse_prior(mu_prior) if isinstance(mu_prior, (str, dict)) else mu_prior
    y, v = check_effects(yi, vi, who)
    names = check_labels(labels if labels is not None else labels_of(yi), len(y), who)
    m0, p0 = location_prior(mu_prior, who)
    if isinstance(tau_prior, (int, float)) and not isinstance(tau_prior, bool):
        tau_prior = KnownTau(float(tau_prior))
    if isinstance(tau_prior, KnownTau):
        t = np.array([tau_prior.value])
        cond = normal_marginal(y, v[None, :] + t[:, None] ** 2, m0, p0)
        return ExactNNHM(y, v, names, tau_prior, mu_prior, PointMass(tau_prior.value), t, np.array([1.0]),
                         cond, float(cond["loglik"][0]))

    last: dict[str, Any] = {}

    def log_post(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        cond = normal_marginal(y, v[None, :] + t[:, None] ** 2, m0, p0)
        last.update(t=t, cond=cond)  # the final call is at the quadrature nodes: mu | tau comes with it
        return tau_prior.logpdf(t) + cond["loglik"]

    tau, nodes, weights, log_z = _tau_posterior(log_post, tau_prior, y, v, tol, order)
    if last.get("t") is not None and np.array_equal(last["t"], nodes):
        cond = last["cond"]
    else:  # pragma: no cover - _tau_posterior ends with the nodes
        cond = normal_marginal(y, v[None, :] + nodes[:, None] ** 2, m0, p0)
    return ExactNNHM(y, v, names, tau_prior, mu_prior, tau, nodes, weights, cond, log_z)


def common_effect(yi: Any, vi: Any, mu_prior: Any = None, labels: Sequence[Any] | None = None) -> ExactNNHM:
    """The common-effect (fixed-effect) model: the NNHM with tau = 0 (closed form).

    With ``mu_prior=Normal(m0, s0)`` its ``log_marginal_likelihood`` is that of
    y ~ N(m0 1, diag(v) + s0^2 1 1^T), for Bayes factors against :func:`nnhm` fits.
    """
    return nnhm(yi, vi, KnownTau(0.0), mu_prior=mu_prior, labels=labels)
