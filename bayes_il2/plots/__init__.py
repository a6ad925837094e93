"""Figures drawn from fitted results (never refitting): forest plots, parameter and diagnostic plots.

Every function returns a matplotlib ``Figure``; :func:`save_figure` writes it atomically.
The reanalysis figures live in :mod:`bayes_il2.plots.reanalysis` and are re-exported here lazily.

Names load lazily (PEP 562): importing this package, or a matplotlib-free module of it such as
:mod:`bayes_il2.plots.words` or :mod:`bayes_il2.plots.direction` (the report's words), does not import
matplotlib; the first use of a figure function imports the module that defines it (:data:`_NAMES`).
"""
from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

#: Public name -> the module (under bayes_il2.plots) that defines it.
_NAMES = {
    "influence_plot": "checks", "pareto_k_plot": "checks", "ppc_plot": "checks", "prior_sensitivity_plot": "checks",
    "forest_plot": "forest", "heterogeneity_text": "forest", "observed_effects": "forest",
    "save_figure": "io",
    "mu_prior_posterior_plot": "parameters", "parameter_forest": "parameters", "tau_posterior_plot": "parameters",
}

__all__ = ["forest_plot", "heterogeneity_text", "observed_effects", "parameter_forest", "tau_posterior_plot",
           "mu_prior_posterior_plot", "ppc_plot", "pareto_k_plot", "influence_plot",
           "prior_sensitivity_plot", "save_figure"]

if _TYPE_CHECKING:  # pragma: no cover
    from bayes_il2.plots.checks import influence_plot, pareto_k_plot, ppc_plot, prior_sensitivity_plot
    from bayes_il2.plots.forest import forest_plot, heterogeneity_text, observed_effects
    from bayes_il2.plots.io import save_figure
    from bayes_il2.plots.parameters import mu_prior_posterior_plot, parameter_forest, tau_posterior_plot


def __getattr__(name: str) -> _Any:
    if name in _NAMES:
        value = getattr(_importlib.import_module(f"bayes_il2.plots.{_NAMES[name]}"), name)
        globals()[name] = value
        return value
    # The reanalysis figures are owned by bayes_il2.plots.reanalysis; import it only when asked.
    if name.startswith("_") or name == "reanalysis":
        raise AttributeError(f"module 'bayes_il2.plots' has no attribute {name!r}")
    try:
        reanalysis = _importlib.import_module("bayes_il2.plots.reanalysis")
    except ModuleNotFoundError as exc:  # pragma: no cover - module not present yet
        raise AttributeError(f"module 'bayes_il2.plots' has no attribute {name!r}") from exc
    if hasattr(reanalysis, name):
        return getattr(reanalysis, name)
    raise AttributeError(f"module 'bayes_il2.plots' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
