"""A heading above any figure naming its analysis and outcome, so a PNG read on its own says what it shows.

The heading is placed above the figure's top edge; ``save_figure`` writes with a tight bounding box,
which takes it in without moving anything the figure drew.
"""
from __future__ import annotations

from matplotlib.figure import Figure

from bayes_il2.plots._text import fit_text


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


def stamp_title(fig: Figure, text: str, size: float = 10.5) -> Figure:
    """Write ``text`` in bold above the figure (cut with an ellipsis to the figure's width); returns ``fig``."""
    width = fig.get_figwidth()
    label = fit_text(text, width - 0.2, size, "bold")
    t = fig.text(0.01, 1.0, label, ha="left", va="bottom", fontsize=size, fontweight="bold",
                 transform=fig.transFigure)
    t.set_gid("figure_heading")
    return fig
