"""One sentence per analysis: where and why the classical and the Bayesian results differ.

A pure function of the numbers both analyses wrote (``classical.csv`` and ``summary.csv``): k, the
REML tau^2 (zero or not), the Q-profile interval of tau^2, the width of the REML + HKSJ interval against
the Wald one and against the Bayesian credible interval, and the two point estimates. It picks the one
reason that matters most, in this order:

1. k < 2: nothing to compare.
2. REML puts tau^2 at 0 with few studies (k <= 5): tau is not identified and the classical interval
   rests on "no heterogeneity".
3. HKSJ narrower than Wald (q < 1): the classical interval is optimistic (Röver et al. 2015).
4. Interval widths differ by more than 25%: with few studies the heterogeneity prior (Bayesian) and the
   t quantiles (HKSJ) widen differently.
5. Point estimates differ by more than half a classical standard error: shrinkage towards the prior,
   or different weights through a different tau.
6. Otherwise they agree.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from bayes_il2._cells import cell_number as _num

HEADLINE_MODEL = "REML + HKSJ"
LOG_MEASURES = {"OR", "RR", "ROM", "ROMC", "HR"}


def _to_model_scale(measure: str | None, x: float) -> float:
    if measure in LOG_MEASURES:
        return math.log(x) if x > 0 else float("nan")
    if measure == "PLO":
        return math.log(x / (1 - x)) if 0 < x < 1 else float("nan")
    return x


def _row(summary: pd.DataFrame, parameter: str) -> pd.Series | None:
    if summary is None or len(summary) == 0 or "parameter" not in summary.columns:
        return None
    rows = summary[summary["parameter"] == parameter]
    if "coord" in rows.columns:
        plain = rows[rows["coord"].isna() | (rows["coord"].astype(str) == "")]
        rows = plain if len(plain) else rows
    return rows.iloc[0] if len(rows) else None


def explain_difference(classical: pd.DataFrame, summary: pd.DataFrame, measure: str | None = None,
                       family: str | None = None) -> str:
    """One sentence saying where and why the classical (REML + HKSJ) and Bayesian pooled results differ.

    Parameters
    ----------
    classical : DataFrame
        The ``classical.csv`` rows (:func:`bayes_il2.classical.tables.classical_table`).
    summary : DataFrame
        The Bayesian ``summary.csv`` (natural scale for location parameters: ``parameter, median,
        eti_low, eti_high``; ``tau`` on the model scale).
    measure : str, optional
        Measure code (default: the classical table's ``measure``).
    family : str, optional
        The Bayesian model family, or ``"meta_regression"`` when it has covariates (a three-level model or a
        meta-regression pools differently; the sentence says so).

    Returns
    -------
    str
        One sentence, or "" when there is nothing to compare.
    """
    if classical is None or len(classical) == 0 or "model" not in classical.columns:
        return ""
    head = classical[classical["model"] == HEADLINE_MODEL]
    if len(head) == 0 or not np.isfinite(_num(head.iloc[0].get("estimate"))):
        k = _num(classical["k"].iloc[0]) if "k" in classical.columns else float("nan")
        if np.isfinite(k) and k < 2:
            k = int(k)
            return (f"With k = {k} {'study' if k == 1 else 'studies'} there is nothing to pool classically; only "
                    "the Bayesian model, through its priors, gives an estimate.")
        return ""
    c = head.iloc[0]
    measure = measure or (str(c.get("measure")) if pd.notna(c.get("measure")) else None)
    k = int(_num(c["k"]))
    est, lo, hi = _num(c["estimate"]), _num(c["ci_low"]), _num(c["ci_high"])
    wald_lo, wald_hi, se = _num(c["wald_low"]), _num(c["wald_high"]), _num(c["se"])
    tau2 = _num(c["tau2"])
    t2_lo, t2_hi = _num(c.get("tau2_ci_low")), _num(c.get("tau2_ci_high"))
    width = hi - lo
    hksj_vs_wald = width / (wald_hi - wald_lo) if wald_hi > wald_lo else float("nan")
    mu = _row(summary, "mu")
    tau_row = _row(summary, "tau")
    b_est = _to_model_scale(measure, _num(mu["median"])) if mu is not None else float("nan")
    b_lo = _to_model_scale(measure, _num(mu["eti_low"])) if mu is not None else float("nan")
    b_hi = _to_model_scale(measure, _num(mu["eti_high"])) if mu is not None else float("nan")
    b_tau = _num(tau_row["median"]) if tau_row is not None else float("nan")
    ratio = (b_hi - b_lo) / width if width > 0 and np.isfinite(b_hi - b_lo) else float("nan")
    scale_word = "" if measure not in LOG_MEASURES | {"PLO"} else (" on the log scale" if measure != "PLO"
                                                                   else " on the logit scale")
    caveat = ""
    if family == "three_level":
        caveat = " (the Bayesian model is three-level, so its pooled mean also spreads over diseases)"
    elif family == "meta_regression":
        caveat = " (the Bayesian mu is the intercept of a meta-regression; the classical fits have no covariates)"
    elif family in ("binomial_normal", "single_arm"):
        caveat = (" (and the classical rows approximate each study's log odds by a normal with 0.5 added to zero "
                  "cells, where the Bayesian model uses the binomial likelihood)")
    elif family and family != "nnhm":
        caveat = f" (Bayesian model: {family})"
    tau_text = f"posterior median tau = {b_tau:.2f}" if np.isfinite(b_tau) else "the Bayesian tau"
    if not np.isfinite(b_tau):  # three-level models: two standard deviations
        within, between = _row(summary, "tau_within"), _row(summary, "tau_between")
        if within is not None and between is not None:
            tau_text = (f"posterior medians tau_within = {_num(within['median']):.2f}, "
                        f"tau_between = {_num(between['median']):.2f}")
    if tau2 <= 1e-12 and k <= 5:
        b_width = b_hi - b_lo
        wald_ratio = b_width / (wald_hi - wald_lo) if np.isfinite(b_width) and wald_hi > wald_lo else float("nan")
        tail = f"{caveat}."
        if np.isfinite(wald_ratio) and np.isfinite(ratio):
            tail = (f": the Bayesian credible interval, which averages over plausible tau ({tau_text}), is "
                    f"{wald_ratio:.2g} times as wide as the Wald interval, and HKSJ with t on {k - 1} df is "
                    f"{1 / ratio:.2g} times as wide as the Bayesian one{caveat}.")
        return (f"tau is not identified with k = {k}: REML gives tau^2 = 0 (Q-profile 95% CI "
                f"{t2_lo:.2g} to {t2_hi:.2g}), so the classical intervals assume no between-study variation"
                + tail)
    if np.isfinite(hksj_vs_wald) and hksj_vs_wald < 1:
        return (f"With k = {k} the Knapp-Hartung factor q is below 1, so the HKSJ interval is "
                f"{hksj_vs_wald:.2f} times the Wald interval, narrower than a z interval would be; the modified "
                f"Knapp-Hartung interval (never narrower than Wald) is the safer classical comparison"
                + (f", and the Bayesian interval is {ratio:.2g} times as wide as HKSJ{caveat}." if np.isfinite(ratio)
                   else f"{caveat}."))
    if np.isfinite(ratio) and (ratio > 1.25 or ratio < 0.8):
        return (f"The Bayesian 95% credible interval is {ratio:.2g} times the width of the REML + HKSJ interval"
                f"{scale_word}: with k = {k} studies tau is weakly informed (REML tau = "
                f"{math.sqrt(max(tau2, 0)):.2f}, Q-profile 95% CI for tau^2 {t2_lo:.2g} to {t2_hi:.2g}; "
                f"{tau_text}), and the heterogeneity prior and the t_{{k-1}} quantiles widen the two intervals "
                f"differently{caveat}.")
    if np.isfinite(b_est) and se > 0 and abs(b_est - est) > 0.5 * se:
        return (f"The point estimates differ by {abs(b_est - est):.2g}{scale_word} (more than half a classical "
                f"standard error) although the interval widths agree within 25%: the Bayesian {tau_text} against "
                f"REML tau = {math.sqrt(max(tau2, 0)):.2f} gives the studies different weights{caveat}.")
    if not np.isfinite(b_est):
        return (f"REML + HKSJ with k = {k}: tau^2 = {tau2:.3g}, interval {hksj_vs_wald:.2g} times the Wald "
                f"interval{caveat}.")
    return (f"Classical and Bayesian results agree: the estimates differ by {abs(b_est - est):.2g}{scale_word} "
            f"and the interval widths by {abs(ratio - 1) * 100:.0f}% with k = {k} studies{caveat}.")
