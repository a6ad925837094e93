"""Figures drawn from fitted results (never refitting): forest plots, parameter and diagnostic plots.

Every function returns a matplotlib ``Figure``; :func:`save_figure` writes it atomically.
The reanalysis figures live in :mod:`bayes_il2.plots.reanalysis` and are re-exported here lazily.
"""
from __future__ import annotations

from bayes_il2.plots.checks import influence_plot, pareto_k_plot, ppc_plot, prior_sensitivity_plot
from bayes_il2.plots.forest import forest_plot, heterogeneity_text, observed_effects
from bayes_il2.plots.io import save_figure
from bayes_il2.plots.parameters import mu_prior_posterior_plot, parameter_forest, tau_posterior_plot

__all__ = ["forest_plot", "heterogeneity_text", "observed_effects", "parameter_forest", "tau_posterior_plot",
           "mu_prior_posterior_plot", "ppc_plot", "pareto_k_plot", "influence_plot",
           "prior_sensitivity_plot", "save_figure"]


def __getattr__(name: str):
    # The reanalysis figures are owned by bayes_il2.plots.reanalysis; import it only when asked.
    import importlib

    if name.startswith("_") or name == "reanalysis":
        raise AttributeError(f"module 'bayes_il2.plots' has no attribute {name!r}")
    try:
        reanalysis = importlib.import_module("bayes_il2.plots.reanalysis")
    except ModuleNotFoundError as exc:  # pragma: no cover - module not present yet
        raise AttributeError(f"module 'bayes_il2.plots' has no attribute {name!r}") from exc
    if hasattr(reanalysis, name):
        return getattr(reanalysis, name)
    raise AttributeError(f"module 'bayes_il2.plots' has no attribute {name!r}")
