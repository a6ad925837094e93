"""PyMC model families; each ``build_*`` returns a BuiltModel and :func:`fit_built` samples it.

Families: ``nnhm`` (with meta-regression), ``three_level``, ``binomial_normal`` (contrast-based
and random-baseline variants), ``single_arm`` (one or two levels), ``treg`` (pre-post changes
with the pre-post correlation fixed or given a prior). The one-call entry point is
:func:`bayes_il2.api.meta_analysis`.
"""
from bayes_il2.modeling._common import BuiltModel, Refitter, fit_built, leave_one_out, refit
from bayes_il2.modeling.binomial_normal import build_binomial_normal
from bayes_il2.modeling.nnhm import build_nnhm
from bayes_il2.modeling.partial import build_partial, on_standardized_scale, predict_new_study
from bayes_il2.modeling.single_arm import build_single_arm
from bayes_il2.modeling.three_level import build_three_level
from bayes_il2.modeling.treg import BetaR, build_treg

BUILDERS = {
    "nnhm": build_nnhm,
    "three_level": build_three_level,
    "binomial_normal": build_binomial_normal,
    "single_arm": build_single_arm,
    "treg": build_treg,
}

__all__ = ["BUILDERS", "BetaR", "BuiltModel", "Refitter", "build_binomial_normal", "build_nnhm",
           "build_single_arm", "build_three_level", "build_treg", "fit_built", "leave_one_out", "refit",
           "build_partial", "on_standardized_scale", "predict_new_study"]
