"""Reading one table cell as text or as a number, the same way everywhere."""
from __future__ import annotations

from typing import Any

import pandas as pd


def cell_text(value: Any) -> str:
    """A cell as text; '' for a missing cell (None, NaN, pd.NA)."""
    if value is None:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def cell_number(value: Any) -> float:
    """A cell as a float; NaN when it is missing or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
