"""Shared plumbing of the effect-size functions: array coercion, row naming, input checks, results.

Every public effect-size function accepts scalars, sequences, numpy arrays or pandas Series; its
result has the same shape, and is a Series carrying the input's index when any input was a Series.
Bad input raises :class:`~bayes_il2.errors.EffectSizeError` naming every offending row: by the
``ids`` argument when given (study ids), else by the Series index, else by 0-based position.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayes_il2.errors import EffectSizeError

ArrayLike = Any  # scalar, sequence, ndarray or Series


@dataclass(frozen=True)
class Inputs:
    """Broadcast float arrays of one call, with what is needed to name rows and shape the output."""

    arrays: dict[str, np.ndarray]
    index: pd.Index | None
    ids: np.ndarray
    scalar: bool

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def wrap(self, values: np.ndarray) -> Any:
        """Give ``values`` the caller's shape: a Series (input index), a float, or an array."""
        if self.index is not None:
            return pd.Series(values, index=self.index)
        if self.scalar:
            return values.reshape(()).item() if np.ndim(values) else values
        return values


def coerce(ids: ArrayLike | None = None, **values: ArrayLike) -> Inputs:
    """Broadcast the named inputs to float arrays of one shape (1-d) and record how to name rows.

    ``None`` values become NaN arrays (an optional input that was not given).
    """
    indexes = [v.index for v in values.values() if isinstance(v, pd.Series)]
    index = indexes[0] if indexes else None
    if any(not other.equals(index) for other in indexes[1:]):
        raise EffectSizeError("Series inputs with different indexes: values are paired by position, so "
                              "reindex them to one order first (e.g. b = b.reindex(a.index))")
    scalar = all(v is None or np.ndim(v) == 0 for v in values.values())
    arrays = {}
    for name, v in values.items():
        if v is None:
            arrays[name] = np.array(np.nan)
            continue
        if isinstance(v, pd.Series):
            v = v.to_numpy(dtype=float, na_value=np.nan)
        try:
            arrays[name] = np.asarray(v, dtype=float)
        except (TypeError, ValueError) as exc:
            raise EffectSizeError(f"{name}: not numeric ({exc})") from None
    try:
        shaped = np.broadcast_arrays(*[np.atleast_1d(a) for a in arrays.values()])
    except ValueError:
        shapes = {k: np.shape(a) for k, a in arrays.items()}
        raise EffectSizeError(f"inputs of different lengths: {shapes}") from None
    arrays = {k: np.array(a, dtype=float).ravel() for k, a in zip(arrays, shaped)}
    size = len(next(iter(arrays.values()))) if arrays else 0
    if ids is None:
        names = np.asarray(index, dtype=object) if index is not None else np.arange(size).astype(object)
    else:
        names = np.atleast_1d(np.asarray(ids.to_numpy() if isinstance(ids, pd.Series) else ids, dtype=object))
        if len(names) != size:
            raise EffectSizeError(f"ids has {len(names)} entries but the inputs have {size} rows")
    return Inputs(arrays, index, names, scalar)


def fail_rows(inputs: Inputs, mask: np.ndarray, message: str) -> None:
    """Raise EffectSizeError naming every row where ``mask`` holds (no-op when none does)."""
    mask = np.asarray(mask, dtype=bool)
    if mask.any():
        rows = ", ".join(repr(x) if isinstance(x, str) else str(x) for x in inputs.ids[mask][:20])
        more = "" if mask.sum() <= 20 else f" (and {int(mask.sum()) - 20} more)"
        raise EffectSizeError(f"row {rows}{more}: {message}")


def require_finite(inputs: Inputs, *names: str) -> None:
    """Every value of ``names`` must be a finite number (not blank / NaN / inf)."""
    for name in names:
        fail_rows(inputs, ~np.isfinite(inputs[name]), f"{name} is missing or not finite")


def require_positive(inputs: Inputs, *names: str) -> None:
    """Every value of ``names`` must be finite and > 0 (SDs, sample sizes, ratio-scale means)."""
    require_finite(inputs, *names)
    for name in names:
        fail_rows(inputs, inputs[name] <= 0, f"{name} must be > 0")


def require_counts(inputs: Inputs, events: str, total: str) -> None:
    """``events`` and ``total`` are counts with 0 <= events <= total and total > 0."""
    require_finite(inputs, events, total)
    fail_rows(inputs, inputs[events] < 0, f"negative count in {events}")
    fail_rows(inputs, inputs[total] <= 0, f"{total} must be > 0")
    fail_rows(inputs, inputs[events] > inputs[total], f"{events} > {total} (more events than patients)")


def require_correlation(inputs: Inputs, name: str = "ri") -> None:
    """A correlation must lie in [-1, 1]."""
    require_finite(inputs, name)
    fail_rows(inputs, np.abs(inputs[name]) > 1, f"{name} must lie in [-1, 1]")


def check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise EffectSizeError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def hedges_j(df: ArrayLike) -> np.ndarray:
    """Exact small-sample correction of the standardized mean difference (Hedges 1981).

    J(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)); J(m) ~ 1 - 3/(4m - 1) (Borenstein et al. 2009,
    eq. 4.22). Defined for m > 1 only: J(1) = 0 (Gamma(0) is infinite) would turn any difference
    into an effect of exactly 0, so for m <= 1 the result is NaN and the effect is undefined
    (metafor likewise leaves such rows undefined).

    References
    ----------
    Hedges LV (1981). Distribution theory for Glass's estimator of effect size and related
    estimators. J Educ Stat 6:107-128.
    """
    from scipy.special import poch

    m = np.asarray(df, dtype=float)
    # Gamma(m/2) / Gamma((m-1)/2) as the Pochhammer symbol ((m-1)/2)_(1/2): a difference of two
    # gammaln values lost about 1e-15 m of relative precision (J > 1 from m = 2.6e7).
    with np.errstate(invalid="ignore", divide="ignore"):
        j = poch((m - 1) / 2, 0.5) / np.sqrt(m / 2)
    return np.where(m > 1, j, np.nan)


@dataclass(frozen=True)
class EffectSize:
    """An effect size and its sampling variance, with what was done to get them.

    Unpacks as ``yi, vi = effect``. ``yi``/``vi`` are NaN where the effect is not estimable
    (``undefined``), e.g. a zero cell without continuity correction or an excluded double-zero study.

    Attributes
    ----------
    yi, vi : float, ndarray or Series
    measure : str
        metafor-style code (see :data:`bayes_il2.effects.MEASURES`).
    corrected : ndarray of bool, optional
        Rows to which a continuity correction was added.
    double_zero : ndarray of bool, optional
        Rows with no events (or only events) in both groups.
    undefined : ndarray of bool, optional
        Rows whose yi/vi are NaN because the measure is not estimable there.
    correction : str
        The continuity correction argument used ("none" for measures without one).
    """

    yi: Any
    vi: Any
    measure: str
    corrected: np.ndarray | None = None
    double_zero: np.ndarray | None = None
    undefined: np.ndarray | None = None
    correction: str = "none"

    def __iter__(self) -> Iterator[Any]:
        yield self.yi
        yield self.vi

    def to_frame(self) -> pd.DataFrame:
        """yi, vi and the per-row flags as a DataFrame."""
        yi = np.atleast_1d(np.asarray(self.yi, dtype=float))
        out = pd.DataFrame({"yi": yi, "vi": np.atleast_1d(np.asarray(self.vi, dtype=float))},
                           index=self.yi.index if isinstance(self.yi, pd.Series) else None)
        out["measure"] = self.measure
        for name in ("corrected", "double_zero", "undefined"):
            flag = getattr(self, name)
            out[name] = np.zeros(len(yi), bool) if flag is None else np.asarray(flag, bool)
        return out


def result(inputs: Inputs, yi: np.ndarray, vi: np.ndarray, measure: str, **flags: Any) -> EffectSize:
    """Package yi/vi in the caller's shape; rows with non-finite or non-positive vi become undefined."""
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    bad = ~np.isfinite(yi) | ~np.isfinite(vi) | ~(vi > 0)
    if flags.get("undefined") is not None:
        bad |= flags.pop("undefined")
    else:
        flags.pop("undefined", None)
    yi = np.where(bad, np.nan, yi)
    vi = np.where(bad, np.nan, vi)
    return EffectSize(inputs.wrap(yi), inputs.wrap(vi), measure, undefined=bad, **flags)
