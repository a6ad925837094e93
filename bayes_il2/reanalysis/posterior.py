"""Posterior of a trial's effect under a prior: exact grid integration (binary) or closed form (continuous).

Binary endpoints use the exact binomial likelihood of both arms,

    events_c ~ Bin(n_c, expit(alpha)),  events_t ~ Bin(n_t, expit(alpha + delta)),

with delta the log odds ratio and alpha the control-arm logit, which gets a vague N(0, 10²) prior
by default. The joint posterior is evaluated on a (alpha, delta) grid, refined once to the region
holding all but exp(-40) of the mass, and integrated by the trapezoid rule (the 2-D analogue of
bayesmeta's exact engine; Röver 2020, J Stat Softw 93(6)). The risk difference
expit(alpha + delta) - expit(alpha) is summarised from the same grid.

Continuous endpoints (a difference with a CI) use the normal likelihood; a normal-mixture prior
gives a normal-mixture posterior in closed form (:meth:`NormalMixture.update_normal`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
from scipy import special, stats

from bayes_il2.errors import ModelError
from bayes_il2.reanalysis.endpoints import BinaryEndpoint, ContinuousEndpoint, Endpoint
from bayes_il2.reanalysis.mixture import FlatPrior, NormalMixture

#: Default SD of the vague N(0, sd²) prior on the control-arm logit.
BASELINE_SD = 10.0
_LOG_TAIL = 40.0  # keep the region within exp(-40) of the maximum


@dataclass(frozen=True, eq=False)
class GridPosterior:
    """A posterior on a grid of the log odds ratio (and of the control logit).

    Attributes
    ----------
    delta : ndarray
        Grid of the log odds ratio.
    density : ndarray
        Marginal posterior density of delta on the grid (integrates to 1).
    alpha : ndarray
        Grid of the control-arm logit.
    alpha_density : ndarray
        Marginal posterior density of alpha.
    rd_sorted, rd_cumweight : ndarray or None
        Risk differences of the grid cells in increasing order and their cumulative posterior mass
        (one value per cell: 600,000 each on the default grid). None in a posterior made by
        :meth:`without_rd_arrays`, which rebuilds them when a risk-difference quantity is asked for.
    rebuild : callable or None
        Recomputes this posterior (the same call of :func:`binary_posterior`, deterministic).
    """

    delta: np.ndarray
    density: np.ndarray
    alpha: np.ndarray
    alpha_density: np.ndarray
    rd_sorted: np.ndarray | None = field(repr=False)
    rd_cumweight: np.ndarray | None = field(repr=False)
    rd_mean_value: float = float("nan")
    rebuild: Callable[[], GridPosterior] | None = field(default=None, repr=False)

    def without_rd_arrays(self) -> GridPosterior:
        """The same posterior without the per-cell risk-difference arrays (about 10 MB on the default
        grid), for one that is kept after its risk-difference summary has been read: a later
        risk-difference query rebuilds them (issue #19, peak memory of a reanalysis). Itself where
        it cannot be rebuilt."""
        if self.rebuild is None or self.rd_sorted is None:
            return self
        return replace(self, rd_sorted=None, rd_cumweight=None)

    def _rd_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self.rd_sorted is not None and self.rd_cumweight is not None:
            return self.rd_sorted, self.rd_cumweight
        if self.rebuild is None:
            raise ModelError("this grid posterior holds no risk-difference arrays and cannot rebuild them")
        full = self.rebuild()
        return full._rd_arrays()

    @property
    def _cdf_grid(self) -> np.ndarray:
        steps = np.diff(self.delta) * (self.density[1:] + self.density[:-1]) / 2
        cdf = np.concatenate([[0.0], np.cumsum(steps)])
        return cdf / cdf[-1]

    def pdf(self, x: np.ndarray) -> np.ndarray:
        return np.interp(x, self.delta, self.density, left=0.0, right=0.0)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return np.interp(x, self.delta, self._cdf_grid, left=0.0, right=1.0)

    def sf(self, x: np.ndarray) -> np.ndarray:
        return 1.0 - self.cdf(x)

    def ppf(self, q: np.ndarray | float) -> np.ndarray:
        cdf = self._cdf_grid
        keep = np.concatenate([[True], np.diff(cdf) > 0])
        return np.interp(q, cdf[keep], self.delta[keep])

    def mean(self) -> float:
        return float(np.trapezoid(self.delta * self.density, self.delta))

    def sd(self) -> float:
        return float(np.sqrt(np.trapezoid((self.delta - self.mean()) ** 2 * self.density, self.delta)))

    def rd_ppf(self, q: np.ndarray | float) -> np.ndarray:
        """Quantiles of the risk difference (treated minus control)."""
        rd, cum = self._rd_arrays()
        return np.interp(q, cum, rd)

    def rd_cdf(self, x: np.ndarray | float) -> np.ndarray:
        """Posterior P(risk difference < x) (treated minus control)."""
        rd, cum = self._rd_arrays()
        return np.interp(x, rd, cum, left=0.0, right=1.0)

    def rd_mean(self) -> float:
        return self.rd_mean_value

    def alpha_cdf(self, x: np.ndarray) -> np.ndarray:
        steps = np.diff(self.alpha) * (self.alpha_density[1:] + self.alpha_density[:-1]) / 2
        cdf = np.concatenate([[0.0], np.cumsum(steps)])
        return np.interp(x, self.alpha, cdf / cdf[-1], left=0.0, right=1.0)


LogPrior2D = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _logit_range(events: int, n: int) -> tuple[float, float]:
    """A range of the logit surely holding the arm's likelihood mass (Jeffreys-beta quantiles)."""
    q = stats.beta.ppf([1e-14, 1 - 1e-14], events + 0.5, n - events + 0.5)
    lo, hi = special.logit(np.clip(q, 1e-300, 1 - 1e-16))
    return float(max(lo, -60.0)) - 1.0, float(min(hi, 60.0)) + 1.0


def _log_likelihood(endpoint: BinaryEndpoint, alpha: np.ndarray, delta: np.ndarray) -> np.ndarray:
    a = alpha[:, None]
    eta = a + delta[None, :]
    lc = endpoint.events_c * special.log_expit(a) + (endpoint.n_c - endpoint.events_c) * special.log_expit(-a)
    lt = endpoint.events_t * special.log_expit(eta) + (endpoint.n_t - endpoint.events_t) * special.log_expit(-eta)
    return lc + lt


def binary_posterior(endpoint: BinaryEndpoint, prior: NormalMixture | FlatPrior | None = None, *,
                     baseline_sd: float | None = BASELINE_SD, joint_log_prior: LogPrior2D | None = None,
                     alpha_range: tuple[float, float] | None = None,
                     delta_range: tuple[float, float] | None = None,
                     n_alpha: int = 500, n_delta: int = 1200) -> GridPosterior:
    """Exact posterior of the log odds ratio of a two-arm binary endpoint by 2-D grid integration.

    Parameters
    ----------
    endpoint : BinaryEndpoint
    prior : NormalMixture or FlatPrior
        Prior of the log odds ratio delta (independent of the baseline).
    baseline_sd : float or None
        SD of the N(0, sd²) prior on the control logit alpha; None = flat.
    joint_log_prior : callable (alpha[:, None], delta[None, :]) -> log density, optional
        A joint prior instead of ``prior`` and ``baseline_sd`` (e.g. independent beta priors per
        arm, transformed; used to check against the beta-binomial closed form).
    alpha_range, delta_range : (float, float), optional
        Grid ranges of the first pass (default: from the data and the prior).
    n_alpha, n_delta : int
        Points of each grid pass.

    Returns
    -------
    GridPosterior
    """
    if joint_log_prior is None:
        if prior is None:
            raise ModelError("binary_posterior needs a prior (or joint_log_prior)")
        if isinstance(prior, FlatPrior) and flat_is_improper(endpoint, baseline_sd):
            raise ModelError(f"{endpoint.name} ({endpoint.describe()}): a flat prior on the log odds ratio gives "
                             "an improper posterior when an arm has no events or only events; use a proper "
                             "prior (e.g. 'neutral')")

        def joint_log_prior(a: np.ndarray, d: np.ndarray) -> np.ndarray:
            out = prior.logpdf(d)
            if baseline_sd is not None:
                out = out + stats.norm.logpdf(a, 0.0, baseline_sd)
            return out

    given_alpha_range, given_delta_range = alpha_range, delta_range  # None: chosen below from the data
    c_lo, c_hi = _logit_range(endpoint.events_c, endpoint.n_c)
    t_lo, t_hi = _logit_range(endpoint.events_t, endpoint.n_t)
    if alpha_range is None:
        alpha_range = (c_lo, c_hi)
    if delta_range is None:
        lo, hi = t_lo - c_hi, t_hi - c_lo
        if isinstance(prior, NormalMixture):
            p_lo, p_hi = prior.ppf([1e-12, 1 - 1e-12])
            lo, hi = min(lo, p_lo), max(hi, p_hi)
        delta_range = (lo, hi)

    a, d, logj = _evaluate(endpoint, joint_log_prior, alpha_range, delta_range, n_alpha, n_delta)
    # further passes on the region that holds the mass, until it spans a quarter of each grid: a
    # prior much narrower than the likelihood (--or-important 1.00001: N(0, 6e-6^2)) fell between two
    # points of the second pass, and its quantiles came out 1000 times too wide
    for passes in range(1, 10):
        a_keep = np.flatnonzero(special.logsumexp(logj, axis=1) > logj.max() - _LOG_TAIL)
        d_keep = np.flatnonzero(special.logsumexp(logj, axis=0) > logj.max() - _LOG_TAIL)
        if passes > 1 and a_keep.size >= n_alpha // 4 and d_keep.size >= n_delta // 4:
            break
        da, dd = a[1] - a[0], d[1] - d[0]
        alpha_range = (a[a_keep[0]] - da, a[a_keep[-1]] + da)
        delta_range = (d[d_keep[0]] - dd, d[d_keep[-1]] + dd)
        a, d, logj = _evaluate(endpoint, joint_log_prior, alpha_range, delta_range, n_alpha, n_delta)

    w = np.exp(logj - logj.max())
    dens_d = np.trapezoid(w, a, axis=0)
    dens_d /= np.trapezoid(dens_d, d)
    dens_a = np.trapezoid(w, d, axis=1)
    dens_a /= np.trapezoid(dens_a, a)
    rd = special.expit(a[:, None] + d[None, :]) - special.expit(a[:, None])
    cell = (w / w.sum()).ravel()
    order = np.argsort(rd, axis=None)
    rd_sorted = rd.ravel()[order]
    cell_sorted = cell[order]
    del order
    cum = np.cumsum(cell_sorted)
    cum -= cell_sorted / 2  # mid-point rule for the empirical quantile
    del cell_sorted
    rebuild = partial(binary_posterior, endpoint, prior, baseline_sd=baseline_sd, joint_log_prior=joint_log_prior,
                      alpha_range=given_alpha_range, delta_range=given_delta_range, n_alpha=n_alpha, n_delta=n_delta)
    return GridPosterior(delta=d, density=dens_d, alpha=a, alpha_density=dens_a, rd_sorted=rd_sorted,
                         rd_cumweight=cum, rd_mean_value=float(np.sum(cell * rd.ravel())), rebuild=rebuild)


def flat_is_improper(endpoint: BinaryEndpoint, baseline_sd: float | None = BASELINE_SD) -> bool:
    """True when a flat prior on the log OR leaves the posterior improper.

    The binomial likelihood of an arm with 0 (or n) events tends to a positive constant as its logit
    goes to -inf (or +inf), so its integral over the unbounded log OR diverges; with a flat baseline
    prior the same holds for the control arm.
    """
    def extreme(events: int, n: int) -> bool:
        return events == 0 or events == n

    control_free = baseline_sd is None and extreme(endpoint.events_c, endpoint.n_c)
    return extreme(endpoint.events_t, endpoint.n_t) or control_free


def _evaluate(endpoint: BinaryEndpoint, joint_log_prior: LogPrior2D, alpha_range: tuple[float, float],
              delta_range: tuple[float, float], n_alpha: int, n_delta: int):
    a = np.linspace(*alpha_range, n_alpha)
    d = np.linspace(*delta_range, n_delta)
    logj = _log_likelihood(endpoint, a, d) + joint_log_prior(a[:, None], d[None, :])
    if not np.isfinite(logj.max()):
        raise ModelError(f"{endpoint.name}: the posterior has no mass on the integration grid "
                         f"(alpha {alpha_range}, delta {delta_range})")
    return a, d, logj


def continuous_posterior(endpoint: ContinuousEndpoint, prior: NormalMixture | FlatPrior) -> NormalMixture:
    """Closed-form posterior of a mean difference: normal likelihood N(estimate, se²), mixture prior."""
    if isinstance(prior, FlatPrior):
        return NormalMixture.normal(endpoint.estimate, endpoint.se, "flat")
    return prior.update_normal(endpoint.estimate, endpoint.se)


def posterior(endpoint: Endpoint, prior: NormalMixture | FlatPrior, **options) -> GridPosterior | NormalMixture:
    """The posterior of ``endpoint``'s effect under ``prior`` (grid for binary, closed form otherwise)."""
    if isinstance(endpoint, BinaryEndpoint):
        return binary_posterior(endpoint, prior, **options)
    if isinstance(endpoint, ContinuousEndpoint):
        return continuous_posterior(endpoint, prior)
    raise ModelError(f"posterior: unsupported endpoint type {type(endpoint).__name__}")
