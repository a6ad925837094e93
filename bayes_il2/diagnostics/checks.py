"""The unit of a diagnostics report: one named check with a status and a plain-language hint."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Status = Literal["pass", "warn", "fail"]
STATUS_ORDER = {"pass": 0, "warn": 1, "fail": 2}


@dataclass(frozen=True)
class Thresholds:
    """Documented defaults of every check (Vehtari et al. 2021; Betancourt 2017; Vehtari et al. 2024).

    Attributes
    ----------
    rhat_max : rank-normalized split R-hat at or below this passes (1.01).
    ess_min : bulk and tail ESS at or above this pass (400).
    max_divergences : divergent transitions allowed (0).
    bfmi_min : E-BFMI of every chain at or above this passes (0.3).
    pareto_k_max : Pareto k of every study at or below this passes (0.7).
    treedepth_max_fraction : fraction of draws that may hit the maximum tree depth (0).
    ppc_level : central predictive interval used by the per-study check (0.95).
    psense_max : power-scaling prior sensitivity (cumulative Jensen-Shannon distance) of the pooled
        location at or below this passes (0.05; Kallioinen et al. 2024).
    """

    rhat_max: float = 1.01
    ess_min: float = 400.0
    max_divergences: int = 0
    bfmi_min: float = 0.3
    pareto_k_max: float = 0.7
    treedepth_max_fraction: float = 0.0
    ppc_level: float = 0.95
    psense_max: float = 0.05


@dataclass(frozen=True)
class Check:
    """One diagnostic: what was measured, against what, with what outcome and what to do."""

    name: str
    status: Status
    value: float | int | None
    threshold: str
    message: str
    hint: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def worst(statuses: list[str]) -> Status:
    """The most severe of several statuses (``pass`` for none)."""
    return max(statuses, key=STATUS_ORDER.__getitem__, default="pass")  # type: ignore[return-value]
