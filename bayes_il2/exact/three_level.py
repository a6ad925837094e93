"""Exact posterior of the three-level normal model (studies within groups, e.g. diseases).

Model: y_ij ~ N(theta_ij, v_ij), theta_ij ~ N(mu_g, tau_within^2), mu_g ~ N(mu, tau_between^2),
mu ~ N(m0, s0^2) or flat. Given (tau_within, tau_between) the model is Gaussian: within group g
the data enter through the precision-weighted mean ybar_g with variance 1/W_g (W_g = sum of
1/(v_ij + tau_within^2)), and the groups form an NNHM with variances 1/W_g + tau_between^2. The
posterior of the two variance components is integrated on a tensor grid of Gauss-Legendre panels
on (log tau_within, log tau_between); mu, mu_g, theta_ij and the predictions are Gaussian mixtures
over the grid nodes.

References
----------
Konstantopoulos S (2011). Fixed effects and variance components estimation in three-level
meta-analysis. Res Synth Methods 2:61-76 (the model).
Röver C (2020). J Stat Softw 93(6) (the semi-analytic approach, here in two dimensions).
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np
from scipy import special

from bayes_il2.errors import ModelError
from bayes_il2.exact._common import (LOG_2PI, check_effects, check_labels, location_prior, normal_marginal,
                                     prior_scales, variance_prior_bounds)
from bayes_il2.exact._quadrature import _logsumexp, build_grid_2d
from bayes_il2.exact.marginals import GaussianMixture, GridMarginal
from bayes_il2.exact.nnhm import summary_rows


class ExactThreeLevel:
    """Posterior of the three-level model (returned by :func:`three_level`).

    Attributes
    ----------
    mu, tau_within, tau_between, theta_new : marginals
        ``theta_new`` is a new study in a new group.
    groups : list of str
        Group levels (sorted); ``mu_disease(g)`` / ``theta_new_disease(g)`` take one of them.

    The mixtures run over the quadrature nodes (a, b) of (tau_within, tau_between) and, for the EXNEX
    subclass (:class:`bayes_il2.exact.exnex.ExactExnex`), over the configurations c of which groups
    are exchangeable: arrays of shape (na, nb, C), C = 1 here (every group exchangeable).
    """

    def __init__(self, y, v, labels, groups, gidx, priors, tau_within, tau_between, tw, tb, weights,
                 within, cond, log_evidence, ex=None):
        self.yi, self.vi, self.labels = y, v, labels
        self.groups, self.group_index = groups, gidx
        self.tau_within_prior, self.tau_between_prior, self.mu_prior = priors
        self.tau_within, self.tau_between = tau_within, tau_between
        self._tw, self._tb = tw, tb            # node values, shapes (na,) and (nb,)
        self._tw3, self._tb3 = tw[:, None, None], tb[None, :, None]
        self._ex = np.ones((1, len(groups)), dtype=bool) if ex is None else ex  # (C, ng): exchangeable?
        shape = (len(tw), len(tb), len(self._ex))
        self._w = weights.reshape(shape)       # (na, nb, C), sums to 1
        self._Wg, self._ybar = within          # (na, ng)
        self._m, self._V = cond["m"].reshape(shape), cond["V"].reshape(shape)
        self._log_evidence = log_evidence

    def __repr__(self) -> str:
        return (f"ExactThreeLevel(k={len(self.yi)}, groups={len(self.groups)}, mu={self.mu.mean:.4g} "
                f"(sd {self.mu.sd:.4g}), tau_within median={self.tau_within.median:.4g}, "
                f"tau_between median={self.tau_between.median:.4g})")

    def _mix(self, mean: np.ndarray, var: np.ndarray) -> GaussianMixture:
        mean, var = np.broadcast_arrays(mean, var)
        return GaussianMixture(self._w.ravel(), mean.ravel(), np.sqrt(var).ravel())

    @cached_property
    def mu(self) -> GaussianMixture:
        return self._mix(self._m, self._V)

    @cached_property
    def mu_new_group(self) -> GaussianMixture:
        """The mean of a new group: mu + tau_between * z."""
        return self._mix(self._m, self._V + self._tb3 ** 2)

    @cached_property
    def theta_new(self) -> GaussianMixture:
        """A new study in a new group."""
        return self._mix(self._m, self._V + self._tb3 ** 2 + self._tw3 ** 2)

    def _group(self, group: Any) -> int:
        key = str(group)
        if key not in self.groups:
            raise ModelError(f"no group {group!r}; groups: {', '.join(self.groups)}")
        return self.groups.index(key)

    def _mu_group_moments(self, g: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of mu_g given the node (the group exchangeable), shape (na, nb, C)."""
        s2 = (1.0 / self._Wg[:, g])[:, None, None]  # (na, 1, 1)
        b = s2 / (s2 + self._tb3 ** 2)              # weight of mu
        mean = b * self._m + (1 - b) * self._ybar[:, g][:, None, None]
        var = s2 * (1 - b) + b * b * self._V
        return mean, var

    def mu_disease(self, group: Any) -> GaussianMixture:
        """Posterior of the mean mu_g of a group in the data."""
        return self._mix(*self._mu_group_moments(self._group(group)))

    def theta_new_disease(self, group: Any) -> GaussianMixture:
        """A new study in a group in the data."""
        mean, var = self._mu_group_moments(self._group(group))
        return self._mix(mean, var + self._tw3 ** 2)

    mu_group = mu_disease
    theta_new_group = theta_new_disease

    def theta(self, label: Any) -> GaussianMixture:
        """True effect of study ``label`` (label string or int position)."""
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            i = int(label)
            if not 0 <= i < len(self.yi):
                raise ModelError(f"study position {label} is out of range 0..{len(self.yi) - 1}")
        elif str(label) in self.labels:
            i = self.labels.index(str(label))
        else:
            raise ModelError(f"no study labelled {label!r}; labels: {', '.join(self.labels)}")
        mean_g, var_g = self._mu_group_moments(int(self.group_index[i]))
        b = (self.vi[i] / (self.vi[i] + self._tw3 ** 2))
        return self._mix(b * mean_g + (1 - b) * self.yi[i], self.vi[i] * (1 - b) + b * b * var_g)

    def _nex_moments(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of every mu_g at tau_within nodes ``a`` were the group non-exchangeable
        (none is in the three-level model; see :class:`bayes_il2.exact.exnex.ExactExnex`)."""
        raise ModelError("the three-level model has no non-exchangeable groups")

    def sample(self, rng: Any, n: int) -> dict[str, np.ndarray]:
        """``n`` independent draws from the exact posterior.

        A draw picks a node (tau_within, tau_between) and configuration by its weight, then mu, the
        group means, theta_i and the predictions from their Gaussian conditionals given it, so the
        draws follow exactly the Gaussian mixtures of the marginals (Röver 2020, sec. 3.4).

        Returns
        -------
        dict of arrays: ``tau_within``, ``tau_between``, ``mu``, ``mu_new_disease``, ``theta_new`` (n,);
        ``mu_disease``, ``theta_new_disease``, ``exchangeable`` (n, ng); ``theta`` (n, k).
        """
        rng = np.random.default_rng(rng)
        na, nb, nc = self._w.shape
        node = rng.choice(na * nb * nc, size=n, p=self._w.ravel() / self._w.sum())
        a, rest = np.divmod(node, nb * nc)
        b, c = np.divmod(rest, nc)
        tw, tb = self._tw[a], self._tb[b]
        mu = self._m[a, b, c] + np.sqrt(self._V[a, b, c]) * rng.standard_normal(n)
        s2 = 1.0 / self._Wg[a]                                 # (n, ng): variance of each group's mean of y
        with np.errstate(divide="ignore", invalid="ignore"):
            shrink = np.where(tb[:, None] > 0, s2 / (s2 + tb[:, None] ** 2), 1.0)
        mean = shrink * mu[:, None] + (1 - shrink) * self._ybar[a]
        var = s2 * (1 - shrink)
        ex = self._ex[c]
        if not ex.all():
            mean_nex, var_nex = self._nex_moments(a)
            mean, var = np.where(ex, mean, mean_nex), np.where(ex, var, var_nex)
        mu_d = mean + np.sqrt(var) * rng.standard_normal((n, len(self.groups)))
        mean_i = mu_d[:, self.group_index]
        t2 = tw[:, None] ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            bi = np.where(t2 > 0, self.vi / (self.vi + t2), 1.0)
        theta = bi * mean_i + (1 - bi) * self.yi + np.sqrt(self.vi * (1 - bi)) * rng.standard_normal((n, len(self.yi)))
        theta_new_disease = mu_d + tw[:, None] * rng.standard_normal((n, len(self.groups)))
        mu_new = mu + tb * rng.standard_normal(n)
        theta_new = mu_new + tw * rng.standard_normal(n)
        return {"tau_within": tw, "tau_between": tb, "mu": mu, "mu_disease": mu_d, "theta": theta,
                "theta_new_disease": theta_new_disease, "mu_new_disease": mu_new, "theta_new": theta_new,
                "exchangeable": ex}

    @property
    def log_marginal_likelihood(self) -> float:
        if self.mu_prior is None or not getattr(self.mu_prior, "proper", True):
            raise ModelError("the marginal likelihood needs a proper mu prior (e.g. mu_prior=Normal(0, 2))")
        return self._log_evidence

    @property
    def marginal_likelihood(self) -> float:
        return float(np.exp(self.log_marginal_likelihood))

    def summary(self, level: float = 0.95, theta: bool = True):
        """mu, tau_within, tau_between, theta_new, mu_disease and theta_new_disease per group, and
        (``theta=True``) every study's theta; columns as in :meth:`bayes_il2.fit.Fit.summary`."""
        items = [("mu", "", self.mu), ("tau_within", "", self.tau_within), ("tau_between", "", self.tau_between),
                 ("theta_new", "", self.theta_new)]
        items += [("mu_disease", g, self.mu_disease(g)) for g in self.groups]
        items += [("theta_new_disease", g, self.theta_new_disease(g)) for g in self.groups]
        if theta:
            items += [("theta", label, self.theta(i)) for i, label in enumerate(self.labels)]
        return summary_rows(items, level)


def three_level(yi: Any, vi: Any, group: Sequence[Any], tau_within_prior: Any, tau_between_prior: Any,
                mu_prior: Any = None, labels: Sequence[Any] | None = None, *, tol: float = 1e-8,
                order: int = 8) -> ExactThreeLevel:
    """Exact posterior of the three-level model by 2-D quadrature over the variance components.

    Parameters
    ----------
    yi, vi : array-like
        Effects and known sampling variances.
    group : sequence
        Group (e.g. disease) of each study.
    tau_within_prior, tau_between_prior : prior
        Proper priors on tau_within (between studies of a group) and tau_between (between groups).
    mu_prior : Normal or Flat, optional
        Default flat.
    labels : sequence, optional
        Study labels (default "1".."k").
    tol, order : float, int
        Relative error tolerance of the adaptive panels (per dimension) and nodes per panel.

    Returns
    -------
    ExactThreeLevel
    """
    who = "three_level"
    y, v = check_effects(yi, vi, who)
    names = check_labels(labels, len(y), who)
    groups, gidx, onehot = group_codes(group, names, who)
    m0, p0 = location_prior(mu_prior, who)

    def log_post(tw: np.ndarray, tb: np.ndarray):
        Wg, ybar, const = group_means(y, v, onehot, gidx, tw)
        u = 1.0 / Wg[:, None, :] + tb[None, :, None] ** 2       # (na, nb, ng)
        cond = normal_marginal(ybar[:, None, :], u, m0, p0)
        return (const[:, None] + cond["loglik"])[..., None], ((Wg, ybar), cond)

    tw, tb, weights, log_z, tau_w, tau_b, (stats_w, cond) = integrate_scales(
        log_post, y, v, tau_within_prior, tau_between_prior, who, order=order, tol=tol)
    return ExactThreeLevel(y, v, names, groups, gidx, (tau_within_prior, tau_between_prior, mu_prior),
                           tau_w, tau_b, tw, tb, weights, stats_w, cond, log_z)


def group_codes(group: Sequence[Any], names: list[str], who: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Sorted group levels, each study's group index and the (k, ng) one-hot matrix."""
    g_raw = [str(g) for g in np.asarray(group, dtype=object).ravel()]
    if len(g_raw) != len(names):
        raise ModelError(f"{who}: {len(g_raw)} group values for {len(names)} studies")
    if any(g in ("", "nan", "None") for g in g_raw):
        i = next(i for i, g in enumerate(g_raw) if g in ("", "nan", "None"))
        raise ModelError(f"{who}: study {names[i]!r} has no group")
    groups = sorted(set(g_raw))
    gidx = np.array([groups.index(g) for g in g_raw])
    onehot = np.zeros((len(names), len(groups)))
    onehot[np.arange(len(names)), gidx] = 1.0
    return groups, gidx, onehot


def group_means(y: np.ndarray, v: np.ndarray, onehot: np.ndarray, gidx: np.ndarray, tw: np.ndarray):
    """Given tau_within (nodes ``tw``): the precision W_g of each group's weighted mean ybar_g and the
    log factor ``const`` with prod_i N(y_i | mu_g(i), v_i + tau_within^2) =
    exp(const) prod_g N(ybar_g | mu_g, 1/W_g). Shapes (na, ng), (na, ng), (na,)."""
    w = 1.0 / (v[None, :] + tw[:, None] ** 2)             # (na, k)
    Wg = w @ onehot                                         # (na, ng)
    ybar = ((w * y) @ onehot) / Wg
    resid = y[None, :] - ybar[:, gidx]
    ss = (w * resid * resid).sum(axis=1)
    const = (-0.5 * len(y) * LOG_2PI + 0.5 * np.log(w).sum(axis=1) - 0.5 * ss
             + 0.5 * (LOG_2PI - np.log(Wg)).sum(axis=1))
    return Wg, ybar, const


def integrate_scales(log_lik: Any, y: np.ndarray, v: np.ndarray, tau_within_prior: Any, tau_between_prior: Any,
                     who: str, *, order: int = 8, tol: float = 1e-8, scales: Sequence[float] = ()):
    """The 2-D quadrature over (tau_within, tau_between) shared by the three-level and EXNEX models.

    ``log_lik(tw, tb)`` returns ``(terms, extra)``: ``terms`` of shape (na, nb, C), the log of
    p(y, c | tau_within, tau_between) for each discrete configuration c (C = 1 for the three-level
    model), and anything the caller wants back for the final nodes. The grid is refined on the
    posterior of the two scales (the configurations summed out).

    Returns
    -------
    tw, tb : node values; weights : (na, nb, C) normalised posterior weights of node and
    configuration; log_z : log of the integral (the log marginal likelihood under proper priors);
    tau_within, tau_between : GridMarginal; extra : ``log_lik``'s extra output at the final nodes.
    """
    b_w = variance_prior_bounds(tau_within_prior, who, "tau_within")
    b_b = variance_prior_bounds(tau_between_prior, who, "tau_between")

    def log_post(tw: np.ndarray, tb: np.ndarray, full: bool = False):
        tw, tb = np.asarray(tw, dtype=float), np.asarray(tb, dtype=float)
        terms, extra = log_lik(tw, tb)
        terms = (terms + tau_within_prior.logpdf(tw)[:, None, None]
                 + tau_between_prior.logpdf(tb)[None, :, None])
        return (terms, extra) if full else _logsumexp(terms, axis=2)

    all_scales = [float(np.sqrt(v.min())), float(np.sqrt(v.max())), *prior_scales(tau_within_prior),
                  *prior_scales(tau_between_prior), *scales]
    if len(y) > 1:
        all_scales.append(float(np.ptp(y)))
    grid_w, grid_b = build_grid_2d(log_post, (tau_within_prior, tau_between_prior), (b_w, b_b),
                                    float(np.sqrt(v.min() / len(v))), all_scales, order=order, tol=tol)
    tw, qw_w = grid_w.nodes_weights()
    tb, qw_b = grid_b.nodes_weights()
    lp, extra = log_post(tw, tb, full=True)
    terms = lp + np.log(qw_w)[:, None, None] + np.log(qw_b)[None, :, None]
    log_z = float(special.logsumexp(terms))
    weights = np.exp(terms - log_z)

    def log_unnorm_w(x: np.ndarray) -> np.ndarray:
        return _logsumexp(log_post(np.asarray(x, dtype=float), tb) + np.log(qw_b)[None, :], axis=1)

    def log_unnorm_b(x: np.ndarray) -> np.ndarray:
        return _logsumexp(log_post(tw, np.asarray(x, dtype=float)) + np.log(qw_w)[:, None], axis=0)

    tau_w = GridMarginal(log_unnorm_w, grid_w, log_z, tw, weights.sum(axis=(1, 2)))
    tau_b = GridMarginal(log_unnorm_b, grid_b, log_z, tb, weights.sum(axis=(0, 2)))
    return tw, tb, weights, log_z, tau_w, tau_b, extra
