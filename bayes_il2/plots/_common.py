"""Shared helpers of the figure modules: scales, draws, study keys, tick choice, text fitting.

Nothing here draws; the figure modules do. Plots read a fitted model and never refit.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from bayes_il2.effects.measures import LOG_MEASURES  # drawn on a log axis in natural units
from bayes_il2.errors import ModelError

#: Measures whose model scale is the logit of a proportion.
LOGIT_MEASURES = frozenset({"PLO"})

MEASURE_NAMES = {
    "OR": "odds ratio", "RR": "risk ratio", "HR": "hazard ratio", "RD": "risk difference",
    "PLO": "proportion", "PR": "proportion", "PAS": "proportion (arcsine)", "IRLN": "rate per patient-year",
    "MD": "mean difference", "SMD": "standardized mean difference", "ROM": "ratio of means",
    "MC": "mean change", "SMCR": "standardized mean change (raw SD)",
    "SMCC": "standardized mean change (change SD)", "ROMC": "ratio of means (post / pre)",
    "GEN": "effect as given (yi)",
}


def is_ratio(measure: str | None) -> bool:
    """True when the measure is a log ratio (OR, RR, HR, ROM, ROMC)."""
    return measure in LOG_MEASURES


def to_natural(measure: str | None) -> Callable[[Any], Any]:
    """Model scale -> natural scale (exp for log ratios, expit for PLO, identity otherwise).

    :func:`bayes_il2.effects.natural_scale`, with ``None`` (measure unknown) as identity.
    """
    if measure is None:
        return lambda x: x
    from bayes_il2.effects import natural_scale

    return natural_scale(measure)


def axis_label(measure: str | None) -> str:
    """x-axis label naming the measure on its natural scale."""
    if measure is None:
        return "effect"
    if measure == "GEN":
        return MEASURE_NAMES["GEN"]
    name = MEASURE_NAMES.get(measure, measure)
    return f"{name} ({measure}{', log axis' if is_ratio(measure) else ''})"


def default_reference(measure: str | None) -> float | None:
    """No-effect value on the natural scale (1 for ratios, 0 for differences, none for rates)."""
    if measure == "IRLN":  # a rate, not a ratio: no reference value
        return None
    if measure in LOG_MEASURES:
        return 1.0
    if measure in LOGIT_MEASURES or measure in ("PR", "PAS"):
        return None
    return 0.0


def flat(da: Any) -> np.ndarray:
    """Draws of a scalar variable as one flat array (chain and draw pooled)."""
    return np.asarray(da, dtype=float).reshape(-1)


def posterior_vars(fit: Any) -> set[str]:
    """Names of the posterior variables of a fit (empty set when there is none)."""
    if fit is None:
        return set()
    try:
        return set(fit.idata["posterior"].data_vars)
    except (KeyError, AttributeError):
        return set()


def draws_of(fit: Any, name: str) -> np.ndarray:
    """Flat draws of a scalar posterior variable."""
    return flat(fit.idata["posterior"][name])


def draws_by(fit: Any, name: str, dim: str) -> dict[str, np.ndarray]:
    """Flat draws of a vector posterior variable, keyed by its coordinate along ``dim``."""
    da = fit.idata["posterior"][name]
    out = {}
    for value in da[dim].values:
        out[str(value)] = flat(da.sel({dim: value}))
    return out


def study_keys(table: pd.DataFrame) -> list[str]:
    """The ``study_id`` coordinate a fit uses for each row (``study_id:arm_id`` where a study repeats).

    Mirrors ``bayes_il2.modeling._common.study_labels`` without importing PyMC.
    """
    ids = table["study_id"].astype(str)
    if ids.duplicated().any() and "arm_id" in table.columns:
        dup = ids.duplicated(keep=False)
        ids = ids.where(~dup, ids + ":" + table["arm_id"].astype(str))
    return ids.tolist()


def interval(x: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Median and equal-tailed ``level`` interval of draws."""
    alpha = (1.0 - level) / 2.0
    low, med, high = np.quantile(x, [alpha, 0.5, 1.0 - alpha])
    return float(med), float(low), float(high)


def typical_within_variance(vi: np.ndarray) -> float:
    """The 'typical' within-study variance of Higgins & Thompson (2002), used for I^2.

    s^2 = (k - 1) sum(w) / ((sum w)^2 - sum(w^2)), w = 1 / v_i.
    Higgins JPT, Thompson SG. Quantifying heterogeneity in a meta-analysis. Stat Med 2002;21:1539-58.
    """
    w = 1.0 / np.asarray(vi, dtype=float)
    k = w.size
    denom = w.sum() ** 2 - (w ** 2).sum()
    if k < 2 or denom <= 0:
        return float(np.mean(vi))
    return float((k - 1) * w.sum() / denom)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def truncate(text: Any, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in an ellipsis when cut."""
    s = "" if _missing(text) else str(text)
    s = " ".join(s.split())
    return s if len(s) <= width else s[: max(width - 1, 1)].rstrip() + "\u2026"


def fmt_num(x: float, digits: int = 2) -> str:
    """A number with ``digits`` decimals (3 significant figures for very small or large ones)."""
    if x is None or not np.isfinite(x):
        return "NA"
    ax = abs(x)
    if ax >= 1e4:
        return f"{x:.3g}"
    if ax != 0 and ax < 10 ** -digits:
        return f"{x:.2g}"
    if ax != 0 and ax < 10 ** (1 - digits):  # e.g. 0.013 keeps two significant digits
        return f"{x:.{digits + 1}f}"
    return f"{x:.{digits}f}"


def fmt_interval(est: float, low: float, high: float, digits: int = 2) -> str:
    """``est [low, high]``."""
    return f"{fmt_num(est, digits)} [{fmt_num(low, digits)}, {fmt_num(high, digits)}]"


def log_ticks(low: float, high: float) -> list[float]:
    """Readable tick positions in natural units for a log axis spanning [low, high]."""
    if not (np.isfinite(low) and np.isfinite(high)) or low <= 0 or high <= low:
        return [1.0]
    steps = ((1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0),
             (1.0, 2.0, 5.0), (1.0, 3.0), (1.0,))
    ticks: list[float] = []
    for step in steps:  # the finest set of mantissas that gives at most 8 ticks
        ticks = []
        for e in range(int(np.floor(np.log10(low))) - 1, int(np.ceil(np.log10(high))) + 2):
            for m in step:
                t = float(f"{m * 10.0 ** e:.6g}")
                if low <= t <= high:
                    ticks.append(t)
        if len(ticks) <= 8:
            break
    if len(ticks) > 8:  # very wide ranges: every n-th decade
        ticks = ticks[:: int(np.ceil(len(ticks) / 8))]
    return ticks or [float(np.sqrt(low * high))]


def tick_label(x: float) -> str:
    """Natural-unit tick label without trailing zeros (0.25, 1, 4, 100)."""
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:.3g}"


def require_columns(table: pd.DataFrame, columns: list[str], what: str) -> None:
    """Raise ModelError naming the columns a figure needs and the table lacks."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ModelError(f"{what}: the table lacks column(s) {', '.join(missing)}; "
                         f"it has {', '.join(map(str, table.columns))}")
