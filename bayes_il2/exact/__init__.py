"""Exact (numerical-integration) posteriors of normal models with known sampling variances.

``nnhm``: normal-normal hierarchical model; ``nnhm_partial``: the NNHM with bound, p-value,
approximate and aggregate rows of known standard error; ``common_effect``: tau = 0; ``three_level``: studies
within groups (two variance components, 2-D quadrature); ``exnex``: diseases exchangeable or not
(the same quadrature times a sum over the EX/NEX configurations); ``meta_regression``: coefficients Gaussian
given tau. Marginals (``mu``, ``tau``, ``theta_new``, ``theta(label)``, ...) offer ``pdf``, ``cdf``,
``ppf``, ``mean``, ``median``, ``sd`` and ``interval(level, kind="equal"|"shortest")``.
Reference: Röver C (2020), J Stat Softw 93(6) (the bayesmeta approach).
"""
from bayes_il2.exact.marginals import GaussianMixture, GridMarginal, Marginal, MonotoneTransform, PointMass
from bayes_il2.exact.partial import ExactPartialNNHM, GridMixture, nnhm_partial
from bayes_il2.exact.nnhm import ExactNNHM, KnownTau, common_effect, nnhm, typical_variance
from bayes_il2.exact.regression import ExactMetaRegression, meta_regression
from bayes_il2.exact.three_level import ExactThreeLevel, three_level
from bayes_il2.exact.exnex import ExactExnex, exnex

__all__ = ["nnhm", "nnhm_partial", "ExactPartialNNHM", "GridMixture", "common_effect", "three_level", "meta_regression", "ExactNNHM", "ExactThreeLevel", "exnex", "ExactExnex",
           "ExactMetaRegression", "KnownTau", "typical_variance", "Marginal", "GaussianMixture",
           "GridMarginal", "PointMass", "MonotoneTransform"]
