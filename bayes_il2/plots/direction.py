"""Which side of an effect axis favours LD-IL-2: words for plot axes and report headlines.

Effects are LD-IL-2 minus (or over) control. For a harm (an adverse event, an infection) a ratio
below 1 or a difference below 0 means fewer events under LD-IL-2, so the left favours LD-IL-2;
for responders the right does; for Treg changes the right is "higher Treg". Single-arm event rates
have no comparator: the axis then reads "more patients with the event".
"""
from __future__ import annotations

from typing import Any

import pandas as pd

#: Outcomes where more is worse (the events vocabulary of the registry, responders excepted).
HARMS = ("any_ae", "serious_ae", "severe_ae", "infection", "serious_infection", "injection_site_reaction",
         "fever", "flu_like", "ae_withdrawal", "dose_reduction", "death", "drug_related_serious_ae",
         "neutropenia", "user_events")
COMPARATIVE = ("OR", "RR", "HR", "RD", "MD", "SMD", "ROM")
RATES = ("PLO", "PR", "PAS")
FAVOURS_IL2_LEFT = "← favours LD-IL-2 | favours control →"
FAVOURS_IL2_RIGHT = "← favours control | favours LD-IL-2 →"
HIGHER_TREG = "higher Treg →"
MORE_EVENTS = "more patients with the event →"


def effect_direction(measure: str | None, outcome: str | None) -> str | None:
    """Words for the effect axis (None when the direction is not known)."""
    outcome = (outcome or "").strip()
    measure = (measure or "").upper()
    if outcome.upper() == measure:  # an analysis labelled by its measure (no outcome code)
        outcome = ""
    if outcome.startswith("treg") or measure in ("ROMC", "SMCR", "SMCC", "MC"):
        return HIGHER_TREG if (outcome.startswith("treg") or not outcome) else None
    if measure in RATES:
        return MORE_EVENTS if outcome in HARMS or outcome.startswith("responder_") or not outcome else None
    if measure in COMPARATIVE:
        if outcome in HARMS:
            return FAVOURS_IL2_LEFT
        if outcome.startswith("responder_"):
            return FAVOURS_IL2_RIGHT
    return None


def table_outcome(table: Any) -> str | None:
    """The single outcome of an effect table (its ``outcome`` column), else None."""
    if isinstance(table, pd.DataFrame) and "outcome" in table.columns:
        values = {str(v) for v in table["outcome"].dropna()}
        if len(values) == 1:
            return values.pop()
    return None


def reading_hint(measure: str | None, outcome: str | None, low: float | None = None,
                 high: float | None = None) -> str:
    """What a pooled 95% interval [low, high] (natural scale) says, in words: the side of the no-effect
    value it lies on, read with the outcome's direction ("fewer events under LD-IL-2", "Tregs rose"),
    or that it includes no effect. "" when the direction or the interval is unknown."""
    direction = effect_direction(measure, outcome)
    code = (measure or "").upper()
    if direction is None or direction == MORE_EVENTS or low is None or high is None:
        return ""
    null = 1.0 if code in ("OR", "RR", "HR", "ROM", "ROMC") else 0.0
    label = f"{code} {'1' if null else '0'}"
    if low <= null <= high:
        return f"the interval includes {label.split()[-1]} (no clear difference)"
    above = low > null
    if direction == HIGHER_TREG:
        return "Tregs rose" if above else "Tregs fell"
    if direction == FAVOURS_IL2_LEFT:
        return "more events under LD-IL-2" if above else "fewer events under LD-IL-2"
    if direction == FAVOURS_IL2_RIGHT:
        return "more responders under LD-IL-2" if above else "fewer responders under LD-IL-2"
    return ""
