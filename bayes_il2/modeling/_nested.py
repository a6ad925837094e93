"""Integrated binomial likelihoods for event-rate models: one arm, or several arms nested in a study.

Two links map an arm's linear predictor eta to the probability of at least one event:

- ``logit``: p = expit(eta) (no exposure);
- ``cloglog``: p = 1 - exp(-exp(eta)), eta = log(lambda) + log(t): a constant hazard lambda over a
  window of length t (the probability of >= 1 event of a Poisson process; the complementary
  log-log link with a log-exposure offset; McCullagh & Nelder 1989, Generalized Linear Models,
  sec. 4.3.1).

One arm (:func:`arm_loglik`): log of the integral of Bin(r | n, p(t + offset)) N(t | mean, sd^2)
over t, by adaptive Gauss-Hermite quadrature (Liu & Pierce 1994, Biometrika 81:624-629) centred at
the mode of the integrand (Newton's method; the log integrand is concave for both links) and scaled
by its curvature there. With ``derivatives=True`` it also returns the first two derivatives of that
log integral with respect to ``mean``, from the identities d/dm = E[l'(t)] and
d^2/dm^2 = E[l''(t)] + Var[l'(t)] (expectations under the normalised integrand; they follow from
writing t = m + sd z and differentiating under the integral).

Arms nested in a study (:func:`nested_study_loglik`): eta_a = centre + tau_study z + tau_arm e_a
(+ offset_a), z and e_a standard normal. The study's likelihood integrates every e_a (inner
integrals, as above) and then z (an outer adaptive Gauss-Hermite rule whose mode and curvature
come from the inner derivatives). Both levels are log-concave (a convolution of log-concave
functions is log-concave; Prékopa 1973), so the gradient falls monotonically and each mode is the
root of a decreasing function: :func:`~bayes_il2.exact._newton.concave_mode` takes Newton steps
kept inside a bracket of that root (bisection where a step would leave it; Press et al. 2007,
Numerical Recipes, sec. 9.4, ``rtsafe``), which converges where plain clipped steps can cycle, and
it iterates only the draws not yet converged.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import gammaln

from bayes_il2.exact._newton import concave_mode

LINKS = ("logit", "cloglog")
_MIN_SD = 1e-8  # a zero SD is the limit of a point mass; keep the quadrature defined


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """log(1 - exp(x)) for x < 0 as log(-expm1(x)): exact to double precision in absolute terms, which
    is what a log-likelihood sum needs (near x = -inf it returns 0 for -exp(x) < 1e-16)."""
    with np.errstate(divide="ignore"):
        return np.log(-np.expm1(x))


def _logsumexp(a: np.ndarray, axis: int = -1) -> np.ndarray:
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return np.log(np.sum(np.exp(a - top), axis=axis)) + np.squeeze(top, axis=axis)


def binomial_terms(r: np.ndarray, n: np.ndarray, eta: np.ndarray, link: str
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log Bin(r | n, p(eta)) and its first two derivatives in eta, for ``link`` (see module doc).

    cloglog, with mu = exp(eta), q = mu / (exp(mu) - 1) and 1 - exp(-mu) written ``em1``:
    l = r log(1 - exp(-mu)) - (n - r) mu, l' = r q - (n - r) mu,
    l'' = r (q - q mu / em1) - (n - r) mu (all terms bounded as mu -> 0 and mu -> inf).
    """
    if link not in LINKS:
        raise ValueError(f"link must be one of {LINKS}; got {link!r}")
    return (_log_binomial(r, n, eta, link), *_derivatives(r, n, eta, link))


def _log_binomial(r: np.ndarray, n: np.ndarray, eta: np.ndarray, link: str) -> np.ndarray:
    log_choose = gammaln(n + 1) - gammaln(r + 1) - gammaln(n - r + 1)
    if link == "logit":
        return log_choose + r * eta - n * np.logaddexp(0.0, eta)
    mu = np.exp(np.minimum(eta, 700.0))
    return log_choose + r * _log1mexp(-mu) - (n - r) * mu


_terms = binomial_terms


def _derivatives(r: np.ndarray, n: np.ndarray, eta: np.ndarray, link: str) -> tuple[np.ndarray, np.ndarray]:
    """The first two derivatives of :func:`binomial_terms` only (the Newton steps need no more)."""
    if link == "logit":
        p = 1.0 / (1.0 + np.exp(-eta))
        return r - n * p, -n * p * (1.0 - p)
    mu = np.exp(np.minimum(eta, 700.0))
    em1 = -np.expm1(-mu)
    q = mu * np.exp(-mu) / em1
    return r * q - (n - r) * mu, r * (q - q * mu / em1) - (n - r) * mu


def arm_loglik(r: Any, n: Any, mean: Any, sd: Any, *, offset: Any = 0.0, link: str = "logit",
               nodes: int = 50, derivatives: bool = False):
    """log of the integral of Bin(r | n, p(t + offset)) N(t | mean, sd^2) dt (arrays broadcast).

    Parameters
    ----------
    r, n : array_like
        Events and patients.
    mean, sd : array_like
        Normal distribution of the arm's linear predictor (without the offset).
    offset : array_like
        log exposure for the cloglog link (0 for logit).
    link : {"logit", "cloglog"}
    nodes : int
        Gauss-Hermite nodes (50: the cloglog integrand of an arm with every patient affected is
        skewed, and 30 nodes leave an error of about 2e-6 there; 50 give < 1e-10).
    derivatives : bool
        Also return d/dmean and d^2/dmean^2 of the log integral.

    Returns
    -------
    ndarray, or (ndarray, ndarray, ndarray) with ``derivatives``.

    References
    ----------
    Liu Q, Pierce DA (1994). A note on Gauss-Hermite quadrature. Biometrika 81:624-629.
    """
    if link not in LINKS:
        raise ValueError(f"link must be one of {LINKS}; got {link!r}")
    r, n, mean, sd, offset = (np.asarray(a, dtype=float) for a in np.broadcast_arrays(r, n, mean, sd, offset))
    sd = np.maximum(sd, _MIN_SD)
    prec = 1.0 / sd**2

    def slope(i: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d1, d2 = _derivatives(r.flat[i], n.flat[i], t + offset.flat[i], link)
        return d1 - (t - mean.flat[i]) * prec.flat[i], d2 - prec.flat[i]

    t = concave_mode(slope, mean, max_step=5.0, tol=1e-11, max_iter=200)
    _, d2 = _derivatives(r, n, t + offset, link)
    scale = 1.0 / np.sqrt(prec - d2)
    x, w = np.polynomial.hermite.hermgauss(nodes)
    shape = t.shape
    flat = [a.reshape(-1) for a in (r, n, mean, sd, offset, t, scale)]
    rows = max(1, _BLOCK_ELEMENTS // nodes)
    blocks = [_arm_quadrature(*(a[i:i + rows] for a in flat), x, w, link, derivatives)
              for i in range(0, max(t.size, 1), rows)]
    if not derivatives:
        return np.concatenate(blocks).reshape(shape)
    return tuple(np.concatenate(parts).reshape(shape) for parts in zip(*blocks))


#: Elements (draws x nodes) per block of the quadrature step: its temporaries, a dozen arrays of this
#: size, stay near 30 MB however many draws come in (8000 draws x 16 outer x 40 inner nodes of a nested
#: study were 5 million elements per array at once). Each row's arithmetic is the same in a block as
#: in the whole array, so the result is bit-identical.
_BLOCK_ELEMENTS = 1 << 18


def _arm_quadrature(r: np.ndarray, n: np.ndarray, mean: np.ndarray, sd: np.ndarray, offset: np.ndarray,
                    t: np.ndarray, scale: np.ndarray, x: np.ndarray, w: np.ndarray, link: str, derivatives: bool):
    """The Gauss-Hermite sum of :func:`arm_loglik` for 1-D arrays, the mode ``t`` and ``scale`` given."""
    e = (lambda v: v[..., None])
    nodes_t = e(t) + np.sqrt(2.0) * e(scale) * x
    if derivatives:
        ll, l1, l2 = _terms(e(r), e(n), nodes_t + e(offset), link)
    else:
        ll = _log_binomial(e(r), e(n), nodes_t + e(offset), link)
    log_norm = -0.5 * np.log(2 * np.pi) - e(np.log(sd)) - 0.5 * ((nodes_t - e(mean)) / e(sd)) ** 2
    terms = ll + log_norm + np.log(w) + x**2
    value = _logsumexp(terms, axis=-1) + np.log(np.sqrt(2.0) * scale)
    if not derivatives:
        return value
    weights = np.exp(terms - value[..., None] + np.log(np.sqrt(2.0) * scale)[..., None])
    m1 = np.sum(weights * l1, axis=-1)
    var1 = np.sum(weights * (l1 - m1[..., None]) ** 2, axis=-1)
    return value, m1, np.sum(weights * l2, axis=-1) + var1


def nested_study_loglik(r: Any, n: Any, centre: Any, tau_study: Any, tau_arm: Any, *, offset: Any = 0.0,
                        link: str = "logit", nodes: int = 16, inner_nodes: int = 40) -> np.ndarray:
    """log p(all arms of one study | centre, tau_study, tau_arm), study and arm effects integrated out.

    The model: r_a ~ Bin(n_a, p(eta_a)), eta_a = centre + u + e_a + offset_a, u ~ N(0, tau_study^2),
    e_a ~ N(0, tau_arm^2) independent. ``r``, ``n`` and ``offset`` hold one value per arm (1-D);
    ``centre``, ``tau_study`` and ``tau_arm`` are arrays of draws (any shape, broadcast together).

    Returns
    -------
    ndarray
        Shape of the broadcast draws.
    """
    r, n = np.atleast_1d(np.asarray(r, dtype=float)), np.atleast_1d(np.asarray(n, dtype=float))
    offset = np.broadcast_to(np.asarray(offset, dtype=float), r.shape)
    centre, c, s = (np.asarray(a, dtype=float) for a in np.broadcast_arrays(centre, tau_study, tau_arm))

    def pieces(i, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        total = d1 = d2 = 0.0
        for a in range(r.size):
            v, g, h = arm_loglik(r[a], n[a], centre.flat[i] + c.flat[i] * z, s.flat[i], offset=offset[a],
                                 link=link, nodes=inner_nodes, derivatives=True)
            total, d1, d2 = total + v, d1 + g, d2 + h
        return total, d1, d2

    def slope(i: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, d1, d2 = pieces(i, z)
        return c.flat[i] * d1 - z, c.flat[i] ** 2 * d2 - 1.0

    # the nodes need the mode only roughly: tolerance 1e-8
    z = concave_mode(slope, np.zeros_like(centre), max_step=3.0, tol=1e-8, max_iter=100)
    _, _, d2 = pieces(slice(None), z.reshape(-1))
    d2 = d2.reshape(z.shape)
    scale = 1.0 / np.sqrt(1.0 - c**2 * d2)
    x, w = np.polynomial.hermite.hermgauss(nodes)
    # all outer nodes at once: a trailing axis of length ``nodes`` on every draw array
    zk = z[..., None] + np.sqrt(2.0) * scale[..., None] * x
    total = 0.0
    for a in range(r.size):
        total = total + arm_loglik(r[a], n[a], centre[..., None] + c[..., None] * zk, s[..., None],
                                   offset=offset[a], link=link, nodes=inner_nodes)
    logs = total - 0.5 * zk**2 - 0.5 * np.log(2 * np.pi) + np.log(w) + x**2
    return _logsumexp(logs, axis=-1) + np.log(np.sqrt(2.0) * scale)
