"""Classical (frequentist) meta-analysis beside the Bayesian one.

``rma`` (REML, ML, DL, PM, HE, SJ, EE; Wald, Knapp-Hartung and modified Knapp-Hartung tests; Q-profile
intervals for tau^2 and I^2; prediction intervals), ``rma_regression`` (meta-regression with moderator
tests), ``leave1out`` and ``cumulative``, ``rma_mh`` and ``rma_peto`` (2x2 tables), ``egger_test`` (refused
below 10 studies) and ``svalue`` (Mathur & VanderWeele 2020). ``classical_table`` builds the rows an
analysis writes to ``classical.csv``; ``explain_difference`` the sentence comparing them with the
Bayesian summary; ``crosscheck`` recomputes the published meta-analyses of the registry.

Like :mod:`bayes_il2.exact`, this package never imports plots, report, pipeline or cli.
"""
from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING

from bayes_il2._lazy import lazy_names as _lazy_names

#: Public name -> the module (under bayes_il2.classical) that defines it, loaded on first use: the
#: tests and intervals import scipy.special, which the result classes do not.
_NAMES = {
    **dict.fromkeys(('EggerResult', 'SValueResult', 'egger_test', 'svalue',), 'bias'),
    **dict.fromkeys(('rma_mh', 'rma_peto',), 'binary'),
    **dict.fromkeys(('explain_difference',), 'compare'),
    **dict.fromkeys(('rma_regression',), 'regression'),
    **dict.fromkeys(('PooledOR', 'RegressionResult', 'RMAResult',), 'result'),
    **dict.fromkeys(('rma',), 'rma'),
    **dict.fromkeys(('cumulative', 'leave1out',), 'sequential'),
    **dict.fromkeys(('classical_table',), 'tables'),
}

__all__ = ["rma", "rma_regression", "leave1out", "cumulative", "rma_mh", "rma_peto", "egger_test", "svalue",
           "classical_table", "explain_difference", "RMAResult", "RegressionResult", "PooledOR", "EggerResult",
           "SValueResult"]

if _TYPE_CHECKING:  # pragma: no cover
    from bayes_il2.classical.bias import EggerResult, SValueResult, egger_test, svalue
    from bayes_il2.classical.binary import rma_mh, rma_peto
    from bayes_il2.classical.compare import explain_difference
    from bayes_il2.classical.regression import rma_regression
    from bayes_il2.classical.result import PooledOR, RegressionResult, RMAResult
    from bayes_il2.classical.rma import rma
    from bayes_il2.classical.sequential import cumulative, leave1out
    from bayes_il2.classical.tables import classical_table

__getattr__, __dir__ = _lazy_names(__name__, _NAMES)
