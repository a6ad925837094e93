"""Bayesian reanalysis of a two-arm trial under a community of priors (design.md, Model 7).

Compose: build priors (:mod:`.priors`, :mod:`.map_prior`), robustify, update (:mod:`.posterior`),
summarise (:func:`reanalyze`), or do it all for a registry study (:func:`reanalyze_study`).
"""
from bayes_il2.reanalysis.analysis import COLUMNS, EndpointReanalysis, reanalyze, reanalyze_endpoint
from bayes_il2.reanalysis.endpoints import BinaryEndpoint, ContinuousEndpoint, Endpoint
from bayes_il2.reanalysis.mixture import FlatPrior, NormalMixture, automixfit, fit_mixture
from bayes_il2.reanalysis.posterior import GridPosterior, binary_posterior, continuous_posterior, posterior
from bayes_il2.reanalysis.map_prior import MapPrior, fit_map, map_from_draws, map_table
from bayes_il2.reanalysis.study import ReanalysisResult, reanalyze_study
from bayes_il2.reanalysis.priors import (build_priors, enthusiastic, flat, important_effect, neutral, robustify,
                                         skeptical)

__all__ = ["COLUMNS", "BinaryEndpoint", "ContinuousEndpoint", "Endpoint", "EndpointReanalysis", "FlatPrior",
           "GridPosterior", "MapPrior", "NormalMixture", "ReanalysisResult", "fit_map", "map_from_draws", "map_table",
           "reanalyze_study", "automixfit", "binary_posterior", "build_priors",
           "continuous_posterior", "enthusiastic", "fit_mixture", "flat", "important_effect", "neutral",
           "posterior", "reanalyze", "reanalyze_endpoint", "robustify", "skeptical"]
