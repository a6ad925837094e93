"""Normal mixtures: the prior family of the reanalysis, their conjugate update and their EM fit.

A mixture of normals is closed under the normal-likelihood update (each component is updated
conjugately and re-weighted by its marginal likelihood), which gives closed-form posteriors for
endpoints reported as a difference with a CI, and approximates any smooth prior, e.g. the
meta-analytic-predictive (MAP) distribution (Schmidli et al. 2014, Biometrics 70:1023-1032; RBesT's
``automixfit``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from bayes_il2.errors import ModelError


@dataclass(frozen=True)
class NormalMixture:
    """sum_k w_k N(mean_k, sd_k^2) on one real parameter.

    Parameters
    ----------
    weights, means, sds : tuple of float
        Component weights (summing to 1), means and standard deviations.
    label : str
        Readable name ("skeptical", "MAP", ...).
    """

    weights: tuple[float, ...]
    means: tuple[float, ...]
    sds: tuple[float, ...]
    label: str = ""

    def __post_init__(self) -> None:
        w, m, s = (np.asarray(x, dtype=float) for x in (self.weights, self.means, self.sds))
        if not (w.shape == m.shape == s.shape) or w.ndim != 1 or w.size == 0:
            raise ModelError(f"mixture {self.label!r}: weights, means and sds need the same length >= 1")
        if np.any(w < 0) or not np.isclose(w.sum(), 1.0, atol=1e-8):
            raise ModelError(f"mixture {self.label!r}: weights must be >= 0 and sum to 1, got {w.tolist()}")
        if np.any(~np.isfinite(m)) or np.any(~np.isfinite(s)) or np.any(s <= 0):
            raise ModelError(f"mixture {self.label!r}: means must be finite and sds positive and finite")

    is_flat = False

    @classmethod
    def normal(cls, mean: float, sd: float, label: str = "") -> "NormalMixture":
        return cls((1.0,), (float(mean),), (float(sd),), label)

    # ------------------------------------------------------------------ arrays
    @property
    def _w(self) -> np.ndarray:
        return np.asarray(self.weights, dtype=float)

    @property
    def _m(self) -> np.ndarray:
        return np.asarray(self.means, dtype=float)

    @property
    def _s(self) -> np.ndarray:
        return np.asarray(self.sds, dtype=float)

    # ------------------------------------------------------------------ distribution
    def logpdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)[..., None]
        with np.errstate(divide="ignore"):
            terms = np.log(self._w) + stats.norm.logpdf(x, self._m, self._s)
        return special.logsumexp(terms, axis=-1)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self.logpdf(x))

    def cdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)[..., None]
        return np.sum(self._w * stats.norm.cdf(x, self._m, self._s), axis=-1)

    def sf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)[..., None]
        return np.sum(self._w * stats.norm.sf(x, self._m, self._s), axis=-1)

    def ppf(self, q: np.ndarray | float) -> np.ndarray:
        """Quantiles by root finding on the cdf (bracketed by the components' quantiles)."""
        q_arr = np.atleast_1d(np.asarray(q, dtype=float))
        out = np.empty_like(q_arr)
        for i, qi in enumerate(q_arr):
            if not 0 < qi < 1:
                out[i] = -np.inf if qi <= 0 else np.inf if qi >= 1 else np.nan
                continue
            lo = float(np.min(stats.norm.ppf(qi, self._m, self._s))) - 1e-9
            hi = float(np.max(stats.norm.ppf(qi, self._m, self._s))) + 1e-9
            out[i] = lo if hi - lo < 1e-12 else optimize.brentq(lambda x: float(self.cdf(x)) - qi, lo, hi,
                                                               xtol=1e-12, rtol=1e-12)
        return out if np.ndim(q) else out[0]

    def mean(self) -> float:
        return float(np.sum(self._w * self._m))

    def var(self) -> float:
        return float(np.sum(self._w * (self._s**2 + self._m**2)) - self.mean() ** 2)

    def sd(self) -> float:
        return float(np.sqrt(self.var()))

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        k = rng.choice(len(self.weights), size=size, p=self._w)
        return rng.normal(self._m[k], self._s[k])

    def location_information(self) -> float:
        """Fisher information for location, E_p[-(log p)''] = int p'^2 / p (1/sd^2 for a normal).

        The expected local-information ratio (ELIR) of Neuenschwander, Weber, Schmidli & O'Hagan
        (2020, Biometrics 76:578-587) divides it by the information of one patient.
        """
        if len(self.weights) == 1:
            return 1.0 / self.sds[0] ** 2
        lo = float(np.min(self._m - 12 * self._s))
        hi = float(np.max(self._m + 12 * self._s))
        x = np.linspace(lo, hi, 40001)
        z = (x[:, None] - self._m) / self._s
        dens = self._w * stats.norm.pdf(z) / self._s
        p = dens.sum(axis=1)
        dp = (dens * (-z / self._s)).sum(axis=1)
        integrand = np.where(p > 1e-300, dp**2 / np.maximum(p, 1e-300), 0.0)
        return float(np.trapezoid(integrand, x))

    # ------------------------------------------------------------------ composition
    def update_normal(self, y: float, se: float, label: str | None = None) -> "NormalMixture":
        """Posterior after observing y ~ N(theta, se^2): conjugate per component, re-weighted."""
        s2, v = self._s**2, se**2
        post_var = 1.0 / (1.0 / s2 + 1.0 / v)
        post_mean = post_var * (self._m / s2 + y / v)
        logw = np.log(self._w) + stats.norm.logpdf(y, self._m, np.sqrt(s2 + v))
        w = np.exp(logw - special.logsumexp(logw))
        return NormalMixture(tuple(w.tolist()), tuple(post_mean.tolist()), tuple(np.sqrt(post_var).tolist()),
                             self.label if label is None else label)

    def predictive(self, se: float) -> "NormalMixture":
        """Prior predictive of an estimate y ~ N(theta, se^2)."""
        return NormalMixture(self.weights, self.means, tuple(np.sqrt(self._s**2 + se**2).tolist()), self.label)

    def mix(self, other: "NormalMixture", weight_other: float, label: str | None = None) -> "NormalMixture":
        """(1 - weight_other) * self + weight_other * other (components with weight 0 dropped)."""
        if not 0 <= weight_other <= 1:
            raise ModelError(f"mixing weight must be in [0, 1], got {weight_other}")
        parts = [(w * (1 - weight_other), m, s) for w, m, s in zip(self.weights, self.means, self.sds)]
        parts += [(w * weight_other, m, s) for w, m, s in zip(other.weights, other.means, other.sds)]
        parts = [p for p in parts if p[0] > 0]
        w, m, s = zip(*parts)
        total = sum(w)
        return NormalMixture(tuple(x / total for x in w), tuple(m), tuple(s),
                             self.label if label is None else label)

    def describe(self, digits: int = 3) -> str:
        parts = [f"N({m:.{digits}g}, {s:.{digits}g}²)" for m, s in zip(self.means, self.sds)]
        if len(parts) == 1:
            return parts[0]
        return " + ".join(f"{w:.{digits}g}·{p}" for w, p in zip(self.weights, parts))


@dataclass(frozen=True)
class FlatPrior:
    """The improper uniform prior on the whole real line (the likelihood alone)."""

    label: str = "flat"
    is_flat = True

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        return np.zeros_like(np.asarray(x, dtype=float))

    def location_information(self) -> float:
        return 0.0

    def describe(self, digits: int = 3) -> str:
        return "flat (improper uniform)"


def fit_mixture(draws: np.ndarray, k: int, *, max_iter: int = 1000, tol: float = 1e-7,
                label: str = "") -> tuple[NormalMixture, float]:
    """Maximum-likelihood K-component normal mixture for draws, by EM (Dempster, Laird & Rubin 1977).

    Started from the draws' quantiles (component k at the (k + 0.5) / K quantile, all with the
    draws' SD), so the result is deterministic.

    Returns
    -------
    (NormalMixture, log-likelihood)
    """
    x = np.asarray(draws, dtype=float).ravel()
    if x.size < 10 * k or not np.all(np.isfinite(x)):
        raise ModelError(f"fit_mixture: need at least {10 * k} finite draws for {k} components, got {x.size}")
    w = np.full(k, 1.0 / k)
    m = np.quantile(x, (np.arange(k) + 0.5) / k)
    s = np.full(k, x.std())
    floor = 1e-6 * x.std()
    last = -np.inf
    half_log_2pi = 0.5 * np.log(2 * np.pi)
    for _ in range(max_iter):
        z = (x[:, None] - m) / s
        logp = np.log(w) - np.log(s) - half_log_2pi - 0.5 * z * z
        top = logp.max(axis=1, keepdims=True)
        r = np.exp(logp - top)
        total = r.sum(axis=1, keepdims=True)
        loglik = float((np.log(total) + top).sum())
        r /= total
        nk = r.sum(axis=0) + 1e-300
        w = nk / nk.sum()
        m = (r.T @ x) / nk
        s = np.sqrt(np.maximum((r * (x[:, None] - m) ** 2).sum(axis=0) / nk, floor**2))
        if loglik - last < tol * x.size:  # mean log-likelihood gain per draw below tol
            break
        last = loglik
    order = np.argsort(-w)
    return NormalMixture(tuple(w[order].tolist()), tuple(m[order].tolist()), tuple(s[order].tolist()), label), loglik


def automixfit(draws: np.ndarray, k_max: int = 4, criterion: str = "aic", label: str = "") -> NormalMixture:
    """The mixture with 1..k_max components that minimises AIC (or BIC), as RBesT's ``automixfit``.

    References
    ----------
    Weber S, Li Y, Seaman JW, Kakizume T, Schmidli H. Applying meta-analytic-predictive priors with
    the R Bayesian evidence synthesis tools. J Stat Softw 2021;100(19).
    """
    x = np.asarray(draws, dtype=float).ravel()
    best, best_score = None, np.inf
    for k in range(1, k_max + 1):
        mix, loglik = fit_mixture(x, k, label=label)
        n_par = 3 * k - 1
        penalty = 2 * n_par if criterion == "aic" else n_par * np.log(x.size)
        score = -2 * loglik + penalty
        if score < best_score - 1e-9:
            best, best_score = mix, score
    assert best is not None
    return best
