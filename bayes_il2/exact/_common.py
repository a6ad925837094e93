"""Input checks and the Gaussian building blocks shared by the exact models."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bayes_il2.errors import ModelError
from bayes_il2.priors import Flat, Normal

LOG_2PI = float(np.log(2.0 * np.pi))


def check_effects(yi: Any, vi: Any, who: str) -> tuple[np.ndarray, np.ndarray]:
    """yi and vi as float arrays; ModelError naming the first bad study."""
    y = np.atleast_1d(np.asarray(yi, dtype=float)).ravel()
    v = np.atleast_1d(np.asarray(vi, dtype=float)).ravel()
    if y.size == 0:
        raise ModelError(f"{who}: no studies (yi is empty)")
    if y.shape != v.shape:
        raise ModelError(f"{who}: yi has {y.size} values but vi has {v.size}")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise ModelError(f"{who}: yi of study {bad[0]} is {y[bad[0]]!r}; expected a finite number")
    bad = np.flatnonzero(~(np.isfinite(v) & (v > 0)))
    if bad.size:
        raise ModelError(f"{who}: vi of study {bad[0]} is {v[bad[0]]!r}; expected a finite number > 0")
    return y, v


def labels_of(yi: Any) -> list[str] | None:
    """Study labels carried by ``yi`` itself: the index of a pandas Series when it is not the default
    0..k-1 (e.g. ``table.set_index("study_id").yi``), else None."""
    index = getattr(yi, "index", None)
    if index is None or not hasattr(yi, "to_numpy"):
        return None
    if list(index) == list(range(len(index))):
        return None
    return [str(x) for x in index]


def check_labels(labels: Sequence[Any] | None, k: int, who: str) -> list[str]:
    if labels is None:
        return [str(i + 1) for i in range(k)]
    out = [str(x) for x in labels]
    if len(out) != k:
        raise ModelError(f"{who}: {len(out)} labels for {k} studies")
    if len(set(out)) != k:
        dup = sorted({x for x in out if out.count(x) > 1})
        raise ModelError(f"{who}: labels must be unique; repeated: {', '.join(dup)}")
    return out


def location_prior(prior: Any, who: str, name: str = "mu") -> tuple[float, float]:
    """(mean, precision) of a normal prior; precision 0 for Flat/None (improper)."""
    if prior is None or isinstance(prior, Flat):
        return 0.0, 0.0
    if isinstance(prior, Normal):
        return float(prior.mu), 1.0 / float(prior.sigma) ** 2
    raise ModelError(f"{who}: the exact engine needs a Normal or Flat prior for {name}; got {prior!r}")


def variance_prior_bounds(prior: Any, who: str, name: str) -> tuple[float, float]:
    """Support of a heterogeneity prior, checked to lie in [0, inf)."""
    if not hasattr(prior, "logpdf") or not hasattr(prior, "support"):
        raise ModelError(f"{who}: {name} prior must be a bayes_il2.priors object; got {prior!r}")
    if not getattr(prior, "proper", True):
        raise ModelError(f"{who}: the {name} prior must be proper; got {prior!r}")
    lo, hi = prior.support
    if lo < 0:
        raise ModelError(f"{who}: the {name} prior must have support in [0, inf) (a half- or positive "
                         f"distribution); {prior!r} has support [{lo}, {hi}]")
    return float(lo), float(hi)


def prior_scales(prior: Any) -> list[float]:
    """A few quantiles of a heterogeneity prior (to size the search range)."""
    out = []
    for q in (1e-6, 0.5, 1 - 1e-10):
        try:
            out.append(float(prior.ppf(q)))
        except Exception:  # noqa: BLE001 - a prior without quantiles still works
            pass
    return out


def normal_marginal(y: np.ndarray, v_total: np.ndarray, m0: float, p0: float) -> dict[str, np.ndarray]:
    """mu | tau and log p(y | tau) for y_i ~ N(mu, v_total_i), mu ~ N(m0, 1/p0) (p0 = 0: flat).

    ``v_total`` has shape (n, k) (one row per value of the variance components). Returns the
    posterior mean ``m`` and variance ``V`` of mu and ``loglik`` (for a flat prior: the integral
    over mu with respect to Lebesgue measure, defined up to the prior's constant).
    """
    # Sums over studies as products with a vector of ones: BLAS instead of numpy's reduction,
    # which is slow over a short last axis (three_level's groups).
    k = y.shape[-1]
    ones = np.ones(k)
    w = 1.0 / v_total
    P = w @ ones + p0
    wy = w @ y if y.ndim == 1 else (w * y) @ ones
    m = (wy + p0 * m0) / P
    resid = y - m[..., None]
    wr2 = w * resid
    wr2 *= resid
    quad = wr2 @ ones + p0 * (m0 - m) ** 2
    loglik = -0.5 * (np.log(v_total) @ ones)
    loglik += -0.5 * k * LOG_2PI - 0.5 * quad - 0.5 * np.log(P)
    loglik += 0.5 * np.log(p0) if p0 > 0 else 0.5 * LOG_2PI
    return {"m": m, "V": 1.0 / P, "loglik": loglik}
