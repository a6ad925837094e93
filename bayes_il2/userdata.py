"""A user's own data for ``bayes-il2 fit``: effect tables (yi, vi or se) and event counts.

Every problem is reported at once as a :class:`~bayes_il2.errors.RegistryError` whose problems name
the file, line, column, value and rule, like the registry validator. What the reader infers from
the file (the delimiter, vi or se, the grouping) is listed in ``table.attrs["inferences"]``, one
sentence each, so the command can print it and record it in run.json.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_il2.errors import Problem, RegistryError
from bayes_il2.limits import effect_problem

EFFECT_OPTIONAL = ("label", "group", "disease", "design", "n", "year")
COUNT_CONTRAST = ("events_t", "n_t", "events_c", "n_c")
COUNT_SINGLE = ("events", "n")
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
#: vi and se given together must agree to this relative tolerance (rounding of printed values).
VI_SE_TOLERANCE = 0.05


def _fail(path: Path, rule: str, message: str, line: int | None = None, column: str | None = None,
          value: str | None = None) -> RegistryError:
    return RegistryError([Problem(str(path), line, column, value, rule, message)])


def _read(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """The CSV as text cells, and what was inferred about its format."""
    if path.is_dir():
        raise _fail(path, "not_a_file", "is a folder; give the CSV file itself")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _fail(path, "missing_file", "file not found") from None
    except OSError as exc:
        raise _fail(path, "unreadable_file", f"cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _fail(path, "non_utf8", f"bytes at offset {exc.start} are not UTF-8", line=line) from None
    if not text.strip():
        raise _fail(path, "empty_file", "the file is empty")
    if "\x00" in text:
        raise _fail(path, "malformed_csv", "the file holds NUL bytes; it is not a text CSV")
    lines = text.splitlines(keepends=True)
    comments = 0
    while comments < len(lines) and (lines[comments].startswith("#") or not lines[comments].strip()):
        comments += 1
    if comments == len(lines):
        raise _fail(path, "empty_file", "the file holds only comment lines")
    text = "".join(lines[comments:])
    header = lines[comments]
    counts = {d: header.count(d) for d in DELIMITERS}
    delimiter = max(counts, key=lambda d: (counts[d], d == ","))
    inferences = [f"skipped {comments} leading comment/blank line(s) of {path.name}"] if comments else []
    if delimiter != "," and counts[delimiter] > 0:
        inferences.append(f"delimiter: {DELIMITERS[delimiter]} (detected from the header line of {path.name})")
    sep = delimiter if counts[delimiter] > 0 else ","
    _check_field_counts(text, sep, path, first_line=comments + 1)
    try:
        # index_col=False: a row with one field more than the header must not turn the first column
        # into the index (pandas' default), which would shift every value one column to the left
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True,
                         sep=sep, index_col=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise _fail(path, "malformed_csv", str(exc).strip()) from None
    df.columns = [str(c).strip() for c in df.columns]
    if df.columns.duplicated().any():
        dup = sorted(set(df.columns[df.columns.duplicated()]))
        raise _fail(path, "duplicate_column", f"column(s) {', '.join(dup)} appear more than once", line=1,
                    column=dup[0])
    if len(df) == 0:
        raise _fail(path, "no_rows", "the file has a header but no data rows")
    return df, inferences


def _check_field_counts(text: str, sep: str, path: Path, *, first_line: int) -> None:
    """Refuse a row with more fields than the header (``first_line``: the file line of the header)."""
    import csv

    reader = csv.reader(io.StringIO(text), delimiter=sep, skipinitialspace=True)
    try:
        header = next(reader)
        for row in reader:
            if len(row) > len(header):
                line = first_line + reader.line_num - 1
                raise _fail(path, "malformed_csv", f"line {line} has {len(row)} fields, the header "
                            f"{len(header)}", line=line)
    except csv.Error as exc:
        raise _fail(path, "malformed_csv", str(exc)) from None


def _numeric(df: pd.DataFrame, column: str, path: Path, problems: list[Problem], *, integer: bool = False,
             positive: bool = False, non_negative: bool = False) -> pd.Series:
    values = pd.to_numeric(df[column].replace("", np.nan), errors="coerce")
    for i, (text, value) in enumerate(zip(df[column], values)):
        line = i + 2
        if text == "":
            problems.append(Problem(str(path), line, column, text, "missing_value", "a value is required"))
        elif np.isnan(value):
            problems.append(Problem(str(path), line, column, text, "bad_type", "expected a number"))
        elif not np.isfinite(value):
            problems.append(Problem(str(path), line, column, text, "not_finite", "must be a finite number"))
        elif integer and value != int(value):
            problems.append(Problem(str(path), line, column, text, "non_integer_count", "expected a whole number"))
        elif integer and value > 1e9:
            problems.append(Problem(str(path), line, column, text, "out_of_range", "counts above 1e9 are not supported"))
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


def _missing_column_hint(df: pd.DataFrame) -> str:
    if len(df.columns) == 1 and any(d in df.columns[0] for d in "|:"):
        return f" (the header was read as one column {df.columns[0]!r}: is the file delimited by something " \
               "other than comma, semicolon or tab?)"
    return f"; the file has columns {', '.join(df.columns)}"


def read_effects_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV with ``yi`` and ``vi`` (or ``se``) per study into an effect table.

    Optional columns: study_id/study/label, group or disease (for three-level models), design,
    n, year, and any numeric covariates (kept as they are). Comma-, semicolon- and tab-delimited
    files are read (the delimiter is detected from the header). With both ``vi`` and ``se``, they
    must agree (vi = se^2 within 5%, the rounding of printed values) and ``vi`` is used.
    ``table.attrs["inferences"]`` lists what was inferred, one sentence each.
    """
    path = Path(path)
    df, inferences = _read(path)
    problems: list[Problem] = []
    if "yi" not in df.columns:
        problems.append(Problem(str(path), 1, "yi", None, "missing_column",
                                "column 'yi' (the effect) is required" + _missing_column_hint(df)))
    if "vi" not in df.columns and "se" not in df.columns:
        problems.append(Problem(str(path), 1, "vi", None, "missing_column",
                                "column 'vi' (sampling variance) or 'se' (standard error) is required"))
    if problems:
        raise RegistryError(problems)
    out = pd.DataFrame({"study_id": _study_ids(df, path, problems).astype(str)})
    out["yi"] = _numeric(df, "yi", path, problems)
    if "vi" in df.columns:
        out["vi"] = _numeric(df, "vi", path, problems, positive=True)
    if "se" in df.columns:
        se = _numeric(df, "se", path, problems, positive=True)
        if "vi" in df.columns:
            both = np.isfinite(out["vi"]) & np.isfinite(se)
            off = both & ~np.isclose(out["vi"], se ** 2, rtol=VI_SE_TOLERANCE, atol=0.0)
            for i in np.flatnonzero(off.to_numpy()):
                problems.append(Problem(str(path), int(i) + 2, "se", df["se"].iloc[i], "vi_se_conflict",
                                        f"vi ({df['vi'].iloc[i]}) and se^2 ({se.iloc[i] ** 2:.6g}) disagree; "
                                        "keep one of the two columns"))
            inferences.append("sampling variance: column vi used (se is also given and agrees with it)")
        else:
            out["vi"] = se ** 2
            inferences.append("sampling variance: vi = se^2 from column se")
    for i, (yi, vi) in enumerate(zip(out["yi"], out["vi"])):
        if np.isfinite(yi) and np.isfinite(vi) and vi > 0:
            why = effect_problem(float(yi), float(vi))
            if why:
                column = "yi" if why.lstrip("|").startswith("yi") else "vi"  # "|yi| = ..." names yi too
                problems.append(Problem(str(path), i + 2, column,
                                        str(df["yi"].iloc[i] if column == "yi" else out["vi"].iloc[i]),
                                        "out_of_range", why))
    if problems:
        raise RegistryError(problems)
    out["label"] = df["label"] if "label" in df.columns else out["study_id"]
    group_column = "group" if "group" in df.columns else "disease" if "disease" in df.columns else None
    out["disease"] = df[group_column] if group_column else "all"
    if group_column:
        inferences.append(f"grouping: column {group_column!r} ({out['disease'].nunique()} groups)")
    out["design"] = df["design"] if "design" in df.columns else ""
    for column in df.columns:
        if column not in out.columns and column not in ("vi", "se", "study", "group"):
            converted = pd.to_numeric(df[column], errors="coerce").astype(float)
            out[column] = converted if converted.notna().all() else df[column]
    out.attrs["inferences"] = inferences
    return out


def read_counts_csv(path: str | Path) -> pd.DataFrame:
    """Read event counts: two-arm (events_t, n_t, events_c, n_c) or single-arm (events, n).

    ``table.attrs["inferences"]`` says which layout was read.
    """
    path = Path(path)
    df, inferences = _read(path)
    problems: list[Problem] = []
    two_arm = set(COUNT_CONTRAST) <= set(df.columns)
    columns = COUNT_CONTRAST if two_arm else COUNT_SINGLE
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise RegistryError([Problem(str(path), 1, c, None, "missing_column",
                                     "two-arm counts need events_t, n_t, events_c, n_c; single-arm counts need "
                                     "events, n" + _missing_column_hint(df))
                             for c in missing])
    out = pd.DataFrame({"study_id": _study_ids(df, path, problems).astype(str)})
    for c in columns:
        out[c] = _numeric(df, c, path, problems, integer=True, non_negative=not c.startswith("n"),
                          positive=c.startswith("n"))
    for events, n in (("events_t", "n_t"), ("events_c", "n_c"), ("events", "n")):
        if events in out and n in out:
            for i in np.flatnonzero((out[events] > out[n]).to_numpy()):
                problems.append(Problem(str(path), int(i) + 2, events, str(df[events].iloc[i]), "events_le_n",
                                        f"{events} ({df[events].iloc[i]}) exceeds {n} ({df[n].iloc[i]})"))
    if two_arm and not problems and (out["events_t"] + out["events_c"]).sum() == 0:
        problems.append(Problem(str(path), None, "events_t", "0", "no_events",
                                "no arm of any study has an event: the odds ratio is not identified by these data"))
    if two_arm and not problems and (out["n_t"] - out["events_t"] + out["n_c"] - out["events_c"]).sum() == 0:
        problems.append(Problem(str(path), None, "events_t", "n_t", "all_events",
                                "every patient of every arm has an event: the odds ratio is not identified by "
                                "these data (the mirror of no events)"))
    if problems:
        raise RegistryError(problems)
    inferences.append("layout: two arms per study (events_t, n_t, events_c, n_c)" if two_arm
                      else "layout: one arm per study (events, n)")
    group_column = "disease" if "disease" in df.columns else "group" if "group" in df.columns else None
    out["disease"] = df[group_column] if group_column else "all"
    out["design"] = df["design"] if "design" in df.columns else ""
    out["label"] = df["label"] if "label" in df.columns else out["study_id"]
    out.attrs["inferences"] = inferences
    return out
