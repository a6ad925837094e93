"""The mode of a concave function, elementwise over arrays: safeguarded Newton steps on the active elements."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def concave_mode(slope: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]], start: np.ndarray,
                 *, max_step: float, tol: float, max_iter: int) -> np.ndarray:
    """Elementwise maximum of a concave function: the root of its gradient, which falls monotonically.

    ``slope(i, x)`` returns the gradient and (negative) second derivative at ``x`` of the elements
    whose flat indices are ``i``. Newton steps (at most ``max_step``) are kept inside a bracket of the
    root, the nearest points known to lie below (gradient > 0) and above it; a step that would leave
    the bracket is replaced by its midpoint (``rtsafe``, Press et al. 2007, Numerical Recipes, sec.
    9.4). An element stops when its step is below ``tol``; only the others are evaluated again.
    """
    x = np.array(start, dtype=float).reshape(-1)
    below, above = np.full(x.size, -np.inf), np.full(x.size, np.inf)
    active = np.arange(x.size)
    for _ in range(max_iter):
        if active.size == 0:
            break
        here = x[active]
        grad, hess = slope(active, here)
        low = np.where(grad > 0, here, below[active])
        high = np.where(grad > 0, above[active], here)
        proposal = here - np.clip(grad / hess, -max_step, max_step)
        leaves = ((proposal <= low) | (proposal >= high)) & (grad != 0)  # grad 0: at the root already
        proposal = np.where(leaves & np.isfinite(low) & np.isfinite(high), 0.5 * (low + high), proposal)
        x[active], below[active], above[active] = proposal, low, high
        active = active[np.abs(proposal - here) >= tol]
    return x.reshape(np.shape(start))


def concave_mode_2d(objective: Callable[..., tuple[np.ndarray, ...]], start_a: np.ndarray, start_b: np.ndarray,
                    *, max_step: float, tol: float, max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise maximum of a concave function of two variables: damped Newton steps on the active elements.

    ``objective(i, a, b)`` returns the value, the gradient ``(g_a, g_b)`` and the negative Hessian
    ``(h_aa, h_ab, h_bb)`` (positive definite) at the elements whose flat indices are ``i``. A Newton
    step, shortened to at most ``max_step`` in either coordinate, is halved until it raises the value
    by at least 1e-4 of the rise its slope promises (Armijo's rule; Nocedal & Wright 2006, Numerical
    Optimization, sec. 3.1): without it, steps cycle around the mode where the function is far from
    quadratic. Steps below 1e-6 are taken whole (the quadratic region, where rounding decides the
    test). An element stops when its step is below ``tol``.
    """
    a = np.array(start_a, dtype=float).reshape(-1)
    b = np.array(start_b, dtype=float).reshape(-1)
    active = np.arange(a.size)
    for _ in range(max_iter):
        if active.size == 0:
            break
        value, ga, gb, haa, hab, hbb = objective(active, a[active], b[active])
        det = haa * hbb - hab**2
        da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
        shrink = np.minimum(1.0, max_step / np.maximum(np.maximum(np.abs(da), np.abs(db)), 1e-300))
        da, db = da * shrink, db * shrink
        rise = ga * da + gb * db
        length = np.ones(active.size)
        pending = np.flatnonzero(np.maximum(np.abs(da), np.abs(db)) >= 1e-6)
        for _ in range(60):
            if pending.size == 0:
                break
            trial = objective(active[pending], a[active[pending]] + length[pending] * da[pending],
                              b[active[pending]] + length[pending] * db[pending])[0]
            short = ~(trial >= value[pending] + 1e-4 * length[pending] * rise[pending])
            pending = pending[short]
            length[pending] *= 0.5
        step_a, step_b = length * da, length * db
        a[active] += step_a
        b[active] += step_b
        active = active[np.maximum(np.abs(step_a), np.abs(step_b)) >= tol]
    return a.reshape(np.shape(start_a)), b.reshape(np.shape(start_b))
