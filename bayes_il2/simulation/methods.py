"""Methods a simulation study runs on each simulated data set: a pluggable registry.

A method is a function ``(effects, method_spec, seed) -> MethodResult`` registered under a kind
with :func:`register`. Shipped kinds:

- ``exact_nnhm``: the NNHM by numerical integration (:func:`bayes_il2.exact.nnhm`; Röver 2020),
  with the spec's tau prior (and mu prior, default flat); estimate = posterior median of mu,
  interval = equal-tailed credible interval.
- ``mcmc_nnhm``: the NNHM sampled with NUTS (:func:`bayes_il2.modeling.build_nnhm`); the first data
  set of each k in a worker process compiles the model, the others refit it with their data
  (:func:`bayes_il2.modeling.refit`: the same compiled log density, no recompilation).
- ``reml_hksj``: REML with the Hartung-Knapp-Sidik-Jonkman interval
  (``bayes_il2.classical.rma(yi, vi, method="REML", test="knha")``).

A method that raises returns a failed result (counted in the failure rate, never hidden).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayes_il2.errors import BayesIL2Error
from bayes_il2.simulation.spec import MethodSpec


@dataclass(frozen=True)
class MethodResult:
    """What one method gives for one simulated data set (interval at the study's ``level``)."""

    estimate: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    tau: float = float("nan")
    divergences: int = 0
    failed: bool = False
    error: str = ""


MethodFunction = Callable[[pd.DataFrame, MethodSpec, int, float], MethodResult]
_REGISTRY: dict[str, MethodFunction] = {}


def register(kind: str) -> Callable[[MethodFunction], MethodFunction]:
    """Decorator registering a method function under ``kind``."""
    def decorate(fn: MethodFunction) -> MethodFunction:
        _REGISTRY[kind] = fn
        return fn
    return decorate


def method_kinds() -> tuple[str, ...]:
    """The registered kinds."""
    return tuple(_REGISTRY)


def run_method(method: MethodSpec, effects: pd.DataFrame, seed: int, level: float) -> MethodResult:
    """Run ``method`` on one effect table; failures (any exception, or k < 2) become failed results."""
    if len(effects) < 2:
        return MethodResult(failed=True, error=f"only {len(effects)} estimable studies")
    try:
        return _REGISTRY[method.kind](effects, method, seed, level)
    except MissingDependency:
        raise
    except Exception as exc:  # a failed fit is a result of the study, not a crash of it
        return MethodResult(failed=True, error=f"{type(exc).__name__}: {exc}"[:300])


class MissingDependency(BayesIL2Error):
    """A method needs a module this installation lacks."""


#: Modules each kind needs beyond the core package (checked before a study starts).
_REQUIRES = {"reml_hksj": "bayes_il2.classical"}


def check_available(methods: Sequence[MethodSpec]) -> None:
    """Raise MissingDependency (naming the method) when a method's module is not installed."""
    import importlib.util

    for method in methods:
        module = _REQUIRES.get(method.kind)
        if module is not None and importlib.util.find_spec(module) is None:
            raise MissingDependency(f"method {method.name!r} (kind {method.kind!r}) requires {module}, "
                                    "which this installation lacks")


def _prior(table: dict[str, Any] | None):
    from bayes_il2.priors import prior_from_spec

    return None if table is None else prior_from_spec(table)


@register("exact_nnhm")
def exact_nnhm(effects: pd.DataFrame, method: MethodSpec, seed: int, level: float) -> MethodResult:
    """Exact NNHM (Röver 2020, J Stat Softw 93(6)); ``seed`` is unused (deterministic)."""
    from bayes_il2.exact import nnhm

    post = nnhm(effects["yi"].to_numpy(), effects["vi"].to_numpy(), _prior(method.tau_prior),
                _prior(method.mu_prior))
    low, high = post.mu.interval(level)
    return MethodResult(estimate=float(post.mu.median), ci_low=float(low), ci_high=float(high),
                        tau=float(post.tau.median))


# Worker-process cache for mcmc_nnhm: (method name, k) -> the first Fit (whose compiled sampler refits reuse)
_FITS: dict[tuple[str, int], Any] = {}


@register("mcmc_nnhm")
def mcmc_nnhm(effects: pd.DataFrame, method: MethodSpec, seed: int, level: float) -> MethodResult:
    """NNHM by NUTS (nutpie); the compiled model is reused for every data set of the same k."""
    from bayes_il2.modeling import build_nnhm, fit_built, refit

    table = effects[["study_id", "yi", "vi"]]
    measure = "OR" if "measure" in effects and (effects["measure"] == "OR").all() else "SMD"
    key = (method.name, len(table))
    base = _FITS.get(key)
    if base is None:
        priors = {"tau": _prior(method.tau_prior)}
        if method.mu_prior is not None:
            priors["mu"] = _prior(method.mu_prior)
        built = build_nnhm(table, priors=priors, measure=measure)
        fit = fit_built(built, draws=method.draws, tune=method.tune, chains=method.chains,
                        target_accept=method.target_accept, seed=seed)
        _FITS[key] = fit
    else:
        fit = refit(base, table, seed=seed, predictive=False)
    post = fit.idata["posterior"]
    mu = np.asarray(post["mu"]).ravel()
    tail = (1 - level) / 2
    low, high = np.quantile(mu, [tail, 1 - tail])
    divergences = int(np.asarray(fit.idata["sample_stats"]["diverging"]).sum())
    return MethodResult(estimate=float(np.median(mu)), ci_low=float(low), ci_high=float(high),
                        tau=float(np.median(np.asarray(post["tau"]))), divergences=divergences)


def clear_method_cache() -> None:
    """Forget the compiled MCMC models kept by :func:`mcmc_nnhm` in this process."""
    _FITS.clear()


@register("reml_hksj")
def reml_hksj(effects: pd.DataFrame, method: MethodSpec, seed: int, level: float) -> MethodResult:
    """REML tau² with the Hartung-Knapp-Sidik-Jonkman interval (Hartung & Knapp 2001; IntHout et al.
    2014), from ``bayes_il2.classical.rma``; ``seed`` is unused."""
    try:
        from bayes_il2.classical import rma
    except ImportError:
        raise MissingDependency("method kind 'reml_hksj' requires bayes_il2.classical "
                                "(rma(yi, vi, method='REML', test='knha')), which this installation lacks") from None
    res = rma(effects["yi"].to_numpy(), effects["vi"].to_numpy(), method="REML", test="knha", level=level)
    return MethodResult(estimate=float(res.estimate), ci_low=float(res.ci_low), ci_high=float(res.ci_high),
                        tau=float(np.sqrt(max(float(res.tau2), 0.0))))
