"""Effect sizes from event counts: two-group (OR, RR, RD) and single-arm (PLO, PR, PAS).

Argument names follow metafor's escalc: ``ai`` events and ``n1i`` patients in the treatment
group, ``ci`` events and ``n2i`` patients in the control group; ``xi`` events of ``ni`` in one arm.
The 2x2 cells are a = ai, b = n1i - ai, c = ci, d = n2i - ci.

Zero cells
----------
Nothing is added silently: ``correction`` is an explicit argument of every function,

``"none"``      no correction; a measure that needs it (log OR/RR with a zero cell) is NaN there
``"only0"``     ``add`` (0.5) to the four cells of studies with a zero cell (metafor ``to="only0"``)
``"all"``       ``add`` to the four cells of every study (metafor ``to="all"``)
``"sweeting"``  treatment-arm correction of Sweeting, Sutton & Lambert (2004), to zero-cell
                studies only: the treatment cells get 2·add·n1/(n1+n2), the control cells
                2·add·n2/(n1+n2) (each arm's correction is proportional to the reciprocal of the
                other arm's size; the two sum to 1 for add = 0.5 and equal 0.5 for equal arms).

Double-zero studies (no events in either group, or only events in both) carry no information on
the OR or RR; ``double_zero="exclude"`` (default for OR/RR) returns NaN for them, ``"keep"``
treats them like any zero-cell study. They are flagged in ``EffectSize.double_zero`` either way.

References
----------
Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). Introduction to Meta-Analysis. Wiley,
chapter 5 (formulas 5.1-5.10).
Sweeting MJ, Sutton AJ, Lambert PC (2004). What to add to nothing? Use and avoidance of continuity
corrections in meta-analysis of sparse data. Stat Med 23:1351-1375.
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36(3).
"""
from __future__ import annotations

import numpy as np

from bayes_il2.effects._common import (ArrayLike, EffectSize, Inputs, check_choice, coerce, require_counts,
                                       result)

CORRECTIONS = ("none", "only0", "all", "sweeting")
DOUBLE_ZERO = ("exclude", "keep")


def _two_group(ai, n1i, ci, n2i, ids, correction: str, add: float, double_zero: str):
    check_choice("correction", correction, CORRECTIONS)
    check_choice("double_zero", double_zero, DOUBLE_ZERO)
    x = coerce(ids, ai=ai, n1i=n1i, ci=ci, n2i=n2i)
    require_counts(x, "ai", "n1i")
    require_counts(x, "ci", "n2i")
    a, n1, c, n2 = x["ai"], x["n1i"], x["ci"], x["n2i"]
    b, d = n1 - a, n2 - c
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    dz = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    k1 = np.zeros_like(a)
    k2 = np.zeros_like(a)
    if correction in ("only0", "all"):
        target = zero if correction == "only0" else np.ones_like(zero)
        k1 = np.where(target, add, 0.0)
        k2 = k1
    elif correction == "sweeting":
        k1 = np.where(zero, 2 * add * n1 / (n1 + n2), 0.0)
        k2 = np.where(zero, 2 * add * n2 / (n1 + n2), 0.0)
    cells = (a + k1, b + k1, c + k2, d + k2)
    corrected = (k1 > 0) | (k2 > 0)
    drop = dz if double_zero == "exclude" else np.zeros_like(dz)
    return x, cells, corrected, dz, drop


def log_odds_ratio(ai: ArrayLike, n1i: ArrayLike, ci: ArrayLike, n2i: ArrayLike, *, correction: str = "only0",
                   add: float = 0.5, double_zero: str = "exclude", ids: ArrayLike | None = None) -> EffectSize:
    """Log odds ratio, treatment vs control (measure ``OR``).

    yi = log(a d / (b c)), vi = 1/a + 1/b + 1/c + 1/d (Woolf; Borenstein et al. 2009, eqs. 5.8-5.9),
    after the continuity correction (module docstring).

    Parameters
    ----------
    ai, n1i : events and patients, treatment group
    ci, n2i : events and patients, control group
    correction : {"none", "only0", "all", "sweeting"}
    add : float
        The correction's size (0.5).
    double_zero : {"exclude", "keep"}
    ids : optional row names for error messages (study ids)

    Returns
    -------
    EffectSize
        Unpacks as ``yi, vi``; ``corrected``, ``double_zero`` and ``undefined`` flag rows.

    Raises
    ------
    EffectSizeError
        Negative counts, events > n, n <= 0 (naming the rows).
    """
    x, (a, b, c, d), corrected, dz, drop = _two_group(ai, n1i, ci, n2i, ids, correction, add, double_zero)
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(a) + np.log(d) - np.log(b) - np.log(c)
        vi = 1 / a + 1 / b + 1 / c + 1 / d
    return result(x, yi, vi, "OR", corrected=corrected, double_zero=dz, undefined=drop, correction=correction)


def log_risk_ratio(ai: ArrayLike, n1i: ArrayLike, ci: ArrayLike, n2i: ArrayLike, *, correction: str = "only0",
                   add: float = 0.5, double_zero: str = "exclude", ids: ArrayLike | None = None) -> EffectSize:
    """Log risk ratio, treatment vs control (measure ``RR``).

    yi = log[(a/n1) / (c/n2)], vi = 1/a - 1/n1 + 1/c - 1/n2 (Borenstein et al. 2009, eqs. 5.1-5.3),
    with n1 = a + b, n2 = c + d after the continuity correction. Arguments as :func:`log_odds_ratio`.
    """
    x, (a, b, c, d), corrected, dz, drop = _two_group(ai, n1i, ci, n2i, ids, correction, add, double_zero)
    n1, n2 = a + b, c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(a / n1) - np.log(c / n2)
        vi = 1 / a - 1 / n1 + 1 / c - 1 / n2
    return result(x, yi, vi, "RR", corrected=corrected, double_zero=dz, undefined=drop, correction=correction)


def risk_difference(ai: ArrayLike, n1i: ArrayLike, ci: ArrayLike, n2i: ArrayLike, *, correction: str = "none",
                    add: float = 0.5, double_zero: str = "keep", ids: ArrayLike | None = None) -> EffectSize:
    """Risk difference, treatment minus control (measure ``RD``).

    yi = p1 - p2, vi = p1(1-p1)/n1 + p2(1-p2)/n2 (Borenstein et al. 2009, eqs. 5.11-5.12).
    The RD needs no correction unless both risks are 0 or 1 (then vi = 0 and the row is undefined
    without one); hence the defaults ``correction="none"``, ``double_zero="keep"``.
    Arguments as :func:`log_odds_ratio`.
    """
    x, (a, b, c, d), corrected, dz, drop = _two_group(ai, n1i, ci, n2i, ids, correction, add, double_zero)
    n1, n2 = a + b, c + d
    p1, p2 = a / n1, c / n2
    yi = p1 - p2
    vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    return result(x, yi, vi, "RD", corrected=corrected, double_zero=dz, undefined=drop, correction=correction)


def _single_arm(xi, ni, ids, correction: str, add: float) -> tuple[Inputs, np.ndarray, np.ndarray, np.ndarray]:
    check_choice("correction", correction, ("none", "only0", "all"))
    x = coerce(ids, xi=xi, ni=ni)
    require_counts(x, "xi", "ni")
    e, n = x["xi"], x["ni"]
    zero = (e == 0) | (e == n)
    if correction == "none":
        k = np.zeros_like(e)
    else:
        k = np.where(zero if correction == "only0" else np.ones_like(zero), add, 0.0)
    return x, e + k, n + 2 * k, k > 0


def logit_proportion(xi: ArrayLike, ni: ArrayLike, *, correction: str = "only0", add: float = 0.5,
                     ids: ArrayLike | None = None) -> EffectSize:
    """Logit of a proportion (measure ``PLO``): yi = log(x / (n - x)), vi = 1/x + 1/(n - x).

    With ``correction="only0"`` (default) ``add`` is added to events and non-events of arms with 0
    or n events (metafor ``to="only0"``); ``"none"`` leaves those rows undefined.

    References
    ----------
    Viechtbauer W (2010), metafor escalc, measure "PLO"; Lipsey MW, Wilson DB (2001). Practical
    Meta-Analysis. Sage, appendix B.
    """
    x, e, n, corrected = _single_arm(xi, ni, ids, correction, add)
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(e) - np.log(n - e)
        vi = 1 / e + 1 / (n - e)
    return result(x, yi, vi, "PLO", corrected=corrected, correction=correction)


def raw_proportion(xi: ArrayLike, ni: ArrayLike, *, correction: str = "none", add: float = 0.5,
                   ids: ArrayLike | None = None) -> EffectSize:
    """Raw proportion (measure ``PR``): yi = x/n, vi = yi (1 - yi) / n.

    At 0 or n events vi = 0 and the row is undefined unless a correction is asked for.
    """
    x, e, n, corrected = _single_arm(xi, ni, ids, correction, add)
    p = e / n
    return result(x, p, p * (1 - p) / n, "PR", corrected=corrected, correction=correction)


def arcsine_proportion(xi: ArrayLike, ni: ArrayLike, *, ids: ArrayLike | None = None) -> EffectSize:
    """Arcsine square-root transformed proportion (measure ``PAS``).

    yi = arcsin(sqrt(x/n)), vi = 1/(4n); defined at 0 and n events, so no correction is needed.

    References
    ----------
    Rücker G, Schwarzer G, Carpenter J, Olkin I (2009). Why add anything to nothing? The arcsine
    difference as a measure of treatment effect in meta-analysis with zero cells. Stat Med 28:721-738.
    """
    x, e, n, _ = _single_arm(xi, ni, ids, "none", 0.0)
    return result(x, np.arcsin(np.sqrt(e / n)), 1 / (4 * n), "PAS")
