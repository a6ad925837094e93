"""What the effect tables carry about the quality of their inputs, and the sensitivity subsets built on it.

- Consistency flags (:mod:`bayes_il2.evidence.consistency`) of the registry rows an effect used:
  columns ``consistency_flag`` (the explanations, ``""`` when none) and ``consistency_severity``
  (``"error"``, ``"warning"`` or ``""``) of the Treg table.
- Possible cohort overlap (``studies.overlap_with``): a study that may share patients with another
  study of the same table.

The two subset functions back the spec's ``[[sensitivity]]`` kinds ``exclude_flagged`` and
``exclude_possible_overlap``; they never change the registry.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from bayes_il2.evidence.consistency import SEVERITIES, Flag, check_tables, flags_by_line

FLAG_COLUMN = "consistency_flag"
SEVERITY_COLUMN = "consistency_severity"


#: Flags by the content of the tables they were computed from (a few registries per process).
_FLAGS_BY_CONTENT: dict[str, dict[int, list[Flag]]] = {}


def measurement_flags(registry) -> dict[int, list[Flag]]:
    """Consistency flags of ``registry.measurements`` (with the contrasts and meta-analyses the
    checks read), by measurement line. An object without those tables gives no flags.

    The checks cost about 0.09 s and every Treg effect table needs them (a run builds dozens):
    they are computed once per content of the tables (hashed, about 0.016 s) and copied out.
    """
    tables = {name: getattr(registry, name) for name in ("measurements", "events", "contrasts", "meta_analyses")
              if isinstance(getattr(registry, name, None), pd.DataFrame)}
    if "measurements" not in tables:
        return {}
    key = _content_key(tables)
    flags = _FLAGS_BY_CONTENT.get(key) if key is not None else None
    if flags is None:
        flags = flags_by_line(check_tables(tables), "measurements.csv")
        if key is not None:
            if len(_FLAGS_BY_CONTENT) >= 8:
                _FLAGS_BY_CONTENT.clear()
            _FLAGS_BY_CONTENT[key] = flags
    return {line: list(found) for line, found in flags.items()}


def _content_key(tables: dict[str, pd.DataFrame]) -> str | None:
    """sha256 of the tables' names, columns, dtypes, index and values; None where a cell cannot be hashed."""
    import hashlib

    digest = hashlib.sha256()
    for name, frame in sorted(tables.items()):
        digest.update(repr((name, list(map(str, frame.columns)), list(map(str, frame.dtypes)))).encode())
        try:
            digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
        except TypeError:
            return None
    return digest.hexdigest()


def flag_cells(by_line: dict[int, list[Flag]], lines: Iterable) -> tuple[str, str]:
    """(explanations joined by ' | ', worst severity) of the flags on ``lines``; ('', '') when none."""
    flags = [f for line in lines for f in by_line.get(int(line), [])]
    if not flags:
        return "", ""
    worst = "error" if any(f.severity == "error" for f in flags) else "warning"
    return " | ".join(f"line {f.line}: {f.short}" for f in flags), worst


def exclude_flagged(table: pd.DataFrame, registry, severities: Sequence[str] = SEVERITIES
                    ) -> tuple[pd.DataFrame, list[str]]:
    """The table without rows whose inputs carry a consistency flag of ``severities``.

    Row level where the table has ``consistency_severity`` (the Treg table); otherwise study
    level: every row of a study with such a flag anywhere in the registry.

    Returns
    -------
    (kept, dropped study ids)
    """
    severities = tuple(severities) or SEVERITIES
    if SEVERITY_COLUMN in table.columns:
        drop = table[SEVERITY_COLUMN].astype(str).isin(severities)
    else:
        tables = {name: getattr(registry, name) for name in ("measurements", "events", "contrasts", "meta_analyses")
                  if isinstance(getattr(registry, name, None), pd.DataFrame)}
        studies = {f.study_id for f in check_tables(tables) if f.severity in severities}
        drop = table["study_id"].astype(str).isin(studies)
    return table[~drop], sorted(set(table.loc[drop, "study_id"].astype(str)))


def overlap_partners(registry) -> dict[str, set[str]]:
    """study_id -> the study ids its ``overlap_with`` names (empty when the column is absent)."""
    studies = getattr(registry, "studies", None)
    if not isinstance(studies, pd.DataFrame) or "overlap_with" not in studies.columns:
        return {}
    out = {}
    for sid, cell in zip(studies["study_id"].astype(str), studies["overlap_with"]):
        text = "" if pd.isna(cell) else str(cell)
        ids = {i.strip() for i in text.split(";") if i.strip() and i.strip() != "nan"}
        if ids:
            out[sid] = ids
    return out


def exclude_possible_overlap(table: pd.DataFrame, registry) -> tuple[pd.DataFrame, list[str]]:
    """The table without studies that may share patients with another study *of the same table*.

    ``overlap_with`` sits on the study that may be contained in another (e.g. JICR2019_LN names
    He2016_NatMed); that study is dropped, the one it names is kept.

    Returns
    -------
    (kept, dropped study ids)
    """
    partners = overlap_partners(registry)
    present = set(table["study_id"].astype(str))
    drop = table["study_id"].astype(str).map(lambda s: bool(partners.get(s, set()) & (present - {s})))
    return table[~drop], sorted(set(table.loc[drop, "study_id"].astype(str)))
