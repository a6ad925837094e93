"""Published meta-analyses (``data/meta_analyses.csv``) recomputed from the registry where it can be.

A published pooled estimate can be recomputed only when the registry knows (1) which studies it
pooled, (2) the measure and (3) the pooling method, and holds the numbers of every one of those
studies. The study lists are not in ``meta_analyses.csv``; they come from an optional file
``meta_analysis_inputs.csv`` in the registry directory, one row per included study:

``ma_id, study_id, outcome, measure, method, test, source_id, location, note``

(``outcome``: a registry outcome code, or ``treg`` for whichever Treg outcome the registry's Treg table
uses for each study; ``measure``: an effect-size code (SMCR, SMCC, ROMC, OR, PLO, ...);
``method``: REML, DL, PM, ML, HE, SJ, EE, MH or Peto; ``test``: z, knha or knha_modified). Rows of
``meta_analyses.csv`` without such inputs are reported with what is missing; nothing is guessed.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_il2.classical.binary import rma_mh, rma_peto
from bayes_il2.classical.rma import rma
from bayes_il2.errors import BayesIL2Error, ModelError, Problem, RegistryError

INPUTS_FILE = "meta_analysis_inputs.csv"
INPUT_COLUMNS = ["ma_id", "study_id", "outcome", "measure", "method", "test", "source_id", "location", "note"]
METHODS = ("REML", "ML", "DL", "PM", "HE", "SJ", "EE", "MH", "Peto")
TESTS = ("z", "knha", "knha_modified")
LOG_MEASURES = {"OR", "RR", "ROM", "ROMC"}
RESULT_COLUMNS = ["ma_id", "outcome", "measure", "k_published", "published", "recomputed", "difference", "k_used",
                  "method", "status", "missing"]

EffectsFor = Callable[[Any, str, str, list[str]], pd.DataFrame]


def read_inputs(path: Path) -> pd.DataFrame:
    """The optional inputs file (empty frame when absent); RegistryError naming file, line and column."""
    if not path.is_file():
        return pd.DataFrame(columns=INPUT_COLUMNS)
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    problems = []
    missing = [c for c in INPUT_COLUMNS if c not in table.columns]
    if missing:
        problems.append(Problem(path.name, None, None, None, "columns",
                                f"missing column(s): {', '.join(missing)}"))
        raise RegistryError(problems)
    for i, row in table.iterrows():
        line = int(i) + 2
        for col in ("ma_id", "study_id", "outcome", "measure", "method"):
            if not str(row[col]).strip():
                problems.append(Problem(path.name, line, col, "", "required", f"{col} must not be blank"))
        if row["method"] and row["method"] not in METHODS:
            problems.append(Problem(path.name, line, "method", row["method"], "vocabulary",
                                    f"method must be one of {', '.join(METHODS)}"))
        if row["test"] and row["test"] not in TESTS:
            problems.append(Problem(path.name, line, "test", row["test"], "vocabulary",
                                    f"test must be one of {', '.join(TESTS)} or blank (z)"))
    for ma_id, group in table.groupby("ma_id"):
        for col in ("outcome", "measure", "method", "test"):
            if group[col].nunique() > 1:
                problems.append(Problem(path.name, int(group.index[0]) + 2, col, None, "consistent",
                                        f"{ma_id}: every row of one ma_id must give the same {col}"))
    if problems:
        raise RegistryError(problems)
    return table


def default_effects_for(registry: Any, outcome: str, measure: str, study_ids: list[str]) -> pd.DataFrame:
    """The registry's effect (or event) table for ``outcome`` restricted to ``study_ids``."""
    from bayes_il2 import effects

    if outcome.startswith("treg"):
        table, _ = effects.treg_expansion_effects(registry, measure=measure)
        if outcome != "treg" and "outcome" in table.columns:  # "treg": the Treg outcome the table picks per study
            table = table[table["outcome"] == outcome]
    elif measure in ("OR", "RR", "RD"):
        table, _ = effects.event_contrast_table(registry, outcome)
    elif measure in ("PLO", "PR"):
        table, _ = effects.event_rate_effects(registry, outcome)
    else:
        raise ModelError(f"recomputing outcome {outcome!r} with measure {measure!r} is not supported")
    return table[table["study_id"].isin(study_ids)].reset_index(drop=True)


def _published_text(row: pd.Series) -> str:
    est = row.get("estimate")
    if pd.isna(est) or str(est) == "":
        return ""
    lo, hi = row.get("ci_low"), row.get("ci_high")
    ci = f" [{lo:g}, {hi:g}]" if not (pd.isna(lo) or pd.isna(hi)) else ""
    return f"{float(est):g}{ci}"


def _missing_without_inputs(row: pd.Series) -> list[str]:
    """What the registry lacks to recompute a row that has no inputs listed."""
    note = str(row.get("note", "")).lower()
    missing = ["the list of included studies (no meta_analysis_inputs.csv rows for this ma_id"
               + ("; the source prints no study list)" if "list not available" in note else ")")]
    if "model and heterogeneity not reported" in note or "fixed or random not stated" in note:
        missing.append("the pooling model (not reported by the source)")
    elif "random effects" in note:
        missing.append("the tau^2 estimator (random effects; estimator not stated)")
    else:
        missing.append("the pooling method (not recorded)")
    measure = str(row.get("measure", ""))
    if "probably" in measure or "not labelled" in measure or "as printed" in measure:
        missing.append(f"the measure (published as {measure!r})")
    if pd.isna(row.get("k")) or str(row.get("k")) == "":
        missing.append("k (not reported for this outcome)")
    return missing


def _recompute(table: pd.DataFrame, method: str, test: str, measure: str) -> tuple[float, int]:
    if method in ("MH", "Peto"):
        a = table["events_t"].to_numpy(float)
        n1 = table["n_t"].to_numpy(float)
        c = table["events_c"].to_numpy(float)
        n2 = table["n_c"].to_numpy(float)
        res = rma_mh(a, n1 - a, c, n2 - c, measure="OR") if method == "MH" else rma_peto(a, n1 - a, c, n2 - c)
        return res.estimate, res.k
    yi = pd.to_numeric(table["yi"], errors="coerce").to_numpy(float)
    vi = pd.to_numeric(table["vi"], errors="coerce").to_numpy(float)
    ok = np.isfinite(yi) & np.isfinite(vi)
    return rma(yi[ok], vi[ok], method=method, test=test or "z").estimate, int(ok.sum())


def crosscheck(registry: Any, inputs: pd.DataFrame | None = None,
               effects_for: EffectsFor = default_effects_for) -> pd.DataFrame:
    """One row per published meta-analysis: published against recomputed, or what is missing.

    Parameters
    ----------
    registry : Registry
        The loaded registry (its ``meta_analyses`` table and the study data).
    inputs : DataFrame, optional
        The study lists (:data:`INPUT_COLUMNS`); default: ``meta_analysis_inputs.csv`` beside the registry
        files when ``registry`` knows its directory, else none.
    effects_for : callable
        ``(registry, outcome, measure, study_ids) -> effect table`` (tests substitute their own).

    Returns
    -------
    DataFrame
        Columns :data:`RESULT_COLUMNS`; ``status`` is ``recomputed``, ``inputs missing``, ``not a pooled
        estimate`` or ``failed``; ``difference`` is recomputed minus published on the published scale.
    """
    if inputs is None:
        directory = getattr(registry, "path", None) or getattr(registry, "directory", None)
        inputs = read_inputs(Path(directory) / INPUTS_FILE) if directory else pd.DataFrame(columns=INPUT_COLUMNS)
    rows = []
    for _, ma in registry.meta_analyses.iterrows():
        base = {"ma_id": ma["ma_id"], "outcome": ma.get("outcome", ""), "measure": ma.get("measure", ""),
                "k_published": ma.get("k"), "published": _published_text(ma), "recomputed": "",
                "difference": float("nan"), "k_used": float("nan"), "method": "", "missing": ""}
        if base["published"] == "":
            rows.append({**base, "status": "not a pooled estimate",
                         "missing": "no pooled estimate printed (counts or crude values only)"})
            continue
        mine = inputs[inputs["ma_id"] == ma["ma_id"]]
        if len(mine) == 0:
            rows.append({**base, "status": "inputs missing", "missing": "; ".join(_missing_without_inputs(ma))})
            continue
        first = mine.iloc[0]
        outcome, measure, method, test = first["outcome"], first["measure"], first["method"], first["test"] or "z"
        wanted = list(dict.fromkeys(mine["study_id"]))
        try:
            table = effects_for(registry, outcome, measure, wanted)
            have = set(table["study_id"]) if len(table) else set()
            lacking = [s for s in wanted if s not in have]
            if lacking:
                rows.append({**base, "method": method, "status": "inputs missing",
                             "missing": f"registry data for {outcome} ({measure}) of: {', '.join(lacking)}"})
                continue
            est, k_used = _recompute(table, method, test, measure)
        except BayesIL2Error as exc:
            rows.append({**base, "method": method, "status": "failed", "missing": str(exc)})
            continue
        shown = math.exp(est) if measure in LOG_MEASURES else est
        rows.append({**base, "method": f"{method} ({test})", "status": "recomputed", "recomputed": f"{shown:.4g}",
                     "difference": shown - float(ma["estimate"]), "k_used": k_used})
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def format_crosscheck(result: pd.DataFrame) -> str:
    """Plain text for the terminal: one block per published meta-analysis."""
    lines = []
    for _, r in result.iterrows():
        head = f"{r['ma_id']}: {r['outcome']} ({r['measure']})"
        if r["status"] == "recomputed":
            lines.append(f"{head}\n  published {r['published']}  recomputed {r['recomputed']} "
                         f"[{r['method']}, k = {int(r['k_used'])}]  difference {r['difference']:+.4g}")
        else:
            pub = f"published {r['published']}; " if r["published"] else ""
            lines.append(f"{head}\n  {pub}{r['status']}: {r['missing']}")
    n_done = int((result["status"] == "recomputed").sum()) if len(result) else 0
    lines.append(f"{n_done} of {len(result)} published meta-analyses recomputed.")
    return "\n".join(lines)
