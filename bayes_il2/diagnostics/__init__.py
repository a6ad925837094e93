"""Diagnostics and model criticism: how far a fit can be trusted.

``diagnose(fit)`` runs every check that applies to the fit and returns a
:class:`DiagnosticsReport` (tables as pandas, JSON form, one-line verdict).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from bayes_il2.diagnostics.checks import Check, Thresholds, worst
from bayes_il2.diagnostics.comparison import compare_by_loo, compare_models
from bayes_il2.diagnostics.convergence import convergence_checks, convergence_table, main_variables
from bayes_il2.diagnostics.exact_bridge import exact_loo_elpd, supports_exact
from bayes_il2.diagnostics.exact_checks import draws_table, exact_engine_check, exact_loo
from bayes_il2.diagnostics.influence import influence_table
from bayes_il2.diagnostics.loo import LooResult, loo_by_study, refit_loo_elpd
from bayes_il2.diagnostics.predictive import predictive_table
from bayes_il2.diagnostics.report import DiagnosticsReport
from bayes_il2.diagnostics.sensitivity import power_scaling_table, prior_sensitivity_check, tau_prior_grid
from bayes_il2.errors import ModelError

__all__ = ["Check", "DiagnosticsReport", "LooResult", "Thresholds", "as_fit", "diagnose", "convergence_table",
           "predictive_table", "loo_by_study", "influence_table", "power_scaling_table", "tau_prior_grid",
           "compare_by_loo", "compare_models"]


@dataclass(frozen=True)
class _DrawsOnly:
    """A DataTree without fit metadata, seen as a Fit of unknown family (no exact-engine checks)."""

    idata: Any
    family: str = ""
    measure: str | None = None
    data: pd.DataFrame = field(default_factory=pd.DataFrame)
    settings: dict = field(default_factory=dict)
    priors: dict = field(default_factory=dict)
    model: Any = None


def as_fit(obj: Any):
    """A Fit as given; a DataTree (or anything with a ``posterior`` group) as a Fit when it carries
    bayes_il2 metadata, else as a draws-only view. ModelError for anything else."""
    if hasattr(obj, "idata"):
        return obj
    try:
        has_posterior = "posterior" in obj.children if hasattr(obj, "children") else hasattr(obj, "posterior")
    except TypeError:
        has_posterior = False
    if not has_posterior:
        raise ModelError(f"diagnose: expected a Fit or a DataTree with a posterior group; got {type(obj).__name__}")
    if getattr(obj, "attrs", {}).get("bayes_il2_fit"):
        from bayes_il2.fit import Fit

        return Fit.from_datatree(obj)
    return _DrawsOnly(idata=obj)


def diagnose(fit, thresholds: Thresholds | None = None, *, influence: bool = True,
             sensitivity: bool = True, refit: Callable | None = None) -> DiagnosticsReport:
    """Run every diagnostic that applies to ``fit``.

    Parameters
    ----------
    fit : Fit or DataTree
        A fitted model (see ``bayes_il2.fit.Fit``), or its ``idata`` (a DataTree; one read from a
        ``posterior.nc`` written by bayes_il2 carries the fit's metadata; a bare tree gets the checks
        that need only draws: convergence, predictive check, PSIS-LOO).
    thresholds : Thresholds, optional
        Pass/fail limits; the documented defaults otherwise (R-hat <= 1.01, bulk and tail ESS >= 400,
        no divergences, E-BFMI >= 0.3, Pareto k <= 0.7).
    influence, sensitivity : bool
        Compute leave-one-study-out influence and prior sensitivity (exact engine for normal models).
    refit : callable, optional
        ``refit(fit, study_id) -> summary dict`` for leave-one-out of non-normal families (default:
        the fit's own compiled sampler with the study's likelihood weight set to 0).

    Returns
    -------
    DiagnosticsReport
    """
    thresholds = thresholds or Thresholds()
    fit = as_fit(fit)
    idata = fit.idata
    notes: list[str] = []
    exact = getattr(fit, "sampler", None) == "exact"
    if exact:  # independent draws from the exact posterior: no chain to converge (exact_checks)
        table = draws_table(idata, main_variables(idata))
        checks = [exact_engine_check(table)]
    else:
        table = convergence_table(idata)
        checks = convergence_checks(idata, table, thresholds)
    tables = {"convergence": table}

    ppc = predictive_table(idata, level=thresholds.ppc_level,
                           disease_of_study=(getattr(fit, "settings", {}) or {}).get("disease_of_study"))
    if len(ppc):
        tables["predictive"] = ppc
        column = "outside_mixed" if "outside_mixed" in ppc.columns else "outside"
        outside = ppc.loc[ppc[column].astype(bool), "study_id"].tolist()
        kind = "mixed predictive" if column == "outside_mixed" else "posterior predictive"
        checks.append(Check(
            "predictive_check", "pass" if not outside else "warn", len(outside),
            f"observed inside {thresholds.ppc_level:.0%} {kind} interval",
            f"{len(outside)} of {ppc['study_id'].nunique()} studies outside their {kind} interval"
            + (f": {', '.join(outside)}" if outside else ""),
            "" if not outside else "check these studies for data errors, a different population or regimen"))
    else:
        notes.append("no posterior predictive draws: per-study predictive check skipped")

    loo_elpd = _leave_one_out(fit, thresholds, exact, tables, checks, notes)

    if influence:
        infl = influence_table(fit, refit=refit)
        if infl is not None:
            tables["influence"] = infl
        else:
            notes.append("leave-one-study-out skipped: fewer than three studies, or no exact engine/refit for this family")
    if sensitivity:
        ps = power_scaling_table(fit)
        if ps is not None:
            tables["power_scaling"] = ps
            check = prior_sensitivity_check(ps, thresholds.psense_max)
            if check is not None:
                checks.append(check)
        else:
            notes.append("power-scaling sensitivity unavailable for this fit (needs log prior and log likelihood)")
        grid = tau_prior_grid(fit)
        if grid is not None:
            tables["tau_prior_grid"] = grid
        comparison = compare_models(fit)
        if comparison is not None:
            tables["model_comparison"] = comparison
    return DiagnosticsReport(checks=checks, tables=tables, loo_elpd=loo_elpd, notes=notes)


def _leave_one_out(fit, thresholds: Thresholds, exact: bool, tables: dict, checks: list, notes: list) -> dict:
    """Leave-one-study-out elpd into ``tables``/``checks``/``notes``; returns elpd_loo, se and p_loo.

    An exact fit gets every study's elpd from the exact engine (no importance sampling, no Pareto k);
    any other fit PSIS-LOO, with the studies of high Pareto k recomputed by the exact engine or by a
    refit without them where the fit allows it.
    """
    idata = fit.idata
    if exact and supports_exact(fit):
        loo = exact_loo(idata, lambda sid: exact_loo_elpd(fit, sid))
        if loo is None:
            notes.append("leave-one-out skipped: no per-study log-likelihood or fewer than two studies")
            return {}
        tables["loo"] = loo.table
        return {"elpd_loo": loo.elpd, "se": loo.se, "p_loo": loo.p_loo}
    if supports_exact(fit):
        exact_elpd, how = (lambda sid: exact_loo_elpd(fit, sid)), "exact engine"
    elif getattr(fit, "refitter", None) is not None:
        exact_elpd, how = (lambda sid: refit_loo_elpd(fit, sid)), "refit without the study"
    else:
        exact_elpd, how = None, ""
    loo = loo_by_study(idata, thresholds.pareto_k_max, exact_elpd=exact_elpd)
    if loo is None:
        notes.append("PSIS-LOO skipped: no per-study log-likelihood or fewer than two studies")
        return {}
    tables["loo"] = loo.table
    bad = loo.flagged
    checks.append(Check(
        "pareto_k", "pass" if not bad else "warn", float(loo.table["pareto_k"].max()),
        f"<= {thresholds.pareto_k_max}",
        f"{len(bad)} studies with Pareto k > {thresholds.pareto_k_max}" + (f": {', '.join(bad)}" if bad else ""),
        "" if not bad else (f"influential studies; their elpd was recomputed ({how})" if exact_elpd
                            else "influential studies: PSIS-LOO is unreliable for them (refit without them)")))
    return {"elpd_loo": loo.elpd, "se": loo.se, "p_loo": loo.p_loo}
