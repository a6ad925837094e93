"""Read what ``bayes-il2 run`` wrote for one analysis (``results/<name>/``) into plain records.

The report never refits: it reads ``run.json``, the CSV tables, ``diagnostics.json``, the figures and
the metadata stored in ``posterior.nc`` (software versions, seed, priors), and the analysis spec
named in ``run.json`` for the question, model and priors.
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bayes_il2._io import slug

#: Figure order in the report (others follow alphabetically) and their captions.
FIGURE_CAPTIONS = {
    "forest": "Forest plot: observed effects (black squares, 95% CI) and posterior study effects "
              "(blue circles, 95% CrI), disease and pooled means (diamonds), 95% prediction interval "
              "for a new study (red bar); where a classical fit exists, its REML + HKSJ pooled mean (green "
              "diamond) and prediction interval (green bar) beneath.",
    "forest_by_design": "Forest plot grouped by study design (RCT, single-arm, non-randomised ...): observed "
                        "effects and posterior study effects, pooled mean and 95% prediction interval.",
    "parameter_forest": "Posterior medians with 50% and 95% credible intervals of the model parameters.",
    "tau_posterior": "Posterior density of the between-study standard deviation with its prior (dashed).",
    "mu_prior_posterior": "Prior (dashed) and posterior density of the pooled mean.",
    "ppc": "Posterior predictive check per study: observed value against its 95% predictive interval "
           "(red: outside); grey: mixed predictive interval that does not reuse the study's own effect.",
    "pareto_k": "PSIS-LOO Pareto k per study; above 0.7 (dashed) the importance-sampling estimate is "
                "unreliable and the study is influential.",
    "influence": "Leave-one-study-out: pooled mean without each study and the change in tau.",
    "prior_sensitivity": "Pooled mean and tau under alternative heterogeneity priors.",
    "reanalysis_densities": "Posterior densities of the odds ratio under each prior, with the probability "
                            "of benefit shaded.",
    "exceedance": "Probability that the true effect exceeds each threshold, under each prior.",
    "funnel": "Contour-enhanced funnel plot (Peters et al. 2008): study effects against their standard errors; "
              "shading marks where a study is significant at 10%, 5% and 1%; the classical REML estimate with "
              "pseudo 95% limits.",
}


@dataclass(frozen=True)
class OutcomeFolder:
    """One outcome of an analysis: its tables, diagnostics and figures."""

    label: str
    path: Path
    summary: pd.DataFrame
    effects: pd.DataFrame
    excluded: pd.DataFrame
    diagnostics: dict[str, Any] | None
    figures: tuple[tuple[str, Path], ...]
    extra_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    fit_meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalysisFolder:
    """Everything on disk about one analysis."""

    name: str
    path: Path
    title: str
    status: str
    verdict: str
    seconds: float | None
    spec_path: str | None
    spec: dict[str, Any]
    outcomes: tuple[OutcomeFolder, ...]
    missing: bool = False
    notes: dict[str, list[str]] = field(default_factory=dict)
    headlines: dict[str, str] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # analysis-level CSVs (multi-outcome)
    analysis_notes: tuple[str, ...] = ()

    @property
    def question(self) -> str:
        return str(self.spec.get("question", "")).strip()




def read_csv(path: Path) -> pd.DataFrame:
    """A CSV table, or an empty frame when the file is absent or has no columns."""
    if not path.is_file():
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def read_spec(spec_path: str | None) -> dict[str, Any]:
    """The raw TOML of the analysis spec (empty when the source is not a readable TOML file)."""
    if not spec_path:
        return {}
    path = Path(spec_path)
    if path.suffix != ".toml" or not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def read_fit_meta(path: Path) -> dict[str, Any]:
    """The fit's metadata (:meth:`bayes_il2.fit.Fit.metadata`): from ``fit.json`` beside ``path`` when the
    pipeline wrote one (cheap), else from the attributes of ``posterior.nc`` (empty if neither)."""
    sidecar = path.with_name("fit.json")
    if sidecar.is_file():
        try:
            return json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
    if not path.is_file():
        return {}
    try:
        import xarray as xr

        with xr.open_datatree(path) as tree:
            raw = tree.attrs.get("bayes_il2_fit")
        meta = json.loads(raw) if raw else {}
    except Exception:  # noqa: BLE001 - a damaged posterior file must not stop the report
        return {}
    meta.pop("data", None)
    return meta


_STANDARD = {"summary.csv", "effects.csv", "excluded.csv"}


def read_outcome(label: str, path: Path) -> OutcomeFolder:
    """Read one outcome folder."""
    diagnostics = None
    if (path / "diagnostics.json").is_file():
        try:
            diagnostics = json.loads((path / "diagnostics.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            diagnostics = {"verdict": "diagnostics.json is not valid JSON", "checks": []}
    pngs = {p.stem: p for p in sorted(path.glob("*.png"))}
    order = [n for n in FIGURE_CAPTIONS if n in pngs] + sorted(n for n in pngs if n not in FIGURE_CAPTIONS)
    extra = {p.stem: read_csv(p) for p in sorted(path.glob("*.csv"))
             if p.name not in _STANDARD and not p.name.startswith("diagnostics_")}
    return OutcomeFolder(label=label, path=path, summary=read_csv(path / "summary.csv"),
                         effects=read_csv(path / "effects.csv"), excluded=read_csv(path / "excluded.csv"),
                         diagnostics=diagnostics, figures=tuple((n, pngs[n]) for n in order),
                         extra_tables=extra, fit_meta=read_fit_meta(path / "posterior.nc"))


def load_analysis(folder: str | Path) -> AnalysisFolder:
    """Read ``results/<name>/``; a folder without ``run.json`` gives a record with ``missing=True``."""
    folder = Path(folder)
    run_file = folder / "run.json"
    if not run_file.is_file():
        return AnalysisFolder(name=folder.name, path=folder, title=folder.name, status="missing",
                              verdict=f"no results found in {folder}", seconds=None, spec_path=None,
                              spec={}, outcomes=(), missing=True)
    run = json.loads(run_file.read_text(encoding="utf-8"))
    spec = read_spec(run.get("spec"))
    if "question" not in spec and run.get("question"):
        spec = {**spec, "question": run["question"]}
    labels = list(run.get("outcomes") or [])
    if len(labels) > 1:
        outcomes = tuple(read_outcome(lab, folder / slug(lab)) for lab in labels)
    else:
        outcomes = (read_outcome(labels[0] if labels else run.get("analysis", folder.name), folder),)
    return AnalysisFolder(name=run.get("analysis", folder.name), path=folder,
                          title=run.get("title") or folder.name, status=run.get("status", "unknown"),
                          verdict=run.get("verdict", ""), seconds=run.get("seconds"),
                          spec_path=run.get("spec"), spec=spec, outcomes=outcomes,
                          notes={str(k): [str(n) for n in v] for k, v in (run.get("notes") or {}).items()},
                          headlines={str(k): str(v) for k, v in (run.get("headlines") or {}).items()},
                          tables=({p.stem: read_csv(p) for p in sorted(folder.glob("*.csv")) if p.name != "summary.csv"}
                                  if len(labels) > 1 else {}),
                          analysis_notes=tuple(str(n) for n in run.get("analysis_notes") or ()))
