"""Sensitivity scenarios answered by reweighting the analysis's own draws instead of sampling again.

A scenario that changes only the known sampling variances ``vi`` of fully reported rows (e.g. the
pre-post correlation r of a ROMC analysis, which enters only the variances of its complete rows)
leaves the model's parameters and every other likelihood term as they are. Its posterior is then
the analysis's posterior times the ratio of the changed rows' likelihoods, which for row i with
effect theta_i (a draw of the posterior's ``theta``) is

    N(y_i | theta_i, vi_new + s_i^2) / N(y_i | theta_i, vi_old + s_i^2)

(s_i^2 the rounding variance of an ``approximate`` row, 0 otherwise; the model's Gaussian row term,
:mod:`bayes_il2.modeling.partial`). The reweighted draws are Pareto-smoothed (Vehtari, Simpson,
Gelman, Yao & Gabry 2024, JMLR 25(72)) and used where k <= 0.7; the caller samples again otherwise
(issue #19: refit only where needed). Tested against the compiled model's own log density and
against refits by MCMC.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_il2.errors import ModelError

#: Row kinds whose likelihood is the Gaussian term N(y | theta, se^2 + s_round^2).
GAUSSIAN_KINDS = ("complete", "approximate")
K_MAX = 0.7
#: Per-row data of the latent standard errors (pre-post correlation, CVs, sample sizes): the model
#: reads them only at the rows whose standard error is latent (:func:`bayes_il2.modeling.partial.build_partial`).
LATENT_ROW_CONTAINERS = ("inv_n", "n_total", "cv_pre", "cv_post", "r_row")


def variance_change_log_ratios(fit, table: pd.DataFrame) -> np.ndarray | None:
    """Per draw (chains first), log p(y | theta, new vi) - log p(y | theta, fit's vi), where ``table``
    differs from the fit's table only in the known variances of Gaussian rows; None otherwise (other
    data, another structure, a latent standard error, a fit without a partial-information refitter).
    """
    from bayes_il2.modeling.partial import prepare_rows

    built = getattr(getattr(fit, "refitter", None), "built", None)
    if built is None or getattr(built, "data_values", None) is None or "info" not in fit.data.columns:
        return None
    try:
        old, new = built.data_values(fit.data), built.data_values(table)
    except ModelError:
        return None
    if set(old) != set(new) or "vi" not in old or len(old["vi"]) != len(new["vi"]):
        return None
    prepared = prepare_rows(table.reset_index(drop=True), fit.measure, fit.family)
    latent = np.asarray(prepared.latent_se, dtype=bool)

    def same(name: str) -> bool:
        a, b = old[name], new[name]
        if name in LATENT_ROW_CONTAINERS:  # read only at the rows whose standard error is latent
            a, b = a[latent], b[latent]
        return np.array_equal(a, b, equal_nan=True)

    if [name for name in old if not same(name)] != ["vi"]:
        return None
    rows = np.flatnonzero(old["vi"] != new["vi"])
    if not (np.isin(prepared.kind[rows], GAUSSIAN_KINDS).all() and not latent[rows].any()):
        return None
    theta = fit.idata["posterior"].get("theta")
    if theta is None or theta.sizes.get("study_id") != len(old["vi"]):
        return None
    theta = np.asarray(theta.transpose("chain", "draw", "study_id")).reshape(-1, len(old["vi"]))[:, rows]
    y = old["yi"][rows]
    s2 = old["s_round2"][rows] if "s_round2" in old else np.zeros(rows.size)

    def log_lik(vi: np.ndarray) -> np.ndarray:
        var = vi[rows] + s2
        return (-0.5 * np.log(2 * np.pi * var) - 0.5 * (y - theta) ** 2 / var).sum(axis=1)

    return log_lik(np.asarray(new["vi"], dtype=float)) - log_lik(np.asarray(old["vi"], dtype=float))


def reweighted_scenario(fit, table: pd.DataFrame) -> dict | None:
    """The scenario summary (mu_mean, mu_low, mu_high, tau_median, pareto_k; engine
    ``mcmc-reweighted``) from the fit's draws reweighted to ``table``; None where the scenario is not
    a change of known variances or the weights' Pareto k exceeds :data:`K_MAX`."""
    from bayes_il2.diagnostics.influence import reweighted_summary

    log_ratios = variance_change_log_ratios(fit, table)
    if log_ratios is None:
        return None
    summary, k = reweighted_summary(fit, log_ratios)
    if not np.isfinite(k) or k > K_MAX:
        return None
    return {**{key: summary[key] for key in ("mu_mean", "mu_low", "mu_high", "tau_median")},
            "pareto_k": k, "engine": "mcmc-reweighted"}
