"""The package's pooled adverse-event rates beside published meta-analyses (``published_comparison.csv``).

Which published rows are compared with which registry outcome is fixed in :data:`COMPARISONS`.
The rows come from ``data/meta_analyses.csv`` (never pooled, cross-checks only). Autoimmun Rev 2023
(AutoimmunRev2023_Treg) names the adverse-event rate as an aim, but its pooled rate is not in the
sources the registry holds (its row's note says so): the comparison row is kept, with the published
value blank and the reason, rather than a number from elsewhere.

Each row explains the difference in generated text under three heads: the studies (k and patients
pooled; the published inclusion rules), the exposure (crude percentages over each study's own
follow-up against the package's exposure model), and the model (crude or unstated pooling against a
random-effects binomial model with arms nested in studies). The crude proportion of the package's
own studies (sum of events / sum of patients) is given as the like-for-like figure.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_il2.safety.statements import SHORT, exposure_statement, pooled_rate_row
from bayes_il2._cells import cell_number as _num

AUTOIMMUN_REV_2023 = "AutoimmunRev2023_Treg"


@dataclass(frozen=True)
class Comparison:
    """One published AE figure and the registry outcome it is set against."""

    ma_id: str  # a meta_analyses.csv ma_id, or AUTOIMMUN_REV_2023 for its (unreported) AE rate
    outcome: str
    scope: str  # what the published analysis pooled, in words


COMPARISONS = (
    Comparison(AUTOIMMUN_REV_2023, "any_ae",
               "rheumatic diseases, before vs after LD-IL-2 (18 studies, 1608 patients in its Treg analysis)"),
    Comparison("Su2024_IID_SLE.isr", "injection_site_reaction", "SLE trials (8 in total)"),
    Comparison("Su2024_IID_SLE.fever", "fever", "SLE trials (8 in total)"),
    Comparison("T1D_TregTherapy_MA_preprint.sae", "serious_ae", "type 1 diabetes, mixed Treg-directed therapies"),
)

COLUMNS = ["published_id", "published_source", "published_outcome", "published_measure", "published_value",
           "published_ci_low", "published_ci_high", "published_k", "published_n", "published_scope",
           "package_outcome", "package_quantity", "package_median", "package_low", "package_high",
           "package_risk_median", "package_risk_low", "package_risk_high", "package_crude_proportion",
           "package_k_studies", "package_k_arms", "package_n", "package_window_weeks", "package_studies",
           "package_diseases", "exposure_model", "exposure_short", "explanation"]


def _published(meta: pd.DataFrame, comparison: Comparison) -> dict:
    if comparison.ma_id == AUTOIMMUN_REV_2023:
        rows = meta[meta["ma_id"].astype(str).str.startswith(AUTOIMMUN_REV_2023)]
        source = str(rows["source_id"].iloc[0]) if len(rows) else AUTOIMMUN_REV_2023
        return {"published_id": f"{AUTOIMMUN_REV_2023}.ae_rate", "published_source": source,
                "published_outcome": "adverse-event rate before/after LD-IL-2 (named as an aim)",
                "published_measure": "not reported in the available sources", "published_value": math.nan,
                "published_ci_low": math.nan, "published_ci_high": math.nan, "published_k": math.nan,
                "published_n": math.nan, "available": False,
                "published_note": "the abstract names the AE rate as an aim but gives no pooled rate; the "
                                  "full text is needed (meta_analyses.csv note of the Treg row)"}
    rows = meta[meta["ma_id"].astype(str) == comparison.ma_id]
    if rows.empty:
        return {"published_id": comparison.ma_id, "published_source": "", "published_outcome": "",
                "published_measure": "row not in meta_analyses.csv", "published_value": math.nan,
                "published_ci_low": math.nan, "published_ci_high": math.nan, "published_k": math.nan,
                "published_n": math.nan, "available": False, "published_note": "row missing from the registry"}
    row = rows.iloc[0]
    measure = str(row["measure"])
    percent = "%" in measure
    scale = 0.01 if percent else 1.0  # a printed percentage as a proportion (unit change, not an estimate)
    return {"published_id": comparison.ma_id, "published_source": str(row["source_id"]),
            "published_outcome": str(row["outcome"]), "published_measure": measure,
            "percent": percent,
            "published_value": _num(row["estimate"]) * scale, "published_ci_low": _num(row["ci_low"]) * scale,
            "published_ci_high": _num(row["ci_high"]) * scale, "published_k": _num(row["k"]),
            "published_n": _num(row["n"]), "available": np.isfinite(_num(row["estimate"])),
            "published_note": str(row.get("note", "") or "")}


def _package(outcome: str, result: tuple | None) -> dict:
    empty = {"package_quantity": "", "package_median": math.nan, "package_low": math.nan, "package_high": math.nan,
             "package_risk_median": math.nan, "package_risk_low": math.nan, "package_risk_high": math.nan,
             "package_crude_proportion": math.nan, "package_k_studies": 0, "package_k_arms": 0, "package_n": 0,
             "package_window_weeks": "", "package_studies": "", "package_diseases": "",
             "exposure_model": "", "exposure_short": ""}
    if result is None:
        return {**empty, "package_quantity": f"outcome {outcome} not fitted by this analysis"}
    summary, effects, settings = result
    out = dict(empty)
    if settings:
        out["exposure_model"] = exposure_statement(settings.get("exposure", "none"))
        out["exposure_short"] = SHORT[settings.get("exposure", "none")]
    pooled = pooled_rate_row(summary) if summary is not None else None
    if pooled is not None:
        out.update(package_quantity=pooled["quantity"], package_median=pooled["median"],
                   package_low=pooled["low"], package_high=pooled["high"])
        if "risk_median" in pooled:
            weeks = settings.get("reference_weeks", 12.0)
            out["package_quantity"] += f"; risk over {weeks:g} weeks"
            out.update(package_risk_median=pooled["risk_median"], package_risk_low=pooled["risk_low"],
                       package_risk_high=pooled["risk_high"])
    elif effects is None or not len(effects):
        out["package_quantity"] = "no usable registry data"
    if effects is not None and len(effects):
        events, n = effects["events"].astype(float), effects["n"].astype(float)
        out["package_crude_proportion"] = float(events.sum() / n.sum())
        out["package_n"] = int(n.sum())
        out["package_k_studies"] = int(effects["study_id"].nunique())
        out["package_k_arms"] = int(len(effects))
        out["package_studies"] = "; ".join(dict.fromkeys(effects["study_id"].astype(str)))
        out["package_diseases"] = ", ".join(sorted(set(effects["disease"].astype(str)))) if "disease" in effects else ""
        if "exposure_weeks" in effects:
            w = effects["exposure_weeks"].astype(float)
            out["package_window_weeks"] = f"{w.min():g}-{w.max():g}" if w.min() != w.max() else f"{w.min():g}"
        elif "week_end" in effects:
            w = (effects["week_end"] - effects.get("week_start", 0)).astype(float).dropna()
            out["package_window_weeks"] = (f"{w.min():g}-{w.max():g} (rows without a window: "
                                           f"{int(effects['week_end'].isna().sum())})") if len(w) else "not recorded"
    return out


def _explain(pub: dict, pkg: dict, scope: str) -> str:
    """The generated explanation of one comparison: studies, exposure, model."""
    parts = []
    if not pub["available"]:
        parts.append(f"No published number to compare: {pub['published_note']}.")
    k_pub = f"k = {pub['published_k']:g}" if np.isfinite(pub["published_k"]) else "k not reported"
    n_pub = f", {pub['published_n']:g} patients" if np.isfinite(pub["published_n"]) else ""
    def plural(k: int, word: str) -> str:
        return f"{k} {word}" + ("" if k == 1 else "s")

    k_pkg = (f"{plural(pkg['package_k_studies'], 'study').replace('studys', 'studies')} "
             f"({plural(pkg['package_k_arms'], 'arm')}, {plural(pkg['package_n'], 'patient')}; "
             f"{pkg['package_diseases']}: {pkg['package_studies']})" if pkg["package_k_studies"]
             else "no registry study with usable data")
    parts.append(f"Studies: the publication pooled {scope} ({k_pub}{n_pub}); the package pools {k_pkg}, "
                 "only studies with pool = yes, arms of one trial nested in it.")
    if pkg["exposure_short"]:
        window = pkg["package_window_weeks"] or "not recorded"
        parts.append(f"Exposure: the published figure is a proportion over each study's own follow-up; the "
                     f"package pools {pkg['exposure_short']}, windows {window} weeks.")
    fitted = np.isfinite(pkg["package_median"])
    model = ("a random-effects binomial model (exact likelihood, no continuity correction)" if fitted
             else "no model (no usable data)")
    crude = pkg["package_crude_proportion"]
    crude_text = f"; the crude proportion in the package's own studies is {crude:.1%}" if np.isfinite(crude) else ""
    published_model = (f"published as '{pub['published_measure']}'"
                       + (" (shown here as a proportion)" if pub.get("percent") else "")
                       + ", pooling method not stated in the available sources" if pub["available"]
                       else "the publication's model is not reported in the available sources")
    parts.append(f"Model: {published_model}; the package fits {model}{crude_text}.")
    if pub["available"] and np.isfinite(crude):
        diff = crude - pub["published_value"]
        parts.append(f"Crude difference (package minus published): {diff:+.1%} (percentage points).")
    return " ".join(parts)


def published_comparison(meta_analyses: pd.DataFrame, results: Mapping[str, tuple]) -> pd.DataFrame:
    """Published AE figures beside the package's pooled rates, with the explanation of each difference.

    Parameters
    ----------
    meta_analyses : DataFrame
        ``registry.meta_analyses``.
    results : mapping outcome -> (summary, effects, settings)
        The single-arm AE fits of the analysis (summary on the natural scale, the effect table that
        was fitted, and ``fit.settings``).

    Returns
    -------
    DataFrame
        One row per entry of :data:`COMPARISONS`, columns :data:`COLUMNS`.
    """
    rows = []
    for comparison in COMPARISONS:
        pub = _published(meta_analyses, comparison)
        pkg = _package(comparison.outcome, results.get(comparison.outcome))
        row = {k: v for k, v in pub.items() if k in COLUMNS}
        row.update(published_scope=comparison.scope, package_outcome=comparison.outcome, **pkg,
                   explanation=_explain(pub, pkg, comparison.scope))
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def published_explanations(table: pd.DataFrame) -> list[str]:
    """One sentence block per comparison (for run.json notes and the report)."""
    return [f"{r.published_id} vs {r.package_outcome}: {r.explanation}" for r in table.itertuples(index=False)]
