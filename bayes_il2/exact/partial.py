"""Exact posterior of the NNHM with partially reported results of KNOWN standard error.

Rows (see :mod:`bayes_il2.modeling.partial` for the table): with theta_i integrated out,

- ``complete``:    y_i ~ N(mu, v_i + tau^2)
- ``approximate``: y_i ~ N(mu, v_i + s_round^2 + tau^2)
- ``aggregate``:   y_i ~ N(mu, v_i + tau^2 / k_i) (same scale as the model)
- ``bound``:       P(y_low < y_i < y_high), y_i ~ N(mu, v_i + tau^2)
- ``pvalue``:      P(z_low < z_i < z_high), z_i ~ N(mu/se_i, 1 + tau^2/se_i^2) (union of both
  tails for direction 0)

so the likelihood is a function of (mu, tau) only. Given tau, mu's posterior is no longer Gaussian;
it is tabulated on a uniform grid of its own for each tau (see :func:`_grid_ranges`) and integrated
by the trapezoid rule, which converges geometrically for smooth, rapidly decaying integrands
(Trefethen & Weideman 2014, SIAM Review 56:385-458). The marginal of tau is integrated by the
adaptive Gauss-Legendre panels of the NNHM engine (:mod:`bayes_il2.exact._quadrature`), mu's
marginal is the tau-weighted mixture of the tabulated conditionals (:class:`GridMixture`), and
theta_new's is each conditional convolved with N(0, tau^2), done exactly in Fourier space (the
Gaussian's transform is exp(-omega^2 tau^2/2)).

Rows whose standard error is unknown (latent se: ``no_spread``, or ``pvalue``/``bound`` rows
without vi) and aggregates on another scale (latent CV) add one or more latent dimensions per row;
they are fitted by MCMC only (:func:`bayes_il2.modeling.build_nnhm`), not here. Each row is its
own study here (no nesting of arms within trials).

Reference: Röver C (2020), J Stat Softw 93(6) (the approach for complete data).
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from bayes_il2.errors import ModelError
from bayes_il2.exact._common import LOG_2PI, check_labels, location_prior, prior_scales, variance_prior_bounds
from bayes_il2.exact._quadrature import build_grid_1d
from bayes_il2.exact.censored import censored_normal_logpdf, pvalue_logpdf
from bayes_il2.exact.marginals import GridMarginal, Marginal, invert_cdf
from bayes_il2.exact.nnhm import summary_rows

KINDS = ("complete", "approximate", "aggregate", "bound", "pvalue")
_DROP = 46.0


class GridMixture(Marginal):
    """sum_j w_j f_j: densities each tabulated on its own uniform grid, e.g. p(mu | tau_j, rows) at the
    quadrature nodes tau_j.

    Row j of ``density`` holds f_j at ``start[j] + step[j] * i`` for i < ``count[j]`` (zero after
    and before). The cdf at the grid points sums cell integrals of the cubic through four
    neighbouring values (error O(h^4)), and between them is the cubic Hermite interpolant of those
    values with slopes f (O(h^4) as well), so quantiles are accurate to about 1e-6 of an SD at a
    spacing of a sixteenth of one (a piecewise-linear density left them 1e-4 SD off). Each row is
    normalised to 1, the weights to sum 1.
    """

    def __init__(self, start: np.ndarray, step: np.ndarray, count: np.ndarray, density: np.ndarray,
                 weights: np.ndarray):
        f = np.clip(np.atleast_2d(np.asarray(density, dtype=float)), 0.0, None)
        self.start, self.step = np.asarray(start, dtype=float), np.asarray(step, dtype=float)
        self.count = np.asarray(count, dtype=int)
        columns = np.arange(f.shape[1])
        f = np.where(columns[None, :] < self.count[:, None], f, 0.0)
        padded = np.pad(f, ((0, 0), (1, 2)))
        cells = (13.0 * (padded[:, 1:-2] + padded[:, 2:-1]) - padded[:, :-3] - padded[:, 3:]) / 24.0
        cells = cells[:, :-1] * self.step[:, None]  # cell i spans points i and i + 1
        total = cells.sum(1)
        w = np.asarray(weights, dtype=float)
        if not (np.all(total > 0) and w.sum() > 0):
            raise ModelError("the tabulated posterior has no mass")
        self.f = f / total[:, None]
        self.weights = w / w.sum()
        self._c = np.concatenate([np.zeros((f.shape[0], 1)), np.cumsum(cells / total[:, None], axis=1)], axis=1)
        self._x = self.start[:, None] + self.step[:, None] * columns[None, :]
        self.support = (float(self.start.min()), float((self.start + self.step * (self.count - 1)).max()))

    def __repr__(self) -> str:
        return f"GridMixture({self.f.shape[0]} grids, mean={self.mean:.6g}, sd={self.sd:.6g})"

    def _cdf_pdf(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=float)
        flat = x.ravel()
        pos = (flat[None, :] - self.start[:, None]) / self.step[:, None]
        last = (self.count - 1)[:, None]
        i = np.clip(np.floor(pos), 0, last - 1).astype(int)
        t = np.clip(pos - i, 0.0, 1.0)
        rows = np.arange(self.f.shape[0])[:, None]
        h = self.step[:, None]
        c0, c1, s0, s1 = self._c[rows, i], self._c[rows, i + 1], h * self.f[rows, i], h * self.f[rows, i + 1]
        t2 = t * t
        hermite = c0 + t * s0 + t2 * (3 * (c1 - c0) - 2 * s0 - s1) + t2 * t * (2 * (c0 - c1) + s0 + s1)
        slope = (s0 + 2 * t * (3 * (c1 - c0) - 2 * s0 - s1) + 3 * t2 * (2 * (c0 - c1) + s0 + s1)) / h
        below, above = pos <= 0, pos >= last
        c = np.where(below, 0.0, np.where(above, 1.0, hermite))
        d = np.where(below | above, 0.0, np.maximum(slope, 0.0))
        return np.clip(self.weights @ c, 0.0, 1.0).reshape(x.shape), (self.weights @ d).reshape(x.shape)

    def pdf(self, x):
        out = self._cdf_pdf(x)[1]
        return out if out.ndim else float(out)

    def cdf(self, x):
        out = self._cdf_pdf(x)[0]
        return out if out.ndim else float(out)

    def ppf(self, q):
        q = np.asarray(q, dtype=float)
        x0 = self.mean + self.sd * special.ndtri(np.clip(q, 1e-300, 1 - 1e-16))
        out = invert_cdf(self.cdf, self.pdf, q, *self.support, x0, cdf_pdf=self._cdf_pdf, scale=self.sd)
        out = np.where(q <= 0, self.support[0], np.where(q >= 1, self.support[1], out))
        return out if out.ndim else float(out)

    def _moment(self, power: int, centre: float = 0.0) -> float:
        return self.expect(lambda x: (x - centre) ** power)

    def expect(self, fn) -> float:
        """E[fn(X)] by the trapezoid rule on each grid."""
        trapezoid = np.full(self.f.shape, 1.0)
        trapezoid[:, 0] = 0.5
        trapezoid[np.arange(self.f.shape[0]), self.count - 1] = 0.5
        with np.errstate(over="ignore", invalid="ignore"):
            values = np.where(trapezoid * self.f > 0, fn(self._x), 0.0)
        per_row = (trapezoid * self.f * values).sum(1) * self.step
        return float(self.weights @ per_row)

    @cached_property
    def mean(self) -> float:
        return self._moment(1)

    @cached_property
    def var(self) -> float:
        return self._moment(2, self.mean)

    def sample(self, rng, size=None):
        return self.ppf(np.random.default_rng(rng).uniform(size=size))


class PooledPosterior:
    """What the tabulated posteriors of pooled models share: study labels, ``mu``, ``tau``, ``k``."""

    labels: list[str]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(k={len(self.labels)}, mu={self.mu.mean:.4g} (sd {self.mu.sd:.4g}), "
                f"tau median={self.tau.median:.4g})")

    @property
    def k(self) -> int:
        return len(self.labels)


class ExactPartialNNHM(PooledPosterior):
    """Posterior of the NNHM with partially reported rows (from :func:`nnhm_partial`).

    Attributes
    ----------
    mu, theta_new : GridMixture
    tau : GridMarginal
    kinds, labels : list of str
    """

    def __init__(self, labels, kinds, tau_prior, mu_prior, tau, mu, theta_new, log_evidence):
        self.labels, self.kinds = labels, kinds
        self.tau_prior, self.mu_prior = tau_prior, mu_prior
        self.tau, self.mu, self.theta_new = tau, mu, theta_new
        self._log_evidence = log_evidence

    @property
    def log_marginal_likelihood(self) -> float:
        if self.mu_prior is None or not getattr(self.mu_prior, "proper", True):
            raise ModelError("the marginal likelihood needs a proper mu prior (e.g. mu_prior=Normal(0, 2))")
        return self._log_evidence

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        return summary_rows([("mu", "", self.mu), ("tau", "", self.tau), ("theta_new", "", self.theta_new)], level)


def _column(table: pd.DataFrame, name: str, default: float = np.nan) -> np.ndarray:
    if name not in table.columns:
        return np.full(len(table), default)
    return pd.to_numeric(table[name], errors="coerce").to_numpy(float).copy()


def nnhm_partial(table: pd.DataFrame, tau_prior: Any, mu_prior: Any = None, *, measure: str | None = None,
                 approx_rel: float = 0.10, labels: Sequence[Any] | None = None, tol: float = 1e-10,
                 order: int = 8, max_points: int = 20001) -> ExactPartialNNHM:
    """Exact posterior of mu, tau and theta_new for a partial-information table with known se.

    Parameters
    ----------
    table : DataFrame
        ``info`` (complete, approximate, aggregate, bound, pvalue), ``yi``, ``vi`` (> 0 for every
        row), and as needed ``y_low``/``y_high``, ``z_low``/``z_high``, ``direction``,
        ``k_members`` (the contract in docs/architecture.md). Rows without ``info`` are complete.
    tau_prior : prior
        Proper heterogeneity prior (:mod:`bayes_il2.priors`).
    mu_prior : Normal or Flat, optional
        Default flat.
    measure : str, optional
        Model scale (for the rounding SD of ``approximate`` rows: log(1 + approx_rel)/1.96 on a
        ratio scale (ROMC, ROM), approx_rel |y|/1.96 otherwise); default the table's ``measure``.
    approx_rel : float
    labels : sequence, optional
        Default the table's ``study_id``.
    tol, order : adaptive quadrature of tau (as :func:`bayes_il2.exact.nnhm`).
    max_points : int
        Most grid points for mu (the spacing grows if the range needs more).

    Returns
    -------
    ExactPartialNNHM

    Raises
    ------
    ModelError
        A latent se (vi missing) or another kind (no_spread), an aggregate on another scale, empty
        intervals: these need the MCMC model.
    """
    who = "nnhm_partial"
    if not isinstance(table, pd.DataFrame) or len(table) == 0:
        raise ModelError(f"{who}: expected a non-empty DataFrame")
    table = table.reset_index(drop=True)
    kind = table["info"].astype(str).to_numpy() if "info" in table.columns else np.full(len(table), "complete")
    names = check_labels(labels if labels is not None else
                         (table["study_id"].astype(str).tolist() if "study_id" in table.columns else None),
                         len(table), who)
    if measure is None:
        measure = str(table["measure"].iloc[0]) if "measure" in table.columns else "unspecified"
    yi, vi = _column(table, "yi"), _column(table, "vi")
    y_low, y_high = _column(table, "y_low"), _column(table, "y_high")
    z_low, z_high = _column(table, "z_low"), _column(table, "z_high")
    direction = _column(table, "direction", 1.0)
    direction = np.where(np.isnan(direction), 1.0, direction)
    k_members = _column(table, "k_members")
    for i, k in enumerate(kind):
        if k not in KINDS:
            raise ModelError(f"{who}: row {i} ({names[i]}): info {k!r} has a latent standard error or is "
                             f"unknown; the exact engine takes {', '.join(KINDS)} with known vi (use the MCMC model)")
        if not (np.isfinite(vi[i]) and vi[i] > 0):
            raise ModelError(f"{who}: row {i} ({names[i]}), column 'vi': {vi[i]!r}; the exact engine needs a "
                             "known sampling variance (a latent se is fitted by MCMC only)")
        if k in ("complete", "approximate", "aggregate") and not np.isfinite(yi[i]):
            raise ModelError(f"{who}: row {i} ({names[i]}), column 'yi': expected a finite estimate")
        if k == "bound" and not (y_low[i] < y_high[i]):
            raise ModelError(f"{who}: row {i} ({names[i]}): empty or missing interval [y_low, y_high]")
        if k == "pvalue" and not (z_low[i] < z_high[i]):
            raise ModelError(f"{who}: row {i} ({names[i]}): empty or missing interval [z_low, z_high]")
        if k == "aggregate" and not (np.isfinite(k_members[i]) and k_members[i] >= 1):
            raise ModelError(f"{who}: row {i} ({names[i]}), column 'k_members': expected >= 1")
        if k == "aggregate" and "measure" in table.columns and str(table["measure"].iloc[i]) != measure:
            raise ModelError(f"{who}: row {i} ({names[i]}): an aggregate on scale {table['measure'].iloc[i]!r} "
                             f"needs a latent CV to enter a {measure!r} model (MCMC only)")
    m0, p0 = location_prior(mu_prior, who)
    lo_t, hi_t = variance_prior_bounds(tau_prior, who, "tau")
    ratio = measure in ("ROMC", "ROM")
    rounding = np.log1p(approx_rel) if ratio else approx_rel * np.abs(np.nan_to_num(yi))
    s_round2 = np.where(kind == "approximate", (rounding / 1.96) ** 2, 0.0)
    gauss = np.isin(kind, ("complete", "approximate", "aggregate"))
    g_y, g_v, g_k = yi[gauss], (vi + s_round2)[gauss], np.where(kind == "aggregate", k_members, 1.0)[gauss]
    bnd = np.flatnonzero(kind == "bound")
    pv = np.flatnonzero(kind == "pvalue")

    def loglik(mu: np.ndarray, tau: np.ndarray) -> np.ndarray:
        """log p(rows | mu, tau) for row r of ``mu`` (shape (len(tau), M): a grid per tau) at tau[r]."""
        t2 = tau[:, None] ** 2
        out = np.zeros(mu.shape)
        if g_y.size:
            V = g_v[None, :] + t2 / g_k[None, :]  # (T, g)
            A, B = (1 / V).sum(1), (g_y / V).sum(1)
            C = (g_y ** 2 / V + np.log(V)).sum(1) + g_y.size * LOG_2PI
            out += -0.5 * (A[:, None] * mu ** 2 - 2 * B[:, None] * mu + C[:, None])
        for i in bnd:
            out += censored_normal_logpdf(y_low[i], y_high[i], mu, np.sqrt(vi[i] + t2))
        for i in pv:
            se = np.sqrt(vi[i])
            out += pvalue_logpdf(z_low[i], z_high[i], mu / se, np.sqrt(1 + t2 / vi[i]), direction[i])
        if p0 > 0:
            out += -0.5 * (LOG_2PI - np.log(p0)) - 0.5 * p0 * (mu - m0) ** 2
        return np.where(np.isnan(out), -np.inf, out)

    # the rows' centres: every row's likelihood in mu lies around one of them
    points = list(g_y) + [x for x in np.concatenate([y_low[bnd], y_high[bnd]]) if np.isfinite(x)]
    for i in pv:
        zs = [z for z in (z_low[i], z_high[i]) if np.isfinite(z)]
        points += [z * np.sqrt(vi[i]) for z in zs] + ([-z * np.sqrt(vi[i]) for z in zs] if direction[i] == 0 else [])
    if p0 > 0:
        points.append(m0)
    points = np.array(points if points else [0.0])
    # each row's variance in mu (tau^2 enters an aggregate divided by its k_members)
    row_v = np.concatenate([g_v, vi[bnd], vi[pv]])
    row_k = np.concatenate([g_k, np.ones(bnd.size + pv.size)])

    def grids(tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """mu's grid for each tau (rows of the returned array) and its spacing; see _grid_ranges."""
        lo, hi, count = _grid_ranges(loglik, tau, points, row_v, row_k, p0, max_points)
        n = int(count.max())
        return lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, n)[None, :], (hi - lo) / (n - 1)

    def log_post_tau(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        out = np.empty(t.size)
        for s in range(0, t.size, 64):
            block = t[s:s + 64]
            mu, h = grids(block)
            out[s:s + 64] = special.logsumexp(loglik(mu, block), axis=1) + np.log(h)
        return tau_prior.logpdf(t) + out

    tau_scales = [s for s in prior_scales(tau_prior) if np.isfinite(s)]
    scales = [float(np.sqrt(vi.min())), float(np.sqrt(vi.max())), *tau_scales, float(np.ptp(points))]
    grid = build_grid_1d(log_post_tau, tau_prior, lo_t, hi_t, float(np.sqrt(vi.min() / len(vi))), scales,
                         order=order, tol=tol)
    nodes, qw = grid.nodes_weights()
    # final pass: p(mu | tau_j) on each node's own grid, and the tau weights
    mu_nodes, h = grids(nodes)
    lo, n = mu_nodes[:, 0], mu_nodes.shape[1]
    cond = np.empty(mu_nodes.shape)
    for s in range(0, nodes.size, 64):
        cond[s:s + 64] = loglik(mu_nodes[s:s + 64], nodes[s:s + 64])
    log_norm_j = special.logsumexp(cond, axis=1) + np.log(h)
    lp_nodes = tau_prior.logpdf(nodes) + log_norm_j
    with np.errstate(divide="ignore"):
        terms = lp_nodes + np.log(qw)
    log_z = float(special.logsumexp(terms))
    weights = np.exp(terms - log_z)
    cond = np.exp(cond - log_norm_j[:, None])  # each row a density in mu (trapezoid-normalized)
    tau = GridMarginal(log_post_tau, grid, log_z, nodes, weights)
    use = weights > 1e-15 * weights.max()
    counts = np.full(int(use.sum()), n)
    mu = GridMixture(lo[use], h[use], counts, cond[use], weights[use])
    theta_new = _convolve_each(lo[use], h[use], cond[use], weights[use], nodes[use])
    return ExactPartialNNHM(names, list(kind), tau_prior, mu_prior, tau, mu, theta_new, log_z)


_PILOT = 401
_MIN_POINTS = 257


def _grid_ranges(loglik, tau: np.ndarray, points: np.ndarray, row_v: np.ndarray, row_k: np.ndarray, p0: float,
                 max_points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each tau: the range of mu where p(mu | tau, rows) is within e^-46 of its maximum, and the
    number of points that spaces it at most a sixteenth of 1/sqrt(sum_i 1/(v_i + tau^2/k_i) + p0).

    That SD bounds the conditional posterior's from below (each row's likelihood in mu is at most as
    sharp as a normal of variance v_i + tau^2/k_i), so the trapezoid rule on the grid converges
    geometrically (Trefethen & Weideman 2014). The range comes from a pilot grid of 401 points
    spanning the rows' centres and 12 SDs of the widest row, then a second one over the first's
    range (a conditional narrower than the first's spacing). One grid per tau: a heavy-tailed tau
    prior (HalfCauchy) gives conditionals from 1e-2 to 1e4 wide, which one common grid could not
    both span and resolve (it gave mu an SD of 0 before).
    """
    tau = np.asarray(tau, dtype=float)
    width = 12.0 * np.sqrt(row_v.max() + tau ** 2)
    a, b = points.min() - width, points.max() + width
    for _ in range(2):  # the second pilot spans the first's range: a narrow conditional in a wide span
        step = (b - a) / (_PILOT - 1)
        pilot = a[:, None] + step[:, None] * np.arange(_PILOT)[None, :]
        lp = loglik(pilot, tau)
        keep = lp >= lp.max(axis=1, keepdims=True) - _DROP
        first = np.argmax(keep, axis=1)
        last = _PILOT - 1 - np.argmax(keep[:, ::-1], axis=1)
        a, b = a + (first - 2) * step, a + (last + 2) * step
    sd_floor = 1.0 / np.sqrt((1.0 / (row_v[None, :] + tau[:, None] ** 2 / row_k[None, :])).sum(1) + p0)
    with np.errstate(invalid="ignore"):
        count = np.ceil(16.0 * (b - a) / sd_floor)
    count = np.clip(np.where(np.isfinite(count), count, 0), _MIN_POINTS, max_points).astype(int)
    return a, b, count


_LONG_ROW = 4096


def _convolve_each(start: np.ndarray, step: np.ndarray, dens: np.ndarray, weights: np.ndarray,
                   taus: np.ndarray, finest: np.ndarray | None = None) -> GridMixture:
    """sum_j w_j (dens_j * N(0, tau_j^2)), each on its own grid extended by 10 tau_j, by FFT (the
    Gaussian's transform exp(-omega^2 tau^2 / 2) is exact).

    A row that would be longer than 4096 points is kept at every d-th point, d = the number of steps
    in a sixteenth of ``finest`` (default tau_j: the convolution varies on no finer scale), so a
    heavy-tailed tau prior (nodes hundreds of steps wide) does not store tens of thousands of points
    per row."""
    finest = taus if finest is None else np.asarray(finest, dtype=float)
    n = dens.shape[1]
    pads = np.ceil(10.0 * taus / step).astype(int) + 8
    sizes = n + 2 * pads
    keep = np.where(sizes > _LONG_ROW, np.maximum(1, np.floor(finest / (16.0 * step))), 1).astype(int)
    counts = (sizes - 1) // keep + 1
    out = np.zeros((dens.shape[0], int(counts.max())))
    for j in range(dens.shape[0]):
        size = int(sizes[j])
        length = 1 << int(np.ceil(np.log2(size)))
        row = np.zeros(length)
        row[pads[j]:pads[j] + n] = dens[j]
        omega = 2 * np.pi * np.fft.rfftfreq(length, d=step[j])
        full = np.fft.irfft(np.fft.rfft(row) * np.exp(-0.5 * (omega * taus[j]) ** 2), n=length)[:size]
        out[j, :counts[j]] = full[::keep[j]]
    return GridMixture(start - pads * step, step * keep, counts, out, weights)
