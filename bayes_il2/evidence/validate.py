"""Validation of the evidence registry: every broken rule is reported, not only the first.

Checks are vectorised over columns (a registry of thousands of rows validates in milliseconds);
a :class:`~bayes_il2.errors.Problem` is built only for the cells that break a rule. The rule ids are
listed in :mod:`bayes_il2.evidence.schema`.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_il2.errors import Problem
from bayes_il2.evidence import schema
from bayes_il2.evidence._csvio import LINE_INDEX, read_text_table
from bayes_il2.evidence.paths import default_data_dir
from bayes_il2.evidence.schema import TABLES, TableSpec

_OUTCOME_CHECK = {
    "measurements": (schema.is_measurement_outcome,
                     f"a Treg outcome must be one of {', '.join(schema.TREG_OUTCOMES)}; "
                     "other outcomes are lower-case snake_case names"),
    "events": (schema.is_event_outcome,
               f"allowed: {', '.join(schema.EVENT_OUTCOMES)} or responder_<endpoint>"),
    "contrasts": (schema.is_contrast_outcome, "an event outcome or a measurement outcome (snake_case)"),
}
_LARGEST_WHOLE = 2.0**53
_PERCENT_VALUE_COLUMNS = ("mean", "median", "q1", "q3", "min", "max", "ci_low", "ci_high")
# (left, right, rule): left <= right must hold where both are reported
_MEASUREMENT_ORDER = (
    ("q1", "median", "q1_le_median"), ("median", "q3", "median_le_q3"), ("q1", "q3", "q1_le_q3"),
    ("min", "q1", "min_le_q1"), ("q3", "max", "q3_le_max"), ("min", "median", "min_le_median"),
    ("median", "max", "median_le_max"), ("min", "mean", "min_le_mean"), ("mean", "max", "mean_le_max"),
    ("min", "max", "min_le_max"),
)


class _Collector:
    """Accumulates problems of one file."""

    def __init__(self, label: str, frame: pd.DataFrame):
        self.label = label
        self.frame = frame
        self.problems: list[Problem] = []

    def cells(self, mask: pd.Series | np.ndarray, column: str | None, rule: str, message, values=None) -> None:
        """One problem per True entry of ``mask``; ``message`` is a str or a function of (line, value)."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        lines = self.frame.index[mask]
        if values is None:
            values = self.frame[column] if column in self.frame.columns else pd.Series("", index=self.frame.index)
        shown = np.asarray(values, dtype=object)[mask]
        for line, value in zip(lines, shown):
            text = message(line, value) if callable(message) else message
            self.problems.append(Problem(self.label, int(line), column, None if value is None else str(value),
                                         rule, text))


def validate_table(df: pd.DataFrame, table_name: str, file_label: str | None = None, *,
                   allow_extra: bool = False) -> list[Problem]:
    """Check one table against the registry schema (everything but references to other tables).

    Usable on a user's own CSV tables read with pandas. Cells may be text or already typed.

    Parameters
    ----------
    df : DataFrame
        The table. If its index is named ``line`` it gives each row's line in the file; otherwise
        row ``i`` (0-based) is taken to be line ``i + 2`` (the header being line 1).
    table_name : str
        One of ``sources, studies, arms, measurements, events, contrasts, meta_analyses``.
    file_label : str, optional
        The file name reported in each problem (default ``<table_name>.csv``).
    allow_extra : bool
        Accept columns the schema does not know (default False: ``extra_column``).

    Returns
    -------
    list of Problem
        Empty when the table is valid. Rule ids: see :mod:`bayes_il2.evidence.schema`.

    Raises
    ------
    KeyError
        ``table_name`` is not a registry table.
    """
    if table_name not in TABLES:
        raise KeyError(f"unknown registry table {table_name!r}; tables: {', '.join(TABLES)}")
    return _check_table(_as_text(df), TABLES[table_name], file_label or f"{table_name}.csv", allow_extra)


def validate_registry(path: str | Path | None = None) -> list[Problem]:
    """Validate a registry directory: every file, table and cross-table reference.

    Parameters
    ----------
    path : str or Path, optional
        The directory holding the CSV files (default: :func:`bayes_il2.evidence.default_data_dir`).

    Returns
    -------
    list of Problem
        Every problem found, in table order (sources, studies, arms, measurements, events,
        contrasts, meta_analyses) then line order; empty when the registry is valid.
    """
    problems, _ = check_registry(Path(path) if path is not None else default_data_dir())
    return problems


def check_registry(directory: Path) -> tuple[list[Problem], dict[str, pd.DataFrame]]:
    """Problems of the registry in ``directory`` and its tables as text frames (for the loader)."""
    if not directory.exists():
        return [Problem(str(directory), None, None, None, "missing_file", "the registry directory does not exist")], {}
    if not directory.is_dir():
        return [Problem(str(directory), None, None, None, "unreadable_file",
                        "the registry path is a file; give the directory holding the CSV files")], {}
    problems: list[Problem] = []
    frames: dict[str, pd.DataFrame] = {}
    for name, spec in TABLES.items():
        path = directory / spec.file
        if spec.optional and not path.exists():
            continue
        frame, file_problems = read_text_table(path)
        problems += file_problems
        if frame is not None:
            problems += _check_table(frame, spec, str(path), allow_extra=False)
            frames[name] = frame
    problems += _check_references(frames, {name: str(directory / spec.file) for name, spec in TABLES.items()})
    return _sorted(problems, directory), frames


def _sorted(problems: list[Problem], directory: Path) -> list[Problem]:
    order = {str(directory / spec.file): i for i, spec in enumerate(TABLES.values())}
    return sorted(problems, key=lambda p: (order.get(p.file, -1), p.line or 0))


def _as_text(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with every cell as stripped text ('' for missing) and the index as line numbers."""
    out = pd.DataFrame(index=df.index if df.index.name == LINE_INDEX
                       else pd.Index(np.arange(len(df), dtype="int64") + 2, name=LINE_INDEX))
    for column in df.columns:
        values = df[column].to_numpy(dtype=object)
        out[str(column)] = ["" if _missing(v) else str(v).strip() for v in values]
    return out


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


# --------------------------------------------------------------------------- one table
def _check_table(text: pd.DataFrame, spec: TableSpec, label: str, allow_extra: bool) -> list[Problem]:
    c = _Collector(label, text)
    for name in spec.column_names:
        if name not in text.columns:
            c.problems.append(Problem(label, 1, name, None, "missing_column",
                                      f"the header lacks column {name!r} (required by the {spec.name} schema)"))
    if not allow_extra:
        known = set(spec.column_names)
        for name in text.columns:
            if name not in known:
                c.problems.append(Problem(label, 1, name, name, "extra_column",
                                          f"column {name!r} is not in the {spec.name} schema; "
                                          f"columns: {', '.join(spec.column_names)}"))
    if spec.requires_rows and text.empty:
        c.problems.append(Problem(label, None, None, None, "no_rows",
                                  f"{spec.file} has a header but no rows; the registry needs at least one"))
    numbers: dict[str, pd.Series] = {}
    for column in spec.columns:
        if column.name in text.columns:
            numbers_of = _check_column(c, text[column.name], column, spec)
            if numbers_of is not None:
                numbers[column.name] = numbers_of
    _check_outcome(c, text, spec)
    _check_duplicates(c, text, spec)
    rows = _ROW_RULES.get(spec.name)
    if rows is not None:
        rows(c, text, numbers)
    return c.problems


def _check_column(c: _Collector, cells: pd.Series, column: schema.ColumnSpec, spec: TableSpec) -> pd.Series | None:
    name = column.name
    blank = (cells == "").to_numpy()
    if spec.provenance and name in ("source_id", "location", "method"):
        c.cells(blank, name, "missing_provenance",
                f"every value row needs {name} (source_id, location and method say where the value was read)")
    elif column.required:
        c.cells(blank, name, "missing_value", f"{name} is required")
    present = ~blank
    if spec.provenance and name == "method":
        bad = present & ~cells.str.fullmatch(schema.METHOD_PATTERN.pattern).to_numpy(dtype=bool)
        c.cells(bad, name, "bad_method", "method must be 'reported', 'figure' or 'derived:<formula>'")
    if column.kind == "id":
        bad = present & ~cells.str.fullmatch(schema.ID_PATTERN.pattern).to_numpy(dtype=bool)
        c.cells(bad, name, "bad_id", "ids may hold only letters, digits, '_', '.' and '-'")
    if column.vocabulary is not None:
        bad = present & ~cells.isin(column.vocabulary).to_numpy()
        c.cells(bad, name, f"unknown_{name}", f"allowed values: {', '.join(column.vocabulary)}")
    if not column.numeric:
        return None
    values = pd.to_numeric(cells.where(present, None), errors="coerce").astype("float64")
    finite = np.isfinite(values.to_numpy())
    whole = column.kind in ("count", "int")
    if whole:  # beyond 2**53 a float no longer holds every whole number (and Int64 overflows)
        with np.errstate(invalid="ignore"):
            finite &= ~(np.abs(values.to_numpy()) >= _LARGEST_WHOLE)
    kind = f"a whole number below {_LARGEST_WHOLE:.0e}" if whole else "a finite number"
    c.cells(present & ~finite, name, "bad_type", f"{name} must be {kind} (leave the cell blank if not reported)")
    if column.kind in ("count", "int"):
        fractional = finite & (np.floor(np.where(finite, values, 0)) != np.where(finite, values, 0))
        rule = "non_integer_count" if column.kind == "count" else "bad_type"
        c.cells(fractional, name, rule, f"{name} must be a whole number")
    v = values.to_numpy()
    if column.minimum is not None:
        below = finite & (v < column.minimum)
        c.cells(below, name, column.min_rule, f"{name} must be {'>' if column.strict_minimum else '>='} "
                                              f"{column.minimum:g}")
        if column.strict_minimum:
            c.cells(finite & (v == column.minimum), name, column.zero_rule or column.min_rule,
                    f"{name} must be > {column.minimum:g}")
    if column.maximum is not None:
        above = finite & ((v >= column.maximum) if column.strict_maximum else (v > column.maximum))
        c.cells(above, name, column.max_rule, f"{name} must be {'<' if column.strict_maximum else '<='} "
                                              f"{column.maximum:g}")
    return values.where(finite)


def _check_outcome(c: _Collector, text: pd.DataFrame, spec: TableSpec) -> None:
    if spec.name not in _OUTCOME_CHECK or "outcome" not in text.columns:
        return
    accept, allowed = _OUTCOME_CHECK[spec.name]
    cells = text["outcome"]
    verdict = {value: accept(value) for value in cells.unique() if value != ""}
    bad = cells.map(lambda v: v != "" and not verdict[v]).to_numpy(dtype=bool)
    c.cells(bad, "outcome", "unknown_outcome", f"unknown {spec.name} outcome; {allowed}")


def _key_values(text: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """The key columns as compared: numbers by value ("0.0" and "0" are the same week; compared as
    text they let a conflicting duplicate through, and the later row silently changed or dropped an
    outcome), everything else as stripped text."""
    out = {}
    for name in spec.key:
        cells = text[name].astype(str).str.strip()
        if spec.column(name).kind in ("float", "count", "int"):
            numbers = pd.to_numeric(cells, errors="coerce")
            cells = cells.where(numbers.isna(), numbers.map(repr))
        out[name] = cells
    return pd.DataFrame(out, index=text.index)


def _check_duplicates(c: _Collector, text: pd.DataFrame, spec: TableSpec) -> None:
    if any(k not in text.columns for k in spec.key) or text.empty:
        return
    keys = _key_values(text, spec)
    later = keys.duplicated(keep="first").to_numpy()
    if not later.any():
        return
    first_line = pd.Series(text.index, index=text.index).groupby([keys[k] for k in spec.key]).transform("first")
    shown = text[list(spec.key)].astype(str).agg(", ".join, axis=1)  # as written
    column = "+".join(spec.key)
    c.cells(later, column, "duplicate_key",
            lambda line, value: f"same ({column}) as line {first_line.loc[line]}", values=shown)


# --------------------------------------------------------------------------- row rules per table
def _num(numbers: dict[str, pd.Series], name: str, index: pd.Index) -> np.ndarray:
    series = numbers.get(name)
    return np.full(len(index), np.nan) if series is None else series.to_numpy()


def _order(c: _Collector, numbers, left: str, right: str, rule: str, message: str | None = None,
           column: str | None = None) -> None:
    """``left <= right`` where both are reported; the problem names ``column`` (default ``left``)."""
    a, b = _num(numbers, left, c.frame.index), _num(numbers, right, c.frame.index)
    with np.errstate(invalid="ignore"):
        broken = a > b
    c.cells(broken, column or left, rule, message or f"{left} must be <= {right}",
            values=[f"{x:g} > {y:g}" if bad else "" for x, y, bad in zip(a, b, broken)])


def _studies_rows(c: _Collector, text: pd.DataFrame, numbers) -> None:
    if "duplicate_of" not in text.columns or "study_id" not in text.columns:
        return
    dup = text["duplicate_of"]
    given = (dup != "").to_numpy()
    known = set(text["study_id"])
    dangling = given & (~dup.isin(known) | (dup == text["study_id"])).to_numpy()
    c.cells(dangling, "duplicate_of", "dangling_duplicate_of",
            "duplicate_of must name another study_id of studies.csv (the primary report)")
    if "pool" in text.columns:
        c.cells(given & (text["pool"] == "yes").to_numpy(), "pool", "duplicate_pooled",
                "a study with duplicate_of set is a duplicate cohort: pool must be 'no'")
    _pool_rules(c, text, known)


def _pool_rules(c: _Collector, text: pd.DataFrame, known: set[str]) -> None:
    """Case reports/series and preclinical studies are not pooled; overlap_with names other studies."""
    if {"design", "pool"} <= set(text.columns):
        pooled = (text["pool"] == "yes").to_numpy()
        override = (text["pool_override_reason"] != "").to_numpy() if "pool_override_reason" in text.columns \
            else np.zeros(len(text), dtype=bool)
        c.cells(pooled & text["design"].isin(schema.CASE_DESIGNS).to_numpy() & ~override, "pool", "case_pooled",
                "a case report or case series is not pooled: set pool = 'no', or say in pool_override_reason "
                "why this one may be")
        c.cells(pooled & text["design"].isin(schema.PRECLINICAL_DESIGNS).to_numpy(), "pool", "preclinical_pooled",
                "a preclinical (animal) study is never pooled with human data: pool must be 'no'")
    if "overlap_with" in text.columns:
        def bad_ids(cell: str, own: str) -> list[str]:
            ids = [i.strip() for i in cell.split(";") if i.strip()]
            return [i for i in ids if i not in known or i == own]

        wrong = [bad_ids(cell, own) if cell else [] for cell, own in zip(text["overlap_with"], text["study_id"])]
        c.cells(np.array([bool(w) for w in wrong], dtype=bool), "overlap_with", "dangling_overlap_with",
                lambda line, value: "overlap_with lists other study_ids of studies.csv, ';'-separated; "
                                    f"not one: {', '.join(wrong[list(text.index).index(line)])}")


def _arms_rows(c: _Collector, text, numbers) -> None:
    _order(c, numbers, "n_analysed", "n_randomized", "analysed_le_randomized")


def _events_rows(c: _Collector, text, numbers) -> None:
    _order(c, numbers, "events", "n", "events_le_n", "events (patients with at least one event) must be <= n")
    _order(c, numbers, "events", "episodes", "episodes_ge_events",
           "episodes must be >= events (each patient with an event has at least one episode)", column="episodes")
    _order(c, numbers, "week_start", "week_end", "week_order")


def _measurements_rows(c: _Collector, text: pd.DataFrame, numbers) -> None:
    index = text.index
    for left, right, rule in _MEASUREMENT_ORDER:
        _order(c, numbers, left, right, rule)
    center = _num(numbers, "mean", index)
    center = np.where(np.isnan(center), _num(numbers, "median", index), center)
    _ci(c, numbers, center, "mean (or median)")
    if {"p_value", "timepoint"} <= set(text.columns):
        c.cells(((text["p_value"] != "") & ~text["timepoint"].isin(schema.P_VALUE_TIMEPOINTS)).to_numpy(),
                "p_value", "p_value_timepoint",
                "a within-arm P value compares with baseline: put it on the post, change or fold row")
    if "statistic" in text.columns:
        statistic = text["statistic"]
        for name, needed in schema.STATISTIC_COLUMNS.items():
            rows = (statistic == name).to_numpy()
            if not rows.any():
                continue
            for column in needed:
                if column in text.columns:
                    c.cells(rows & (text[column] == "").to_numpy(), column, "incomplete_statistic",
                            f"statistic {name} needs {', '.join(needed)}; {column} is blank")
    n = _num(numbers, "n", index)
    for column in ("sd", "q1", "min"):  # a spread of one value: n = 1 made its variance 35 times larger
        spread = _num(numbers, column, index)
        c.cells((n == 1) & np.isfinite(spread), "n", "spread_of_one",
                f"n = 1 with {column} given: one value has no spread (check n)")
    if {"week", "note"} <= set(text.columns):
        c.cells(((text["week"] == "") & (text["note"] == "")).to_numpy(), "week", "unexplained_blank_week",
                "week is blank: say in note when the values were taken (e.g. 'post-course, week not given')")
    _p_values(c, text)
    _qualitative(c, text)
    if {"unit", "outcome", "timepoint"} <= set(text.columns):
        percent = ((text["unit"] == "%") | text["outcome"].str.contains("_pct", regex=False)).to_numpy()
        level = text["timepoint"].isin(("baseline", "post")).to_numpy()
        for column in _PERCENT_VALUE_COLUMNS:
            v = _num(numbers, column, index)
            with np.errstate(invalid="ignore"):
                out = percent & level & ((v < 0) | (v > 100))
            c.cells(out, column, "percent_range", "a percentage must lie in [0, 100]")


def _p_values(c: _Collector, text: pd.DataFrame) -> None:
    """A P value needs its operator and vice versa; a one-sided P value needs its direction."""
    if {"p_operator", "p_value"} <= set(text.columns):
        c.cells(((text["p_operator"] != "") & (text["p_value"] == "")).to_numpy(), "p_operator",
                "p_operator_without_p_value", "p_operator qualifies p_value, which is blank")
        c.cells(((text["p_value"] != "") & (text["p_operator"] == "")).to_numpy(), "p_operator",
                "p_value_without_operator", "p_value needs p_operator ('=', '<' or '>') as printed")
    if {"sided", "direction"} <= set(text.columns):
        c.cells(((text["sided"] == "1") & (text["direction"] == "")).to_numpy(), "direction",
                "bound_without_direction", "a one-sided P value needs the direction it tests (increase or decrease)")


def _qualitative(c: _Collector, text: pd.DataFrame) -> None:
    if not {"statistic", "qualifier"} <= set(text.columns):
        return
    qualitative = (text["statistic"] == "qualitative").to_numpy()
    qualified = text["qualifier"].isin(schema.QUALITATIVE_QUALIFIERS).to_numpy()
    c.cells(qualitative ^ qualified, "qualifier", "qualitative_mismatch",
            f"statistic 'qualitative' goes with qualifier {' or '.join(schema.QUALITATIVE_QUALIFIERS)} "
            "(the quoted wording in note), and those qualifiers with that statistic only")
    if "direction" in text.columns:
        c.cells(qualified & (text["direction"] == "").to_numpy(), "direction", "bound_without_direction",
                "a qualitative statement of a change needs its direction (increase or decrease)")


def _ci(c: _Collector, numbers, estimate: np.ndarray, what: str) -> None:
    index = c.frame.index
    low, high = _num(numbers, "ci_low", index), _num(numbers, "ci_high", index)
    with np.errstate(invalid="ignore"):
        low_bad = (low > estimate) | (low > high)
        high_bad = ~low_bad & (estimate > high)
    c.cells(low_bad, "ci_low", "ci_order", f"ci_low must be <= {what} <= ci_high")
    c.cells(high_bad, "ci_high", "ci_order", f"ci_low must be <= {what} <= ci_high")


def _contrasts_rows(c: _Collector, text: pd.DataFrame, numbers) -> None:
    index = text.index
    _ci(c, numbers, _num(numbers, "estimate", index), "estimate")
    if "measure" in text.columns:
        ratio = text["measure"].isin(schema.RATIO_MEASURES).to_numpy()
        for column in ("estimate", "ci_low", "ci_high"):
            with np.errstate(invalid="ignore"):
                bad = ratio & (_num(numbers, column, index) <= 0)
            c.cells(bad, column, "ratio_positive", "a ratio (OR, RR, HR, RRR) must be > 0")
    _p_values(c, text)
    if {"arm_a", "arm_b"} <= set(text.columns):
        c.cells(((text["arm_a"] == text["arm_b"]) & (text["arm_a"] != "")).to_numpy(), "arm_b", "same_arm",
                "arm_a and arm_b must differ")


def _meta_rows(c: _Collector, text: pd.DataFrame, numbers) -> None:
    _ci(c, numbers, _num(numbers, "estimate", text.index), "estimate")
    if "use_as_evidence" not in text.columns:
        return
    evidence = (text["use_as_evidence"] == "yes").to_numpy()
    if "members" in text.columns:
        c.cells(evidence & (text["members"] == "").to_numpy(), "members", "aggregate_members_unknown",
                "a pooled estimate used as evidence must list its member study_ids (';'-separated) or say "
                f"'{schema.UNKNOWN_MEMBERS}' (and name in may_overlap what it may double count)")
        if "may_overlap" in text.columns:
            c.cells(((text["members"] == schema.UNKNOWN_MEMBERS) & (text["may_overlap"] == "")).to_numpy(),
                    "may_overlap", "unknown_members_without_overlap",
                    "members are unknown: list in may_overlap the registry study_ids the estimate may contain "
                    "(';'-separated), so that the overlap ledger can keep them from counting twice")
    for column in ("estimate", "ci_low", "ci_high", "scale", "disease", "registry_outcome"):
        if column in text.columns:
            c.cells(evidence & (text[column] == "").to_numpy(), column, "incomplete_aggregate",
                    f"use_as_evidence = yes needs {column}")
    if "registry_outcome" in text.columns:
        bad = (text["registry_outcome"] != "") & ~text["registry_outcome"].map(schema.is_measurement_outcome)
        c.cells(bad.to_numpy(dtype=bool), "registry_outcome", "unknown_outcome",
                "registry_outcome must be a measurement outcome of the registry (e.g. treg_pct)")


_ROW_RULES = {"studies": _studies_rows, "arms": _arms_rows, "events": _events_rows,
              "measurements": _measurements_rows, "contrasts": _contrasts_rows, "meta_analyses": _meta_rows}


# --------------------------------------------------------------------------- references
def _check_references(frames: dict[str, pd.DataFrame], labels: dict[str, str]) -> list[Problem]:
    problems: list[Problem] = []
    sources = _values(frames.get("sources"), "source_id")
    studies = _values(frames.get("studies"), "study_id")
    arms_frame = frames.get("arms")
    arms = (set(zip(arms_frame["study_id"], arms_frame["arm_id"]))
            if arms_frame is not None and {"study_id", "arm_id"} <= set(arms_frame.columns) else None)
    for name in ("studies", "arms", "measurements", "events", "contrasts", "meta_analyses"):
        frame = frames.get(name)
        if frame is None:
            continue
        c = _Collector(labels[name], frame)
        if sources is not None and "source_id" in frame.columns:
            ids = frame["source_id"]
            c.cells(((ids != "") & ~ids.isin(sources)).to_numpy(), "source_id", "dangling_source",
                    "no such source_id in sources.csv")
        if name in ("arms", "measurements", "events", "contrasts") and studies is not None \
                and "study_id" in frame.columns:
            study_ok = frame["study_id"].isin(studies)
            c.cells(((frame["study_id"] != "") & ~study_ok).to_numpy(), "study_id", "dangling_study",
                    "no such study_id in studies.csv")
            if arms is not None:
                arm_columns = ("arm_id",) if name != "contrasts" else ("arm_a", "arm_b")
                for column in arm_columns:
                    if column in frame.columns:
                        pairs = list(zip(frame["study_id"], frame[column]))
                        missing = np.array([p not in arms for p in pairs], dtype=bool)
                        bad = missing & study_ok.to_numpy() & (frame[column] != "").to_numpy()
                        c.cells(bad, column, "dangling_arm", _dangling_arm_message)
        if name == "meta_analyses" and studies is not None:
            for column in ("members", "may_overlap"):
                if column in frame.columns:
                    c.cells(frame[column].map(lambda v: _unknown_ids(v, studies)).to_numpy(dtype=bool), column,
                            "dangling_member", lambda line, value: f"{value!r}: every ';'-separated id must be a "
                            "study_id of studies.csv" + ("" if column == "may_overlap" else
                                                          f" (or the word '{schema.UNKNOWN_MEMBERS}')"))
        problems += c.problems
    return problems


def member_ids(cell: str) -> list[str]:
    """The study_ids of a ``members`` / ``may_overlap`` cell ('' and ``unknown`` give none)."""
    if not cell or cell == schema.UNKNOWN_MEMBERS:
        return []
    return [part.strip() for part in cell.split(";") if part.strip()]


def _unknown_ids(cell: str, studies: set[str]) -> bool:
    return any(sid not in studies for sid in member_ids(cell))


def _dangling_arm_message(line: int, value: str) -> str:
    hint = " (list the pseudo-arm 'all' there too)" if value == "all" else ""
    return f"arm {value!r} of this study is not in arms.csv{hint}"


def _values(frame: pd.DataFrame | None, column: str) -> set[str] | None:
    if frame is None or column not in frame.columns:
        return None
    return set(frame[column])


def rule_ids(problems: Iterable[Problem]) -> list[str]:
    """The rule of each problem, in order (a convenience for scripts and tests)."""
    return [p.rule for p in problems]
