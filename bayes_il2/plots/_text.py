"""Text extents in inches, measured with matplotlib's Agg renderer, and fitting text to a width.

Column layouts size each column from the widest text it holds instead of a fixed fraction, so that
no column runs into the next; text still too wide is cut at a measured width and ends in an ellipsis.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.font_manager import FontProperties

_POINTS_PER_INCH = 72.0

#: Readable names of the registry's design codes (docs/architecture.md, studies.csv ``design``).
DESIGN_LABELS = {
    "rct": "RCT", "single_arm": "single-arm", "cohort": "cohort", "dose_finding": "dose-finding",
    "non_randomised_controlled": "non-randomised controlled", "case_report": "case report",
    "case_series": "case series", "secondary_analysis": "secondary analysis",
    "registry_only": "registry only", "cross_sectional": "cross-sectional", "not_reported": "not reported",
}


def design_label(code: Any) -> str:
    """The readable name of a design code (unknown codes: underscores become spaces; missing: "")."""
    if code is None:
        return ""
    try:
        if code != code:  # NaN
            return ""
    except (TypeError, ValueError):  # pragma: no cover - exotic objects
        pass
    s = " ".join(str(code).split())
    return DESIGN_LABELS.get(s, DESIGN_LABELS.get(s.lower(), s.replace("_", " ")))


@lru_cache(maxsize=1)
def _renderer() -> RendererAgg:
    # At 72 dpi one pixel is one point.
    return RendererAgg(10, 10, _POINTS_PER_INCH)


@lru_cache(maxsize=8192)
def text_width(text: str, size: float, weight: str = "normal", family: str | None = None,
               style: str = "normal") -> float:
    """Width in inches of ``text`` drawn at ``size`` points (0 for the empty string)."""
    if not text:
        return 0.0
    prop = FontProperties(size=size, weight=weight, family=family, style=style)
    width, _, _ = _renderer().get_text_width_height_descent(text, prop, ismath=False)
    return width / _POINTS_PER_INCH


def fit_text(text: str, max_width: float, size: float, weight: str = "normal", family: str | None = None,
             style: str = "normal") -> str:
    """``text`` (whitespace collapsed) cut so that it is at most ``max_width`` inches wide.

    A cut text ends in an ellipsis; the longest prefix that fits is found by bisection on the
    measured width.
    """
    s = " ".join(str(text).split())
    if text_width(s, size, weight, family, style) <= max_width:
        return s
    lo, hi = 0, len(s)  # s[:lo] + ellipsis fits; s[:hi] + ellipsis does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if text_width(s[:mid].rstrip() + "\u2026", size, weight, family, style) <= max_width:
            lo = mid
        else:
            hi = mid
    return s[:max(lo, 1)].rstrip() + "\u2026"
