"""Internal consistency of what a source printed: do its numbers agree with each other?

A registry row can copy its source faithfully and still hold numbers that cannot all be right:
a P value no test could give from the printed means, SDs and n; a percentage that no count of
the denominator rounds to; a confidence interval that is not symmetric on its model scale; an SD
larger than the printed range allows; a mean of integer data that no sum of ``n`` integers gives.
This module finds such contradictions. It never changes the registry: a flagged row stays, with
its :class:`Flag`, and analyses offer its exclusion as a sensitivity analysis
(``[[sensitivity]] kind = "exclude_flagged"``).

Every check allows for rounding to the printed digits: a value printed with ``d`` decimals stands
for any number within half a unit of its last digit (``18.67`` for [18.665, 18.675]), so a flag
means that *no* combination of unrounded values agrees.

Checks (``Flag.check``)
-----------------------
``paired_p``        a within-arm P (measurements ``p_value`` on a post row) against the baseline and
                    post mean, SD and n under a paired t-test with n - 1 df: the pre-post correlation
                    r is not printed, so the range of r in [-1, 1] that gives the printed P is
                    reported; *error* when no r does, *warning* when only r < 0 does
``change_p``        a within-arm P on a change row (mean change, SD, n) under a one-sample t-test
``two_sample_p``    a between-arm P (contrasts) against the two arms' means, SDs and n, under Welch's
                    and the pooled-variance t-test (*warning*: the test may have been another)
``percent_count``   a printed percentage (``k (p%)`` or ``k/n (p%)`` in ``note``, or a derived
                    ``p% x n`` formula in ``method``) against k / n
``ci_symmetry``     a CI not symmetric about its estimate on the model scale (the log scale for OR,
                    RR, HR, RRR): not a Wald interval, or a misprint
``ci_se``           a printed SE against the width of its CI (normal or t quantile)
``ci_p``            a printed P against the estimate and the SE implied by the CI (normal or t)
``mean_in_range``   a mean outside its printed range
``median_in_iqr``   a median outside its IQR
``sd_range``        an SD larger than any sample within the printed range can have (Bhatia and
                    Davis 2000), or a percentage's SD larger than the bound on [0, 100]
``grim``            a mean of integer-valued data that no sum of n integers gives
                    (Brown and Heathers 2017); only where n < 10^decimals
``integer_granularity`` a median of integer data that is not a multiple of 0.5, or a minimum or
                    maximum that is not a whole number

References
----------
Brown NJL, Heathers JAJ. The GRIM test: a simple technique detects numerous anomalies in the
reporting of results in psychology. Soc Psychol Personal Sci 2017;8:363-369.
Bhatia R, Davis C. A better bound on the variance. Am Math Mon 2000;107:353-357.
Higgins JPT et al. Cochrane Handbook, section 6.5.2 (SDs from SEs, CIs and P values).
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

SEVERITIES = ("error", "warning")
CHECKS: dict[str, str] = {
    "paired_p": "within-arm P vs baseline/post mean, SD and n (paired t-test over every r in [-1, 1])",
    "change_p": "within-arm P vs mean change, SD and n (one-sample t-test)",
    "two_sample_p": "between-arm P vs the arms' means, SDs and n (Welch and pooled t-tests)",
    "percent_count": "printed percentage vs count / denominator",
    "ci_symmetry": "CI symmetric about the estimate on the model scale",
    "ci_se": "SE vs CI width",
    "ci_p": "P vs estimate and the SE implied by the CI",
    "mean_in_range": "mean inside [min, max]",
    "median_in_iqr": "median inside [q1, q3]",
    "sd_range": "SD within the largest SD the range allows (Bhatia-Davis)",
    "grim": "mean of integer data is a possible fraction k / n (GRIM)",
    "integer_granularity": "median of integer data a multiple of 0.5; min and max whole numbers",
}
#: Measurement outcomes whose individual values are whole numbers (counts and integer scores).
INTEGER_OUTCOMES = ("tjc", "sjc", "sledai", "essdai", "cdasi", "bilag", "oral_ulcer_count", "female_n")
#: Units that mean whole-number data.
INTEGER_UNITS = ("joints", "patients", "ulcers")
RATIO_MEASURES = ("OR", "RR", "HR", "RRR")
LINEAR_MEASURES = ("MD", "SMD")
_MEAN_STATISTICS = ("mean_sd", "mean_se", "mean_change_sd", "fold_mean_sd")
_R_GRID = np.linspace(-1.0, 1.0, 401)


@dataclass(frozen=True)
class Flag:
    """One inconsistency found in what a source printed.

    Attributes
    ----------
    study_id : str
    file : str
        The registry file holding the row (``measurements.csv``, ``events.csv``, ...).
    line : int or None
        The row's line in that file (header = line 1).
    columns : tuple of str
        The columns whose values disagree.
    check : str
        One of :data:`CHECKS`.
    severity : {"error", "warning"}
        ``error``: the printed numbers cannot all be right; ``warning``: they agree only under an
        unusual assumption (a negative pre-post correlation, another test) or a copying slip is likely.
    explanation : str
        What disagrees, with the numbers.
    """

    study_id: str
    file: str
    line: int | None
    columns: tuple[str, ...]
    check: str
    severity: str
    explanation: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{self.study_id} {where} [{', '.join(self.columns)}] {self.check} ({self.severity}): {self.explanation}"

    @property
    def short(self) -> str:
        """The flag in a few words, for an effect table's ``consistency_flag`` column."""
        return f"{self.check} ({self.severity}): {self.explanation}"


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


def decimals_of(cell) -> int:
    """Printed decimals of a cell (``"18.67"`` -> 2)."""
    p = printed(cell)
    if p is None:
        return 0
    return max(0, int(round(-math.log10(2 * p.half))))


def p_interval(p: Printed, operator: str = "=") -> tuple[float, float]:
    """The P values a printed P stands for: ``= 0.01`` -> [0.005, 0.015], ``< 0.001`` -> (0, 0.001]."""
    if operator == "<":
        return 0.0, p.value
    if operator == ">":
        return p.value, 1.0
    return max(p.low, 0.0), min(p.high, 1.0)


def _overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _fmt_p(p: float) -> str:
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.1e}"


def _fmt_interval(lo: float, hi: float) -> str:
    return f"[{_fmt_p(lo)}, {_fmt_p(hi)}]"


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


def _ci_se_range(low: Printed, high: Printed, level: float, df: float | None, measure: str) -> tuple[float, float]:
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
    se_lo, se_hi = _ci_se_range(lo, hi, level, df, measure)
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


# --------------------------------------------------------------------------- registry runner
def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    text = str(value).strip()
    return "" if text in ("nan", "<NA>", "None") else text


def _count(value) -> float | None:
    p = printed(value)
    return None if p is None else p.value


class _Checker:
    """Collects the flags of one registry (tables indexed by their CSV line)."""

    def __init__(self, tables: Mapping[str, pd.DataFrame]):
        # rows as (line, dict) once: iterating DataFrames row by row is slow
        self.rows = {name: _records(frame) for name, frame in tables.items() if frame is not None}
        self.flags: list[Flag] = []
        m = self.rows.get("measurements", [])
        self.baselines: dict[tuple, list[tuple[int, dict]]] = {}
        self.arm_rows: dict[tuple, list[dict]] = {}
        for line, r in m:
            if _text(r.get("timepoint")) == "baseline" and _text(r.get("statistic")) in ("mean_sd", "mean_se") \
                    and _text(r.get("qualifier")) == "":
                self.baselines.setdefault(_key(r), []).append((line, r))
            self.arm_rows.setdefault((_text(r["study_id"]), _text(r["arm_id"]), _text(r["outcome"])), []).append(r)

    def add(self, study: str, file: str, line, columns: Iterable[str], check: str, severity: str,
            explanation: str) -> None:
        self.flags.append(Flag(study, file, None if line is None else int(line), tuple(columns), check, severity,
                               explanation))

    # ---- measurements
    def measurements(self) -> None:
        for line, row in self.rows.get("measurements", []):
            self._row_ranges(line, row)
            self._row_integer(line, row)
            self._row_ci("measurements.csv", line, row, center=row.get("mean") if _text(row.get("mean"))
                         else row.get("median"), measure="MD", se=row.get("se"), p=None)
            self._row_percent_note("measurements.csv", line, row, n=_count(row.get("n")))
            if _text(row.get("p_value")):
                self._within_arm_p(line, row)

    def _row_ranges(self, line, row) -> None:
        study = _text(row["study_id"])
        mean, sd, n = printed(row.get("mean")), printed(row.get("sd")), _count(row.get("n"))
        median, q1, q3 = printed(row.get("median")), printed(row.get("q1")), printed(row.get("q3"))
        lo, hi = printed(row.get("min")), printed(row.get("max"))
        if mean is not None and lo is not None and hi is not None and not (lo.low <= mean.high and mean.low <= hi.high):
            self.add(study, "measurements.csv", line, ("mean", "min", "max"), "mean_in_range", "error",
                     f"mean {mean.value:g} lies outside the printed range [{lo.value:g}, {hi.value:g}]")
        if median is not None and q1 is not None and q3 is not None and \
                not (q1.low <= median.high and median.low <= q3.high):
            self.add(study, "measurements.csv", line, ("median", "q1", "q3"), "median_in_iqr", "error",
                     f"median {median.value:g} lies outside the printed IQR [{q1.value:g}, {q3.value:g}]")
        if mean is not None and sd is not None and n is not None and n > 1:
            bounds = None
            if lo is not None and hi is not None:
                bounds, what = (lo.low, hi.high), f"the printed range [{lo.value:g}, {hi.value:g}]"
            elif _is_percentage(row) and _text(row.get("timepoint")) in ("baseline", "post"):
                bounds, what = (0.0, 100.0), "a percentage's range [0, 100]"
            if bounds is not None and bounds[0] <= mean.high and mean.low <= bounds[1]:
                worst = max(sd_upper_bound(m, bounds[0], bounds[1], n) for m in (mean.low, mean.value, mean.high)
                            if bounds[0] <= m <= bounds[1])
                if sd.low > worst:
                    self.add(study, "measurements.csv", line, ("sd", "mean"), "sd_range", "error",
                             f"SD {sd.value:g} exceeds {worst:.3g}, the largest SD that {int(n)} values in "
                             f"{what} with mean {mean.value:g} can have (Bhatia-Davis bound)")

    def _row_integer(self, line, row) -> None:
        if not _is_integer_outcome(row):
            return
        study = _text(row["study_id"])
        statistic = _text(row.get("statistic"))
        n = _count(row.get("n"))
        mean = printed(row.get("mean"))
        if mean is not None and n is not None and statistic in ("mean_sd", "mean_se", "mean_range") \
                and _text(row.get("timepoint")) in ("baseline", "post") and not grim_consistent(mean, int(n)):
            near = [k / n for k in (math.floor(mean.value * n), math.ceil(mean.value * n))]
            self.add(study, "measurements.csv", line, ("mean", "n"), "grim", "warning",
                     f"mean {_text(row.get('mean'))} of {_text(row.get('outcome'))} (whole numbers) is not "
                     f"k / {int(n)} "
                     f"for any integer k (nearest {near[0]:.4g}, {near[1]:.4g}): the mean, n or the "
                     "number of patients measured is misprinted (GRIM, Brown and Heathers 2017)")
        median = printed(row.get("median"))
        if median is not None and _text(row.get("timepoint")) in ("baseline", "post") \
                and abs(median.value * 2 - round(median.value * 2)) > 1e-9:
            self.add(study, "measurements.csv", line, ("median",), "integer_granularity", "warning",
                     f"median {median.value:g} of whole-number data must be a multiple of 0.5")
        for column in ("min", "max"):
            v = printed(row.get(column))
            if v is not None and abs(v.value - round(v.value)) > 1e-9:
                self.add(study, "measurements.csv", line, (column,), "integer_granularity", "warning",
                         f"{column} {v.value:g} of whole-number data ({_text(row.get('outcome'))}) must be a whole "
                         "number: probably a quartile printed as a range bound")

    def _within_arm_p(self, line, row) -> None:
        study, arm = _text(row["study_id"]), _text(row["arm_id"])
        p, operator = printed(row.get("p_value")), _text(row.get("p_operator")) or "="
        timepoint, statistic = _text(row.get("timepoint")), _text(row.get("statistic"))
        n = _count(row.get("n"))
        if timepoint == "change" and statistic == "mean_change_sd" and n is not None and n > 1:
            lo, hi = one_sample_p_range(row["mean"], row["sd"], n)
            if not _overlaps((lo, hi), p_interval(p, operator)):
                self.add(study, "measurements.csv", line, ("p_value", "mean", "sd", "n"), "change_p", "error",
                         f"printed P {operator} {_text(row['p_value'])} but a one-sample t-test on mean change "
                         f"{_text(row['mean'])} (SD {_text(row['sd'])}, n {int(n)}) gives P in {_fmt_interval(lo, hi)}")
            return
        if timepoint != "post":
            return
        post = _mean_sd(row)
        if post is None:
            return
        base = _baseline_for(self.baselines, row)
        if base is None:
            return
        base_line, base_row = base
        pre = _mean_sd(base_row)
        n_pre = _count(base_row.get("n"))
        ns = [v for v in (n, n_pre) if v is not None]
        if pre is None or not ns or min(ns) < 2:
            return
        n_used = min(ns)
        rng = paired_r_range(pre[0], pre[1], post[0], post[1], n_used, p, operator)
        what = (f"{_text(row['outcome'])} {_text(base_row['mean'])} +- {_spread_text(base_row, pre[1])} -> "
                f"{_text(row['mean'])} +- {_spread_text(row, post[1])} (n {int(n_used)}) with P {operator} "
                f"{_text(row['p_value'])}")
        columns = ("p_value", "mean", "sd", "n")
        if not rng.possible:
            at = (f"a paired t-test gives P = {_fmt_p(rng.p_at_minus1)} at r = -1 and {_fmt_p(rng.p_at_plus1)} "
                  "at r = 1")
            self.add(study, "measurements.csv", line, columns, "paired_p", "error",
                     f"{what}: impossible for every pre-post correlation r in [-1, 1] ({at}; baseline row line "
                     f"{int(base_line)}, rounding allowed)")
        elif rng.r_high < 0:
            self.add(study, "measurements.csv", line, columns, "paired_p", "warning",
                     f"{what}: a paired t-test gives this P only for a negative pre-post correlation, r in "
                     f"[{rng.r_low:.2f}, {rng.r_high:.2f}] (baseline row line {int(base_line)}); another test "
                     "or a misprint is more likely")

    # ---- events
    def events(self) -> None:
        for line, row in self.rows.get("events", []):
            n = _count(row.get("n"))
            self._row_percent_note("events.csv", line, row, n=n)
            method = _text(row.get("method"))
            match = _DERIVED_PERCENT.match(method)
            k = _count(row.get("events"))
            if match and k is not None and n:
                pct = printed(match.group(1))
                if not percent_matches(k, n, pct):
                    self.add(_text(row["study_id"]), "events.csv", line, ("events", "n", "method"), "percent_count",
                             "warning", f"{int(k)}/{int(n)} = {100 * k / n:.3g}% does not round to the printed "
                             f"{match.group(1)}%: no whole count of {int(n)} gives that percentage")

    def _row_percent_note(self, file: str, line, row, n: float | None) -> None:
        note = _text(row.get("note"))
        if not note or "%" not in note:
            return
        for match in _NOTE_PERCENT.finditer(note):
            k, denominator, pct = match.group(1), match.group(2), match.group(3)
            denom = float(denominator) if denominator else n
            if not denom:
                continue
            if not percent_matches(float(k), denom, pct):
                self.add(_text(row["study_id"]), file, line, ("note", "n"), "percent_count", "warning",
                         f"'{match.group(0)}' in the note: {k}/{denom:g} = {100 * float(k) / denom:.3g}%, which "
                         f"does not round to {pct}%")

    # ---- contrasts and meta-analyses
    def contrasts(self) -> None:
        for line, row in self.rows.get("contrasts", []):
            measure = _text(row.get("measure"))
            n_a, n_b = _count(row.get("n_a")), _count(row.get("n_b"))
            df = n_a + n_b - 2 if n_a and n_b else None
            if measure in RATIO_MEASURES + LINEAR_MEASURES:
                self._row_ci("contrasts.csv", line, row, center=row.get("estimate"), measure=measure,
                             se=row.get("se"), p=row.get("p_value"), df=df)
            if _text(row.get("p_value")) and measure in ("P", "MD"):
                self._two_sample(line, row, n_a, n_b)

    def meta_analyses(self) -> None:
        for line, row in self.rows.get("meta_analyses", []):
            measure = _text(row.get("measure"))
            if measure in RATIO_MEASURES + LINEAR_MEASURES:
                self._row_ci("meta_analyses.csv", line, row, center=row.get("estimate"), measure=measure, se=None,
                             p=row.get("p_value"), study=_text(row.get("ma_id")))

    def _row_ci(self, file: str, line, row, center, measure: str, se, p, df: float | None = None,
                study: str | None = None) -> None:
        e, lo, hi = printed(center), printed(row.get("ci_low")), printed(row.get("ci_high"))
        if e is None or lo is None or hi is None:
            return
        study = study or _text(row.get("study_id"))
        level_cell = printed(row.get("ci_level"))
        level = level_cell.value if level_cell is not None else 95.0
        if df is None and file == "measurements.csv":
            n = _count(row.get("n"))
            df = n - 1 if n and n > 1 else None
        scale = "log scale" if measure in RATIO_MEASURES else "scale of the estimate"
        asym, allow = ci_asymmetry(e, lo, hi, measure)
        if abs(asym) > allow + 1e-12:
            self.add(study, file, line, ("ci_low", "ci_high"), "ci_symmetry", "warning",
                     f"CI [{lo.value:g}, {hi.value:g}] is not symmetric about {e.value:g} on the {scale} "
                     f"(asymmetry {asym:.3g}, rounding explains {allow:.2g}): not a Wald interval, or misprinted")
        se_p = printed(se)
        if se_p is not None:
            se_lo, se_hi = _ci_se_range(lo, hi, level, df, measure)
            if not (se_lo - 1e-12 <= se_p.high and se_p.low <= se_hi + 1e-12):
                self.add(study, file, line, ("se", "ci_low", "ci_high"), "ci_se", "warning",
                         f"printed SE {se_p.value:g} but the {level:g}% CI [{lo.value:g}, {hi.value:g}] implies an "
                         f"SE in [{se_lo:.3g}, {se_hi:.3g}]")
        p_p = printed(p)
        if p_p is not None:
            operator = _text(row.get("p_operator")) or "="
            p_lo, p_hi = ci_p_range(e, lo, hi, level, df, measure)
            if not _overlaps((p_lo, p_hi), p_interval(p_p, operator)):
                self.add(study, file, line, ("p_value", "estimate", "ci_low", "ci_high"), "ci_p", "warning",
                         f"printed P {operator} {_text(row.get('p_value'))} but the estimate {e.value:g} with CI "
                         f"[{lo.value:g}, {hi.value:g}] gives P in {_fmt_interval(p_lo, p_hi)} (Wald test, "
                         "normal or t)")

    def _two_sample(self, line, row, n_a, n_b) -> None:
        arms = []
        for arm, n_given in ((_text(row.get("arm_a")), n_a), (_text(row.get("arm_b")), n_b)):
            found = _arm_summary(self.arm_rows.get((_text(row.get("study_id")), arm, _text(row.get("outcome"))), []),
                                 row.get("week"))
            if found is None:
                return
            mean, sd, n_row = found
            n = n_row if n_row is not None else n_given
            if n is None or n < 2:
                return
            arms.append((mean, sd, n))
        (m1, s1, n1), (m2, s2, n2) = arms
        p, operator = printed(row["p_value"]), _text(row.get("p_operator")) or "="
        target = p_interval(p, operator)
        welch = two_sample_p_range(m1, s1, n1, m2, s2, n2, welch=True)
        pooled = two_sample_p_range(m1, s1, n1, m2, s2, n2, welch=False)
        if not (_overlaps(welch, target) or _overlaps(pooled, target)):
            self.add(_text(row["study_id"]), "contrasts.csv", line, ("p_value",), "two_sample_p", "warning",
                     f"printed P {operator} {_text(row['p_value'])} for {_text(row['outcome'])}, but "
                     f"{m1.value:g} +- {s1.value:g} (n {int(n1)}) vs {m2.value:g} +- {s2.value:g} (n {int(n2)}) give "
                     f"P in {_fmt_interval(*welch)} (Welch) and {_fmt_interval(*pooled)} (pooled t-test): "
                     "another test, other n, or a misprint")


_NOTE_PERCENT = re.compile(r"(?<![\d.])(\d+)\s*(?:/\s*(\d+)\s*)?\(\s*(\d+(?:\.\d+)?)\s*%\s*\)")
_DERIVED_PERCENT = re.compile(r"derived:\s*(\d+(?:\.\d+)?)\s*%\s*x\s*\d+")


def _is_percentage(row) -> bool:
    return _text(row.get("unit")) == "%" or "_pct" in _text(row.get("outcome"))


def _is_integer_outcome(row) -> bool:
    return _text(row.get("outcome")) in INTEGER_OUTCOMES or _text(row.get("unit")) in INTEGER_UNITS


def _mean_sd(row) -> tuple[Printed, Printed] | None:
    """(mean, SD) of a mean_sd or mean_se row (SD = SE sqrt(n), its rounding scaled too)."""
    statistic = _text(row.get("statistic"))
    mean = printed(row.get("mean"))
    if mean is None:
        return None
    if statistic == "mean_sd":
        sd = printed(row.get("sd"))
        return None if sd is None else (mean, sd)
    if statistic == "mean_se":
        se, n = printed(row.get("se")), _count(row.get("n"))
        if se is None or not n:
            return None
        root = math.sqrt(n)
        return mean, Printed(se.value * root, se.half * root)
    return None


def _spread_text(row, sd: Printed) -> str:
    """The SD as printed (or the SD derived from a printed SE)."""
    return _text(row.get("sd")) or f"{sd.value:.4g} (from SE)"


def _key(row) -> tuple[str, str, str, str]:
    return (_text(row["study_id"]), _text(row["arm_id"]), _text(row["outcome"]), _text(row.get("phenotype")))


def _records(frame: pd.DataFrame) -> list[tuple[int, dict]]:
    """(line, row as a dict) for every row of a frame indexed by its CSV line."""
    return list(zip((int(i) for i in frame.index), frame.to_dict("records")))


def _baseline_for(baselines: dict[tuple, list[tuple[int, dict]]], row) -> tuple[int, dict] | None:
    """The baseline mean row of the same study, arm, outcome and phenotype (week 0 first)."""
    candidates = list(baselines.get(_key(row), []))
    if not candidates:
        return None
    candidates.sort(key=lambda item: 0 if _text(item[1].get("week")) in ("0", "0.0") else 1)
    return candidates[0]


def _arm_summary(rows: list[dict], week) -> tuple[Printed, Printed, float | None] | None:
    """(mean, SD, n) of one arm's rows of an outcome at a contrast's week: a unique mean row, or None."""
    week_p = printed(week)
    found = []
    for r in rows:
        if _text(r.get("timepoint")) not in ("baseline", "post") or _text(r.get("qualifier")):
            continue
        r_week = printed(r.get("week"))
        same = (week_p is None and r_week is None) or (
            week_p is not None and r_week is not None and abs(week_p.value - r_week.value) < 1e-9)
        if same:
            ms = _mean_sd(r)
            if ms is not None:
                found.append((ms[0], ms[1], _count(r.get("n"))))
    return found[0] if len(found) == 1 else None


def check_tables(tables: Mapping[str, pd.DataFrame]) -> list[Flag]:
    """Every consistency flag of a registry given as DataFrames indexed by their CSV line.

    Parameters
    ----------
    tables : mapping of table name to DataFrame
        ``measurements``, ``events``, ``contrasts``, ``meta_analyses`` (any may be absent). Cells
        may be text as printed (the validator's frames: printed decimals kept) or typed values
        (a :class:`~bayes_il2.evidence.Registry`: trailing zeros lost, so rounding allowances can
        only be wider).

    Returns
    -------
    list of Flag
        In file order (measurements, events, contrasts, meta_analyses), then line order.
    """
    checker = _Checker(tables)
    checker.measurements()
    checker.events()
    checker.contrasts()
    checker.meta_analyses()
    return checker.flags


def check_registry_consistency(source=None) -> list[Flag]:
    """Consistency flags of a registry directory (default: the bundled one) or a loaded Registry.

    A directory is read as text, so the printed decimals set the rounding allowances.
    """
    from bayes_il2.evidence._csvio import read_text_table
    from bayes_il2.evidence.load import default_data_dir

    if source is None or isinstance(source, (str, Path)):
        directory = Path(source) if source is not None else default_data_dir()
        tables = {}
        for name in ("measurements", "events", "contrasts", "meta_analyses"):
            path = directory / f"{name}.csv"
            if path.exists():
                frame, _ = read_text_table(path)
                if frame is not None:
                    tables[name] = frame
        return check_tables(tables)
    return check_tables({name: getattr(source, name) for name in ("measurements", "events", "contrasts",
                                                                   "meta_analyses") if hasattr(source, name)})


def format_flags(flags: list[Flag], heading: str = "consistency") -> str:
    """The flags as printed by ``bayes-il2 data check``: a count line, then one line per flag."""
    if not flags:
        return f"{heading}: no inconsistency found"
    counts = {s: sum(f.severity == s for f in flags) for s in SEVERITIES}
    lines = [f"{heading}: {counts['error']} error(s), {counts['warning']} warning(s) "
             "(the rows stay in the registry; [[sensitivity]] kind = 'exclude_flagged' drops flagged studies)"]
    lines += [f"  - {f}" for f in flags]
    return "\n".join(lines)


def flags_by_line(flags: Iterable[Flag], file: str = "measurements.csv") -> dict[int, list[Flag]]:
    """The flags of one file, by line (for joining flags onto the rows an effect used)."""
    out: dict[int, list[Flag]] = {}
    for flag in flags:
        if Path(flag.file).name == file and flag.line is not None:
            out.setdefault(flag.line, []).append(flag)
    return out


def flagged_studies(flags: Iterable[Flag], severities: tuple[str, ...] = ("error",)) -> list[str]:
    """Study ids with at least one flag of the given severities, sorted."""
    return sorted({f.study_id for f in flags if f.severity in severities})
