"""Input checks shared by the classical estimators: one clear ModelError per broken rule."""
from __future__ import annotations

from typing import Any

import numpy as np

from bayes_il2.errors import ModelError

METHODS = ("REML", "ML", "DL", "PM", "HE", "SJ", "EE")
TESTS = ("z", "knha", "knha_modified")


def check_effects(yi: Any, vi: Any, who: str, min_k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``yi`` and ``vi`` as float arrays; ModelError naming the first bad study (0-based position).

    Rules: same length; at least ``min_k`` studies; every yi finite; every vi finite and > 0 (a
    zero variance gives a study infinite weight; all variances zero leave nothing to weigh by).
    """
    y = np.atleast_1d(np.asarray(yi, dtype=float)).ravel()
    v = np.atleast_1d(np.asarray(vi, dtype=float)).ravel()
    if y.shape != v.shape:
        raise ModelError(f"{who}: yi has {y.size} values but vi has {v.size}")
    if y.size < min_k:
        raise ModelError(f"{who}: needs at least {min_k} studies; got k = {y.size}")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise ModelError(f"{who}: yi of study {bad[0]} is {float(y[bad[0]])!r}; expected a finite number (NaN or "
                         "infinite effect sizes cannot be pooled: drop the study or supply its value)")
    if np.all(v == 0):
        raise ModelError(f"{who}: all sampling variances are zero; inverse-variance weights are undefined "
                         "(vi must be the squared standard error of each yi)")
    bad = np.flatnonzero(~(np.isfinite(v) & (v > 0)))
    if bad.size:
        raise ModelError(f"{who}: vi of study {bad[0]} is {float(v[bad[0]])!r}; expected a finite number > 0")
    return y, v


def check_method(method: str, who: str) -> str:
    if method not in METHODS:
        raise ModelError(f"{who}: method must be one of {', '.join(METHODS)}; got {method!r}")
    return method


def check_test(test: str, who: str) -> str:
    if test not in TESTS:
        raise ModelError(f"{who}: test must be one of {', '.join(TESTS)}; got {test!r}")
    return test


def check_level(level: float, who: str) -> float:
    if not (isinstance(level, (int, float)) and 0 < float(level) < 1):
        raise ModelError(f"{who}: level must be strictly between 0 and 1; got {level!r}")
    return float(level)


def design_matrix(X: Any, k: int, who: str, intercept: bool = True) -> tuple[np.ndarray, list[str]]:
    """A (k, p) float design matrix and its column names (``intrcpt`` first when added)."""
    import pandas as pd

    if X is None:
        M, names = np.empty((k, 0)), []
    elif isinstance(X, pd.DataFrame):
        M, names = X.to_numpy(dtype=float), [str(c) for c in X.columns]
    elif isinstance(X, pd.Series):
        M, names = X.to_numpy(dtype=float)[:, None], [str(X.name or "x1")]
    else:
        M = np.asarray(X, dtype=float)
        M = M[:, None] if M.ndim == 1 else M
        names = [f"x{j + 1}" for j in range(M.shape[1])]
    if M.shape[0] != k:
        raise ModelError(f"{who}: X has {M.shape[0]} rows for {k} studies")
    if not np.all(np.isfinite(M)):
        r, c = np.argwhere(~np.isfinite(M))[0]
        raise ModelError(f"{who}: moderator {names[c]!r} of study {r} is {float(M[r, c])!r}; expected a finite number")
    if intercept:
        M, names = np.column_stack([np.ones(k), M]), ["intrcpt", *names]
    if M.shape[1] == 0:
        raise ModelError(f"{who}: the model has no coefficient (no intercept and no moderator)")
    if np.linalg.matrix_rank(M) < M.shape[1]:
        raise ModelError(f"{who}: the moderators are collinear (design matrix of rank "
                         f"{np.linalg.matrix_rank(M)} < {M.shape[1]} columns)")
    if M.shape[1] >= k and M.shape[1] > 1:
        raise ModelError(f"{who}: {M.shape[1]} coefficients need more than {M.shape[1]} studies; got k = {k}")
    return M, names
