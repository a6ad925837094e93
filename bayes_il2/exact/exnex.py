"""Exact posterior of the EXNEX model with normal likelihoods (known sampling variances).

Model (Neuenschwander et al. 2016; :mod:`bayes_il2.modeling.exnex`):

    y_i ~ N(theta_i, v_i),   theta_i ~ N(mu_d(i), tau_within^2),
    mu_d ~ p N(mu, tau_between^2) + (1 - p) N(m_nex, s_nex^2),   mu ~ N(m0, s0^2),

tau_within and tau_between with proper priors. With the indicator c_d of "disease d is
exchangeable" made explicit (P(c_d = 1) = p, independently), everything is Gaussian given
(tau_within, tau_between, c):

* theta_i out: y_i ~ N(mu_d(i), v_i + tau_within^2), and within disease d the data enter through
  the precision-weighted mean ybar_d with variance s_d^2 = 1/W_d (as in the three-level model,
  :func:`bayes_il2.exact.three_level.group_means`);
* a non-exchangeable disease: ybar_d ~ N(m_nex, s_d^2 + s_nex^2), independent of the rest;
* the exchangeable diseases E jointly: ybar_d ~ N(mu, s_d^2 + tau_between^2), d in E, with mu out
  in closed form (:func:`bayes_il2.exact._common.normal_marginal`; no term when E is empty).

So p(y | tau_within, tau_between) = sum over the 2^D configurations c of p^|E| (1 - p)^(D - |E|)
p(y | tau_within, tau_between, c), integrated over the two scales by the 2-D quadrature of the
three-level engine (:func:`bayes_il2.exact.three_level.integrate_scales`). mu, mu_d, theta_i and the
predictions are Gaussian mixtures over (nodes x configurations); P(EX_d | y) is the posterior mass
of the configurations with c_d = 1, exactly (the MCMC model's ``p_exch_post`` is its
Rao-Blackwellised estimate). With p = 1 there is one configuration: the three-level model.

The posterior needs a proper mu prior when p < 1 (the configuration with no exchangeable disease
leaves mu with its prior alone).

References
----------
Neuenschwander B, Wandel S, Roychoudhury S, Bailey S (2016). Robust exchangeability designs for
early phase clinical trials with multiple strata. Pharm Stat 15:123-134.
Röver C (2020). J Stat Softw 93(6) (the semi-analytic approach).
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np

from bayes_il2.errors import ModelError
from bayes_il2.exact._common import LOG_2PI, check_effects, check_labels, location_prior
from bayes_il2.exact.marginals import GaussianMixture
from bayes_il2.exact.three_level import ExactThreeLevel, group_codes, group_means, integrate_scales

#: More diseases than this (2^D configurations) are left to MCMC.
MAX_GROUPS = 8
#: Default prior of a non-exchangeable disease's mean (model scale), in both engines.
DEFAULT_NEX_PRIOR = (0.0, 2.0)


def check_p_exch(p_exch: Any, who: str = "exnex") -> float:
    """The prior exchangeability probability as a float in (0, 1]; ModelError otherwise."""
    if isinstance(p_exch, bool) or not isinstance(p_exch, (int, float, np.floating, np.integer)):
        raise ModelError(f"{who}: p_exch must be a number in (0, 1]; got {p_exch!r}")
    value = float(p_exch)
    if not 0.0 < value <= 1.0:
        raise ModelError(f"{who}: p_exch must lie in (0, 1] (1 = the three-level model); got {value}")
    return value


def exnex_caveats(levels: list[str], d_index: np.ndarray, who: str = "exnex") -> list[dict[str, Any]]:
    """What the disease structure cannot identify (the same rules as the three-level model);
    ModelError for fewer than two diseases."""
    per = np.bincount(d_index, minlength=len(levels))
    out = []
    if len(levels) < 2:
        raise ModelError(f"{who}: EXNEX needs at least two diseases; the table has {len(levels)}")
    if (per == 1).all():
        out.append({"parameter": "tau_within", "pooled": True,
                    "message": "every disease has one study: tau_within and tau_between are not separately "
                               "identified, and a disease's EX/NEX split rests on one study"})
    if len(levels) == 2:
        out.append({"parameter": "tau_between", "pooled": True,
                    "message": "2 diseases: tau_between is barely identified; the exchangeability "
                               "probabilities mostly reflect p_exch and the NEX prior"})
    return out


class ExactExnex(ExactThreeLevel):
    """Posterior of the EXNEX model (returned by :func:`exnex`).

    The marginals of :class:`~bayes_il2.exact.three_level.ExactThreeLevel` (``mu``, ``tau_within``,
    ``tau_between``, ``mu_disease(g)``, ``theta(label)``, ``theta_new_disease(g)``,
    ``mu_new_group`` and ``theta_new``: a new *exchangeable* disease), with the EX/NEX
    configurations mixed in, plus :meth:`p_exch_post` (P(EX_g | y)) and
    :attr:`theta_new_unseen_disease` (a study in a disease not in the data, EX with probability p).
    """

    def __init__(self, *args, p_exch: float, nex: tuple[float, float], **kwargs):
        super().__init__(*args, **kwargs)
        self.p_exch = float(p_exch)
        self.m_nex, self.s_nex = float(nex[0]), float(nex[1])

    def __repr__(self) -> str:
        probs = ", ".join(f"{g} {self.p_exch_post(g):.3g}" for g in self.groups)
        return (f"ExactExnex(k={len(self.yi)}, groups={len(self.groups)}, p_exch={self.p_exch:g}, "
                f"mu={self.mu.mean:.4g} (sd {self.mu.sd:.4g}), P(EX | y): {probs})")

    def _mix(self, mean: np.ndarray, var: np.ndarray) -> GaussianMixture:
        # Components that coincide (e.g. a non-exchangeable disease's mean does not depend on
        # tau_between or on the other diseases) are merged: the same mixture with fewer terms.
        # (np.unique over rows sorts a structured view, about 5 times slower than lexsort on the two
        # columns; the groups, their order and each group's weight sum in input order are the same)
        mean, var, w = (a.ravel() for a in np.broadcast_arrays(mean, var, self._w))
        order = np.lexsort((var, mean))
        m, v = mean[order], var[order]
        first = np.concatenate([[True], (m[1:] != m[:-1]) | (v[1:] != v[:-1])])
        inverse = np.empty(len(order), dtype=np.intp)
        inverse[order] = np.cumsum(first) - 1
        weights = np.bincount(inverse, weights=w, minlength=int(first.sum()))
        return GaussianMixture(weights, m[first], np.sqrt(v[first]))

    def _nex_moments(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s2 = 1.0 / self._Wg[a]
        shrink = s2 / (s2 + self.s_nex ** 2)       # weight of m_nex
        return shrink * self.m_nex + (1 - shrink) * self._ybar[a], s2 * (1 - shrink)

    def _mu_group_moments(self, g: int) -> tuple[np.ndarray, np.ndarray]:
        mean_ex, var_ex = super()._mu_group_moments(g)
        mean_nex, var_nex = self._nex_moments(np.arange(len(self._tw)))
        ex = self._ex[:, g][None, None, :]
        return (np.where(ex, mean_ex, mean_nex[:, g][:, None, None]),
                np.where(ex, var_ex, var_nex[:, g][:, None, None]))

    def p_exch_post(self, group: Any) -> float:
        """P(disease ``group`` is exchangeable | y): the posterior mass of its EX configurations."""
        g = self._group(group)
        return float(self._w[:, :, self._ex[:, g]].sum() / self._w.sum())

    @cached_property
    def theta_new_unseen_disease(self) -> GaussianMixture:
        """A new study in a disease not in the data: exchangeable with probability p (a new
        exchangeable disease, :attr:`theta_new`), else N(m_nex, s_nex^2 + tau_within^2)."""
        ex = self.theta_new
        w_tw = self._w.sum(axis=(1, 2))
        return GaussianMixture(np.concatenate([self.p_exch * ex.weights, (1 - self.p_exch) * w_tw]),
                               np.concatenate([ex.means, np.full(len(w_tw), self.m_nex)]),
                               np.concatenate([ex.sds, np.sqrt(self.s_nex ** 2 + self._tw ** 2)]))

    def summary(self, level: float = 0.95, theta: bool = True):
        """The three-level summary rows plus ``p_exch_post`` per disease (mean = P(EX | y); the
        other columns NaN: the indicator's distribution is Bernoulli)."""
        table = super().summary(level, theta)
        for g in self.groups:
            table.loc[f"p_exch_post[{g}]"] = {"parameter": "p_exch_post", "coord": g, "mean": self.p_exch_post(g)}
        return table


def normal_marginal_subsets(y: np.ndarray, v_total: np.ndarray, members: np.ndarray, m0: float,
                            p0: float) -> dict[str, np.ndarray]:
    """:func:`bayes_il2.exact._common.normal_marginal` for every subset of the groups at once.

    y_g ~ N(mu, v_total_g) for the groups g of subset c (row c of the 0/1 matrix ``members``, shape
    (C, ng)), mu ~ N(m0, 1/p0); an empty subset leaves mu with its prior (loglik 0). ``y`` and
    ``v_total`` broadcast to (..., ng); returns ``m``, ``V``, ``loglik`` of shape (..., C). The
    quadratic form is expanded, sum_g w_g (y_g - m)^2 = sum w y^2 - 2 m sum w y + m^2 sum w, so the
    subsets cost matrix products instead of a loop.
    """
    w = 1.0 / v_total
    wy = w * y
    sum_w, sum_wy, sum_wyy = w @ members.T, wy @ members.T, (wy * y) @ members.T
    P = sum_w + p0
    m = (sum_wy + p0 * m0) / P
    quad = np.maximum(sum_wyy - 2.0 * m * sum_wy + m * m * sum_w, 0.0) + p0 * (m0 - m) ** 2
    loglik = (-0.5 * (np.log(v_total) @ members.T) - 0.5 * LOG_2PI * members.sum(axis=1) - 0.5 * quad
              - 0.5 * np.log(P) + (0.5 * np.log(p0) if p0 > 0 else 0.5 * LOG_2PI))
    return {"m": m, "V": 1.0 / P, "loglik": loglik}


def configurations(n_groups: int, p_exch: float) -> tuple[np.ndarray, np.ndarray]:
    """Every EX/NEX configuration of ``n_groups`` diseases ((C, n_groups) bool, True = exchangeable)
    and its log prior probability; one configuration (all exchangeable) when ``p_exch = 1``."""
    if p_exch >= 1.0:
        return np.ones((1, n_groups), dtype=bool), np.zeros(1)
    ex = np.array(list(itertools.product([True, False], repeat=n_groups)), dtype=bool)
    n_ex = ex.sum(axis=1)
    return ex, n_ex * np.log(p_exch) + (n_groups - n_ex) * np.log1p(-p_exch)


def exnex(yi: Any, vi: Any, group: Sequence[Any], tau_within_prior: Any, tau_between_prior: Any,
          mu_prior: Any = None, nex_prior: Any = None, p_exch: float = 0.5,
          labels: Sequence[Any] | None = None, *, tol: float = 1e-8, order: int = 8) -> ExactExnex:
    """Exact posterior of the EXNEX model by 2-D quadrature over the scales and a sum over the
    2^D exchangeability configurations (see the module docstring).

    Parameters
    ----------
    yi, vi : array-like
        Effects and known sampling variances.
    group : sequence
        Disease of each study.
    tau_within_prior, tau_between_prior : prior
        Proper priors on tau_within and tau_between.
    mu_prior : Normal
        Prior of mu; proper when ``p_exch < 1`` (Flat/None allowed only for ``p_exch = 1``).
    nex_prior : Normal, optional
        The prior of a non-exchangeable disease's mean (default Normal(0, 2), as the MCMC model).
    p_exch : float
        Prior probability that a disease is exchangeable, in (0, 1].
    labels : sequence, optional
        Study labels (default "1".."k").
    tol, order : float, int
        As in :func:`bayes_il2.exact.three_level.three_level`.

    Returns
    -------
    ExactExnex

    Raises
    ------
    ModelError
        Bad data, an improper mu prior with ``p_exch < 1``, a non-Normal NEX prior, or more than
        :data:`MAX_GROUPS` diseases.
    """
    from bayes_il2.priors import Normal

    who = "exnex"
    p = check_p_exch(p_exch, who)
    y, v = check_effects(yi, vi, who)
    names = check_labels(labels, len(y), who)
    groups, gidx, onehot = group_codes(group, names, who)
    if len(groups) > MAX_GROUPS:
        raise ModelError(f"{who}: {len(groups)} diseases (2^{len(groups)} configurations) is more than the exact "
                         f"engine sums over (at most {MAX_GROUPS}); use MCMC")
    m0, p0 = location_prior(mu_prior, who)
    if p < 1.0 and p0 == 0.0:
        raise ModelError(f"{who}: with p_exch < 1 the posterior needs a proper mu prior (e.g. Normal(0, 2)); "
                         "a flat one leaves mu improper when no disease is exchangeable")
    nex = Normal(*DEFAULT_NEX_PRIOR) if nex_prior is None else nex_prior
    if not isinstance(nex, Normal):
        raise ModelError(f"{who}: the 'nex' prior must be a Normal(m_nex, s_nex); got {nex!r}")
    m_nex, s_nex = float(nex.mu), float(nex.sigma)
    ex, log_prior_c = configurations(len(groups), p)
    members = ex.astype(float)

    def log_lik(tw: np.ndarray, tb: np.ndarray):
        Wg, ybar, const = group_means(y, v, onehot, gidx, tw)
        var_nex = 1.0 / Wg + s_nex ** 2                                   # (na, ng)
        log_nex = -0.5 * (LOG_2PI + np.log(var_nex) + (ybar - m_nex) ** 2 / var_nex)
        u = 1.0 / Wg[:, None, :] + tb[None, :, None] ** 2                 # (na, nb, ng)
        cond = normal_marginal_subsets(ybar[:, None, :], u, members, m0, p0)
        terms = cond["loglik"]
        terms += (log_nex @ (~ex).T.astype(float))[:, None, :] + const[:, None, None] + log_prior_c
        return terms, ((Wg, ybar), cond)

    scales = [s_nex, float(np.ptp(y)) + abs(m_nex)]
    tw, tb, weights, log_z, tau_w, tau_b, (stats_w, cond) = integrate_scales(
        log_lik, y, v, tau_within_prior, tau_between_prior, who, order=order, tol=tol, scales=scales)
    return ExactExnex(y, v, names, groups, gidx, (tau_within_prior, tau_between_prior, mu_prior), tau_w, tau_b,
                      tw, tb, weights, stats_w, cond, log_z, ex=ex, p_exch=p, nex=(m_nex, s_nex))
