"""Convergence diagnostics of an MCMC fit: R-hat, ESS, MCSE, divergences, tree depth, E-BFMI.

References
----------
Vehtari A, Gelman A, Simpson D, Carpenter B, Bürkner P-C (2021). Rank-normalization, folding, and
localization: an improved R-hat for assessing convergence of MCMC. Bayesian Analysis 16(2):667-718.
Betancourt M (2016). Diagnosing suboptimal cotangent disintegrations in Hamiltonian Monte Carlo.
arXiv:1604.00695 (E-BFMI).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from bayes_il2.diagnostics.checks import Check, Thresholds

#: Parameters whose convergence is judged when present in the posterior.
MAIN_PARAMETERS = ("mu", "tau", "tau_within", "tau_between", "beta", "mu_disease", "theta",
                   "theta_new", "alpha", "p_pooled", "p_new", "p_disease", "r", "rho", "rate_pooled")


def main_variables(idata: xr.DataTree) -> list[str]:
    """The reported parameters present in ``idata.posterior`` (in :data:`MAIN_PARAMETERS` order)."""
    present = set(idata["posterior"].data_vars)
    return [v for v in MAIN_PARAMETERS if v in present]


def _sample_stat(idata: xr.DataTree, *names: str) -> xr.DataArray | None:
    if "sample_stats" not in idata.children:
        return None
    stats = idata["sample_stats"]
    for name in names:
        if name in stats.data_vars:
            return stats[name]
    return None


def convergence_table(idata: xr.DataTree, var_names: list[str] | None = None) -> pd.DataFrame:
    """Per-parameter R-hat, bulk/tail ESS and MCSE of the mean, sd and 2.5/97.5% quantiles.

    One row per scalar element (``theta[He2022_pSS]`` style labels). Elements constant over the
    draws get R-hat and ESS NaN and MCSE 0 (:func:`bayes_il2.fit.draw_diagnostics`); the checks
    judge the others.
    """
    from bayes_il2.fit import draw_diagnostics

    var_names = var_names or main_variables(idata)
    post = idata["posterior"].to_dataset()[var_names]
    pieces = draw_diagnostics(post, ("r_hat", "ess_bulk", "ess_tail", "mcse_mean", "mcse_sd", "mcse_q2.5",
                                     "mcse_q97.5"))
    rows = []
    for var in var_names:
        arrays = {k: np.asarray(v[var]) for k, v in pieces.items()}
        labels = _element_labels(post[var])
        for i, label in enumerate(labels):
            rows.append({"parameter": label, **{k: float(a.reshape(-1)[i]) for k, a in arrays.items()}})
    return pd.DataFrame(rows)


def _element_labels(da: xr.DataArray) -> list[str]:
    extra = [d for d in da.dims if d not in ("chain", "draw")]
    if not extra:
        return [str(da.name)]
    index = pd.MultiIndex.from_product([da[d].values for d in extra]) if len(extra) > 1 else da[extra[0]].values
    return [f"{da.name}[{','.join(map(str, k)) if isinstance(k, tuple) else k}]" for k in index]


def _centered_hint(idata: xr.DataTree) -> str:
    """The first action for a centered fit (study effects sampled directly, no ``*_z`` offsets)."""
    try:
        names = set(idata["posterior"].data_vars)
    except KeyError:
        return ""
    if "theta" in names and "theta_z" not in names:
        return ("this fit is centered: refit non-centered (spec [model] parameterization = 'noncentered'; "
                "meta_analysis(parameterization='noncentered')); or ")
    return ""


def _noncentered_hint(idata: xr.DataTree) -> str:
    """For a non-centered fit: precise studies mix better centered (Papaspiliopoulos, Roberts & Sköld 2007)."""
    try:
        names = set(idata["posterior"].data_vars)
    except KeyError:
        return ""
    if "theta_z" in names:
        return ("; when the studies are precise (large trials) refit centered (meta_analysis("
                "parameterization='centered'); CLI fit --parameterization centered; spec [model] parameterization)")
    return ""


def convergence_checks(idata: xr.DataTree, table: pd.DataFrame, thresholds: Thresholds) -> list[Check]:
    """Pass / warn / fail checks from a :func:`convergence_table` and the sampler statistics."""
    if table["r_hat"].notna().any():
        checks = _rhat_ess_checks(idata, table, thresholds)
    else:
        checks = [Check("r_hat", "pass", float("nan"), f"<= {thresholds.rhat_max}",
                        "every reported quantity is constant over the draws: no R-hat or ESS to judge", "")]
    return checks + _sampler_checks(idata, thresholds)


def _rhat_ess_checks(idata: xr.DataTree, table: pd.DataFrame, thresholds: Thresholds) -> list[Check]:
    """R-hat and bulk/tail ESS over the elements that vary over the draws (NaN rows are skipped)."""
    checks: list[Check] = []
    rhat_max = float(table["r_hat"].max())
    worst_rhat = table.loc[table["r_hat"].idxmax(), "parameter"]
    checks.append(Check(
        "r_hat", "pass" if rhat_max <= thresholds.rhat_max else ("warn" if rhat_max <= 1.05 else "fail"),
        round(rhat_max, 4), f"<= {thresholds.rhat_max}",
        f"largest R-hat {rhat_max:.3f} ({worst_rhat})",
        "" if rhat_max <= thresholds.rhat_max else
        "chains disagree: run longer (CLI --tune 2000 --draws 2000; spec [sampler] tune/draws; "
        "meta_analysis(tune=2000, draws=2000)); if it persists, give tau a tighter prior (--tau-prior)"
        + _noncentered_hint(idata)))
    for kind in ("ess_bulk", "ess_tail"):
        low = float(table[kind].min())
        where = table.loc[table[kind].idxmin(), "parameter"]
        status = "pass" if low >= thresholds.ess_min else ("warn" if low >= 100 else "fail")
        checks.append(Check(
            kind, status, round(low, 1), f">= {thresholds.ess_min:g}",
            f"smallest {kind.replace('_', ' ')} {low:.0f} ({where})",
            "" if status == "pass" else "too few effective draws: raise draws or chains (CLI --draws 2000 "
            "--chains 4; spec [sampler]; meta_analysis(draws=..., chains=...))" + _noncentered_hint(idata)))
    return checks


def _sampler_checks(idata: xr.DataTree, thresholds: Thresholds) -> list[Check]:
    """Divergences, tree depth and E-BFMI from the sampler statistics (where the sampler gives them)."""
    checks: list[Check] = []
    diverging = _sample_stat(idata, "diverging")
    if diverging is not None:
        n_div = int(np.asarray(diverging).sum())
        total = int(np.asarray(diverging).size)
        checks.append(Check(
            "divergences", "pass" if n_div <= thresholds.max_divergences else "fail", n_div,
            f"<= {thresholds.max_divergences}", f"{n_div} divergent transitions in {total} draws",
            "" if n_div <= thresholds.max_divergences else
            (_centered_hint(idata) + "raise the target acceptance (CLI --target-accept 0.99; spec [sampler] target_accept; "
            "meta_analysis(target_accept=0.99)); if divergences remain, give tau a tighter prior (--tau-prior) "
            "and check the studies flagged by the predictive check")))
    depth = _sample_stat(idata, "maxdepth_reached", "reached_max_treedepth")
    if depth is not None:
        frac = float(np.asarray(depth, dtype=float).mean())
        ok = frac <= thresholds.treedepth_max_fraction
        checks.append(Check(
            "tree_depth", "pass" if ok else "warn", round(frac, 4), f"<= {thresholds.treedepth_max_fraction:g}",
            f"{frac:.1%} of draws hit the maximum tree depth",
            "" if ok else "the sampler takes very long trajectories: give mu and tau priors on the scale of "
            "the data (--mu-prior, --tau-prior) or analyse the effect on a log scale (e.g. ROM instead of MD)"))
    if _sample_stat(idata, "energy") is not None:
        from bayes_il2._arviz import arviz_stats  # imported on use: about a second (scipy.stats)

        az = arviz_stats()

        raw = az.bfmi(idata)
        if isinstance(raw, (xr.Dataset, xr.DataTree)):
            raw = raw["energy"]
        bfmi = np.atleast_1d(np.asarray(raw, dtype=float))
        low = float(np.nanmin(bfmi))
        checks.append(Check(
            "e_bfmi", "pass" if low >= thresholds.bfmi_min else "fail", round(low, 3), f">= {thresholds.bfmi_min}",
            f"lowest E-BFMI {low:.2f} over {bfmi.size} chains",
            "" if low >= thresholds.bfmi_min else
            "poor exploration of the energy distribution: raise tuning (--tune 2000) and the target acceptance "
            "(--target-accept 0.99), or give tau a tighter prior (--tau-prior)"))
    return checks
