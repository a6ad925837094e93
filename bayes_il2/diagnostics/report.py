"""The diagnostics report of one fit: checks, tables, a one-line verdict, and its JSON form."""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

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

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "status": self.status,
            "checks": [c.to_dict() for c in self.checks],
            "loo_elpd": self.loo_elpd,
            "notes": list(self.notes),
            "tables": {name: json.loads(df.to_json(orient="split", index=False, double_precision=15))
                       for name, df in self.tables.items()},
        }

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=True)

    def write(self, path: str | Path) -> Path:
        """Write ``diagnostics.json`` atomically."""
        return atomic_write_text(path, self.to_json())

    @classmethod
    def from_json(cls, text: str) -> "DiagnosticsReport":
        raw = json.loads(text)
        tables = {name: pd.read_json(io.StringIO(json.dumps(t)), orient="split") for name, t in raw["tables"].items()}
        return cls(checks=[Check(**c) for c in raw["checks"]], tables=tables,
                   loo_elpd=raw.get("loo_elpd", {}), notes=raw.get("notes", []))

    @classmethod
    def read(cls, path: str | Path) -> "DiagnosticsReport":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))
