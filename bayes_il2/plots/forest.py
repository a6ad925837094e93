"""The meta-analysis forest plot: observed and shrunken study effects, summaries, prediction.

One row per study, grouped under a heading per disease. For each study the observed effect with its
95% confidence interval (``yi +/- 1.96 sqrt(vi)``) and, just beneath it, the posterior (shrunken)
study effect ``theta`` with its 95% credible interval. Below each disease group a diamond for the
disease mean (``mu_disease``, three-level models); at the foot the pooled diamond (``mu``) and the
95% predictive interval for a new study (``theta_new``) as a bar. Ratio measures are drawn on a log
axis labelled in natural units. Text columns: label, design, n and dose at left; estimate with 95%
interval and weight at right. A heterogeneity line (tau, I^2) closes the figure.

Layout follows the conventions of metafor's ``forest.rma`` and RevMan (Viechtbauer W. Conducting
meta-analyses in R with the metafor package. J Stat Softw 2010;36(3)); shrinkage estimates as in
bayesmeta's ``forestplot`` (Röver C. J Stat Softw 2020;93(6)).

Every drawn element carries a ``gid`` (``observed:<study>``, ``posterior:<study>``,
``diamond:disease:<disease>``, ``diamond:overall``, ``predictive``, ``label:<study>``,
``heading:<disease>``, ``rope``, ``reference``, ``heterogeneity``, ``legend``, ``title``; text cells
``design:``/``n:``/``dose:``/``estimate:``/``posterior_text:``/``weight:<study>``, ``header:<column>``,
``summary_label:``/``summary:<summary>``) so that tests and users can find it.

Layout: every text column is as wide as the widest text it holds, measured with the Agg renderer
(:mod:`bayes_il2.plots._text`); labels and design names still too wide are cut with an ellipsis at a
measured width. Design codes are shown by name ("non-randomised controlled", "single-arm", "RCT"). The
posterior interval has its own column on the study's row, so rows can be tight without text colliding.
Beneath the plot, top to bottom, come the x axis, the heterogeneity line and the legend, stacked from
their measured heights.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon

from bayes_il2.errors import ModelError
from bayes_il2.plots._common import (axis_label, default_reference, draws_by, draws_of, fmt_interval,
                                     fmt_num, interval, is_ratio, log_ticks, posterior_vars,
                                     require_columns, study_keys, tick_label, to_natural,
                                     typical_within_variance)
from bayes_il2.plots import partial_rows
from bayes_il2.plots._text import design_label, fit_text, text_width
from bayes_il2.plots.io import mark_sized_to_fit
from bayes_il2.plots.direction import effect_direction, table_outcome

SORTS = ("given", "effect", "precision", "year")
Z95 = 1.959963984540054

OBSERVED_COLOR = "#222222"
POSTERIOR_COLOR = "#1f6fb4"
DISEASE_COLOR = "#8c8c8c"
OVERALL_COLOR = "#111111"
PREDICTIVE_COLOR = "#c0392b"
CLASSICAL_COLOR = "#2e7d32"
ROPE_COLOR = "#f1c40f"
MONO = "DejaVu Sans Mono"

# Layout lengths in inches.
MARGIN_IN = 0.2
COLUMN_GAP_IN = 0.2
AXES_GAP_IN = 0.25
INDENT_IN = 0.12
LABEL_MAX_IN = 2.8
DESIGN_MAX_IN = 1.9
PLOT_WIDTH_IN = 4.6
MAX_WIDTH_IN = 20.0
BOTTOM_GAP_IN = 0.12


@dataclass(frozen=True)
class ForestScale:
    """Row height (inches) and font size for a plot of ``n`` studies (legible from 2 to 60)."""

    row_height: float
    font_size: float

    @classmethod
    def for_count(cls, n: int) -> "ForestScale":
        n = max(int(n), 1)
        row = float(np.interp(n, [2, 10, 30, 60], [0.34, 0.30, 0.24, 0.20]))
        font = float(np.interp(n, [2, 10, 30, 60], [9.5, 9.0, 7.5, 6.5]))
        return cls(row_height=row, font_size=font)


# --------------------------------------------------------------------------- data preparation
def observed_effects(table: pd.DataFrame, measure: str | None) -> pd.DataFrame:
    """``yi`` and ``vi`` of every row (computed from counts for event tables without them).

    Event tables (``events_t, n_t, events_c, n_c`` or ``events, n``) give the log odds ratio or the
    logit proportion, adding 0.5 to every cell of a row that has a zero cell (the default of
    metafor's ``escalc``: Viechtbauer 2010).
    """
    out = table.copy()
    if {"yi", "vi"} <= set(out.columns):
        out["yi"] = pd.to_numeric(out["yi"], errors="coerce")
        out["vi"] = pd.to_numeric(out["vi"], errors="coerce")
        return out
    if {"events_t", "n_t", "events_c", "n_c"} <= set(out.columns):
        a, n1 = (pd.to_numeric(out[c], errors="coerce").to_numpy(float) for c in ("events_t", "n_t"))
        c, n2 = (pd.to_numeric(out[c], errors="coerce").to_numpy(float) for c in ("events_c", "n_c"))
        b, d = n1 - a, n2 - c
        add = np.where((a == 0) | (b == 0) | (c == 0) | (d == 0), 0.5, 0.0)
        a, b, c, d = a + add, b + add, c + add, d + add
        out["yi"] = np.log(a * d / (b * c))
        out["vi"] = 1 / a + 1 / b + 1 / c + 1 / d
        return out
    if {"events", "n"} <= set(out.columns):
        e, n = (pd.to_numeric(out[c], errors="coerce").to_numpy(float) for c in ("events", "n"))
        f = n - e
        add = np.where((e == 0) | (f == 0), 0.5, 0.0)
        e, f = e + add, f + add
        out["yi"] = np.log(e / f)
        out["vi"] = 1 / e + 1 / f
        return out
    require_columns(out, ["yi", "vi"], "forest_plot")
    return out  # pragma: no cover - require_columns raised


def _measure_of(table: pd.DataFrame, fit: Any, measure: str | None) -> str | None:
    if measure is not None:
        return measure
    if fit is not None and getattr(fit, "measure", None):
        return fit.measure
    if "measure" in table.columns and table["measure"].notna().any():
        return str(table["measure"].dropna().iloc[0])
    if {"events_t", "n_t"} <= set(table.columns):
        return "OR"
    if {"events", "n"} <= set(table.columns):
        return "PLO"
    return None


def _sorted(group: pd.DataFrame, sort: str) -> pd.DataFrame:
    if sort == "given":
        return group
    if sort == "effect":
        return group.sort_values("yi", kind="stable")
    if sort == "precision":
        return group.sort_values("vi", kind="stable")
    if "year" not in group.columns:
        raise ModelError("forest_plot: sort='year' needs a 'year' column in the effect table")
    return group.assign(_year=pd.to_numeric(group["year"], errors="coerce")).sort_values(
        "_year", kind="stable").drop(columns="_year")


def _tau_draws(fit: Any, names: set[str]) -> np.ndarray | None:
    """Total between-study SD draws (sqrt(tau_within^2 + tau_between^2) in three-level models)."""
    if "tau" in names:
        return draws_of(fit, "tau")
    if {"tau_within", "tau_between"} <= names:
        return np.sqrt(draws_of(fit, "tau_within") ** 2 + draws_of(fit, "tau_between") ** 2)
    return None


def heterogeneity_text(table: pd.DataFrame, fit: Any = None) -> str:
    """The heterogeneity line: posterior tau (median [95% CrI]) and I^2; Cochran's Q I^2 without a fit.

    I^2 = tau^2 / (tau^2 + s^2) with the typical within-study variance s^2 of Higgins & Thompson
    (2002); its posterior is computed draw by draw (the fit's own ``i2`` when it stores one).
    """
    vi = pd.to_numeric(table["vi"], errors="coerce").to_numpy(float)
    vi = vi[np.isfinite(vi) & (vi > 0)]
    names = posterior_vars(fit)
    parts = []
    k = table["study_id"].astype(str).nunique() if "study_id" in table.columns else len(table)
    if k < 2:
        return "Heterogeneity: not estimable with one study (k = 1: no pooling; tau is its prior)"
    if names:
        for name in ("tau", "tau_within", "tau_between"):
            if name in names:
                med, low, high = interval(draws_of(fit, name))
                parts.append(f"{name} = {fmt_num(med)} [{fmt_num(low)}, {fmt_num(high)}]")
        if "i2" in names:
            i2 = draws_of(fit, "i2")
        else:
            tau = _tau_draws(fit, names)
            i2 = None if tau is None or vi.size < 2 else tau ** 2 / (tau ** 2 + typical_within_variance(vi))
        if i2 is not None:
            med, low, high = interval(i2)
            parts.append(f"I\u00b2 = {100 * med:.0f}% [{100 * low:.0f}%, {100 * high:.0f}%]")
        if parts:
            return "Heterogeneity (posterior median [95% CrI]): " + "; ".join(parts)
    yi = pd.to_numeric(table["yi"], errors="coerce").to_numpy(float)
    ok = np.isfinite(yi) & np.isfinite(pd.to_numeric(table["vi"], errors="coerce").to_numpy(float))
    if ok.sum() < 2:
        return "Heterogeneity: not estimable (fewer than two studies)"
    y, v = yi[ok], pd.to_numeric(table["vi"], errors="coerce").to_numpy(float)[ok]
    w = 1 / v
    q = float(np.sum(w * (y - np.sum(w * y) / w.sum()) ** 2))
    df = ok.sum() - 1
    i2 = max(0.0, (q - df) / q) if q > 0 else 0.0
    return f"Heterogeneity (observed, no model): Cochran's Q = {q:.2f} on {df} df; I\u00b2 = {100 * i2:.0f}%"


# --------------------------------------------------------------------------- drawing helpers
def _diamond(ax, centre: float, low: float, high: float, y: float, half_height: float, color: str,
             gid: str, transform_x) -> Polygon:
    xs = [transform_x(low), transform_x(centre), transform_x(high), transform_x(centre)]
    ys = [y, y - half_height, y, y + half_height]
    patch = Polygon(np.column_stack([xs, ys]), closed=True, facecolor=color, edgecolor=color, zorder=4)
    patch.set_gid(gid)
    ax.add_patch(patch)
    return patch


def _fmt_dose(row: pd.Series) -> str:
    dose = row.get("dose_miu")
    if dose is None or pd.isna(dose) or str(dose).strip() == "":
        return ""
    unit = row.get("dose_unit")
    unit = "MIU" if unit is None or pd.isna(unit) or str(unit).strip() == "" else str(unit)
    try:
        value = f"{float(dose):g}"
    except (TypeError, ValueError):
        value = str(dose)
    return f"{value} {unit}"


def _label_with_kind(label: str, suffix: str, width_in: float, size: float) -> str:
    """The label cut to fit, keeping the kind of information (``suffix``) whole."""
    if not suffix:
        return fit_text(label, width_in, size)
    return fit_text(label, max(width_in - text_width(suffix, size), 0.6), size) + suffix


def _fmt_n(row: pd.Series) -> str:
    for col in ("n", "n_total"):
        value = row.get(col)
        if value is not None and not pd.isna(value) and str(value).strip() != "":
            try:
                return f"{float(value):.0f}"
            except (TypeError, ValueError):
                return str(value)
    if "n_t" in row and "n_c" in row and not pd.isna(row["n_t"]) and not pd.isna(row["n_c"]):
        return f"{float(row['n_t']) + float(row['n_c']):.0f}"
    return ""


# --------------------------------------------------------------------------- the plot
def forest_plot(table: pd.DataFrame, fit: Any = None, title: str | None = None, sort: str = "given",
                rope: tuple[float, float] | None = None, reference: float | bool | None = None, *,
                measure: str | None = None, show_weight: bool = True, level: float = 0.95,
                group_by: str | None = "disease", label_column: str = "label", classical: Any = None,
                direction: str | None = None) -> Figure:
    """Draw the forest plot of an effect table, with the posterior of a fit when given.

    Parameters
    ----------
    table : DataFrame
        Effect table (``study_id``, ``yi``, ``vi``; optional ``label``, ``disease``, ``design``,
        ``n``/``n_total``, ``dose_miu``/``dose_unit``, ``year``, ``arm_id``) or an event table.
    fit : Fit, optional
        A fitted model of this table. Without it only the observed effects (and a Cochran's Q I^2)
        are drawn; nothing is ever refitted.
    title : str, optional
        Figure title.
    sort : {"given", "effect", "precision", "year"}
        Order of the studies within each disease group (precision: most precise first).
    rope : (low, high), optional
        Region of practical equivalence in natural units, shaded.
    reference : float, False or None
        No-effect line in natural units; None picks 1 for ratios and 0 for differences; False hides it.
    measure : str, optional
        Effect measure code (default: the fit's, else the table's ``measure`` column).
    show_weight : bool
        Add the weight column: random-effects inverse-variance weights ``1 / (v_i + tau^2)`` at the
        posterior median of tau with a fit, fixed-effect ``1 / v_i`` without.
    level : float
        Level of the credible intervals of the posterior (the observed CIs are always 95%).
    group_by : str or None
        Column whose values head groups of rows (None: no grouping).
    label_column : str
        Column with the study label (falls back to ``study_id``).
    classical : RMAResult, optional
        A classical fit of the same table (:func:`bayes_il2.classical.rma`, e.g. REML with the HKSJ
        interval): drawn beneath the Bayesian summaries as a green diamond and its prediction
        interval (t with k - 2 df) as a green bar; the legend tells the two apart. Never refitted here.
    direction : str, optional
        Second line of the x-axis label saying which side favours LD-IL-2 (default: from the measure
        and the table's ``outcome``, :func:`bayes_il2.plots.direction.effect_direction`; "" for none).

    Returns
    -------
    matplotlib.figure.Figure
        Three axes sharing y: left text columns, the plot, right text columns.

    Raises
    ------
    ModelError
        When needed columns are missing or ``sort`` is not one of :data:`SORTS`.
    """
    if sort not in SORTS:
        raise ModelError(f"forest_plot: sort must be one of {', '.join(SORTS)}; got {sort!r}")
    require_columns(table, ["study_id"], "forest_plot")
    if len(table) == 0:
        raise ModelError("forest_plot: the effect table has no rows")
    data = observed_effects(table.reset_index(drop=True), measure)
    measure = _measure_of(table, fit, measure)
    nat = to_natural(measure)
    ratio = is_ratio(measure)
    data["_key"] = study_keys(data)
    data["_label"] = data[label_column] if label_column in data.columns else data["study_id"]
    data["_label"] = data["_label"].where(data["_label"].notna() & (data["_label"].astype(str) != ""),
                                          data["study_id"])
    se = np.sqrt(data["vi"].to_numpy(float))
    data["_est"] = nat(data["yi"].to_numpy(float))
    data["_low"] = nat(data["yi"].to_numpy(float) - Z95 * se)
    data["_high"] = nat(data["yi"].to_numpy(float) + Z95 * se)
    partial_rows.blank_undrawable(data, measure)  # bounds, P values, no-spread values: drawn their own way
    info = partial_rows.info_of(data)

    names = posterior_vars(fit)
    theta = draws_by(fit, "theta", "study_id") if "theta" in names else {}
    post = {}
    for key in data["_key"]:
        if key in theta:
            med, low, high = interval(theta[key], level)
            post[key] = (float(nat(med)), float(nat(low)), float(nat(high)))

    # one study: nothing is pooled, so no pooled diamond, prediction or weights are drawn
    pooled = data["study_id"].astype(str).nunique() > 1 if "study_id" in data.columns else len(data) > 1
    # weights
    weights = None
    if show_weight and pooled:
        vi = data["vi"].to_numpy(float)
        tau = _tau_draws(fit, names) if names else None
        t2 = float(np.median(tau)) ** 2 if tau is not None else 0.0
        w = np.where(np.isfinite(vi) & (vi > 0) & (info == "complete").to_numpy(), 1.0 / (vi + t2), 0.0)
        weights = 100 * w / w.sum() if w.sum() > 0 else None

    # ---- rows
    grouped = group_by is not None and group_by in data.columns and data[group_by].notna().any()
    groups = (list(dict.fromkeys(data[group_by].fillna("(none)").astype(str))) if grouped else [None])
    mu_disease = draws_by(fit, "mu_disease", "disease") if "mu_disease" in names else {}
    rows: list[tuple[str, float, Any]] = []  # (kind, y, payload)
    y = 0.0
    for g in groups:
        block = data if g is None else data[data[group_by].fillna("(none)").astype(str) == g]
        if g is not None:
            rows.append(("heading", y, g))
            y += 1.0
        for idx in _sorted(block, sort).index:
            rows.append(("study", y, idx))
            y += 1.0
        if g is not None and g in mu_disease and block["study_id"].astype(str).nunique() > 1:
            rows.append(("disease", y, g))
            y += 1.0
        if g is not None:
            y += 0.4
    has_overall = pooled and "mu" in names
    has_pred = pooled and "theta_new" in names
    has_classical = pooled and classical is not None and np.isfinite(getattr(classical, "estimate", np.nan))
    has_classical_pi = has_classical and np.isfinite(getattr(classical, "pi_low", np.nan))
    if has_overall or has_pred or has_classical:
        y += 0.3
    if has_overall:
        rows.append(("overall", y, None))
        y += 1.0
    if has_pred:
        rows.append(("predictive", y, None))
        y += 1.0
    if has_classical:
        rows.append(("classical", y, None))
        y += 1.0
    if has_classical_pi:
        rows.append(("classical_pi", y, None))
        y += 1.0
    n_units = y

    n_studies = len(data)
    scale = ForestScale.for_count(n_studies)
    fs = scale.font_size
    small = fs - 0.5
    level_pct = f"{100 * level:g}%"

    # ---- summaries (natural scale)
    summaries: dict[str, tuple[float, float, float]] = {}
    if has_overall:
        summaries["overall"] = tuple(float(nat(v)) for v in interval(draws_of(fit, "mu"), level))
    if has_pred:
        summaries["predictive"] = tuple(float(nat(v)) for v in interval(draws_of(fit, "theta_new"), level))
    for g in mu_disease:
        summaries[f"disease:{g}"] = tuple(float(nat(v)) for v in interval(mu_disease[g], level))
    if has_classical:
        summaries["classical"] = tuple(float(nat(v)) for v in (classical.estimate, classical.ci_low,
                                                                classical.ci_high))
    if has_classical_pi:
        summaries["classical_pi"] = tuple(float(nat(v)) for v in (classical.estimate, classical.pi_low,
                                                                   classical.pi_high))

    # ---- cell texts; every column is as wide as the widest text it holds (measured, not guessed)
    indent = INDENT_IN if grouped else 0.0
    cells: dict[Any, dict[str, str]] = {}
    for kind, _, payload in rows:
        if kind != "study":
            continue
        row = data.loc[payload]
        key = row["_key"]
        cells[payload] = {
            "label": _label_with_kind(str(row["_label"]), partial_rows.label_suffix(
                info[payload], bool(row.get("assumed", False))), LABEL_MAX_IN - indent, fs),
            "design": fit_text(design_label(row.get("design")), DESIGN_MAX_IN, small),
            "n": _fmt_n(row), "dose": _fmt_dose(row),
            "estimate": partial_rows.estimate_text(row, measure, fmt_interval(row["_est"], row["_low"], row["_high"])),
            "posterior": fmt_interval(*post[key]) if key in post else "",
            "weight": f"{weights[payload]:.1f}%" if weights is not None and info[payload] == "complete" else "",
        }
    pooled_text = ("Pooled mean (intercept)" if getattr(fit, "settings", {}).get("covariates")
                   else "Pooled mean")
    summary_labels = {
        "overall": (pooled_text, "bold", "normal", 0.0),
        "predictive": ("Prediction (new study)", "normal", "normal", 0.0),
    }
    if has_classical:
        test_name = {"knha": "HKSJ", "knha_modified": "modified HKSJ", "z": "Wald"}.get(
            getattr(classical, "test", ""), str(getattr(classical, "test", "")))
        summary_labels["classical"] = (f"Classical: {classical.method} + {test_name}", "normal", "normal", 0.0)
        summary_labels["classical_pi"] = ("Classical prediction (t, k-2 df)", "normal", "normal", 0.0)
    for g in mu_disease:
        summary_labels[f"disease:{g}"] = (fit_text(f"{g} mean", LABEL_MAX_IN - INDENT_IN, fs, style="italic"),
                                          "normal", "italic", INDENT_IN)

    def widest(texts, size, weight="normal", family=None, style="normal") -> float:
        return max([text_width(t, size, weight, family, style) for t in texts] + [0.0])

    label_w = max(text_width("Study", fs, "bold"),
                  indent + widest([c["label"] for c in cells.values()], fs),
                  max([x + text_width(t, fs, w, None, s) for key, (t, w, s, x) in summary_labels.items()
                       if key in summaries], default=0.0))
    # (header, cell key, alignment); a column with no text in any row is left out
    left_columns = [(h, k, a) for h, k, a in (("Design", "design", "left"), ("n", "n", "right"),
                                              ("Dose", "dose", "right"))
                    if any(c[k] for c in cells.values())]
    left_x: dict[str, float] = {}
    x = label_w
    for head, key, align in left_columns:
        w = max(text_width(head, fs, "bold"), widest([c[key] for c in cells.values()], small))
        left_x[key] = x + COLUMN_GAP_IN + (w if align == "right" else 0.0)
        x += COLUMN_GAP_IN + w
    left_w = x

    est_head = "Estimate [95% CI]"
    post_head = f"Posterior [{level_pct} CrI]"
    est_w = max(text_width(est_head, fs, "bold"),
                widest([c["estimate"] for c in cells.values()], fs, family=MONO),
                widest([fmt_interval(*v) for v in summaries.values()], fs, "bold", MONO))
    right_x = {"estimate": 0.0}
    x = est_w
    if post:
        post_w = max(text_width(post_head, fs, "bold"), widest([c["posterior"] for c in cells.values()],
                                                               small, family=MONO))
        right_x["posterior"] = x + COLUMN_GAP_IN
        x += COLUMN_GAP_IN + post_w
    if weights is not None:
        weight_w = max(text_width("Weight", fs, "bold"), widest([c["weight"] for c in cells.values()], small))
        right_x["weight"] = x + COLUMN_GAP_IN + weight_w
        x += COLUMN_GAP_IN + weight_w
    right_w = x

    # ---- figure: widths in inches; heights settled once the bottom texts are measured
    plot_w = PLOT_WIDTH_IN
    het_string = heterogeneity_text(data[(info == "complete").to_numpy()], fit)
    content_w = MARGIN_IN + left_w + AXES_GAP_IN + plot_w + AXES_GAP_IN + right_w + MARGIN_IN
    need_w = max(text_width(het_string, small) + 2 * MARGIN_IN,
                 (text_width(title, fs + 2.5, "bold") + 2 * MARGIN_IN) if title else 0.0)
    width = min(max(content_w, need_w), MAX_WIDTH_IN)
    plot_w += width - content_w
    title_h = (fs + 2.5) * 1.3 / 72 if title else 0.0
    top_in = MARGIN_IN + (title_h + 0.2 if title else 0.0)
    axes_h = (n_units + 1.2) * scale.row_height
    height = top_in + axes_h + 1.5  # provisional bottom; replaced below
    fig = plt.figure(figsize=(width, height))
    ax_left = fig.add_axes((0, 0, 1, 1))
    ax = fig.add_axes((0, 0, 1, 1), sharey=ax_left)
    ax_right = fig.add_axes((0, 0, 1, 1), sharey=ax_left)

    def place(bottom_in: float) -> None:
        h = top_in + axes_h + bottom_in
        fig.set_size_inches(width, h)
        x0 = MARGIN_IN
        for a, w in ((ax_left, left_w), (ax, plot_w), (ax_right, right_w)):
            a.set_position((x0 / width, bottom_in / h, w / width, axes_h / h))
            x0 += w + AXES_GAP_IN

    place(1.5)
    ax_left.set_xlim(0, max(left_w, 1e-6))
    ax_right.set_xlim(0, max(right_w, 1e-6))
    for a in (ax_left, ax_right):
        a.axis("off")
    ax.set_ylim(n_units - 0.2, -1.4)
    ax.tick_params(axis="y", left=False, labelleft=False)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)

    # ---- x range and scale
    values = [data["_low"], data["_high"], data["_est"]]
    values += [pd.Series([v for trip in post.values() for v in trip])]
    values += [pd.Series(partial_rows.bound_values(data, measure, nat), dtype=float)]
    values += [pd.Series([v for trip in summaries.values() for v in trip])]
    if reference is None:
        reference = default_reference(measure)
    if reference is not False and reference is not None:
        values.append(pd.Series([float(reference)]))
    if rope is not None:
        values.append(pd.Series([float(rope[0]), float(rope[1])]))
    allv = pd.concat(values, ignore_index=True).to_numpy(float)
    allv = allv[np.isfinite(allv) & ((allv > 0) if ratio else True)]
    lo, hi = (float(allv.min()), float(allv.max())) if allv.size else (0.5, 2.0)
    if ratio:
        ax.set_xscale("log")
        pad = (np.log(hi) - np.log(lo)) * 0.04 or 0.1
        ax.set_xlim(np.exp(np.log(lo) - pad), np.exp(np.log(hi) + pad))
        ticks = log_ticks(*ax.get_xlim())
        ax.set_xticks(ticks, [tick_label(t) for t in ticks])
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
    else:
        pad = (hi - lo) * 0.04 or 0.1
        ax.set_xlim(lo - pad, hi + pad)
    direction = effect_direction(measure, table_outcome(table)) if direction is None else direction
    ax.set_xlabel(axis_label(measure) + (f"\n{direction}" if direction else ""), fontsize=fs)
    ax.tick_params(axis="x", labelsize=small)

    if reference is not False and reference is not None:
        line = ax.axvline(float(reference), color="#555555", lw=0.8, ls="--", zorder=1)
        line.set_gid("reference")
    if rope is not None:
        span = ax.axvspan(float(rope[0]), float(rope[1]), color=ROPE_COLOR, alpha=0.18, lw=0, zorder=0)
        span.set_gid("rope")

    # ---- column headings
    head_y = -1.05
    bold = {"va": "center", "fontsize": fs, "fontweight": "bold"}
    ax_left.text(0.0, head_y, "Study", ha="left", **bold).set_gid("header:study")
    for head, key, align in left_columns:
        ax_left.text(left_x[key], head_y, head, ha=align, **bold).set_gid(f"header:{key}")
    ax_right.text(right_x["estimate"], head_y, est_head, ha="left", **bold).set_gid("header:estimate")
    if "posterior" in right_x:
        ax_right.text(right_x["posterior"], head_y, post_head, ha="left", color=POSTERIOR_COLOR,
                      **bold).set_gid("header:posterior")
    if "weight" in right_x:
        ax_right.text(right_x["weight"], head_y, "Weight", ha="right", **bold).set_gid("header:weight")

    # ---- precision -> marker area
    prec = 1.0 / data["vi"].to_numpy(float)
    prec = np.where(np.isfinite(prec), prec, np.nanmin(prec[np.isfinite(prec)]) if np.isfinite(prec).any() else 1)
    size_max = 110 * (fs / 9.0) ** 2
    sizes = 14 + size_max * np.sqrt(prec / prec.max())
    offset = 0.36

    for kind, ry, payload in rows:
        if kind == "heading":
            t = ax_left.text(0.0, ry, fit_text(payload, left_w, fs + 0.5, "bold"), ha="left", va="center",
                             fontsize=fs + 0.5, fontweight="bold")
            t.set_gid(f"heading:{payload}")
        elif kind == "study":
            row = data.loc[payload]
            key = row["_key"]
            cell = cells[payload]
            ax_left.text(indent, ry, cell["label"], ha="left", va="center", fontsize=fs).set_gid(f"label:{key}")
            for head, col, align in left_columns:
                t = ax_left.text(left_x[col], ry, cell[col], ha=align, va="center", fontsize=small,
                                 color="#444444" if col == "design" else "black")
                t.set_gid(f"{col}:{key}")
            est, low, high = row["_est"], row["_low"], row["_high"]
            if info[payload] != "complete":
                ref = float(reference) if reference is not None and reference is not False else None
                partial_rows.draw(ax, row, ry, key, nat, ref, 40 * (fs / 9.0) ** 2)
            else:
                (obs_line,) = ax.plot([low, high], [ry, ry], color=OBSERVED_COLOR, lw=1.1, zorder=3,
                                      solid_capstyle="butt")
                obs_line.set_gid(f"observed:{key}")
                pts = ax.scatter([est], [ry], s=[sizes[payload]], marker="s", color=OBSERVED_COLOR, zorder=4)
                pts.set_gid(f"observed_point:{key}")
            ax_right.text(right_x["estimate"], ry, cell["estimate"], ha="left", va="center", fontsize=fs,
                          family=MONO).set_gid(f"estimate:{key}")
            if weights is not None:
                ax_right.text(right_x["weight"], ry, cell["weight"], ha="right", va="center",
                              fontsize=small).set_gid(f"weight:{key}")
            if key in post:
                pm_, plo, phi = post[key]
                py = ry + offset
                (pl,) = ax.plot([plo, phi], [py, py], color=POSTERIOR_COLOR, lw=1.0, ls=(0, (3, 1.5)),
                                zorder=3)
                pl.set_gid(f"posterior:{key}")
                pp = ax.scatter([pm_], [py], s=18 * (fs / 9.0) ** 2, marker="o", facecolor="white",
                                edgecolor=POSTERIOR_COLOR, linewidths=1.0, zorder=4)
                pp.set_gid(f"posterior_point:{key}")
                # own column, on the study's row: beneath the estimate it would collide when rows are tight
                ax_right.text(right_x["posterior"], ry, cell["posterior"], ha="left", va="center",
                              fontsize=small, color=POSTERIOR_COLOR, family=MONO).set_gid(f"posterior_text:{key}")
        elif kind in ("disease", "overall"):
            key = f"disease:{payload}" if kind == "disease" else "overall"
            est, low, high = summaries[key]
            color = DISEASE_COLOR if kind == "disease" else OVERALL_COLOR
            _diamond(ax, est, low, high, ry, 0.32, color, f"diamond:{key}", lambda v: v)
            text, weight, style, x0 = summary_labels[key]
            ax_left.text(x0, ry, text, ha="left", va="center", fontsize=fs, fontweight=weight,
                         style=style).set_gid(f"summary_label:{key}")
            ax_right.text(right_x["estimate"], ry, fmt_interval(est, low, high), ha="left", va="center",
                          fontsize=fs, fontweight=weight, family=MONO).set_gid(f"summary:{key}")
        elif kind == "classical":
            est, low, high = summaries["classical"]
            _diamond(ax, est, low, high, ry, 0.32, CLASSICAL_COLOR, "diamond:classical", lambda v: v)
            text, weight, style, x0 = summary_labels["classical"]
            ax_left.text(x0, ry, text, ha="left", va="center", fontsize=fs, color=CLASSICAL_COLOR
                         ).set_gid("summary_label:classical")
            ax_right.text(right_x["estimate"], ry, fmt_interval(est, low, high), ha="left", va="center",
                          fontsize=fs, family=MONO, color=CLASSICAL_COLOR).set_gid("summary:classical")
        elif kind == "classical_pi":
            est, low, high = summaries["classical_pi"]
            (bar,) = ax.plot([low, high], [ry, ry], color=CLASSICAL_COLOR, lw=max(3.0, fs / 2.2), alpha=0.6,
                             solid_capstyle="butt", zorder=3)
            bar.set_gid("classical_predictive")
            text, weight, style, x0 = summary_labels["classical_pi"]
            ax_left.text(x0, ry, text, ha="left", va="center", fontsize=fs, color=CLASSICAL_COLOR
                         ).set_gid("summary_label:classical_pi")
            ax_right.text(right_x["estimate"], ry, fmt_interval(est, low, high), ha="left", va="center",
                          fontsize=fs, family=MONO, color=CLASSICAL_COLOR).set_gid("summary:classical_pi")
        elif kind == "predictive":
            est, low, high = summaries["predictive"]
            (bar,) = ax.plot([low, high], [ry, ry], color=PREDICTIVE_COLOR, lw=max(3.0, fs / 2.2),
                             alpha=0.75, solid_capstyle="butt", zorder=3)
            bar.set_gid("predictive")
            text, weight, style, x0 = summary_labels["predictive"]
            ax_left.text(x0, ry, text, ha="left", va="center", fontsize=fs).set_gid("summary_label:predictive")
            ax_right.text(right_x["estimate"], ry, fmt_interval(est, low, high), ha="left", va="center",
                          fontsize=fs, family=MONO).set_gid("summary:predictive")

    # ---- legend, heterogeneity, title
    handles = [Line2D([], [], color=OBSERVED_COLOR, marker="s", lw=1.1, label="observed effect, 95% CI")]
    if post:
        handles.append(Line2D([], [], color=POSTERIOR_COLOR, marker="o", markerfacecolor="white", lw=1.0,
                              ls=(0, (3, 1.5)), label=f"posterior study effect, {level_pct} CrI"))
    handles += partial_rows.legend_handles(set(info) - {"complete"})
    if mu_disease:
        handles.append(Patch(color=DISEASE_COLOR, label="disease mean"))
    bayes = " (Bayesian)" if has_classical else ""
    if has_overall:
        handles.append(Patch(color=OVERALL_COLOR, label=f"pooled mean{bayes}"))
    if has_pred:
        handles.append(Line2D([], [], color=PREDICTIVE_COLOR, lw=4, alpha=0.75,
                              label=f"{level_pct} predictive interval{bayes}"))
    if has_classical:
        method_test = summary_labels["classical"][0].removeprefix("Classical: ")
        handles.append(Patch(color=CLASSICAL_COLOR,
                             label=f"classical pooled mean, {method_test} {100 * classical.level:g}% CI"))
    if has_classical_pi:
        handles.append(Line2D([], [], color=CLASSICAL_COLOR, lw=4, alpha=0.6,
                              label="classical prediction interval"))
    if rope is not None:
        handles.append(Patch(color=ROPE_COLOR, alpha=0.3, label="region of practical equivalence"))
    # positions in figure fractions, set once the height is final (dpi_scale_trans would not follow
    # the origin shift of savefig(bbox_inches="tight") and text would be cut off)
    het = fig.text(MARGIN_IN / width, 0.0, het_string, ha="left", va="top", fontsize=small)
    het.set_gid("heterogeneity")
    renderer = _renderer_of(fig)
    ncol = min(len(handles), 3)
    while True:
        legend = fig.legend(handles=handles, loc="upper center", ncol=ncol, fontsize=small, frameon=False,
                            borderaxespad=0.0, bbox_to_anchor=(0.5, 0.0))
        legend_box = legend.get_window_extent(renderer)
        if ncol == 1 or legend_box.width / fig.dpi <= width - 2 * MARGIN_IN:
            break
        legend.remove()
        ncol -= 1
    legend.set_gid("legend")

    # stack beneath the plot axes, top to bottom: x axis (ticks + label), heterogeneity line, legend
    axis_depth = (ax.get_window_extent(renderer).y0 - ax.xaxis.get_tightbbox(renderer).y0) / fig.dpi
    het_h = het.get_window_extent(renderer).height / fig.dpi
    legend_h = legend_box.height / fig.dpi
    het_top = legend_h + BOTTOM_GAP_IN + het_h + MARGIN_IN
    place(het_top + BOTTOM_GAP_IN + axis_depth)
    total_h = fig.get_figheight()
    het.set_y(het_top / total_h)
    legend.set_bbox_to_anchor((0.5, (het_top - het_h - BOTTOM_GAP_IN) / total_h), transform=fig.transFigure)
    if title:
        t = fig.text(MARGIN_IN / width, 1 - MARGIN_IN / total_h,
                     fit_text(title, width - 2 * MARGIN_IN, fs + 2.5, "bold"),
                     ha="left", va="top", fontsize=fs + 2.5, fontweight="bold")
        t.set_gid("title")
    fig.forest_rows = [(kind, ry, payload if kind != "study" else data.loc[payload, "_key"])  # type: ignore[attr-defined]
                       for kind, ry, payload in rows]
    return mark_sized_to_fit(fig)


def _renderer_of(fig: Figure):
    """The figure's renderer (Agg canvases have one; others are asked through matplotlib)."""
    get = getattr(fig.canvas, "get_renderer", None)
    return get() if get is not None else fig._get_renderer()  # noqa: SLF001 - no public equivalent
