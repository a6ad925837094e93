"""bayes_il2.classical._roots.brentq against scipy.optimize.brentq: the same root, bit for bit."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

from bayes_il2.classical._roots import brentq
from bayes_il2.classical.heterogeneity import _score, generalized_q, residualize
from bayes_il2.errors import ModelError


def _functions():
    """(name, f, a, b): smooth, steep, flat, kinked and one-sided functions with a sign change in [a, b]."""
    rng = np.random.default_rng(20261207)
    yield "cubic", lambda x: x ** 3 - 2 * x - 5, 2.0, 3.0
    yield "cos", lambda x: math.cos(x) - x, 0.0, 1.0
    yield "steep exp", lambda x: math.expm1(40 * (x - 0.3)), -1.0, 2.0
    yield "flat near root", lambda x: (x - 0.7) ** 3, 0.0, 1.0
    yield "kink", lambda x: abs(x - 0.25) ** 0.5 * math.copysign(1.0, x - 0.25), 0.0, 3.0
    yield "log", lambda x: math.log(x) - 1e-3, 0.5, 10.0
    yield "tiny root", lambda x: x - 1e-11, 0.0, 1.0
    yield "step-like tanh", lambda x: math.tanh(1e4 * (x - 0.123456)), 0.0, 1.0
    for i in range(40):  # the estimating equations the classical code solves, on random meta-analyses
        k = int(rng.integers(3, 15))
        v = rng.uniform(0.01, 0.5, k)
        y = rng.normal(0.0, np.sqrt(v + rng.uniform(0.0, 0.6)))
        X = np.ones((k, 1))
        r = residualize(y, X)
        target = float(rng.uniform(0.2, 0.9)) * generalized_q(r, v, X, 0.0)
        yield f"Q profile {i}", (lambda t2, r=r, v=v, X=X, target=target: generalized_q(r, v, X, t2) - target), 0.0, 50.0
        score = lambda t2, y=y, v=v, X=X: _score(y, v, X, t2, True)  # noqa: E731
        if score(0.0) > 0 > score(50.0):
            yield f"REML score {i}", score, 0.0, 50.0


CASES = list(_functions())


@pytest.mark.parametrize("xtol, rtol", [(2e-12, 4 * np.finfo(float).eps), (1e-14, 1e-12), (1e-10, 1e-12), (1e-4, 1e-6)])
def test_the_same_root_as_scipy_bit_for_bit(xtol, rtol):
    """Either end first; where scipy gives up after its 100 iterations (a root too flat for the
    tolerance), so does brentq."""

    def outcome(solve, failure, f, a, b):
        try:
            return solve(f, a, b, xtol=xtol, rtol=rtol)
        except failure:
            return "no convergence"

    roots = 0
    for name, f, a, b in CASES:
        for ends in ((a, b), (b, a)):
            ours = outcome(brentq, ModelError, f, *ends)
            assert ours == outcome(optimize.brentq, RuntimeError, f, *ends), (name, ends)
            roots += ours != "no convergence"
    assert roots >= 120


def test_a_root_at_an_end_is_returned_as_it_is():
    assert brentq(lambda x: x - 1.0, 1.0, 2.0) == 1.0
    assert brentq(lambda x: x - 2.0, 1.0, 2.0) == 2.0


def test_no_sign_change_and_no_convergence_are_model_errors():
    with pytest.raises(ModelError, match="same sign"):
        brentq(lambda x: x * x + 1.0, -1.0, 1.0)
    with pytest.raises(ModelError, match="no convergence in 3 iterations"):
        brentq(lambda x: math.cos(x) - x, 0.0, 1.0, maxiter=3)
