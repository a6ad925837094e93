"""Printed numbers and what they allow: the pure statistics behind the consistency checks.

A number printed with ``d`` decimals stands for any value within half a unit of its last digit
(:class:`Printed`). The functions here bound what a test or an interval could give over that
rounding box: the P of a paired t-test for every pre-post correlation r in [-1, 1], of a one-sample
and of Welch's and the pooled two-sample t-test; the SE and P a CI implies (normal or t, log scale
for ratios); percentages of k / n; GRIM (Brown and Heathers 2017); the Bhatia-Davis bound on an SD.
:mod:`bayes_il2.evidence.consistency` applies them to the registry.

References
----------
Brown NJL, Heathers JAJ. The GRIM test. Soc Psychol Personal Sci 2017;8:363-369.
Bhatia R, Davis C. A better bound on the variance. Am Math Mon 2000;107:353-357.
Higgins JPT et al. Cochrane Handbook, section 6.5.2 (SDs from SEs, CIs and P values).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

RATIO_MEASURES = ("OR", "RR", "HR", "RRR")
_R_GRID = np.linspace(-1.0, 1.0, 401)


# --------------------------------------------------------------------------- printed numbers
@dataclass(frozen=True)
class Printed:
    """A number as printed: its value and the half-width of the rounding it stands for."""

    value: float
    half: float

    @property
    def low(self) -> float:
        return self.value - self.half

    @property
    def high(self) -> float:
        return self.value + self.half


def printed(cell) -> Printed | None:
    """Parse a cell (text as printed, or a number) into a :class:`Printed`; None when blank.

    The rounding half-width is half a unit of the last printed decimal (``"0.010"`` -> 0.0005,
    ``"3"`` -> 0.5). A float (a typed registry) is read through its shortest repr, which drops
    trailing zeros and so can only widen the allowance.
    """
    if cell is None:
        return None
    if isinstance(cell, float) and not math.isfinite(cell):
        return None
    text = str(cell).strip()
    if text in ("", "nan", "NaN", "<NA>", "None"):
        return None
    if not isinstance(cell, str):
        text = repr(float(cell)) if not isinstance(cell, (int, np.integer)) else str(int(cell))
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    mantissa = text.lower().split("e")[0]
    exponent = int(text.lower().split("e")[1]) if "e" in text.lower() else 0
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    if isinstance(cell, float) and decimals == 1 and mantissa.endswith(".0"):
        decimals = 0  # repr(30.0): a whole number
    return Printed(value, 0.5 * 10.0 ** (exponent - decimals))


def p_interval(p: Printed, operator: str = "=") -> tuple[float, float]:
    """The P values a printed P stands for: ``= 0.01`` -> [0.005, 0.015], ``< 0.001`` -> (0, 0.001]."""
    if operator == "<":
        return 0.0, p.value
    if operator == ">":
        return p.value, 1.0
    return max(p.low, 0.0), min(p.high, 1.0)


def intervals_overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """True when two closed intervals share a point."""
    return a[0] <= b[1] and b[0] <= a[1]


def format_p(p: float) -> str:
    """A P value in 3 significant digits (scientific below 1e-4)."""
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.1e}"


def format_interval(lo: float, hi: float) -> str:
    """[lo, hi] of two P values."""
    return f"[{format_p(lo)}, {format_p(hi)}]"


# --------------------------------------------------------------------------- t tests
def t_two_sided_p(t: np.ndarray | float, df: float) -> np.ndarray:
    """Two-sided P of a t statistic with ``df`` degrees of freedom."""
    return 2.0 * stats.t.sf(np.abs(t), df)


def paired_t_p(m0: float, s0: float, m1: float, s1: float, n: float, r: float) -> float:
    """Two-sided P of a paired t-test from the baseline and post means and SDs and correlation r.

    SD of the differences: ``sqrt(s0^2 + s1^2 - 2 r s0 s1)``; t = (m1 - m0) / (SD / sqrt(n)),
    df = n - 1 (Cochrane Handbook 6.5.2.8 run backwards).
    """
    sd_diff = math.sqrt(max(s0 * s0 + s1 * s1 - 2.0 * r * s0 * s1, 0.0))
    if sd_diff == 0.0:
        return 0.0 if m1 != m0 else 1.0
    return float(t_two_sided_p((m1 - m0) / (sd_diff / math.sqrt(n)), n - 1))


def _sd_diff_bounds(s0: Printed, s1: Printed, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest SD of pre-post differences over the rounding box of the two SDs.

    ``s0^2 + s1^2 - 2 r s0 s1`` is convex in (s0, s1) for |r| <= 1: its maximum is at a corner,
    its minimum is found over a fine grid of s1 with the best s0 in closed form.
    """
    lo0, hi0 = max(s0.low, 0.0), s0.high
    corners = [(a, b) for a in (lo0, hi0) for b in (max(s1.low, 0.0), s1.high)]
    var_max = np.max([a * a + b * b - 2 * r * a * b for a, b in corners], axis=0)
    grid1 = np.linspace(max(s1.low, 0.0), s1.high, 41)[:, None]
    best0 = np.clip(r[None, :] * grid1, lo0, hi0)
    var_min = np.min(best0 ** 2 + grid1 ** 2 - 2 * r[None, :] * best0 * grid1, axis=0)
    return np.sqrt(np.maximum(var_min, 0.0)), np.sqrt(np.maximum(var_max, 0.0))


def _diff_bounds(m0: Printed, m1: Printed) -> tuple[float, float]:
    """Smallest and largest |m1 - m0| over the rounding of both means."""
    d = abs(m1.value - m0.value)
    slack = m0.half + m1.half
    return max(d - slack, 0.0), d + slack


@dataclass(frozen=True)
class PairedRange:
    """Which pre-post correlations make a printed paired P possible.

    ``r_low``/``r_high`` bound the correlations in [-1, 1] for which some unrounded means and
    SDs give a P inside the printed one (None when none does); ``p_at_minus1`` and ``p_at_plus1``
    are the P values of the printed numbers at r = -1 and r = 1 (no rounding).
    """

    r_low: float | None
    r_high: float | None
    p_at_minus1: float
    p_at_plus1: float

    @property
    def possible(self) -> bool:
        return self.r_low is not None


def paired_r_range(m0, s0, m1, s1, n: float, p, operator: str = "=") -> PairedRange:
    """The range of pre-post correlations r in [-1, 1] that make a printed paired P possible.

    Parameters
    ----------
    m0, s0, m1, s1 : str, float or Printed
        Baseline and post mean and SD as printed (text keeps the printed decimals).
    n : float
        Patients (paired t-test with n - 1 df).
    p : str, float or Printed
        The printed P; ``operator`` is ``=``, ``<`` or ``>``.

    Returns
    -------
    PairedRange
        The P of a paired t-test falls as r rises (the SD of the differences shrinks), so the
        possible correlations form one interval (on a grid of step 0.005).
    """
    m0, s0, m1, s1, p = (v if isinstance(v, Printed) else printed(v) for v in (m0, s0, m1, s1, p))
    target = p_interval(p, operator)
    d_lo, d_hi = _diff_bounds(m0, m1)
    sd_lo, sd_hi = _sd_diff_bounds(s0, s1, _R_GRID)
    sqrt_n = math.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_max = np.where(sd_lo > 0, d_hi * sqrt_n / np.where(sd_lo > 0, sd_lo, 1.0), np.inf)
        t_min = np.where(sd_hi > 0, d_lo * sqrt_n / np.where(sd_hi > 0, sd_hi, 1.0), np.inf)
    p_min, p_max = t_two_sided_p(t_max, n - 1), t_two_sided_p(t_min, n - 1)
    ok = (p_min <= target[1]) & (target[0] <= p_max)
    r_ok = _R_GRID[ok]
    return PairedRange(float(r_ok.min()) if ok.any() else None, float(r_ok.max()) if ok.any() else None,
                       paired_t_p(m0.value, s0.value, m1.value, s1.value, n, -1.0),
                       paired_t_p(m0.value, s0.value, m1.value, s1.value, n, 1.0))


def one_sample_p_range(mean, sd, n: float) -> tuple[float, float]:
    """Smallest and largest two-sided P of a one-sample t-test over the rounding of mean and SD."""
    mean, sd = (v if isinstance(v, Printed) else printed(v) for v in (mean, sd))
    m_lo, m_hi = max(abs(mean.value) - mean.half, 0.0), abs(mean.value) + mean.half
    s_lo, s_hi = max(sd.low, 1e-300), sd.high
    root = math.sqrt(n)
    return (float(t_two_sided_p(m_hi * root / s_lo, n - 1)), float(t_two_sided_p(m_lo * root / s_hi, n - 1)))


def two_sample_p_range(m1, s1, n1: float, m2, s2, n2: float, *, welch: bool) -> tuple[float, float]:
    """Smallest and largest two-sided P of Welch's (``welch=True``) or the pooled t-test over the
    rounding of both means and SDs (t falls as either SD rises, so the corners bound it)."""
    m1, s1, m2, s2 = (v if isinstance(v, Printed) else printed(v) for v in (m1, s1, m2, s2))
    d_lo, d_hi = _diff_bounds(m1, m2)
    ps = []
    for a in (max(s1.low, 1e-300), s1.high):
        for b in (max(s2.low, 1e-300), s2.high):
            for d in (d_lo, d_hi):
                if welch:
                    v1, v2 = a * a / n1, b * b / n2
                    se = math.sqrt(v1 + v2)
                    df = (v1 + v2) ** 2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1))
                else:
                    pooled = ((n1 - 1) * a * a + (n2 - 1) * b * b) / (n1 + n2 - 2)
                    se = math.sqrt(pooled * (1 / n1 + 1 / n2))
                    df = n1 + n2 - 2
                ps.append(float(t_two_sided_p(d / se, df)))
    return min(ps), max(ps)


# --------------------------------------------------------------------------- other pure checks
def percent_matches(k: float, n: float, percent) -> bool:
    """True when k / n x 100 rounds to the printed percentage (half a unit of its last digit)."""
    pct = percent if isinstance(percent, Printed) else printed(percent)
    if n <= 0:
        return False
    exact = 100.0 * k / n
    return pct.low - 1e-9 <= exact <= pct.high + 1e-9


def grim_consistent(mean, n: int, items: int = 1) -> bool:
    """GRIM (Brown and Heathers 2017): can a mean of n integer values (``items`` per person) round
    to the printed mean? Always True when n x items >= 10^decimals (every mean is possible)."""
    m = mean if isinstance(mean, Printed) else printed(mean)
    total = int(n) * int(items)
    if total <= 0 or total * 2 * m.half >= 1.0:
        return True
    lo, hi = math.ceil(m.low * total - 1e-9), math.floor(m.high * total + 1e-9)
    return hi >= lo


def sd_upper_bound(mean: float, lower: float, upper: float, n: float) -> float:
    """The largest sample SD of n values in [lower, upper] with this mean (Bhatia and Davis 2000),
    with the n / (n - 1) factor of the sample SD."""
    spread = max((mean - lower) * (upper - mean), 0.0)
    factor = n / (n - 1) if n > 1 else 1.0
    return math.sqrt(spread * factor)


def normal_quantile(level: float) -> float:
    """Two-sided quantile of a CI level given as 95 or 0.95."""
    level = level / 100.0 if level > 1 else level
    return float(stats.norm.ppf(0.5 + level / 2.0))


def _t_quantile(level: float, df: float) -> float:
    level = level / 100.0 if level > 1 else level
    return float(stats.t.ppf(0.5 + level / 2.0, df))


def ci_asymmetry(estimate, low, high, measure: str = "MD") -> tuple[float, float]:
    """(asymmetry, allowance): ``low + high - 2 estimate`` on the model scale (logs for ratios)
    and the largest asymmetry the rounding of the three printed values can explain."""
    e, lo, hi = (v if isinstance(v, Printed) else printed(v) for v in (estimate, low, high))
    if measure in RATIO_MEASURES:
        if min(e.low, lo.low, hi.low) <= 0:
            return 0.0, math.inf
        asym = math.log(lo.value) + math.log(hi.value) - 2 * math.log(e.value)
        allow = (math.log(lo.high) - math.log(lo.low)) / 2 + (math.log(hi.high) - math.log(hi.low)) / 2 \
            + (math.log(e.high) - math.log(e.low))
        return asym, allow
    return lo.value + hi.value - 2 * e.value, lo.half + hi.half + 2 * e.half


def ci_se_range(low: Printed, high: Printed, level: float, df: float | None,
                measure: str = "MD") -> tuple[float, float]:
    """Smallest and largest SE a CI's width implies (normal and, if df is known, t quantile)."""
    quantiles = [normal_quantile(level)]
    if df is not None and df > 0:
        quantiles.append(_t_quantile(level, df))
    if measure in RATIO_MEASURES:
        if low.low <= 0:
            return 0.0, math.inf
        w_lo = math.log(high.low) - math.log(low.high)
        w_hi = math.log(high.high) - math.log(low.low)
    else:
        w_lo, w_hi = high.low - low.high, high.high - low.low
    return max(w_lo, 0.0) / (2 * max(quantiles)), w_hi / (2 * min(quantiles))


def ci_p_range(estimate, low, high, level: float = 95, df: float | None = None,
               measure: str = "MD") -> tuple[float, float]:
    """Smallest and largest two-sided P of a Wald test from an estimate and its CI (SE = width /
    (2 z); normal, and t with ``df`` when given), over the rounding of the printed values."""
    e, lo, hi = (v if isinstance(v, Printed) else printed(v) for v in (estimate, low, high))
    se_lo, se_hi = ci_se_range(lo, hi, level, df, measure)
    if measure in RATIO_MEASURES:
        if e.low <= 0:
            return 0.0, 1.0
        est_lo = max(min(abs(math.log(e.low)), abs(math.log(e.high))), 0.0) if (e.low - 1) * (e.high - 1) > 0 else 0.0
        est_hi = max(abs(math.log(e.low)), abs(math.log(e.high)))
    else:
        est_lo = max(abs(e.value) - e.half, 0.0)
        est_hi = abs(e.value) + e.half
    dfs = [None] + ([df] if df is not None and df > 0 else [])
    ps = []
    for d in dfs:
        for z in ((est_hi / se_lo) if se_lo > 0 else math.inf, (est_lo / se_hi) if se_hi > 0 else 0.0):
            ps.append(float(2 * stats.norm.sf(z)) if d is None else float(t_two_sided_p(z, d)))
    return min(ps), max(ps)
