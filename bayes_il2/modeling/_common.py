"""Helpers shared by the PyMC model families: input checks, coords, priors, random effects,
likelihoods with leave-out weights, covariates, and turning a built model into a Fit.

Leave-out weights
-----------------
Every family has a data container ``weight`` (dim ``study_id``, default 1). A study with weight 0
contributes nothing to the posterior: its likelihood term is cancelled exactly by a
``pm.Potential("leave_out", -(1 - weight) * loglik)``. Its ``theta`` is then drawn from the
random-effects distribution (a prediction), and ``log_likelihood/y`` of that study is its
leave-one-out predictive log density at each draw. Unlike inflating the study's variance, this is
exact, and because only the values of a data container change, a compiled model is reused
(:func:`refit`).

Per-study log-likelihood
------------------------
For the normal-likelihood families (NNHM, three-level, Treg) ``log_likelihood/y`` is the study's
*integrated* likelihood given the hyperparameters, log N(y_i | mean_i, tau^2 + v_i) with the
study's own effect theta_i integrated out; for single-arm rates the binomial likelihood integrated
over the study's logit rate (:func:`binomial_normal_study_loglik`), and for two-arm events over the
study's baseline and effect (:func:`binomial_pair_study_loglik`). PSIS-LOO then estimates the
predictive density of a new study (leave-one-study-out), and it is stable: with the conditional likelihood N(y_i | theta_i, v_i)
every study has its own parameter and the Pareto k values are high even for a correct model
(Vehtari, Gelman & Gabry 2017, sec. 4.1, "integrated" LOO). A model without such a function (a
two-arm model whose baseline prior is not normal) stores the conditional likelihood of its
observed variables, summed per study.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayes_il2.errors import ModelError
from bayes_il2.fit import Fit, data_fingerprint, software_versions
from bayes_il2.inference import (DEFAULT_SEED, CompiledSampler, add_posterior_predictive,
                                 add_study_log_likelihood, derived_seed, relabel_coords,
                                 same_structure)

PARAMETERIZATIONS = ("noncentered", "centered")


def default_priors() -> dict[str, Any]:
    """Weakly informative defaults (used only for parameters the caller gives no prior for).

    mu, beta: Normal(0, 10) on the model scale; tau, tau_within, tau_between: HalfNormal(0.5)
    (suits log odds ratios and log ratios of means; choose a prior on the scale of the measure for
    mean differences); alpha (study baselines, logit scale): Normal(0, 5); alpha_mu: Normal(0, 5),
    alpha_sd: HalfNormal(1).
    """
    from bayes_il2.priors import HalfNormal, Normal

    return {"mu": Normal(0.0, 10.0), "beta": Normal(0.0, 10.0), "tau": HalfNormal(0.5),
            "tau_within": HalfNormal(0.5), "tau_between": HalfNormal(0.5), "alpha": Normal(0.0, 5.0),
            "alpha_mu": Normal(0.0, 5.0), "alpha_sd": HalfNormal(1.0)}


def resolve_priors(given: Mapping[str, Any] | None, needed: Sequence[str], family: str) -> dict[str, Any]:
    """The prior of every parameter in ``needed``: the caller's where given, else the default."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(needed))
    if unknown:
        raise ModelError(f"{family}: no parameter named {', '.join(unknown)} takes a prior; "
                         f"allowed: {', '.join(needed)}")
    missing = [name for name in needed if name not in given]
    defaults = default_priors() if missing else {}
    return {name: given[name] if name in given else defaults[name] for name in needed}


def check_columns(data: pd.DataFrame, columns: Sequence[str], family: str) -> None:
    """Raise ModelError naming the missing columns."""
    if not isinstance(data, pd.DataFrame):
        raise ModelError(f"{family}: expected a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ModelError(f"{family}: the table lacks column(s) {', '.join(missing)}; "
                         f"it has {', '.join(map(str, data.columns))}")
    if len(data) == 0:
        raise ModelError(f"{family}: the table has no rows")


def numeric_column(data: pd.DataFrame, column: str, family: str, *, positive: bool = False,
                   integer: bool = False, nonnegative: bool = False) -> np.ndarray:
    """A column as float array; ModelError naming the study_id of the first bad value."""
    values = pd.to_numeric(data[column], errors="coerce").to_numpy(float)
    ids = data["study_id"].astype(str).to_numpy() if "study_id" in data else np.arange(len(data)).astype(str)
    bad = ~np.isfinite(values)
    if positive:
        bad |= ~(values > 0)
    if nonnegative:
        bad |= ~(values >= 0)
    if integer:
        bad |= np.isfinite(values) & (values != np.round(values))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        rule = "a finite number" + (" > 0" if positive else "") + (" >= 0" if nonnegative else "") + \
            (", whole" if integer else "")
        raise ModelError(f"{family}: column {column!r} of study {ids[i]!r} (row {i}) is "
                         f"{data[column].iloc[i]!r}; expected {rule}")
    return values


def study_labels(data: pd.DataFrame, family: str) -> list[str]:
    """The ``study_id`` coordinate: study ids, made unique with ``:arm_id`` where a study repeats."""
    ids = data["study_id"].astype(str)
    if ids.duplicated().any() and "arm_id" in data.columns:
        dup = ids.duplicated(keep=False)
        ids = ids.where(~dup, ids + ":" + data["arm_id"].astype(str))
    if ids.duplicated().any():
        twice = sorted(set(ids[ids.duplicated()]))
        raise ModelError(f"{family}: study_id {', '.join(twice)} appear(s) more than once; give arm_id "
                         "to distinguish rows")
    return ids.tolist()


def disease_index(data: pd.DataFrame, family: str) -> tuple[list[str], np.ndarray]:
    """Sorted disease levels and the level index of each row."""
    if "disease" not in data.columns:
        raise ModelError(f"{family}: a disease level needs a 'disease' column")
    disease = data["disease"].astype("string")
    if disease.isna().any() or (disease.str.len() == 0).any():
        i = int(np.flatnonzero((disease.isna() | (disease.str.len() == 0)).to_numpy())[0])
        raise ModelError(f"{family}: study {data['study_id'].iloc[i]!r} has no disease")
    levels = sorted(set(disease.tolist()))
    index = np.array([levels.index(d) for d in disease.tolist()], dtype=int)
    return levels, index


def check_parameterization(parameterization: str) -> None:
    if parameterization not in PARAMETERIZATIONS:
        raise ModelError(f"parameterization must be one of {PARAMETERIZATIONS}; got {parameterization!r}")


def random_effects(name: str, mean: Any, sd: Any, dims: str, parameterization: str) -> Any:
    """``name ~ Normal(mean, sd)`` with dims, centered or non-centered (``name_z`` offsets).

    Non-centered: name = mean + sd * z, z ~ N(0, 1) (Papaspiliopoulos, Roberts & Sköld 2007),
    the better geometry when the data are weak relative to the heterogeneity.
    """
    if parameterization == "centered":
        return pm.Normal(name, mean, sd, dims=dims)
    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=dims)
    return pm.Deterministic(name, mean + sd * z, dims=dims)


def prediction(name: str, mean: Any, sd: Any, dims: str | None = None) -> Any:
    """A predictive draw ``mean + sd * z`` with its own standard-normal offset ``name_z``."""
    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=dims)
    return pm.Deterministic(name, mean + sd * z, dims=dims)


def leave_out_potential(weight: Any, loglik: Any) -> None:
    """Cancel the likelihood of studies with weight 0 (see module docstring)."""
    pm.Potential("leave_out", -pt.sum((1.0 - weight) * loglik))


def design_matrix(data: pd.DataFrame, covariates: Sequence[str], standardize: bool,
                  family: str) -> tuple[np.ndarray, list[str], dict[str, Any]]:
    """Covariate matrix without intercept.

    Numeric covariates are centered at their mean (and divided by their SD when ``standardize``),
    so the intercept ``mu`` is the mean effect at the covariate means. Text covariates are dummy
    coded against their first level in sorted order (the reference, which ``mu`` then refers to).

    Returns
    -------
    X : ndarray (n, p), names : list of column names, info : dict of centers/scales/reference levels
    """
    cols: list[np.ndarray] = []
    names: list[str] = []
    info: dict[str, Any] = {}
    for cov in covariates:
        if cov not in data.columns:
            raise ModelError(f"{family}: covariate {cov!r} is not a column of the table")
        col = data[cov]
        if col.isna().any():
            i = int(np.flatnonzero(col.isna().to_numpy())[0])
            raise ModelError(f"{family}: covariate {cov!r} is missing for study {data['study_id'].iloc[i]!r}")
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            x = col.to_numpy(float)
            center = float(x.mean())
            scale = float(x.std(ddof=1)) if standardize and len(x) > 1 else 1.0
            if standardize and not scale > 0:
                raise ModelError(f"{family}: covariate {cov!r} is constant; it cannot be standardized")
            cols.append((x - center) / scale)
            names.append(cov)
            info[cov] = {"center": center, "scale": scale}
        else:
            levels = sorted(set(col.astype(str)))
            if len(levels) < 2:
                raise ModelError(f"{family}: covariate {cov!r} has a single level {levels[0]!r}")
            for level in levels[1:]:
                cols.append((col.astype(str) == level).to_numpy(float))
                names.append(f"{cov}[{level}]")
            info[cov] = {"reference": levels[0], "levels": levels}
    if not cols:
        raise ModelError(f"{family}: covariates given but none usable")
    return np.column_stack(cols), names, info


def linear_predictor(data: pd.DataFrame, covariates: Sequence[str] | None, standardize: bool,
                     priors: Mapping[str, Any], family: str, model: pm.Model) -> tuple[Any, dict[str, Any]]:
    """``X @ beta`` (0 when no covariates) and the design information for the settings."""
    if not covariates:
        return 0.0, {}
    X, names, info = design_matrix(data, covariates, standardize, family)
    model.add_coord("covariate", names)
    Xd = pm.Data("X", X, dims=("study_id", "covariate"))
    beta = priors["beta"].to_pymc("beta", dims="covariate")
    return pt.dot(Xd, beta), {"design": info, "covariate_columns": names}


@dataclass(frozen=True)
class BuiltModel:
    """A PyMC model with what is needed to sample it and assemble a Fit.

    Attributes
    ----------
    model : pm.Model
    family, measure : str
    data : DataFrame
        The table fitted.
    priors : dict
    settings : dict
        Model options (parameterization, covariates, ...).
    study_ids : list of str
        The ``study_id`` coordinate.
    study_index : dict
        For each observed variable, positions in ``study_ids`` of its elements (None: dim study_id).
    data_values : callable
        Maps a table of the same structure to the values of the model's data containers.
    table_of : callable, optional
        Maps such a table to the table the model fits (e.g. the Treg model's arm table to its
        per-arm changes); identity (after resetting the index) when None.
    integrated_loglik : callable, optional
        ``(posterior, constant_data) -> DataArray (chain, draw, study_id)``: the per-study
        log-likelihood with the study effect integrated out (normal families); None: the
        conditional log-likelihood of the observed variables (see module docstring).
    """

    model: pm.Model
    family: str
    measure: str
    data: pd.DataFrame
    priors: dict[str, Any]
    settings: dict[str, Any]
    study_ids: list[str]
    study_index: dict[str, np.ndarray | None]
    data_values: Callable[[pd.DataFrame], dict[str, np.ndarray]]
    table_of: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    integrated_loglik: Callable[[xr.Dataset, xr.Dataset], xr.DataArray] | None = None

    def fitted_table(self, table: pd.DataFrame) -> pd.DataFrame:
        """The table the model fits when given ``table`` (see ``table_of``)."""
        return self.table_of(table) if self.table_of is not None else table.reset_index(drop=True)


@dataclass
class Refitter:
    """Refits one built model with new data or weights, reusing the compiled sampler.

    Obtain it from ``fit.refitter`` (every Fit made by :func:`fit_built` has one).
    """

    built: BuiltModel
    compiled: CompiledSampler
    sampling: dict[str, Any] = field(default_factory=dict)
    memo_size: int = 8
    # The last weight-only refits, keyed on (weights, seed, predictive): PSIS-LOO and the influence
    # table both refit the studies whose Pareto k is high, with the same weights and seed, so the
    # second asks for a fit the first has made (the same draws: sampling is deterministic per seed).
    _memo: OrderedDict = field(default_factory=OrderedDict, repr=False, compare=False)
    memo_hits: int = field(default=0, repr=False, compare=False)

    def fit(self, data: pd.DataFrame | None = None, *, weight: Sequence[float] | None = None,
            values: Mapping[str, Any] | None = None, seed: int | None = None,
            predictive: bool = True) -> Fit:
        """Sample again with another table of the same structure and/or study weights.

        Parameters
        ----------
        data : DataFrame, optional
            Same rows/studies as the original table (other values); default the original table.
        weight : sequence of float, optional
            Likelihood weight per study in the order of ``study_id`` (1 keep, 0 leave out).
        values : mapping, optional
            Raw values for data containers (e.g. ``{"r": 0.8}`` for the pre-post correlation).
        seed : int, optional
            Default: the original seed.
        predictive : bool
            Draw the posterior predictive group (skip it for refits read only for their posterior
            or log-likelihood, e.g. leave-one-out: it is the costliest step after sampling).
        """
        built = self.built
        table = built.data if data is None else data
        new = dict(built.data_values(table)) if data is not None else {}
        if weight is not None:
            w = np.asarray(weight, dtype=float)
            if w.shape != (len(built.study_ids),) or np.any((w < 0) | ~np.isfinite(w)):
                raise ModelError(f"weight must be {len(built.study_ids)} finite values >= 0 (one per study)")
            new["weight"] = w
        new.update(dict(values or {}))
        settings = dict(self.sampling)
        if seed is not None:
            settings["seed"] = seed
        key = None
        if data is None and not values and weight is not None:
            key = (tuple(float(x) for x in new["weight"]), int(settings["seed"]))
            # a fit with predictive draws also answers a request without them
            for wanted in ((key, predictive), (key, True)):
                if wanted in self._memo:
                    self._memo.move_to_end(wanted)
                    self.memo_hits += 1
                    return self._memo[wanted]
        variant = replace(built, data=built.fitted_table(table)) if data is not None else built
        out = _sample_and_assemble(variant, self.compiled, new, settings, self, predictive=predictive)
        if key is not None and self.memo_size > 0:
            self._memo[(key, predictive)] = out
            while len(self._memo) > self.memo_size:
                self._memo.popitem(last=False)
        return out


def _sample_and_assemble(built: BuiltModel, compiled: CompiledSampler, new: dict[str, Any],
                         sampling: dict[str, Any], refitter: Refitter | None, *, predictive: bool = True) -> Fit:
    model = built.model
    seed = int(sampling["seed"])
    shared = compiled.model is not model
    # A sampler compiled for another model of the same structure (see _shared_sampler) samples with
    # all of this model's data values; its coords are then relabelled with this model's.
    data = {**{v.name: np.asarray(v.get_value()) for v in model.data_vars}, **new} if shared else new
    idata = compiled.sample(data, draws=sampling["draws"], tune=sampling["tune"], chains=sampling["chains"],
                            target_accept=sampling["target_accept"], seed=seed,
                            progressbar=sampling.get("progressbar", False))
    if shared:
        idata = relabel_coords(idata, model)
    old = {v.name: np.array(v.get_value()) for v in model.data_vars if v.name in new}
    try:
        if new:
            pm.set_data(new, model=model)
        if built.integrated_loglik is not None:
            idata = _set_log_likelihood(idata, built.integrated_loglik(idata["posterior"].to_dataset(),
                                                                       idata["constant_data"].to_dataset()),
                                        built.study_ids)
        else:
            idata = add_study_log_likelihood(idata, model, built.study_index, built.study_ids)
        if predictive and built.study_index:
            idata = add_posterior_predictive(idata, model, list(built.study_index), derived_seed(seed, 1))
    finally:
        if old:
            pm.set_data(old, model=model)
    settings = {**built.settings, **{k: v for k, v in sampling.items() if k != "progressbar"}}
    if new:
        settings["data_overrides"] = sorted(new)
        if "weight" in new:
            settings["weight"] = [float(x) for x in np.asarray(new["weight"])]
    return Fit(idata=idata, family=built.family, measure=built.measure, data=built.data, model=model,
               priors=dict(built.priors), sampler=compiled.sampler, seed=seed,
               data_fingerprint=data_fingerprint(built.data), versions=software_versions(),
               settings=settings, refitter=refitter)


def normal_study_loglik(y: xr.DataArray, mean: xr.DataArray, var: xr.DataArray) -> xr.DataArray:
    """log N(y | mean, var), broadcast over draws and studies."""
    return -0.5 * (np.log(2 * np.pi * var) + (y - mean) ** 2 / var)


def _set_log_likelihood(idata: xr.DataTree, ll: xr.DataArray, study_ids: list[str]) -> xr.DataTree:
    ll = ll.transpose("chain", "draw", "study_id")
    if "study_id" not in ll.coords:  # a family that groups rows (arms) by study labels them itself
        ll = ll.assign_coords(study_id=study_ids)
    ll = ll.rename("y")
    if "log_likelihood" in idata.children:
        del idata["log_likelihood"]
    idata["log_likelihood"] = xr.DataTree(xr.Dataset({"y": ll}, attrs={"kind": "integrated over theta"}))
    return idata


# Process-local cache of compiled samplers: structure key -> [(BuiltModel, CompiledSampler)].
_SAMPLERS: dict[tuple, list[tuple[BuiltModel, CompiledSampler]]] = {}


def clear_sampler_cache() -> None:
    """Forget every compiled sampler kept for reuse by :func:`fit_built`."""
    _SAMPLERS.clear()


def _structure_key(built: BuiltModel, sampler: str) -> tuple:
    model = built.model
    data = tuple((v.name, str(v.type.dtype), np.shape(v.get_value())) for v in model.data_vars)
    sizes = tuple(sorted((k, len(v)) for k, v in model.coords.items() if v is not None))
    return (built.family, built.measure, sampler, data, sizes, tuple(sorted(built.priors)),
            tuple(sorted(built.settings)))


def _shared_sampler(built: BuiltModel, sampler: str) -> CompiledSampler:
    """A compiled sampler of a structurally identical model fitted before, else a new one.

    Identical means same family, measure and sampler, equal settings and priors (by value), the
    same data containers (names, dtypes, shapes), coord sizes, and equal log-density and
    deterministic graphs up to the data values (:func:`bayes_il2.inference.same_structure`).
    Outcomes of one analysis that fit the same family to the same number of studies thus share one
    numba compilation; the draws are those a fresh compilation would give (same seed, same data).
    """
    fresh = CompiledSampler(built.model, sampler)
    if fresh.sampler != "nutpie":  # PyMC's NUTS compiles on every call anyway
        return fresh
    key = _structure_key(built, fresh.sampler)
    entries = _SAMPLERS.setdefault(key, [])
    for other, compiled in entries:
        if (_equal(other.settings, built.settings) and _equal(other.priors, built.priors)
                and same_structure(other.model, built.model)):
            return compiled
    entries.append((built, fresh))
    return fresh


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (ValueError, TypeError):  # e.g. numpy arrays inside settings
        return repr(a) == repr(b)


def fit_built(built: BuiltModel, *, sampler: str = "nutpie", draws: int = 1000, tune: int = 1000,
              chains: int = 4, target_accept: float = 0.9, seed: int = DEFAULT_SEED,
              progressbar: bool = False, reuse_compiled: bool = True, predictive: bool = True) -> Fit:
    """Sample a built model and assemble the Fit (log-likelihood per study, predictive draws).

    With ``reuse_compiled`` the compiled log density of a structurally identical model fitted
    earlier in this process is reused (see :func:`_shared_sampler`); otherwise it is compiled anew.
    ``predictive=False`` skips the posterior predictive draws (for a fit read only for its
    posterior and log-likelihood, e.g. a variant in a stacking comparison).
    """
    compiled = _shared_sampler(built, sampler) if reuse_compiled else CompiledSampler(built.model, sampler)
    sampling = {"draws": int(draws), "tune": int(tune), "chains": int(chains),
                "target_accept": float(target_accept), "seed": int(seed), "progressbar": progressbar}
    refitter = Refitter(built, compiled, sampling)
    return _sample_and_assemble(built, compiled, {}, sampling, refitter, predictive=predictive)


def refit(fit: Fit, data: pd.DataFrame | None = None, *, weight: Sequence[float] | None = None,
          values: Mapping[str, Any] | None = None, seed: int | None = None, predictive: bool = True) -> Fit:
    """Refit ``fit``'s model to new data of the same structure without recompiling.

    See :meth:`Refitter.fit`. Raises ModelError for a Fit without a refitter (e.g. loaded from disk).
    """
    if fit.refitter is None:
        raise ModelError("this Fit cannot be refitted (it has no compiled model, e.g. it was loaded from disk)")
    return fit.refitter.fit(data, weight=weight, values=values, seed=seed, predictive=predictive)


def leave_one_out(fit: Fit, study_id: str | None) -> dict[str, float]:
    """Posterior summary of ``fit`` refitted with study ``study_id`` given weight 0.

    Returns the keys used by the diagnostics' influence table: mu_mean, mu_sd, mu_low, mu_high
    (95% equal-tailed) and tau_median (``tau_within`` for three-level models).
    ``study_id=None`` refits with all studies.
    """
    ids = fit.refitter.built.study_ids if fit.refitter is not None else []
    weight = None
    if study_id is not None:
        if study_id not in ids:
            raise ModelError(f"leave_one_out: study {study_id!r} is not in this fit; it has {ids}")
        weight = np.array([0.0 if s == study_id else 1.0 for s in ids])
    return location_summary(refit(fit, weight=weight, predictive=False))


def location_summary(fit: Fit) -> dict[str, float]:
    """mu_mean, mu_sd, mu_low, mu_high (95% equal-tailed) and tau_median (``tau_within`` for
    three-level models) of a fit's posterior: what leave-one-out and influence tables compare."""
    post = fit.idata["posterior"]
    mu = np.asarray(post["mu"]).ravel()
    tau_name = "tau" if "tau" in post.data_vars else "tau_within"
    return {"mu_mean": float(mu.mean()), "mu_sd": float(mu.std(ddof=1)),
            "mu_low": float(np.quantile(mu, 0.025)), "mu_high": float(np.quantile(mu, 0.975)),
            "tau_median": float(np.median(np.asarray(post[tau_name])))}


def binomial_normal_study_loglik(r: Any, n: Any, mean: Any, sd: Any, nodes: int = 30) -> np.ndarray:
    """log of the integral of Bin(r | n, expit(theta)) N(theta | mean, sd^2) over theta.

    Adaptive Gauss-Hermite quadrature (Liu & Pierce 1994, Biometrika 81:624-629): the nodes are
    centred at the mode of the integrand (safeguarded Newton steps,
    :func:`~bayes_il2.exact._newton.concave_mode`; the log integrand is strictly concave) and
    scaled by its curvature, so a few nodes are accurate whether the binomial or the normal factor
    is the sharper one. Arrays broadcast against each other.
    """
    from scipy.special import gammaln, logsumexp

    from bayes_il2.exact._newton import concave_mode

    r, n, mean, sd = (np.asarray(a, dtype=float) for a in np.broadcast_arrays(r, n, mean, sd))
    prec = 1.0 / sd ** 2

    def slope(i, theta):
        p = 1.0 / (1.0 + np.exp(-theta))
        return (r.flat[i] - n.flat[i] * p - (theta - mean.flat[i]) * prec.flat[i],
                -n.flat[i] * p * (1.0 - p) - prec.flat[i])

    theta = concave_mode(slope, mean, max_step=5.0, tol=1e-10, max_iter=100)
    p = 1.0 / (1.0 + np.exp(-theta))
    scale = 1.0 / np.sqrt(n * p * (1.0 - p) + prec)
    x, w = np.polynomial.hermite.hermgauss(nodes)
    t = theta[..., None] + np.sqrt(2.0) * scale[..., None] * x
    log_binom = (gammaln(n + 1) - gammaln(r + 1) - gammaln(n - r + 1))[..., None] \
        + r[..., None] * t - n[..., None] * np.logaddexp(0.0, t)
    log_norm = -0.5 * np.log(2 * np.pi) - np.log(sd)[..., None] - 0.5 * ((t - mean[..., None]) / sd[..., None]) ** 2
    return logsumexp(log_binom + log_norm + np.log(w) + x ** 2, axis=-1) + np.log(np.sqrt(2.0) * scale)


def usable_cores() -> int:
    """The number of cores this process may run on (its CPU affinity where the system tells it)."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def map_in_threads(fn: Callable[[Any], np.ndarray], items: Sequence[Any]) -> list[np.ndarray]:
    """``[fn(item) for item in items]``, computed by as many threads as this process may use cores.

    For the quadratures over the posterior draws (per study: :func:`binomial_pair_study_loglik`; per
    slice of draws: ``single_arm.study_logliks``): their time is numpy's ufuncs on blocks of thousands
    of elements, which release the GIL, so two items are computed at once on two cores (1.8x on BCG's
    13 tables x 4000 draws). Each item is computed by the same code as in the loop, so the results are
    identical; the threads end before this returns (no thread is left alive when the process later
    forks).
    """
    from concurrent.futures import ThreadPoolExecutor

    threads = min(usable_cores(), len(items))
    if threads <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bayes_il2-quadrature") as pool:
        return list(pool.map(fn, items))


def binomial_pair_study_loglik(r_c: Any, n_c: Any, r_t: Any, n_t: Any, alpha_mean: Any, alpha_sd: Any,
                               mean: Any, sd: Any, nodes: int = 24) -> np.ndarray:
    """log of the two-arm likelihood integrated over the study baseline alpha and effect theta.

    The integrand is Bin(r_c | n_c, expit(alpha)) Bin(r_t | n_t, expit(alpha + theta))
    N(alpha | alpha_mean, alpha_sd^2) N(theta | mean, sd^2); two-dimensional adaptive
    Gauss-Hermite quadrature (Liu & Pierce 1994; Pinheiro & Bates 1995, J Comput Graph Stat
    4:12-35) centred at the mode (damped Newton steps,
    :func:`~bayes_il2.exact._newton.concave_mode_2d`; the log integrand is concave) and rotated and
    scaled by the Cholesky factor of the inverse negative Hessian there.
    """
    from scipy.special import gammaln, logsumexp

    from bayes_il2.exact._newton import concave_mode_2d

    arrays = np.broadcast_arrays(r_c, n_c, r_t, n_t, alpha_mean, alpha_sd, mean, sd)
    rc, nc, rt, nt, am, asd, m, s = (np.asarray(a, dtype=float) for a in arrays)
    pa, pth = 1.0 / asd ** 2, 1.0 / s ** 2

    def objective(i, a, th):  # value, gradient, -H_aa, -H_at, -H_tt at the flat elements i
        f = (lambda v: v.flat[i])
        pc, pt = 1.0 / (1.0 + np.exp(-a)), 1.0 / (1.0 + np.exp(-(a + th)))
        wc, wt = f(nc) * pc * (1 - pc), f(nt) * pt * (1 - pt)
        value = (f(rc) * a - f(nc) * np.logaddexp(0.0, a) + f(rt) * (a + th) - f(nt) * np.logaddexp(0.0, a + th)
                 - 0.5 * (a - f(am)) ** 2 * f(pa) - 0.5 * (th - f(m)) ** 2 * f(pth))
        ga = f(rc) - f(nc) * pc + f(rt) - f(nt) * pt - (a - f(am)) * f(pa)
        gt = f(rt) - f(nt) * pt - (th - f(m)) * f(pth)
        return value, ga, gt, wc + wt + f(pa), wt, wt + f(pth)

    a, th = concave_mode_2d(objective, am, m, max_step=5.0, tol=1e-10, max_iter=100)
    haa, hat, htt = (h.reshape(a.shape) for h in objective(slice(None), a.reshape(-1), th.reshape(-1))[3:])
    det = haa * htt - hat ** 2
    # covariance = inverse of [[haa, hat], [hat, htt]]; its Cholesky factor L (lower)
    caa, cat, ctt = htt / det, -hat / det, haa / det
    l11 = np.sqrt(caa)
    l21 = cat / l11
    l22 = np.sqrt(np.maximum(ctt - l21 ** 2, 1e-300))
    x, w = np.polynomial.hermite.hermgauss(nodes)
    x1, x2 = (g.ravel() for g in np.meshgrid(x, x, indexing="ij"))
    logw = (np.log(w)[:, None] + np.log(w)[None, :]).ravel() + x1 ** 2 + x2 ** 2
    e = (lambda v: v[..., None])

    def half_square(z, centre, scale):  # 0.5 ((z - centre) / scale)^2, in place in z
        z -= e(centre)
        z /= e(scale)
        np.square(z, out=z)
        z *= 0.5
        return z

    def log_binom(r, n, eta):
        # (G + r * eta) - n * log(1 + exp(eta)), G = log C(n, r): the same operations in the same
        # order as the whole-array expression, written into two buffers (no temporaries per step)
        out = e(r) * eta
        out += e(gammaln(n + 1) - gammaln(r + 1) - gammaln(n - r + 1))
        soft = np.logaddexp(0.0, eta)
        soft *= e(n)
        out -= soft
        return out

    # The nodes x draws arrays are evaluated in blocks of rows (draws): a few MB each instead of
    # nodes^2 x draws x 8 bytes (18 MB per array for 4000 draws), which keeps them in cache and
    # the peak memory low. Every row is computed exactly as on the whole array (elementwise, then
    # a reduction along the nodes), so the result does not depend on the block size. In place where
    # a step allows it (IEEE addition and multiplication commute, so x += y is y + x bit for bit).
    flat = [np.reshape(v, -1) for v in (a, th, l11, l21, l22, rc, nc, rt, nt, am, asd, m, s)]
    out = np.empty(flat[0].shape)
    block = max(1, _PAIR_BLOCK_ELEMENTS // len(logw))
    root2, log_2pi = np.sqrt(2.0), np.log(2 * np.pi)
    for start in range(0, len(out), block):
        a_, th_, l11_, l21_, l22_, rc_, nc_, rt_, nt_, am_, asd_, m_, s_ = (v[start:start + block] for v in flat)
        rows = len(a_)
        # alpha's node A depends on x1 only: the control arm's binomial and alpha's normal term are
        # computed on the nodes x (not the nodes x nodes grid) and broadcast, value for value the same
        A = root2 * e(l11_) * x
        A += e(a_)  # a + sqrt(2) l11 x1
        T = e(l21_) * x1
        T += e(l22_) * x2
        T *= root2
        T += e(th_)  # theta + sqrt(2) (l21 x1 + l22 x2)
        logf = np.empty(T.shape)
        grid = (lambda v: v.reshape(rows, nodes, nodes))  # [draw, x1 node, x2 node] view of a grid array
        grid(logf)[...] = log_binom(rc_, nc_, A)[..., None]
        AT = grid(T) + A[..., None]
        logf += log_binom(rt_, nt_, AT.reshape(T.shape))
        logf -= log_2pi
        logf -= e(np.log(asd_) + np.log(s_))
        grid(logf)[...] -= half_square(A, am_, asd_)[..., None]
        logf -= half_square(T, m_, s_)
        logf += logw
        out[start:start + block] = logsumexp(logf, axis=-1) + np.log(2.0 * l11_ * l22_)
    return out.reshape(np.shape(a))


#: Elements (rows x quadrature nodes) of one block in :func:`binomial_pair_study_loglik`.
_PAIR_BLOCK_ELEMENTS = 2 ** 16  # 0.5 MB per array: fastest of 2^14..2^20 on 4000 draws
