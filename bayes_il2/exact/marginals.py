"""Univariate posterior marginals of the exact engine.

Every marginal offers ``pdf``, ``cdf``, ``ppf`` (vectorised), the properties ``mean``, ``median``,
``sd``, ``var``, ``interval(level=0.95, kind="equal"|"shortest")`` and ``sample(rng, size)``.

- :class:`GaussianMixture`: mu, theta_i, theta_new, beta_j ... given the variance components they
  are Gaussian, so their posterior is a mixture over the quadrature nodes of the variance components
  (Röver 2020, J Stat Softw 93(6), section 2.3).
- :class:`GridMarginal`: a variance component (tau), from its unnormalized log density and the
  Gauss-Legendre panels it was integrated on (see :mod:`bayes_il2.exact._quadrature`).
- :class:`PointMass`: a variance component fixed at a value (common-effect model, known tau).
- :class:`MonotoneTransform`: an increasing function of another marginal (I^2 from tau).
"""
from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import numpy as np
from scipy import special

from bayes_il2.errors import ModelError

_SQRT2 = np.sqrt(2.0)
#: Mixtures with more components than this search their shortest interval on an interpolant of the
#: quantile function (:meth:`GaussianMixture._search_ppf`); the interval's end points stay exact.
LARGE_MIXTURE = 10000
_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


def _check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ModelError(f"interval level must lie in (0, 1); got {level}")
    return level


def invert_cdf(cdf: Callable[[np.ndarray], np.ndarray], pdf: Callable[[np.ndarray], np.ndarray],
               q: np.ndarray, lo: float, hi: float, x0: np.ndarray | None = None,
               xtol: float = 1e-12, maxiter: int = 200,
               cdf_pdf: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
               scale: float | np.ndarray = 1.0) -> np.ndarray:
    """Solve ``cdf(x) = q`` for each q by Newton steps safeguarded with bisection (vectorised).

    ``lo`` and ``hi`` must bracket every root (cdf(lo) <= q <= cdf(hi)); ``cdf`` and ``pdf`` act
    elementwise. ``cdf_pdf``, if given, returns both at once (one pass instead of two). The steps and
    stopping rules are those of :func:`_invert_cdf_active`.
    """
    q = np.asarray(q, dtype=float)
    x0 = np.full(q.shape, 0.5 * (lo + hi)) if x0 is None else np.broadcast_to(np.asarray(x0, dtype=float), q.shape)
    both = cdf_pdf if cdf_pdf is not None else (lambda x: (cdf(x), pdf(x)))
    return _invert_cdf_active(lambda x, _index: both(x), q, lo, hi, x0, xtol=xtol, maxiter=maxiter,
                              scale=scale).reshape(q.shape)


def _invert_cdf_active(cdf_pdf_at: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
                       q: np.ndarray, lo: float, hi: float, x0: np.ndarray, xtol: float = 1e-12,
                       maxiter: int = 200, scale: float | np.ndarray = 1.0) -> np.ndarray:
    """Roots of ``cdf(x) = q`` on flat arrays, evaluating ``cdf_pdf_at(x, index)`` only for the roots
    not yet converged.

    Each root keeps a bracket (the nearest points known below and above it). A Newton step is taken
    only when it lands strictly inside the bracket and is at most half the previous step; otherwise
    the bracket is bisected (``rtsafe``, Press et al. 2007, Numerical Recipes, sec. 9.4): without the
    second rule Newton steps can go round between the bracket's ends (a narrow component inside broad
    mass). A root stops when ``|cdf(x) - q| <= 1e-14 min(q, 1 - q)``, when a Newton step is below
    ``xtol (|x| + scale)`` (``scale``, the marginal's spread (one value or one per root), so that
    marginals on a scale of 1e-13 are solved as well as those on a scale of 1; the error after such a
    step is of the order of its square), or when the bracket is four floating-point spacings wide.
    """
    q = np.asarray(q, dtype=float).ravel()
    a = np.full(q.shape, float(lo))
    b = np.full(q.shape, float(hi))
    x = np.clip(np.asarray(x0, dtype=float).ravel(), a, b)
    x = np.where((x <= a) | (x >= b), (a + b) / 2.0, x)
    last_step = b - a
    ftol = 1e-14 * np.minimum(q, 1.0 - q)
    scale = np.broadcast_to(np.asarray(scale, dtype=float).ravel() if np.ndim(scale) else float(scale), q.shape)
    idx = np.arange(q.size)
    for _ in range(maxiter):
        xa = x[idx]
        c, d = cdf_pdf_at(xa, idx)
        f = c - q[idx]
        converged = np.abs(f) <= ftol[idx]
        aa = np.where(f < 0, xa, a[idx])
        ba = np.where(f > 0, xa, b[idx])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            xn = xa - np.where(d > 0, f / d, np.nan)
        tolerance = xtol * (np.abs(xa) + scale[idx])
        finite = np.isfinite(xn)
        tiny = finite & (np.abs(xn - xa) <= tolerance)  # may round onto a bracket end: done, not bisected
        inside = finite & (xn > aa) & (xn < ba) & (np.abs(xn - xa) <= 0.5 * last_step[idx])
        xn = np.where(tiny | inside, np.clip(xn, aa, ba), 0.5 * (aa + ba))
        step = np.abs(xn - xa)
        small = tiny | (ba - aa <= 4.0 * np.spacing(np.maximum(np.abs(aa), np.abs(ba))))
        x[idx] = np.where(converged, xa, xn)
        a[idx], b[idx], last_step[idx] = aa, ba, step
        idx = idx[~(converged | small)]
        if idx.size == 0:
            break
    return x


class Marginal:
    """Shared behaviour: quantiles, median, sd, intervals."""

    #: (lower, upper) support.
    support: tuple[float, float] = (-np.inf, np.inf)

    def pdf(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def cdf(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def ppf(self, q):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def mean(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def var(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def sd(self) -> float:
        return float(np.sqrt(max(self.var, 0.0)))

    @cached_property
    def median(self) -> float:
        return float(self.ppf(0.5))

    def logpdf(self, x):
        with np.errstate(divide="ignore"):
            return np.log(self.pdf(x))

    def interval(self, level: float = 0.95, kind: str = "equal") -> tuple[float, float]:
        """Credible interval: ``equal`` tails or the ``shortest`` one (the HPD interval when the
        density is unimodal)."""
        level = _check_level(level)
        if kind == "equal":
            lo, hi = self.ppf(np.array([(1 - level) / 2, (1 + level) / 2]))
            return float(lo), float(hi)
        if kind != "shortest":
            raise ModelError(f"interval kind must be 'equal' or 'shortest'; got {kind!r}")
        return self._shortest(level)

    def _shortest(self, level: float) -> tuple[float, float]:
        # Minimize the width ppf(p + level) - ppf(p) over p in [0, 1 - level]: a grid of p (one
        # vectorised quantile call); then Newton steps on the ends where the marginal offers them,
        # else two zooms into the best cell and the vertex of the parabola through the best three
        # points (the width is smooth: the vertex is off by O(h^2) of the last spacing, about 1e-9).
        eps = 1e-12
        n = 21
        top = 1.0 - level - eps
        p = np.linspace(eps, top, n)
        q = self._search_ppf(np.concatenate([p, p + level]))
        width = q[n:] - q[:n]
        i = int(np.nanargmin(width))
        ends = self._equal_density_ends(float(p[i]), float(q[i]), float(q[n + i]), level)
        if ends is not None:
            return ends
        for _ in range(2):
            step = p[1] - p[0]
            p = np.linspace(max(p[i] - step, eps), min(p[i] + step, top), n)
            q = self._search_ppf(np.concatenate([p, p + level]))
            width = q[n:] - q[:n]
            i = int(np.nanargmin(width))
        p_best = float(p[i])
        if 0 < i < n - 1 and np.all(np.isfinite(width[i - 1:i + 2])):
            w0, w1, w2 = width[i - 1:i + 2]
            curvature = w0 - 2 * w1 + w2
            if curvature > 0:
                p_best = float(np.clip(p[i] + 0.5 * (p[1] - p[0]) * (w0 - w2) / curvature, p[i - 1], p[i + 1]))
        if p_best <= 2 * eps and np.isfinite(self.support[0]):
            low = float(self.ppf(eps))
            if low - self.support[0] <= 1e-9 * (1 + abs(low)):
                return float(self.support[0]), float(self.ppf(level))
        low, high = self.ppf(np.array([p_best, p_best + level]))
        if not high - low <= width[i]:  # the vertex no better than the grid's best point
            low, high = self.ppf(np.array([p[i], p[i] + level]))
        return float(low), float(high)

    def _equal_density_ends(self, p: float, low: float, high: float, level: float) -> tuple[float, float] | None:
        """The shortest interval's ends by Newton steps from a grid's best pair (``low``, ``high``) =
        (ppf(p), ppf(p + level)), for marginals that know their density's slope; None to fall back
        to the search on p."""
        return None

    def _search_ppf(self, q):
        """Quantiles for the search of the shortest interval (its end points come from :meth:`ppf`):
        :meth:`ppf` itself unless a subclass has a cheaper interpolant."""
        return self.ppf(q)

    def summary(self, level: float = 0.95) -> dict[str, float]:
        """mean, median, sd, equal-tailed and shortest interval (keys as in ``Fit.summary``)."""
        eti = self.interval(level, "equal")
        hdi = self.interval(level, "shortest")
        return {"mean": self.mean, "median": self.median, "sd": self.sd, "eti_low": eti[0],
                "eti_high": eti[1], "hdi_low": hdi[0], "hdi_high": hdi[1]}


def mixture_quantiles(weights: np.ndarray, means: np.ndarray, sds: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantiles of many Gaussian mixtures sharing their weights, solved together.

    Row i of ``means``/``sds`` (shape (k, J)) is mixture i; returns an array (k, len(q)). One
    vectorised Newton-bisection solve instead of k separate ones (the shrinkage table of k studies).
    """
    w = np.asarray(weights, dtype=float) / np.sum(weights)
    means = np.atleast_2d(np.asarray(means, dtype=float))
    sds = np.atleast_2d(np.asarray(sds, dtype=float))
    q = np.broadcast_to(np.asarray(q, dtype=float), (means.shape[0], np.size(q)))
    mean = means @ w
    sd = np.sqrt(((sds ** 2 + (means - mean[:, None]) ** 2) @ w))
    inv = 1.0 / sds
    pdf_w = inv * np.exp(-_LOG_SQRT_2PI)

    nq = q.shape[1]

    def cdf_pdf_at(x, index):
        row = index // nq
        z = (x[:, None] - means[row]) * inv[row]
        c = np.clip(special.ndtr(z) @ w, 0.0, 1.0)
        z *= z
        z *= -0.5
        np.exp(z, out=z)
        z *= pdf_w[row]
        return c, z @ w

    x0 = mean[:, None] + sd[:, None] * special.ndtri(np.clip(q, 1e-300, 1 - 1e-16))
    lo = float(np.min(means - 40.0 * sds))
    hi = float(np.max(means + 40.0 * sds))
    return _invert_cdf_active(cdf_pdf_at, q, lo, hi, x0, scale=np.repeat(sd, q.shape[1])).reshape(q.shape)


class GaussianMixture(Marginal):
    """Mixture sum_j w_j N(means_j, sds_j^2) (weights sum to 1)."""

    def __init__(self, weights: np.ndarray, means: np.ndarray, sds: np.ndarray):
        weights = np.asarray(weights, dtype=float).ravel()
        means = np.asarray(means, dtype=float).ravel()
        sds = np.asarray(sds, dtype=float).ravel()
        keep = weights > weights.max() * 1e-18
        self.weights = weights[keep] / weights[keep].sum()
        self.means = means[keep]
        self.sds = sds[keep]
        if np.any(self.sds <= 0) or not np.all(np.isfinite(self.means)):
            raise ModelError("GaussianMixture: component SDs must be > 0 and means finite")
        self._inv_sds = 1.0 / self.sds
        self._pdf_weights = self.weights * self._inv_sds * np.exp(-_LOG_SQRT_2PI)

    def __repr__(self) -> str:
        return f"GaussianMixture({len(self.weights)} components, mean={self.mean:.6g}, sd={self.sd:.6g})"

    def pdf(self, x):
        x = np.asarray(x, dtype=float)
        z = (x[..., None] - self.means) * self._inv_sds
        return np.exp(-0.5 * z * z) @ self._pdf_weights

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        z = (x[..., None] - self.means) * self._inv_sds
        return np.clip(special.ndtr(z) @ self.weights, 0.0, 1.0)

    def _cdf_pdf(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = (np.asarray(x, dtype=float)[..., None] - self.means) * self._inv_sds
        c = np.clip(special.ndtr(z) @ self.weights, 0.0, 1.0)
        return c, np.exp(-0.5 * z * z) @ self._pdf_weights

    @cached_property
    def _table(self) -> tuple[np.ndarray, np.ndarray]:
        """cdf on a grid (starting values for quantiles)."""
        x = self.mean + self.sd * np.linspace(-12.0, 12.0, 241)
        return x, self.cdf(x)

    @cached_property
    def _quantile_spline(self):
        """The quantile function as a cubic Hermite interpolant of the cdf table (slopes 1/pdf):
        its error is far below the search step of the shortest interval."""
        from scipy.interpolate import CubicHermiteSpline

        x = self.mean + self.sd * np.linspace(-10.0, 10.0, 161)
        c, d = self._cdf_pdf(x)
        # Only where the density is above 1e-100 of its largest value: d > 0 alone let a subnormal
        # density through, whose reciprocal is inf, and slopes near it overflow the spline's algebra.
        keep = np.concatenate([[True], np.diff(c) > 0]) & (d > 1e-100 * d.max())
        slope = np.where(keep, 1.0 / np.where(keep, d, 1.0), 0.0)
        return CubicHermiteSpline(c[keep], x[keep], slope[keep], extrapolate=False)

    def _search_ppf(self, q):
        # A mixture of many components (the EXNEX engine's nodes x configurations): the search runs
        # on the interpolant, which costs one table instead of Newton steps over every component.
        if len(self.weights) <= LARGE_MIXTURE:
            return self.ppf(q)
        spline = self._quantile_spline
        # beyond the table (+-10 sd) its end points: there the widths are far from the shortest
        return spline(np.clip(np.asarray(q, dtype=float), spline.x[0], spline.x[-1]))

    def _equal_density_ends(self, p: float, low: float, high: float, level: float) -> tuple[float, float] | None:
        ends = self.newton_shortest(low, high, level)
        # several pairs meet the conditions for a multimodal mixture: keep one no wider than the start
        return ends if ends is not None and ends[1] - ends[0] <= high - low + 1e-12 * self.sd else None

    def newton_shortest(self, low: float, high: float, level: float,
                        log_slope: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
                        ) -> tuple[float, float] | None:
        """Ends (a, b) of the shortest interval of g(X) on X's scale, for an increasing g with
        ``log_slope(x) = (log g'(x), its derivative)`` (default g = identity), by Newton steps on
        cdf(b) - cdf(a) = level and log pdf(b) - log g'(b) = log pdf(a) - log g'(a) (equal density
        of g(X) at both ends: Box & Tiao 1973, sec. 2.8) from a near pair (``low``, ``high``).
        None unless they converge to ends that hold the level to 1e-13 (the caller then searches);
        the caller checks that the ends are no wider than its start."""
        if len(self.weights) > LARGE_MIXTURE or not np.isfinite(low) or not np.isfinite(high):
            return None
        a, b = float(low), float(high)
        for _ in range(30):
            z = (np.array([a, b])[:, None] - self.means) * self._inv_sds
            dens = np.exp(-0.5 * z * z) * self._pdf_weights
            c = np.clip(special.ndtr(z) @ self.weights, 0.0, 1.0)
            f = dens.sum(1)
            if not np.all(f > 0):
                return None
            score = -(dens * z * self._inv_sds).sum(1) / f  # d/dx log pdf
            h, dh = log_slope(np.array([a, b])) if log_slope is not None else (np.zeros(2), np.zeros(2))
            r1 = c[1] - c[0] - level
            r2 = (np.log(f[1]) - h[1]) - (np.log(f[0]) - h[0])
            # Jacobian [[-f_a, f_b], [-(s_a - h'_a), s_b - h'_b]]; Newton step = J^-1 (r1, r2)
            ja, jb = score[0] - dh[0], score[1] - dh[1]
            det = -f[0] * jb + f[1] * ja
            if not (np.isfinite(det) and det != 0):
                return None
            da, db = (jb * r1 - f[1] * r2) / det, (ja * r1 - f[0] * r2) / det
            a, b = a - da, b - db
            if max(abs(da), abs(db)) <= 1e-12 * (abs(a) + abs(b) + self.sd):
                break
        else:
            return None
        held = self.cdf(np.array([a, b]))
        if not (b > a and abs(held[1] - held[0] - level) <= 1e-13):
            return None
        return float(a), float(b)

    def ppf(self, q):
        q = np.asarray(q, dtype=float)
        lo = float(np.min(self.means - 40.0 * self.sds))
        hi = float(np.max(self.means + 40.0 * self.sds))
        x0 = self.mean + self.sd * special.ndtri(np.clip(q, 1e-300, 1 - 1e-16))
        out = None
        if len(self.weights) > LARGE_MIXTURE:
            # Many components: Newton from the interpolant (a few steps, each over every component).
            start = self._quantile_spline(q)
            x0 = np.where(np.isfinite(start), start, x0)
            out = invert_cdf(self.cdf, self.pdf, q, lo, hi, x0, cdf_pdf=self._cdf_pdf, scale=self.sd)
        elif q.size <= 24:
            # A few quantiles: Newton from the normal approximation first (the cdf table costs
            # about as much as ten such steps); the table start where that has not converged.
            out = invert_cdf(self.cdf, self.pdf, q, lo, hi, x0, maxiter=12, scale=self.sd)
            with np.errstate(invalid="ignore"):
                ok = np.abs(self.cdf(out) - q) <= 1e-12 * np.minimum(q, 1.0 - q)
            if not np.all(ok | (q <= 0) | (q >= 1) | np.isnan(q)):
                out = None
        if out is None:
            x_tab, c_tab = self._table
            inside = (q > c_tab[0]) & (q < c_tab[-1])
            x0 = np.where(inside, np.interp(q, c_tab, x_tab), x0)
            out = invert_cdf(self.cdf, self.pdf, q, lo, hi, x0, scale=self.sd)
        out = np.where(q <= 0, -np.inf, np.where(q >= 1, np.inf, out))
        return out if out.ndim else float(out)

    @cached_property
    def mean(self) -> float:
        return float(self.weights @ self.means)

    @cached_property
    def var(self) -> float:
        m = self.mean
        return float(self.weights @ (self.sds ** 2 + (self.means - m) ** 2))

    def sample(self, rng, size=None) -> np.ndarray:
        rng = np.random.default_rng(rng)
        n = 1 if size is None else int(np.prod(size))
        j = rng.choice(len(self.weights), size=n, p=self.weights)
        draws = rng.normal(self.means[j], self.sds[j])
        return draws[0] if size is None else draws.reshape(size)


class PointMass(Marginal):
    """All mass at ``value`` (a variance component fixed in the model)."""

    def __init__(self, value: float):
        self.value = float(value)
        self.support = (self.value, self.value)
        self.nodes = np.array([self.value])
        self.weights = np.array([1.0])

    def __repr__(self) -> str:
        return f"PointMass({self.value!r})"

    def pdf(self, x):
        x = np.asarray(x, dtype=float)
        return np.where(x == self.value, np.inf, 0.0)

    def cdf(self, x):
        return np.where(np.asarray(x, dtype=float) >= self.value, 1.0, 0.0)

    def ppf(self, q):
        q = np.asarray(q, dtype=float)
        out = np.full(q.shape, self.value)
        return out if out.ndim else float(out)

    @property
    def mean(self) -> float:
        return self.value

    @property
    def var(self) -> float:
        return 0.0

    @property
    def median(self) -> float:
        return self.value

    def interval(self, level: float = 0.95, kind: str = "equal") -> tuple[float, float]:
        _check_level(level)
        return self.value, self.value

    def sample(self, rng, size=None):
        return self.value if size is None else np.full(size, self.value)


class GridMarginal(Marginal):
    """A positive parameter integrated by composite Gauss-Legendre panels.

    Parameters
    ----------
    log_unnorm : callable
        Unnormalized log density of the parameter (vectorised; ``-inf`` outside the support).
    grid : PanelGrid
        The panels (see :mod:`bayes_il2.exact._quadrature`).
    log_norm : float
        log of the integral of ``exp(log_unnorm)``.
    nodes, weights : ndarray
        Quadrature nodes and normalized posterior weights (for moments).
    """

    def __init__(self, log_unnorm: Callable[[np.ndarray], np.ndarray], grid, log_norm: float,
                 nodes: np.ndarray, weights: np.ndarray):
        self._log_unnorm = log_unnorm
        self.grid = grid
        self.log_norm = float(log_norm)
        self.nodes = np.asarray(nodes, dtype=float)
        self.weights = np.asarray(weights, dtype=float)
        self.support = (grid.lower, grid.upper)

    def __repr__(self) -> str:
        return f"GridMarginal(mean={self.mean:.6g}, median={self.median:.6g}, sd={self.sd:.6g})"

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        inside = (x >= self.support[0]) & (x <= self.support[1]) & (x > 0)
        safe = np.where(inside, x, self.nodes[np.argmax(self.weights)])
        return np.where(inside, self._log_unnorm(safe.ravel()).reshape(x.shape) - self.log_norm, -np.inf)

    def pdf(self, x):
        return np.exp(self.logpdf(x))

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        flat = x.ravel()
        out = np.asarray(self.grid.cdf(flat, self._log_unnorm, self.log_norm, self.weights), dtype=float)
        out = np.clip(out, 0.0, 1.0).reshape(x.shape)
        return out if out.ndim else float(out)

    @cached_property
    def _start_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Starting values for quantiles: the cdf at the panel edges (exact up to the quadrature
        error) and, between them, at each node (the panel's mass before it plus half its own)."""
        g = self.grid
        n_lin = 0 if g.lin_edge is None else 1
        if self.weights.size != n_lin + (g.log_edges.size - 1) * g.order:  # pragma: no cover - foreign grid
            order = np.argsort(self.nodes)
            return self.nodes[order], np.cumsum(self.weights[order])
        inner = self.weights[n_lin:].reshape(-1, g.order)
        cum = np.concatenate([[0.0], np.cumsum(np.concatenate([self.weights[:n_lin], inner.sum(axis=1)]))])
        edge_x = np.exp(g.log_edges)
        if n_lin:
            edge_x = np.concatenate([[0.0], edge_x])
        node_c = cum[n_lin:-1, None] + np.cumsum(inner, axis=1) - inner / 2
        xs = np.concatenate([edge_x, self.nodes[n_lin:]])
        cs = np.concatenate([cum, node_c.ravel()])
        order = np.argsort(xs, kind="stable")
        return xs[order], np.maximum.accumulate(cs[order])

    def _cdf_pdf(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """cdf and pdf at x (1-D) from one evaluation of the log density."""
        c, d = self.grid.cdf(x, self._log_unnorm, self.log_norm, self.weights, with_pdf=True)
        missing = np.isnan(d)
        if missing.any():
            d = np.where(missing, self.pdf(np.where(missing, x, self.nodes[0])), d)
        return np.clip(c, 0.0, 1.0), d

    def ppf(self, q):
        q = np.asarray(q, dtype=float)
        flat = q.ravel()
        x_tab, c_tab = self._start_table
        x0 = np.interp(flat, c_tab, x_tab)
        out = invert_cdf(self.cdf, self.pdf, flat, self.grid.lower, self.grid.upper_eff, x0,
                         cdf_pdf=self._cdf_pdf, scale=self.sd)
        out = np.where(flat <= 0, self.support[0], np.where(flat >= 1, self.support[1], out)).reshape(q.shape)
        return out if out.ndim else float(out)

    @cached_property
    def mean(self) -> float:
        return float(self.weights @ self.nodes)

    @cached_property
    def var(self) -> float:
        return float(self.weights @ (self.nodes - self.mean) ** 2)

    def expect(self, fn: Callable[[np.ndarray], np.ndarray]) -> float:
        """Posterior expectation of ``fn(parameter)`` by the quadrature."""
        return float(self.weights @ fn(self.nodes))

    def sample(self, rng, size=None):
        rng = np.random.default_rng(rng)
        return self.ppf(rng.uniform(size=size))


class MonotoneTransform(Marginal):
    """``forward(base)`` for an increasing ``forward`` with inverse ``inverse`` and its derivative."""

    def __init__(self, base: Marginal, forward: Callable, inverse: Callable, dinverse: Callable,
                 support: tuple[float, float]):
        self.base = base
        self._f, self._g, self._dg = forward, inverse, dinverse
        self.support = support

    def __repr__(self) -> str:
        return f"MonotoneTransform(mean={self.mean:.6g}, median={self.median:.6g})"

    def pdf(self, x):
        x = np.asarray(x, dtype=float)
        inside = (x > self.support[0]) & (x < self.support[1])
        safe = np.where(inside, x, 0.5 * (self.support[0] + self.support[1]))
        return np.where(inside, self.base.pdf(self._g(safe)) * self._dg(safe), 0.0)

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        safe = np.clip(x, self.support[0], self.support[1])
        return np.where(x <= self.support[0], 0.0, np.where(x >= self.support[1], 1.0, self.base.cdf(self._g(safe))))

    def ppf(self, q):
        return self._f(self.base.ppf(q))

    @cached_property
    def mean(self) -> float:
        return float(self.base.weights @ self._f(self.base.nodes))

    @cached_property
    def var(self) -> float:
        return float(self.base.weights @ (self._f(self.base.nodes) - self.mean) ** 2)

    @property
    def median(self) -> float:
        return float(self._f(self.base.median))

    def sample(self, rng, size=None):
        return self._f(self.base.sample(rng, size))
