"""Figures of the diagnostics tables: predictive checks, Pareto k, influence, prior sensitivity.

Each function takes the DataFrame that :func:`bayes_il2.diagnostics.diagnose` stores under
``report.tables[...]`` and draws it; nothing is recomputed. An empty table raises ``KeyError`` like a
missing one, so that callers skip figures that do not apply to a model. Locations are on the model
scale unless ``measure`` is given (then natural units, log axis for ratios).
"""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayes_il2.plots._common import (axis_label, is_ratio, log_ticks, require_columns, tick_label,
                                     to_natural, truncate)

OK_COLOR = "#1f6fb4"
BAD_COLOR = "#c0392b"
MIXED_COLOR = "#7f7f7f"


def _nonempty(table: pd.DataFrame | None, name: str) -> pd.DataFrame:
    if table is None or len(table) == 0:
        raise KeyError(name)
    return table.reset_index(drop=True)


def _rows_figure(n_rows: int, n_cols: int = 1, width: float = 6.4) -> tuple[Figure, np.ndarray, float]:
    font = float(np.interp(n_rows, [2, 10, 30, 60], [9.0, 9.0, 7.5, 6.5]))
    height = 1.3 + max(n_rows, 2) * float(np.interp(n_rows, [2, 10, 30, 60], [0.32, 0.28, 0.2, 0.16]))
    fig, axes = plt.subplots(1, n_cols, figsize=(width * n_cols, height), squeeze=False, sharey=True)
    return fig, axes[0], font


def _scale_axis(ax, measure: str | None) -> None:
    ax.set_xlabel(axis_label(measure) if measure else "model scale")
    if is_ratio(measure):
        ax.set_xscale("log")
        ticks = log_ticks(*ax.get_xlim())
        ax.set_xticks(ticks, [tick_label(t) for t in ticks])
        ax.xaxis.set_minor_formatter(plt.NullFormatter())


def ppc_plot(predictive_table: pd.DataFrame, measure: str | None = None) -> Figure:
    """Per-study posterior predictive check: observed value against its 95% predictive interval.

    One panel per observed variable; the posterior predictive interval in blue (red when the observed
    value falls outside), the mixed predictive interval (Marshall & Spiegelhalter 2007) in grey beneath
    it where the table has one. ``measure`` only applies to the variable ``y`` (effects); event counts
    stay counts.
    """
    table = _nonempty(predictive_table, "predictive")
    require_columns(table, ["study_id", "variable", "observed", "pp_low", "pp_high"], "ppc_plot")
    variables = list(dict.fromkeys(table["variable"].astype(str)))
    n_rows = int(table.groupby("variable").size().max())
    fig, axes, font = _rows_figure(n_rows, len(variables))
    for ax, var in zip(axes, variables):
        block = table[table["variable"].astype(str) == var].reset_index(drop=True)
        nat = to_natural(measure) if var == "y" else (lambda v: v)
        ys = np.arange(len(block))
        has_mixed = {"mixed_low", "mixed_high"} <= set(block.columns)
        for i, row in block.iterrows():
            bad = bool(row.get("outside", False))
            color = BAD_COLOR if bad else OK_COLOR
            (line,) = ax.plot([nat(row["pp_low"]), nat(row["pp_high"])], [i, i], color=color, lw=2.2, alpha=0.8,
                              solid_capstyle="butt")
            line.set_gid(f"pp:{var}:{row['study_id']}")
            if has_mixed and np.isfinite(row["mixed_low"]):
                (ml,) = ax.plot([nat(row["mixed_low"]), nat(row["mixed_high"])], [i + 0.28, i + 0.28],
                                color=MIXED_COLOR, lw=1.0)
                ml.set_gid(f"mixed:{var}:{row['study_id']}")
            ax.plot([nat(row["observed"])], [i], marker="D", color="black", ms=4.5, zorder=4)
        ax.set_yticks(ys, [truncate(s, 30) for s in block["study_id"].astype(str)], fontsize=font)
        ax.set_ylim(len(block) - 0.4, -0.7)
        ax.set_title(f"{var}: observed (diamond) vs 95% posterior predictive interval"
                     + (" (grey: mixed predictive)" if has_mixed else ""), fontsize=font)
        if var == "y":
            _scale_axis(ax, measure)
        else:
            ax.set_xlabel(f"{var} (count)")
        ax.tick_params(axis="x", labelsize=font)
    fig.tight_layout()
    return fig


def pareto_k_plot(loo_table: pd.DataFrame, threshold: float = 0.7) -> Figure:
    """PSIS-LOO Pareto k per study, with the reliability threshold (Vehtari et al. 2024, JMLR 25(72)).

    Studies above the threshold are drawn in red; a study whose elpd was replaced by an exact
    computation is marked with an open ring.
    """
    table = _nonempty(loo_table, "loo")
    require_columns(table, ["study_id", "pareto_k"], "pareto_k_plot")
    k = table["pareto_k"].to_numpy(float)
    n = len(table)
    font = float(np.interp(n, [2, 10, 30, 60], [9.0, 9.0, 7.5, 6.5]))
    fig, ax = plt.subplots(figsize=(max(6.4, 0.16 * n + 2.5), 3.9))
    x = np.arange(n)
    bad = k > threshold
    pts = ax.scatter(x, k, c=np.where(bad, BAD_COLOR, OK_COLOR), s=28, zorder=3)
    pts.set_gid("pareto_k")
    if "elpd_method" in table.columns:
        exact = table["elpd_method"].astype(str).eq("exact").to_numpy()
        if exact.any():
            ax.scatter(x[exact], k[exact], s=110, facecolors="none", edgecolors="black", lw=1.0,
                       label="elpd replaced by exact computation")
            ax.legend(fontsize=font, frameon=False, loc="upper right")
    ax.axhline(threshold, color=BAD_COLOR, ls="--", lw=1.0).set_gid("threshold")
    ax.axhline(0.5, color="#999999", ls=":", lw=0.8)
    ax.set_xticks(x, [truncate(s, 24) for s in table["study_id"].astype(str)], rotation=60, ha="right",
                  fontsize=font)
    ax.set_ylabel("Pareto k")
    ax.set_title(f"Leave-one-study-out PSIS: Pareto k per study (dashed: {threshold:g})", fontsize=9)
    ax.set_ylim(min(-0.1, float(np.nanmin(k)) - 0.05), max(1.0, float(np.nanmax(k)) + 0.1))
    fig.tight_layout()
    return fig


def influence_plot(influence_table: pd.DataFrame, measure: str | None = None) -> Figure:
    """Leave-one-study-out influence: mu with 95% CrI without each study, and the change in tau.

    The full-data posterior mean of mu (``mu_mean - delta_mu``) is the dashed line; the most
    influential study (column ``largest``) is red. Compare metafor's ``leave1out`` plots
    (Viechtbauer & Cheung 2010, Res Synth Methods 1:112-125).
    """
    table = _nonempty(influence_table, "influence")
    require_columns(table, ["study_id", "mu_mean", "mu_low", "mu_high", "delta_tau"], "influence_plot")
    nat = to_natural(measure)
    n = len(table)
    fig, (ax_mu, ax_tau), font = _rows_figure(n, 2, width=5.2)
    largest = table["largest"].astype(bool).to_numpy() if "largest" in table.columns else np.zeros(n, bool)
    for i, row in table.iterrows():
        color = BAD_COLOR if largest[i] else OK_COLOR
        (line,) = ax_mu.plot([nat(row["mu_low"]), nat(row["mu_high"])], [i, i], color=color, lw=1.4)
        line.set_gid(f"influence:{row['study_id']}")
        ax_mu.plot([nat(row["mu_mean"])], [i], "o", color=color, ms=4)
    if "delta_mu" in table.columns:
        full = float((table["mu_mean"] - table["delta_mu"]).iloc[0])
        ax_mu.axvline(nat(full), color="black", ls="--", lw=0.9)
    ax_mu.set_yticks(np.arange(n), [f"without {truncate(s, 26)}" for s in table["study_id"].astype(str)],
                     fontsize=font)
    ax_mu.set_ylim(n - 0.5, -0.5)
    ax_mu.set_title("mu (posterior mean, 95% CrI) leaving out each study", fontsize=font + 0.5)
    _scale_axis(ax_mu, measure)
    ax_tau.barh(np.arange(n), table["delta_tau"].to_numpy(float),
                color=[BAD_COLOR if b else OK_COLOR for b in largest], height=0.6)
    ax_tau.axvline(0, color="black", lw=0.8)
    ax_tau.set_xlabel("change in posterior median of tau")
    ax_tau.set_title("tau without the study minus tau with all studies", fontsize=font + 0.5)
    fig.tight_layout()
    return fig


def prior_sensitivity_plot(tau_prior_grid_table: pd.DataFrame, measure: str | None = None) -> Figure:
    """mu (95% CrI) and tau (median, 95% CrI) under each heterogeneity prior of the grid."""
    table = _nonempty(tau_prior_grid_table, "tau_prior_grid")
    require_columns(table, ["tau_prior", "mu_mean", "mu_low", "mu_high", "tau_median"], "prior_sensitivity_plot")
    nat = to_natural(measure)
    n = len(table)
    fig, (ax_mu, ax_tau), font = _rows_figure(n, 2, width=5.0)
    ys = np.arange(n)
    for i, row in table.iterrows():
        (line,) = ax_mu.plot([nat(row["mu_low"]), nat(row["mu_high"])], [i, i], color=OK_COLOR, lw=1.6)
        line.set_gid(f"mu:{row['tau_prior']}")
        ax_mu.plot([nat(row["mu_mean"])], [i], "o", color=OK_COLOR, ms=4.5)
        if {"tau_low", "tau_high"} <= set(table.columns):
            (tl,) = ax_tau.plot([row["tau_low"], row["tau_high"]], [i, i], color=MIXED_COLOR, lw=1.6)
            tl.set_gid(f"tau:{row['tau_prior']}")
        ax_tau.plot([row["tau_median"]], [i], "o", color="black", ms=4.5)
    ax_mu.set_yticks(ys, [truncate(s, 32) for s in table["tau_prior"].astype(str)], fontsize=font)
    ax_mu.set_ylim(n - 0.5, -0.5)
    ax_mu.set_title("pooled mean mu under each tau prior", fontsize=font + 0.5)
    _scale_axis(ax_mu, measure)
    ax_tau.set_xlabel("tau (model scale)")
    ax_tau.set_xlim(left=0)
    ax_tau.set_title("tau: median and 95% CrI", fontsize=font + 0.5)
    fig.tight_layout()
    return fig
