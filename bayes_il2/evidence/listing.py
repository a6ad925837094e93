"""Human-readable views of a loaded registry (``bayes-il2 data list`` and ``data show``)."""
from __future__ import annotations

import difflib

import pandas as pd

from bayes_il2.evidence.consistency import check_registry_consistency

from bayes_il2.errors import BayesIL2Error
from bayes_il2.evidence.load import Registry

_MEASUREMENT_VALUES = ("mean", "sd", "se", "median", "q1", "q3", "min", "max", "ci_low", "ci_high", "p_value")


class UnknownStudyError(BayesIL2Error, LookupError):
    """A study_id that the registry does not hold (the message suggests close ids)."""


def list_studies(registry: Registry) -> pd.DataFrame:
    """One row per study, sorted by disease then study_id.

    Returns
    -------
    DataFrame
        Columns ``disease, study_id, design, n, pool, duplicate_of, treg, events, efficacy``:
        ``n`` is ``n_total`` (nullable Int64, missing when not reported); ``treg``, ``events`` and
        ``efficacy`` count the rows that hold numbers: Treg measurements (outcome ``treg_*``, P-value-only rows included);
        adverse-event counts (events rows other than ``responder_*`` with ``events`` reported);
        efficacy numbers (``responder_*`` events rows with counts, other measurements, and
        contrasts with an estimate or p-value).
    """
    studies = registry.studies
    m = registry.measurements
    has_value = m[list(_MEASUREMENT_VALUES)].notna().any(axis=1)
    is_treg = m["outcome"].str.startswith("treg_").fillna(False).astype(bool)
    e = registry.events
    responder = e["outcome"].str.startswith("responder_").fillna(False).astype(bool)
    counted = e["events"].notna()
    c = registry.contrasts
    contrast_value = c["estimate"].notna() | c["p_value"].notna()
    counts = {
        "treg": m.loc[has_value & is_treg, "study_id"],
        "events": e.loc[counted & ~responder, "study_id"],
        "efficacy": pd.concat([e.loc[counted & responder, "study_id"], m.loc[has_value & ~is_treg, "study_id"],
                               c.loc[contrast_value, "study_id"]]),
    }
    table = pd.DataFrame({
        "disease": studies["disease"].to_numpy(), "study_id": studies["study_id"].to_numpy(),
        "design": studies["design"].to_numpy(), "n": studies["n_total"].to_numpy(),
        "pool": studies["pool"].to_numpy(), "duplicate_of": studies["duplicate_of"].to_numpy(),
    })
    table["n"] = table["n"].astype("Int64")
    for kind, ids in counts.items():
        table[kind] = table["study_id"].map(ids.value_counts()).fillna(0).astype("int64")
    return table.sort_values(["disease", "study_id"], kind="stable").reset_index(drop=True)


def show_study(registry: Registry, study_id: str) -> str:
    """Every registry row of one study (with its sources), as text.

    Each row is shown with its line in its file and every non-blank cell as ``column: value``
    (notes and locations in full: they are the provenance).

    Raises
    ------
    UnknownStudyError
        The registry holds no such study_id.
    """
    studies = registry.studies
    if study_id not in set(studies["study_id"]):
        close = difflib.get_close_matches(study_id, studies["study_id"].dropna().tolist(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownStudyError(f"no study {study_id!r} in {registry.path / 'studies.csv'}{hint}")
    parts = [f"study {study_id} (registry {registry.path}, version {registry.version[:12]})"]
    source_ids: set[str] = set()
    for name in ("studies", "arms", "measurements", "events", "contrasts"):
        frame = getattr(registry, name)
        rows = frame[frame["study_id"] == study_id]
        source_ids |= set(rows["source_id"].dropna())
        parts.append(_section(f"{name}.csv", rows))
    sources = registry.sources[registry.sources["source_id"].isin(source_ids)]
    parts.append(_section("sources.csv", sources))
    source = registry.path if (registry.path / "measurements.csv").exists() else registry  # text keeps the digits
    flags = [f for f in check_registry_consistency(source) if f.study_id == study_id]
    if flags:
        parts.append(f"consistency flags ({len(flags)}; bayes-il2 data check):\n"
                     + "\n".join(f"  - {f}" for f in flags))
    return "\n\n".join(parts)


def _section(title: str, rows: pd.DataFrame) -> str:
    """Each row as ``column: value`` lines (blank cells left out), so long notes stay whole."""
    if rows.empty:
        return f"{title}: no rows"
    blocks = [f"{title} ({len(rows)} row{'s' if len(rows) != 1 else ''})"]
    for line, row in rows.iterrows():
        cells = [f"    {column}: {_cell(value)}" for column, value in row.items() if not pd.isna(value)]
        blocks.append(f"  line {line}:\n" + "\n".join(cells))
    return "\n".join(blocks)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.15g}"  # every digit of the file, without a trailing ".0"
    return str(value)
