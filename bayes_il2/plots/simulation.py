"""Figures of a simulation study: coverage and interval width against the number of studies k.

They read the summary table of :func:`bayes_il2.simulation.metrics.summarize` (never the fits).
One panel per true tau (columns) and per combination of the other grid keys that vary (rows);
one line per method, with +-1.96 Monte-Carlo SE bars.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

_ROW_KEYS = ("outcome", "reporting", "design_mix", "n")


def _rows(summary: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    varying = [c for c in _ROW_KEYS if c in summary and summary[c].nunique() > 1]
    if not varying:
        return [("", summary)]
    return [(", ".join(f"{c}={v}" for c, v in zip(varying, key if isinstance(key, tuple) else (key,), strict=True)),
             group) for key, group in summary.groupby(varying, sort=False)]


def _metric_vs_k(summary: pd.DataFrame, metric: str, ylabel: str, reference: float | None) -> Figure:
    taus = sorted(summary["tau"].unique())
    rows = _rows(summary)
    fig, axes = plt.subplots(len(rows), len(taus), figsize=(3.2 * len(taus) + 0.8, 2.8 * len(rows) + 0.6),
                             squeeze=False, sharex=True, sharey=True)
    methods = list(dict.fromkeys(summary["method"]))
    for i, (row_label, group) in enumerate(rows):
        for j, tau in enumerate(taus):
            ax = axes[i, j]
            panel = group[group["tau"] == tau]
            for m, method in enumerate(methods):
                line = panel[panel["method"] == method].sort_values("k")
                offset = (m - (len(methods) - 1) / 2) * 0.08  # keep error bars apart
                ax.errorbar(line["k"] + offset, line[metric], yerr=1.96 * line[f"{metric}_mcse"], marker="o",
                            ms=3.5, lw=1.2, capsize=2, label=method)
            if reference is not None:
                ax.axhline(reference, color="0.4", ls="--", lw=0.8)
            ax.set_title(f"tau = {tau:g}" + (f"\n{row_label}" if row_label else ""), fontsize=9)
            ax.grid(alpha=0.3)
            if i == len(rows) - 1:
                ax.set_xlabel("number of studies k")
            if j == 0:
                ax.set_ylabel(ylabel)
            ks = np.sort(group["k"].unique())
            ax.set_xticks(ks)
    axes[0, -1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def coverage_plot(summary: pd.DataFrame, level: float = 0.95) -> Figure:
    """Coverage of mu's interval against k, with the nominal ``level`` dashed."""
    return _metric_vs_k(summary, "coverage", f"coverage of the {level:.0%} interval", level)


def width_plot(summary: pd.DataFrame) -> Figure:
    """Mean interval width for mu against k."""
    return _metric_vs_k(summary, "width", "mean interval width", None)
