"""How the forest plot draws partially reported rows (the ``info`` column of a partial-information
effect table, :mod:`bayes_il2.effects.partial`).

- ``bound``: a one-sided bar from the printed bound, with an arrow towards the open side;
- ``pvalue``: the effect is not located, only its side: a hollow circle on the no-effect line with
  a dotted arrow towards the side the test found (an unknown direction gets no arrow);
- ``no_spread`` / ``approximate``: a hollow square (``approximate``: a hollow triangle) at the
  printed value, without an interval;
- ``aggregate``: a published pooled estimate, an open diamond over its CI when it is on the plot's
  scale; on another scale (an SMD on a ratio axis) nothing is drawn and the text says so.

The label column names the kind of information in words (:data:`KIND_WORDS`) and the estimate column
shows the row's ``info_text`` (what the source printed). Every element has a ``gid``
``<info>:<study key>``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon

PARTIAL_COLOR = "#7b3f9e"
KIND_WORDS = {"bound": "bound only", "pvalue": "P value only", "no_spread": "no spread",
              "approximate": "approximate", "aggregate": "published pooled"}


def info_of(data: pd.DataFrame) -> pd.Series:
    """The kind of information of each row ('complete' where the table has no ``info`` column)."""
    if "info" not in data.columns:
        return pd.Series("complete", index=data.index)
    return data["info"].fillna("complete").astype(str)


def on_axis(data: pd.DataFrame, measure: str | None) -> pd.Series:
    """Rows whose yi can be placed on the plot's axis (same scale as the measure)."""
    if "scale" not in data.columns or measure is None:
        return pd.Series(True, index=data.index)
    scale = data["scale"].fillna("").astype(str)
    return (scale == "") | (scale == str(measure))


def blank_undrawable(data: pd.DataFrame, measure: str | None) -> None:
    """Hide the observed CI of partial rows (NaN ``_est/_low/_high`` where nothing is located)."""
    info = info_of(data)
    placed = on_axis(data, measure)
    point_only = info.isin(("no_spread", "approximate"))
    data.loc[point_only | ~placed | info.isin(("bound", "pvalue")), ["_low", "_high"]] = np.nan
    data.loc[~placed | info.isin(("bound", "pvalue")), "_est"] = np.nan


def bound_values(data: pd.DataFrame, measure: str | None, nat) -> list[float]:
    """The printed bounds on the natural scale (they belong in the x range)."""
    info = info_of(data)
    rows = data[(info == "bound") & on_axis(data, measure)]
    out = []
    for column in ("y_low", "y_high"):
        if column in rows:
            v = pd.to_numeric(rows[column], errors="coerce").to_numpy(float)
            out += [float(x) for x in nat(v[np.isfinite(v)])]
    return out


def label_suffix(info: str, assumed: bool = False) -> str:
    """The kind of information in words, appended to the study label ('' for complete rows)."""
    if info == "complete":
        return ""
    words = "qualitative, assumed P < 0.05" if info == "pvalue" and assumed else KIND_WORDS.get(info, info)
    return f" [{words}]"


def estimate_text(row: pd.Series, measure: str | None, default: str) -> str:
    info = str(row.get("info", "complete"))
    if info == "complete":
        return default
    text = str(row.get("info_text", "") or KIND_WORDS.get(info, info))
    if info == "aggregate":
        scale = str(row.get("scale", "") or "")
        if scale and measure and scale != measure:
            yi, vi = float(row.get("yi", np.nan)), float(row.get("vi", np.nan))
            se = np.sqrt(vi) if np.isfinite(vi) else np.nan
            return f"{scale} {yi:.2f} [{yi - 1.959964 * se:.2f}, {yi + 1.959964 * se:.2f}] (other scale)"
    return text.split("; ")[0] if info == "aggregate" else text


def draw(ax, row: pd.Series, y: float, key: str, nat, reference: float | None, size: float) -> None:
    """Draw one partially reported row at height ``y`` (the axis limits must be final)."""
    info = str(row.get("info", "complete"))
    left, right = ax.get_xlim()
    if info == "bound":
        low, high = float(row.get("y_low", np.nan)), float(row.get("y_high", np.nan))
        if np.isfinite(low):
            start, end, head = float(nat(low)), right, "->"
        elif np.isfinite(high):
            start, end, head = float(nat(high)), left, "->"
        else:
            return
        arrow = ax.annotate("", xy=(end, y), xytext=(start, y), zorder=4,
                            arrowprops={"arrowstyle": head, "color": PARTIAL_COLOR, "lw": 1.3})
        arrow.set_gid(f"bound:{key}")
        tick = ax.plot([start, start], [y - 0.22, y + 0.22], color=PARTIAL_COLOR, lw=1.3, zorder=4)[0]
        tick.set_gid(f"bound_start:{key}")
    elif info == "pvalue":
        x0 = reference if reference is not None and np.isfinite(reference) else (left + right) / 2
        marker = ax.scatter([x0], [y], s=size, marker="o", facecolor="white", edgecolor=PARTIAL_COLOR,
                            linewidths=1.2, zorder=5)
        marker.set_gid(f"pvalue:{key}")
        direction = float(row.get("direction", 0) or 0)
        if direction != 0 and np.isfinite(direction):
            end = right if direction > 0 else left
            arrow = ax.annotate("", xy=(end, y), xytext=(x0, y), zorder=4,
                                arrowprops={"arrowstyle": "->", "color": PARTIAL_COLOR, "lw": 1.0, "ls": ":"})
            arrow.set_gid(f"pvalue_side:{key}")
    elif info in ("no_spread", "approximate"):
        est = row.get("_est", np.nan)
        if not np.isfinite(est):
            return
        marker = ax.scatter([est], [y], s=size, marker="s" if info == "no_spread" else "^", facecolor="white",
                            edgecolor=PARTIAL_COLOR, linewidths=1.3, zorder=5)
        marker.set_gid(f"{info}:{key}")
    elif info == "aggregate":
        est, low, high = row.get("_est", np.nan), row.get("_low", np.nan), row.get("_high", np.nan)
        if not np.isfinite(est):
            return
        if not (np.isfinite(low) and np.isfinite(high)):
            low = high = est
        patch = Polygon(np.column_stack([[low, est, high, est], [y, y - 0.25, y, y + 0.25]]), closed=True,
                        facecolor="white", edgecolor=PARTIAL_COLOR, lw=1.3, zorder=4)
        patch.set_gid(f"aggregate:{key}")
        ax.add_patch(patch)


def legend_handles(kinds: set[str]) -> list:
    """Legend entries for the kinds of partial information present."""
    handles = []
    if "bound" in kinds:
        handles.append(Line2D([], [], color=PARTIAL_COLOR, lw=1.3, marker=">", label="bound only (one-sided)"))
    if "pvalue" in kinds:
        handles.append(Line2D([], [], color=PARTIAL_COLOR, lw=1.0, ls=":", marker="o", markerfacecolor="white",
                              label="P value only: side of no effect"))
    if "no_spread" in kinds:
        handles.append(Line2D([], [], color=PARTIAL_COLOR, lw=0, marker="s", markerfacecolor="white",
                              label="printed value without spread"))
    if "approximate" in kinds:
        handles.append(Line2D([], [], color=PARTIAL_COLOR, lw=0, marker="^", markerfacecolor="white",
                              label="approximate value ('about x')"))
    if "aggregate" in kinds:
        handles.append(Line2D([], [], color=PARTIAL_COLOR, lw=1.1, marker="D", markerfacecolor="white",
                              label="published pooled estimate"))
    return handles
