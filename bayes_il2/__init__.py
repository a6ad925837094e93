"""bayes_il2: Bayesian evidence synthesis of low-dose interleukin-2 (LD-IL-2).

The common case in one call (``meta_analysis``); every stage is importable on its own:
``evidence`` (registry), ``effects``, ``priors``, ``exact``, ``modeling``, ``diagnostics``,
``plots``, ``report``, ``reanalysis``, ``specs``, ``pipeline``. Names load lazily (importing PyMC
costs seconds, and ``bayes-il2 data validate`` should not pay it); ``dir(bayes_il2)`` lists them all.
"""
from __future__ import annotations

import importlib as _importlib
from typing import Any as _Any

__version__ = "0.1.0"

#: Public functions and classes -> the module that defines them.
_FUNCTIONS = {
    "meta_analysis": "bayes_il2.api", "load_registry": "bayes_il2.evidence", "escalc": "bayes_il2.effects",
    "diagnose": "bayes_il2.diagnostics", "Fit": "bayes_il2.fit", "parse_prior": "bayes_il2.priors",
    "forest_plot": "bayes_il2.plots", "write_report": "bayes_il2.report", "reanalyze": "bayes_il2.reanalysis",
}
#: Public sub-modules.
_MODULES = ("evidence", "effects", "priors", "exact", "modeling", "diagnostics", "plots", "report",
            "reanalysis", "specs", "pipeline", "inference", "default_priors")

__all__ = sorted([*_FUNCTIONS, *_MODULES]) + ["__version__"]


def __getattr__(name: str) -> _Any:
    if name in _FUNCTIONS:
        return getattr(_importlib.import_module(_FUNCTIONS[name]), name)
    if name in _MODULES:
        return _importlib.import_module(f"bayes_il2.{name}")
    raise AttributeError(f"module 'bayes_il2' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | {n for n in globals() if n.startswith("__")})
