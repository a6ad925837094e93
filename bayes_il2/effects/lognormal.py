"""Mean and SD of log-normal data from its median summary (Shi, Tong, Wang & Genton 2020).

The normal-theory estimators are applied to the log quantiles, giving mu (Luo et al. 2018) and an
unadjusted SD of the logs s0 (Wan et al. 2014 / Shi et al. 2020). Under log-normality s0 is scaled
as s = s0 / sqrt(z), and mu, s are back-transformed with small-sample corrections:

    mean = exp(mu + s^2/2) / phi,   SD = sqrt(exp(2 mu + 2 s^2) / phi1 - exp(2 mu + s^2) / phi2),
    phi = 1 + c0 s^2/n + d0 s4/n,   phi_j = 1 + c_j s^2/n + d_j s4/n,   s4 = s0^4 / k(n).

=================  ======================  ====================  =========  ====================
summary             z                       k(n)                  c0, d0     c1, d1 / c2, d2
=================  ======================  ====================  =========  ====================
median + range      1.01 + 0.25/ln(n)^2     1 + 2.23/ln(n)^2      .565, .37  2.26, 5.92 / 2.26, 1.48
median + IQR        1 + 1.58/n              1 + 19.2/n^1.2        .57, .75   2.28, 12 / 2.28, 3
all five            1 + 0.28/ln(n)^2        1 + 3.93/n            .405, .315 1.62, 5.04 / 1.62, 1.26
=================  ======================  ====================  =========  ====================

These are the constants of metafor's ``conv.fivenum(dist = "lnorm")``, whose documented output the
tests reproduce.

Reference
---------
Shi J, Tong T, Wang Y, Genton MG (2020). Estimating the mean and variance from the five-number
summary of a log-normal distribution. Stat Interface 13:519-531.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

#: The data models the median conversions and the skewness test accept.
DISTRIBUTIONS = ("normal", "lognormal")


class _Constants(NamedTuple):
    z: Callable[[np.ndarray], np.ndarray]   # n -> variance inflation of the log-scale SD
    k: Callable[[np.ndarray], np.ndarray]   # n -> denominator of s4
    mean: tuple[float, float]
    second: tuple[float, float]
    square: tuple[float, float]


SCENARIOS: dict[str, _Constants] = {
    "range": _Constants(lambda n: 1.01 + 0.25 / np.log(n) ** 2, lambda n: 1 + 2.23 / np.log(n) ** 2,
                        (0.565, 0.37), (2.26, 5.92), (2.26, 1.48)),
    "iqr": _Constants(lambda n: 1 + 1.58 / n, lambda n: 1 + 19.2 / n ** 1.2,
                      (0.57, 0.75), (2.28, 12.0), (2.28, 3.0)),
    "five": _Constants(lambda n: 1 + 0.28 / np.log(n) ** 2, lambda n: 1 + 3.93 / n,
                       (0.405, 0.315), (1.62, 5.04), (1.62, 1.26)),
}


def back_transform(scenario: str, mu: np.ndarray, sd0: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw-scale mean and SD from the log-scale mean ``mu`` and unadjusted SD ``sd0`` (see module)."""
    const = SCENARIOS[scenario]
    s2 = sd0 ** 2 / const.z(n)
    s4 = sd0 ** 4 / const.k(n)

    def phi(c: tuple[float, float]) -> np.ndarray:
        return 1 + c[0] * s2 / n + c[1] * s4 / n

    mean = np.exp(mu + s2 / 2) / phi(const.mean)
    sd = np.sqrt(np.exp(2 * mu + 2 * s2) / phi(const.second) - np.exp(2 * mu + s2) / phi(const.square))
    return mean, sd
