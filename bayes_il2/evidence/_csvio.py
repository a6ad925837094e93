"""Read one registry CSV into a frame of text cells indexed by the file's line number.

File-level problems (empty file, bytes that are not UTF-8, ragged rows, unparseable CSV) are
returned, not raised, so that the validator can report them together with every other problem.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from bayes_il2.errors import Problem

LINE_INDEX = "line"


def read_text_table(path: Path, label: str | None = None) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Read ``path`` as UTF-8 CSV; every cell is a stripped ``str`` ('' = blank).

    Returns
    -------
    (frame, problems)
        ``frame`` is indexed by the 1-based line on which each record starts (the header is line 1;
        a quoted cell may span lines) and is ``None`` when the file is missing, empty or has no
        header. Rows with the wrong number of fields are reported (``ragged_row``) and dropped.
    """
    label = str(path) if label is None else label
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, [Problem(label, None, None, None, "missing_file", "file not found")]
    except OSError as exc:  # a directory of that name, no permission, ...
        return None, [Problem(label, None, None, None, "unreadable_file",
                              f"cannot read the file: {exc.strerror or exc}")]
    return parse_csv_bytes(raw, label)


def parse_csv_bytes(raw: bytes, label: str) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Parse CSV bytes; see :func:`read_text_table`.

    Lines that hold nothing but blanks and commas (as spreadsheet programs append) are skipped.
    """
    if raw.startswith(b"\xef\xbb\xbf"):  # a byte-order mark, as spreadsheet programs write it
        raw = raw[3:]
    if not raw.strip():
        return None, [Problem(label, None, None, None, "empty_file", "the file is empty (it needs at least a header)")]
    problems = _non_utf8_lines(raw, label)
    text = raw.decode("utf-8", errors="replace")
    # Python's csv module stops at fields over 128 KiB ("field larger than field limit"): a long note
    # is valid, so the limit is the file's size (the reader keeps a module-wide setting; raise only)
    if csv.field_size_limit() < len(text):
        csv.field_size_limit(min(len(text) + 1, 2**31 - 1))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[list[str]] = []
    lines: list[int] = []
    header: list[str] | None = None
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(label, start, None, None, "malformed_csv", f"cannot parse the CSV here: {exc}"))
            break
        if not any(cell.strip() for cell in row):  # a blank line
            continue
        if header is None:
            header = [cell.strip() for cell in row]
            continue
        if len(row) != len(header):
            problems.append(Problem(label, start, None, str(len(row)), "ragged_row",
                                    f"{len(row)} fields where the header has {len(header)}"))
            continue
        records.append([cell.strip() for cell in row])
        lines.append(start)
    if header is None:
        if not problems:
            problems.append(Problem(label, None, None, None, "empty_file",
                                    "the file holds no header (only blank lines or empty cells)"))
        return None, problems
    first: dict[str, int] = {}
    for position, name in enumerate(header):
        if name in first:
            problems.append(Problem(label, 1, name, name, "duplicate_column",
                                    f"column {name!r} appears twice in the header (the first one is used)"))
        else:
            first[name] = position
    positions = list(first.values())
    frame = pd.DataFrame([[r[i] for i in positions] for r in records], columns=list(first),
                         index=pd.Index(lines, name=LINE_INDEX, dtype="int64"), dtype=str)
    return frame, problems


def _non_utf8_lines(raw: bytes, label: str) -> list[Problem]:
    problems = []
    for number, chunk in enumerate(raw.split(b"\n"), start=1):
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = chunk[exc.start:exc.end]
            problems.append(Problem(label, number, None, repr(bad), "non_utf8",
                                    f"bytes {bad!r} at byte {exc.start + 1} of the line are not UTF-8 "
                                    "(save the file as UTF-8)"))
    return problems
