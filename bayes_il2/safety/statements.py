"""The exposure model of each adverse-event analysis, in words, and the headline it implies.

Every AE analysis states how it treats the time at risk (its summary.csv column
``exposure_model``, its run.json ``exposure_model`` and the report):

- single-arm rates, ``exposure = "cloglog"``: first events per patient-year under a constant hazard;
- single-arm rates, ``exposure = "none"``: the proportion of patients with >= 1 event over each
  study's own window, windows of any length pooled as if equal;
- two-arm contrasts: the odds ratio of patients with >= 1 event within each trial's own window
  (both arms of a trial share it; trials with different windows are pooled on the odds-ratio scale).
"""
from __future__ import annotations

import math

import pandas as pd

from bayes_il2.effects.exposure import STATEMENT as CLOGLOG_STATEMENT

NONE_STATEMENT = ("proportion of patients with at least one event over each study's own observation window "
                  "(no exposure model: windows of different length are pooled as if equal)")
CONTRAST_STATEMENT = ("odds ratio of patients with at least one event, LD-IL-2 vs control, each trial over its own "
                      "window (both arms share it); no exposure model across trials")


SHORT = {"cloglog": "rates per patient-year under a constant hazard (cloglog link with a log-exposure offset)",
         "none": "proportions over each study's own window (no exposure model)"}


def exposure_statement(exposure: str) -> str:
    """The exposure model of a single-arm rate analysis in words (``none`` or ``cloglog``)."""
    return CLOGLOG_STATEMENT if exposure == "cloglog" else NONE_STATEMENT


def _row(summary: pd.DataFrame, name: str) -> pd.Series | None:
    if summary is None or "parameter" not in summary.columns:
        return None
    rows = summary[summary["parameter"] == name]
    return rows.iloc[0] if len(rows) else None


def _interval(row: pd.Series) -> tuple[float, float, float]:
    low = row.get("eti_low", row.get("q2.5", math.nan))
    high = row.get("eti_high", row.get("q97.5", math.nan))
    return float(row["median"]), float(low), float(high)


def pooled_rate_row(summary: pd.DataFrame) -> dict[str, float] | None:
    """The pooled quantity of a single-arm fit on the natural scale: rate and risk (cloglog) or proportion.

    Returns keys ``quantity`` and ``median, low, high`` (and ``risk_*`` for cloglog fits), or None.
    """
    rate = _row(summary, "rate_pooled")
    if rate is not None:
        m, lo, hi = _interval(rate)
        out = {"quantity": "rate per patient-year", "median": m, "low": lo, "high": hi}
        risk = _row(summary, "risk_pooled")
        if risk is not None:
            out["risk_median"], out["risk_low"], out["risk_high"] = _interval(risk)
        return out
    p = _row(summary, "p_pooled")
    if p is not None:
        m, lo, hi = _interval(p)
        return {"quantity": "proportion", "median": m, "low": lo, "high": hi}
    return None


def exposure_headline(summary: pd.DataFrame, settings: dict, k_text: str = "") -> str:
    """Headline of a cloglog fit: rate per patient-year and risk over the reference window (95% CrI)."""
    row = pooled_rate_row(summary)
    if row is None or "risk_median" not in row:
        return ""
    weeks = settings.get("reference_weeks", 12.0)
    text = (f"rate {row['median']:.3g} per patient-year [95% CrI {row['low']:.3g}, {row['high']:.3g}]; "
            f"risk over {weeks:g} weeks {row['risk_median']:.1%} [{row['risk_low']:.1%}, {row['risk_high']:.1%}]"
            " (constant-hazard exposure model)")
    return f"{text}{'; ' + k_text if k_text else ''}"


def k_text(settings: dict) -> str:
    """'k = 5 studies (6 arms)' from a single-arm fit's settings ('' when absent)."""
    studies, arms = settings.get("k_studies"), settings.get("k_arms")
    if studies is None:
        return ""
    arms_text = f" ({arms} arms)" if arms and arms != studies else ""
    return f"k = {studies} stud{'y' if studies == 1 else 'ies'}{arms_text}"
