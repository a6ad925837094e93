"""The evidence registry (``data/*.csv``): schema, loading, validation and listings.

>>> from bayes_il2.evidence import load_registry          # doctest: +SKIP
>>> registry = load_registry()                             # doctest: +SKIP
>>> registry.events.head()                                 # doctest: +SKIP

The schema (columns, types, vocabularies, rule ids) lives in :mod:`bayes_il2.evidence.schema`.
"""
from __future__ import annotations

from bayes_il2.evidence.listing import UnknownStudyError, list_studies, show_study
from bayes_il2.evidence.load import DATA_ENV, Registry, default_data_dir, load_registry
from bayes_il2.evidence.schema import RULES, TABLES, ColumnSpec, TableSpec
from bayes_il2.evidence.validate import validate_registry, validate_table

__all__ = [
    "DATA_ENV", "RULES", "TABLES", "ColumnSpec", "Registry", "TableSpec", "UnknownStudyError",
    "default_data_dir", "list_studies", "load_registry", "show_study", "validate_registry", "validate_table",
]
