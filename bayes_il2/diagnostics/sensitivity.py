"""Prior sensitivity: power-scaling diagnostics and a grid of heterogeneity priors.

Power-scaling sensitivity (Kallioinen, Paananen, Bürkner & Vehtari 2024, Statistics and Computing
34:57) perturbs the prior and the likelihood by small powers and measures how far each posterior
moves (cumulative Jensen-Shannon distance); ArviZ's ``psense_summary`` does the computation.
The heterogeneity-prior grid refits normal models with the exact engine under half-normal scales,
a half-Cauchy, and the empirical priors of Turner et al. (2015) or Rhodes et al. (2015) as the
measure allows.
"""
from __future__ import annotations

import contextlib
import logging
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from bayes_il2.diagnostics.checks import Check
from bayes_il2.diagnostics.exact_bridge import exact_model, summarize_exact, supports_exact


def power_scaling_table(fit, var_names: list[str] | None = None) -> pd.DataFrame | None:
    """ArviZ power-scaling sensitivity of the main parameters (None if it cannot be computed).

    An exact fit's independent draws are reweighted without ArviZ
    (:func:`bayes_il2.diagnostics.exact_checks.power_scaling_independent`; the same table within
    0.002 on the tested cases).

    Needs the ``log_prior`` and ``log_likelihood`` groups; the prior log density is computed from
    the PyMC model when the fit carries it. Only the priors the analyst chooses (those in
    ``fit.priors``: mu, tau, ...) are power-scaled, not the hierarchical distribution of the study
    effects nor the offsets of predictive draws, which are part of the model rather than of the
    prior choice (as priorsense does for hierarchical models, Kallioinen et al. 2024, sec. 4).

    Returns
    -------
    DataFrame or None
        Columns parameter, prior, likelihood (cumulative Jensen-Shannon sensitivity) and diagnosis.
    """
    idata = fit.idata
    if "log_likelihood" not in idata.children:
        return None
    if "log_prior" not in idata.children and getattr(fit, "model", None) is not None:
        group = chosen_log_prior(fit)
        idata = idata.copy()
        if group is not None:
            idata["log_prior"] = xr.DataTree(group)
        else:  # a chosen prior without a density of its own: PyMC's (compiled) log prior
            try:
                import pymc as pm

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    pm.stats.compute_log_prior(idata, model=fit.model, progressbar=False)
            except Exception:  # noqa: BLE001 - a sensitivity table is optional output
                return None
    if "log_prior" not in idata.children:
        return None
    present = set(idata["posterior"].data_vars)
    names = var_names or [v for v in ("mu", "tau", "tau_within", "tau_between") if v in present]
    chosen = [v for v in (getattr(fit, "priors", None) or {}) if v in set(idata["log_prior"].data_vars)]
    if getattr(fit, "sampler", None) == "exact":  # independent draws: plain importance weights suffice
        from bayes_il2.diagnostics.exact_checks import power_scaling_independent

        return power_scaling_independent(idata, names, chosen or None)
    from bayes_il2._arviz import arviz_stats  # imported on use: about a second (scipy.stats)

    az = arviz_stats()

    try:
        with warnings.catch_warnings(), _quiet_psense_log():
            warnings.simplefilter("ignore")
            table = az.psense_summary(idata, var_names=names, prior_var_names=chosen or None)
    except Exception:  # noqa: BLE001
        return None
    table = table.reset_index().rename(columns={"index": "parameter"})
    return table


def chosen_log_prior(fit) -> xr.Dataset | None:
    """The log prior density of each analyst-chosen prior (``fit.priors``) that is a free variable of
    the fit's PyMC model, at its posterior draws, from the prior object's own density (scipy).

    The same numbers as ``pymc.stats.compute_log_prior`` for those variables (constrained scale, no
    Jacobian; up to PyMC's rounding of normalising constants; tested), without compiling a PyTensor
    function of every free variable's density per fit (about 1 s each, issue #19). None where no
    chosen prior is a free variable or one has no ``logpdf``.
    """
    free = {rv.name for rv in fit.model.free_RVs}
    posterior = fit.idata["posterior"]
    out = {}
    for name, prior in (getattr(fit, "priors", None) or {}).items():
        if name in free and name in posterior.data_vars:
            try:
                out[name] = xr.DataArray(np.asarray(prior.logpdf(posterior[name].values), dtype=float),
                                         dims=posterior[name].dims)
            except (AttributeError, NotImplementedError):
                return None
    if not out:
        return None
    return xr.Dataset(out, coords={d: posterior[d] for d in ("chain", "draw")})


LOCATION_PARAMETERS = ("mu",)


def prior_sensitivity_check(table: pd.DataFrame, threshold: float) -> Check | None:
    """Pass/warn on the power-scaling prior sensitivity of the pooled location ``mu``.

    Only the location decides the status: with the handful of studies typical here the heterogeneity
    is almost always prior-sensitive, which the tau-prior grid quantifies; it is named in the
    message, not counted, so the check stays informative. A prior sensitivity above ``threshold``
    (0.05, Kallioinen et al. 2024) means the pooled estimate moves when the prior is perturbed:
    with a sensitive likelihood too ArviZ calls it a prior-data conflict, otherwise a strong prior
    or weak likelihood.
    """
    rows = table.set_index("parameter")
    located = [p for p in LOCATION_PARAMETERS if p in rows.index]
    if not located:
        return None
    value = float(rows.loc[located, "prior"].max())
    if not np.isfinite(value):  # NaN > threshold is False: it passed as "(✓)"
        return Check("prior_sensitivity", "warn", value, f"<= {threshold}",
                     f"{', '.join(located)}: prior sensitivity could not be computed (NaN)",
                     "the power-scaled prior or likelihood is not finite at some draws (e.g. a prior whose "
                     "density overflows); check the prior, or compare fits under other priors")
    flagged = [p for p in located if rows.loc[p, "prior"] > threshold]
    others = [f"{p} {rows.loc[p, 'prior']:.3f}" for p in rows.index if p not in located
              and rows.loc[p, "prior"] > threshold]
    message = "; ".join(f"{p}: prior sensitivity {rows.loc[p, 'prior']:.3f} ({rows.loc[p, 'diagnosis']})"
                        for p in located)
    if others:
        message += f"; also prior-sensitive: {', '.join(others)} (see the tau-prior grid)"
    hint = ("" if not flagged else "the pooled estimate depends on its prior: report the prior sensitivity "
            "table, justify the prior or compare with a weakly informative one")
    return Check("prior_sensitivity", "warn" if flagged else "pass", value, f"<= {threshold}", message, hint)


@contextlib.contextmanager
def _quiet_psense_log():
    """Silence arviz_stats' "We detected potential issues" console warning for one call.

    The diagnosis it refers to is already in the table's ``diagnosis`` column (and the report);
    printing it once per fit only clutters the console of ``bayes-il2 run``.
    """
    logger = logging.getLogger("arviz_stats.psense")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def default_tau_priors(measure: str) -> dict[str, object]:
    """The heterogeneity priors of the grid for a measure (documented in the module docstring)."""
    from bayes_il2.priors import HalfCauchy, HalfNormal, rhodes_prior, turner_prior

    priors: dict[str, object] = {
        "half-normal(0.25)": HalfNormal(0.25),
        "half-normal(0.5)": HalfNormal(0.5),
        "half-normal(1)": HalfNormal(1.0),
        "half-Cauchy(0.5)": HalfCauchy(0.5),
    }
    if measure in ("OR", "RR"):
        priors["Turner 2015 adverse events"] = turner_prior("adverse events", "pharma_vs_placebo")
    if measure in ("SMD", "SMCR", "SMCC"):
        priors["Rhodes 2015 marginal"] = rhodes_prior("marginal")
    return priors


def tau_prior_grid(fit, priors: dict[str, object] | None = None) -> pd.DataFrame | None:
    """mu and tau under each heterogeneity prior (exact engine; None for non-normal families)."""
    if not supports_exact(fit) or fit.family != "nnhm":
        return None
    priors = priors or default_tau_priors(fit.measure)
    rows = []
    for label, prior in priors.items():
        model = exact_model(fit, tau_prior=prior)
        s = summarize_exact(model)
        tau_low, tau_high = model.tau.interval(0.95)
        rows.append({"tau_prior": label, "mu_mean": s["mu_mean"], "mu_low": s["mu_low"], "mu_high": s["mu_high"],
                     "tau_median": s["tau_median"], "tau_low": float(tau_low), "tau_high": float(tau_high)})
    return pd.DataFrame(rows)
