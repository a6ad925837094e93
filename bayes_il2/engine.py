"""Which engine answers an analysis: the exact engine where it applies, MCMC where the model needs it.

The normal-normal hierarchical model with known within-study variances and no covariates has an
exact posterior (:func:`bayes_il2.exact.nnhm`: numerical integration over tau, Gaussian given tau).
For such an analysis the answer needs no sampler, no compilation and carries no Monte-Carlo error,
so ``engine = "auto"`` (the default) answers it exactly; so is the three-level model (studies within
diseases, :func:`bayes_il2.exact.three_level`: quadrature over the two variance components) when
its three priors are given, and the EXNEX model (:func:`bayes_il2.exact.exnex.exnex`: the same
quadrature times a sum over the 2^D exchangeable/non-exchangeable configurations of the D
diseases, D <= 8) when its mu prior is Normal and its scale priors are given. MCMC (nutpie) answers every
other family (binomial likelihoods, the Treg model, exnex_rate and meta-regression for now) and any
analysis asked for with ``engine = "mcmc"`` (``bayes-il2 fit --mcmc``), which the exact engine then
cross-checks in the diagnostics. ``engine = "exact"`` (``--exact``) insists on the exact engine and
is an error where it does not apply.

An exact answer is returned as an ordinary :class:`~bayes_il2.fit.Fit` (``sampler = "exact"``), so
the diagnostics, figures and files downstream stay as they are: its ``posterior`` holds independent
draws from the exact posterior (tau by inverting its exact distribution function, then mu, theta_i
and theta_new from their Gaussian conditionals given tau), its ``log_likelihood`` the study's
likelihood with theta_i integrated out, its ``posterior_predictive`` y_rep ~ N(theta_i, v_i). The
summary table (:func:`summary`) is computed from the exact marginals themselves, not from the draws.

References
----------
Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package. J Stat Softw
93(6) (the exact NNHM posterior and its direct sampling, section 3.4).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayes_il2.diagnostics.exact_bridge import ON_REQUEST, exact_obstacle
from bayes_il2.errors import ModelError


ENGINES = ("auto", "exact", "mcmc")
SUMMARY_COLUMNS = ["parameter", "coord", "mean", "median", "sd", "eti_low", "eti_high", "hdi_low", "hdi_high",
                   "ess_bulk", "ess_tail", "r_hat", "mcse_mean"]


@dataclass(frozen=True)
class EngineChoice:
    """The engine that answers an analysis and why.

    Attributes
    ----------
    engine : {"exact", "mcmc"}
    reason : str
        One line for the console and run.json.
    """

    engine: str
    reason: str


def choose_engine(requested: str, family: str, covariates: Any, priors: dict[str, Any]) -> EngineChoice:
    """Pick the engine for ``requested`` in :data:`ENGINES` (see the module docstring).

    Raises
    ------
    ModelError
        ``requested="exact"`` for a model the exact engine cannot answer, or an unknown engine.
    """
    if requested not in ENGINES:
        raise ModelError(f"engine must be one of {', '.join(ENGINES)}; got {requested!r}")
    if requested == "mcmc":
        return EngineChoice("mcmc", "MCMC asked for (the exact engine cross-checks it where it applies)")
    obstacle = exact_obstacle(family, covariates, priors)
    if obstacle is None and requested == "auto" and family in ON_REQUEST:
        return EngineChoice("mcmc", f"MCMC (the exact {family} engine answers with engine = 'exact', --exact)")
    if obstacle is None:
        how = ("binomial likelihoods, baselines and study effects integrated by quadrature" if family == "binomial_normal"
               else "normal likelihood with known variances")
        return EngineChoice("exact", f"exact engine: {how} (no Monte-Carlo error)")
    if requested == "exact":
        raise ModelError(f"the exact engine does not apply: {obstacle}; leave out --exact (engine = 'exact')")
    return EngineChoice("mcmc", f"MCMC: {obstacle}")


def exact_fit_for_spec(spec: Any, table: pd.DataFrame, priors: dict[str, Any]) -> Any | None:
    """The exact Fit of an analysis spec where its engine choice gives the exact engine, else None.

    Raises ModelError for ``engine = "exact"`` where the exact engine does not apply.
    """
    s = spec.sampler
    if "info" in table.columns and (table["info"].astype(str) != "complete").any():
        # partially reported rows (bounds, P values, latent spreads) are answered by MCMC
        if getattr(s, "engine", "auto") == "exact":
            raise ModelError("the exact engine does not apply: the table has partially reported rows "
                             "(bounds, P values, missing spreads); leave out engine = 'exact'")
        return None
    choice = choose_engine(getattr(s, "engine", "auto"), spec.model.family, spec.model.covariates, priors)
    if choice.engine != "exact":
        return None
    if spec.model.family == "three_level":
        return exact_three_level_fit(table, priors=priors, measure=spec.data.measure, draws=s.draws,
                                     chains=s.chains, seed=s.seed)
    if spec.model.family == "binomial_normal":
        return exact_binomial_normal_fit(table, priors=priors, measure=spec.data.measure, draws=s.draws,
                                         chains=s.chains, seed=s.seed)
    if spec.model.family == "exnex":
        from bayes_il2.exact.exnex import MAX_GROUPS

        if "disease" in table.columns and table["disease"].astype(str).nunique() > MAX_GROUPS:
            if getattr(s, "engine", "auto") == "exact":
                raise ModelError(f"the exact engine does not apply: more than {MAX_GROUPS} diseases for EXNEX")
            return None
        return exact_exnex_fit(table, priors=priors, p_exch=spec.model.p_exch, measure=spec.data.measure,
                               draws=s.draws, chains=s.chains, seed=s.seed)
    return exact_nnhm_fit(table, priors=priors, measure=spec.data.measure, draws=s.draws, chains=s.chains,
                          seed=s.seed)


def natural_summary(fit: Any) -> pd.DataFrame:
    """The summary table of a fit on the natural scale: from the exact marginals for an exact Fit,
    from the draws (``Fit.summary``) otherwise."""
    return summary(fit, scale="natural") if is_exact(fit) else fit.summary(scale="natural")


def engine_line(run: Any) -> str:
    """One console line: which engine answered each outcome of an analysis run."""
    parts = []
    for outcome in getattr(run, "outcomes", []):
        fit = outcome.fit
        if fit is None:
            continue
        if is_exact(fit):
            parts.append("exact engine (numerical integration; no sampling, no Monte-Carlo error)")
        else:
            parts.append(f"MCMC ({fit.sampler}, {fit.settings.get('chains')} chains x "
                         f"{fit.settings.get('draws')} draws)")
    return "engine: " + ("; ".join(sorted(set(parts))) if parts else "none (no model was fitted)")


# --------------------------------------------------------------------------- the exact Fit
def exact_nnhm_fit(table: pd.DataFrame, *, priors: dict[str, Any], measure: str | None = None,
                   draws: int = 1000, chains: int = 4, seed: int = 20221110) -> Any:
    """An NNHM :class:`~bayes_il2.fit.Fit` answered by the exact engine.

    Parameters
    ----------
    table : DataFrame
        Effect table (study_id, yi, vi > 0).
    priors : dict
        ``mu`` (Normal or Flat) and ``tau`` priors; missing ones get the modelling defaults.
    measure : str, optional
        Measure code (default: the table's ``measure`` column where it has one value).
    draws, chains, seed : int
        ``chains x draws`` independent posterior draws, from a generator seeded with ``seed``.

    Returns
    -------
    Fit
        ``sampler = "exact"``, ``model = None``, ``refitter = None``; ``settings["engine"] = "exact"``.
    """
    from bayes_il2 import exact
    from bayes_il2.exact._common import location_prior, normal_marginal
    from bayes_il2.exact.nnhm import typical_variance
    from bayes_il2.fit import Fit, data_fingerprint, software_versions

    data, ids, y, v = _effect_table(table)
    priors = _with_defaults(priors)
    post = exact.nnhm(y, v, tau_prior=priors["tau"], mu_prior=priors["mu"], labels=ids)

    rng = np.random.default_rng(seed)
    n = int(chains) * int(draws)
    tau = np.asarray(post.tau.ppf(rng.uniform(size=n)), dtype=float)
    m0, p0 = location_prior(priors["mu"], "nnhm")
    cond = normal_marginal(y, v[None, :] + tau[:, None] ** 2, m0, p0)
    mu = cond["m"] + np.sqrt(cond["V"]) * rng.standard_normal(n)
    t2 = tau[:, None] ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(t2 > 0, v / (v + t2), 1.0)  # shrinkage of theta_i towards mu given tau
    theta = b * mu[:, None] + (1 - b) * y + np.sqrt(v * (1 - b)) * rng.standard_normal((n, len(y)))
    theta_new = mu + tau * rng.standard_normal(n)
    i2 = tau ** 2 / (tau ** 2 + typical_variance(v))
    y_rep = theta + np.sqrt(v) * rng.standard_normal((n, len(y)))

    shape = (int(chains), int(draws))
    coords = {"chain": np.arange(shape[0]), "draw": np.arange(shape[1]), "study_id": ids}

    def scalar(x):
        return xr.DataArray(x.reshape(shape), dims=("chain", "draw"))

    def per_study(x):
        return xr.DataArray(x.reshape(*shape, len(ids)), dims=("chain", "draw", "study_id"))

    loglik = -0.5 * (np.log(2 * np.pi * (t2 + v)) + (y - mu[:, None]) ** 2 / (t2 + v))
    groups = {
        "posterior": xr.Dataset({"mu": scalar(mu), "tau": scalar(tau), "theta": per_study(theta),
                                 "theta_new": scalar(theta_new), "i2": scalar(i2)}, coords=coords),
        "log_likelihood": xr.Dataset({"y": per_study(loglik)}, coords=coords,
                                     attrs={"kind": "integrated over theta"}),
        "log_prior": _hyper_log_prior(priors, {"mu": mu, "tau": tau}, scalar, coords),
        "posterior_predictive": xr.Dataset({"y": per_study(y_rep)}, coords=coords),
        "observed_data": xr.Dataset({"y": ("study_id", y)}, coords={"study_id": ids}),
        "constant_data": xr.Dataset({"yi": ("study_id", y), "vi": ("study_id", v),
                                     "weight": ("study_id", np.ones(len(ids)))}, coords={"study_id": ids}),
    }
    idata = xr.DataTree.from_dict({name: xr.DataTree(ds) for name, ds in groups.items()})
    settings = {"engine": "exact", "draws": int(draws), "chains": int(chains), "seed": int(seed),
                "covariates": []}
    from bayes_il2.effects.measures import table_measure

    return Fit(idata=idata, family="nnhm", measure=table_measure(data, measure), data=data, model=None,
               priors=dict(priors), sampler="exact", seed=int(seed), data_fingerprint=data_fingerprint(data),
               versions=software_versions(), settings=settings)


def exact_three_level_fit(table: pd.DataFrame, *, priors: dict[str, Any], measure: str | None = None,
                          draws: int = 1000, chains: int = 4, seed: int = 20221110,
                          predictive: bool = True) -> Any:
    """A three-level :class:`~bayes_il2.fit.Fit` (studies within diseases) answered by the exact engine.

    The joint posterior of (tau_within, tau_between) is the quadrature grid of
    :func:`bayes_il2.exact.three_level` (its node weights); a draw picks a node by its weight, then
    mu, the disease means mu_disease, theta_i and the predictions from their Gaussian conditionals
    given the node, so the draws follow exactly the Gaussian mixtures the exact summaries use.

    Parameters
    ----------
    table : DataFrame
        Effect table (study_id, disease, yi, vi > 0).
    priors : dict
        ``mu`` (Normal or Flat), ``tau_within`` and ``tau_between`` priors (proper).
    measure : str, optional
        Measure code (default: the table's ``measure`` column where it has one value).
    draws, chains, seed : int
        ``chains x draws`` independent draws, from a generator seeded with ``seed``.
    predictive : bool
        Draw ``posterior_predictive`` (y_rep ~ N(theta_i, v_i)); leave it out for a fit read only
        for its posterior and log-likelihood (e.g. stacking).

    Returns
    -------
    Fit
        ``family = "three_level"``, ``sampler = "exact"``; ``log_likelihood/y`` is
        log N(y_i | mu_disease[d(i)], tau_within^2 + v_i) (theta_i integrated out), as the MCMC
        model stores it.

    References
    ----------
    Konstantopoulos S (2011). Res Synth Methods 2:61-76 (the model); Röver C (2020). J Stat Softw
    93(6), sec. 3.4 (sampling from the semi-analytic posterior).
    """
    from bayes_il2 import exact

    data, ids, y, v = _disease_table(table, priors, "three_level")
    group = data["disease"].astype(str).to_numpy()
    post = exact.three_level(y, v, group, priors["tau_within"], priors["tau_between"], mu_prior=priors["mu"],
                             labels=ids)
    return _disease_fit(post, "three_level", data, ids, {k: priors[k] for k in ("mu", "tau_within", "tau_between")},
                        measure, draws, chains, seed, predictive, {})


def exact_exnex_fit(table: pd.DataFrame, *, priors: dict[str, Any], p_exch: float = 0.5, measure: str | None = None,
                    draws: int = 1000, chains: int = 4, seed: int = 20221110, predictive: bool = True) -> Any:
    """An EXNEX :class:`~bayes_il2.fit.Fit` answered by the exact engine (:func:`bayes_il2.exact.exnex.exnex`).

    Draws as :func:`exact_three_level_fit`, a draw also picking the EX/NEX configuration by its
    posterior weight; ``p_exch_post`` holds, per draw, the conditional probability of the EX
    component given (mu_disease, mu, tau_between), as the MCMC model defines it (its posterior mean
    is P(EX | y), which :func:`summary` reports exactly).

    Parameters
    ----------
    table : DataFrame
        Effect table (study_id, disease, yi, vi > 0).
    priors : dict
        ``mu`` (Normal), ``tau_within``, ``tau_between`` (proper) and optionally ``nex`` (Normal;
        default Normal(0, 2)).
    p_exch : float
        Prior exchangeability probability, in (0, 1].
    measure, draws, chains, seed, predictive
        As in :func:`exact_three_level_fit`.

    Returns
    -------
    Fit
        ``family = "exnex"``, ``sampler = "exact"``.

    References
    ----------
    Neuenschwander B, Wandel S, Roychoudhury S, Bailey S (2016). Pharm Stat 15:123-134.
    """
    from bayes_il2.exact.exnex import DEFAULT_NEX_PRIOR, exnex, exnex_caveats
    from bayes_il2.priors import Normal

    data, ids, y, v = _disease_table(table, priors, "exnex")
    nex = priors.get("nex", Normal(*DEFAULT_NEX_PRIOR))
    post = exnex(y, v, data["disease"].astype(str).to_numpy(), priors["tau_within"], priors["tau_between"],
                 mu_prior=priors["mu"], nex_prior=nex, p_exch=p_exch, labels=ids)
    settings: dict[str, Any] = {"p_exch": post.p_exch, "nex_prior": [post.m_nex, post.s_nex]}
    caveats = exnex_caveats(post.groups, np.asarray(post.group_index))
    if caveats:
        settings["caveats"] = caveats
    return _disease_fit(post, "exnex", data, ids, {**{k: priors[k] for k in ("mu", "tau_within", "tau_between")},
                                                   "nex": nex},
                        measure, draws, chains, seed, predictive, settings)


def exact_binomial_normal_fit(table: pd.DataFrame, *, priors: dict[str, Any], measure: str | None = None,
                              draws: int = 1000, chains: int = 4, seed: int = 20221110,
                              predictive: bool = True) -> Any:
    """A binomial-normal :class:`~bayes_il2.fit.Fit` (two-arm counts, contrast variant) answered by the
    exact engine (:func:`bayes_il2.exact.binomial.binomial_normal`).

    A draw picks a tau quadrature node by its posterior weight, mu from its tabulated conditional
    given that node, then theta_i and the baseline alpha_i from their (log-concave) conditionals
    given the draw (:func:`bayes_il2.exact.binomial.sample_log_concave`); ``log_likelihood/y`` is each
    study's likelihood with alpha_i and theta_i integrated out, as the MCMC model stores it.

    Parameters
    ----------
    table : DataFrame
        ``study_id, events_t, n_t, events_c, n_c``.
    priors : dict
        ``mu`` (Normal), ``tau`` (proper) and ``alpha`` (Normal; default Normal(0, 5) as the MCMC
        model's).
    measure : str, optional
        Only ``OR``.
    draws, chains, seed, predictive
        As in :func:`exact_three_level_fit`.

    Returns
    -------
    Fit
        ``family = "binomial_normal"``, ``sampler = "exact"``.
    """
    from bayes_il2.exact.binomial import binomial_normal, default_alpha_prior, log_marginal
    from bayes_il2.fit import Fit, data_fingerprint, software_versions
    from bayes_il2.modeling.binomial_normal import event_values
    from bayes_il2.modeling._common import study_labels

    if measure not in (None, "OR"):
        raise ModelError(f"binomial_normal: the logit link gives log odds ratios; measure must be 'OR', got {measure!r}")
    data = table.reset_index(drop=True)
    values = event_values(data)
    ids = study_labels(data, "binomial_normal")
    priors = {"alpha": default_alpha_prior(), **{k: v for k, v in priors.items() if k in ("mu", "tau", "alpha")}}
    missing = [name for name in ("mu", "tau") if name not in priors]
    if missing:
        raise ModelError(f"binomial_normal (exact): a prior for {', '.join(missing)} is needed")
    rc, nc, rt, nt = (values[k].astype(float) for k in ("r_c", "n_c", "r_t", "n_t"))
    post = binomial_normal(rc, nc, rt, nt, tau_prior=priors["tau"], mu_prior=priors["mu"],
                           alpha_prior=priors["alpha"], labels=ids)
    rng = np.random.default_rng(seed)
    n = int(chains) * int(draws)
    mu, tau = post.sample_hyper(rng, n)
    theta, alpha = post.sample_studies(mu, tau, (rc, nc, rt, nt), rng)
    loglik = np.stack([log_marginal(ell, mu, tau)[0] for ell in post.likelihoods], axis=1)
    theta_new = mu + tau * rng.standard_normal(n)

    shape = (int(chains), int(draws))
    coords = {"chain": np.arange(shape[0]), "draw": np.arange(shape[1]), "study_id": ids}
    draws_coords = {"chain": coords["chain"], "draw": coords["draw"]}

    def scalar(x):
        return xr.DataArray(x.reshape(shape), dims=("chain", "draw"))

    def per_study(x):
        return xr.DataArray(x.reshape(*shape, len(ids)), dims=("chain", "draw", "study_id"))

    counts = {"events_c": rc, "events_t": rt}
    groups = {
        "posterior": xr.Dataset({"mu": scalar(mu), "tau": scalar(tau), "theta": per_study(theta),
                                 "theta_new": scalar(theta_new), "alpha": per_study(alpha)}, coords=coords),
        "log_likelihood": xr.Dataset({"y": per_study(loglik)}, coords=coords,
                                     attrs={"kind": "integrated over alpha and theta"}),
        "log_prior": _hyper_log_prior(priors, {"mu": mu, "tau": tau}, scalar, draws_coords),
        "observed_data": xr.Dataset({k: ("study_id", v.astype("int64")) for k, v in counts.items()},
                                    coords={"study_id": ids}),
        "constant_data": xr.Dataset({**{k: ("study_id", v) for k, v in values.items()},
                                     "weight": ("study_id", np.ones(len(ids)))}, coords={"study_id": ids}),
    }
    if predictive:
        p_c, p_t = 1.0 / (1.0 + np.exp(-alpha)), 1.0 / (1.0 + np.exp(-(alpha + theta)))
        groups["posterior_predictive"] = xr.Dataset(
            {"events_c": per_study(rng.binomial(nc.astype("int64"), p_c)),
             "events_t": per_study(rng.binomial(nt.astype("int64"), p_t))}, coords=coords)
    idata = xr.DataTree.from_dict({name: xr.DataTree(ds) for name, ds in groups.items()})
    settings = {"engine": "exact", "draws": int(draws), "chains": int(chains), "seed": int(seed),
                "covariates": [], "variant": "contrast"}
    # model: the exact posterior itself (summaries and diagnostics read it instead of recomputing it)
    return Fit(idata=idata, family="binomial_normal", measure="OR", data=data, model=post, priors=priors,
               sampler="exact", seed=int(seed), data_fingerprint=data_fingerprint(data),
               versions=software_versions(), settings=settings)


def _hyper_log_prior(priors: dict[str, Any], draws: dict[str, np.ndarray], scalar, coords) -> xr.Dataset:
    """The ``log_prior`` group of an exact Fit: each hyperparameter's prior log density at its draws."""
    return xr.Dataset({name: scalar(np.asarray(priors[name].logpdf(x), dtype=float)) for name, x in draws.items()},
                      coords=coords)


def _disease_table(table: pd.DataFrame, priors: dict[str, Any], who: str):
    """:func:`_effect_table` for a model of studies within diseases: the ``disease`` column and the
    mu, tau_within and tau_between priors are required."""
    data, ids, y, v = _effect_table(table)
    if "disease" not in data.columns:
        raise ModelError(f"{who}: the table lacks the column 'disease'")
    missing = [name for name in ("mu", "tau_within", "tau_between") if name not in priors]
    if missing:
        raise ModelError(f"{who} (exact): a prior for {', '.join(missing)} is needed")
    return data, ids, y, v


def _disease_fit(post: Any, family: str, data: pd.DataFrame, ids: list[str], priors: dict[str, Any],
                 measure: str | None, draws: int, chains: int, seed: int, predictive: bool,
                 settings: dict[str, Any]) -> Any:
    """The Fit of a three-level or EXNEX exact posterior: ``chains x draws`` independent draws
    (:meth:`bayes_il2.exact.three_level.ExactThreeLevel.sample`) in the MCMC model's variables."""
    from bayes_il2.fit import Fit, data_fingerprint, software_versions
    from bayes_il2.modeling.nnhm import _measure

    y, v = post.yi, post.vi
    levels, d_index = post.groups, np.asarray(post.group_index)
    rng = np.random.default_rng(seed)
    n = int(chains) * int(draws)
    d = post.sample(rng, n)
    tw, tb, mu, mu_d, theta = d["tau_within"], d["tau_between"], d["mu"], d["mu_disease"], d["theta"]
    mean_i = mu_d[:, d_index]
    t2 = tw[:, None] ** 2
    loglik = -0.5 * (np.log(2 * np.pi * (t2 + v)) + (y - mean_i) ** 2 / (t2 + v))

    shape = (int(chains), int(draws))
    coords = {"chain": np.arange(shape[0]), "draw": np.arange(shape[1]), "study_id": ids, "disease": levels}

    def scalar(x):
        return xr.DataArray(x.reshape(shape), dims=("chain", "draw"))

    def per(x, dim):
        return xr.DataArray(x.reshape(*shape, x.shape[-1]), dims=("chain", "draw", dim))

    variables = {"mu": scalar(mu), "tau_within": scalar(tw), "tau_between": scalar(tb),
                 "mu_disease": per(mu_d, "disease"), "theta": per(theta, "study_id"),
                 "theta_new_disease": per(d["theta_new_disease"], "disease"),
                 "mu_new_disease": scalar(d["mu_new_disease"]), "theta_new": scalar(d["theta_new"])}
    if family == "exnex":
        from scipy import stats

        p = post.p_exch
        log_ex = np.log(p) + stats.norm.logpdf(mu_d, mu[:, None], np.maximum(tb, 1e-300)[:, None])
        log_nex = (np.log1p(-p) if p < 1 else -np.inf) + stats.norm.logpdf(mu_d, post.m_nex, post.s_nex)
        variables["p_exch_post"] = per(np.exp(log_ex - np.logaddexp(log_ex, log_nex)), "disease")
    draws_coords = {"chain": coords["chain"], "draw": coords["draw"]}
    groups = {
        "posterior": xr.Dataset(variables, coords=coords),
        "log_likelihood": xr.Dataset({"y": per(loglik, "study_id")}, coords={**draws_coords, "study_id": ids},
                                     attrs={"kind": "integrated over theta"}),
        "log_prior": _hyper_log_prior(priors, {"mu": mu, "tau_within": tw, "tau_between": tb}, scalar, draws_coords),
        "observed_data": xr.Dataset({"y": ("study_id", y)}, coords={"study_id": ids}),
        "constant_data": xr.Dataset({"yi": ("study_id", y), "vi": ("study_id", v),
                                     "weight": ("study_id", np.ones(len(ids)))}, coords={"study_id": ids}),
    }
    if predictive:
        y_rep = theta + np.sqrt(v) * rng.standard_normal((n, len(y)))
        groups["posterior_predictive"] = xr.Dataset({"y": per(y_rep, "study_id")},
                                                    coords={**draws_coords, "study_id": ids})
    idata = xr.DataTree.from_dict({name: xr.DataTree(ds) for name, ds in groups.items()})
    settings = {"engine": "exact", "draws": int(draws), "chains": int(chains), "seed": int(seed),
                "covariates": [], "disease_of_study": [str(levels[i]) for i in d_index], **settings}
    return Fit(idata=idata, family=family, measure=_measure(data, measure), data=data, model=None,
               priors=priors, sampler="exact", seed=int(seed), data_fingerprint=data_fingerprint(data),
               versions=software_versions(), settings=settings)


def _effect_table(table: pd.DataFrame) -> tuple[pd.DataFrame, list[str], np.ndarray, np.ndarray]:
    """The table (index reset), its study labels, yi and vi; ModelError naming the bad study.

    The same rules as the PyMC builder (:func:`bayes_il2.modeling.nnhm.build_nnhm`), without
    importing PyMC: an exact answer should not pay for loading the sampler.
    """
    if not isinstance(table, pd.DataFrame):
        raise ModelError(f"nnhm: expected a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in ("study_id", "yi", "vi") if c not in table.columns]
    if missing:
        raise ModelError(f"nnhm: the table lacks column(s) {', '.join(missing)}")
    if len(table) == 0:
        raise ModelError("nnhm: the table has no rows")
    data = table.reset_index(drop=True)
    ids = data["study_id"].astype(str)
    if ids.duplicated().any() and "arm_id" in data.columns:
        dup = ids.duplicated(keep=False)
        ids = ids.where(~dup, ids + ":" + data["arm_id"].astype(str))
    if ids.duplicated().any():
        raise ModelError(f"nnhm: study_id {', '.join(sorted(set(ids[ids.duplicated()])))} appear(s) more than once")
    y = pd.to_numeric(data["yi"], errors="coerce").to_numpy(float)
    v = pd.to_numeric(data["vi"], errors="coerce").to_numpy(float)
    for name, values, ok in (("yi", y, np.isfinite(y)), ("vi", v, np.isfinite(v) & (v > 0))):
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            rule = "a finite number" + (" > 0" if name == "vi" else "")
            raise ModelError(f"nnhm: column {name!r} of study {ids[i]!r} (row {i}) is {data[name].iloc[i]!r}; "
                             f"expected {rule}")
    return data, ids.tolist(), y, v


def _with_defaults(priors: dict[str, Any] | None) -> dict[str, Any]:
    """mu and tau priors: the caller's, else the modelling defaults
    (:func:`bayes_il2.modeling._common.default_priors`: Normal(0, 10), HalfNormal(0.5))."""
    from bayes_il2.priors import HalfNormal, Normal

    given = dict(priors or {})
    unknown = sorted(set(given) - {"mu", "tau"})
    if unknown:
        raise ModelError(f"nnhm: no parameter named {', '.join(unknown)} takes a prior; allowed: mu, tau")
    return {"mu": given.get("mu", Normal(0.0, 10.0)), "tau": given.get("tau", HalfNormal(0.5))}


def is_exact(fit: Any) -> bool:
    """True for a Fit answered by the exact engine."""
    return getattr(fit, "sampler", None) == "exact"


# --------------------------------------------------------------------------- summary
def _transformed(base: Any, forward, log_slope=None):
    """``forward(X)`` for an exact marginal X (a Gaussian mixture or the tau grid) and an increasing
    ``forward``: quantiles transform exactly; the mean and variance by Gauss-Hermite quadrature per
    mixture component (by the grid's own quadrature for tau)."""
    from bayes_il2.exact.marginals import Marginal

    class Transformed(Marginal):
        def ppf(self, q):
            return forward(np.asarray(base.ppf(q), dtype=float))

        def _search_ppf(self, q):
            return forward(np.asarray(base._search_ppf(q), dtype=float))

        def _equal_density_ends(self, p, low, high, level):
            if log_slope is None or not hasattr(base, "newton_shortest"):
                return None
            start = np.asarray(base._search_ppf(np.array([p, p + level])), dtype=float)
            ends = base.newton_shortest(float(start[0]), float(start[1]), level, log_slope)
            if ends is None:
                return None
            out = forward(np.asarray(ends, dtype=float))
            return (float(out[0]), float(out[1])) if out[1] - out[0] <= high - low else None

        @cached_property
        def _moments(self) -> tuple[float, float]:
            if not hasattr(base, "weights"):  # a marginal that knows its own moments (p_exch_post)
                return float(base.mean), float(base.var)
            if all(hasattr(base, a) for a in ("weights", "means", "sds")):
                x, w = np.polynomial.hermite.hermgauss(60)
                values = forward(base.means[:, None] + np.sqrt(2.0) * base.sds[:, None] * x[None, :])
                first = base.weights @ ((values * w).sum(1) / np.sqrt(np.pi))
                second = base.weights @ ((values ** 2 * w).sum(1) / np.sqrt(np.pi))
            else:  # a tabulated marginal (the tau grid, a GridMixture): its own quadrature
                first = base.expect(forward)
                second = base.expect(lambda x: forward(x) ** 2)
            return float(first), float(second - first ** 2)

        @property
        def mean(self) -> float:
            return self._moments[0]

        @property
        def var(self) -> float:
            return self._moments[1]

    return Transformed()


def _exch_marginal(post: Any, fit: Any, group: str):
    """``p_exch_post`` of a disease: its mean is P(EX | y), exact; its other summaries (median, sd,
    intervals) are those of the per-draw conditional EX probability in the Fit's independent draws."""
    from bayes_il2.exact.marginals import Marginal

    draws = np.sort(np.asarray(fit.idata["posterior"]["p_exch_post"].sel(disease=group)).ravel())

    class Exchangeability(Marginal):
        support = (0.0, 1.0)

        def ppf(self, q):
            return np.quantile(draws, q)

        @property
        def mean(self) -> float:
            return post.p_exch_post(group)

        @property
        def var(self) -> float:
            return float(draws.var())

    return Exchangeability()


def summary(fit: Any, scale: str = "natural", level: float = 0.95) -> pd.DataFrame:
    """Posterior summary of an exact Fit from the exact marginals (columns as ``Fit.summary``).

    Locations (mu, theta_i, theta_new; for the three-level model also mu_disease, theta_new_disease
    and mu_new_disease) are reported on the natural scale of the measure when
    ``scale="natural"``; tau and I^2 on their own scale. The shortest interval is searched on the
    reported scale. ESS and R-hat do not apply (NaN); the Monte-Carlo error is 0.
    """
    from bayes_il2.diagnostics.exact_bridge import exact_model
    from bayes_il2.effects import natural_scale
    from bayes_il2.effects.measures import natural_scale_log_slope
    from bayes_il2.exact.nnhm import typical_variance

    post = exact_model(fit)
    fn = natural_scale(fit.measure) if scale == "natural" else (lambda x: x)
    fn_log_slope = natural_scale_log_slope(fit.measure if scale == "natural" else "GEN")
    if fit.family in ("three_level", "exnex"):
        def same(t):
            return t

        items = [("mu", "", post.mu, fn), ("tau_within", "", post.tau_within, same),
                 ("tau_between", "", post.tau_between, same)]
        items += [("mu_disease", g, post.mu_disease(g), fn) for g in post.groups]
        labels = [str(v) for v in fit.idata["log_likelihood"]["y"]["study_id"].values]  # the fit's study labels
        items += [("theta", label, post.theta(i), fn) for i, label in enumerate(labels)]
        items += [("theta_new_disease", g, post.theta_new_disease(g), fn) for g in post.groups]
        items += [("mu_new_disease", "", post.mu_new_group, fn), ("theta_new", "", post.theta_new, fn)]
        if fit.family == "exnex":
            items += [("p_exch_post", g, _exch_marginal(post, fit, g), same) for g in post.groups]
    elif fit.family == "binomial_normal":
        labels = [str(v) for v in fit.idata["log_likelihood"]["y"]["study_id"].values]
        items = [("mu", "", post.mu, fn), ("tau", "", post.tau, lambda t: t)]
        items += [("theta", label, post.theta(i), fn) for i, label in enumerate(labels)]
        items += [("theta_new", "", post.theta_new, fn)]
    else:
        s2 = typical_variance(post.vi)
        items = [("mu", "", post.mu, fn), ("tau", "", post.tau, lambda t: t)]
        items += [("theta", label, post.theta(i), fn) for i, label in enumerate(post.labels)]
        items += [("theta_new", "", post.theta_new, fn), ("i2", "", post.tau, lambda t: t ** 2 / (t ** 2 + s2))]
    rows, index = [], []
    for parameter, coord, marginal, forward in items:
        slope = fn_log_slope if forward is fn else None  # the locations' transform has a known slope
        rows.append({"parameter": parameter, "coord": coord, **_transformed(marginal, forward, slope).summary(level),
                     "ess_bulk": np.nan, "ess_tail": np.nan, "r_hat": np.nan, "mcse_mean": 0.0})
        index.append(f"{parameter}[{coord}]" if coord else parameter)
    table = pd.DataFrame(rows, index=index, columns=SUMMARY_COLUMNS)
    table.index.name = "label"
    return table
