"""PyMC model families; each ``build_*`` returns a BuiltModel and :func:`fit_built` samples it.

Families: ``nnhm`` (with meta-regression), ``three_level``, ``binomial_normal`` (contrast-based
and random-baseline variants), ``single_arm`` (one or two levels), ``treg`` (pre-post changes
with the pre-post correlation fixed or given a prior), ``exnex`` and ``exnex_rate`` (diseases exchangeable or not,
Neuenschwander et al. 2016), ``design_bias`` (bias of weaker designs, Verde 2021; or a power prior) and ``design_bias_rate`` (its
event-rate form on the single-arm model). The one-call entry point is
:func:`bayes_il2.api.meta_analysis`.
"""
from bayes_il2.modeling._common import BuiltModel, Refitter, fit_built, leave_one_out, refit
from bayes_il2.modeling.binomial_normal import build_binomial_normal
from bayes_il2.modeling.design_bias import build_design_bias
from bayes_il2.modeling.design_bias_rate import build_design_bias_rate
from bayes_il2.modeling.exnex import build_exnex
from bayes_il2.modeling.exnex_rate import build_exnex_rate
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
    "exnex": build_exnex,
    "exnex_rate": build_exnex_rate,
    "design_bias": build_design_bias,
    "design_bias_rate": build_design_bias_rate,
}

__all__ = ["BUILDERS", "BetaR", "BuiltModel", "Refitter", "build_binomial_normal", "build_design_bias", "build_design_bias_rate", "build_exnex",
           "build_exnex_rate", "build_nnhm", "build_single_arm", "build_three_level", "build_treg", "fit_built",
           "leave_one_out", "refit", "build_partial", "on_standardized_scale", "predict_new_study"]
