"""Figures of a trial reanalysis: posterior densities by prior, and the probability of exceeding x.

Both take a :class:`bayes_il2.reanalysis.EndpointReanalysis` (computed, never recomputed here) and
return a matplotlib Figure. Odds ratios are drawn on a log axis; densities are those of the model
scale (log OR, or MD), so areas read as probabilities.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from bayes_il2.reanalysis.analysis import EndpointReanalysis, format_probability, p_beyond
from bayes_il2.reanalysis.endpoints import BinaryEndpoint
from bayes_il2.reanalysis.mixture import NormalMixture

_COLORS = ("#1b6ca8", "#d1495b", "#2e933c", "#8f5db7", "#e08e0b", "#5c5c5c", "#00798c")


def _grid(analysis: EndpointReanalysis, n: int = 800) -> np.ndarray:
    """Model-scale grid covering the 0.1%-99.9% range of every posterior, no effect and the important value."""
    lows, highs = [0.0], [0.0]
    for post in analysis.posteriors.values():
        lo, hi = post.ppf(np.array([0.001, 0.999]))
        lows.append(float(lo))
        highs.append(float(hi))
    if analysis.important is not None:
        lows.append(analysis.important)
        highs.append(analysis.important)
    lo, hi = min(lows), max(highs)
    pad = 0.08 * (hi - lo)
    return np.linspace(lo - pad, hi + pad, n)


def _axis_label(analysis: EndpointReanalysis) -> str:
    if isinstance(analysis.endpoint, BinaryEndpoint):
        return "odds ratio (LD-IL-2 vs control, log axis)"
    return "mean difference (LD-IL-2 minus control)"


def _xscale(ax, analysis: EndpointReanalysis) -> None:
    if isinstance(analysis.endpoint, BinaryEndpoint):
        from matplotlib.ticker import FormatStrFormatter, LogLocator

        ax.set_xscale("log")
        lo, hi = ax.get_xlim()
        decades = np.log10(hi / lo) if lo > 0 else np.inf
        subs = (1.0, 2.0, 5.0) if decades <= 2.5 else (1.0, 3.0) if decades <= 4 else (1.0,)
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))


def _benefit_word(analysis: EndpointReanalysis) -> str:
    e = analysis.endpoint
    sym = ">" if e.benefit_sign > 0 else "<"
    return f"OR {sym} 1" if isinstance(e, BinaryEndpoint) else f"MD {sym} 0"


def _eq(p: float) -> str:
    text = format_probability(p)
    return text if text[0] in "<>" else f"= {text}"


def plot_reanalysis_densities(analysis: EndpointReanalysis) -> Figure:
    """One panel per prior: prior (dashed) and posterior (solid) density, benefit region shaded.

    Parameters
    ----------
    analysis : EndpointReanalysis

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = list(analysis.posteriors)
    x = _grid(analysis)
    xn = analysis.natural(x)
    fig = Figure(figsize=(7.0, 1.25 + 1.45 * len(names)))
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    e = analysis.endpoint
    benefit = (x > 0) if e.benefit_sign > 0 else (x < 0)
    for i, (ax, name) in enumerate(zip(axes, names)):
        color = _COLORS[i % len(_COLORS)]
        post, prior = analysis.posteriors[name], analysis.priors[name]
        dens = post.pdf(x)
        ax.plot(xn, dens, color=color, lw=1.8, label="posterior")
        if isinstance(prior, NormalMixture):
            ax.plot(xn, prior.pdf(x), color=color, lw=1.0, ls="--", alpha=0.8, label="prior")
        ax.fill_between(xn, 0, dens, where=benefit, color=color, alpha=0.25, lw=0)
        pb = float(p_beyond(post, e, 0.0))
        ax.text(0.99, 0.88, f"{name}: P({_benefit_word(analysis)}) {_eq(pb)}", transform=ax.transAxes,
                ha="right", va="top", fontsize=9)
        ax.axvline(analysis.natural(0.0), color="black", lw=0.8)
        if analysis.important is not None:
            ax.axvline(analysis.natural(analysis.important), color="grey", lw=0.8, ls=":")
        ax.set_ylim(bottom=0)
        ax.set_yticks([])
        ax.set_ylabel(name, fontsize=9)
        _xscale(ax, analysis)
        if i == 0:
            ax.legend(loc="upper left", fontsize=8, frameon=False)
    axes[-1].set_xlabel(_axis_label(analysis))
    fig.suptitle(f"{e.name}: {e.describe()}\nposterior (solid) and prior (dashed) by prior; shaded: benefit",
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_exceedance(analysis: EndpointReanalysis) -> Figure:
    """P(effect better than x) as a function of x, one curve per prior.

    For an odds ratio where more events are better the curve is P(OR > x); for a harm or a score
    where lower is better, P(OR < x) or P(MD < x).

    Returns
    -------
    matplotlib.figure.Figure
    """
    x = _grid(analysis)
    xn = analysis.natural(x)
    e = analysis.endpoint
    fig = Figure(figsize=(7.0, 4.2))
    ax = fig.subplots()
    for i, (name, post) in enumerate(analysis.posteriors.items()):
        ax.plot(xn, p_beyond(post, e, x), color=_COLORS[i % len(_COLORS)], lw=1.8, label=name)
    ax.axvline(analysis.natural(0.0), color="black", lw=0.8)
    if analysis.important is not None:
        ax.axvline(analysis.natural(analysis.important), color="grey", lw=0.8, ls=":",
                   label="clinically important value")
    sym = ">" if e.benefit_sign > 0 else "<"
    what = "OR" if isinstance(e, BinaryEndpoint) else "MD"
    ax.set_ylabel(f"posterior P({what} {sym} x)")
    ax.set_xlabel(f"x: {_axis_label(analysis)}")
    ax.set_ylim(-0.02, 1.02)
    _xscale(ax, analysis)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(f"{e.name}: {e.describe()}\nprobability of an effect beyond x", fontsize=10)
    fig.tight_layout()
    return fig


def reanalysis_figures(result, endpoint: str) -> dict:
    """``reanalysis_densities`` and ``exceedance`` figures of one endpoint of a
    :class:`~bayes_il2.reanalysis.ReanalysisResult` (drawn from its posteriors; nothing is refitted)."""
    analysis = result.analysis(endpoint)
    return {"reanalysis_densities": plot_reanalysis_densities(analysis), "exceedance": plot_exceedance(analysis)}
