"""Deprecated location: :func:`write_results_report` lives in :mod:`bayes_il2.report.results`.

Kept as a re-export so that ``from bayes_il2.reporting import write_results_report`` (the CLI's
handlers) keeps working; new code imports from :mod:`bayes_il2.report`.
"""
from bayes_il2.report.results import write_results_report

__all__ = ["write_results_report"]
