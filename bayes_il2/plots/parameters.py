"""Figures of the model parameters: parameter forest, tau posterior vs prior, mu prior vs posterior.

Densities of draws are Gaussian kernel estimates (Scott's bandwidth); for parameters bounded below by
zero (heterogeneity SDs) the draws are reflected at zero so the estimate does not leak below the
bound (Silverman BW. Density Estimation for Statistics and Data Analysis. 1986, section 2.10).
"""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from scipy.stats import gaussian_kde

from bayes_il2.errors import ModelError
from bayes_il2.plots._common import (axis_label, draws_of, fmt_num, interval, is_ratio, posterior_vars,
                                     to_natural)

POSTERIOR_COLOR = "#1f6fb4"
PRIOR_COLOR = "#c0392b"
TAU_NAMES = ("tau", "tau_within", "tau_between", "alpha_sd")
MAIN_PARAMETERS = ("mu", "tau", "tau_within", "tau_between", "mu_disease", "beta", "theta",
                   "theta_new_disease", "theta_new", "p_pooled", "p_new", "p_disease")


def _density(x: np.ndarray, grid: np.ndarray, lower: float | None = None) -> np.ndarray:
    x = x[np.isfinite(x)]
    if x.size < 2 or np.ptp(x) == 0:
        return np.zeros_like(grid)
    if lower is None:
        return gaussian_kde(x)(grid)
    kde = gaussian_kde(np.concatenate([x, 2 * lower - x]))
    dens = 2 * kde(grid)
    return np.where(grid >= lower, dens, 0.0)


def _prior_density(fit: Any, name: str, grid: np.ndarray) -> np.ndarray | None:
    """Prior density of ``name`` on ``grid`` (None when the fit holds no usable prior object)."""
    prior = (getattr(fit, "priors", None) or {}).get(name)
    logpdf = getattr(prior, "logpdf", None)
    if logpdf is None:
        return None
    with np.errstate(all="ignore"):
        dens = np.exp(np.asarray(logpdf(grid), dtype=float))
    return np.where(np.isfinite(dens), dens, 0.0)


def parameter_forest(fit: Any, var_names: list[str] | None = None, ci_prob: float = 0.95) -> Figure:
    """Forest plot of the model parameters: posterior median, 50% and ``ci_prob`` equal-tailed intervals.

    One row per scalar or per coordinate (``mu_disease[SLE]``, ``theta[He2022_pSS]``), labelled on
    the y axis, so labels of any length never overlap (their width is set by the tight bounding box).
    Chains are combined; everything is on the model scale.

    Parameters
    ----------
    fit : Fit
    var_names : list of str, optional
        Variables to show (default: those of :data:`MAIN_PARAMETERS` the posterior has).
    ci_prob : float
        Probability of the outer credible interval.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = posterior_vars(fit)
    if not names:
        raise ModelError("parameter_forest: the fit has no posterior group")
    chosen = var_names or [v for v in MAIN_PARAMETERS if v in names]
    if not chosen:
        raise ModelError(f"parameter_forest: none of {', '.join(MAIN_PARAMETERS)} is in the posterior")
    posterior = fit.idata["posterior"]
    rows: list[tuple[str, np.ndarray]] = []
    for var in chosen:
        da = posterior[var]
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        if not extra:
            rows.append((var, np.asarray(da).reshape(-1)))
            continue
        stacked = da.stack(_row=extra).transpose("_row", ...)
        for i, key in enumerate(stacked["_row"].values):
            label = ", ".join(map(str, key)) if isinstance(key, tuple) else str(key)
            rows.append((f"{var}[{label}]", np.asarray(stacked.isel(_row=i)).reshape(-1)))
    n = len(rows)
    fig, ax = plt.subplots(figsize=(7.0, max(2.2, 0.9 + 0.24 * n)))
    y = np.arange(n)[::-1]
    for yi, (label, draws) in zip(y, rows):
        low, mid_low, med, mid_high, high = np.quantile(draws, [(1 - ci_prob) / 2, 0.25, 0.5, 0.75,
                                                                (1 + ci_prob) / 2])
        ax.plot([low, high], [yi, yi], color=POSTERIOR_COLOR, lw=1.0, gid=f"interval:{label}")
        ax.plot([mid_low, mid_high], [yi, yi], color=POSTERIOR_COLOR, lw=3.0)
        ax.plot([med], [yi], "o", color="white", mec=POSTERIOR_COLOR, ms=5, gid=f"median:{label}")
    ax.set_yticks(y, [label for label, _ in rows], fontsize=8)
    ax.set_ylim(-0.7, n - 0.3)
    ax.grid(axis="x", color="#e5e5e5", lw=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel(f"{getattr(fit, 'measure', '') or ''} model scale".strip(), fontsize=9)
    ax.set_title(f"Posterior of the model parameters (median, 50% and {100 * ci_prob:g}% intervals)", fontsize=9.5)
    fig.tight_layout()
    return fig


def tau_posterior_plot(fit: Any) -> Figure:
    """Posterior density of each heterogeneity SD with its prior density overlaid.

    The prior is the fit's prior object (``fit.priors[name].logpdf``); after ``Fit.load`` the priors
    are strings and only the posterior is drawn.
    """
    names = [n for n in TAU_NAMES if n in posterior_vars(fit)]
    if not names:
        raise KeyError("tau")  # the pipeline skips figures that do not apply to the model
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        x = draws_of(fit, name)
        upper = float(np.quantile(x, 0.995)) * 1.3 or 1.0
        grid = np.linspace(0.0, upper, 400)
        post = _density(x, grid, lower=0.0)
        line = ax.plot(grid, post, color=POSTERIOR_COLOR, lw=1.8, label="posterior")[0]
        line.set_gid(f"posterior:{name}")
        ax.fill_between(grid, post, color=POSTERIOR_COLOR, alpha=0.15)
        prior = _prior_density(fit, name, grid)
        if prior is not None:
            pl = ax.plot(grid, prior, color=PRIOR_COLOR, lw=1.4, ls="--",
                         label=f"prior: {fit.priors[name]!r}")[0]
            pl.set_gid(f"prior:{name}")
        med, low, high = interval(x)
        ax.axvline(med, color=POSTERIOR_COLOR, lw=0.8, ls=":")
        ax.set_xlim(0, upper)
        ax.set_ylim(bottom=0)
        ax.set_xlabel(f"{name} (between-study SD, {getattr(fit, 'measure', '')} model scale)")
        ax.set_ylabel("density")
        ax.set_title(f"{name}: median {fmt_num(med)} [95% CrI {fmt_num(low)}, {fmt_num(high)}]", fontsize=9)
        ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def mu_prior_posterior_plot(fit: Any) -> Figure:
    """Prior and posterior density of the pooled mean ``mu`` (model scale; natural units on top)."""
    if "mu" not in posterior_vars(fit):
        raise KeyError("mu")
    x = draws_of(fit, "mu")
    med, low, high = interval(x)
    spread = max(high - low, 1e-6)
    grid = np.linspace(low - 1.5 * spread, high + 1.5 * spread, 500)
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    post = _density(x, grid)
    line = ax.plot(grid, post, color=POSTERIOR_COLOR, lw=1.8, label="posterior")[0]
    line.set_gid("posterior:mu")
    ax.fill_between(grid, post, color=POSTERIOR_COLOR, alpha=0.15)
    prior = _prior_density(fit, "mu", grid)
    if prior is not None:
        pl = ax.plot(grid, prior, color=PRIOR_COLOR, lw=1.4, ls="--", label=f"prior: {fit.priors['mu']!r}")[0]
        pl.set_gid("prior:mu")
    measure = getattr(fit, "measure", None)
    ax.set_xlabel(f"mu ({measure} model scale)")
    ax.set_ylabel("density")
    ax.set_ylim(bottom=0)
    nat = to_natural(measure)
    ax.set_title(f"Pooled mean: {axis_label(measure)} {fmt_num(float(nat(med)))} "
                 f"[95% CrI {fmt_num(float(nat(low)))}, {fmt_num(float(nat(high)))}]", fontsize=9)
    if is_ratio(measure):
        top = ax.secondary_xaxis("top", functions=(np.exp, lambda v: np.log(np.clip(v, 1e-300, None))))
        top.set_xlabel(f"{measure} (natural units)", fontsize=8)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
