"""Exact posterior of the binomial-normal model for two-arm event counts (no sampling).

The model of :mod:`bayes_il2.modeling.binomial_normal` (contrast variant, fixed baselines)::

    r_c,i ~ Bin(n_c,i, expit(alpha_i)),  r_t,i ~ Bin(n_t,i, expit(alpha_i + theta_i)),
    theta_i ~ N(mu, tau^2),  alpha_i ~ N(a_m, a_s^2),  mu ~ N(m0, s0^2),  tau ~ any proper prior.

Every integral below has a log-concave integrand (binomial likelihoods with a logit link and normal
densities are log-concave, and so are their marginals: Prékopa 1973, Acta Sci Math 34:335-343), so
each is done by adaptive Gauss-Hermite quadrature centred at the integrand's mode and scaled by its
curvature (Liu & Pierce 1994, Biometrika 81:624-629), the mode found by safeguarded Newton steps:

1. the study likelihood of the log odds ratio, L_i(theta) = int Bin Bin N(alpha) d alpha, at the points
   of a fine theta grid with its score from the same nodes; cubic Hermite interpolation between the
   points (error O(h^4)) and the tangent line beyond them (exact to e^-40 there: log L_i is linear
   in theta once expit(alpha + theta) is 0 or 1 to double precision);
2. a study's marginal likelihood m_i(mu, tau) = int L_i(theta) N(theta | mu, tau^2) d theta, and
   its first two derivatives in mu (E[l'] and E[l''] + Var[l'] over the same nodes);
3. p(y | tau) = int N(mu | m0, s0^2) prod_i m_i(mu, tau) d mu (log-concave in mu);
4. tau: the adaptive Gauss-Legendre panels of the NNHM engine (:mod:`bayes_il2.exact._quadrature`).

Given each tau node, p(mu | tau, y) is tabulated on a uniform grid of its own (a sixteenth of its
curvature scale per step, out to where it has fallen by e^-46), so mu's marginal is a
:class:`~bayes_il2.exact.partial.GridMixture`; theta_new's is each row convolved with N(0, tau^2)
in Fourier space (exact for the Gaussian), and a study's theta_i is L_i(theta) times the
convolution of p(mu | tau, y) / m_i(mu, tau) with N(0, tau^2).

The mu prior must be Normal (a flat one leaves the posterior improper when a study has no events in
an arm) and the baseline prior Normal, as in the MCMC model's integrated log-likelihood.

References
----------
Smith TC, Spiegelhalter DJ, Thomas A (1995). Stat Med 14:2685-2699 (the model).
Röver C (2020). J Stat Softw 93(6) (the semi-analytic approach of bayesmeta for normal data).
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import special

from bayes_il2.errors import ModelError
from bayes_il2.exact._common import LOG_2PI, check_labels, location_prior, prior_scales, variance_prior_bounds
from bayes_il2.exact._quadrature import DROP, build_grid_1d
from bayes_il2.exact.marginals import GridMarginal
from bayes_il2.exact.nnhm import summary_rows
from bayes_il2.exact.partial import GridMixture, PooledPosterior, _convolve_each
from bayes_il2.exact._newton import concave_mode
from bayes_il2.priors import Normal

NODES = 32
_ROOT2 = float(np.sqrt(2.0))


@lru_cache(maxsize=4)
def _hermite(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite nodes and log weights times exp(x^2) (the adaptive rule's form)."""
    x, w = np.polynomial.hermite.hermgauss(nodes)
    return x, np.log(w) + x ** 2


def _log_binomial(r: float, n: float, eta: np.ndarray) -> np.ndarray:
    """log Bin(r | n, expit(eta))."""
    const = special.gammaln(n + 1) - special.gammaln(r + 1) - special.gammaln(n - r + 1)
    return const + r * eta - n * np.logaddexp(0.0, eta)


class StudyLikelihood:
    """log L(theta) of one study, tabulated with its slope on a uniform grid; cubic Hermite inside,
    tangent lines outside. Call with ``nu`` = 0, 1 or 2 for the value, first or second derivative."""

    def __init__(self, theta: np.ndarray, value: np.ndarray, slope: np.ndarray):
        self.theta = np.asarray(theta, dtype=float)
        value, slope = np.asarray(value, dtype=float), np.asarray(slope, dtype=float)
        self.lo, self.hi = float(self.theta[0]), float(self.theta[-1])
        self.step = (self.hi - self.lo) / (self.theta.size - 1)
        h = self.step
        dv = np.diff(value)
        # per cell: value + t (slope + t (c2 + t c3)), t = theta - left point
        self._c = (value[:-1], slope[:-1], (3 * dv / h - 2 * slope[:-1] - slope[1:]) / h,
                   (slope[:-1] + slope[1:] - 2 * dv / h) / h ** 2)
        self._ends = (float(value[0]), float(slope[0]), float(value[-1]), float(slope[-1]))
        peak = int(np.argmax(value))
        self.peak = float(self.theta[peak])
        near = self.theta[value >= value[peak] - DROP]
        self.sharpest_variance = float(1.0 / max(float(np.max(-self(near, 2))), 1e-12))

    def __call__(self, theta: np.ndarray, nu: int = 0) -> np.ndarray:
        return self.derivatives(theta, nu)[nu]

    def derivatives(self, theta: np.ndarray, up_to: int = 2) -> list[np.ndarray]:
        """[value, first, second derivative] at ``theta`` (those up to ``up_to``), from one table look-up."""
        theta = np.asarray(theta, dtype=float)
        cell = np.clip((theta - self.lo) / self.step, 0, self._c[0].size - 1).astype(np.intp)
        t = np.clip(theta, self.lo, self.hi) - (self.lo + cell * self.step)
        c0, c1, c2, c3 = (np.take(c, cell) for c in self._c)
        v_lo, s_lo, v_hi, s_hi = self._ends
        out = [c0 + t * (c1 + t * (c2 + t * c3))
               + np.where(theta < self.lo, s_lo * (theta - self.lo), np.where(theta > self.hi, s_hi * (theta - self.hi), 0.0))]
        if up_to >= 1:
            out.append(c1 + t * (2 * c2 + 3 * t * c3))
        if up_to >= 2:
            # log L is concave; the interpolant's curvature can be a rounding above 0 where log L is
            # nearly linear, which would break the Newton steps and curvature scales built on it
            out.append(np.where((theta < self.lo) | (theta > self.hi), 0.0, np.minimum(2 * c2 + 6 * t * c3, 0.0)))
        return out


def default_alpha_prior() -> Normal:
    """The baseline prior where none is given: Normal(0, 5), the MCMC model's default
    (:func:`bayes_il2.modeling._common.default_priors`)."""
    return Normal(0.0, 5.0)


def baseline_log_density(a: np.ndarray, theta: np.ndarray, r_c: float, n_c: float, r_t: float, n_t: float,
                         alpha_mean: float, alpha_sd: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log Bin(r_c | n_c, expit(a)) + log Bin(r_t | n_t, expit(a + theta)) + log N(a | alpha_mean, alpha_sd^2),
    without the terms free of ``a``, and its first two derivatives in ``a`` (concave in ``a``)."""
    pc, pt = special.expit(a), special.expit(a + theta)
    value = (r_c * a - n_c * np.logaddexp(0.0, a) + r_t * (a + theta) - n_t * np.logaddexp(0.0, a + theta)
             - 0.5 * ((a - alpha_mean) / alpha_sd) ** 2)
    return (value, r_c - n_c * pc + r_t - n_t * pt - (a - alpha_mean) / alpha_sd ** 2,
            -n_c * pc * (1 - pc) - n_t * pt * (1 - pt) - 1.0 / alpha_sd ** 2)


_MAX_POINTS = 20001


@lru_cache(maxsize=256)  # pure: leave-one-out refits and sensitivity grids reuse each study's table
def pair_likelihood(r_c: float, n_c: float, r_t: float, n_t: float, alpha_mean: float, alpha_sd: float,
                    step: float = 0.01) -> StudyLikelihood:
    """L(theta) = int Bin(r_c | n_c, expit(a)) Bin(r_t | n_t, expit(a + theta)) N(a | alpha_mean, alpha_sd^2) da.

    Tabulated by adaptive Gauss-Hermite quadrature in the baseline (32 nodes), with the score
    E[r_t - n_t expit(a + theta)] from the same nodes, on theta in +-(|alpha_mean| + 12 alpha_sd + 40)
    at spacing ``step``, or a 64th of the log odds ratio's standard error (Woolf's, with 0.5
    added to each cell) where that is finer (interpolation error about 1e-11); at most 20001 points, centred on the log odds ratio
    (a range of 10000 standard errors each side: log L has fallen by far more than e^-46 there).
    """
    cells = np.array([r_t, n_t - r_t, r_c, n_c - r_c], dtype=float) + 0.5
    se = float(np.sqrt((1.0 / cells).sum()))
    step = min(float(step), se / 64.0)
    half = abs(alpha_mean) + 12.0 * alpha_sd + 40.0
    centre = 0.0
    if 2.0 * half / step + 1 > _MAX_POINTS:
        centre = float(np.log(cells[0] * cells[3] / (cells[1] * cells[2])))
        half = step * (_MAX_POINTS - 1) / 2.0
    theta = centre + np.arange(-half, half + step / 2, step)
    prec = 1.0 / alpha_sd ** 2

    def slope(i: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return baseline_log_density(a, theta[i], r_c, n_c, r_t, n_t, alpha_mean, alpha_sd)[1:]

    mode = concave_mode(slope, np.full(theta.size, float(alpha_mean)), max_step=5.0, tol=1e-10, max_iter=100)
    scale = 1.0 / np.sqrt(-baseline_log_density(mode, theta, r_c, n_c, r_t, n_t, alpha_mean, alpha_sd)[2])
    x, log_w = _hermite(NODES)
    a = mode[:, None] + _ROOT2 * scale[:, None] * x
    eta = a + theta[:, None]
    log_f = (_log_binomial(r_c, n_c, a) + _log_binomial(r_t, n_t, eta)
             - 0.5 * (a - alpha_mean) ** 2 * prec - 0.5 * LOG_2PI - np.log(alpha_sd) + log_w)
    value = special.logsumexp(log_f, axis=1) + np.log(_ROOT2 * scale)
    weight = special.softmax(log_f, axis=1)
    score = (weight * (r_t - n_t * special.expit(eta))).sum(1)
    return StudyLikelihood(theta, value, score)


def log_marginal(ell: StudyLikelihood, mu: np.ndarray, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log m(mu, tau) = log int L(theta) N(theta | mu, tau^2) d theta and its first two derivatives in mu.

    Adaptive Gauss-Hermite quadrature (32 nodes) at the mode of the log-concave integrand; the
    derivatives are E[l'(theta)] and E[l''(theta)] + Var[l'(theta)] under the normalized integrand
    (differentiating under the integral after theta = mu + tau z), free of cancellation as tau -> 0.
    """
    mu, tau = (np.asarray(a, dtype=float) for a in np.broadcast_arrays(mu, tau))
    shape = mu.shape
    m, t = mu.ravel(), tau.ravel()
    prec = 1.0 / t ** 2

    def slope(i: np.ndarray, th: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, g, h = ell.derivatives(th)
        return g - (th - m[i]) * prec[i], h - prec[i]

    mode = concave_mode(slope, m, max_step=5.0, tol=1e-10, max_iter=100)
    scale = 1.0 / np.sqrt(prec - ell(mode, 2))
    x, log_w = _hermite(NODES)
    th = mode[:, None] + _ROOT2 * scale[:, None] * x
    v, g, h = ell.derivatives(th)
    log_f = v - 0.5 * (th - m[:, None]) ** 2 * prec[:, None] - np.log(t)[:, None] - 0.5 * LOG_2PI + log_w
    top = log_f.max(axis=1, keepdims=True)
    weight = np.exp(log_f - top)
    total = weight.sum(1)
    value = np.log(total) + top[:, 0] + np.log(_ROOT2 * scale)
    weight /= total[:, None]
    d1 = (weight * g).sum(1)
    d2 = (weight * h).sum(1) + (weight * (g - d1[:, None]) ** 2).sum(1)
    return value.reshape(shape), d1.reshape(shape), d2.reshape(shape)


class ExactBinomialNormal(PooledPosterior):
    """Posterior of the binomial-normal model (from :func:`binomial_normal`).

    Attributes
    ----------
    mu, theta_new : GridMixture
        The pooled log odds ratio and a new study's.
    tau : GridMarginal
    labels : list of str
    likelihoods : list of StudyLikelihood
        log L_i(theta) of each study.
    """

    def __init__(self, labels, likelihoods, mu_prior, tau_prior, alpha_prior, tau, mu, theta_new, rows, log_z):
        self.labels, self.likelihoods = labels, likelihoods
        self.mu_prior, self.tau_prior, self.alpha_prior = mu_prior, tau_prior, alpha_prior
        self.tau, self.mu, self.theta_new = tau, mu, theta_new
        self._rows = rows  # per tau node kept: (tau, start, step, log density of mu | tau on its grid)
        self._log_z = float(log_z)
        self._theta: dict[int, GridMixture] = {}

    @property
    def log_marginal_likelihood(self) -> float:
        """log p(y) (the mu, tau and baseline priors are proper)."""
        return self._log_z

    def _index(self, label: Any) -> int:
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            if not 0 <= int(label) < self.k:
                raise ModelError(f"study index {label} out of range (k = {self.k})")
            return int(label)
        if str(label) not in self.labels:
            raise ModelError(f"no study labelled {label!r}; labels: {', '.join(self.labels)}")
        return self.labels.index(str(label))

    def theta(self, label: Any) -> GridMixture:
        """The study's log odds ratio theta_i: L_i(theta) times the convolution of
        p(mu | tau, y) / m_i(mu, tau) with N(0, tau^2), for each tau node."""
        i = self._index(label)
        if i not in self._theta:
            taus, start, step, log_cond, weights, _ = self._rows
            ell = self.likelihoods[i]
            log_rest = log_cond - self._log_marginal_rows(ell)
            rest = np.exp(log_rest - log_rest.max(axis=1, keepdims=True))
            # L_i multiplies the convolution: keep the rows as fine as L_i's sharpest scale too
            conv = _convolve_each(start, step, rest, weights, taus,
                                  finest=np.minimum(taus, np.sqrt(ell.sharpest_variance)))
            x = conv.start[:, None] + conv.step[:, None] * np.arange(conv.f.shape[1])[None, :]
            inside = (np.arange(conv.f.shape[1])[None, :] < conv.count[:, None]) & (conv.f > 0)
            log_l = np.full(x.shape, -np.inf)
            log_l[inside] = ell(x[inside])
            density = np.where(inside, conv.f * np.exp(log_l - np.max(log_l[inside])), 0.0)
            self._theta[i] = GridMixture(conv.start, conv.step, conv.count, density, weights)
        return self._theta[i]

    def sample_hyper(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Draws of (mu, tau): a tau node by its posterior weight, then mu by inverting its tabulated
        conditional given that node (linear between the points of the cdf)."""
        taus, start, step, log_cond, weights, _ = self._rows
        node = rng.choice(taus.size, size=size, p=weights)
        density = np.exp(log_cond)
        cum = np.concatenate([np.zeros((taus.size, 1)),
                              np.cumsum(0.5 * (density[:, 1:] + density[:, :-1]), axis=1)], axis=1)
        cum /= cum[:, -1:]
        u = rng.uniform(size=size)
        mu = np.empty(size)
        for j in np.unique(node):
            pick = node == j
            mu[pick] = start[j] + step[j] * np.interp(u[pick], cum[j], np.arange(cum.shape[1]))
        return mu, taus[node]

    def sample_studies(self, mu: np.ndarray, tau: np.ndarray, counts: Sequence[np.ndarray],
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draws of each study's theta_i given (mu, tau) draws, then of its baseline alpha_i given
        theta_i (both conditionals log-concave: :func:`sample_log_concave`); ``counts`` are
        r_c, n_c, r_t, n_t per study. Returns two (draws, k) arrays."""
        a_m, a_s = float(self.alpha_prior.mu), float(self.alpha_prior.sigma)
        theta, alpha = np.empty((mu.size, self.k)), np.empty((mu.size, self.k))
        for i, ell in enumerate(self.likelihoods):
            def theta_density(j, x, ell=ell):
                m, t2 = mu[j][:, None], tau[j][:, None] ** 2
                v, g, h = ell.derivatives(x)
                return v - 0.5 * (x - m) ** 2 / t2, g - (x - m) / t2, h - 1.0 / t2

            theta[:, i] = sample_log_concave(theta_density, mu, rng)
            study = [float(c[i]) for c in counts]

            def alpha_density(j, x, i=i, study=study):
                return baseline_log_density(x, theta[j, i][:, None], *study, a_m, a_s)

            alpha[:, i] = sample_log_concave(alpha_density, np.full(mu.size, a_m), rng)
        return theta, alpha

    def _log_marginal_rows(self, ell: StudyLikelihood) -> np.ndarray:
        """log m(mu, tau_j) of ``ell`` on each node's mu grid: at every _FILL-th point with its two
        derivatives, quintic Hermite between (as the conditionals themselves)."""
        taus, start, step, log_cond, weights, big = self._rows
        coarse = (log_cond.shape[1] - 1) // _FILL + 1
        grid = start[:, None] + big[:, None] * np.arange(coarse)[None, :]
        value, d1, d2 = log_marginal(ell, grid, np.broadcast_to(taus[:, None], grid.shape))
        return _quintic_fill(value, d1, d2, big, _FILL)[0]

    def log_predictive(self, ell: StudyLikelihood) -> float:
        """log of int m(mu, tau) p(mu, tau | y) for another study's likelihood ``ell`` (its
        leave-one-out predictive density when this posterior omits it)."""
        taus, start, step, log_cond, weights, _ = self._rows
        terms = log_cond + self._log_marginal_rows(ell)
        trapezoid = np.full(log_cond.shape[1], 1.0)
        trapezoid[[0, -1]] = 0.5
        per_node = special.logsumexp(terms + np.log(trapezoid)[None, :], axis=1) + np.log(step)
        return float(special.logsumexp(per_node + np.log(weights)))

    def summary(self, level: float = 0.95, theta: bool = True) -> "Any":
        items = [("mu", "", self.mu), ("tau", "", self.tau)]
        if theta:
            items += [("theta", label, self.theta(i)) for i, label in enumerate(self.labels)]
        items.append(("theta_new", "", self.theta_new))
        return summary_rows(items, level)


def _check_counts(r_c, n_c, r_t, n_t, names: list[str], who: str) -> list[np.ndarray]:
    out = []
    for name, values in (("events_c", r_c), ("n_c", n_c), ("events_t", r_t), ("n_t", n_t)):
        a = np.asarray(values, dtype=float).ravel()
        if a.size != len(names):
            raise ModelError(f"{who}: {name} has {a.size} values for {len(names)} studies")
        bad = ~(np.isfinite(a) & (a >= 0) & (a == np.round(a)))
        if name.startswith("n_"):
            bad |= a <= 0
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ModelError(f"{who}: {name} of study {names[i]!r} is {a[i]!r}; expected a whole number "
                             f"{'> 0' if name.startswith('n_') else '>= 0'}")
        out.append(a)
    for r, n, arm in ((out[0], out[1], "c"), (out[2], out[3], "t")):
        over = np.flatnonzero(r > n)
        if over.size:
            i = int(over[0])
            raise ModelError(f"{who}: study {names[i]!r} has events_{arm}={r[i]:g} > n_{arm}={n[i]:g}")
    return out


def binomial_normal(r_c: Any, n_c: Any, r_t: Any, n_t: Any, *, tau_prior: Any, mu_prior: Any, alpha_prior: Any,
                    labels: Sequence[Any] | None = None, tol: float = 1e-10, order: int = 8) -> ExactBinomialNormal:
    """Exact posterior of mu, tau, theta_new and each theta_i of the binomial-normal model.

    Parameters
    ----------
    r_c, n_c, r_t, n_t : array-like
        Events and patients in the control and LD-IL-2 arm of each study.
    tau_prior : prior
        Proper heterogeneity prior (:mod:`bayes_il2.priors`).
    mu_prior, alpha_prior : Normal
        Priors of the pooled log odds ratio and of each study's baseline log odds.
    labels : sequence, optional
        Study labels (default "1", "2", ...).
    tol, order : adaptive quadrature of tau (as :func:`bayes_il2.exact.nnhm`).

    Returns
    -------
    ExactBinomialNormal
    """
    who = "binomial_normal (exact)"
    k = int(np.asarray(r_c, dtype=float).size)
    if k == 0:
        raise ModelError(f"{who}: no studies")
    names = check_labels(labels, k, who)
    rc, nc, rt, nt = _check_counts(r_c, n_c, r_t, n_t, names, who)
    m0, p0 = location_prior(mu_prior, who)
    if p0 <= 0:
        raise ModelError(f"{who}: the mu prior must be a proper Normal (a flat one leaves the posterior improper "
                         "when an arm has no events)")
    a_m, a_p = location_prior(alpha_prior, who, "alpha")
    if a_p <= 0:
        raise ModelError(f"{who}: the baseline prior 'alpha' must be a proper Normal")
    lo_t, hi_t = variance_prior_bounds(tau_prior, who, "tau")
    likelihoods = [pair_likelihood(*(float(x) for x in c), float(a_m), float(1.0 / np.sqrt(a_p)))
                   for c in zip(rc, nc, rt, nt)]
    return _posterior(names, likelihoods, m0, p0, tau_prior, lo_t, hi_t, mu_prior, alpha_prior, tol, order)


def _mu_given_tau(likelihoods, m0: float, p0: float, tau: np.ndarray):
    """Mode and curvature scale of log p(mu | tau, y) for each tau, and its log integral over mu."""

    def parts(mu: np.ndarray, t: np.ndarray):
        value = -0.5 * p0 * (mu - m0) ** 2 + 0.5 * (np.log(p0) - LOG_2PI)
        d1, d2 = -p0 * (mu - m0), np.full(mu.shape, -p0)
        for ell in likelihoods:
            v, g, h = log_marginal(ell, mu, t)
            value, d1, d2 = value + v, d1 + g, d2 + h
        return value, d1, d2

    def slope(i: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, g, h = parts(mu, tau[i])
        return g, h

    start = np.full(tau.shape, float(np.median([ell.peak for ell in likelihoods] + [m0])))
    mode = concave_mode(slope, start, max_step=5.0, tol=1e-10, max_iter=200)
    scale = 1.0 / np.sqrt(-parts(mode, tau)[2])
    x, log_w = _hermite(NODES)
    mu = mode[:, None] + _ROOT2 * scale[:, None] * x
    value = parts(mu, np.broadcast_to(tau[:, None], mu.shape))[0]
    log_int = special.logsumexp(value + log_w, axis=1) + np.log(_ROOT2 * scale)
    return mode, scale, log_int, parts


def _posterior(names, likelihoods, m0, p0, tau_prior, lo_t, hi_t, mu_prior, alpha_prior, tol, order):
    def log_post_tau(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        return tau_prior.logpdf(t) + _mu_given_tau(likelihoods, m0, p0, t)[2]

    row_v = np.array([ell.sharpest_variance for ell in likelihoods])
    peaks = np.array([ell.peak for ell in likelihoods] + [m0])
    tau_scales = [s for s in prior_scales(tau_prior) if np.isfinite(s)]
    scales = [float(np.sqrt(row_v.min())), float(np.sqrt(row_v.max())), *tau_scales, float(np.ptp(peaks)) or 1.0]
    grid = build_grid_1d(log_post_tau, tau_prior, lo_t, hi_t, float(np.sqrt(row_v.min() / len(row_v))), scales,
                         order=order, tol=tol)
    nodes, qw = grid.nodes_weights()
    mode, scale, log_int, parts = _mu_given_tau(likelihoods, m0, p0, nodes)
    log_int_all = log_int
    with np.errstate(divide="ignore"):
        terms = tau_prior.logpdf(nodes) + log_int + np.log(qw)
    log_z = float(special.logsumexp(terms))
    weights = np.exp(terms - log_z)
    use = weights > 1e-15 * weights.max()
    taus, mode, scale, log_int = nodes[use], mode[use], scale[use], log_int[use]
    # p(mu | tau_j, y) on mode +- half_j: evaluated with its first two derivatives every half curvature
    # scale, quintic Hermite between (error O(h^6)) at 16 points per scale; widened until both ends
    # have fallen by e^-46 (the conditional is log-concave, so its tails fall beyond them)
    half = 12.0 * scale
    for _ in range(8):
        coarse = int(np.clip(np.ceil(4.0 * half / scale).max(), 49, 1001))
        start, big = mode - half, 2.0 * half / (coarse - 1)
        nodes_mu = start[:, None] + big[:, None] * np.arange(coarse)[None, :]
        f, d1, d2 = parts(nodes_mu, np.broadcast_to(taus[:, None], nodes_mu.shape))
        f = f - log_int[:, None]
        wide = np.maximum(f[:, 0], f[:, -1]) > f.max(axis=1) - DROP
        if not wide.any():
            break
        half = np.where(wide, 2.0 * half, half)
    log_cond, step = _quintic_fill(f, d1, d2, big, _FILL)
    density = np.exp(log_cond)
    w = weights[use] / weights[use].sum()
    counts = np.full(taus.size, log_cond.shape[1])
    mu = GridMixture(start, step, counts, density, w)
    theta_new = _convolve_each(start, step, density, w, taus)
    tau = GridMarginal(_tau_density(log_post_tau, tau_prior, grid, nodes, log_int_all), grid, log_z, nodes, weights)
    return ExactBinomialNormal(names, likelihoods, mu_prior, tau_prior, alpha_prior, tau, mu, theta_new,
                               (taus, start, step, log_cond, w, big), log_z)


_FILL = 8


def _quintic_fill(f: np.ndarray, d1: np.ndarray, d2: np.ndarray, h: np.ndarray, fill: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row of ``f`` (with first and second derivatives, at spacing h per row) at ``fill`` times
    the points, by quintic Hermite interpolation per cell (error O(h^6)); returns the rows and their spacing."""
    t = np.arange(fill)[:, None] / fill  # positions within a cell: 0, 1/fill, ...
    t3, t4, t5 = t ** 3, t ** 4, t ** 5
    basis = [1 - 10 * t3 + 15 * t4 - 6 * t5, t - 6 * t3 + 8 * t4 - 3 * t5, (t ** 2 - 3 * t3 + 3 * t4 - t5) / 2,
             10 * t3 - 15 * t4 + 6 * t5, -4 * t3 + 7 * t4 - 3 * t5, (t3 - 2 * t4 + t5) / 2]
    hh = h[:, None, None]
    left = (f[:, None, :-1], hh * d1[:, None, :-1], hh ** 2 * d2[:, None, :-1])
    right = (f[:, None, 1:], hh * d1[:, None, 1:], hh ** 2 * d2[:, None, 1:])
    cells = sum(b * v for b, v in zip(basis, left + right))  # (rows, fill, cells)
    out = cells.transpose(0, 2, 1).reshape(f.shape[0], -1)
    return np.concatenate([out, f[:, -1:]], axis=1), h / fill


def sample_log_concave(log_density, mode_start: np.ndarray, rng: np.random.Generator, points: int = 257,
                       reach: float = 12.0) -> np.ndarray:
    """One draw from each of many log-concave densities on the real line, by inverting the cdf.

    ``log_density(i, x)`` returns the log density (unnormalized) and its first two derivatives at
    ``x`` for the densities with flat indices ``i`` (``x`` of shape (len(i), m)). Each density is
    tabulated on ``points`` points over its mode +- ``reach`` curvature scales (widened until the
    ends have fallen by e^-30); between points the log density is taken as linear, so the cdf and its
    inverse are closed-form per cell (error O(h^2) in the cell's log density: 4e-4 for points=257).
    """
    def slope(i, x):
        _, d1, d2 = log_density(i, x[:, None])
        return d1[:, 0], d2[:, 0]

    mode = concave_mode(slope, np.asarray(mode_start, dtype=float), max_step=5.0, tol=1e-10, max_iter=200)
    n = mode.size
    index = np.arange(n)
    scale = 1.0 / np.sqrt(-log_density(index, mode[:, None])[2][:, 0])
    half = reach * scale
    for _ in range(6):
        x = mode[:, None] + half[:, None] * np.linspace(-1.0, 1.0, points)[None, :]
        lp = log_density(index, x)[0]
        lp = lp - lp.max(axis=1, keepdims=True)
        wide = np.maximum(lp[:, 0], lp[:, -1]) > -30.0
        if not wide.any():
            break
        half = np.where(wide, 2.0 * half, half)
    h = 2.0 * half / (points - 1)
    a, b = lp[:, :-1], lp[:, 1:]
    diff = b - a
    small = np.abs(diff) < 1e-8
    safe = np.where(small, 1.0, diff)
    # mass of each cell: h * (e^b - e^a) / (b - a), the exponential segment's integral
    mass = h[:, None] * np.where(small, np.exp(0.5 * (a + b)), np.exp(a) * np.expm1(diff) / safe)
    cum = np.cumsum(mass, axis=1)
    u = rng.uniform(size=n) * cum[:, -1]
    cell = np.minimum((cum < u[:, None]).sum(axis=1), points - 2)
    before = np.where(cell > 0, cum[index, np.maximum(cell - 1, 0)], 0.0)
    left = u - before
    ca, cd = a[index, cell], diff[index, cell]
    # solve h (e^(ca + cd s) - e^ca) / cd = left for s in [0, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(np.abs(cd) < 1e-8, left / (h * np.exp(ca)),
                     np.log1p(left * cd / (h * np.exp(ca))) / cd)
    s = np.clip(np.nan_to_num(s, nan=0.5), 0.0, 1.0)
    return x[index, cell] + s * h


def _tau_density(log_post_tau, tau_prior, grid, nodes: np.ndarray, log_int: np.ndarray):
    """The unnormalized log density of tau for its marginal's cdf and quantiles: the prior's exact
    log density plus log p(y | tau), a cubic spline in log tau through the quadrature nodes and the
    panel edges (constant beyond them: p(y | tau) is flat below the smallest node, where tau is
    negligible against every study's spread). Each evaluation of p(y | tau) itself is a nested
    quadrature, too slow for the many points a quantile search asks for."""
    from scipy.interpolate import CubicSpline

    edges = np.exp(grid.log_edges)
    extra = tau_prior.logpdf(edges)
    with np.errstate(divide="ignore", invalid="ignore"):
        edge_values = log_post_tau(edges) - extra
    s = np.log(np.concatenate([nodes, edges]))
    v = np.concatenate([log_int, edge_values])
    keep = np.isfinite(s) & np.isfinite(v)
    s, v = s[keep], v[keep]
    order = np.argsort(s)
    s, v = s[order], v[order]
    unique = np.concatenate([[True], np.diff(s) > 1e-12 * np.maximum(1.0, np.abs(s[1:]))])
    spline = CubicSpline(s[unique], v[unique])
    lo, hi = float(s[unique][0]), float(s[unique][-1])

    def log_unnorm(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        with np.errstate(divide="ignore"):
            u = np.clip(np.log(t), lo, hi)
        return tau_prior.logpdf(t) + spline(u)

    return log_unnorm
