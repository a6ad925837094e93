"""The mode finders behind the adaptive quadratures: safeguarded Newton steps converge where plain,
clipped Newton steps cycle (functions whose curvature fades away from the mode)."""
from __future__ import annotations

import numpy as np

from bayes_il2.exact._newton import concave_mode, concave_mode_2d


def _plain_clipped_newton(slope, x, max_step, iterations=100):
    for _ in range(iterations):
        grad, hess = slope(None, x)
        x = x - np.clip(grad / hess, -max_step, max_step)
    return x


def test_concave_mode_converges_where_clipped_newton_cycles():
    """f' = -arctan(x), f'' = -1 / (1 + x^2): from x = 2, clipped steps of 5 go 2 -> -3 -> 2 -> ..."""
    def slope(i, x):
        return -np.arctan(x), -1.0 / (1.0 + x**2)

    start = np.array([[0.5, 2.0], [-3.0, 40.0]])
    assert np.abs(_plain_clipped_newton(slope, start, 5.0)).max() > 1.0  # the trap is real
    got = concave_mode(slope, start, max_step=5.0, tol=1e-12, max_iter=100)
    assert got.shape == start.shape
    np.testing.assert_allclose(got, 0.0, atol=1e-12)


def test_concave_mode_evaluates_only_the_elements_not_yet_converged():
    seen = []

    def slope(i, x):
        seen.append(len(i))
        return 1.0 - x, -np.ones_like(x)  # quadratic: one step reaches the mode

    start = np.array([1.0, 0.0, 3.0])
    got = concave_mode(slope, start, max_step=10.0, tol=1e-12, max_iter=50)
    np.testing.assert_allclose(got, 1.0)
    assert seen == [3, 2]  # the element at the mode stops after one evaluation, the others after two


def test_concave_mode_2d_converges_where_clipped_newton_cycles():
    """f(a, b) = -sqrt(1 + (a + b)^2) - sqrt(1 + (a - b)^2): the curvature fades like |x|^-3."""
    def objective(i, a, b):
        u, v = a + b, a - b
        su, sv = np.sqrt(1 + u**2), np.sqrt(1 + v**2)
        cu, cv = 1 / su**3, 1 / sv**3
        return -su - sv, -u / su - v / sv, -u / su + v / sv, cu + cv, cu - cv, cu + cv

    a0, b0 = np.array([2.0, -3.0, 0.1]), np.array([0.5, 4.0, 0.0])
    a, b = a0.copy(), b0.copy()
    for _ in range(100):  # plain Newton, each coordinate's step clipped to 5
        _, ga, gb, haa, hab, hbb = objective(None, a, b)
        det = haa * hbb - hab**2
        a, b = (a + np.clip((hbb * ga - hab * gb) / det, -5, 5), b + np.clip((haa * gb - hab * ga) / det, -5, 5))
    assert np.abs(np.concatenate([a, b])).max() > 1.0  # the trap is real
    a, b = concave_mode_2d(objective, a0, b0, max_step=5.0, tol=1e-12, max_iter=100)
    np.testing.assert_allclose(a, 0.0, atol=1e-12)
    np.testing.assert_allclose(b, 0.0, atol=1e-12)
