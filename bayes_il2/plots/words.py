"""Outcome codes in words and the heading of a figure: text only, without matplotlib (the report
imports it too, and an exact ``fit`` writes its page without importing matplotlib)."""
from __future__ import annotations

OUTCOME_WORDS = {
    "treg_pct_cd4": "Tregs (% of CD4+ T cells)", "treg_count_ul": "Treg count (cells/µL)",
    "treg_count": "Treg count", "treg_fold": "Treg fold change", "any_ae": "any adverse event",
    "serious_ae": "serious adverse events", "severe_ae": "severe adverse events", "infection": "infections",
    "serious_infection": "serious infections", "injection_site_reaction": "injection-site reactions",
    "fever": "fever", "flu_like": "flu-like symptoms", "ae_withdrawal": "withdrawal for adverse events",
    "death": "deaths",
}


def outcome_words(label: str) -> str:
    """An outcome code in words (``any_ae`` -> "any adverse event"); unknown codes are returned as is."""
    if label in OUTCOME_WORDS:
        return OUTCOME_WORDS[label]
    if label.startswith("responder_"):
        return "responders (" + label.removeprefix("responder_") + ")"
    return label


def figure_heading(analysis: str, outcome: str | None = None) -> str:
    """``"<analysis>: <outcome in words>"`` (the outcome left out when empty or repeating the analysis)."""
    if outcome and outcome != analysis:
        return f"{analysis}: {outcome_words(outcome)}"
    return analysis
