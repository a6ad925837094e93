"""Performance measures of a simulation study with their Monte-Carlo standard errors.

Formulas from Morris, White & Crowther (2019), "Using simulation studies to evaluate statistical
methods", Stat Med 38:2074-2102, Table 6, for n_sim successful replicates with estimates
theta_hat_i of the true theta:

- bias = mean(theta_hat) - theta;  MCSE = sqrt(var(theta_hat) / n_sim)
- MSE = mean((theta_hat - theta)^2);  MCSE = sqrt(sum(((theta_hat - theta)^2 - MSE)^2) / (n_sim (n_sim - 1)));
  RMSE = sqrt(MSE) with MCSE(MSE) / (2 RMSE) (delta method)
- coverage = share of intervals containing theta;  MCSE = sqrt(cov (1 - cov) / n_sim)
- mean interval width;  MCSE = sd(width) / sqrt(n_sim)
- failure rate (over all replicates) and divergent-fit rate (share of successful MCMC fits with at
  least one divergent transition): proportions with MCSE sqrt(p (1 - p) / n).

Performance is computed over the successful fits; the failure rate says how many there were.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_il2.simulation.scenarios import CELL_COLUMNS

METRICS = ("bias", "rmse", "coverage", "width", "failure_rate", "divergent_rate")


def _proportion(p: float, n: int) -> float:
    return float(np.sqrt(p * (1 - p) / n)) if n > 0 else float("nan")


def performance(estimate: np.ndarray, ci_low: np.ndarray, ci_high: np.ndarray, truth: float,
                failed: np.ndarray, divergences: np.ndarray) -> dict[str, float]:
    """Every measure and its MCSE for one method in one scenario (Morris et al. 2019, Table 6)."""
    ok = ~np.asarray(failed, dtype=bool)
    n_all = int(ok.size)
    est, low, high = (np.asarray(a, dtype=float)[ok] for a in (estimate, ci_low, ci_high))
    n = int(est.size)
    out: dict[str, float] = {"n_replicates": n_all, "n_successful": n}
    fail = 1 - n / n_all if n_all else float("nan")
    out.update(failure_rate=fail, failure_rate_mcse=_proportion(fail, n_all))
    if n == 0:
        for m in ("bias", "rmse", "coverage", "width", "divergent_rate"):
            out[m] = out[f"{m}_mcse"] = float("nan")
        return out
    err = est - truth
    out["bias"] = float(err.mean())
    out["bias_mcse"] = float(np.sqrt(est.var(ddof=1) / n)) if n > 1 else float("nan")
    mse = float((err ** 2).mean())
    mse_mcse = float(np.sqrt(((err ** 2 - mse) ** 2).sum() / (n * (n - 1)))) if n > 1 else float("nan")
    out["rmse"] = float(np.sqrt(mse))
    out["rmse_mcse"] = mse_mcse / (2 * out["rmse"]) if out["rmse"] > 0 else float("nan")
    covered = (low <= truth) & (truth <= high)
    out["coverage"] = float(covered.mean())
    out["coverage_mcse"] = _proportion(out["coverage"], n)
    width = high - low
    out["width"] = float(width.mean())
    out["width_mcse"] = float(width.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    div = float((np.asarray(divergences)[ok] > 0).mean())
    out["divergent_rate"] = div
    out["divergent_rate_mcse"] = _proportion(div, n)
    return out


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario and method: every measure with its ``*_mcse`` column.

    ``results`` is the tidy table of :func:`bayes_il2.simulation.study.run_study` (one row per
    replicate and method, with the true ``mu``).
    """
    rows = []
    keys = [*CELL_COLUMNS, "method"]
    for key, group in results.groupby(keys, sort=False):
        truth = float(group["mu"].iloc[0])
        row = dict(zip(keys, key, strict=True))
        row.update(performance(group["estimate"].to_numpy(), group["ci_low"].to_numpy(),
                               group["ci_high"].to_numpy(), truth, group["failed"].to_numpy(),
                               group["divergences"].to_numpy()))
        rows.append(row)
    return pd.DataFrame(rows)
