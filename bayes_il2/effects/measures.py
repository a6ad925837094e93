"""The measure codes: a table of what each means, and the back-transform to the natural scale."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

_ROWS = [
    # code, description, scale, reference
    ("OR", "log odds ratio, treatment vs control", "log", "Borenstein et al. 2009, ch. 5"),
    ("RR", "log risk ratio, treatment vs control", "log", "Borenstein et al. 2009, ch. 5"),
    ("RD", "risk difference, treatment minus control", "identity", "Borenstein et al. 2009, ch. 5"),
    ("PLO", "logit of a single-arm proportion", "logit", "Lipsey & Wilson 2001; metafor escalc"),
    ("PR", "raw single-arm proportion", "identity", "metafor escalc"),
    ("PAS", "arcsine square-root single-arm proportion", "arcsine", "Rücker et al. 2009"),
    ("IRLN", "log incidence rate of first events per patient-year (cloglog exposure model)", "log",
     "metafor escalc; Prentice & Gloeckler 1978"),
    ("MD", "mean difference, two groups", "identity", "Borenstein et al. 2009, ch. 4"),
    ("SMD", "standardized mean difference, Hedges' g (exact correction)", "identity",
     "Hedges 1981; Borenstein et al. 2009, ch. 4"),
    ("ROM", "log ratio of means, two groups", "log", "Hedges, Gurevitch & Curtis 1999"),
    ("MC", "mean change, post minus baseline, one arm", "identity", "Borenstein et al. 2009, ch. 4"),
    ("SMCR", "standardized mean change, raw-score (baseline SD) standardization", "identity", "Becker 1988"),
    ("SMCC", "standardized mean change, change-score standardization", "identity", "Gibbons et al. 1993"),
    ("ROMC", "log ratio of means, post over baseline, one arm (paired)", "log", "Lajeunesse 2011"),
    ("GEN", "generic effect: yi as supplied, measure not given", "identity", "metafor escalc (measure 'GEN')"),
]

#: One row per measure code: ``code, description, scale, reference`` (scale: log, logit, arcsine, identity).
MEASURES = pd.DataFrame(_ROWS, columns=["code", "description", "scale", "reference"])

#: Measures whose model scale is the log of a ratio (back-transform: exp).
LOG_MEASURES = frozenset(MEASURES.loc[MEASURES["scale"] == "log", "code"]) | {"HR"}


def _expit(x: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-x))


def _identity(x: Any) -> Any:
    return x


def natural_scale(measure: str) -> Callable[[Any], Any]:
    """The back-transform from a measure's model scale to its natural scale.

    exp for the log-scale measures (OR, RR, ROM, ROMC; HR too), expit for PLO, identity otherwise
    (as fixed in docs/architecture.md; note that PAS is left on the arcsine scale).
    """
    if measure in LOG_MEASURES:
        return np.exp
    if measure == "PLO":
        return _expit
    return _identity


def _log_slope_exp(x: Any) -> tuple[Any, Any]:
    return np.asarray(x, dtype=float), np.ones_like(np.asarray(x, dtype=float))


def _log_slope_expit(x: Any) -> tuple[Any, Any]:
    x = np.asarray(x, dtype=float)
    return -np.logaddexp(0.0, -x) - np.logaddexp(0.0, x), 1.0 - 2.0 * _expit(x)


def _log_slope_identity(x: Any) -> tuple[Any, Any]:
    zero = np.zeros_like(np.asarray(x, dtype=float))
    return zero, zero


def natural_scale_log_slope(measure: str) -> Callable[[Any], tuple[Any, Any]]:
    """For the back-transform g of :func:`natural_scale`: x -> (log g'(x), d/dx log g'(x)), which
    turns a density on the model scale into one on the natural scale (the shortest interval there)."""
    if measure in LOG_MEASURES:
        return _log_slope_exp
    if measure == "PLO":
        return _log_slope_expit
    return _log_slope_identity


def table_measure(data: pd.DataFrame, measure: str | None) -> str:
    """The measure code of an effect table: ``measure`` when given, else the table's ``measure``
    column where it holds a single code, else ``"unspecified"``."""
    if measure is not None:
        return measure
    if "measure" in data.columns:
        codes = sorted(set(data["measure"].dropna().astype(str)))
        if len(codes) == 1:
            return codes[0]
    return "unspecified"
