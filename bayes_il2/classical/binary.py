"""Common-effect pooled odds ratios (and risk ratios) from 2x2 tables: Mantel-Haenszel and Peto.

Cells follow metafor: ``ai``/``bi`` events/non-events in the treated arm, ``ci``/``di`` in the control
arm. Neither method needs a continuity correction for the pooled estimate; studies without any event
(or with only events) carry no information and are counted in ``k`` but not in ``k_used``. The
heterogeneity test uses the study log odds (risk) ratios with 1/2 added to every cell of the tables
with a zero cell (Cochran's Q about the pooled estimate, as metafor's ``rma.mh``).

References
----------
Mantel N, Haenszel W (1959). Statistical aspects of the analysis of data from retrospective studies of
disease. J Natl Cancer Inst 22:719-748.
Robins J, Breslow N, Greenland S (1986). Estimators of the Mantel-Haenszel variance consistent in both
sparse data and large-strata limiting models. Biometrics 42:311-323 (variance of the MH log OR).
Greenland S, Robins JM (1985). Estimation of a common effect parameter from sparse follow-up data.
Biometrics 41:55-68 (variance of the MH log RR).
Yusuf S, Peto R, Lewis J, Collins R, Sleight P (1985). Beta blockade during and after myocardial
infarction: an overview of the randomized trials. Prog Cardiovasc Dis 27:335-371 (Peto's method).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from bayes_il2.classical import _distributions as dist
from bayes_il2.classical._inputs import check_level
from bayes_il2.classical.result import PooledOR
from bayes_il2.errors import ModelError


def _cells(ai: Any, bi: Any, ci: Any, di: Any, who: str) -> tuple[np.ndarray, ...]:
    arrays = [np.atleast_1d(np.asarray(x, dtype=float)).ravel() for x in (ai, bi, ci, di)]
    if len({a.size for a in arrays}) != 1:
        raise ModelError(f"{who}: ai, bi, ci, di must have the same length; got "
                         f"{', '.join(str(a.size) for a in arrays)}")
    if arrays[0].size == 0:
        raise ModelError(f"{who}: no studies")
    for name, a in zip(("ai", "bi", "ci", "di"), arrays):
        bad = np.flatnonzero(~(np.isfinite(a) & (a >= 0) & (a == np.round(a))))
        if bad.size:
            raise ModelError(f"{who}: {name} of study {bad[0]} is {a[bad[0]]!r}; expected a count >= 0")
    a, b, c, d = arrays
    empty = np.flatnonzero((a + b == 0) | (c + d == 0))
    if empty.size:
        raise ModelError(f"{who}: study {empty[0]} has an arm with no participants")
    return a, b, c, d


def _log_ratio(a, b, c, d, measure):
    """Study log OR / log RR and variance with 1/2 added to tables holding a zero cell (for Q only)."""
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    a, b, c, d = (x + 0.5 * zero for x in (a, b, c, d))
    if measure == "OR":
        return np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d
    return np.log(a / (a + b)) - np.log(c / (c + d)), 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)


def _finish(est, se, y, vi, informative, k, method, measure, level) -> PooledOR:
    z = dist.norm_ppf(0.5 + level / 2.0)
    usable = informative & np.isfinite(y)
    q = float(np.sum((y[usable] - est) ** 2 / vi[usable]))
    q_df = int(usable.sum()) - 1
    q_p = float(dist.chi2_sf(q, q_df)) if q_df > 0 else float("nan")
    i2 = max(0.0, 100.0 * (q - q_df) / q) if q > 0 and q_df > 0 else 0.0
    stat = est / se
    return PooledOR(estimate=float(est), se=float(se), ci_low=float(est - z * se), ci_high=float(est + z * se),
                    statistic=float(stat), p=float(2 * dist.norm_sf(abs(stat))), q=q, q_df=q_df, q_p=q_p,
                    i2=float(i2), k=int(y.size), k_used=int(informative.sum()), method=method,
                    measure=measure, level=level)


def rma_mh(ai: Any, bi: Any, ci: Any, di: Any, measure: str = "OR", level: float = 0.95) -> PooledOR:
    """Mantel-Haenszel pooled log odds ratio (``measure="OR"``, Robins-Breslow-Greenland variance) or
    log risk ratio (``"RR"``, Greenland-Robins variance).

    Raises
    ------
    ModelError
        Non-count cells, an empty arm, or no study with an event in one arm and a non-event in the other.
    """
    who = "rma_mh"
    level = check_level(level, who)
    if measure not in ("OR", "RR"):
        raise ModelError(f"{who}: measure must be 'OR' or 'RR'; got {measure!r}")
    a, b, c, d = _cells(ai, bi, ci, di, who)
    n = a + b + c + d
    n1, n2 = a + b, c + d
    if measure == "OR":
        R, S = a * d / n, b * c / n
        P, Q = (a + d) / n, (b + c) / n
        informative = (R + S) > 0
        if R.sum() == 0 or S.sum() == 0:
            raise ModelError(f"{who}: the Mantel-Haenszel odds ratio is 0 or infinite (no discordant "
                             "information in any study: sum(ai*di/n) or sum(bi*ci/n) is 0)")
        Rs, Ss = R.sum(), S.sum()
        est = np.log(Rs / Ss)
        var = (np.sum(P * R) / (2 * Rs ** 2) + np.sum(P * S + Q * R) / (2 * Rs * Ss)
               + np.sum(Q * S) / (2 * Ss ** 2))
    else:
        R, S = a * n2 / n, c * n1 / n
        informative = (a + c) > 0
        if R.sum() == 0 or S.sum() == 0:
            raise ModelError(f"{who}: the Mantel-Haenszel risk ratio is 0 or infinite (no event in one group "
                             "across all studies)")
        est = np.log(R.sum() / S.sum())
        var = np.sum((n1 * n2 * (a + c) - a * c * n) / n ** 2) / (R.sum() * S.sum())
    y, vi = _log_ratio(a, b, c, d, measure)
    return _finish(est, np.sqrt(var), y, vi, informative, k=a.size, method="MH", measure=measure, level=level)


def rma_peto(ai: Any, bi: Any, ci: Any, di: Any, level: float = 0.95) -> PooledOR:
    """Peto's one-step pooled log odds ratio sum(O - E) / sum(V).

    O - E = ai - n1 (ai + ci) / n and V = n1 n2 (ai + ci)(bi + di) / (n^2 (n - 1)); studies with V = 0 (no
    events or only events) carry no information. Heterogeneity: Q = sum (O-E)^2/V - (sum(O-E))^2 / sum V.
    """
    who = "rma_peto"
    level = check_level(level, who)
    a, b, c, d = _cells(ai, bi, ci, di, who)
    n = a + b + c + d
    n1, n2 = a + b, c + d
    m1, m2 = a + c, b + d
    oe = a - n1 * m1 / n
    V = np.where(n > 1, n1 * n2 * m1 * m2 / (n ** 2 * np.maximum(n - 1, 1)), 0.0)
    informative = V > 0
    if not informative.any():
        raise ModelError(f"{who}: no study has both events and non-events; the Peto odds ratio is undefined")
    est = oe[informative].sum() / V[informative].sum()
    se = 1.0 / np.sqrt(V[informative].sum())
    # study Peto log ORs (O-E)/V with variance 1/V: Q about the pooled value is the Peto Q statistic
    y = np.where(informative, oe / np.where(informative, V, 1.0), np.nan)
    vi = np.where(informative, 1.0 / np.where(informative, V, 1.0), np.nan)
    return _finish(est, se, y, vi, informative, k=a.size, method="Peto", measure="OR", level=level)
