"""A user's own data for ``bayes-il2 fit``: effect tables (yi, vi or se) and event counts.

Every problem is reported at once as a :class:`~bayes_il2.errors.RegistryError` whose problems name
the file, line, column, value and rule, like the registry validator.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bayes_il2.errors import Problem, RegistryError

EFFECT_OPTIONAL = ("label", "group", "disease", "design", "n", "year")
COUNT_CONTRAST = ("events_t", "n_t", "events_c", "n_c")
COUNT_SINGLE = ("events", "n")


def _read(path: Path) -> pd.DataFrame:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RegistryError([Problem(str(path), None, None, None, "missing_file", "file not found")]) from None
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RegistryError([Problem(str(path), line, None, None, "non_utf8",
                                     f"bytes at offset {exc.start} are not UTF-8")]) from None
    if not raw.strip():
        raise RegistryError([Problem(str(path), None, None, None, "empty_file", "the file is empty")])
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.ParserError as exc:
        raise RegistryError([Problem(str(path), None, None, None, "malformed_csv", str(exc))]) from None


def _numeric(df: pd.DataFrame, column: str, path: Path, problems: list[Problem], *, integer: bool = False,
             positive: bool = False, non_negative: bool = False) -> pd.Series:
    values = pd.to_numeric(df[column].replace("", np.nan), errors="coerce")
    for i, (text, value) in enumerate(zip(df[column], values)):
        line = i + 2
        if text == "":
            problems.append(Problem(str(path), line, column, text, "missing_value", "a value is required"))
        elif np.isnan(value):
            problems.append(Problem(str(path), line, column, text, "bad_type", "expected a number"))
        elif integer and value != int(value):
            problems.append(Problem(str(path), line, column, text, "non_integer_count", "expected a whole number"))
        elif positive and value <= 0:
            problems.append(Problem(str(path), line, column, text, "not_positive", "must be > 0"))
        elif non_negative and value < 0:
            problems.append(Problem(str(path), line, column, text, "negative", "must be >= 0"))
    return values


def _study_ids(df: pd.DataFrame, path: Path, problems: list[Problem]) -> pd.Series:
    column = next((c for c in ("study_id", "study", "label") if c in df.columns), None)
    ids = df[column] if column else pd.Series([f"study_{i + 1}" for i in range(len(df))])
    for i, dup in enumerate(ids.duplicated()):
        if dup:
            problems.append(Problem(str(path), i + 2, column, ids.iloc[i], "duplicate_key", "study ids must be unique"))
    return ids


def read_effects_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV with ``yi`` and ``vi`` (or ``se``) per study into an effect table.

    Optional columns: study_id/study/label, group or disease (for three-level models), design,
    n, year, and any numeric covariates (kept as they are).
    """
    path = Path(path)
    df = _read(path)
    problems: list[Problem] = []
    if "yi" not in df.columns:
        problems.append(Problem(str(path), 1, "yi", None, "missing_column", "column 'yi' (the effect) is required"))
    if "vi" not in df.columns and "se" not in df.columns:
        problems.append(Problem(str(path), 1, "vi", None, "missing_column",
                                "column 'vi' (sampling variance) or 'se' (standard error) is required"))
    if problems:
        raise RegistryError(problems)
    out = pd.DataFrame({"study_id": _study_ids(df, path, problems).astype(str)})
    out["yi"] = _numeric(df, "yi", path, problems)
    if "vi" in df.columns:
        out["vi"] = _numeric(df, "vi", path, problems, positive=True)
    else:
        out["vi"] = _numeric(df, "se", path, problems, positive=True) ** 2
    if problems:
        raise RegistryError(problems)
    out["label"] = df["label"] if "label" in df.columns else out["study_id"]
    group = df["group"] if "group" in df.columns else df["disease"] if "disease" in df.columns else "all"
    out["disease"] = group
    out["design"] = df["design"] if "design" in df.columns else ""
    for column in df.columns:
        if column not in out.columns and column not in ("vi", "se", "study", "group"):
            converted = pd.to_numeric(df[column], errors="coerce").astype(float)
            out[column] = converted if converted.notna().all() else df[column]
    return out


def read_counts_csv(path: str | Path) -> pd.DataFrame:
    """Read event counts: two-arm (events_t, n_t, events_c, n_c) or single-arm (events, n)."""
    path = Path(path)
    df = _read(path)
    problems: list[Problem] = []
    columns = COUNT_CONTRAST if set(COUNT_CONTRAST) <= set(df.columns) else COUNT_SINGLE
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise RegistryError([Problem(str(path), 1, c, None, "missing_column",
                                     "two-arm counts need events_t, n_t, events_c, n_c; single-arm counts need events, n")
                             for c in missing])
    out = pd.DataFrame({"study_id": _study_ids(df, path, problems).astype(str)})
    for c in columns:
        out[c] = _numeric(df, c, path, problems, integer=True, non_negative=True)
    for events, n in (("events_t", "n_t"), ("events_c", "n_c"), ("events", "n")):
        if events in out and n in out:
            for i in np.flatnonzero((out[events] > out[n]).to_numpy()):
                problems.append(Problem(str(path), int(i) + 2, events, str(df[events].iloc[i]), "events_le_n",
                                        f"{events} ({df[events].iloc[i]}) exceeds {n} ({df[n].iloc[i]})"))
    if problems:
        raise RegistryError(problems)
    out["disease"] = df["disease"] if "disease" in df.columns else (df["group"] if "group" in df.columns else "all")
    out["design"] = df["design"] if "design" in df.columns else ""
    out["label"] = df["label"] if "label" in df.columns else out["study_id"]
    return out
