"""One entry point for every measure, by its code (metafor's ``escalc``)."""
from __future__ import annotations

from typing import Any

from bayes_il2.effects import binary, continuous, prepost
from bayes_il2.effects._common import EffectSize
from bayes_il2.errors import EffectSizeError

_FUNCTIONS = {
    "OR": binary.log_odds_ratio, "RR": binary.log_risk_ratio, "RD": binary.risk_difference,
    "PLO": binary.logit_proportion, "PR": binary.raw_proportion, "PAS": binary.arcsine_proportion,
    "MD": continuous.mean_difference, "SMD": continuous.standardized_mean_difference,
    "ROM": continuous.log_ratio_of_means, "MC": prepost.mean_change,
    "SMCC": prepost.standardized_mean_change_change, "SMCR": prepost.standardized_mean_change_raw,
    "ROMC": prepost.log_ratio_of_means_paired,
}


def escalc(measure: str, **arguments: Any) -> EffectSize:
    """Compute ``measure`` from keyword arguments named as in its function.

    OR/RR/RD: ``ai, n1i, ci, n2i``; PLO/PR/PAS: ``xi, ni``; MD/SMD/ROM: ``m1i, sd1i, n1i, m2i, sd2i,
    n2i``; MC/SMCC/ROMC: ``m_pre, sd_pre, m_post, sd_post, ni, ri``; SMCR: ``m_pre, sd_pre, m_post,
    ni, ri``. Options (``correction``, ``vtype``, ``ids``, ...) pass through.

    Examples
    --------
    >>> yi, vi = escalc("RR", ai=5, n1i=100, ci=10, n2i=100)
    """
    if measure not in _FUNCTIONS:
        raise EffectSizeError(f"unknown measure {measure!r}; known: {', '.join(_FUNCTIONS)}")
    try:
        return _FUNCTIONS[measure](**arguments)
    except TypeError as exc:
        raise EffectSizeError(f"measure {measure!r}: {exc}") from None
