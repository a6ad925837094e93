"""Two-arm trial endpoints: counts per arm, or a between-arm difference with its confidence interval.

Effects are on the model scale throughout the reanalysis: the log odds ratio (treated vs control)
for a :class:`BinaryEndpoint`, the mean difference (treated minus control) for a
:class:`ContinuousEndpoint`. ``benefit_sign`` says which direction is a benefit (+1: larger is
better, -1: smaller is better), so that harms (infections) and scores where lower is better (VAS)
are handled by the same code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from bayes_il2.errors import ModelError


@dataclass(frozen=True)
class BinaryEndpoint:
    """Patients with the event out of those analysed, per arm (t = LD-IL-2, c = control).

    Parameters
    ----------
    events_t, n_t, events_c, n_c : int
        Events and denominators in the treated and control arms.
    name : str
        Endpoint label (e.g. ``responder_essdai3``).
    higher_is_better : bool
        True for a response (more events = benefit, benefit is OR > 1); False for a harm such as
        infection (benefit is OR < 1).
    """

    events_t: int
    n_t: int
    events_c: int
    n_c: int
    name: str = "endpoint"
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        for label, events, n in (("treated", self.events_t, self.n_t), ("control", self.events_c, self.n_c)):
            if int(n) != n or int(events) != events:
                raise ModelError(f"{self.name}: {label} arm counts must be whole numbers, got {events}/{n}")
            if n <= 0 or not 0 <= events <= n:
                raise ModelError(f"{self.name}: {label} arm needs 0 <= events <= n and n > 0, got {events}/{n}")

    kind = "binary"
    measure = "OR"

    @property
    def benefit_sign(self) -> int:
        return 1 if self.higher_is_better else -1

    @property
    def n_total(self) -> int:
        return int(self.n_t + self.n_c)

    @property
    def estimate(self) -> float:
        """Sample log odds ratio (0.5 added to every cell when any cell is zero)."""
        a, b, c, d = self._cells()
        return math.log(a * d / (b * c))

    @property
    def se(self) -> float:
        """Woolf standard error of the log odds ratio (same 0.5 correction as :attr:`estimate`).

        Used only for the normal approximations (prior effective sample size, prior-data conflict);
        posteriors use the exact binomial likelihood.
        """
        return math.sqrt(sum(1.0 / x for x in self._cells()))

    def _cells(self) -> tuple[float, float, float, float]:
        cells = (self.events_t, self.n_t - self.events_t, self.events_c, self.n_c - self.events_c)
        add = 0.5 if min(cells) == 0 else 0.0
        return tuple(float(x) + add for x in cells)  # type: ignore[return-value]

    def describe(self) -> str:
        return f"{self.events_t}/{self.n_t} vs {self.events_c}/{self.n_c}"


@dataclass(frozen=True)
class ContinuousEndpoint:
    """A between-arm mean difference (treated minus control) with a confidence interval.

    The standard error is recovered from the interval as (ci_high - ci_low) / (2 z), z the normal
    quantile of the interval's level (Cochrane Handbook 6.5.2.2); the likelihood is normal.

    Parameters
    ----------
    estimate, ci_low, ci_high : float
        The reported difference and its interval.
    ci_level : float
        Coverage of the interval (0.95).
    name : str
    lower_is_better : bool
        True for scores where a decrease is a benefit (VAS, ESSDAI): benefit is MD < 0.
    n_t, n_c : int, optional
        Arm sizes; used for the unit-information (neutral) prior and the ESS in patients.
    """

    estimate: float
    ci_low: float
    ci_high: float
    ci_level: float = 0.95
    name: str = "endpoint"
    lower_is_better: bool = False
    n_t: int | None = None
    n_c: int | None = None

    def __post_init__(self) -> None:
        values = (self.estimate, self.ci_low, self.ci_high)
        if not all(math.isfinite(float(v)) for v in values):
            raise ModelError(f"{self.name}: estimate and CI must be finite numbers, got {values}")
        if not self.ci_low < self.ci_high:
            raise ModelError(f"{self.name}: ci_low ({self.ci_low}) must be below ci_high ({self.ci_high})")
        if not self.ci_low <= self.estimate <= self.ci_high:
            raise ModelError(f"{self.name}: estimate {self.estimate} lies outside its CI "
                             f"({self.ci_low}, {self.ci_high})")
        if not 0 < self.ci_level < 1:
            raise ModelError(f"{self.name}: ci_level must be in (0, 1), got {self.ci_level}")
        for arm, n in (("n_t", self.n_t), ("n_c", self.n_c)):
            if n is not None and n <= 0:
                raise ModelError(f"{self.name}: {arm} must be positive, got {n}")

    kind = "continuous"
    measure = "MD"

    @property
    def benefit_sign(self) -> int:
        return -1 if self.lower_is_better else 1

    @property
    def se(self) -> float:
        z = stats.norm.ppf(0.5 + self.ci_level / 2)
        return (self.ci_high - self.ci_low) / (2.0 * z)

    @property
    def n_total(self) -> int | None:
        if self.n_t is None or self.n_c is None:
            return None
        return int(self.n_t + self.n_c)

    def describe(self) -> str:
        level = f"{100 * self.ci_level:g}%"
        return f"MD {self.estimate:g} ({level} CI {self.ci_low:g} to {self.ci_high:g})"


Endpoint = BinaryEndpoint | ContinuousEndpoint
