"""Regimen moderators from the registry's free-text schedule: schedule class, doses per course.

The registry records the schedule as printed (``studies.schedule``: "daily x 5 days every 4 weeks,
3 cycles", "every other day, 2 weeks on / 2 weeks off, 3 cycles"). Meta-regression needs it coded:
:func:`regimen_of` maps it to one of :data:`SCHEDULES` and derives the injections, days and
cumulative dose of ONE course (the first treatment cycle), stating the formula of every derived
value (``method``), so that the effect tables can carry them as moderators (issue #14).

Definitions
-----------
``daily_x5``         a course of 5 daily injections ("daily x 5 days", "daily for 5 days",
                     "5-day courses ..."), possibly repeated: 5 injections over 5 days.
``every_other_day``  injections every other day. The Peking cycle "every other day, 2 weeks on /
                     2 weeks off" (and "every other day x 7 doses") is a 14-day course of 7
                     injections (days 1, 3, ..., 13; Zhang et al. 2022 STTT print "7 doses");
                     continuous every-other-day dosing has no course (cumulative dose blank).
``daily``            daily injections for a stated number of weeks ("daily for 8 weeks"): one course
                     of 7 x weeks injections.
``mixed``            a published pooled estimate over several regimens.
``other``            anything else (weekly, three times a week, single dose, not stated).

Cumulative dose per course = dose per injection (MIU) x injections per course; blank when the dose
is per m² or not stated, or the schedule has no course.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

#: Schedule classes (the ``schedule`` moderator of the partial-information effect table).
SCHEDULES = ("daily_x5", "every_other_day", "daily", "mixed", "other")

_DAILY_X5 = re.compile(r"^\s*(daily\s*(x|for)\s*5\s*days|5-day\s+(courses?|induction))", re.I)
_EOD_CYCLE = re.compile(r"^\s*every other day(,\s*2 weeks on|\s*x\s*7 doses|\s*for 2 weeks)", re.I)
_EOD = re.compile(r"^\s*every other day", re.I)
_DAILY_WEEKS = re.compile(r"^\s*daily(\s*for|,\s*to week)\s*(\d+(\.\d+)?)\s*weeks?", re.I)
_MIXED = re.compile(r"^\s*mixed", re.I)


@dataclass(frozen=True)
class Regimen:
    """A coded regimen: class, dose per injection and one course's injections, days and total dose."""

    schedule: str
    dose_miu: float
    injections_per_course: float
    course_days: float
    cumulative_dose_miu: float
    method: str


def regimen_of(schedule_text: str, dose_miu: float, dose_unit: str = "MIU") -> Regimen:
    """Code a printed schedule and dose (see the module docstring for the definitions).

    Parameters
    ----------
    schedule_text : str
        The schedule as printed (``studies.schedule`` or ``meta_analyses.schedule``).
    dose_miu : float
        Dose per injection (NaN when not stated).
    dose_unit : str
        ``MIU`` or ``MIU/m2``; a per-m² dose gives no dose in MIU (NaN) and no cumulative dose.

    Returns
    -------
    Regimen
        ``method`` names the rule applied and the formula of the cumulative dose.
    """
    text = (schedule_text or "").strip()
    dose = float(dose_miu) if dose_miu is not None and not _nan(dose_miu) else math.nan
    per_m2 = (dose_unit or "").strip() == "MIU/m2"
    if per_m2:
        dose = math.nan
    if _MIXED.match(text):
        return Regimen("mixed", dose, math.nan, math.nan, math.nan, "mixed regimens (a pooled estimate)")
    if _DAILY_X5.match(text):
        schedule, injections, days, rule = "daily_x5", 5.0, 5.0, "a course of 5 daily injections"
    elif _EOD_CYCLE.match(text):
        schedule, injections, days = "every_other_day", 7.0, 14.0
        rule = "every other day over a 14-day cycle: 7 injections (days 1, 3, ..., 13)"
    elif _EOD.match(text):
        return Regimen("every_other_day", dose, math.nan, math.nan, math.nan,
                       "continuous every-other-day dosing: no course, cumulative dose not derived")
    elif (m := _DAILY_WEEKS.match(text)) is not None:
        weeks = float(m.group(2))
        schedule, injections, days = "daily", 7.0 * weeks, 7.0 * weeks
        rule = f"daily for {weeks:g} weeks: 7 x {weeks:g} = {7 * weeks:g} injections"
    else:
        why = "schedule not stated" if not text else f"schedule {text!r} not coded"
        return Regimen("other", dose, math.nan, math.nan, math.nan, why)
    if math.isnan(dose):
        unit = "a per-m2 dose" if per_m2 else "dose not stated"
        return Regimen(schedule, dose, injections, days, math.nan, f"{rule}; cumulative dose blank ({unit})")
    total = dose * injections
    return Regimen(schedule, dose, injections, days, total,
                   f"{rule}; derived: cumulative dose = {dose:g} MIU x {injections:g} = {total:g} MIU")


def _nan(value) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True
