"""The root of a scalar function in a sign-changing bracket, by Brent's method, without scipy.optimize.

The classical estimators solve their estimating equations (REML and Paule-Mandel tau^2, the
Q-profile limits, the S-value) in a bracket where the function changes sign. scipy's ``brentq`` does
this; importing scipy.optimize costs 0.11-0.14 s on a 2-core machine (it loads scipy.linalg,
scipy.sparse and more), a sixteenth of ``bayes-il2 fit``'s whole path, which issue #19 holds to 2 s.
:func:`brentq` takes the same steps as scipy's (Brent's inverse quadratic interpolation and secant
steps, bisection where they would not shrink the bracket fast enough; the same stopping rule), so it
returns the same root bit for bit; ``tests/test_classical_roots.py`` checks this against scipy.

Reference: Brent RP (1973). Algorithms for Minimization without Derivatives, ch. 4. Prentice-Hall.
"""
from __future__ import annotations

import math
from collections.abc import Callable

from bayes_il2.errors import ModelError

#: scipy's default relative tolerance for brentq: four times the double precision's machine epsilon
RTOL = 4 * 2.220446049250313e-16


def brentq(f: Callable[[float], float], a: float, b: float, *, xtol: float = 2e-12, rtol: float = RTOL,
           maxiter: int = 100) -> float:
    """A root of ``f`` in [a, b], where f(a) and f(b) differ in sign.

    Parameters
    ----------
    f : callable
        A continuous function of one float, returning a float.
    a, b : float
        The bracket's ends.
    xtol, rtol : float
        The root is returned once it is known within ``xtol + rtol * |x|`` (as scipy.optimize.brentq).
    maxiter : int
        Most iterations.

    Returns
    -------
    float

    Raises
    ------
    ModelError
        f(a) and f(b) have the same sign, or no convergence in ``maxiter`` iterations.
    """
    x_prev, x_cur = float(a), float(b)
    f_prev, f_cur = float(f(x_prev)), float(f(x_cur))
    if f_prev == 0.0:
        return x_prev
    if f_cur == 0.0:
        return x_cur
    if math.copysign(1.0, f_prev) == math.copysign(1.0, f_cur):
        raise ModelError(f"root finding: f({a!r}) and f({b!r}) have the same sign")
    x_blk = f_blk = 0.0  # the bracket's other end: the root lies between x_cur and x_blk
    step_prev = step_cur = 0.0
    for _ in range(maxiter):
        if f_prev != 0.0 and f_cur != 0.0 and math.copysign(1.0, f_prev) != math.copysign(1.0, f_cur):
            x_blk, f_blk = x_prev, f_prev
            step_prev = step_cur = x_cur - x_prev
        if abs(f_blk) < abs(f_cur):  # keep the best estimate in x_cur
            x_prev, x_cur, x_blk = x_cur, x_blk, x_cur
            f_prev, f_cur, f_blk = f_cur, f_blk, f_cur
        delta = (xtol + rtol * abs(x_cur)) / 2.0
        half = (x_blk - x_cur) / 2.0
        if f_cur == 0.0 or abs(half) < delta:
            return x_cur
        if abs(step_prev) > delta and abs(f_cur) < abs(f_prev):
            if x_prev == x_blk:  # two points: the secant
                trial = -f_cur * (x_cur - x_prev) / (f_cur - f_prev)
            else:  # three points: inverse quadratic interpolation
                slope_prev = (f_prev - f_cur) / (x_prev - x_cur)
                slope_blk = (f_blk - f_cur) / (x_blk - x_cur)
                trial = -f_cur * (f_blk * slope_blk - f_prev * slope_prev) / (slope_blk * slope_prev * (f_blk - f_prev))
            if 2.0 * abs(trial) < min(abs(step_prev), 3.0 * abs(half) - delta):
                step_prev, step_cur = step_cur, trial
            else:  # the interpolation would not shrink the bracket enough: bisect
                step_prev = step_cur = half
        else:
            step_prev = step_cur = half
        x_prev, f_prev = x_cur, f_cur
        x_cur += step_cur if abs(step_cur) > delta else (delta if half > 0 else -delta)
        f_cur = float(f(x_cur))
    raise ModelError(f"root finding: no convergence in {maxiter} iterations between {a!r} and {b!r}")
