"""Contour-enhanced funnel plot: effect against standard error, shaded by two-sided significance.

The shaded contours mark where a study's own test against ``null`` is significant at 10%, 5% and 1%
(Peters et al. 2008): asymmetry that falls in the significant regions suggests selective publication;
asymmetry in the non-significant regions suggests other small-study effects. The pooled estimate of a
classical fit (a vertical line, with its pseudo 95% funnel) is drawn from the result object handed in;
nothing is fitted here.

References
----------
Peters JL, Sutton AJ, Jones DR, Abrams KR, Rushton L (2008). Contour-enhanced meta-analysis funnel
plots help distinguish publication bias from other causes of asymmetry. J Clin Epidemiol 61:991-996.
Sterne JAC, Sutton AJ, Ioannidis JPA, et al. (2011). Recommendations for examining and interpreting
funnel plot asymmetry in meta-analyses of randomised controlled trials. BMJ 343:d4002.
"""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy import stats

from bayes_il2.errors import ModelError
from bayes_il2.plots._common import require_columns

CONTOURS = ((0.10, "#e8e8e8"), (0.05, "#c8c8c8"), (0.01, "#a0a0a0"))


def funnel_plot(table: pd.DataFrame, result: Any = None, *, measure: str | None = None, null: float = 0.0,
                title: str | None = None) -> Figure:
    """Contour-enhanced funnel plot of an effect table (``yi``, ``vi``; model scale).

    Parameters
    ----------
    table : DataFrame
        Effect table with ``yi`` and ``vi`` (rows without both are skipped).
    result : RMAResult, optional
        A classical fit of the same table; its estimate is drawn with a pseudo 95% funnel.
    measure : str, optional
        Measure code for the axis label (default: the table's ``measure`` column).
    null : float
        The value the contours test against (0 on a difference or log scale).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_columns(table, ["yi", "vi"], "funnel_plot")
    yi = pd.to_numeric(table["yi"], errors="coerce").to_numpy(float)
    vi = pd.to_numeric(table["vi"], errors="coerce").to_numpy(float)
    ok = np.isfinite(yi) & np.isfinite(vi) & (vi > 0)
    if not ok.any():
        raise ModelError("funnel_plot: no row has a usable yi and vi")
    yi, se = yi[ok], np.sqrt(vi[ok])
    if measure is None and "measure" in table.columns and table["measure"].notna().any():
        measure = str(table["measure"].dropna().iloc[0])
    se_max = float(se.max()) * 1.1
    grid = np.linspace(0.0, se_max, 100)
    fig, ax = plt.subplots(figsize=(7.2, 4.8))
    # outside every contour: p < 0.01 (the axes background); then nested wedges, widest first
    ax.set_facecolor(CONTOURS[2][1])
    for (alpha, _), color in zip(((0.01, None), (0.05, None), (0.10, None)),
                                 (CONTOURS[1][1], CONTOURS[0][1], "white")):
        z = stats.norm.ppf(1 - alpha / 2)
        poly = ax.fill_betweenx(grid, null - z * grid, null + z * grid, color=color, lw=0, zorder=0)
        poly.set_gid(f"contour:{alpha:g}")
    pts = ax.scatter(yi, se, s=28, color="#222222", zorder=3)
    pts.set_gid("studies")
    handles = [Patch(facecolor="white", edgecolor="#999999", label="p > 0.10"),
               Patch(color=CONTOURS[0][1], label="0.05 < p < 0.10"),
               Patch(color=CONTOURS[1][1], label="0.01 < p < 0.05"),
               Patch(color=CONTOURS[2][1], label="p < 0.01")]
    if result is not None:
        est = float(result.estimate)
        (line,) = ax.plot([est, est], [0, se_max], color="#1f6fb4", lw=1.2, zorder=2,
                          label=f"{getattr(result, 'method', '')} estimate".strip())
        line.set_gid("estimate")
        (l1,) = ax.plot(est - 1.96 * grid, grid, color="#1f6fb4", lw=0.8, ls="--", zorder=2,
                        label="pseudo 95% limits")
        ax.plot(est + 1.96 * grid, grid, color="#1f6fb4", lw=0.8, ls="--", zorder=2)
        l1.set_gid("pseudo_ci")
        handles += [line, l1]
    ax.set_ylim(se_max, 0)
    ax.set_ylabel("standard error")
    ax.set_xlabel(f"{measure} (model scale: yi)" if measure else "effect (model scale: yi)")
    ax.axvline(null, color="#555555", lw=0.6, ls=":", zorder=1)
    ax.legend(handles=handles, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(title or f"Contour-enhanced funnel plot (k = {len(yi)})", fontsize=10)
    fig.tight_layout()
    return fig
