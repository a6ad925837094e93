"""PyMC model families; each ``build_*`` returns a BuiltModel and :func:`fit_built` samples it.

Families: ``nnhm`` (with meta-regression), ``three_level``, ``binomial_normal`` (contrast-based
and random-baseline variants), ``single_arm`` (one or two levels), ``treg`` (pre-post changes
with the pre-post correlation fixed or given a prior), ``exnex`` and ``exnex_rate`` (diseases exchangeable or not,
Neuenschwander et al. 2016), ``design_bias`` (bias of weaker designs, Verde 2021; or a power prior) and ``design_bias_rate`` (its
event-rate form on the single-arm model). The one-call entry point is
:func:`bayes_il2.api.meta_analysis`.

Names load lazily (PEP 562): importing this package does not import PyMC; the first use of a name
imports the module that defines it (:data:`_NAMES`). A new family adds its builder to ``_NAMES``
and its family name to ``_FAMILIES``.
"""
from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

#: Public name -> the module (under bayes_il2.modeling) that defines it.
_NAMES = {
    "BuiltModel": "_common", "Refitter": "_common", "fit_built": "_common", "leave_one_out": "_common",
    "refit": "_common",
    "build_binomial_normal": "binomial_normal",
    "build_design_bias": "design_bias",
    "build_design_bias_rate": "design_bias_rate",
    "build_exnex": "exnex", "build_exnex_rate": "exnex_rate",
    "build_nnhm": "nnhm",
    "build_partial": "partial", "on_standardized_scale": "partial", "predict_new_study": "partial",
    "build_single_arm": "single_arm",
    "build_three_level": "three_level",
    "BetaR": "treg", "build_treg": "treg",
}
#: Family name -> its builder (a name of ``_NAMES``); :data:`BUILDERS` maps the family to the function.
_FAMILIES = {
    "nnhm": "build_nnhm",
    "three_level": "build_three_level",
    "binomial_normal": "build_binomial_normal",
    "single_arm": "build_single_arm",
    "treg": "build_treg",
    "exnex": "build_exnex",
    "exnex_rate": "build_exnex_rate",
    "design_bias": "build_design_bias",
    "design_bias_rate": "build_design_bias_rate",
}

__all__ = ["BUILDERS", *_NAMES]

if _TYPE_CHECKING:  # static analysers see the eager imports
    from bayes_il2.modeling._common import BuiltModel, Refitter, fit_built, leave_one_out, refit  # noqa: F401
    from bayes_il2.modeling.binomial_normal import build_binomial_normal  # noqa: F401
    from bayes_il2.modeling.design_bias import build_design_bias  # noqa: F401
    from bayes_il2.modeling.design_bias_rate import build_design_bias_rate  # noqa: F401
    from bayes_il2.modeling.exnex import build_exnex  # noqa: F401
    from bayes_il2.modeling.exnex_rate import build_exnex_rate  # noqa: F401
    from bayes_il2.modeling.nnhm import build_nnhm  # noqa: F401
    from bayes_il2.modeling.partial import build_partial, on_standardized_scale, predict_new_study  # noqa: F401
    from bayes_il2.modeling.single_arm import build_single_arm  # noqa: F401
    from bayes_il2.modeling.three_level import build_three_level  # noqa: F401
    from bayes_il2.modeling.treg import BetaR, build_treg  # noqa: F401


def __getattr__(name: str) -> _Any:
    if name == "BUILDERS":
        value: _Any = {family: __getattr__(builder) for family, builder in _FAMILIES.items()}
    elif name in _NAMES:
        value = getattr(_importlib.import_module(f"bayes_il2.modeling.{_NAMES[name]}"), name)
    else:
        raise AttributeError(f"module 'bayes_il2.modeling' has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(globals()))
