"""Quadrature over variance components (tau >= 0) for the exact engine.

The posterior of tau is integrated with composite Gauss-Legendre panels on log(tau), refined by
bisection until each panel's error estimate is below a relative tolerance (adaptive quadrature),
plus one atom for the interval [0, t0] next to 0: t0 is so small against every sampling variance
that the likelihood is constant there, so that interval's mass is the likelihood times the prior
probability of [0, t0] (exact also for priors with an integrable singularity at 0, such as the
log-t prior of Rhodes et al.). The range is found on a coarse grid: it spans the region where the
log density (times the Jacobian tau) lies within ``DROP`` (46, a factor 1e-20) of its maximum.
On log(tau) both the mass near tau = 0 (density ~ tau) and polynomial tails (density ~ tau^-a)
become exponential and smooth, so few panels reach near machine precision. Two variance
components use the tensor product of panels refined on each marginal.

This replaces the DIRECT grid of bayesmeta (Röver & Friede 2017, J Comput Graph Stat
26(1):217-222; Röver 2020, J Stat Softw 93(6)) by adaptive Gauss-Legendre quadrature
(e.g. Davis & Rabinowitz, Methods of Numerical Integration, 2nd ed., 1984, ch. 6).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
from scipy import special

from bayes_il2.errors import ModelError

DROP = 46.0


@lru_cache(maxsize=32)
def _gauss_legendre(order: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(order)
    x.flags.writeable = False
    w.flags.writeable = False
    return x, w


@dataclass(frozen=True)
class PanelGrid:
    """Gauss-Legendre panels over a positive parameter.

    Attributes
    ----------
    lin_edge : float or None
        When not None, a first panel on [0, lin_edge] in the parameter itself.
    log_edges : ndarray
        Edges of the panels on log(parameter) (ascending).
    order : int
        Nodes per panel.
    lower, upper : float
        Support of the parameter (the prior's), used for quantile brackets.
    prior : prior object
        The parameter's prior; below ``lin_edge`` (far below every scale of the problem) the
        likelihood is constant to double precision, so that panel's mass is the likelihood times
        the prior probability ``prior.cdf(lin_edge)``: one node with that weight. This stays exact
        for priors with an integrable singularity at 0 such as the log-t prior of Rhodes et al.
    """

    lin_edge: float | None
    log_edges: np.ndarray
    order: int
    lower: float
    upper: float
    prior: Any = None

    @property
    def upper_eff(self) -> float:
        return float(np.exp(self.log_edges[-1]))

    @cached_property
    def _lin_cdf(self):
        return self.prior.cdf(self.lin_edge)

    def nodes_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Nodes (parameter values) and quadrature weights for integrals d(parameter)."""
        x, w = _gauss_legendre(self.order)
        a, b = self.log_edges[:-1, None], self.log_edges[1:, None]
        s = (a + (b - a) * (x + 1) / 2).ravel()
        ws = ((b - a) / 2 * w).ravel()
        nodes, weights = np.exp(s), ws * np.exp(s)
        if self.lin_edge is not None:
            t0 = self.lin_edge / 2
            log_w = float(np.log(self.prior.cdf(self.lin_edge)) - self.prior.logpdf(t0))
            nodes = np.concatenate([[t0], nodes])
            weights = np.concatenate([[np.exp(log_w)], weights])
        return nodes, weights

    def cdf(self, x: np.ndarray, log_unnorm: Callable[[np.ndarray], np.ndarray], log_norm: float,
            mass: np.ndarray | None = None, with_pdf: bool = False):
        """Integral of exp(log_unnorm - log_norm) from the lower end of the grid to each x.

        ``mass``: the normalized mass of each node (from :meth:`nodes_weights`), if known.
        ``with_pdf``: also return the density exp(log_unnorm(x) - log_norm) at each x strictly
        inside the grid (nan elsewhere), from the same call of ``log_unnorm``.
        """
        x = np.asarray(x, dtype=float).ravel()
        gl_x, gl_w = _gauss_legendre(self.order)
        if mass is None:
            nodes, weights = self.nodes_weights()
            with np.errstate(over="ignore"):
                mass = weights * np.exp(log_unnorm(nodes) - log_norm)
        n_lin = 0 if self.lin_edge is None else 1
        panel_mass = np.concatenate([mass[:n_lin], mass[n_lin:].reshape(-1, self.order).sum(axis=1)])
        cum = np.concatenate([[0.0], np.cumsum(panel_mass)])
        starts = np.exp(self.log_edges[:-1])
        if n_lin:
            starts = np.concatenate([[0.0], starts])
        lo = 0.0 if n_lin else starts[0]
        inside = (x > lo) & (x < self.upper_eff)
        xs = np.where(inside, x, self.upper_eff / 2 if not n_lin else self.lin_edge / 2)
        p = np.clip(np.searchsorted(starts, xs, side="right") - 1, 0, len(starts) - 1)
        is_lin = (p == 0) & bool(n_lin)
        # log panels: Gauss-Legendre on [panel start, log x]
        a = np.log(np.maximum(starts[p], self.lin_edge or starts[0]))
        half = (np.log(xs) - a) / 2
        tau = np.exp(a[:, None] + half[:, None] * (gl_x + 1))
        if with_pdf:
            tau = np.concatenate([tau, xs[:, None]], axis=1)
        with np.errstate(over="ignore"):
            dens = np.exp(log_unnorm(tau.ravel()).reshape(tau.shape) - log_norm)
        if with_pdf:
            tau, dens, pdf_x = tau[:, :-1], dens[:, :-1], np.where(inside, dens[:, -1], np.nan)
        partial = np.where(is_lin, 0.0, (dens * tau * gl_w).sum(axis=1) * half)
        if n_lin and is_lin.any():
            # inside the first panel the likelihood is constant: the prior's cdf gives the share
            share = self.prior.cdf(np.where(is_lin, xs, self.lin_edge)) / self._lin_cdf
            partial = np.where(is_lin, mass[0] * share, partial)
        out = cum[p] + partial
        out = np.where(x <= lo, 0.0, np.where(x >= self.upper_eff, 1.0, np.minimum(out, 1.0)))
        return (out, pdf_x) if with_pdf else out


#: log(tau) beyond which squares overflow: the search range never passes it.
_LOG_TAU_CEILING = float(np.log(1e150))


def log_range(lower: float, upper: float, flat_below: float, scales: list[float],
              prior: Any = None) -> tuple[float, float]:
    """Search range on log(tau).

    From the support's lower end or 12 e-folds below ``flat_below`` (a tau whose square is small
    against every sampling variance, so that below the range the likelihood is constant to about
    1e-10 relative and the first panel can take the prior's mass as a whole), and at least 12
    e-folds below the prior's median (the first panel is one node, so its share of the prior must be
    small too: with sampling variances of 1e12, 12 e-folds below them left most of a HalfNormal(0.5)'s
    mass on that node and tau's mean and SD wrong; the error of a moment is now about e^-24),
    to the support's upper end or 12 e-folds above the largest scale of the problem.
    """
    scales = [s for s in scales if np.isfinite(s) and s > 0]
    if not scales:
        scales = [1.0]
    s_hi = min(np.log(upper) if np.isfinite(upper) else np.log(max(scales)) + 12.0, _LOG_TAU_CEILING)
    s_lo = np.log(lower) if lower > 0 else min(np.log(flat_below) - 12.0, s_hi - 5.0, _log_median(prior) - 12.0)
    if not s_hi > s_lo:
        raise ModelError(f"empty search range for a variance component: [{np.exp(s_lo)}, {np.exp(s_hi)}]")
    return float(s_lo), float(s_hi)



def _log_median(prior: Any) -> float:
    """log of the prior's median, inf when it has none (or it is 0)."""
    try:
        median = float(prior.ppf(0.5))
    except Exception:  # noqa: BLE001 - a prior without quantiles: no bound from it
        return np.inf
    return float(np.log(median)) if np.isfinite(median) and median > 0 else np.inf


def _pilot(log_density: Callable[[np.ndarray], np.ndarray], s_lo: float, s_hi: float,
           extend: bool) -> tuple[np.ndarray, np.ndarray]:
    """The log density on 201 points of [s_lo, s_hi] (log tau), the upper end moved up (``extend``,
    an unbounded support) until the density there is e^-DROP below its maximum.

    The range ends 12 e-folds above the problem's largest scale, and the likelihood usually decays long
    before. It does not where it is flat in tau (one study and a flat mu prior leave tau at its prior):
    a prior whose 1 - 1e-10 quantile is infinite (LogTTau2 with nu = 1) then kept about 2 % of its mass
    beyond the range, silently. Raises ModelError when the density has not decayed by tau = 1e150.
    """
    while True:
        s = np.linspace(s_lo, s_hi, 201)
        v = log_density(s)
        v = np.where(np.isnan(v), -np.inf, v)
        top = float(np.max(v))
        if not extend or not np.isfinite(top) or v[-1] <= top - DROP:
            return s, v
        if s_hi >= _LOG_TAU_CEILING:
            raise ModelError(
                "the posterior of a variance component has not decayed by tau = 1e150 (its density there is "
                f"e^{v[-1] - top:.3g} of its maximum): the likelihood is flat in tau (e.g. one study with a flat "
                "mu prior) and the prior's tail too heavy to integrate; use a proper mu prior or a prior on tau "
                "with a lighter tail")
        s_hi = min(s_hi + 0.5 * (s_hi - s_lo), _LOG_TAU_CEILING)


def _trim(s: np.ndarray, v: np.ndarray) -> tuple[float, float, float]:
    v = np.where(np.isnan(v), -np.inf, v)
    top = float(np.max(v))
    if not np.isfinite(top):
        raise ModelError("the posterior density of the variance component is zero or undefined on the "
                         "whole search range (check the prior's support and the data)")
    idx = np.flatnonzero(v > top - DROP)
    return float(s[max(idx[0] - 1, 0)]), float(s[min(idx[-1] + 1, len(s) - 1)]), top


def adaptive_edges(f: Callable[[np.ndarray], np.ndarray], a: float, b: float, order: int, tol: float,
                   init: int = 4, max_panels: int = 64) -> np.ndarray:
    """Panel edges on [a, b] for the integral of exp(f(s)) ds, refined by bisection.

    A panel is split while its order-``order`` Gauss-Legendre value differs from the sum over its
    two halves by more than ``tol`` times the total (the usual adaptive error estimate). ``f`` is
    evaluated once per node: a panel kept keeps its values, and the halves of a split panel
    inherit theirs (same nodes, bit for bit) so only their own halves are new.
    """
    x, w = _gauss_legendre(order)
    edges = np.linspace(a, b, init + 1)

    def values(left: np.ndarray, right: np.ndarray) -> np.ndarray:
        nodes = left[:, None] + (right - left)[:, None] * (x + 1) / 2
        vals = f(nodes.ravel()).reshape(nodes.shape)
        return np.where(np.isnan(vals), -np.inf, vals)

    lo, hi = edges[:-1], edges[1:]
    mid = (lo + hi) / 2
    both = values(np.concatenate([lo, lo, mid]), np.concatenate([hi, mid, hi]))
    n = len(lo)
    v_full, v_left, v_right = both[:n], both[n:2 * n], both[2 * n:]
    for _ in range(30):
        lo, hi = edges[:-1], edges[1:]
        mid = (lo + hi) / 2
        left = np.concatenate([lo, lo, mid])
        right = np.concatenate([hi, mid, hi])
        vals = np.concatenate([v_full, v_left, v_right])
        top = np.max(vals)
        if not np.isfinite(top):
            break
        integral = (np.exp(vals - top) @ w) * (right - left) / 2
        n = len(lo)
        full, fine = integral[:n], integral[n:2 * n] + integral[2 * n:]
        err = np.abs(full - fine)
        bad = np.flatnonzero(err > tol * fine.sum())
        room = max_panels - n
        if bad.size == 0 or room <= 0:
            break
        bad = np.sort(bad[np.argsort(err[bad])[::-1][:room]])
        # new panel list: each split panel i becomes (lo_i, mid_i), (mid_i, hi_i)
        split = np.zeros(n, dtype=bool)
        split[bad] = True
        reps = np.where(split, 2, 1)
        parent = np.repeat(np.arange(n), reps)
        second = np.zeros(len(parent), dtype=bool)
        second[np.cumsum(reps)[split] - 1] = True
        first = np.repeat(split, reps) & ~second
        new_edges = np.sort(np.concatenate([edges, mid[bad]]))
        v_full = v_full[parent]
        v_full[first] = v_left[bad]
        v_full[second] = v_right[bad]
        nlo, nhi = new_edges[:-1], new_edges[1:]
        nmid = (nlo + nhi) / 2
        fresh = first | second
        v_left, v_right = v_left[parent], v_right[parent]
        if fresh.any():
            m = int(fresh.sum())
            both = values(np.concatenate([nlo[fresh], nmid[fresh]]), np.concatenate([nmid[fresh], nhi[fresh]]))
            v_left[fresh], v_right[fresh] = both[:m], both[m:]
        edges = new_edges
    return edges


def build_grid_1d(log_post: Callable[[np.ndarray], np.ndarray], prior: Any, lower: float, upper: float,
                  flat_below: float, scales: list[float], order: int = 8, tol: float = 1e-11,
                  max_panels: int = 60) -> PanelGrid:
    """Panels for one variance component with unnormalized log posterior ``log_post(tau)``."""
    s_lo, s_hi = log_range(lower, upper, flat_below, scales, prior)
    s, v = _pilot(lambda s: log_post(np.exp(s)) + s, s_lo, s_hi, extend=not np.isfinite(upper))
    a, b, _ = _trim(s, v)
    s = np.linspace(a, b, 81)
    a, b, _ = _trim(s, log_post(np.exp(s)) + s)
    # At least one panel per two e-folds of tau: the refinement watches the integral of the density
    # alone, which can be easy where the mixtures built on the nodes are not (a likelihood flat in
    # tau left four panels over 17 e-folds and the quantiles of mu 1e-3 SD off; now 1e-6).
    edges = adaptive_edges(lambda s: log_post(np.exp(s)) + s, a, b, order, tol,
                           init=max(4, int(np.ceil((b - a) / 2.0))), max_panels=max_panels)
    return _make_grid(edges, s_lo, prior, lower, upper, order)


def _make_grid(edges: np.ndarray, s_lo: float, prior: Any, lower: float, upper: float, order: int) -> PanelGrid:
    if edges[-1] <= edges[0]:
        edges = np.array([edges[0], edges[0] + 1e-8])
    lin_edge = None
    if lower <= 0 and edges[0] <= s_lo:
        edge = float(np.exp(s_lo))
        with np.errstate(divide="ignore"):
            ok = prior.cdf(edge) > 0 and np.isfinite(prior.logpdf(edge / 2))
        lin_edge = edge if ok else None
    return PanelGrid(lin_edge=lin_edge, log_edges=np.asarray(edges, dtype=float), order=order,
                     lower=max(float(lower), 0.0), upper=float(upper), prior=prior)


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    """log(sum(exp(a))) along ``axis`` (scipy.special.logsumexp without its per-call overhead)."""
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(a - top).sum(axis=axis)) + np.squeeze(top, axis=axis)


def build_grid_2d(log_post: Callable[[np.ndarray, np.ndarray], np.ndarray], priors: tuple[Any, Any],
                  bounds: tuple[tuple[float, float], tuple[float, float]], flat_below: float, scales: list[float],
                  order: int = 8, tol: float = 1e-8, max_panels: int = 24) -> tuple[PanelGrid, PanelGrid]:
    """Tensor panels for two variance components; ``log_post(t1, t2)`` takes 1-D arrays and returns
    the (len(t1), len(t2)) matrix of the unnormalized log posterior. Each dimension's panels are
    refined on its marginal, computed with a fine trapezoid rule over the other dimension."""
    (lo1, up1), (lo2, up2) = bounds
    r1 = log_range(lo1, up1, flat_below, scales, priors[0])
    r2 = log_range(lo2, up2, flat_below, scales, priors[1])
    box = [list(r1), list(r2)]
    for n in (81, 49):
        s1 = np.linspace(*box[0], n)
        s2 = np.linspace(*box[1], n)
        v = log_post(np.exp(s1), np.exp(s2)) + s1[:, None] + s2[None, :]
        v = np.where(np.isnan(v), -np.inf, v)
        a1, b1, top = _trim(s1, v.max(axis=1))
        a2, b2, _ = _trim(s2, v.max(axis=0))
        box = [[a1, b1], [a2, b2]]
    s1 = np.linspace(*box[0], 161)
    s2 = np.linspace(*box[1], 161)

    def marginal1(s: np.ndarray) -> np.ndarray:
        return _logsumexp(log_post(np.exp(s), np.exp(s2)) + s2[None, :], axis=1) + s

    def marginal2(s: np.ndarray) -> np.ndarray:
        return _logsumexp(log_post(np.exp(s1), np.exp(s)) + s1[:, None], axis=0) + s

    e1 = adaptive_edges(marginal1, box[0][0], box[0][1], order, tol, max_panels=max_panels)
    e2 = adaptive_edges(marginal2, box[1][0], box[1][1], order, tol, max_panels=max_panels)
    return (_make_grid(e1, r1[0], priors[0], lo1, up1, order),
            _make_grid(e2, r2[0], priors[1], lo2, up2, order))
