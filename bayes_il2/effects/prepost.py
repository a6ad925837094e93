"""Pre-post effect sizes within one arm: MC, SMCR, SMCC, ROMC.

Arguments: ``m_pre, sd_pre`` (baseline), ``m_post, sd_post`` (after treatment), ``ni`` patients
measured at both times, ``ri`` the correlation between baseline and post values. Effects are post
minus (or over) baseline, so an increase is positive.

The correlation is rarely reported; ``ri`` defaults to :data:`DEFAULT_R` = 0.5, a conventional
middle value (e.g. Cochrane Handbook 6.5.2.8 on imputing change-from-baseline SDs), and
:func:`over_r` recomputes any measure over several values of r for a sensitivity analysis.

With the SD of the change sd_d = sqrt(sd_pre² + sd_post² - 2 r sd_pre sd_post):

``MC``    yi = m_post - m_pre, vi = sd_d² / n
``SMCC``  yi = J(n-1) (m_post - m_pre) / sd_d, vi = 1/n + yi²/(2n)     (change-score standardization)
``SMCR``  yi = J(n-1) (m_post - m_pre) / sd_pre, vi = 2(1-r)/n + yi²/(2n) (raw-score, Becker 1988)
``ROMC``  yi = log(m_post / m_pre),
          vi = sd_post²/(n m_post²) + sd_pre²/(n m_pre²) - 2 r sd_post sd_pre / (n m_post m_pre)
          (Lajeunesse 2011)

J is the exact correction of Hedges (1981) (:func:`~bayes_il2.effects._common.hedges_j`).

References
----------
Becker BJ (1988). Synthesizing standardized mean-change measures. Br J Math Stat Psychol 41:257-278.
Gibbons RD, Hedeker DR, Davis JM (1993). Estimation of effect size from a series of experiments
involving paired comparisons. J Educ Stat 18:271-279 (change-score standardization).
Lajeunesse MJ (2011). On the meta-analysis of response ratios for studies with correlated and
multi-group designs. Ecology 92:2049-2055.
Morris SB (2000). Distribution of the standardized mean change effect size for meta-analysis on
repeated measures. Br J Math Stat Psychol 53:17-29.
Borenstein M et al. (2009). Introduction to Meta-Analysis, section "matched groups" of chapter 4.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from bayes_il2.effects._common import (ArrayLike, EffectSize, Inputs, coerce, hedges_j, require_correlation,
                                       require_finite, require_positive, result)

#: Default pre-post correlation when none is reported (see the module docstring).
DEFAULT_R = 0.5


def _prepost(ids, m_pre, sd_pre, m_post, sd_post, ni, ri, *, need_post_sd: bool = True) -> Inputs:
    x = coerce(ids, m_pre=m_pre, sd_pre=sd_pre, m_post=m_post, sd_post=sd_post, ni=ni, ri=ri)
    require_finite(x, "m_pre", "m_post")
    require_positive(x, "sd_pre", "ni", *(("sd_post",) if need_post_sd else ()))
    require_correlation(x, "ri")
    return x


def _sd_change(x: Inputs) -> np.ndarray:
    return np.sqrt(x["sd_pre"] ** 2 + x["sd_post"] ** 2 - 2 * x["ri"] * x["sd_pre"] * x["sd_post"])


def mean_change(m_pre: ArrayLike, sd_pre: ArrayLike, m_post: ArrayLike, sd_post: ArrayLike, ni: ArrayLike,
                ri: ArrayLike = DEFAULT_R, *, ids: ArrayLike | None = None) -> EffectSize:
    """Raw mean change (measure ``MC``): yi = m_post - m_pre, vi = sd_d²/n (module docstring).

    Borenstein et al. (2009), chapter 4, "matched groups": V = S_diff² / n with
    S_diff = sqrt(S1² + S2² - 2 r S1 S2).

    Raises
    ------
    EffectSizeError
        Missing means, SD or n <= 0, r outside [-1, 1] (naming the rows).
    """
    x = _prepost(ids, m_pre, sd_pre, m_post, sd_post, ni, ri)
    return result(x, x["m_post"] - x["m_pre"], _sd_change(x) ** 2 / x["ni"], "MC")


def standardized_mean_change_change(m_pre: ArrayLike, sd_pre: ArrayLike, m_post: ArrayLike, sd_post: ArrayLike,
                                    ni: ArrayLike, ri: ArrayLike = DEFAULT_R, *,
                                    ids: ArrayLike | None = None) -> EffectSize:
    """Standardized mean change, change-score standardization (measure ``SMCC``).

    yi = J(n-1) (m_post - m_pre) / sd_d, vi = 1/n + yi²/(2n) (Gibbons et al. 1993; metafor "SMCC").
    """
    x = _prepost(ids, m_pre, sd_pre, m_post, sd_post, ni, ri)
    n = x["ni"]
    yi = hedges_j(n - 1) * (x["m_post"] - x["m_pre"]) / _sd_change(x)
    return result(x, yi, 1 / n + yi ** 2 / (2 * n), "SMCC")


def standardized_mean_change_raw(m_pre: ArrayLike, sd_pre: ArrayLike, m_post: ArrayLike, ni: ArrayLike,
                                 ri: ArrayLike = DEFAULT_R, *, sd_post: ArrayLike | None = None,
                                 ids: ArrayLike | None = None) -> EffectSize:
    """Standardized mean change, raw-score standardization (measure ``SMCR``; Becker 1988).

    yi = J(n-1) (m_post - m_pre) / sd_pre, vi = 2(1-r)/n + yi²/(2n). Only the baseline SD is
    needed; ``sd_post`` is accepted (and ignored) so that all pre-post measures share a call form.
    """
    x = _prepost(ids, m_pre, sd_pre, m_post, sd_post, ni, ri, need_post_sd=False)
    n, r = x["ni"], x["ri"]
    yi = hedges_j(n - 1) * (x["m_post"] - x["m_pre"]) / x["sd_pre"]
    return result(x, yi, 2 * (1 - r) / n + yi ** 2 / (2 * n), "SMCR")


def log_ratio_of_means_paired(m_pre: ArrayLike, sd_pre: ArrayLike, m_post: ArrayLike, sd_post: ArrayLike,
                              ni: ArrayLike, ri: ArrayLike = DEFAULT_R, *,
                              ids: ArrayLike | None = None) -> EffectSize:
    """Log ratio of means for paired data (measure ``ROMC``; Lajeunesse 2011, eq. 9).

    yi = log(m_post / m_pre); vi as in the module docstring. Means must be > 0 (ratio scale).
    """
    x = _prepost(ids, m_pre, sd_pre, m_post, sd_post, ni, ri)
    require_positive(x, "m_pre", "m_post")
    n, r = x["ni"], x["ri"]
    a = x["sd_post"] / x["m_post"]
    b = x["sd_pre"] / x["m_pre"]
    yi = np.log(x["m_post"]) - np.log(x["m_pre"])
    return result(x, yi, (a ** 2 + b ** 2 - 2 * r * a * b) / n, "ROMC")


def mean_change_from_change(mean_change: ArrayLike, sd_change: ArrayLike, ni: ArrayLike, *,
                            ids: ArrayLike | None = None) -> EffectSize:
    """Mean change (``MC``) from a reported mean and SD of the within-patient changes.

    yi = mean change, vi = sd_change² / n (no correlation is needed).
    """
    x = coerce(ids, mc=mean_change, sdc=sd_change, ni=ni)
    require_finite(x, "mc")
    require_positive(x, "sdc", "ni")
    return result(x, x["mc"], x["sdc"] ** 2 / x["ni"], "MC")


PREPOST: dict[str, Callable[..., EffectSize]] = {
    "MC": mean_change,
    "SMCC": standardized_mean_change_change,
    "SMCR": lambda m_pre, sd_pre, m_post, sd_post, ni, ri=DEFAULT_R, **kw: standardized_mean_change_raw(
        m_pre, sd_pre, m_post, ni, ri, sd_post=sd_post, **kw),
    "ROMC": log_ratio_of_means_paired,
}


def prepost_effect(measure: str, m_pre: ArrayLike, sd_pre: ArrayLike, m_post: ArrayLike, sd_post: ArrayLike,
                   ni: ArrayLike, ri: ArrayLike = DEFAULT_R, **kwargs: Any) -> EffectSize:
    """Any pre-post measure by its code (``MC``, ``SMCC``, ``SMCR``, ``ROMC``)."""
    from bayes_il2.errors import EffectSizeError

    if measure not in PREPOST:
        raise EffectSizeError(f"measure must be one of {', '.join(PREPOST)}; got {measure!r}")
    return PREPOST[measure](m_pre, sd_pre, m_post, sd_post, ni, ri, **kwargs)


def over_r(measure: str, r_values: Iterable[float], m_pre: ArrayLike, sd_pre: ArrayLike, m_post: ArrayLike,
           sd_post: ArrayLike, ni: ArrayLike, **kwargs: Any) -> pd.DataFrame:
    """Recompute a pre-post measure for each assumed correlation r (sensitivity analysis).

    Returns
    -------
    DataFrame
        Long format: ``r``, ``row`` (the row name: ids / index / position), ``measure``, ``yi``, ``vi``.
    """
    frames = []
    for r in r_values:
        effect = prepost_effect(measure, m_pre, sd_pre, m_post, sd_post, ni, float(r), **kwargs)
        frame = effect.to_frame()
        ids = kwargs.get("ids")
        frame.insert(0, "row", list(ids) if ids is not None else frame.index if isinstance(
            effect.yi, pd.Series) else np.arange(len(frame)))
        frame.insert(0, "r", float(r))
        frames.append(frame[["r", "row", "measure", "yi", "vi"]])
    return pd.concat(frames, ignore_index=True)
