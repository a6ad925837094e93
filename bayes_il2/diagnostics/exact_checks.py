"""Diagnostics of an exact-engine fit, from the exact engine and its independent draws.

An exact fit's summaries come from the exact marginals (numerical integration); its draws are
independent draws from the exact posterior, kept for the predictive check and the figures. So:

- there is no chain to converge: the draws table gives each parameter's number of draws and the
  Monte-Carlo error of a draw-based mean, sd / sqrt(n) (independent draws), in place of R-hat/ESS;
- leave-one-out is exact for every study: log p(y_i | y_-i) from the exact refit without study i
  (:func:`bayes_il2.diagnostics.exact_bridge.exact_loo_elpd`; Vehtari, Gelman & Gabry 2017, sec. 2:
  the quantity PSIS-LOO approximates), so no importance sampling and no Pareto k;
- power-scaling sensitivity (Kallioinen, Paananen, Bürkner & Vehtari 2024, Statistics and Computing
  34:57) reweights the independent draws by the power-scaled prior or likelihood: the cumulative
  Jensen-Shannon distance between the draws and their reweighted version at alpha = 0.99 and 1.01,
  as ArviZ's ``psense_summary`` computes it, without its Pareto smoothing of the weights' tails
  (independent draws, weights within a few percent of each other); tested against ArviZ.

None of this imports arviz_stats (and with it scipy.stats): about 1.5 s of ``bayes-il2 fit``'s
path on a 2-core machine (issue #19).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import xarray as xr

from bayes_il2.diagnostics.checks import Check
from bayes_il2.diagnostics.loo import LooResult, study_log_likelihood

ALPHAS = (0.99, 1.01)
SENSITIVITY_THRESHOLD = 0.05


def _per_draw(da: xr.DataArray) -> np.ndarray:
    """The values of ``da`` as (draws, elements): chains first, then draws; the other dims flattened."""
    return np.asarray(da.transpose("chain", "draw", ...)).reshape(da.sizes["chain"] * da.sizes["draw"], -1)


def draws_table(idata: xr.DataTree, var_names: list[str]) -> pd.DataFrame:
    """One row per scalar element of ``var_names``: parameter, draws, mean, sd, mcse_mean (sd/sqrt(n))."""
    from bayes_il2.diagnostics.convergence import _element_labels

    post = idata["posterior"]
    rows = []
    for var in var_names:
        da = post[var]
        values = _per_draw(da)
        n = values.shape[0]
        for label, column in zip(_element_labels(da), values.T, strict=True):
            sd = float(np.std(column, ddof=1)) if n > 1 else float("nan")
            rows.append({"parameter": label, "draws": n, "mean": float(column.mean()), "sd": sd,
                         "mcse_mean": sd / np.sqrt(n)})
    return pd.DataFrame(rows, columns=["parameter", "draws", "mean", "sd", "mcse_mean"])


def exact_engine_check(table: pd.DataFrame) -> Check:
    """The check that replaces R-hat, ESS and the sampler's checks for an exact fit (always passes)."""
    n = int(table["draws"].iloc[0]) if len(table) else 0
    return Check("exact_engine", "pass", n, "independent draws",
                 "exact engine (numerical integration): the summaries come from the exact marginals and "
                 f"the {n} draws used for the predictive check and the figures are independent; no chain "
                 "to converge, so no R-hat, ESS or divergences to judge", "")


def exact_loo(idata: xr.DataTree, elpd_of: Callable[[str], float]) -> LooResult | None:
    """Leave-one-out with every study's log p(y_i | y_-i) from the exact engine (``elpd_of``).

    p_loo is lppd - elpd_loo, lppd from the draws' log-likelihood (log mean exp over the draws; its
    Monte-Carlo error is that of independent draws). The table has the columns of PSIS-LOO's, with
    ``pareto_k`` NaN (no importance sampling), ``flagged`` False and ``elpd_method`` "exact".
    None without a per-study log-likelihood or with fewer than two studies.
    """
    from scipy.special import logsumexp

    found = study_log_likelihood(idata)
    if found is None:
        return None
    ll, dim = found
    studies = ll[dim].values.astype(str)
    elpd_i = np.array([elpd_of(study) for study in studies], dtype=float)
    draws = np.asarray(ll.transpose("chain", "draw", dim)).reshape(-1, len(studies))
    lppd = float((logsumexp(draws, axis=0) - np.log(draws.shape[0])).sum())
    table = pd.DataFrame({"study_id": studies, "elpd_i": elpd_i, "pareto_k": np.nan, "flagged": False,
                          "elpd_method": "exact"})
    elpd = float(elpd_i.sum())
    return LooResult(elpd=elpd, se=float(np.sqrt(len(elpd_i) * np.var(elpd_i))), p_loo=lppd - elpd, table=table)


def _summed(group: xr.Dataset, names: list[str] | None) -> np.ndarray:
    """Per draw (chain-major), the sum of the group's variables ``names`` (all when None) over their elements."""
    total = None
    for name in names or list(group.data_vars):
        values = _per_draw(group[name]).sum(axis=1)
        total = values if total is None else total + values
    if total is None:
        raise KeyError("no variable to sum")
    return total


def _cjs_distance(x: np.ndarray, weights: np.ndarray) -> float:
    """Cumulative Jensen-Shannon distance between the empirical cdf of ``x`` and its ``weights``-weighted
    version (Nielsen 2010; the form of Kallioinen et al. 2024, sec. 3.2)."""
    order = np.argsort(x)
    x, weights = x[order], weights[order]
    width = np.diff(x)
    n = len(x)
    cdf_p = np.linspace(1 / n, 1 - 1 / n, n - 1)
    cdf_q = np.cumsum(weights / weights.sum())[:-1]
    int_p, int_q = float(cdf_p @ width), float(cdf_q @ width)
    mid = 0.5 * (cdf_p + cdf_q)
    log_p = np.log2(cdf_p, out=np.zeros_like(cdf_p), where=cdf_p != 0)
    log_q = np.log2(cdf_q, out=np.zeros_like(cdf_q), where=cdf_q != 0)
    log_mid = np.log2(mid, out=np.zeros_like(mid), where=mid != 0)
    pq = max(0.0, float(np.sum(width * cdf_p * (log_p - log_mid))) + 0.5 / np.log(2) * (int_q - int_p))
    qp = max(0.0, float(np.sum(width * cdf_q * (log_q - log_mid))) + 0.5 / np.log(2) * (int_p - int_q))
    return float(np.sqrt((pq + qp) / (int_p + int_q)))


def _sensitivity(x: np.ndarray, log_density: np.ndarray) -> float:
    """Finite-difference power-scaling sensitivity of ``x`` to the component with ``log_density``."""
    grads = []
    for alpha in ALPHAS:
        log_w = (alpha - 1.0) * log_density
        weights = np.exp(log_w - log_w.max())
        cjs = max(_cjs_distance(x, weights), _cjs_distance(-x, weights))
        grads.append(cjs / abs(np.log2(alpha)))
    return float(np.mean(grads))


def _diagnosis(prior: float, likelihood: float) -> str:
    if prior >= SENSITIVITY_THRESHOLD and likelihood >= SENSITIVITY_THRESHOLD:
        return "potential prior-data conflict"
    if prior > SENSITIVITY_THRESHOLD > likelihood:
        return "potential strong prior / weak likelihood"
    return "✓"


def power_scaling_independent(idata: xr.DataTree, var_names: list[str],
                              prior_var_names: list[str] | None) -> pd.DataFrame | None:
    """Power-scaling sensitivity of ``var_names`` from independent posterior draws.

    Columns parameter, prior, likelihood (rounded to 3 decimals, as ArviZ's table) and diagnosis
    (ArviZ's labels: prior and likelihood sensitivity both >= 0.05 is a potential prior-data
    conflict; prior > 0.05 > likelihood a potentially strong prior or weak likelihood). None without
    the ``log_prior`` or ``log_likelihood`` group.
    """
    if "log_prior" not in idata.children or "log_likelihood" not in idata.children:
        return None
    log_prior = _summed(idata["log_prior"].to_dataset(), prior_var_names)
    log_lik = _summed(idata["log_likelihood"].to_dataset(), None)
    rows = []
    for name in var_names:
        x = _summed(idata["posterior"].to_dataset(), [name])  # scalar parameters: the draws themselves
        prior, likelihood = round(_sensitivity(x, log_prior), 3), round(_sensitivity(x, log_lik), 3)
        rows.append({"parameter": name, "prior": prior, "likelihood": likelihood,
                     "diagnosis": _diagnosis(prior, likelihood)})
    return pd.DataFrame(rows, columns=["parameter", "prior", "likelihood", "diagnosis"])
