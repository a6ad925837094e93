"""Exact posterior of the NNHM with partially reported results of KNOWN standard error.

Rows (see :mod:`bayes_il2.modeling.partial` for the table): with theta_i integrated out,

- ``complete``:    y_i ~ N(mu, v_i + tau^2)
- ``approximate``: y_i ~ N(mu, v_i + s_round^2 + tau^2)
- ``aggregate``:   y_i ~ N(mu, v_i + tau^2 / k_i) (same scale as the model)
- ``bound``:       P(y_low < y_i < y_high), y_i ~ N(mu, v_i + tau^2)
- ``pvalue``:      P(z_low < z_i < z_high), z_i ~ N(mu/se_i, 1 + tau^2/se_i^2) (union of both
  tails for direction 0)

so the likelihood is a function of (mu, tau) only. Given tau, mu's posterior is no longer Gaussian;
it is tabulated on a uniform grid and integrated by the trapezoid rule, which converges
geometrically for smooth, rapidly decaying integrands (Trefethen & Weideman 2014, SIAM Review
56:385-458); the grid spacing is a sixteenth of the smallest conditional posterior SD of mu
(1/sqrt(sum 1/v_i): every row's likelihood in mu is at most as sharp as a normal of variance v_i).
The marginal of tau is integrated by the adaptive Gauss-Legendre panels of the NNHM engine
(:mod:`bayes_il2.exact._quadrature`), mu's marginal is the tau-weighted mixture of the tabulated
conditionals, and theta_new's is that mixture convolved with N(0, tau^2), done exactly in Fourier
space (the Gaussian's transform is exp(-omega^2 tau^2/2)).

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
from bayes_il2.exact.marginals import GridMarginal, Marginal
from bayes_il2.exact.nnhm import summary_rows

KINDS = ("complete", "approximate", "aggregate", "bound", "pvalue")
_DROP = 46.0


class DensityGrid(Marginal):
    """A density tabulated on a uniform grid (piecewise-linear density, piecewise-quadratic cdf)."""

    def __init__(self, x: np.ndarray, density: np.ndarray):
        x = np.asarray(x, dtype=float)
        f = np.clip(np.asarray(density, dtype=float), 0.0, None)
        h = x[1] - x[0]
        mass = (f[:-1] + f[1:]) * h / 2
        total = mass.sum()
        if not total > 0:
            raise ModelError("the tabulated posterior has no mass")
        self.x, self.f, self.h = x, f / total, h
        self._c = np.concatenate([[0.0], np.cumsum(mass / total)])

    def __repr__(self) -> str:
        return f"DensityGrid(mean={self.mean:.6g}, sd={self.sd:.6g}, {self.x.size} points)"

    def pdf(self, x):
        return np.interp(x, self.x, self.f, left=0.0, right=0.0)

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        i = np.clip(np.searchsorted(self.x, x, side="right") - 1, 0, self.x.size - 2)
        t = np.clip(x - self.x[i], 0.0, self.h)
        slope = (self.f[i + 1] - self.f[i]) / self.h
        out = self._c[i] + self.f[i] * t + slope * t * t / 2
        out = np.where(x <= self.x[0], 0.0, np.where(x >= self.x[-1], 1.0, out))
        return np.clip(out, 0.0, 1.0) if out.ndim else float(np.clip(out, 0.0, 1.0))

    def ppf(self, q):
        q = np.asarray(q, dtype=float)
        i = np.clip(np.searchsorted(self._c, q, side="right") - 1, 0, self.x.size - 2)
        rest = q - self._c[i]
        a = (self.f[i + 1] - self.f[i]) / (2 * self.h)
        b = self.f[i]
        with np.errstate(divide="ignore", invalid="ignore"):
            quad = (-b + np.sqrt(np.maximum(b * b + 4 * a * rest, 0.0))) / (2 * a)
            lin = rest / b
        t = np.where(np.abs(a) * self.h > 1e-12 * np.maximum(b, 1e-300), quad, lin)
        t = np.where(np.isfinite(t), np.clip(t, 0.0, self.h), 0.0)
        out = self.x[i] + t
        return out if out.ndim else float(out)

    @cached_property
    def mean(self) -> float:
        w = np.full(self.x.size, self.h)
        w[[0, -1]] /= 2
        return float((w * self.f) @ self.x)

    @cached_property
    def var(self) -> float:
        w = np.full(self.x.size, self.h)
        w[[0, -1]] /= 2
        return float((w * self.f) @ (self.x - self.mean) ** 2)

    def sample(self, rng, size=None):
        return self.ppf(np.random.default_rng(rng).uniform(size=size))


class ExactPartialNNHM:
    """Posterior of the NNHM with partially reported rows (from :func:`nnhm_partial`).

    Attributes
    ----------
    mu, theta_new : DensityGrid
    tau : GridMarginal
    kinds, labels : list of str
    """

    def __init__(self, labels, kinds, tau_prior, mu_prior, tau, mu, theta_new, log_evidence):
        self.labels, self.kinds = labels, kinds
        self.tau_prior, self.mu_prior = tau_prior, mu_prior
        self.tau, self.mu, self.theta_new = tau, mu, theta_new
        self._log_evidence = log_evidence

    def __repr__(self) -> str:
        return (f"ExactPartialNNHM(k={len(self.labels)}, mu={self.mu.mean:.4g} (sd {self.mu.sd:.4g}), "
                f"tau median={self.tau.median:.4g})")

    @property
    def k(self) -> int:
        return len(self.labels)

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
        """log p(rows | mu, tau): array (len(tau), len(mu))."""
        t2 = tau[:, None] ** 2
        out = np.zeros((tau.size, mu.size))
        if g_y.size:
            V = g_v[None, :] + t2 / g_k[None, :]  # (T, g)
            A, B = (1 / V).sum(1), (g_y / V).sum(1)
            C = (g_y ** 2 / V + np.log(V)).sum(1) + g_y.size * LOG_2PI
            out += -0.5 * (A[:, None] * mu[None, :] ** 2 - 2 * B[:, None] * mu[None, :] + C[:, None])
        for i in bnd:
            out += censored_normal_logpdf(y_low[i], y_high[i], mu[None, :], np.sqrt(vi[i] + t2))
        for i in pv:
            se = np.sqrt(vi[i])
            out += pvalue_logpdf(z_low[i], z_high[i], mu[None, :] / se, np.sqrt(1 + t2 / vi[i]), direction[i])
        if p0 > 0:
            out += -0.5 * (LOG_2PI - np.log(p0)) - 0.5 * p0 * (mu[None, :] - m0) ** 2
        return out

    # mu's range: where the joint density is within e^-46 of its maximum at a few tau values
    points = list(g_y) + [x for x in np.concatenate([y_low[bnd], y_high[bnd]]) if np.isfinite(x)]
    for i in pv:
        zs = [z for z in (z_low[i], z_high[i]) if np.isfinite(z)]
        points += [z * np.sqrt(vi[i]) for z in zs] + ([-z * np.sqrt(vi[i]) for z in zs] if direction[i] == 0 else [])
    if p0 > 0:
        points.append(m0)
    points = np.array(points if points else [0.0])
    tau_scales = [s for s in prior_scales(tau_prior) if np.isfinite(s)]
    tau_hi = max(tau_scales + [float(np.sqrt(vi.max()))])
    width = 12 * np.sqrt(vi.max() + tau_hi ** 2)
    pilot_mu = np.linspace(points.min() - width, points.max() + width, 4001)
    pilot_tau = np.array([0.0] + [s for s in tau_scales if s > 0])
    lp = loglik(pilot_mu, pilot_tau)
    keep = (lp >= lp.max(axis=1, keepdims=True) - _DROP).any(axis=0)
    idx = np.flatnonzero(keep)
    step = pilot_mu[1] - pilot_mu[0]
    lo_mu, hi_mu = pilot_mu[max(idx[0] - 2, 0)] - 5 * step, pilot_mu[min(idx[-1] + 2, pilot_mu.size - 1)] + 5 * step
    sd_min = 1.0 / np.sqrt((1.0 / vi).sum() + p0)
    h = max(sd_min / 16, (hi_mu - lo_mu) / (max_points - 1))
    mu_grid = np.arange(lo_mu, hi_mu + h, h)
    coarse = mu_grid[::8]
    h_coarse = 8 * h

    def log_post_tau(t: np.ndarray, mu: np.ndarray = coarse, hm: float = h_coarse) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        out = np.empty(t.size)
        for s in range(0, t.size, 64):
            ll = loglik(mu, t[s:s + 64])
            out[s:s + 64] = special.logsumexp(ll, axis=1) + np.log(hm)
        return tau_prior.logpdf(t) + out

    scales = [float(np.sqrt(vi.min())), float(np.sqrt(vi.max())), *tau_scales, float(np.ptp(points))]
    grid = build_grid_1d(log_post_tau, tau_prior, lo_t, hi_t, float(np.sqrt(vi.min() / len(vi))), scales,
                         order=order, tol=tol)
    nodes, qw = grid.nodes_weights()
    # final pass on the fine mu grid: p(mu | tau_j) and the tau weights
    cond = np.empty((nodes.size, mu_grid.size))
    for s in range(0, nodes.size, 64):
        cond[s:s + 64] = loglik(mu_grid, nodes[s:s + 64])
    log_norm_j = special.logsumexp(cond, axis=1) + np.log(h)
    lp_nodes = tau_prior.logpdf(nodes) + log_norm_j
    with np.errstate(divide="ignore"):
        terms = lp_nodes + np.log(qw)
    log_z = float(special.logsumexp(terms))
    weights = np.exp(terms - log_z)
    cond = np.exp(cond - log_norm_j[:, None])  # each row a density in mu (trapezoid-normalized)
    tau = GridMarginal(log_post_tau, grid, log_z, nodes, weights)
    use = weights > 1e-15 * weights.max()
    mu_density = weights[use] @ cond[use]
    mu = DensityGrid(mu_grid, mu_density)
    theta_new = _convolve_mixture(mu_grid, cond[use], weights[use], nodes[use], h)
    return ExactPartialNNHM(names, list(kind), tau_prior, mu_prior, tau, mu, theta_new, log_z)


def _convolve_mixture(x: np.ndarray, dens: np.ndarray, weights: np.ndarray, taus: np.ndarray,
                      h: float) -> DensityGrid:
    """sum_j w_j (dens_j * N(0, tau_j^2)) on an extended uniform grid, by FFT (exact Gaussian transform)."""
    t_hi = float(taus.max())
    cum = np.cumsum(weights[np.argsort(taus)]) / weights.sum()
    t_eff = float(np.sort(taus)[min(np.searchsorted(cum, 1 - 1e-10), taus.size - 1)])
    pad = int(np.ceil(10 * min(t_hi, max(t_eff, h)) / h)) + 8
    size = x.size + 2 * pad
    length = 1 << int(np.ceil(np.log2(size)))
    omega = 2 * np.pi * np.fft.rfftfreq(length, d=h)
    total = np.zeros(omega.size, dtype=complex)
    for s in range(0, taus.size, 64):
        block = np.zeros((min(64, taus.size - s), length))
        block[:, pad:pad + x.size] = dens[s:s + 64]
        spec = np.fft.rfft(block, axis=1)
        total += (weights[s:s + 64, None] * spec * np.exp(-0.5 * (omega[None, :] * taus[s:s + 64, None]) ** 2)).sum(0)
    out = np.fft.irfft(total, n=length)[:size]
    grid = x[0] - pad * h + h * np.arange(size)
    return DensityGrid(grid, out)
