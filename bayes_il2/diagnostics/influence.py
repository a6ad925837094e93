"""Leave-one-study-out influence: how far mu and tau move when each study is left out.

Normal-likelihood models are refitted with the exact engine (numerical integration, milliseconds
per refit, no Monte-Carlo error); other families use a caller-supplied refit that reuses the
compiled PyMC model. Compare metafor's ``leave1out`` and ``influence`` (Viechtbauer & Cheung 2010,
Res Synth Methods 1:112-125).
"""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from bayes_il2.diagnostics.exact_bridge import exact_refit, supports_exact

Summary = dict[str, float]


def influence_table(fit, refit: Callable[[object, str], Summary] | None = None) -> pd.DataFrame | None:
    """One row per left-out study: mu and tau without it, and the change from the full fit.

    Parameters
    ----------
    fit : Fit
        A fitted model (normal families use the exact engine automatically).
    refit : callable, optional
        ``refit(fit, study_id) -> {"mu_mean", "mu_low", "mu_high", "tau_median"}`` for families the
        exact engine cannot handle. Without it, such a fit is refitted by its own compiled sampler
        (``fit.refitter``, the left-out study given likelihood weight 0), and a fit without one
        (e.g. loaded from disk) returns ``None``.

    Returns
    -------
    DataFrame or None
        Columns study_id, mu_mean, mu_low, mu_high, tau_median, delta_mu, delta_tau,
        abs_delta_mu_sd (|delta mu| in units of the full posterior sd of mu), largest (bool), engine.
    """
    data = fit.data
    if len(data) < 3:
        return None
    if supports_exact(fit):
        full = exact_refit(fit, None)
        without = {sid: exact_refit(fit, sid) for sid in data["study_id"].astype(str)}
        engine = "exact"
    elif refit is not None or getattr(fit, "refitter", None) is not None:
        from bayes_il2.modeling._common import location_summary

        refit = refit or refit_without
        full = location_summary(fit)
        without = {sid: refit(fit, sid) for sid in data["study_id"].astype(str)}
        engine = "mcmc-refit"
    else:
        return None
    rows = []
    for sid, s in without.items():
        rows.append({"study_id": sid, "mu_mean": s["mu_mean"], "mu_low": s["mu_low"], "mu_high": s["mu_high"],
                     "tau_median": s["tau_median"], "delta_mu": s["mu_mean"] - full["mu_mean"],
                     "delta_tau": s["tau_median"] - full["tau_median"]})
    table = pd.DataFrame(rows)
    table["abs_delta_mu_sd"] = table["delta_mu"].abs() / full["mu_sd"]
    table["largest"] = table["abs_delta_mu_sd"] == table["abs_delta_mu_sd"].max()
    table["engine"] = engine
    return table


def refit_without(fit, study_id: str) -> Summary:
    """Posterior summary of ``fit`` sampled again by its compiled sampler without ``study_id``.

    Every row of the study (e.g. several arms) gets likelihood weight 0; the same seed and sampler
    settings are used, so the compiled model is reused and nothing is recompiled.
    """
    from bayes_il2.modeling._common import location_summary

    keep = (fit.data["study_id"].astype(str) != str(study_id)).to_numpy(float)
    return location_summary(fit.refitter.fit(weight=keep, predictive=False))
