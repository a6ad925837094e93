"""One entry point for every measure, by its code, with metafor's ``escalc`` argument names.

Two-by-two tables: ``ai, bi, ci, di`` (events and non-events, LD-IL-2/treatment then control) or
``ai, n1i, ci, n2i``. Proportions: ``xi, ni``. Two groups: ``m1i, sd1i, n1i, m2i, sd2i, n2i``.
Pre-post (MC, SMCC, ROMC): ``m1i, sd1i`` at the second occasion (post), ``m2i, sd2i`` at the first
(pre), ``ni, ri``, so that yi = m1i - m2i as in metafor; SMCR: ``m1i`` (post), ``m2i`` (pre), ``sd1i``
the pre-treatment SD that standardizes (metafor's convention, e.g. its Morris 2008 example). The
package's own names (``m_pre, sd_pre, m_post, sd_post``) are accepted as well.

Reference: Viechtbauer W. Conducting meta-analyses in R with the metafor package. J Stat Softw
2010;36(3); metafor's ``escalc`` documentation.
"""
from __future__ import annotations

from typing import Any

import numpy as np

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
_TWO_BY_TWO = ("OR", "RR", "RD")
_PAIRED = {"m1i": "m_post", "m2i": "m_pre", "sd1i": "sd_post", "sd2i": "sd_pre"}
#: metafor name -> this package's name, per measure (pre-post measures only; the others already match).
ALIASES: dict[str, dict[str, str]] = {
    "MC": _PAIRED, "SMCC": _PAIRED, "ROMC": _PAIRED,
    "SMCR": {"m1i": "m_post", "m2i": "m_pre", "sd1i": "sd_pre", "sd2i": "sd_post"},
}


def _metafor_names(measure: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Translate metafor's argument names into the measure function's own."""
    args = dict(arguments)
    if measure in _TWO_BY_TWO and ("bi" in args or "di" in args):
        for cell, total, other in (("bi", "n1i", "ai"), ("di", "n2i", "ci")):
            if cell not in args:
                raise EffectSizeError(f"measure {measure!r}: give both bi and di (non-events), or n1i and n2i")
            if total in args:
                raise EffectSizeError(f"measure {measure!r}: give {cell} or {total}, not both")
            if other not in args:
                raise EffectSizeError(f"measure {measure!r}: {other} (events) is required")
            args[total] = np.asarray(args[other], dtype=float) + np.asarray(args.pop(cell), dtype=float)
    for theirs, ours in ALIASES.get(measure, {}).items():
        if theirs in args:
            if ours in args:
                raise EffectSizeError(f"measure {measure!r}: {theirs} and {ours} name the same input; give one")
            args[ours] = args.pop(theirs)
    return args


def escalc(measure: str, **arguments: Any) -> EffectSize:
    """Compute ``measure`` from keyword arguments named as in metafor's ``escalc`` (see the module
    docstring) or as in the measure's own function.

    Options (``correction``, ``vtype``, ``ids``, ...) pass through. SMD variances follow metafor's
    default (``vtype="LS"``); ``vtype="hedges"`` gives Borenstein et al.'s exact-J form.

    Examples
    --------
    >>> es = escalc("RR", ai=4, bi=119, ci=11, di=128)      # metafor's dat.bcg, trial 1
    >>> round(float(es.yi), 4), round(float(es.vi), 4)
    (-0.8893, 0.3256)
    """
    if measure not in _FUNCTIONS:
        raise EffectSizeError(f"unknown measure {measure!r}; known: {', '.join(_FUNCTIONS)}")
    try:
        return _FUNCTIONS[measure](**_metafor_names(measure, arguments))
    except TypeError as exc:
        raise EffectSizeError(f"measure {measure!r}: {exc}") from None
