"""The classical results of an outcome (``classical.csv``) rendered beside the Bayesian summary, with the
one-sentence comparison of :func:`bayes_il2.classical.compare.explain_difference` (generated there, only
shown here)."""
from __future__ import annotations

from html import escape
from typing import Any

import numpy as np
import pandas as pd

from bayes_il2.classical.compare import explain_difference

COLUMNS = [("model", "Method"), ("k", "k"), ("est", "Estimate"), ("ci", "95% CI"), ("pi", "95% prediction"),
           ("p", "p"), ("tau2", "tau²"), ("tau2_ci", "tau² 95% CI (Q-profile)"), ("i2", "I² %"),
           ("q", "Q (df, p)"), ("svalue", "S-value (estimate; CI)"), ("note", "Note")]


def _f(x: Any, digits: int = 3) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    if not np.isfinite(v):
        return ""
    return f"{v:.{digits}g}" if abs(v) < 1e4 else f"{v:.0f}"


def _sv(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    if np.isnan(v):
        return ""
    return "not possible" if np.isinf(v) else f"{v:.3g}"


def classical_section(classical: pd.DataFrame | None, summary: pd.DataFrame | None, measure: str | None,
                      family: str | None = None) -> str:
    """HTML: the comparison sentence, then one row per classical method (natural scale)."""
    from bayes_il2.report.render import html_table

    if classical is None or len(classical) == 0 or "model" not in classical.columns:
        return ""
    sentence = explain_difference(classical, summary if summary is not None else pd.DataFrame(), measure, family)
    table = classical.copy()
    nat = "_natural" if "estimate_natural" in table.columns else ""

    def col(name: str) -> pd.Series:
        return table.get(f"{name}{nat}", table.get(name, pd.Series([np.nan] * len(table))))

    blank = pd.Series([np.nan] * len(table), index=table.index)
    table["est"] = [_f(x) for x in col("estimate")]
    table["ci"] = [f"[{_f(lo)}, {_f(hi)}]" if _f(lo) else "" for lo, hi in zip(col("ci_low"), col("ci_high"))]
    table["pi"] = [f"[{_f(lo)}, {_f(hi)}]" if _f(lo) else "" for lo, hi in zip(col("pi_low"), col("pi_high"))]
    table["tau2_ci"] = [f"[{_f(lo)}, {_f(hi)}]" if _f(lo) else "" for lo, hi in
                        zip(table.get("tau2_ci_low", blank), table.get("tau2_ci_high", blank))]
    table["q"] = [f"{_f(q, 4)} ({_f(df)}, {_f(p, 2)})" if _f(q) else "" for q, df, p in
                  zip(table.get("q", blank), table.get("q_df", blank), table.get("q_p", blank))]
    table["svalue"] = [f"{_sv(a)}; {_sv(b)}" if _sv(a) else "" for a, b in
                       zip(table.get("svalue_est", blank), table.get("svalue_ci", blank))]
    for name in ("p", "tau2", "i2"):
        table[name] = [_f(x) for x in table.get(name, blank)]

    def cell(c: str, value: Any, row: pd.Series) -> str | None:
        return escape(str(value)) if c != "note" and isinstance(value, str) else None

    scale = f"natural scale of {escape(str(measure))}" if measure else "natural scale"
    head = (f'<p class="classical-sentence"><b>Classical vs Bayesian:</b> {escape(sentence)}</p>' if sentence else "")
    return (head + f'<p class="muted">Frequentist meta-analysis of the same table ({scale}; tau² on the model '
            "scale). REML + HKSJ: Hartung-Knapp-Sidik-Jonkman t interval; prediction interval with t on k−2 df "
            "(Higgins, Thompson &amp; Spiegelhalter 2009). S-value: how many times more likely a significant study "
            "would have to be published than the others for selection to move the estimate (its CI limit) to "
            "the null (Mathur &amp; VanderWeele 2020).</p>" + html_table(table, COLUMNS, cell=cell))
