"""From the evidence registry to effect and event tables (what the analysis pipeline calls).

Three builders, each returning ``(table, excluded)``; ``excluded`` has the columns
``study_id, arm_id, outcome, reason`` and lists every candidate row that could not be used:

- :func:`treg_expansion_effects`: within-arm Treg change under LD-IL-2 (ROMC, SMCR, SMCC or MC),
  one row per study arm, for the NNHM / three-level models;
- :func:`event_rate_effects`: single-arm event counts under LD-IL-2 (+ PLO yi/vi for plots);
- :func:`event_contrast_table`: LD-IL-2 vs placebo/control counts (+ log OR yi/vi for display).

A *candidate* is a study with a pooled (``pool == "yes"``) LD-IL-2 arm (treatment ``ld_il2`` or
``ld_il2_combo``) that has rows of the outcome; studies with no such rows are not candidates and
are not listed. Studies with ``pool == "no"`` are excluded ("duplicate cohort of X" when
``duplicate_of`` is set). The pseudo-arm ``all`` is used only when no named LD-IL-2 arm of the
study has rows of the outcome.

Output columns (docs/architecture.md, "Effect tables"): ``study_id, label, disease, design,
measure, yi, vi, arm_id, outcome, n, dose_miu, treatment_weeks, year, source_id, location, method,
note``, plus builder-specific columns documented in each function.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from bayes_il2.effects import conversions
from bayes_il2.effects._common import check_choice
from bayes_il2.effects.binary import log_odds_ratio, logit_proportion
from bayes_il2.effects.prepost import (DEFAULT_R, PREPOST, mean_change_from_change, prepost_effect,
                                       standardized_mean_change_raw)
from bayes_il2.effects.lognormal import DISTRIBUTIONS
from bayes_il2.effects.quality import FLAG_COLUMN, SEVERITY_COLUMN, flag_cells, measurement_flags
from bayes_il2.effects.skewness import MIN_N as SKEWNESS_MIN_N
from bayes_il2.effects.skewness import skewness_test
from bayes_il2.errors import EffectSizeError
from bayes_il2._cells import cell_number as _num, cell_text as _text

LD_TREATMENTS = ("ld_il2", "ld_il2_combo")
CONTROL_TREATMENTS = ("placebo", "control")
#: Treg outcomes in order of preference when ``outcome`` is not given.
TREG_PREFERENCE = ("treg_pct_cd4", "treg_count_ul", "treg_count", "treg_fold")
#: Summary statistics of a baseline/post row, in order of preference.
STATISTIC_PREFERENCE = ("mean_sd", "mean_se", "median_iqr", "median_range", "mean_range", "point")
EXCLUDED_COLUMNS = ["study_id", "arm_id", "outcome", "reason"]
EFFECT_COLUMNS = ["study_id", "label", "disease", "design", "measure", "yi", "vi", "arm_id", "outcome", "n",
                  "dose_miu", "treatment_weeks", "year", "source_id", "location", "method", "note"]
TREG_MEASURES = tuple(PREPOST)
#: What to do with a median summary the skewness test flags (see :func:`treg_expansion_effects`).
SKEWED_POLICIES = ("keep", "exclude", "lognormal")
#: Continuity correction of the display yi/vi of the event tables (recorded in ``correction``).
DISPLAY_CORRECTION = "only0"


# --------------------------------------------------------------------------- small helpers


def _excluded(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=EXCLUDED_COLUMNS).astype(str) if rows else pd.DataFrame(
        {c: pd.Series([], dtype=str) for c in EXCLUDED_COLUMNS})


def _drop(study: str, arm: str, outcome: str, reason: str) -> dict:
    return {"study_id": study, "arm_id": arm, "outcome": outcome, "reason": reason}


@dataclass(frozen=True)
class _Study:
    study_id: str
    disease: str
    design: str
    dose_miu: float
    dose_unit: str
    treatment_weeks: float
    pool: str
    duplicate_of: str
    year: float
    author: str

    @property
    def label(self) -> str:
        if self.author:
            year = "" if np.isnan(self.year) else f" {int(self.year)}"
            return f"{self.author}{year}"
        return self.study_id

    def pool_reason(self) -> str | None:
        if self.pool == "no":
            if self.duplicate_of:
                return f"duplicate cohort of {self.duplicate_of}"
            return "not pooled (pool = no in studies.csv)"
        return None


def _first_author(authors: str) -> str:
    """Surname of the first author ("He J, Chen J, ..." -> "He et al."); '' for a group author."""
    authors = authors.strip()
    if not authors:
        return ""
    first = authors.split(";")[0].split(",")[0].replace("et al.", "").replace("et al", "").strip()
    tokens = first.split()
    while len(tokens) > 1 and tokens[-1].replace(".", "").replace("-", "").isupper() and len(tokens[-1]) <= 4:
        tokens.pop()
    if not tokens or len(tokens) > 2:
        return ""
    many = "," in authors or ";" in authors or "et al" in authors
    return " ".join(tokens) + (" et al." if many else "")


def _studies(registry) -> dict[str, _Study]:
    sources = registry.sources
    years = dict(zip(sources["source_id"].astype(str), sources["year"])) if len(sources) else {}
    authors = dict(zip(sources["source_id"].astype(str), sources["authors"])) if len(sources) else {}
    out = {}
    for _, s in registry.studies.iterrows():
        sid = _text(s["study_id"])
        src = _text(s["source_id"])
        out[sid] = _Study(sid, _text(s["disease"]), _text(s["design"]), _num(s["dose_miu"]), _text(s["dose_unit"]),
                          _num(s["treatment_weeks"]), _text(s["pool"]), _text(s["duplicate_of"]),
                          _num(years.get(src)), _first_author(_text(authors.get(src))))
    return out


def _arms(registry) -> pd.DataFrame:
    arms = registry.arms.copy()
    for c in ("study_id", "arm_id", "treatment", "label"):
        arms[c] = arms[c].map(_text)
    return arms


def _arm_n(arm: pd.Series | None) -> float:
    if arm is None:
        return float("nan")
    for col in ("n_analysed", "n_randomized"):
        v = _num(arm.get(col))
        if np.isfinite(v):
            return v
    return float("nan")


def _pick_arms(arm_ids: list[str]) -> list[str]:
    """Named arms take precedence over the pseudo-arm ``all``."""
    named = [a for a in arm_ids if a != "all"]
    return named if named else arm_ids


def _base_row(study: _Study, arm: pd.Series | None, arm_id: str, outcome: str, measure: str) -> dict:
    dose = _num(arm.get("dose_miu")) if arm is not None else float("nan")
    label = study.label
    return {"study_id": study.study_id, "label": label, "disease": study.disease, "design": study.design,
            "measure": measure, "arm_id": arm_id, "outcome": outcome,
            "dose_miu": dose if np.isfinite(dose) else study.dose_miu, "treatment_weeks": study.treatment_weeks,
            "year": study.year}


def _relabel(rows: list[dict], arms: pd.DataFrame) -> None:
    """Make display labels unique: a label two studies share becomes the study id; studies with
    several rows get the arm's label (or id) appended."""
    owners: dict[str, set] = {}
    for r in rows:
        owners.setdefault(r["label"], set()).add(r["study_id"])
    for r in rows:
        if len(owners[r["label"]]) > 1:
            r["label"] = r["study_id"]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["study_id"]] = counts.get(r["study_id"], 0) + 1
    for r in rows:
        if counts[r["study_id"]] > 1:
            match = arms[(arms["study_id"] == r["study_id"]) & (arms["arm_id"] == r["arm_id"])]
            name = match["label"].iloc[0] if len(match) and match["label"].iloc[0] else r["arm_id"]
            r["label"] = f"{r['label']} ({name})"


def _provenance(rows: list[pd.Series]) -> dict:
    """source_id, location, method, note of the rows used (joined when they differ)."""
    def join(col: str, sep: str = "; ") -> str:
        values = [_text(r.get(col)) for r in rows]
        unique = [v for i, v in enumerate(values) if v and v not in values[:i]]
        return sep.join(unique)

    return {"source_id": join("source_id", ";"), "location": join("location"), "method": join("method"),
            "note": join("note")}


# --------------------------------------------------------------------------- Treg expansion
class _ArmValue(NamedTuple):
    """One baseline/post value as a mean and SD, how it was obtained, and whether it came from a
    median summary that the skewness test flags but that was converted as normal anyway."""

    mean: float
    sd: float
    how: str
    skewed: bool = False


class _Usable(NamedTuple):
    """The first usable row of a timepoint, its n and its value."""

    row: pd.Series
    n: float
    value: _ArmValue


def _conversion_scale(median: float, n: float, quantiles: dict[str, float], ident: str,
                      skewed: str) -> tuple[str, str]:
    """("normal" | "lognormal", note to append), or ("", reason) when no conversion applies.

    A skewed summary kept under ``skewed="keep"`` comes back as ("normal", note), its note naming
    the test; the caller flags it.
    """
    if n < 2:
        return "normal", ""
    if n < SKEWNESS_MIN_N:
        return "normal", f"; n = {n:g} < {SKEWNESS_MIN_N}: too few to test for skewness (Shi 2023), converted as normal"
    test = skewness_test(median, n, **quantiles, ids=[ident])
    if not test.skewed:
        return "normal", ""
    verdict = f"skewed (Shi 2023 test: T = {test.statistic:.3f} >= {test.critical:.3f})"
    if skewed == "keep":
        return "normal", f"; {verdict}, converted as normal"
    if skewed == "lognormal" and n >= 5 and min(median, *quantiles.values()) > 0:
        logged = skewness_test(median, n, **quantiles, dist="lognormal", ids=[ident])
        if not logged.skewed:
            return "lognormal", f"; {verdict}, converted as log-normal (Shi 2020b)"
        return "", f"median summary {verdict}, and on the log scale too: no conversion applies"
    return "", f"median summary {verdict}: the normal-theory conversion does not apply"


def _row_mean_sd(row: pd.Series, n: float, ident: str = "", skewed: str = "keep") -> _ArmValue | str:
    """Mean, SD and the conversion used for one baseline/post row, or the reason it is unusable.

    Median summaries are tested for skewness first (Shi et al. 2023); ``skewed`` says what to do
    with a skewed one (see :func:`treg_expansion_effects`).
    """
    stat = _text(row["statistic"])
    if stat in ("p_only", "qualitative"):
        what = "a P value" if stat == "p_only" else "a qualitative statement"
        return f"only {what} is reported (no summary values; kind 'treg_partial' uses it)"
    mean, sd, se = _num(row["mean"]), _num(row["sd"]), _num(row["se"])
    med, q1, q3 = _num(row["median"]), _num(row["q1"]), _num(row["q3"])
    lo, hi = _num(row["min"]), _num(row["max"])
    has = np.isfinite
    if stat.startswith("median") and has(med):
        if not has(n):
            return "n not reported (needed to convert median to mean/SD)"
        quantiles = {"q1": q1, "q3": q3} if has(q1) and has(q3) else {}
        if has(lo) and has(hi):
            quantiles.update(minimum=lo, maximum=hi)
        if not quantiles:
            return "SD not reported and not derivable"
        dist, note = _conversion_scale(med, n, quantiles, ident, skewed)
        if dist not in DISTRIBUTIONS:
            return note
        if len(quantiles) == 4:
            m, s = conversions.mean_sd_from_five_numbers(lo, q1, med, q3, hi, n, dist=dist, ids=[ident])
            how = "median/IQR/range -> mean (Luo 2018), SD (Shi 2020)"
        elif "q1" in quantiles:
            m, s = conversions.mean_sd_from_median_iqr(med, q1, q3, n, dist=dist, ids=[ident])
            how = "median/IQR -> mean (Luo 2018), SD (Wan 2014)"
        else:
            m, s = conversions.mean_sd_from_median_range(med, lo, hi, n, dist=dist, ids=[ident])
            how = "median/range -> mean (Luo 2018), SD (Wan 2014)"
        return _ArmValue(m, s, how + note, skewed=dist == "normal" and bool(note))
    if not has(mean):
        return "mean not reported"
    if has(sd):
        return _ArmValue(mean, sd, "mean/SD as reported")
    if has(se) and has(n):
        return _ArmValue(mean, float(conversions.sd_from_se(se, n, ids=[ident])), "SD from SE (SD = SE sqrt(n))")
    if has(_num(row["ci_low"])) and has(_num(row["ci_high"])) and has(n):
        s = float(conversions.sd_from_ci(_num(row["ci_low"]), _num(row["ci_high"]), n, ids=[ident]))
        return _ArmValue(mean, s, "SD from 95% CI (Cochrane 6.5.2.2)")
    if has(lo) and has(hi) and has(n):
        return _ArmValue(mean, float(conversions.sd_from_range(lo, hi, n, ids=[ident])), "SD from range (Wan 2014)")
    return "SD not reported and not derivable"


def _groups(table: pd.DataFrame, keys: list[str]) -> dict[tuple, pd.DataFrame]:
    """The rows of ``table`` per value of ``keys`` (tuples), each group in the table's row order."""
    return {key if isinstance(key, tuple) else (key,): group for key, group in table.groupby(keys, sort=False)}


def _stat_rank(row: pd.Series) -> int:
    stat = _text(row["statistic"])
    return STATISTIC_PREFERENCE.index(stat) if stat in STATISTIC_PREFERENCE else len(STATISTIC_PREFERENCE)


def _order_post(post: pd.DataFrame, weeks: float) -> pd.DataFrame:
    """Post rows, best first: closest to the end of treatment (latest if unknown); blank weeks last."""
    week = post["week"].astype(float)
    if np.isfinite(weeks):
        key = (week - weeks).abs() + np.where(week > weeks, 1e-6, 0.0)
    else:
        key = -week
    key = key.fillna(np.inf)
    ranks = post.apply(_stat_rank, axis=1) if len(post) else pd.Series([], dtype=float)
    return post.assign(_key=key.to_numpy(), _rank=np.asarray(ranks, dtype=float)).sort_values(
        ["_key", "_rank"], kind="stable")


def _order_baseline(base: pd.DataFrame) -> pd.DataFrame:
    week = base["week"].astype(float).fillna(0.0)
    ranks = base.apply(_stat_rank, axis=1) if len(base) else pd.Series([], dtype=float)
    return base.assign(_key=week.abs().to_numpy(), _rank=np.asarray(ranks, dtype=float)).sort_values(
        ["_key", "_rank"], kind="stable")


def _first_usable(rows: pd.DataFrame, n_arm: float, ident: str, skewed: str = "keep") -> _Usable | str:
    reason = "no usable row"
    for _, row in rows.iterrows():
        n = _num(row["n"])
        n = n if np.isfinite(n) else n_arm
        try:
            got = _row_mean_sd(row, n, ident, skewed)
        except EffectSizeError as exc:  # e.g. quantiles out of order in a user's registry
            got = str(exc)
        if isinstance(got, str):
            reason = got
            continue
        return _Usable(row, n, got)
    return reason


def _treg_from_pair(rows: pd.DataFrame, study: _Study, measure: str, r: float,
                    n_arm: float, ident: str, skewed: str = "keep") -> dict | str:
    base = rows[rows["timepoint"] == "baseline"]
    post = rows[rows["timepoint"] == "post"]
    change = rows[rows["timepoint"] == "change"]
    if base.empty and change.empty:
        return "no baseline value"
    if post.empty and change.empty:
        return "no post-treatment value"
    b = _first_usable(_order_baseline(base), n_arm, ident, skewed) if len(base) else "no baseline value"
    if len(post):
        p = _first_usable(_order_post(post, study.treatment_weeks), n_arm, ident, skewed)
        if isinstance(b, str):
            return b
        if isinstance(p, str):
            return p
        (m0, s0, how0, skew0), (m1, s1, how1, skew1) = b.value, p.value
        n = np.nanmin([b.n, p.n])
        if not np.isfinite(n):
            return "n not reported"
        try:
            eff = prepost_effect(measure, m0, s0, m1, s1, n, r, ids=[ident])
        except EffectSizeError as exc:
            return str(exc)
        how = f"{measure} from baseline ({how0}) and post ({how1}), r = {r:g}"
        return {"yi": eff.yi, "vi": eff.vi, "n": n, "mean_pre": m0, "sd_pre": s0, "mean_post": m1, "sd_post": s1,
                "week": _num(p.row["week"]), "phenotype": _text(p.row["phenotype"]), "method_effect": how,
                "skewed": skew0 or skew1, "_rows": [b.row, p.row]}
    # only a change from baseline
    c = _first_usable(_order_post(change, study.treatment_weeks), n_arm, ident, skewed)
    if isinstance(c, str):
        return c
    c_row, n, (mc, sdc, how, skew_c) = c
    if measure == "MC":
        eff = mean_change_from_change(mc, sdc, n, ids=[ident])
        return {"yi": eff.yi, "vi": eff.vi, "n": n, "week": _num(c_row["week"]),
                "phenotype": _text(c_row["phenotype"]), "method_effect": f"MC from the reported change ({how})",
                "skewed": skew_c, "_rows": [c_row]}
    if measure == "SMCR" and not isinstance(b, str):
        _, s0, how0, skew0 = b.value
        eff = standardized_mean_change_raw(0.0, s0, mc, n, r, ids=[ident])
        return {"yi": eff.yi, "vi": eff.vi, "n": n, "sd_pre": s0, "week": _num(c_row["week"]),
                "phenotype": _text(c_row["phenotype"]),
                "method_effect": f"SMCR from the reported change and baseline SD ({how0}), r = {r:g}",
                "skewed": skew0 or skew_c, "_rows": [b.row, c_row]}
    return f"only the change from baseline is reported; {measure} needs baseline and post values"


def _treg_from_fold(rows: pd.DataFrame, study: _Study, measure: str, n_arm: float, ident: str) -> dict | str:
    fold = rows[rows["timepoint"] == "fold"]
    if fold.empty:
        return "no post-treatment value"
    if measure != "ROMC":
        return f"only a fold change is reported; {measure} needs baseline and post values"
    reason = "fold change without usable summary"
    for _, row in _order_post(fold, study.treatment_weeks).iterrows():
        n = _num(row["n"])
        n = n if np.isfinite(n) else n_arm
        if not np.isfinite(n):
            reason = "n not reported"
            continue
        stat = _text(row["statistic"])
        med, q1, q3 = _num(row["median"]), _num(row["q1"]), _num(row["q3"])
        mean, sd = _num(row["mean"]), _num(row["sd"])
        try:
            if np.isfinite(med) and np.isfinite(q1) and np.isfinite(q3):
                eff = conversions.log_fold_from_median_iqr(med, q1, q3, n, ids=[ident])
                how = "ROMC from the median fold change and IQR (log scale: Luo 2018 mean, Wan 2014 SD)"
            elif np.isfinite(mean) and np.isfinite(sd):
                eff = conversions.log_fold_from_mean_sd(mean, sd, n, ids=[ident])
                how = "ROMC from the mean fold change and SD (delta method)"
            else:
                reason = f"fold change ({stat}) without a spread: SD not reported and not derivable"
                continue
        except EffectSizeError as exc:
            reason = str(exc)
            continue
        return {"yi": eff.yi, "vi": eff.vi, "n": n, "week": _num(row["week"]), "phenotype": _text(row["phenotype"]),
                "method_effect": how, "_rows": [row]}
    return reason


_QUALIFIED = {"lower_bound": "a lower bound ('> x')", "upper_bound": "an upper bound ('< x')",
              "approximate": "approximate ('about x')"}


def _qualified_reason(qualifiers: pd.Series) -> str:
    """Why an arm whose values are all bounds or approximations gives no effect."""
    kinds = " or ".join(_QUALIFIED[q] for q in sorted(set(qualifiers)))
    return f"the value is {kinds}, not an estimate (qualifier column)"


def _estimable(got: dict | str, r: float) -> dict | str:
    """A computed effect with a non-finite yi or a variance <= 0 (e.g. r = 1) becomes a reason."""
    if isinstance(got, dict) and not (np.isfinite(got["yi"]) and np.isfinite(got["vi"]) and got["vi"] > 0):
        n = got.get("n", float("nan"))
        if np.isfinite(n) and n <= 2:
            return f"effect undefined: n = {n:g} leaves n - 1 <= 1 degrees of freedom (Hedges' correction)"
        return f"effect not estimable (variance <= 0 at r = {r:g})"
    return got


def _treg_for_outcome(rows: pd.DataFrame, study: _Study, measure: str, r: float, n_arm: float,
                      ident: str, skewed: str = "keep") -> dict | str:
    """Try each phenotype (in order of appearance): a baseline/post pair first, then a fold change."""
    phen = rows["phenotype"].map(_text)
    reasons = []
    for value in dict.fromkeys(phen):
        sub = rows[phen == value]
        got = _estimable(_treg_from_pair(sub, study, measure, r, n_arm, ident, skewed), r)
        if isinstance(got, dict):
            return got
        fold = _estimable(_treg_from_fold(sub, study, measure, n_arm, ident), r)
        if isinstance(fold, dict):
            return fold
        reasons.append(got if (sub["timepoint"] != "fold").any() else fold)
    return reasons[0] if reasons else "no Treg measurement"


def treg_expansion_effects(registry, measure: str = "ROMC", r: float = DEFAULT_R, include_duplicates: bool = False,
                           outcome: str | None = None, skewed: str = "keep") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Within-arm Treg expansion under LD-IL-2, one row per study arm.

    For each LD-IL-2 arm with Treg measurements, the first outcome of :data:`TREG_PREFERENCE`
    (or ``outcome``) that gives an effect is used: a baseline and a post value of one phenotype
    (the post value closest to the end of the treatment course; medians/IQR/ranges converted to
    mean/SD by :mod:`~bayes_il2.effects.conversions`), or, for ROMC, a fold-change row. The effect
    is post over/minus baseline with pre-post correlation ``r``.

    Parameters
    ----------
    registry : Registry
        From :func:`bayes_il2.evidence.load_registry` (or any object with the same DataFrames).
    measure : {"ROMC", "SMCR", "SMCC", "MC"}
    r : float
        Assumed pre-post correlation, in [-1, 1] (default 0.5).
    include_duplicates : bool
        Keep studies with ``pool == "no"``.
    outcome : str, optional
        One Treg outcome instead of the preference order.
    skewed : {"keep", "exclude", "lognormal"}
        What to do with a median summary that the test of Shi et al. (2023) calls skewed:
        convert it as normal and flag it (``"keep"``, column ``skewed``); drop that value
        (``"exclude"``, as metafor's ``conv.fivenum`` does); or convert it as log-normal (Shi et al.
        2020b) when its log quantiles pass the test, dropping it otherwise (``"lognormal"``).

    Returns
    -------
    table : DataFrame
        The effect-table columns plus ``method_effect`` (how yi was computed), ``r``, ``treatment``,
        ``phenotype``, ``week`` (of the post value), ``mean_pre, sd_pre, mean_post, sd_post``
        (NaN where not used), ``skewed`` (a value converted as normal although the skewness
        test was significant), ``consistency_flag`` and ``consistency_severity`` (the
        :mod:`bayes_il2.evidence.consistency` flags of the rows used, e.g. a printed P that no
        pre-post correlation makes possible; ``""`` when none).
    excluded : DataFrame
        ``study_id, arm_id, outcome, reason``.
    """
    if measure not in TREG_MEASURES:
        raise EffectSizeError(f"Treg expansion measure must be one of {', '.join(TREG_MEASURES)}; got {measure!r}")
    if not -1 <= r <= 1:
        raise EffectSizeError(f"r must lie in [-1, 1]; got {r}")
    check_choice("skewed", skewed, SKEWED_POLICIES)
    outcomes = (outcome,) if outcome else TREG_PREFERENCE
    studies = _studies(registry)
    arms = _arms(registry)
    meas = registry.measurements.copy()
    for c in ("study_id", "arm_id", "outcome", "timepoint", "statistic", "qualifier"):
        meas[c] = meas[c].map(_text)
    meas = meas[meas["outcome"].isin(outcomes)]
    ld = arms[arms["treatment"].isin(LD_TREATMENTS)]
    flags = measurement_flags(registry)
    rows: list[dict] = []
    dropped: list[dict] = []
    meas_of, ld_of = _groups(meas, ["study_id", "arm_id"]), _groups(ld, ["study_id"])
    for sid, study in studies.items():
        study_arms = ld_of.get((sid,), ld.iloc[:0])
        with_data = [a for a in study_arms["arm_id"] if (sid, a) in meas_of]
        if not with_data:
            continue
        reason = study.pool_reason()
        if reason and not include_duplicates:
            for a in _pick_arms(with_data):
                present = set(meas_of[(sid, a)]["outcome"])
                dropped.append(_drop(sid, a, next(o for o in outcomes if o in present), reason))
            continue
        for arm_id in _pick_arms(with_data):
            arm = study_arms[study_arms["arm_id"] == arm_id].iloc[0]
            arm_rows = meas_of[(sid, arm_id)]
            first_reason, first_outcome = None, ""
            for name in outcomes:
                sub = arm_rows[arm_rows["outcome"] == name]
                if sub.empty:
                    continue
                estimates = sub[sub["qualifier"] == ""]
                got = (_treg_for_outcome(estimates, study, measure, r, _arm_n(arm), f"{sid}:{arm_id}", skewed)
                       if not estimates.empty else _qualified_reason(sub["qualifier"]))
                if isinstance(got, dict):
                    row = _base_row(study, arm, arm_id, name, measure)
                    used = got.pop("_rows")
                    row.update(got)
                    row.update(_provenance(used))
                    row[FLAG_COLUMN], row[SEVERITY_COLUMN] = flag_cells(flags, [r.name for r in used])
                    row.update({"r": r, "treatment": arm["treatment"], "dose_unit": _text(arm.get("dose_unit"))
                                or study.dose_unit})
                    rows.append(row)
                    break
                if first_reason is None:
                    first_reason, first_outcome = got, name
            else:
                dropped.append(_drop(sid, arm_id, first_outcome, first_reason or "no Treg measurement"))
    _relabel(rows, arms)
    extra = ["method_effect", "r", "treatment", "dose_unit", "phenotype", "week", "mean_pre", "sd_pre", "mean_post",
             "sd_post", "skewed", FLAG_COLUMN, SEVERITY_COLUMN]
    table = pd.DataFrame(rows, columns=EFFECT_COLUMNS + extra)
    table[[FLAG_COLUMN, SEVERITY_COLUMN]] = table[[FLAG_COLUMN, SEVERITY_COLUMN]].fillna("")
    table["skewed"] = table["skewed"].eq(True)
    for c in ("yi", "vi", "n", "dose_miu", "treatment_weeks", "year", "r", "week", "mean_pre", "sd_pre",
              "mean_post", "sd_post"):
        table[c] = pd.to_numeric(table[c], errors="coerce").astype(float)
    return table.reset_index(drop=True), _excluded(dropped)


# --------------------------------------------------------------------------- events
def _event_rows(registry, outcome: str) -> pd.DataFrame:
    ev = registry.events.copy()
    for c in ("study_id", "arm_id", "outcome"):
        ev[c] = ev[c].map(_text)
    return ev[ev["outcome"] == outcome]


def _best_event_row(rows: pd.DataFrame) -> tuple[pd.Series, str]:
    """The row with the longest follow-up window (blank end = whole study), and a note if there were several."""
    end = rows["week_end"].astype(float).fillna(np.inf)
    best = rows.assign(_end=end.to_numpy()).sort_values("_end", ascending=False, kind="stable").iloc[0]
    note = f"{len(rows)} rows for this arm; the longest window was used" if len(rows) > 1 else ""
    return best.drop("_end"), note


def _arm_counts(rows: pd.DataFrame, arm: pd.Series) -> tuple[float, float, pd.Series, str] | str:
    row, note = _best_event_row(rows)
    events, n = _num(row["events"]), _num(row["n"])
    if not np.isfinite(events):
        return "events not reported"
    if not np.isfinite(n):
        n = _arm_n(arm)
        if not np.isfinite(n):
            return "n not reported"
        note = "; ".join(x for x in (note, "n from arms.csv") if x)
    if events > n:
        return f"events ({events:g}) > n ({n:g})"
    return events, n, row, note


def event_rate_effects(registry, outcome: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Single-arm event counts under LD-IL-2 for ``outcome``, one row per study arm.

    Returns
    -------
    table : DataFrame
        ``study_id, label, disease, design, events, n`` and the effect-table columns, with
        ``measure = "PLO"`` and yi/vi the logit proportion for plotting, computed with the
        continuity correction named in ``correction`` (0.5 to arms with 0 or n events, flagged in
        ``corrected``); the binomial models use ``events``/``n``, never yi/vi.
    excluded : DataFrame
        ``study_id, arm_id, outcome, reason``.
    """
    studies = _studies(registry)
    arms = _arms(registry)
    ev = _event_rows(registry, outcome)
    ld = arms[arms["treatment"].isin(LD_TREATMENTS)]
    arms_reporting = set(zip(ev["study_id"], ev["arm_id"]))  # (study, arm) with a row for this outcome
    reporting = {sid for sid, _ in arms_reporting}
    rows: list[dict] = []
    dropped: list[dict] = []
    for sid, study in studies.items():
        if sid not in reporting:  # no row for this outcome: nothing to add or drop
            continue
        study_arms = ld[ld["study_id"] == sid]
        with_data = _pick_arms([a for a in study_arms["arm_id"] if (sid, a) in arms_reporting])
        if not with_data:
            continue
        reason = study.pool_reason()
        for arm_id in with_data:
            if reason:
                dropped.append(_drop(sid, arm_id, outcome, reason))
                continue
            arm = study_arms[study_arms["arm_id"] == arm_id].iloc[0]
            got = _arm_counts(ev[(ev["study_id"] == sid) & (ev["arm_id"] == arm_id)], arm)
            if isinstance(got, str):
                dropped.append(_drop(sid, arm_id, outcome, got))
                continue
            events, n, src, note = got
            row = _base_row(study, arm, arm_id, outcome, "PLO")
            row.update({"events": events, "n": n, "week_start": _num(src["week_start"]),
                        "week_end": _num(src["week_end"]),
                        "treatment": arm["treatment"], **_provenance([src])})
            if note:
                row["note"] = "; ".join(x for x in (row["note"], note) if x)
            rows.append(row)
    _relabel(rows, arms)
    columns = ["study_id", "label", "disease", "design", "events", "n", "measure", "yi", "vi", "correction",
               "corrected", "arm_id", "outcome", "dose_miu", "treatment_weeks", "year", "treatment", "week_start",
               "week_end",
               "source_id", "location", "method", "note"]
    table = pd.DataFrame(rows, columns=columns)
    if len(table):
        eff = logit_proportion(table["events"].to_numpy(float), table["n"].to_numpy(float),
                               correction=DISPLAY_CORRECTION, ids=table["study_id"].to_numpy())
        table["yi"], table["vi"], table["corrected"] = eff.yi, eff.vi, eff.corrected
    table["correction"] = "0.5 added to events and non-events of arms with 0 or n events (display only)"
    for c in ("events", "n", "yi", "vi", "dose_miu", "treatment_weeks", "year", "week_start", "week_end"):
        table[c] = pd.to_numeric(table[c], errors="coerce").astype(float)
    table["corrected"] = table["corrected"].astype(bool)
    return table.reset_index(drop=True), _excluded(dropped)


def event_contrast_table(registry, outcome: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """LD-IL-2 vs placebo/control counts for ``outcome``, one row per study.

    Several LD-IL-2 arms (dose groups) of one study are combined into one treatment group by
    adding events and patients, and so are several comparator arms (Cochrane Handbook 23.3.4), so
    that no control group is counted twice; ``note`` says when this happened.

    Returns
    -------
    table : DataFrame
        ``study_id, label, disease, design, events_t, n_t, events_c, n_c`` plus ``measure = "OR"``,
        yi/vi the log odds ratio for display (0.5 added to all four cells of zero-cell studies, as
        recorded in ``correction`` and flagged in ``corrected``; double-zero studies flagged in
        ``double_zero`` and given NaN yi/vi), ``arm_id`` (``t1+t2-vs-c``), ``outcome`` and provenance.
    excluded : DataFrame
        ``study_id, arm_id, outcome, reason`` (e.g. no placebo/control arm).
    """
    studies = _studies(registry)
    arms = _arms(registry)
    ev = _event_rows(registry, outcome)
    reporting = set(ev["study_id"])
    rows: list[dict] = []
    dropped: list[dict] = []
    for sid, study in studies.items():
        if sid not in reporting:  # no row for this outcome: nothing to add or drop
            continue
        study_arms = arms[arms["study_id"] == sid]
        study_ev = ev[ev["study_id"] == sid]
        ld_ids = [a for a in study_arms.loc[study_arms["treatment"].isin(LD_TREATMENTS), "arm_id"]
                  if a != "all" and study_ev["arm_id"].eq(a).any()]
        ctl_ids = [a for a in study_arms.loc[study_arms["treatment"].isin(CONTROL_TREATMENTS), "arm_id"]
                   if study_ev["arm_id"].eq(a).any()]
        if not ld_ids:
            if ctl_ids or study_ev["arm_id"].eq("all").any():
                dropped.append(_drop(sid, "", outcome, "no LD-IL-2 arm with counts"))
            continue
        reason = study.pool_reason()
        if reason:
            dropped.append(_drop(sid, "+".join(ld_ids), outcome, reason))
            continue
        if not ctl_ids:
            dropped.append(_drop(sid, "+".join(ld_ids), outcome, "no placebo/control arm with counts"))
            continue
        groups, problem = {}, None
        for side, ids in (("t", ld_ids), ("c", ctl_ids)):
            e_sum, n_sum, used, notes = 0.0, 0.0, [], []
            for a in ids:
                got = _arm_counts(study_ev[study_ev["arm_id"] == a], study_arms[study_arms["arm_id"] == a].iloc[0])
                if isinstance(got, str):
                    problem = f"arm {a}: {got}"
                    break
                e_sum, n_sum = e_sum + got[0], n_sum + got[1]
                used.append(got[2])
                if got[3]:
                    notes.append(f"{a}: {got[3]}")
            groups[side] = (e_sum, n_sum, used, notes)
            if problem:
                break
        if problem:
            dropped.append(_drop(sid, "+".join(ld_ids) + "-vs-" + "+".join(ctl_ids), outcome, problem))
            continue
        (et, nt, used_t, notes_t), (ec, nc, used_c, notes_c) = groups["t"], groups["c"]
        row = _base_row(study, None, "+".join(ld_ids) + "-vs-" + "+".join(ctl_ids), outcome, "OR")
        row.update({"events_t": et, "n_t": nt, "events_c": ec, "n_c": nc, **_provenance(used_t + used_c)})
        notes = notes_t + notes_c
        if len(ld_ids) > 1 or len(ctl_ids) > 1:
            notes.append(f"arms combined: {'+'.join(ld_ids)} vs {'+'.join(ctl_ids)}")
        row["note"] = "; ".join(x for x in [row["note"], *notes] if x)
        rows.append(row)
    columns = ["study_id", "label", "disease", "design", "events_t", "n_t", "events_c", "n_c", "measure", "yi", "vi",
               "correction", "corrected", "double_zero", "arm_id", "outcome", "n", "dose_miu", "treatment_weeks",
               "year", "source_id", "location", "method", "note"]
    table = pd.DataFrame(rows, columns=columns)
    if len(table):
        eff = log_odds_ratio(table["events_t"].to_numpy(float), table["n_t"].to_numpy(float),
                             table["events_c"].to_numpy(float), table["n_c"].to_numpy(float),
                             correction=DISPLAY_CORRECTION, double_zero="exclude", ids=table["study_id"].to_numpy())
        table["yi"], table["vi"] = eff.yi, eff.vi
        table["corrected"], table["double_zero"] = eff.corrected, eff.double_zero
        table["n"] = table["n_t"] + table["n_c"]
    table["correction"] = ("0.5 added to all four cells of studies with a zero cell; double-zero studies "
                           "left undefined (display only)")
    for c in ("events_t", "n_t", "events_c", "n_c", "yi", "vi", "n", "dose_miu", "treatment_weeks", "year"):
        table[c] = pd.to_numeric(table[c], errors="coerce").astype(float)
    for c in ("corrected", "double_zero"):
        table[c] = table[c].astype(bool)
    return table.reset_index(drop=True), _excluded(dropped)
