"""The diagnostics report of one fit: checks, tables, a one-line verdict, and its JSON form."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import math

import numpy as np
import pandas as pd

from bayes_il2._io import atomic_write_text
from bayes_il2.diagnostics.checks import Check, worst

TABLES = ("convergence", "predictive", "loo", "influence", "power_scaling", "tau_prior_grid", "model_comparison")


@dataclass(frozen=True)
class DiagnosticsReport:
    """How far a fit can be trusted.

    Attributes
    ----------
    checks : list of Check
        Each with status pass / warn / fail, the measured value, threshold and a hint.
    tables : dict of str to DataFrame
        convergence (R-hat, ESS, MCSE per parameter), predictive (per-study PPC), loo (Pareto k
        per study), influence (leave-one-study-out), power_scaling, tau_prior_grid,
        model_comparison; a table is absent when it does not apply to the model.
    loo_elpd : dict
        elpd, se and p_loo of PSIS-LOO (empty when not computed).
    notes : list of str
        What was skipped and why.
    """

    checks: list[Check]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    loo_elpd: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return worst([c.status for c in self.checks])

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def verdict(self) -> str:
        """One line: overall status and the checks that did not pass."""
        bad = [c for c in self.checks if c.status != "pass"]
        if not bad:
            return f"PASS: all {len(self.checks)} checks passed"
        listed = "; ".join(f"{c.name} {c.status} ({c.message})" for c in bad)
        return f"{self.status.upper()}: {listed}"

    def table(self) -> pd.DataFrame:
        """One row per check: name, status, value, threshold, message and what to do (hint)."""
        from dataclasses import asdict

        return pd.DataFrame([asdict(c) for c in self.checks])

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "status": self.status,
            "checks": [_plain(c.to_dict()) for c in self.checks],
            "loo_elpd": _plain(self.loo_elpd),
            "notes": list(self.notes),
            "tables": {name: _table_to_dict(df) for name, df in self.tables.items()},
        }

    def to_json(self, indent: int = 2) -> str:
        """Strict JSON (NaN and infinities written as null)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def write(self, path: str | Path) -> Path:
        """Write ``diagnostics.json`` atomically."""
        return atomic_write_text(path, self.to_json())

    @classmethod
    def from_json(cls, text: str) -> "DiagnosticsReport":
        raw = json.loads(text)
        tables = {name: _table_from_dict(t) for name, t in raw["tables"].items()}
        return cls(checks=[Check(**c) for c in raw["checks"]], tables=tables,
                   loo_elpd=raw.get("loo_elpd", {}), notes=raw.get("notes", []))

    @classmethod
    def read(cls, path: str | Path) -> "DiagnosticsReport":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def _plain(value):
    """JSON-ready copy: numpy scalars as Python numbers, NaN/inf as None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _table_to_dict(df: pd.DataFrame) -> dict:
    """Columns, dtypes and rows of a table (the index is dropped; floats at full precision)."""
    return {"columns": [str(c) for c in df.columns], "dtypes": [str(t) for t in df.dtypes],
            "data": [_plain(list(row)) for row in df.itertuples(index=False, name=None)]}


def _table_from_dict(raw: dict) -> pd.DataFrame:
    df = pd.DataFrame(raw["data"], columns=raw["columns"])
    for column, dtype in zip(raw["columns"], raw.get("dtypes", [])):
        try:
            df[column] = df[column].astype(dtype)
        except (TypeError, ValueError):
            pass  # keep what JSON gave (e.g. an object column mixing types)
    return df
