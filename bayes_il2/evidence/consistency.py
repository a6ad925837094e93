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

import pandas as pd

from bayes_il2.evidence.printed_stats import (RATIO_MEASURES, PairedRange, Printed, ci_asymmetry, ci_p_range,
                                              ci_se_range, format_interval, format_p, grim_consistent,
                                              intervals_overlap, normal_quantile, one_sample_p_range, p_interval,
                                              paired_r_range, paired_t_p, percent_matches, printed, sd_upper_bound,
                                              t_two_sided_p, two_sample_p_range)

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
LINEAR_MEASURES = ("MD", "SMD")
#: The pure functions live in :mod:`bayes_il2.evidence.printed_stats`; re-exported here for convenience.
__all__ = ["CHECKS", "Flag", "INTEGER_OUTCOMES", "INTEGER_UNITS", "LINEAR_MEASURES", "PairedRange", "Printed",
           "RATIO_MEASURES", "SEVERITIES", "check_registry_consistency", "check_tables", "ci_asymmetry", "ci_p_range",
           "flagged_studies", "flags_by_line", "format_flags", "grim_consistent", "normal_quantile",
           "one_sample_p_range", "p_interval", "paired_r_range", "paired_t_p", "percent_matches", "printed",
           "sd_upper_bound", "t_two_sided_p", "two_sample_p_range"]


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
            # a CI of a mean (a median's CI comes from order statistics and need not be symmetric)
            self._row_ci("measurements.csv", line, row, center=row.get("mean"), measure="MD", se=row.get("se"), p=None)
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
        if timepoint == "change" and statistic == "mean_change_sd" and n is not None and n > 1 \
                and printed(row.get("mean")) is not None and printed(row.get("sd")) is not None:
            lo, hi = one_sample_p_range(row["mean"], row["sd"], n)
            if not intervals_overlap((lo, hi), p_interval(p, operator)):
                self.add(study, "measurements.csv", line, ("p_value", "mean", "sd", "n"), "change_p", "error",
                         f"printed P {operator} {_text(row['p_value'])} but a one-sample t-test on mean change "
                         f"{_text(row['mean'])} (SD {_text(row['sd'])}, n {int(n)}) gives P in {format_interval(lo, hi)}")
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
            at = (f"a paired t-test gives P = {format_p(rng.p_at_minus1)} at r = -1 and {format_p(rng.p_at_plus1)} "
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
            measure = (_text(row.get("measure")).split() or [""])[0]  # 'SMD (as printed)' is an SMD
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
            se_lo, se_hi = ci_se_range(lo, hi, level, df, measure)
            if not (se_lo - 1e-12 <= se_p.high and se_p.low <= se_hi + 1e-12):
                self.add(study, file, line, ("se", "ci_low", "ci_high"), "ci_se", "warning",
                         f"printed SE {se_p.value:g} but the {level:g}% CI [{lo.value:g}, {hi.value:g}] implies an "
                         f"SE in [{se_lo:.3g}, {se_hi:.3g}]")
        p_p = printed(p)
        if p_p is not None:
            operator = _text(row.get("p_operator")) or "="
            p_lo, p_hi = ci_p_range(e, lo, hi, level, df, measure)
            if not intervals_overlap((p_lo, p_hi), p_interval(p_p, operator)):
                self.add(study, file, line, ("p_value", "estimate", "ci_low", "ci_high"), "ci_p", "warning",
                         f"printed P {operator} {_text(row.get('p_value'))} but the estimate {e.value:g} with CI "
                         f"[{lo.value:g}, {hi.value:g}] gives P in {format_interval(p_lo, p_hi)} (Wald test, "
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
        if not (intervals_overlap(welch, target) or intervals_overlap(pooled, target)):
            self.add(_text(row["study_id"]), "contrasts.csv", line, ("p_value",), "two_sample_p", "warning",
                     f"printed P {operator} {_text(row['p_value'])} for {_text(row['outcome'])}, but "
                     f"{m1.value:g} +- {s1.value:g} (n {int(n1)}) vs {m2.value:g} +- {s2.value:g} (n {int(n2)}) give "
                     f"P in {format_interval(*welch)} (Welch) and {format_interval(*pooled)} (pooled t-test): "
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
