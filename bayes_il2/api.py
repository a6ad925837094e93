"""One-call entry point: ``meta_analysis(table, model=...) -> Fit``."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from bayes_il2.errors import ModelError
from bayes_il2.fit import Fit
from bayes_il2.inference import DEFAULT_SEED
from bayes_il2.limits import sampler_problems
from bayes_il2.modeling.identifiability import check_identifiable

FAMILIES = ("nnhm", "three_level", "binomial_normal", "single_arm", "treg", "exnex", "exnex_rate", "design_bias",
            "design_bias_rate")
_REGRESSION = ("nnhm", "three_level")


def meta_analysis(effects: pd.DataFrame, model: str = "nnhm", *, tau_prior: Any = None, mu_prior: Any = None,
                  priors: Mapping[str, Any] | None = None, covariates: Sequence[str] | None = None,
                  standardize: bool = True, measure: str | None = None,
                  parameterization: str = "noncentered", sampler: str = "nutpie", draws: int = 1000,
                  tune: int = 1000, chains: int = 4, target_accept: float = 0.9, seed: int = DEFAULT_SEED,
                  progressbar: bool = False, predictive: bool = True, **options: Any) -> Fit:
    """Fit a Bayesian random-effects model to an effect or event table.

    Parameters
    ----------
    effects : DataFrame
        ``nnhm``/``three_level``: an effect table (study_id, yi, and vi or se[, disease]);
        ``binomial_normal``: study_id, events_t, n_t, events_c, n_c;
        ``single_arm``: study_id, events, n[, disease]; ``treg``: an arm table (see
        :mod:`bayes_il2.modeling.treg`).
    model : {"nnhm", "three_level", "binomial_normal", "single_arm", "treg", "exnex", "exnex_rate", "design_bias",
             "design_bias_rate"}
    tau_prior, mu_prior : prior, optional
        A prior object, a string (``"half_normal(0.5)"``, ``"normal(0, 2)"``) or a table
        (``{"family": "half_normal", "scale": 0.5}``): :func:`bayes_il2.priors.parse_prior`.
        Shortcuts for ``priors["tau"]`` and ``priors["mu"]`` (for ``three_level`` and two-level
        ``single_arm``, ``tau`` means ``tau_within``).
    priors : dict, optional
        Prior per parameter name (any form :func:`bayes_il2.priors.parse_prior` reads). mu and the
        heterogeneity SDs left open get weakly informative priors scaled to the measure and the data
        (:mod:`bayes_il2.default_priors`; the choice is in ``fit.settings["default_priors"]``); other
        parameters the defaults of :func:`bayes_il2.modeling._common.default_priors`.
    covariates : list of str, optional
        Meta-regression covariates (``nnhm`` and ``three_level`` only).
    standardize : bool
        Scale numeric covariates to unit SD (they are always centered).
    measure : str, optional
        Measure code of the model scale (default: from the table; OR for binomial_normal, PLO for
        single_arm, ROMC for treg).
    parameterization : {"noncentered", "centered"}
    sampler, draws, tune, chains, target_accept, seed, progressbar
        See :func:`bayes_il2.inference.sample`.
    predictive : bool
        Draw the posterior predictive group (default); ``False`` for a fit read only for its
        posterior and log-likelihood (it has then no per-study predictive check).
    **options
        Family options: ``variant`` (binomial_normal), ``levels`` (single_arm; default 2 when
        ``tau_within``/``tau_between`` priors are given, else 1), ``exposure`` (single_arm: ``none`` or
        ``cloglog``, rates per patient-year from ``exposure_years``), ``contrast``, ``r``, ``r_prior``
        (treg), ``p_exch`` (exnex, exnex_rate), ``design_adjustment``, ``bias_sd``, ``bias_spread``,
        ``power_alpha`` (design_bias); ``bias_sd``, ``bias_spread``, ``exposure``
        (design_bias_rate).

    Returns
    -------
    Fit

    Examples
    --------
    >>> from bayes_il2.priors import HalfNormal, Normal  # doctest: +SKIP
    >>> fit = meta_analysis(table, model="nnhm", tau_prior=HalfNormal(0.5), mu_prior=Normal(0, 2))  # doctest: +SKIP
    >>> fit.summary(["mu", "tau"], scale="natural")  # doctest: +SKIP
    """
    from bayes_il2.modeling import BUILDERS, fit_built

    if model not in FAMILIES:
        raise ModelError(f"model must be one of {', '.join(FAMILIES)}; got {model!r}")
    if model in _REGRESSION:
        effects = _with_vi(effects)
    if covariates and model not in _REGRESSION:
        raise ModelError(f"meta-regression (covariates) is available for {', '.join(_REGRESSION)}, not {model!r}")
    chosen = {k: _as_prior(v) for k, v in dict(priors or {}).items() if v is not None}
    if tau_prior is not None:
        chosen["tau"] = _as_prior(tau_prior)
    if mu_prior is not None:
        chosen["mu"] = _as_prior(mu_prior)
    kwargs: dict[str, Any] = {"priors": chosen, "parameterization": parameterization}
    if model == "single_arm" and "levels" not in options:
        options["levels"] = 2 if {"tau_within", "tau_between"} & set(chosen) else 1
    two_level = model in ("three_level", "exnex", "exnex_rate") or (model == "single_arm" and options.get("levels") == 2)
    if two_level and "tau" in chosen:
        if "tau_within" in chosen:
            raise ModelError(f"{model}: give either 'tau' or 'tau_within', not both")
        chosen["tau_within"] = chosen.pop("tau")
    from bayes_il2.default_priors import default_prior_choice

    choice = default_prior_choice(effects, model, measure, chosen)
    chosen.update(choice.priors)
    if model in _REGRESSION:
        kwargs.update(covariates=list(covariates) if covariates else None, standardize=standardize)
    if measure is not None:
        kwargs["measure"] = measure
    for key, message in sampler_problems(draws=draws, tune=tune, chains=chains, seed=seed,
                                         target_accept=target_accept):
        raise ModelError(f"{key} {message}")
    caveats = []
    if isinstance(effects, pd.DataFrame) and len(effects):
        caveats = check_identifiable(model, effects, covariates, levels=options.get("levels"))
    built = BUILDERS[model](effects, **kwargs, **options)
    if caveats:
        own = list(built.settings.get("caveats", []))
        built = replace(built, settings={**built.settings, "caveats": [c.to_dict() for c in caveats] + own})
    fit = fit_built(built, sampler=sampler, draws=draws, tune=tune, chains=chains,
                    target_accept=target_accept, seed=seed, progressbar=progressbar, predictive=predictive)
    if choice.reason:
        fit = replace(fit, settings={**fit.settings, "default_priors": choice.reason})
    return fit


def _with_vi(effects: Any) -> Any:
    """An effect table with ``vi``: from ``se`` (vi = se^2) when only the standard error is given."""
    if isinstance(effects, pd.DataFrame) and "vi" not in effects.columns and "se" in effects.columns:
        se = pd.to_numeric(effects["se"], errors="coerce")
        return effects.assign(vi=se ** 2)
    return effects


def _as_prior(value: Any) -> Any:
    """A prior object as given (anything with ``to_pymc``, e.g. the Treg model's BetaR), else parsed."""
    from bayes_il2.priors import parse_prior

    return value if callable(getattr(value, "to_pymc", None)) else parse_prior(value)


