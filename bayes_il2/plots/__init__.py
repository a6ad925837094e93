"""Figures drawn from fitted results (never refitting): forest plots, parameter and diagnostic plots.

Every function returns a matplotlib ``Figure``; :func:`save_figure` writes it atomically.
The reanalysis figures live in :mod:`bayes_il2.plots.reanalysis` and are re-exported here lazily.

Names load lazily (PEP 562): importing this package, or a matplotlib-free module of it such as
:mod:`bayes_il2.plots.words` or :mod:`bayes_il2.plots.direction` (the report's words), does not import
matplotlib; the first use of a figure function imports the module that defines it (:data:`_NAMES`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING

from bayes_il2._lazy import lazy_names as _lazy_names

#: Public name -> the module (under bayes_il2.plots) that defines it.
_NAMES = {
    "influence_plot": "checks", "pareto_k_plot": "checks", "ppc_plot": "checks", "prior_sensitivity_plot": "checks",
    "forest_plot": "forest", "heterogeneity_text": "forest", "observed_effects": "forest",
    "save_figure": "io",
    "mu_prior_posterior_plot": "parameters", "parameter_forest": "parameters", "tau_posterior_plot": "parameters",
    "plot_reanalysis_densities": "reanalysis", "plot_exceedance": "reanalysis", "reanalysis_figures": "reanalysis",
}

__all__ = ["forest_plot", "heterogeneity_text", "observed_effects", "parameter_forest", "tau_posterior_plot",
           "mu_prior_posterior_plot", "ppc_plot", "pareto_k_plot", "influence_plot",
           "prior_sensitivity_plot", "save_figure"]

if _TYPE_CHECKING:  # pragma: no cover
    from bayes_il2.plots.checks import influence_plot, pareto_k_plot, ppc_plot, prior_sensitivity_plot
    from bayes_il2.plots.forest import forest_plot, heterogeneity_text, observed_effects
    from bayes_il2.plots.io import save_figure
    from bayes_il2.plots.parameters import mu_prior_posterior_plot, parameter_forest, tau_posterior_plot


__getattr__, __dir__ = _lazy_names(__name__, _NAMES)
