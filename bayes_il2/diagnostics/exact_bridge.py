"""The bridge between a Fit of a normal-likelihood model and the exact engine.

Diagnostics that need many refits (leave-one-out, prior grids, exact LOO for high Pareto k,
marginal likelihoods) use the exact engine whenever the fitted family has one: normal likelihoods
with known variances, and the binomial-normal model of two-arm counts (contrast variant, Normal mu
and baseline priors); the answers then carry no Monte-Carlo error.
"""
from __future__ import annotations

from typing import Any

import numpy as np

EXACT_FAMILIES = ("nnhm", "three_level", "exnex", "binomial_normal")
#: families whose exact engine answers only when asked for (engine = "exact", ``--exact``); MCMC
#: answers them by default: the exact binomial-normal engine is not yet faster than a warm compiled
#: sampler on the shipped data (issue #19)
ON_REQUEST = ("binomial_normal",)
EVENT_COLUMNS = {"events_t", "n_t", "events_c", "n_c"}
_LOG_SQRT_2PI = 0.5 * float(np.log(2 * np.pi))


def supports_exact(fit) -> bool:
    """True when the exact engine can refit ``fit`` (normal model, no covariates, no partially
    reported rows: those are refitted by their own compiled sampler; priors the engine takes: a
    Student-t mu prior, say, is refitted by MCMC, not refused after the fit)."""
    settings = getattr(fit, "settings", {}) or {}
    try:
        import bayes_il2.exact  # noqa: F401
    except ImportError:
        return False
    if fit.family in ON_REQUEST and getattr(fit, "sampler", None) != "exact":
        return False  # an MCMC fit of it keeps its own refits (see ON_REQUEST)
    columns = EVENT_COLUMNS if fit.family == "binomial_normal" else {"yi", "vi"}
    return (fit.family in EXACT_FAMILIES and not settings.get("covariates") and not settings.get("partial")
            and settings.get("variant", "contrast") == "contrast" and columns <= set(fit.data.columns)
            and exact_obstacle(fit.family, None, _priors(fit)) is None)


def exact_obstacle(family: str, covariates: Any, priors: dict[str, Any]) -> str | None:
    """Why the exact engine cannot answer this model (None when it can)."""
    if family not in EXACT_FAMILIES:
        return f"the {family} model has no exact engine here"
    if covariates:
        return "meta-regression is answered by MCMC"
    from bayes_il2.errors import ModelError
    from bayes_il2.exact._common import location_prior, variance_prior_bounds
    from bayes_il2.priors import Normal

    if family == "binomial_normal":
        return _binomial_obstacle(priors)
    scales = ("tau",) if family == "nnhm" else ("tau_within", "tau_between")
    if family in ("three_level", "exnex"):
        missing = [name for name in ("mu", *scales) if name not in priors]
        if missing:  # the MCMC builder has the defaults for them; the exact engine takes them as given
            words = "three-level" if family == "three_level" else "EXNEX"
            return f"the {words} model without a prior for {', '.join(missing)} is answered by MCMC"
    if family == "exnex":
        if not isinstance(priors.get("mu"), Normal):
            return "the exact EXNEX engine needs a Normal mu prior (a proper one)"
        if "nex" in priors and not isinstance(priors["nex"], Normal):
            return "the exact EXNEX engine needs a Normal 'nex' prior"
    try:
        location_prior(priors.get("mu"), "exact")
        for name in scales:
            if name in priors:
                variance_prior_bounds(priors[name], "exact", name)
    except ModelError as exc:
        return str(exc)
    return None


def _binomial_obstacle(priors: dict[str, Any]) -> str | None:
    """Why the exact binomial-normal engine cannot answer with these priors (None when it can)."""
    from bayes_il2.errors import ModelError
    from bayes_il2.exact._common import variance_prior_bounds
    from bayes_il2.priors import Normal

    for name in ("mu", "alpha"):
        if name in priors and not isinstance(priors[name], Normal):
            return f"the exact binomial-normal engine needs a Normal {name} prior"
    if "mu" not in priors or "tau" not in priors:
        return "the binomial-normal model without a mu and tau prior is answered by MCMC"
    try:
        variance_prior_bounds(priors["tau"], "exact", "tau")
    except ModelError as exc:
        return str(exc)
    return None


def _priors(fit):
    priors = getattr(fit, "priors", {}) or {}
    return priors


def exact_model(fit, data=None, tau_prior=None):
    """The exact-engine posterior of the fit's model and priors (optionally other data or tau prior)."""
    from bayes_il2 import exact
    from bayes_il2.priors import HalfNormal

    if data is None and tau_prior is None and getattr(fit, "sampler", None) == "exact" \
            and hasattr(getattr(fit, "model", None), "theta_new"):
        return fit.model  # the exact fit's own posterior (kept where computing it is not free)
    data = fit.data if data is None else data
    priors = _priors(fit)
    mu_prior = priors.get("mu")
    if fit.family == "binomial_normal":
        from bayes_il2.exact.binomial import binomial_normal, default_alpha_prior

        counts = [data[c].to_numpy(float) for c in ("events_c", "n_c", "events_t", "n_t")]
        return binomial_normal(*counts, tau_prior=tau_prior or priors["tau"], mu_prior=mu_prior,
                               alpha_prior=priors.get("alpha", default_alpha_prior()),
                               labels=data["study_id"].astype(str).tolist())
    yi = data["yi"].to_numpy(float)
    vi = data["vi"].to_numpy(float)
    if fit.family == "exnex":
        from bayes_il2.exact.exnex import exnex

        settings = getattr(fit, "settings", {}) or {}
        return exnex(yi, vi, data["disease"].astype(str).to_numpy(),
                     tau_within_prior=tau_prior or priors.get("tau_within", HalfNormal(0.5)),
                     tau_between_prior=priors.get("tau_between", HalfNormal(0.5)), mu_prior=mu_prior,
                     nex_prior=priors.get("nex"), p_exch=settings.get("p_exch", 0.5))
    if fit.family == "three_level":
        return exact.three_level(yi, vi, data["disease"].astype(str).to_numpy(),
                                 tau_within_prior=tau_prior or priors.get("tau_within", HalfNormal(0.5)),
                                 tau_between_prior=priors.get("tau_between", HalfNormal(0.5)),
                                 mu_prior=mu_prior)
    return exact.nnhm(yi, vi, tau_prior=tau_prior or priors.get("tau", HalfNormal(0.5)), mu_prior=mu_prior,
                      labels=data["study_id"].astype(str).tolist())


def summarize_exact(model) -> dict[str, float]:
    """mu mean/sd/95% interval and the median of the (within-disease) heterogeneity."""
    tau = model.tau if hasattr(model, "tau") else model.tau_within
    low, high = model.mu.interval(0.95)
    return {"mu_mean": float(model.mu.mean), "mu_sd": float(model.mu.sd), "mu_low": float(low),
            "mu_high": float(high), "tau_median": float(tau.median)}


def exact_refit(fit, leave_out: str | None) -> dict[str, float]:
    """Exact posterior summary of ``fit`` refitted without study ``leave_out`` (None: all studies)."""
    if leave_out is None:  # the fit's own exact posterior where it keeps one (no refit)
        return summarize_exact(exact_model(fit))
    data = fit.data[fit.data["study_id"].astype(str) != leave_out]
    return summarize_exact(exact_model(fit, data))


def exact_loo_elpd(fit, study_id: str) -> float:
    """log p(y_i | y_-i) by the exact engine: the predictive of a new study from the other studies
    (a Gaussian mixture over the variance components) convolved with the left-out study's sampling
    variance, in closed form (numerical integration for other marginals)."""
    data = fit.data
    labels = _row_labels(fit)
    if study_id not in labels:
        raise KeyError(f"study {study_id!r} is not in this fit")
    mask = np.asarray([label == study_id for label in labels])
    held = data[mask].iloc[0]
    model = exact_model(fit, data[~mask])
    if fit.family == "binomial_normal":
        from bayes_il2.exact.binomial import default_alpha_prior, pair_likelihood

        alpha = _priors(fit).get("alpha", default_alpha_prior())
        ell = pair_likelihood(*(float(held[c]) for c in ("events_c", "n_c", "events_t", "n_t")),
                              float(alpha.mu), float(alpha.sigma))
        return model.log_predictive(ell)
    if fit.family in ("three_level", "exnex") and str(held["disease"]) in set(data[~mask]["disease"].astype(str)):
        predictive = model.theta_new_disease(str(held["disease"]))
    elif fit.family == "exnex":  # the disease has no other study: EX with probability p_exch, else NEX
        predictive = model.theta_new_unseen_disease
    else:
        predictive = model.theta_new
    y, v = float(held["yi"]), float(held["vi"])
    if all(hasattr(predictive, a) for a in ("weights", "means", "sds")):
        # a Gaussian mixture convolved with N(0, v) is the mixture with variances sds^2 + v: exact
        from scipy.special import logsumexp

        scale = np.sqrt(np.asarray(predictive.sds) ** 2 + v)
        log_density = -0.5 * ((y - np.asarray(predictive.means)) / scale) ** 2 - np.log(scale) - _LOG_SQRT_2PI
        return float(logsumexp(np.log(predictive.weights) + log_density))
    sd = np.sqrt(v)
    low = min(float(predictive.ppf(1e-9)), y - 12 * sd)
    high = max(float(predictive.ppf(1 - 1e-9)), y + 12 * sd)
    grid = np.linspace(low, high, 20001)
    density = predictive.pdf(grid) * np.exp(-0.5 * ((y - grid) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
    return float(np.log(np.trapezoid(density, grid)))


def _row_labels(fit) -> list[str]:
    """The ``study_id`` coordinate of each data row (``study:arm`` where a study has several rows)."""
    idata = fit.idata
    if "log_likelihood" in idata.children and "y" in idata["log_likelihood"].data_vars:
        labels = [str(v) for v in idata["log_likelihood"]["y"]["study_id"].values]
        if len(labels) == len(fit.data):
            return labels
    return fit.data["study_id"].astype(str).tolist()
