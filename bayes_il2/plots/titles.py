"""A heading above any figure naming its analysis and outcome, so a PNG read on its own says what it shows.

The heading is placed above the figure's top edge; ``save_figure`` writes with a tight bounding box,
which takes it in without moving anything the figure drew.
"""
from __future__ import annotations

from matplotlib.figure import Figure

from bayes_il2.plots._text import fit_text
from bayes_il2.plots.words import OUTCOME_WORDS, figure_heading, outcome_words  # noqa: F401 - re-exported


def stamp_title(fig: Figure, text: str, size: float = 10.5) -> Figure:
    """Write ``text`` in bold above the figure (cut with an ellipsis to the figure's width); returns ``fig``."""
    width = fig.get_figwidth()
    label = fit_text(text, width - 0.2, size, "bold")
    t = fig.text(0.01, 1.0, label, ha="left", va="bottom", fontsize=size, fontweight="bold",
                 transform=fig.transFigure)
    t.set_gid("figure_heading")
    return fig
