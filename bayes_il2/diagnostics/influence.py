"""Leave-one-study-out influence: how far mu and tau move when each study is left out.

Normal-likelihood models are refitted with the exact engine (numerical integration, milliseconds
per refit, no Monte-Carlo error); other families use a caller-supplied refit that reuses the
compiled PyMC model. Compare metafor's ``leave1out`` and ``influence`` (Viechtbauer & Cheung 2010,
Res Synth Methods 1:112-125).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from bayes_il2.diagnostics.exact_bridge import exact_refit, supports_exact

Summary = dict[str, float]


def influence_table(fit, refit: Callable[[object, str], Summary] | None = None,
                    k_threshold: float = 0.7) -> pd.DataFrame | None:
    """One row per left-out study: mu and tau without it, and the change from the full fit.

    Parameters
    ----------
    fit : Fit
        A fitted model (normal families use the exact engine automatically).
    refit : callable, optional
        ``refit(fit, study_id) -> {"mu_mean", "mu_low", "mu_high", "tau_median"}`` for families the
        exact engine cannot handle (used for every study). Without it, each study's summary comes
        from the fit's own draws reweighted by Pareto-smoothed importance sampling
        (:func:`psis_without`) where its Pareto k is below ``k_threshold``, and otherwise from a
        refit by the fit's own compiled sampler (``fit.refitter``, the left-out study given
        likelihood weight 0); a fit without a refitter (e.g. loaded from disk) returns ``None``.
    k_threshold : float
        Pareto k above which importance sampling is not trusted (0.7, Vehtari et al. 2024).

    Returns
    -------
    DataFrame or None
        Columns study_id, mu_mean, mu_low, mu_high, tau_median, delta_mu, delta_tau,
        abs_delta_mu_sd (|delta mu| in units of the full posterior sd of mu), largest (bool), engine
        (``exact``, ``psis`` or ``mcmc-refit``, per study).
    """
    data = fit.data
    if len(data) < 3:
        return None
    if supports_exact(fit):
        full = exact_refit(fit, None)

        def without(sid: str) -> tuple[Summary, str]:
            return exact_refit(fit, sid), "exact"
    elif refit is not None or getattr(fit, "refitter", None) is not None:
        from bayes_il2.modeling._common import location_summary

        full = location_summary(fit)

        def without(sid: str) -> tuple[Summary, str]:
            # Importance sampling first (refit=None: the default path); refit where Pareto k says
            # the draws cannot stand in for the posterior without the study.
            reweighted = psis_without(fit, sid) if refit is None else None
            if reweighted is not None and reweighted[1] < k_threshold:
                return reweighted[0], "psis"
            return (refit or refit_without)(fit, sid), "mcmc-refit"
    else:
        return None

    def row(sid: str) -> dict:
        s, engine = without(sid)
        return {"study_id": sid, "mu_mean": s["mu_mean"], "mu_low": s["mu_low"], "mu_high": s["mu_high"],
                "tau_median": s["tau_median"], "delta_mu": s["mu_mean"] - full["mu_mean"],
                "delta_tau": s["tau_median"] - full["tau_median"], "engine": engine}

    from bayes_il2.runner import Chunk, run_chunks

    # one left-out study per chunk of the loop shared with simulations, SBC and sensitivity grids
    ids = list(dict.fromkeys(data["study_id"].astype(str)))
    table = run_chunks([Chunk(f"without-{i:04d}", i, i + 1) for i in range(len(ids))],
                       lambda chunk: pd.DataFrame([row(ids[chunk.start])]))
    engines = dict(zip(table["study_id"], table.pop("engine")))
    table["abs_delta_mu_sd"] = table["delta_mu"].abs() / full["mu_sd"]
    table["largest"] = table["abs_delta_mu_sd"] == table["abs_delta_mu_sd"].max()
    table["engine"] = table["study_id"].map(engines)
    return table


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    order = np.argsort(x)
    cdf = np.cumsum(w[order])
    return float(np.interp(q, cdf - 0.5 * w[order], x[order]))


def psis_without(fit, study_id: str) -> tuple[Summary, float] | None:
    """Posterior summary without ``study_id`` by Pareto-smoothed importance sampling, and its Pareto k.

    The draws of the full posterior are reweighted by 1 / p(y_i | parameters), with the study's
    log-likelihood as stored in ``log_likelihood/y`` (summed over the study's rows), whose Pareto
    smoothed weights estimate expectations under the posterior without the study (Vehtari,
    Simpson, Gelman, Yao & Gabry 2024, JMLR 25(72); the same weights as PSIS-LOO). The estimate is
    reliable for k < 0.7; :func:`influence_table` refits the study otherwise. None when the fit
    has no per-study log-likelihood.
    """
    idata = fit.idata
    if "log_likelihood" not in idata.children or "y" not in idata["log_likelihood"].data_vars:
        return None
    ll = idata["log_likelihood"]["y"]
    labels = [str(v) for v in ll["study_id"].values]
    mine = [lab for lab in labels if lab == study_id or lab.startswith(f"{study_id}:")]
    if not mine:
        return None
    log_lik = np.asarray(ll.sel(study_id=mine).sum("study_id").transpose("chain", "draw")).reshape(-1)
    return reweighted_summary(fit, -log_lik)


def reweighted_summary(fit, log_ratios: np.ndarray) -> tuple[Summary, float]:
    """The location summary of ``fit``'s posterior with each draw weighted by exp(``log_ratios``)
    (one per draw, chains first), Pareto-smoothed, and the Pareto k of the weights.

    Pareto-smoothed importance sampling (Vehtari, Simpson, Gelman, Yao & Gabry 2024, JMLR 25(72)):
    the estimate is reliable for k < 0.7. Keys mu_mean, mu_sd, mu_low, mu_high (2.5% and 97.5%
    quantiles) and tau_median (tau_within in a three-level model).
    """
    from bayes_il2._arviz import arviz_stats

    arviz_stats()  # the first import without lazy_loader's stack walk
    from arviz_stats.base import array_stats

    # psislw takes log-likelihoods and smooths the weights 1 / p: the negated ratios give exp(log_ratios)
    log_w, k = array_stats.psislw(-np.asarray(log_ratios, dtype=float), r_eff=1)
    w = np.exp(np.asarray(log_w) - np.max(log_w))
    w /= w.sum()
    post = fit.idata["posterior"]
    mu = np.asarray(post["mu"].transpose("chain", "draw")).reshape(-1)
    tau_name = "tau" if "tau" in post.data_vars else "tau_within"
    tau = np.asarray(post[tau_name].transpose("chain", "draw")).reshape(-1)
    mean = float(w @ mu)
    summary = {"mu_mean": mean, "mu_sd": float(np.sqrt(w @ (mu - mean) ** 2)),
               "mu_low": _weighted_quantile(mu, w, 0.025), "mu_high": _weighted_quantile(mu, w, 0.975),
               "tau_median": _weighted_quantile(tau, w, 0.5)}
    return summary, float(k)


def refit_without(fit, study_id: str) -> Summary:
    """Posterior summary of ``fit`` sampled again by its compiled sampler without ``study_id``.

    Every row of the study (e.g. several arms) gets likelihood weight 0; the same seed and sampler
    settings are used, so the compiled model is reused and nothing is recompiled.
    """
    from bayes_il2.modeling._common import location_summary

    keep = (fit.data["study_id"].astype(str) != str(study_id)).to_numpy(float)
    return location_summary(fit.refitter.fit(weight=keep, predictive=False))
