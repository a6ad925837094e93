"""bayes_il2: Bayesian evidence synthesis of low-dose interleukin-2 (LD-IL-2).

The common case in one call (``meta_analysis``); every stage is importable on its own:
``evidence`` (registry), ``effects``, ``priors``, ``exact``, ``modeling``, ``diagnostics``,
``plots``, ``report``, ``reanalysis``, ``specs``, ``pipeline``.
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["meta_analysis", "load_registry", "__version__"]


def __getattr__(name: str):
    # Lazy: importing PyMC costs seconds, and `bayes-il2 data validate` should not pay it.
    if name == "meta_analysis":
        from bayes_il2.api import meta_analysis

        return meta_analysis
    if name == "load_registry":
        from bayes_il2.evidence import load_registry

        return load_registry
    raise AttributeError(f"module 'bayes_il2' has no attribute {name!r}")
