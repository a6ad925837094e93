"""Observation windows of single-arm event counts, for rates per patient-time (the cloglog model).

An arm's exposure is the window its events were counted over, ``week_end - week_start`` in
events.csv, taken as every patient's time at risk (patients who left early had less, so the rate is
then underestimated; the registry does not give patient-time). Rows without a window (either bound
blank) or with a window of zero length are excluded with the reason: the study's follow-up in
studies.csv is *not* substituted, because a paper's adverse-event window often differs from its
follow-up and the registry never guesses a number.

For plots each kept row gets ``yi``/``vi`` on the model scale (measure ``IRLN``, log rate per
patient-year) from the cloglog estimate: lambda = -log(1 - p) / t with p = events / n, 0.5 added to
events and non-events of arms with 0 or n events (display only, flagged in ``corrected``); the
variance by the delta method, vi = p / (n (1 - p) log(1 - p)^2). The model itself uses the counts.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: Weeks per year (365.25 / 7).
WEEKS_PER_YEAR = 365.25 / 7.0
EXPOSURE_SOURCE = "events.csv week_end - week_start"
STATEMENT = ("events per patient-year under a constant hazard: the probability of at least one event in an "
             "arm's window of t years is 1 - exp(-rate t) (binomial likelihood, complementary log-log link, "
             "log-exposure offset); rows without a window are excluded")


def cloglog_log_rate(events: np.ndarray, n: np.ndarray, years: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(yi, vi, corrected): log of -log(1 - p)/t and its delta-method variance (see module doc)."""
    events, n, years = (np.asarray(a, dtype=float) for a in (events, n, years))
    corrected = (events == 0) | (events == n)
    p = np.where(corrected, (events + 0.5) / (n + 1.0), events / n)
    log1m = np.log1p(-p)
    yi = np.log(-log1m) - np.log(years)
    vi = p / (n * (1.0 - p) * log1m**2)
    return yi, vi, corrected


def exposure_table(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add ``exposure_weeks``, ``exposure_years`` and IRLN yi/vi; drop rows without a window.

    Parameters
    ----------
    table : DataFrame
        A single-arm event table (:func:`bayes_il2.effects.event_rate_effects`) with
        ``week_start`` and ``week_end``.

    Returns
    -------
    kept : DataFrame
        With ``measure = "IRLN"``, ``exposure_weeks``, ``exposure_years``, ``exposure_source``.
    excluded : DataFrame
        ``study_id, arm_id, outcome, reason``.
    """
    blank = pd.Series(np.nan, index=table.index)
    start = pd.to_numeric(table.get("week_start", blank), errors="coerce")
    end = pd.to_numeric(table.get("week_end", blank), errors="coerce")
    weeks = end - start
    reasons = pd.Series("", index=table.index, dtype=object)
    reasons[start.isna() | end.isna()] = ("no observation window in events.csv (week_start or week_end blank): "
                                          "the exposure model needs the time at risk")
    reasons[(reasons == "") & ~(weeks > 0)] = "observation window of zero or negative length"
    dropped = table[reasons != ""]
    excluded = pd.DataFrame({"study_id": dropped["study_id"], "arm_id": dropped.get("arm_id", ""),
                             "outcome": dropped.get("outcome", ""), "reason": reasons[reasons != ""]})
    kept = table[reasons == ""].copy()
    kept["exposure_weeks"] = weeks[reasons == ""].astype(float)
    kept["exposure_years"] = kept["exposure_weeks"] / WEEKS_PER_YEAR
    kept["exposure_source"] = EXPOSURE_SOURCE
    if len(kept):
        yi, vi, corrected = cloglog_log_rate(kept["events"], kept["n"], kept["exposure_years"])
        kept["yi"], kept["vi"], kept["corrected"] = yi, vi, corrected
    kept["measure"] = "IRLN"
    kept["correction"] = "0.5 added to events and non-events of arms with 0 or n events (display only)"
    return kept.reset_index(drop=True), excluded.reset_index(drop=True)
