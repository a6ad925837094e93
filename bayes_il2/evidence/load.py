"""Load the evidence registry into typed DataFrames, after validating all of it."""
from __future__ import annotations

import hashlib

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_il2.errors import RegistryError
from bayes_il2.evidence._csvio import LINE_INDEX
from bayes_il2.evidence.paths import DATA_ENV, default_data_dir  # noqa: F401 (re-exported)
from bayes_il2.evidence.schema import TABLES, TableSpec
from bayes_il2.evidence.validate import check_registry

@dataclass(frozen=True, eq=False)
class Registry:
    """The evidence registry: one typed DataFrame per table.

    Every frame is indexed by ``line``, the row's line in its CSV file (header = line 1), so a
    value can always be traced back to its cell. Ids and text are ``str`` columns, numbers
    ``float64``, counts (and ``year``) nullable ``Int64``; a blank cell is missing (``isna()``).
    ``meta_analyses`` is an empty frame with the schema's columns when its file is absent.

    Attributes
    ----------
    sources, studies, arms, measurements, events, contrasts, meta_analyses : DataFrame
    path : Path
        The directory read.
    version : str
        SHA-256 (hex) over the table files, in file-name order: for each file its name, a NUL
        byte, its bytes and a NUL byte. Any edit of any file changes it.
    """

    sources: pd.DataFrame
    studies: pd.DataFrame
    arms: pd.DataFrame
    measurements: pd.DataFrame
    events: pd.DataFrame
    contrasts: pd.DataFrame
    meta_analyses: pd.DataFrame
    path: Path
    version: str
    files: tuple[str, ...] = field(default=())

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by name, in schema order."""
        return {name: getattr(self, name) for name in TABLES}

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}={len(frame)}" for name, frame in self.tables.items())
        return f"Registry({str(self.path)!r}, version={self.version[:12]}, {sizes})"


def load_registry(path: str | Path | None = None) -> Registry:
    """Validate and load the registry in ``path``.

    Parameters
    ----------
    path : str or Path, optional
        Directory of the CSV files; default :func:`default_data_dir` (``$BAYES_IL2_DATA`` or the
        repository's ``data/``).

    Returns
    -------
    Registry

    Raises
    ------
    RegistryError
        Holding every problem found (file, line, column, value, rule), when any rule is broken.
    """
    directory = Path(path) if path is not None else default_data_dir()
    problems, frames = check_registry(directory)
    if problems:
        raise RegistryError(problems)
    typed = {name: typed_table(frames[name], spec) if name in frames else empty_table(spec)
             for name, spec in TABLES.items()}
    files = tuple(sorted(spec.file for name, spec in TABLES.items() if name in frames))
    return Registry(**typed, path=directory, version=registry_version(directory, files), files=files)


def registry_version(directory: Path, files: tuple[str, ...]) -> str:
    """SHA-256 over ``files`` of ``directory`` (see :class:`Registry`)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + (directory / name).read_bytes() + b"\0")
    return digest.hexdigest()


def typed_table(text: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Convert a validated frame of text cells to the schema's dtypes (columns in schema order)."""
    out = {}
    for column in spec.columns:
        cells = text[column.name]
        blank = cells == ""
        if column.kind in ("float", "count", "int"):
            values = pd.to_numeric(cells.where(~blank, None), errors="coerce").astype("float64")
            out[column.name] = values.round().astype("Int64") if column.kind != "float" else values
        else:
            out[column.name] = cells.where(~blank, np.nan).astype("str")
    return pd.DataFrame(out, index=text.index)


def empty_table(spec: TableSpec) -> pd.DataFrame:
    """A table with no rows and the schema's columns and dtypes."""
    text = pd.DataFrame({c: pd.Series([], dtype=str) for c in spec.column_names},
                        index=pd.Index([], name=LINE_INDEX, dtype="int64"))
    return typed_table(text, spec)
