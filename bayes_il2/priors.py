"""Prior distributions: one object per prior, usable by PyMC and by the exact engine.

Every prior is a frozen dataclass with

- ``logpdf(x)``: log density on its own parameter (e.g. tau, not tau^2), vectorised, ``-inf``
  outside the support;
- ``to_pymc(name, **kwargs)``: inside a ``pm.Model`` context, the random variable ``name`` for
  that parameter (``kwargs`` such as ``dims`` are passed on);
- ``support``: (lower, upper); ``sample(rng, size)``; ``cdf(x)`` and ``ppf(q)`` where available;
- ``to_dict()``: the spec table that :func:`prior_from_spec` turns back into the same prior;
- ``plot(ax=None)``: a line plot of the density.

Heterogeneity families: :class:`HalfNormal`, :class:`HalfCauchy`, :class:`HalfStudentT`,
:class:`Uniform`, :class:`Exponential`, and the empirical log-normal / log-t priors for tau^2
(:class:`LogNormalTau2`, :class:`LogTTau2`) with the lookups :func:`turner_prior` (Turner et al.
2015) and :func:`rhodes_prior` (Rhodes et al. 2015). Location families: :class:`Normal`,
:class:`StudentT`, :class:`Flat` (improper; exact engine only).

References
----------
Turner RM, Jackson D, Wei Y, Thompson SG, Higgins JPT (2015). Predictive distributions for
between-study heterogeneity and simple methods for their application in Bayesian meta-analysis.
Stat Med 34(6):984-998, Table IV.
Rhodes KM, Turner RM, Higgins JPT (2015). Predictive distributions were developed for the extent
of heterogeneity in meta-analyses of continuous outcome data. J Clin Epidemiol 68(1):52-60,
Table 3 and Appendix Tables A.3.1-A.3.2.
Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package. J Stat Softw
93(6) (half-normal scales for tau; the ``TurnerEtAlPrior``/``RhodesEtAlPrior`` tables).
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from bayes_il2.errors import SpecError


def _special() -> Any:
    """``scipy.special``, imported on first use (about 0.15 s): a process that only reads or unpickles
    priors (the figure process of ``bayes-il2 fit``, which receives a fit with its priors) needs none."""
    from scipy import special

    return special


def _stats() -> Any:
    """``scipy.stats``, imported on first use: it costs about a second, and the closed forms below
    (log densities, CDFs, quantiles) need only ``scipy.special``."""
    from scipy import stats

    return stats

__all__ = [
    "Prior", "HalfNormal", "HalfCauchy", "HalfStudentT", "Uniform", "Exponential", "LogNormalTau2",
    "LogTTau2", "Normal", "StudentT", "Flat", "prior_from_spec", "turner_prior", "rhodes_prior",
    "TURNER_OUTCOMES", "TURNER_COMPARISONS", "RHODES_OUTCOMES", "RHODES_COMPARISONS", "RHODES_AREAS",
    "PRIOR_FAMILIES", "parse_prior", "PRIOR_FORMS",
]

_LOG2 = math.log(2.0)


def _positive(name: str, **values: float) -> None:
    for key, value in values.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise SpecError(f"{name}: {key} must be a finite number > 0; got {value!r}")


def _finite(name: str, **values: float) -> None:
    for key, value in values.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value)):
            raise SpecError(f"{name}: {key} must be a finite number; got {value!r}")


# Closed forms of the common families (loc-scale of a standard density on [lo, hi]): the exact
# engine calls logpdf/cdf thousands of times, and scipy.stats' per-call argument handling costs
# more than the arithmetic. Same formulas and support conventions as scipy.stats.
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_HALF_LOG_2_OVER_PI = 0.5 * math.log(2.0 / math.pi)
_LOG_2_OVER_PI = math.log(2.0 / math.pi)


def _loc_scale_logpdf(x: Any, loc: float, scale: float, lo: float, hi: float, std_logpdf) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    z = (x - loc) / scale
    inside = (z >= lo) & (z <= hi)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        out = np.where(inside, std_logpdf(np.where(inside, z, max(lo, 0.0) if lo > -math.inf else 0.0))
                       - math.log(scale), -np.inf)
    return np.where(np.isnan(z), np.nan, out)


def _loc_scale_cdf(x: Any, loc: float, scale: float, lo: float, hi: float, std_cdf) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    z = (x - loc) / scale
    inside = (z > lo) & (z < hi)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mid = std_cdf(np.where(inside, z, max(lo, 0.0) if lo > -math.inf else 0.0))
    out = np.where(inside, mid, np.where(z >= hi, 1.0, 0.0))
    return np.where(np.isnan(z), np.nan, out)


def _loc_scale_ppf(q: Any, loc: float, scale: float, lo: float, hi: float, std_ppf) -> np.ndarray:
    q = np.asarray(q, dtype=float)
    inside = (q > 0) & (q < 1)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mid = std_ppf(np.where(inside, q, 0.5))
    out = np.where(inside, mid, np.where(q == 0, lo, np.where(q == 1, hi, np.nan)))
    with np.errstate(invalid="ignore", over="ignore"):  # a quantile beyond floating point is inf
        return np.asarray(out * scale + loc, dtype=float)


@dataclass(frozen=True)
class Prior:
    """Base class: shared methods of every prior (see the module docstring)."""

    family: ClassVar[str] = ""
    proper: ClassVar[bool] = True

    # -- to be provided by subclasses -------------------------------------------------------
    def _make_dist(self):  # pragma: no cover - overridden
        """Frozen scipy distribution of the parameter, where one exists."""
        raise NotImplementedError

    def _dist(self):
        # Frozen scipy distributions are slow to build; keep one per prior object.
        frozen = self.__dict__.get("_frozen")
        if frozen is None:
            frozen = self._make_dist()
            object.__setattr__(self, "_frozen", frozen)
        return frozen

    def to_pymc(self, name: str, **kwargs: Any):  # pragma: no cover - overridden
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------
    @property
    def support(self) -> tuple[float, float]:
        lo, hi = self._dist().support()
        return float(lo), float(hi)

    def logpdf(self, x: Any) -> np.ndarray:
        """Log density at ``x`` (``-inf`` outside the support)."""
        return np.asarray(self._dist().logpdf(np.asarray(x, dtype=float)), dtype=float)

    def pdf(self, x: Any) -> np.ndarray:
        return np.exp(self.logpdf(x))

    def cdf(self, x: Any) -> np.ndarray:
        return np.asarray(self._dist().cdf(np.asarray(x, dtype=float)), dtype=float)

    def ppf(self, q: Any) -> np.ndarray:
        """Quantile function."""
        return np.asarray(self._dist().ppf(np.asarray(q, dtype=float)), dtype=float)

    def sample(self, rng: np.random.Generator | int | None, size: Any = None) -> np.ndarray:
        """Independent draws (``rng``: a numpy Generator or a seed)."""
        return np.asarray(self._dist().rvs(size=size, random_state=np.random.default_rng(rng)))

    def to_dict(self) -> dict[str, Any]:
        """The spec table of this prior, e.g. ``{"family": "half_normal", "scale": 0.5}``."""
        out: dict[str, Any] = {"family": self.family}
        for f in fields(self):
            if f.repr:
                out[f.name] = getattr(self, f.name)
        return out

    def plot(self, ax=None, *, upper: float | None = None, n: int = 400, **line_kwargs: Any):
        """Line plot of the density; returns the matplotlib Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4, 3))
        lo, hi = self.support
        q_lo = self.ppf(0.001) if math.isinf(lo) else lo
        q_hi = upper if upper is not None else (float(self.ppf(0.99)) if math.isinf(hi) or hi > 1e3 else hi)
        x = np.linspace(float(q_lo), float(q_hi), n)
        ax.plot(x, self.pdf(x), label=repr(self), **line_kwargs)
        ax.set_xlabel("value")
        ax.set_ylabel("density")
        ax.set_title(repr(self), fontsize=9)
        return ax


# ------------------------------------------------------------------ heterogeneity (tau) priors
@dataclass(frozen=True)
class HalfNormal(Prior):
    """tau ~ half-normal with scale ``scale`` (the SD of the parent normal)."""

    scale: float
    family: ClassVar[str] = "half_normal"

    def __post_init__(self) -> None:
        _positive("HalfNormal", scale=self.scale)

    def _make_dist(self):
        return _stats().halfnorm(scale=self.scale)

    @property
    def support(self) -> tuple[float, float]:
        return 0.0, math.inf

    def logpdf(self, x: Any) -> np.ndarray:
        return _loc_scale_logpdf(x, 0.0, self.scale, 0.0, math.inf, lambda z: _HALF_LOG_2_OVER_PI - z * z / 2.0)

    def cdf(self, x: Any) -> np.ndarray:
        return _loc_scale_cdf(x, 0.0, self.scale, 0.0, math.inf, lambda z: _special().erf(z / math.sqrt(2.0)))

    def ppf(self, q: Any) -> np.ndarray:
        return _loc_scale_ppf(q, 0.0, self.scale, 0.0, math.inf, lambda q: _special().ndtri((1.0 + q) / 2.0))

    def to_pymc(self, name: str, **kwargs: Any):
        import pymc as pm

        return pm.HalfNormal(name, sigma=self.scale, **kwargs)


@dataclass(frozen=True)
class HalfCauchy(Prior):
    """tau ~ half-Cauchy with scale ``scale``."""

    scale: float
    family: ClassVar[str] = "half_cauchy"

    def __post_init__(self) -> None:
        _positive("HalfCauchy", scale=self.scale)

    def _make_dist(self):
        return _stats().halfcauchy(scale=self.scale)

    @property
    def support(self) -> tuple[float, float]:
        return 0.0, math.inf

    def logpdf(self, x: Any) -> np.ndarray:
        return _loc_scale_logpdf(x, 0.0, self.scale, 0.0, math.inf, lambda z: _LOG_2_OVER_PI - np.log1p(z * z))

    def cdf(self, x: Any) -> np.ndarray:
        return _loc_scale_cdf(x, 0.0, self.scale, 0.0, math.inf, lambda z: 2.0 / math.pi * np.arctan(z))

    def ppf(self, q: Any) -> np.ndarray:
        return _loc_scale_ppf(q, 0.0, self.scale, 0.0, math.inf, lambda q: np.tan(math.pi / 2 * q))

    def to_pymc(self, name: str, **kwargs: Any):
        import pymc as pm

        return pm.HalfCauchy(name, beta=self.scale, **kwargs)


@dataclass(frozen=True)
class HalfStudentT(Prior):
    """tau ~ half-Student-t with ``nu`` degrees of freedom and scale ``scale``."""

    nu: float
    scale: float
    family: ClassVar[str] = "half_student_t"

    def __post_init__(self) -> None:
        _positive("HalfStudentT", nu=self.nu, scale=self.scale)

    def _make_dist(self):
        return _stats().t(self.nu, loc=0.0, scale=self.scale)

    def _t(self):
        return self._dist()

    @property
    def support(self) -> tuple[float, float]:
        return 0.0, math.inf

    def logpdf(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.where(x >= 0, _LOG2 + self._t().logpdf(x), -np.inf)

    def cdf(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.where(x >= 0, 2.0 * self._t().cdf(np.maximum(x, 0.0)) - 1.0, 0.0)

    def ppf(self, q: Any) -> np.ndarray:
        return np.asarray(self._t().ppf((1.0 + np.asarray(q, dtype=float)) / 2.0), dtype=float)

    def sample(self, rng, size=None) -> np.ndarray:
        return np.abs(self._t().rvs(size=size, random_state=np.random.default_rng(rng)))

    def to_pymc(self, name: str, **kwargs: Any):
        import pymc as pm

        return pm.HalfStudentT(name, nu=self.nu, sigma=self.scale, **kwargs)


@dataclass(frozen=True)
class Uniform(Prior):
    """Uniform on [lower, upper] (for tau: lower >= 0)."""

    lower: float
    upper: float
    family: ClassVar[str] = "uniform"

    def __post_init__(self) -> None:
        _finite("Uniform", lower=self.lower, upper=self.upper)
        if not self.upper > self.lower:
            raise SpecError(f"Uniform: upper must exceed lower; got lower={self.lower!r}, upper={self.upper!r}")

    def _make_dist(self):
        return _stats().uniform(loc=self.lower, scale=self.upper - self.lower)

    @property
    def support(self) -> tuple[float, float]:
        return float(self.lower), float(self.upper)

    def logpdf(self, x: Any) -> np.ndarray:
        return _loc_scale_logpdf(x, self.lower, self.upper - self.lower, 0.0, 1.0, lambda z: np.zeros_like(z))

    def cdf(self, x: Any) -> np.ndarray:
        return _loc_scale_cdf(x, self.lower, self.upper - self.lower, 0.0, 1.0, lambda z: z)

    def ppf(self, q: Any) -> np.ndarray:
        return _loc_scale_ppf(q, self.lower, self.upper - self.lower, 0.0, 1.0, lambda q: q)

    def to_pymc(self, name: str, **kwargs: Any):
        import pymc as pm

        return pm.Uniform(name, lower=self.lower, upper=self.upper, **kwargs)


@dataclass(frozen=True)
class Exponential(Prior):
    """tau ~ exponential with rate ``rate`` (mean 1/rate)."""

    rate: float
    family: ClassVar[str] = "exponential"

    def __post_init__(self) -> None:
        _positive("Exponential", rate=self.rate)

    def _make_dist(self):
        return _stats().expon(scale=1.0 / self.rate)

    @property
    def support(self) -> tuple[float, float]:
        return 0.0, math.inf

    def logpdf(self, x: Any) -> np.ndarray:
        return _loc_scale_logpdf(x, 0.0, 1.0 / self.rate, 0.0, math.inf, lambda z: -z)

    def cdf(self, x: Any) -> np.ndarray:
        return _loc_scale_cdf(x, 0.0, 1.0 / self.rate, 0.0, math.inf, lambda z: -np.expm1(-z))

    def ppf(self, q: Any) -> np.ndarray:
        return _loc_scale_ppf(q, 0.0, 1.0 / self.rate, 0.0, math.inf, lambda q: -np.log1p(-q))

    def to_pymc(self, name: str, **kwargs: Any):
        import pymc as pm

        return pm.Exponential(name, lam=self.rate, **kwargs)


@dataclass(frozen=True)
class LogNormalTau2(Prior):
    """log(tau^2) ~ Normal(mu, sigma^2) (Turner et al. 2015); the prior is on tau.

    Equivalently log(tau) ~ Normal(mu/2, (sigma/2)^2), i.e. tau is log-normal; the density of tau
    is that of log(tau^2) times the Jacobian 2/tau. ``source`` only labels where the numbers come
    from (not part of equality or of the spec table).
    """

    mu: float
    sigma: float
    source: str | None = field(default=None, compare=False, repr=False)
    family: ClassVar[str] = "lognormal_tau2"

    def __post_init__(self) -> None:
        _finite("LogNormalTau2", mu=self.mu)
        _positive("LogNormalTau2", sigma=self.sigma)

    def _make_dist(self):
        return _stats().lognorm(s=self.sigma / 2.0, scale=math.exp(self.mu / 2.0))

    def logpdf(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            lx = np.log(np.where(x > 0, x, 1.0))
            z = (2.0 * lx - self.mu) / self.sigma
            out = (-z * z / 2.0 - _LOG_SQRT_2PI - math.log(self.sigma)) + _LOG2 - lx
        return np.where(x > 0, out, np.where(np.isnan(x), np.nan, -np.inf))

    @property
    def support(self) -> tuple[float, float]:
        return 0.0, math.inf

    def cdf(self, x: Any) -> np.ndarray:
        # tau is log-normal: log(tau) ~ N(mu/2, (sigma/2)^2)
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = _special().ndtr(np.log(np.where(x > 0, x, 1.0) / math.exp(self.mu / 2.0)) / (self.sigma / 2.0))
        return np.where(x > 0, out, np.where(np.isnan(x), np.nan, 0.0))

    def ppf(self, q: Any) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        with np.errstate(divide="ignore", over="ignore"):
            return np.asarray(math.exp(self.mu / 2.0) * np.exp(self.sigma / 2.0 * _special().ndtri(q)), dtype=float)

    def to_pymc(self, name: str, **kwargs: Any):
        import pymc as pm

        return pm.LogNormal(name, mu=self.mu / 2.0, sigma=self.sigma / 2.0, **kwargs)

    def __repr__(self) -> str:
        tail = f", source={self.source!r}" if self.source else ""
        return f"LogNormalTau2(mu={self.mu!r}, sigma={self.sigma!r}{tail})"


@dataclass(frozen=True)
class LogTTau2(Prior):
    """log(tau^2) ~ Student-t(nu, location mu, scale sigma) (Rhodes et al. 2015, nu = 5).

    The prior is on tau: density t(2 log tau) * 2 / tau. In PyMC, ``name`` is a CustomDist on tau
    (log transform for sampling) whose log density is exactly :meth:`logpdf`.
    """

    mu: float
    sigma: float
    nu: float = 5.0
    source: str | None = field(default=None, compare=False, repr=False)
    family: ClassVar[str] = "log_t_tau2"

    def __post_init__(self) -> None:
        _finite("LogTTau2", mu=self.mu)
        _positive("LogTTau2", sigma=self.sigma, nu=self.nu)

    def _make_dist(self):
        return _stats().t(self.nu, loc=self.mu, scale=self.sigma)

    def _t(self):
        return self._dist()

    @property
    def support(self) -> tuple[float, float]:
        return 0.0, math.inf

    def logpdf(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            lx = np.log(np.where(x > 0, x, 1.0))
            out = self._t().logpdf(2.0 * lx) + _LOG2 - lx
        return np.where(x > 0, out, -np.inf)

    def cdf(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            return np.where(x > 0, self._t().cdf(2.0 * np.log(np.where(x > 0, x, 1.0))), 0.0)

    def ppf(self, q: Any) -> np.ndarray:
        with np.errstate(over="ignore"):  # a heavy tail's extreme quantile is inf, said without a warning
            return np.exp(self._t().ppf(np.asarray(q, dtype=float)) / 2.0)

    def sample(self, rng, size=None) -> np.ndarray:
        return np.exp(self._t().rvs(size=size, random_state=np.random.default_rng(rng)) / 2.0)

    def to_pymc(self, name: str, **kwargs: Any):
        import pymc as pm
        import pytensor.tensor as pt

        def dist(mu, sigma, nu, size):
            # tau = exp(log(tau^2) / 2): PyMC derives the log density (with its Jacobian) itself
            return pt.exp(pm.StudentT.dist(nu=nu, mu=mu, sigma=sigma, size=size) / 2.0)

        kwargs.setdefault("transform", pm.distributions.transforms.log)
        return pm.CustomDist(name, self.mu, self.sigma, self.nu, dist=dist, **kwargs)

    def __repr__(self) -> str:
        tail = f", source={self.source!r}" if self.source else ""
        return f"LogTTau2(mu={self.mu!r}, sigma={self.sigma!r}, nu={self.nu!r}{tail})"


# ------------------------------------------------------------------ location priors
@dataclass(frozen=True)
class Normal(Prior):
    """Normal(mu, sigma^2) (sigma is the standard deviation)."""

    mu: float
    sigma: float
    family: ClassVar[str] = "normal"

    def __post_init__(self) -> None:
        _finite("Normal", mu=self.mu)
        _positive("Normal", sigma=self.sigma)

    def _make_dist(self):
        return _stats().norm(self.mu, self.sigma)

    @property
    def support(self) -> tuple[float, float]:
        return -math.inf, math.inf

    def logpdf(self, x: Any) -> np.ndarray:
        return _loc_scale_logpdf(x, self.mu, self.sigma, -math.inf, math.inf, lambda z: -z * z / 2.0 - _LOG_SQRT_2PI)

    def cdf(self, x: Any) -> np.ndarray:
        return _loc_scale_cdf(x, self.mu, self.sigma, -math.inf, math.inf, _special().ndtr)

    def ppf(self, q: Any) -> np.ndarray:
        return _loc_scale_ppf(q, self.mu, self.sigma, -math.inf, math.inf, _special().ndtri)

    def to_pymc(self, name: str, **kwargs: Any):
        import pymc as pm

        return pm.Normal(name, mu=self.mu, sigma=self.sigma, **kwargs)


@dataclass(frozen=True)
class StudentT(Prior):
    """Student-t with ``nu`` degrees of freedom, location ``mu`` and scale ``sigma``."""

    nu: float
    mu: float
    sigma: float
    family: ClassVar[str] = "student_t"

    def __post_init__(self) -> None:
        _finite("StudentT", mu=self.mu)
        _positive("StudentT", nu=self.nu, sigma=self.sigma)

    def _make_dist(self):
        return _stats().t(self.nu, loc=self.mu, scale=self.sigma)

    def to_pymc(self, name: str, **kwargs: Any):
        import pymc as pm

        return pm.StudentT(name, nu=self.nu, mu=self.mu, sigma=self.sigma, **kwargs)


@dataclass(frozen=True)
class Flat(Prior):
    """Improper uniform prior on the real line (location parameters; log density 0)."""

    family: ClassVar[str] = "flat"
    proper: ClassVar[bool] = False

    @property
    def support(self) -> tuple[float, float]:
        return -math.inf, math.inf

    def logpdf(self, x: Any) -> np.ndarray:
        return np.zeros_like(np.asarray(x, dtype=float))

    def cdf(self, x: Any) -> np.ndarray:
        raise SpecError("Flat: an improper prior has no cdf")

    def ppf(self, q: Any) -> np.ndarray:
        raise SpecError("Flat: an improper prior has no quantiles")

    def sample(self, rng, size=None) -> np.ndarray:
        raise SpecError("Flat: an improper prior cannot be sampled")

    def plot(self, ax=None, **kwargs: Any):
        raise SpecError("Flat: an improper prior has no density to plot")

    def to_pymc(self, name: str, **kwargs: Any):
        import pymc as pm

        return pm.Flat(name, **kwargs)


# ------------------------------------------------------------------ empirical prior tables
def _norm_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", str(text).lower()).strip()


# Turner et al. (2015), Table IV: mu (sigma) of log(tau^2) on the log-OR scale, columns C1..C5.
# Values as in bayesmeta 3.4 (R/bayesmeta.R, TurnerEtAlParameters), see shared/evidence/priors.md.
_TURNER_ROWS: tuple[tuple[str, tuple[str, ...], tuple[tuple[float, float], ...]], ...] = (
    ("all-cause mortality", (),
     ((-3.95, 1.34), (-4.18, 1.41), (-4.17, 1.55), (-2.92, 1.02), (-3.50, 1.26))),
    ("obstetric outcomes", ("obstetric",),
     ((-3.52, 1.74), (-3.75, 1.79), (-3.74, 1.91), (-2.49, 1.50), (-3.08, 1.68))),
    ("cause-specific mortality / major morbidity / composite",
     ("cause-specific mortality", "major morbidity", "composite",
      "cause-specific mortality / major morbidity event / composite (mortality or morbidity)"),
     ((-3.71, 1.74), (-3.95, 1.79), (-3.93, 1.91), (-2.68, 1.51), (-3.27, 1.68))),
    ("resource use / hospital stay / process", ("resource use", "hospital stay", "process"),
     ((-2.34, 1.74), (-2.58, 1.79), (-2.56, 1.91), (-1.31, 1.50), (-1.90, 1.68))),
    ("surgical / device-related success / failure",
     ("surgical", "device related", "surgical / device related success / failure"),
     ((-2.14, 1.74), (-2.37, 1.79), (-2.36, 1.91), (-1.11, 1.50), (-1.69, 1.68))),
    ("withdrawals / drop-outs", ("withdrawals", "drop-outs", "dropouts"),
     ((-2.99, 1.74), (-3.23, 1.79), (-3.21, 1.91), (-1.96, 1.51), (-2.55, 1.68))),
    ("internal / structure-related outcomes", ("internal", "structure-related", "internal structure"),
     ((-2.71, 1.74), (-2.94, 1.79), (-2.93, 1.92), (-1.67, 1.51), (-2.26, 1.68))),
    ("general physical health indicators", ("general physical health",),
     ((-2.29, 1.53), (-2.53, 1.58), (-2.51, 1.72), (-1.26, 1.25), (-1.85, 1.46))),
    ("adverse events", ("adverse event",),
     ((-1.87, 1.52), (-2.10, 1.58), (-2.10, 1.71), (-0.84, 1.24), (-1.43, 1.45))),
    ("infection / onset of new disease", ("infection", "onset of new disease"),
     ((-2.49, 1.52), (-2.73, 1.58), (-2.71, 1.71), (-1.46, 1.24), (-2.05, 1.45))),
    ("signs / symptoms reflecting continuation / end of condition",
     ("signs / symptoms", "signs symptoms"),
     ((-2.06, 1.51), (-2.29, 1.58), (-2.28, 1.71), (-1.03, 1.24), (-1.61, 1.45))),
    ("pain", (),
     ((-1.83, 1.52), (-2.06, 1.58), (-2.05, 1.71), (-0.80, 1.25), (-1.38, 1.45))),
    ("quality of life / functioning (dichotomized)", ("quality of life", "functioning"),
     ((-2.54, 1.54), (-2.78, 1.60), (-2.77, 1.73), (-1.51, 1.27), (-2.10, 1.47))),
    ("mental health indicators", ("mental health",),
     ((-2.12, 1.53), (-2.35, 1.60), (-2.34, 1.72), (-1.09, 1.27), (-1.67, 1.47))),
    ("biological markers (dichotomized)", ("biological markers", "biological marker"),
     ((-1.77, 1.52), (-2.00, 1.58), (-1.99, 1.71), (-0.74, 1.24), (-1.33, 1.45))),
    ("subjective outcomes (various)", ("subjective outcomes", "subjective"),
     ((-2.70, 1.52), (-2.93, 1.58), (-2.92, 1.71), (-1.67, 1.25), (-2.26, 1.45))),
)
# Marginal predictive distribution, any setting (Turner et al. 2015, p. 993): one cell.
_TURNER_MARGINAL = (-2.56, 1.74)

TURNER_COMPARISONS: dict[str, int] = {
    "pharma_vs_placebo": 0, "pharma_vs_pharma": 1, "nonpharma_vs_placebo": 2,
    "nonpharma_vs_pharma": 3, "nonpharma_vs_nonpharma": 4,
}
_TURNER_COMPARISON_ALIASES = {**{f"c{i + 1}": i for i in range(5)},
                              "pharma_vs_control": 0, "nonpharma_vs_control": 2}
TURNER_OUTCOMES: tuple[str, ...] = tuple(row[0] for row in _TURNER_ROWS) + ("marginal",)


def _lookup_outcome(outcome_type: str, names: Mapping[str, int], allowed: tuple[str, ...], who: str) -> int:
    key = _norm_key(outcome_type)
    if key in names:
        return names[key]
    raise SpecError(f"{who}: outcome_type {outcome_type!r} is not in the table; allowed: "
                    + "; ".join(repr(a) for a in allowed))


def _lookup_comparison(comparison: str, canonical: Mapping[str, int], aliases: Mapping[str, int], who: str) -> int:
    key = _norm_key(comparison).replace(" ", "_")
    if key in canonical:
        return canonical[key]
    if key in aliases:
        return aliases[key]
    raise SpecError(f"{who}: comparison {comparison!r} is not allowed; allowed: {', '.join(canonical)}")


_TURNER_NAMES: dict[str, int] = {}
for _i, (_label, _aliases, _) in enumerate(_TURNER_ROWS):
    for _name in (_label, *_aliases):
        _TURNER_NAMES[_norm_key(_name)] = _i


def turner_prior(outcome_type: str, comparison: str = "pharma_vs_placebo") -> LogNormalTau2:
    """Turner et al. (2015) empirical prior for tau on the log-odds-ratio scale.

    Parameters
    ----------
    outcome_type : str
        A row of Table IV, e.g. ``"adverse events"``, ``"all-cause mortality"``, ``"pain"``
        (case and punctuation ignored; see ``TURNER_OUTCOMES``), or ``"marginal"`` for the
        marginal distribution over all settings (p. 993; the comparison is then ignored).
    comparison : str
        ``pharma_vs_placebo`` (C1), ``pharma_vs_pharma`` (C2), ``nonpharma_vs_placebo`` (C3),
        ``nonpharma_vs_pharma`` (C4), ``nonpharma_vs_nonpharma`` (C5); ``"C1"``..``"C5"`` also work.

    Returns
    -------
    LogNormalTau2
        log(tau^2) ~ Normal(mu, sigma^2).

    Raises
    ------
    SpecError
        Unknown outcome type or comparison (the message lists the allowed values).
    """
    who = "turner_prior"
    if _norm_key(outcome_type) == "marginal":
        mu, sigma = _TURNER_MARGINAL
        return LogNormalTau2(mu, sigma, source="Turner et al. 2015, marginal (any setting)")
    row = _lookup_outcome(outcome_type, _TURNER_NAMES, TURNER_OUTCOMES, who)
    col = _lookup_comparison(comparison, TURNER_COMPARISONS, _TURNER_COMPARISON_ALIASES, who)
    label, _, cells = _TURNER_ROWS[row]
    mu, sigma = cells[col]
    return LogNormalTau2(mu, sigma, source=f"Turner et al. 2015 Table IV: {label}, C{col + 1}")


# Rhodes et al. (2015): location (scale) of a t5 distribution for log(tau^2) on the SMD scale,
# columns P1 (pharma vs placebo), P2 (pharma vs pharma), N (non-pharmacological). Values as in
# bayesmeta 3.4 (RhodesEtAlParameters), see shared/evidence/priors.md. ``None`` marks a cell that
# breaks the table's additive pattern and could not be verified against the published tables: it is
# not shipped (see _RHODES_WITHHELD).
_Cell = tuple[float, float] | None
_RHODES_ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("obstetric outcome", ("obstetric", "obstetric outcomes")),
    ("resource use / hospital stay / process", ("resource use", "hospital stay", "process")),
    ("internal / external structure-related outcome",
     ("internal", "internal structure", "structure-related", "internal and external structure-related outcome")),
    ("general physical health / adverse event / pain / quality of life",
     ("general physical health", "adverse event", "adverse events", "pain", "quality of life", "functioning")),
    ("signs / symptoms / infection",
     ("signs / symptoms", "signs symptoms", "infection", "onset of new disease",
      "signs / symptoms reflecting continuation / end of condition")),
    ("mental health outcome", ("mental health", "mental health indicators")),
    ("biological marker", ("biological markers",)),
    ("various subjectively measured outcomes", ("subjective", "subjective outcomes")),
)
_RHODES_TABLES: dict[str, tuple[tuple[_Cell, _Cell, _Cell], ...]] = {
    "other": (
        ((-4.13, 2.34), (-4.40, 2.31), (-3.99, 2.11)),
        ((-2.55, 2.73), (-2.83, 2.70), (-2.41, 2.57)),
        ((-2.43, 2.50), (-2.70, 2.46), (-2.29, 2.32)),
        ((-3.16, 2.50), (-3.44, 2.44), (-3.02, 2.27)),
        ((-3.00, 2.50), (-3.27, 2.47), (-2.86, 2.33)),
        ((-2.99, 2.16), (-3.27, 2.14), None),
        ((-3.41, 2.83), (-3.68, 2.78), (-3.27, 2.66)),
        ((-2.76, 2.58), (-3.03, 2.59), (-2.62, 2.41)),
    ),
    "respiratory": (
        ((-6.03, 2.36), (-6.31, 2.31), (-5.89, 2.21)),
        ((-4.46, 2.74), (-4.73, 2.70), (-4.32, 2.57)),
        ((-4.33, 2.51), (-4.61, 2.46), (-4.19, 2.33)),
        ((-5.07, 2.51), (-5.34, 2.45), (-4.93, 2.28)),
        ((-4.90, 2.50), (-5.18, 2.47), (-4.76, 2.33)),
        ((-4.90, 2.17), (-5.17, 2.14), (-4.76, 1.94)),
        ((-5.31, 2.83), (-5.59, 2.78), (-5.17, 2.66)),
        ((-4.66, 2.59), (-4.94, 2.59), (-4.52, 2.41)),
    ),
    # cancer / resource use / P1 is +0.01: bayesmeta stores the negated vector -c(1.57, -0.01, ...);
    # rnmamod's copy (table_tau2_prior) shows -0.01, a sign slip in copying that same vector. The
    # table's additive pattern (P2 = -0.27, N = 0.15) also gives +0.01.
    "cancer": (
        ((-1.57, 2.45), (-1.85, 2.41), (-1.43, 2.24)),
        ((0.01, 2.83), (-0.27, 2.79), (0.15, 2.68)),
        ((-0.13, 2.61), None, None),
        ((-0.60, 2.61), (-0.88, 2.55), (-0.46, 2.40)),
        ((-0.44, 2.60), (-0.71, 2.57), (-0.30, 2.46)),
        ((-0.43, 2.28), (-0.71, 2.25), (-0.29, 2.08)),
        ((-0.85, 2.93), (-1.13, 2.87), (-0.71, 2.78)),
        ((-0.20, 2.68), (-0.48, 2.68), (-0.06, 2.53)),
    ),
}
# Marginal distribution, any setting (start of section 3.3), medical area "other", P1 only.
_RHODES_MARGINAL = (-3.44, 2.59)
# Cells withheld and why (bayesmeta's values, which break the additive pattern of the table; the only
# other public copy found, rnmamod's table_tau2_prior, was copied from bayesmeta's source, so it
# cannot confirm them, and the published tables could not be consulted).
_RHODES_WITHHELD: dict[tuple[str, int, int], str] = {
    ("other", 5, 2): "bayesmeta lists -3.85 where the pattern gives about -2.85",
    ("cancer", 2, 1): "bayesmeta lists -0.14 where the pattern gives about -0.41",
    ("cancer", 2, 2): "bayesmeta lists 0.27 where the pattern gives about 0.01",
}
RHODES_AREAS: tuple[str, ...] = tuple(_RHODES_TABLES)
RHODES_COMPARISONS: dict[str, int] = {"pharma_vs_placebo": 0, "pharma_vs_pharma": 1, "nonpharma": 2}
_RHODES_COMPARISON_ALIASES = {"p1": 0, "p2": 1, "n": 2, "pharma_vs_control": 0, "nonpharma_vs_placebo": 2,
                              "nonpharma_vs_pharma": 2, "nonpharma_vs_nonpharma": 2, "nonpharma_vs_control": 2}
RHODES_OUTCOMES: tuple[str, ...] = tuple(row[0] for row in _RHODES_ROWS) + ("marginal",)
_RHODES_NAMES: dict[str, int] = {}
for _i, (_label, _aliases) in enumerate(_RHODES_ROWS):
    for _name in (_label, *_aliases):
        _RHODES_NAMES[_norm_key(_name)] = _i


def rhodes_prior(outcome_type: str, comparison: str = "pharma_vs_placebo", area: str = "other") -> LogTTau2:
    """Rhodes et al. (2015) empirical prior for tau on the standardized-mean-difference scale.

    Parameters
    ----------
    outcome_type : str
        A row of Table 3 / A.3.x, e.g. ``"biological marker"``, ``"mental health"``,
        ``"general physical health"`` (also ``"adverse event"``, ``"pain"``, ``"quality of life"``);
        see ``RHODES_OUTCOMES``; ``"marginal"`` for the marginal distribution (area "other", P1).
    comparison : str
        ``pharma_vs_placebo`` (P1), ``pharma_vs_pharma`` (P2), ``nonpharma`` (N: any comparison
        with a non-pharmacological intervention); ``"P1"``, ``"P2"``, ``"N"`` also work.
    area : str
        Medical area: ``"other"`` (Table 3), ``"respiratory"`` (A.3.1), ``"cancer"`` (A.3.2).

    Returns
    -------
    LogTTau2
        log(tau^2) ~ t5(location, scale).

    Raises
    ------
    SpecError
        Unknown outcome, comparison or area, or a cell withheld as unverified.
    """
    who = "rhodes_prior"
    area_key = _norm_key(area)
    if area_key not in _RHODES_TABLES:
        raise SpecError(f"{who}: area {area!r} is not allowed; allowed: {', '.join(RHODES_AREAS)}")
    if _norm_key(outcome_type) == "marginal":
        mu, sigma = _RHODES_MARGINAL
        return LogTTau2(mu, sigma, 5.0, source="Rhodes et al. 2015, marginal (any setting)")
    row = _lookup_outcome(outcome_type, _RHODES_NAMES, RHODES_OUTCOMES, who)
    col = _lookup_comparison(comparison, RHODES_COMPARISONS, _RHODES_COMPARISON_ALIASES, who)
    cell = _RHODES_TABLES[area_key][row][col]
    names = ("P1", "P2", "N")
    if cell is None:
        raise SpecError(f"{who}: the cell {area_key} / {_RHODES_ROWS[row][0]} / {names[col]} is not shipped: "
                        f"{_RHODES_WITHHELD[(area_key, row, col)]}, and it could not be checked against the "
                        "published table; give the prior explicitly as family = 'log_t_tau2'")
    mu, sigma = cell
    return LogTTau2(mu, sigma, 5.0, source=f"Rhodes et al. 2015: {area_key} / {_RHODES_ROWS[row][0]} / {names[col]}")


# ------------------------------------------------------------------ spec tables
PRIOR_FAMILIES: dict[str, type[Prior]] = {
    cls.family: cls for cls in (HalfNormal, HalfCauchy, HalfStudentT, Uniform, Exponential, LogNormalTau2,
                                LogTTau2, Normal, StudentT, Flat)
}
_FAMILY_ALIASES = {"halfnormal": "half_normal", "halfcauchy": "half_cauchy", "half_t": "half_student_t",
                   "half_studentt": "half_student_t", "log_normal_tau2": "lognormal_tau2",
                   "logt_tau2": "log_t_tau2", "studentt": "student_t", "t": "student_t"}
_LOOKUPS = {"turner": ("outcome_type", "comparison"), "rhodes": ("outcome_type", "comparison", "area")}


def _spec_params(cls: type[Prior]) -> tuple[list[str], list[str]]:
    """Required and optional spec keys of a family (its dataclass fields shown in the repr)."""
    required = [f.name for f in fields(cls) if f.repr and f.default is MISSING]
    optional = [f.name for f in fields(cls) if f.repr and f.default is not MISSING]
    return required, optional


def prior_from_spec(table: Mapping[str, Any]) -> Prior:
    """Build a prior from a spec table.

    Examples: ``{family = "half_normal", scale = 0.5}``, ``{family = "normal", mu = 0, sigma = 2}``,
    ``{family = "turner", outcome_type = "adverse events", comparison = "pharma_vs_placebo"}``,
    ``{family = "rhodes", outcome_type = "biological marker", comparison = "pharma_vs_placebo",
    area = "other"}``. ``prior_from_spec(p.to_dict()) == p`` for every prior ``p``.

    Raises
    ------
    SpecError
        Naming the key at fault (``family``, a missing or unknown parameter, a non-numeric value)
        and the allowed values.
    """
    if not isinstance(table, Mapping):
        raise SpecError(f"prior: expected a table such as {{family = 'half_normal', scale = 0.5}}; got {table!r}")
    allowed_families = sorted(PRIOR_FAMILIES) + sorted(_LOOKUPS)
    if "family" not in table:
        raise SpecError(f"prior {dict(table)!r}: key 'family' is required; allowed: {', '.join(allowed_families)}")
    raw_family = table["family"]
    family = _FAMILY_ALIASES.get(str(raw_family).lower(), str(raw_family).lower())
    params = {k: v for k, v in table.items() if k != "family"}
    if family in _LOOKUPS:
        keys = _LOOKUPS[family]
        unknown = sorted(set(params) - set(keys))
        if unknown:
            raise SpecError(f"prior family {family!r}: unknown key {unknown[0]!r}; allowed: family, {', '.join(keys)}")
        if "outcome_type" not in params:
            raise SpecError(f"prior family {family!r}: key 'outcome_type' is required")
        for key, value in params.items():
            if not isinstance(value, str):
                raise SpecError(f"prior family {family!r}: key {key!r} must be a string; got {value!r}")
        return turner_prior(**params) if family == "turner" else rhodes_prior(**params)
    if family not in PRIOR_FAMILIES:
        raise SpecError(f"prior: key 'family' = {raw_family!r} is not allowed; allowed: {', '.join(allowed_families)}")
    cls = PRIOR_FAMILIES[family]
    required, optional = _spec_params(cls)
    unknown = sorted(set(params) - set(required) - set(optional))
    if unknown:
        raise SpecError(f"prior family {family!r}: unknown key {unknown[0]!r}; allowed: "
                        f"{', '.join(['family', *required, *optional])}")
    missing = [k for k in required if k not in params]
    if missing:
        raise SpecError(f"prior family {family!r}: key {missing[0]!r} is required; needs: "
                        f"{', '.join(['family', *required])}")
    values: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(f"prior family {family!r}: key {key!r} must be a number; got {value!r}")
        values[key] = float(value)
    return cls(**values)


# ------------------------------------------------------------------ one parser for every way of naming a prior
_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$", re.DOTALL)
_CLASS_NAMES = {cls.__name__.lower(): family for family, cls in PRIOR_FAMILIES.items()}
PRIOR_FORMS = ('a prior object (HalfNormal(0.5)), a string such as "half_normal(0.5)", "normal(0, 2)", '
               '"student_t(nu=3, mu=0, sigma=1)" or "half_normal:0.5", or a table such as '
               '{"family": "half_normal", "scale": 0.5}')


def _family_key(name: str) -> str:
    key = name.strip().lower()
    key = _CLASS_NAMES.get(key.replace("_", ""), key)
    return _FAMILY_ALIASES.get(key, key)


def _literal(text: str, whole: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return float(text)
    except ValueError:
        raise SpecError(f"prior {whole!r}: {text!r} is not a number; write it as {PRIOR_FORMS}") from None


def _parse_text(text: str) -> Prior:
    """A prior from a string: ``family(args)`` (positional in the family's parameter order, or
    ``key=value``), the CLI's ``family:value`` shorthand, or a bare family that needs no parameter."""
    whole = text
    match = _CALL.match(text)
    if match:
        name, inner = match.group(1), match.group(2)
        parts = [p for p in (x.strip() for x in inner.split(",")) if p] if inner.strip() else []
    elif ":" in text:
        name, _, inner = text.partition(":")
        parts = [p.strip() for p in inner.split(",") if p.strip()]
        if not parts:
            raise SpecError(f"prior {whole!r}: no value after ':'; write it as {PRIOR_FORMS}")
    else:
        name, parts = text, []
    family = _family_key(name)
    allowed = sorted(PRIOR_FAMILIES) + sorted(_LOOKUPS)
    if family not in PRIOR_FAMILIES and family not in _LOOKUPS:
        raise SpecError(f"prior {whole!r}: unknown family {name.strip()!r}; allowed: {', '.join(allowed)}")
    order = list(_LOOKUPS[family]) if family in _LOOKUPS else [n for group in _spec_params(PRIOR_FAMILIES[family])
                                                                   for n in group]
    table: dict[str, Any] = {"family": family}
    for i, part in enumerate(parts):
        key, eq, value = part.partition("=")
        if eq:
            table[key.strip()] = _literal(value, whole)
        elif i < len(order):
            table[order[i]] = _literal(part, whole)
        else:
            raise SpecError(f"prior {whole!r}: {family} takes at most {len(order)} value(s) "
                            f"({', '.join(order)}); got {len(parts)}")
    return prior_from_spec(table)


def parse_prior(value: Any) -> Prior:
    """Any way of naming a prior -> a :class:`Prior`: the parser shared by the CLI, specs and the API.

    Parameters
    ----------
    value : Prior, str or mapping
        A prior object (returned as is); a string ``"half_normal(0.5)"``, ``"normal(0, 2)"``,
        ``"HalfNormal(scale=0.5)"`` (the repr), ``"student_t(nu=3, mu=0, sigma=1)"``,
        ``"turner('adverse events', 'pharma_vs_placebo')"``, the CLI shorthand ``"half_normal:0.5"``,
        or ``"flat"``; a PyMC distribution of a shared family (``pm.HalfNormal.dist(sigma=0.5)``); a table ``{"family": "half_normal", "scale": 0.5}`` (see
        :func:`prior_from_spec`).

    Returns
    -------
    Prior

    Raises
    ------
    SpecError
        An unknown family, a missing, extra or non-numeric parameter, or an object of another kind
        (e.g. a PyMC distribution), with the accepted forms.

    Examples
    --------
    >>> parse_prior("half_normal(0.5)") == HalfNormal(0.5)
    True
    >>> parse_prior({"family": "normal", "mu": 0, "sigma": 2}) == Normal(0.0, 2.0)
    True
    """
    if isinstance(value, Prior):
        return value
    if isinstance(value, Mapping):
        return prior_from_spec(value)
    if isinstance(value, str):
        if not value.strip():
            raise SpecError(f"prior: empty string; write it as {PRIOR_FORMS}")
        return _parse_text(value)
    from_pymc = _from_pymc(value)
    if from_pymc is not None:
        return from_pymc
    raise SpecError(f"prior: cannot use {type(value).__name__} {value!r}; give {PRIOR_FORMS}")


def _from_pymc(value: Any) -> Prior | None:
    """A PyMC distribution made with ``.dist()`` (e.g. ``pm.HalfNormal.dist(0.5)``) as the same prior, for
    the families both share; None for anything else."""
    owner = getattr(value, "owner", None)
    op_name = getattr(getattr(owner, "op", None), "name", None)
    if op_name is None:
        return None
    try:
        params = [float(f"{float(np.asarray(x.eval())):.7g}") for x in owner.inputs[2:]]
    except Exception:  # noqa: BLE001 - parameters that are not constants
        return None
    if op_name == "halfnormal" and len(params) == 2 and params[0] == 0:
        return HalfNormal(params[1])
    if op_name == "normal" and len(params) == 2:
        return Normal(*params)
    if op_name == "halfcauchy" and params:
        return HalfCauchy(params[-1])
    if op_name == "t" and len(params) == 3:
        return StudentT(*params)
    if op_name == "exponential" and len(params) == 1 and params[0] > 0:
        return Exponential(float(f"{1.0 / params[0]:.7g}"))
    if op_name == "uniform" and len(params) == 2:
        return Uniform(*params)
    raise SpecError(f"prior: the PyMC distribution {op_name!r} has no counterpart here; give {PRIOR_FORMS}")
