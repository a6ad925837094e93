"""The partial-information Treg effect table: every Treg result the public record allows (issue #14).

:func:`treg_partial_effects` builds the table of the interface between the registry and the
partial-information likelihoods (``/work/briefs/partial_interface.md``; docs/architecture.md,
"Partial-information effect tables"). It is an ordinary effect table plus the columns of
:data:`PARTIAL_COLUMNS`; each row says what kind of information it carries (``info``):

``complete``     baseline and post summaries (or a fold change with its spread), exactly the rows
                 of :func:`~bayes_il2.effects.registry.treg_expansion_effects` (reused, not copied).
``bound``        a fold change printed as '> x' or '< x' (qualifier lower_bound / upper_bound):
                 the estimate lies in [y_low, y_high] (log scale, one end infinite).
``pvalue``       a within-arm (paired) or between-arm (two-sample) test known only through its P
                 value: the statistic estimate/se lies in [z_low, z_high] (see :func:`z_interval`).
``no_spread``    a fold change printed without any spread (yi known, vi latent).
``approximate``  a fold change printed as 'about x' (yi = log x; vi latent, plus the rounding
                 allowance :data:`APPROX_RELATIVE`).
``aggregate``    a published pooled estimate for a disease (meta_analyses.csv, use_as_evidence =
                 yes), entering as evidence on the disease mean with ``k_members`` trials.

A qualitative statement of a significant change (statistic ``qualitative``) becomes a ``pvalue``
row only under ``qualitative="p_lt_0.05"``: it is then read as a one-sided P < 0.05 in the stated
direction (``assumed = True``); under ``"exclude"`` (default) it is listed as excluded.

Overlap ledger: a study listed in an aggregate's ``members`` is dropped from the per-study rows
("inside aggregate <ma_id>"); one listed in ``may_overlap`` (the aggregate's members are not
published) is dropped too under ``overlap="drop"`` ("may be inside aggregate <ma_id>") or kept
under ``overlap="keep"``, the aggregate row then naming what it may double count.

Scales: ``measure`` is the model scale (ROMC, SMCR or SMCC). A row whose numbers are on another
scale says so in ``scale`` (fold changes are log ratios, ``ROMC``; a published SMD of unstated type
is read as an ``SMCR``); the likelihood converts with ROMC = log(1 + SMCR x cv_pre), cv_pre latent
(the interface's stated assumption). P-value rows are scale-free (z = estimate / se).
"""
from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
from scipy import stats

from bayes_il2.effects._common import check_choice
from bayes_il2.effects.prepost import DEFAULT_R
from bayes_il2.effects.regimen import SCHEDULES, regimen_of
from bayes_il2.effects.registry import (CONTROL_TREATMENTS, EFFECT_COLUMNS, LD_TREATMENTS, _arm_n, _arms,
                                        _drop, _excluded, _groups, _num, _relabel, _studies, _text,
                                        treg_expansion_effects)
from bayes_il2.errors import EffectSizeError
from bayes_il2.evidence import schema
from bayes_il2.evidence.validate import member_ids

#: Kinds of information a row carries (column ``info``).
INFO_KINDS = ("complete", "bound", "pvalue", "no_spread", "approximate", "aggregate")
#: Model scales of the partial-information table.
PARTIAL_MEASURES = ("ROMC", "SMCR", "SMCC")
#: What a qualitative statement of a significant change becomes: nothing (``exclude``) or a
#: one-sided P < 0.05 in its stated direction (``p_lt_0.05``, an assumption).
QUALITATIVE_POLICIES = ("exclude", "p_lt_0.05")
#: P value and sidedness that ``qualitative = "p_lt_0.05"`` reads into a qualitative statement.
QUALITATIVE_P = 0.05
QUALITATIVE_SIDED = 1
#: What to do with the per-study rows an aggregate with unpublished members may contain.
OVERLAP_POLICIES = ("drop", "keep")
#: A printed 'about x' is taken to lie within +-10% of x (95% probability): on the log scale an
#: extra SD of log(1 + APPROX_RELATIVE) / 1.959964 (column ``approx_sd``).
APPROX_RELATIVE = 0.10
#: Diseases the issue asks about; each either contributes rows or is listed as excluded with why.
FOCUS_DISEASES = ("pSS", "SLE", "RA", "ALS")
#: Diseases counted as another for the focus ledger (lupus nephritis is SLE).
DISEASE_GROUP = {"LN": "SLE"}
Z95 = 1.959963984540054
DIRECTION_CODE = {"increase": 1, "decrease": -1, "": 0}
#: Columns added to an ordinary effect table (the interface), in order.
PARTIAL_COLUMNS = [
    "info", "info_text", "scale", "y_low", "y_high", "z_low", "z_high", "p_value", "p_operator", "sided",
    "direction", "test", "df", "n_a", "n_b", "cv_pre", "cv_post", "r", "approx_sd", "k_members", "members",
    "may_overlap", "assumed", "assumptions", "schedule", "dose_unit", "cumulative_dose_miu", "course_days",
    "regimen_method", "treatment", "phenotype", "week", "method_effect",
]
_TREG_ALL = schema.TREG_OUTCOMES
_FLOAT_COLUMNS = ("yi", "vi", "n", "dose_miu", "treatment_weeks", "year", "y_low", "y_high", "z_low", "z_high",
                  "p_value", "sided", "direction", "df", "n_a", "n_b", "cv_pre", "cv_post", "r", "approx_sd",
                  "k_members", "cumulative_dose_miu", "course_days", "week")


# --------------------------------------------------------------------------- P values
def printed_half_unit(p: float) -> float:
    """Half a unit in the last printed digit of ``p`` (0.007 -> 0.0005), from its shortest repr."""
    exponent = Decimal(repr(float(p))).normalize().as_tuple().exponent
    return 0.5 * 10.0 ** int(exponent)


def z_interval(p: float, operator: str, sided: int, direction: int, df: float = math.nan) -> tuple[float, float]:
    """Where the test statistic (estimate / se) lies, given a printed P value.

    Parameters
    ----------
    p : float
        The printed P value, in (0, 1].
    operator : {"=", "<", ">"}
        As printed. ``=`` is read as the rounding interval of the printed digits
        (P = 0.007 means 0.0065 <= P < 0.0075).
    sided : {1, 2}
    direction : {1, -1, 0}
        Sign of the effect the test refers to; 0 = unknown. With 0 the interval bounds ``|z|``
        (the two-sided union of both tails, as the interface defines).
    df : float
        Degrees of freedom of a t test (NaN: normal quantiles).

    Returns
    -------
    (z_low, z_high) : tuple of float
        One end may be infinite. For direction -1 the interval is on the negative axis.

    Raises
    ------
    EffectSizeError
        A P value outside (0, 1], an unknown operator or sidedness, or a one-sided P without a
        direction.

    References
    ----------
    A P value as an interval-censored test statistic: Hedges LV, Olkin I (1985), Statistical
    methods for meta-analysis, ch. 3 (vote counting with P values); Cochrane Handbook 6.3.2
    (SE from a P value).
    """
    if not 0 < p <= 1:
        raise EffectSizeError(f"a P value must lie in (0, 1]; got {p}")
    if operator not in schema.P_OPERATORS:
        raise EffectSizeError(f"p_operator must be one of {', '.join(schema.P_OPERATORS)}; got {operator!r}")
    if sided not in (1, 2):
        raise EffectSizeError(f"sided must be 1 or 2; got {sided!r}")
    if sided == 1 and direction == 0:
        raise EffectSizeError("a one-sided P value needs the direction of the effect it tests")

    def q(tail: float) -> float:  # upper quantile of the reference distribution
        tail = min(max(tail, 0.0), 1.0)
        return float(stats.t.isf(tail, df) if np.isfinite(df) else stats.norm.isf(tail))

    def tail(prob: float) -> float:
        return prob / 2 if sided == 2 else prob

    if operator == "<":
        low, high = q(tail(p)), math.inf
    elif operator == ">":
        low, high = (0.0 if sided == 2 else -math.inf), q(tail(p))
    else:
        half = printed_half_unit(p)
        low, high = q(tail(min(p + half, 1.0))), q(tail(max(p - half, 0.0)))
        if sided == 2:
            low = max(low, 0.0)
    if direction < 0:
        low, high = -high, -low
    return low, high


# --------------------------------------------------------------------------- the builder
def treg_partial_effects(registry, measure: str = "ROMC", r: float = DEFAULT_R, qualitative: str = "exclude",
                         overlap: str = "drop", aggregates: bool = True, include_duplicates: bool = False,
                         skewed: str = "keep") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every Treg result of the registry as a partial-information effect table.

    Parameters
    ----------
    registry : Registry
    measure : {"ROMC", "SMCR", "SMCC"}
        The model scale (see the module docstring for rows on another scale).
    r : float
        Pre-post correlation used for the complete rows (as in ``treg_expansion_effects``); the
        partial rows carry ``r`` NaN (uncertain: the likelihood gives it a prior).
    qualitative : {"exclude", "p_lt_0.05"}
        What a qualitative statement of a significant change becomes (module docstring).
    overlap : {"drop", "keep"}
        Per-study rows an aggregate with unpublished members may contain: dropped (default) or kept.
    aggregates : bool
        Use the published pooled estimates marked ``use_as_evidence = yes`` (False: per-study rows only).
    include_duplicates, skewed
        As in :func:`~bayes_il2.effects.registry.treg_expansion_effects`.

    Returns
    -------
    table : DataFrame
        The effect-table columns plus :data:`PARTIAL_COLUMNS` (and the complete rows' own columns:
        ``mean_pre``, ``sd_pre``, ``mean_post``, ``sd_post``, ``skewed``). Arms of one trial share
        the trial's ``study_id`` (``arm_id`` tells them apart).
    excluded : DataFrame
        ``study_id, arm_id, outcome, reason``; a focus disease (:data:`FOCUS_DISEASES`) with no row
        is listed as ``disease:<name>`` with the reasons of its studies.

    Raises
    ------
    EffectSizeError
        An unknown measure, policy or an r outside [-1, 1].
    """
    check_choice("measure", measure, PARTIAL_MEASURES)
    check_choice("qualitative", qualitative, QUALITATIVE_POLICIES)
    check_choice("overlap", overlap, OVERLAP_POLICIES)
    complete, excluded = treg_expansion_effects(registry, measure=measure, r=r,
                                                include_duplicates=include_duplicates, skewed=skewed)
    studies = _studies(registry)
    arms = _arms(registry)
    rows = [_complete_row(row, measure) for _, row in complete.iterrows()]
    earlier = {(s, a): why for s, a, why in zip(excluded["study_id"], excluded["arm_id"], excluded["reason"])}
    partial, dropped, covered = _partial_rows(registry, studies, arms, measure, qualitative, include_duplicates,
                                              done={(r_["study_id"], r_["arm_id"]) for r_ in rows}, earlier=earlier)
    _relabel(partial, arms)
    rows += partial
    excluded = excluded[[(s, a) not in covered for s, a in zip(excluded["study_id"], excluded["arm_id"])]]
    dropped = excluded.to_dict("records") + dropped
    if aggregates:
        agg_rows, agg_dropped = _aggregate_rows(registry, measure)
        rows, ledger = _overlap_ledger(rows, agg_rows, overlap)
        rows += agg_rows
        dropped += agg_dropped + ledger
    schedules = dict(zip(registry.studies["study_id"].map(_text), registry.studies["schedule"].map(_text)))
    for row in rows:
        row.update(_regimen_columns(row, schedules))
    table = _frame(rows)
    dropped += _focus_ledger(table, dropped, studies)
    return table, _excluded(dropped)


# --------------------------------------------------------------------------- complete rows
def _complete_row(row: pd.Series, measure: str) -> dict:
    out = row.to_dict()
    cv_pre = out.get("sd_pre", math.nan) / out.get("mean_pre", math.nan) if _finite(out.get("mean_pre")) else math.nan
    cv_post = (out.get("sd_post", math.nan) / out.get("mean_post", math.nan)
               if _finite(out.get("mean_post")) else math.nan)
    out.update(info="complete", scale=measure, cv_pre=cv_pre, cv_post=cv_post, assumed=False,
               info_text="complete data" + (f" (n {out['n']:g})" if _finite(out.get("n")) else ""),
               assumptions=f"pre-post correlation r = {out.get('r', math.nan):g}", test="paired",
               df=out["n"] - 1 if _finite(out.get("n")) else math.nan)
    return out


# --------------------------------------------------------------------------- partial rows
def _partial_rows(registry, studies, arms, measure, qualitative, include_duplicates, done, earlier):
    """Rows of the arms without a complete effect: fold values without spread, bounds, P values."""
    meas = registry.measurements.copy()
    for c in ("study_id", "arm_id", "outcome", "timepoint", "statistic", "qualifier", "p_operator", "sided",
              "direction"):
        if c in meas.columns:
            meas[c] = meas[c].map(_text)
    meas = meas[meas["outcome"].isin(_TREG_ALL)]
    con = registry.contrasts.copy()
    for c in ("study_id", "arm_a", "arm_b", "outcome", "measure", "p_operator", "sided", "direction", "test"):
        if c in con.columns:
            con[c] = con[c].map(_text)
    con = con[con["outcome"].isin(_TREG_ALL) & (con["measure"] == "P")]
    ld = arms[arms["treatment"].isin(LD_TREATMENTS)]
    controls = set(zip(arms.loc[arms["treatment"].isin(CONTROL_TREATMENTS), "study_id"],
                       arms.loc[arms["treatment"].isin(CONTROL_TREATMENTS), "arm_id"]))
    # contrasts of an LD-IL-2 arm against a control arm of its own trial, grouped once per arm
    con = con[np.array([(s, b) in controls for s, b in zip(con["study_id"], con["arm_b"])], dtype=bool)]
    meas_of, con_of = _groups(meas, ["study_id", "arm_id"]), _groups(con, ["study_id", "arm_a"])
    ld_of = _groups(ld, ["study_id"])
    rows, dropped, covered = [], [], set()
    for sid, study in studies.items():
        for _, arm in ld_of.get((sid,), ld.iloc[:0]).iterrows():
            arm_id = arm["arm_id"]
            if (sid, arm_id) in done:
                continue
            arm_meas = meas_of.get((sid, arm_id), meas.iloc[:0])
            arm_con = con_of.get((sid, arm_id), con.iloc[:0])
            if arm_meas.empty and arm_con.empty:
                continue
            reason = study.pool_reason()
            if reason and not include_duplicates:
                covered.add((sid, arm_id))
                outcome = (arm_meas["outcome"].iloc[0] if len(arm_meas) else arm_con["outcome"].iloc[0])
                dropped.append(_drop(sid, arm_id, outcome, reason))
                continue
            got = _best_partial(arm_meas, arm_con, study, arm, measure, qualitative)
            covered.add((sid, arm_id))
            if isinstance(got, dict):
                rows.append(got)
            else:
                outcome, why = got
                first = earlier.get((sid, arm_id), "")
                dropped.append(_drop(sid, arm_id, outcome, f"{first}; {why}" if first and first != why else why))
    return rows, dropped, covered


def _best_partial(arm_meas: pd.DataFrame, arm_con: pd.DataFrame, study, arm, measure, qualitative):
    """The most informative partial row of one arm, or (outcome, reason) when none is usable."""
    n_arm = _arm_n(arm)
    reasons = []
    fold = arm_meas[arm_meas["timepoint"] == "fold"]
    for kind, mask in (("no_spread", (fold["qualifier"] == "") & (fold["statistic"] == "point")),
                       ("approximate", fold["qualifier"] == "approximate"),
                       ("bound", fold["qualifier"].isin(("lower_bound", "upper_bound")))):
        for _, row in fold[mask].iterrows():
            got = _fold_row(kind, row, study, arm, n_arm, measure)
            if isinstance(got, dict):
                return got
            reasons.append((row["outcome"], got))
    # a within-arm P value: a p_only row, or one printed beside values that gave no effect (p_only first)
    with_p = arm_meas[arm_meas["p_value"].notna() & (arm_meas["statistic"] != "qualitative")]
    with_p = with_p.assign(_order=(with_p["statistic"] != "p_only").astype(int)).sort_values("_order", kind="stable")
    for _, row in with_p.iterrows():
        got = _pvalue_row(row, study, arm, n_arm, measure, paired=True)
        if isinstance(got, dict):
            return got
        reasons.append((row["outcome"], got))
    for _, row in arm_con.iterrows():
        got = _pvalue_row(row, study, arm, n_arm, measure, paired=False)
        if isinstance(got, dict):
            return got
        reasons.append((row["outcome"], got))
    for _, row in arm_meas[arm_meas["statistic"] == "qualitative"].iterrows():
        if qualitative == "exclude":
            reasons.append((row["outcome"], f"only a qualitative statement ({row['qualifier']}); "
                                            "qualitative = 'exclude' (switch: qualitative = 'p_lt_0.05')"))
            continue
        if row["qualifier"] != "qualitative_significant":
            reasons.append((row["outcome"], f"qualitative statement {row['qualifier']!r} is not used"))
            continue
        got = _pvalue_row(row, study, arm, n_arm, measure, paired=True, qualitative=True)
        if isinstance(got, dict):
            return got
        reasons.append((row["outcome"], got))
    if reasons:
        return reasons[0]
    first = arm_meas["outcome"].iloc[0] if len(arm_meas) else arm_con["outcome"].iloc[0]
    return first, "no usable Treg value (neither summaries, fold change, bound nor P value)"


def _base(study, arm, outcome: str, measure: str, row: pd.Series) -> dict:
    dose = _num(arm.get("dose_miu"))
    return {"study_id": study.study_id, "label": study.label, "disease": study.disease, "design": study.design,
            "measure": measure, "arm_id": arm["arm_id"], "outcome": outcome,
            "dose_miu": dose if np.isfinite(dose) else study.dose_miu, "treatment_weeks": study.treatment_weeks,
            "year": study.year, "treatment": arm["treatment"],
            "dose_unit": _text(arm.get("dose_unit")) or study.dose_unit,
            "source_id": _text(row.get("source_id")), "location": _text(row.get("location")),
            "method": _text(row.get("method")), "note": _text(row.get("note")),
            "phenotype": _text(row.get("phenotype")), "week": _num(row.get("week")), "r": math.nan,
            "yi": math.nan, "vi": math.nan, "assumed": False}


def _fold_row(kind: str, row: pd.Series, study, arm, n_arm: float, measure: str) -> dict | str:
    value = _num(row["mean"]) if np.isfinite(_num(row["mean"])) else _num(row["median"])
    n = _num(row["n"]) if np.isfinite(_num(row["n"])) else n_arm
    if not np.isfinite(value) or value <= 0:
        return "fold change not a positive number"
    if not np.isfinite(n):
        return f"n not reported (a {kind.replace('_', ' ')} fold change needs n for its latent SE)"
    out = _base(study, arm, row["outcome"], measure, row)
    log_value = math.log(value)
    notes = ["a fold change read as the ratio of means post/pre (log scale)"]
    if _text(row.get("statistic")) == "point" and "MEDIAN" in out["note"].upper():
        notes.append("a median fold read as a ratio of means")
    if kind == "bound":
        lower = row["qualifier"] == "lower_bound"
        out.update(y_low=log_value if lower else -math.inf, y_high=math.inf if lower else log_value,
                   info_text=f"fold {'>' if lower else '<'} {value:g} ({'lower' if lower else 'upper'} bound; n {n:g})")
        notes.append("a printed bound on the fold change read as a bound on the ratio of means")
    elif kind == "approximate":
        out.update(yi=log_value, approx_sd=math.log1p(APPROX_RELATIVE) / Z95,
                   info_text=f"fold about {value:g} (approximate, no spread; n {n:g})")
        notes.append(f"'about x' taken as within +-{APPROX_RELATIVE:.0%} of x with 95% probability")
    else:
        out.update(yi=log_value, info_text=f"{value:g}-fold, no spread (n {n:g})")
    out.update(info=kind, scale="ROMC", n=n, test="paired", df=n - 1,
               method_effect=f"log of the printed fold change ({value:g}); SE latent (no spread printed)",
               assumptions="; ".join(notes + ([f"n = {n:g} from arms.csv"] if not np.isfinite(_num(row['n'])) else [])))
    return out


def _pvalue_row(row: pd.Series, study, arm, n_arm: float, measure: str, paired: bool,
                qualitative: bool = False) -> dict | str:
    assumptions = []
    if qualitative:
        p, operator, sided = QUALITATIVE_P, "<", QUALITATIVE_SIDED
        assumptions.append(f"qualitative statement of a significant change read as a one-sided P < {QUALITATIVE_P:g} "
                           "(qualitative = 'p_lt_0.05')")
    else:
        p, operator = _num(row.get("p_value")), _text(row.get("p_operator"))
        sided_text = _text(row.get("sided"))
        sided = int(sided_text) if sided_text else 2
        if not sided_text:
            assumptions.append("sidedness not printed: two-sided assumed")
        if not np.isfinite(p) or not operator:
            return "P value or its operator not reported"
    direction = DIRECTION_CODE.get(_text(row.get("direction")), 0)
    if paired:
        n = _num(row.get("n")) if np.isfinite(_num(row.get("n"))) else n_arm
        if not np.isfinite(n):
            return "n not reported (a P value gives an effect only with its n)"
        if not np.isfinite(_num(row.get("n"))):
            assumptions.append(f"n = {n:g} from arms.csv")
        n_a, n_b, df, test = math.nan, math.nan, n - 1, "paired"
        where = "within-arm change"
    else:
        n_a, n_b = _num(row.get("n_a")), _num(row.get("n_b"))
        if not (np.isfinite(n_a) and np.isfinite(n_b)):
            return "n per arm not reported (a between-arm P value gives an effect only with n_a and n_b)"
        n, df, test = n_a, n_a + n_b - 2, _text(row.get("test")) or "two_sample"
        where = f"vs {row['arm_b']}"
        assumptions.append(f"the between-arm test read as this arm's within-arm change, the {row['arm_b']} arm's "
                           "change taken as 0 (theta = change on IL-2 - change on comparator)")
    try:
        z_low, z_high = z_interval(p, operator, sided, direction, df)
    except EffectSizeError as exc:
        return str(exc)
    if direction == 0:
        assumptions.append("direction not stated: the interval bounds |z| (both tails)")
    out = _base(study, arm, row["outcome"], measure, row)
    sizes = f"n {n:g}" if paired else f"n {n_a:g} + {n_b:g}"
    if qualitative:
        change = {1: "increase", -1: "decrease"}.get(direction, "change")
        shown = f"qualitative 'significant {change}' read as P < {QUALITATIVE_P:g} one-sided"
    else:
        shown = f"P {operator} {p:g} {where}"
    reference = f"t, df {df:g}" if np.isfinite(df) else "normal"
    out.update(info="pvalue", scale=measure, p_value=p, p_operator=operator, sided=sided, direction=direction,
               test=test, df=df, n=n, n_a=n_a, n_b=n_b, z_low=z_low, z_high=z_high, assumed=qualitative,
               info_text=f"{shown} ({sizes})",
               method_effect=f"test statistic in [{z_low:.4g}, {z_high:.4g}] ({reference})",
               assumptions="; ".join(assumptions))
    return out


# --------------------------------------------------------------------------- aggregates
def _aggregate_rows(registry, measure: str) -> tuple[list[dict], list[dict]]:
    meta = registry.meta_analyses
    if meta.empty or "use_as_evidence" not in meta.columns:
        return [], []
    sources = registry.sources.set_index("source_id") if len(registry.sources) else pd.DataFrame()
    totals = {ma.split(".")[0]: _num(k) for ma, k, measure_ in zip(meta["ma_id"], meta["k"], meta["measure"])
              if _text(measure_) == "count" and ma.endswith(".included")}
    rows, dropped = [], []
    for _, m in meta.iterrows():
        if _text(m["use_as_evidence"]) != "yes" or _text(m["registry_outcome"]) not in _TREG_ALL:
            continue
        ma_id, estimate, low, high = _text(m["ma_id"]), _num(m["estimate"]), _num(m["ci_low"]), _num(m["ci_high"])
        review = ma_id.split(".")[0]
        assumptions = []
        k = _num(m["k"])
        if not np.isfinite(k):
            k = totals.get(review, math.nan)
            if not np.isfinite(k):
                dropped.append(_drop(ma_id, "", _text(m["registry_outcome"]),
                                     "number of pooled trials (k) not reported: tau^2 / k cannot be formed"))
                continue
            assumptions.append(f"k for this estimate not printed: the review's {k:g} trials used (an upper bound)")
        scale = _text(m["scale"])
        if scale == "SMD_unspecified":
            read_as = measure if measure in ("SMCR", "SMCC") else "SMCR"
            assumptions.append(f"SMD of unstated type read as {read_as}")
            scale = read_as
        if scale not in ("SMCR", "SMCC", "ROMC"):
            dropped.append(_drop(ma_id, "", _text(m["registry_outcome"]), f"scale {scale!r} cannot be combined"))
            continue
        if scale != measure:
            assumptions.append(f"on the {scale} scale: converted in the likelihood by ROMC = log(1 + SMCR x cv_pre), "
                               "cv_pre latent")
        members, maybe = _text(m["members"]), member_ids(_text(m["may_overlap"]))
        year = _num(sources["year"].get(_text(m["source_id"]))) if len(sources) else math.nan
        authors = _text(sources["authors"].get(_text(m["source_id"]))) if len(sources) else ""
        author = authors.split(",")[0].split()[0] if authors else review
        se = (high - low) / (2 * Z95)
        cited = f"{author} {int(year)}" if np.isfinite(year) else author
        what = f"published pooled {'SMD' if scale != 'ROMC' else 'log ratio'} of {k:g} trials ({cited})"
        rows.append({
            "study_id": ma_id, "label": f"{cited} (pooled)",
            "disease": _text(m["disease"]), "design": "meta_analysis", "measure": measure, "yi": estimate,
            "vi": se ** 2, "arm_id": "", "outcome": _text(m["registry_outcome"]), "n": _num(m["n"]),
            "dose_miu": _num(m["dose_miu"]), "treatment_weeks": math.nan, "year": year,
            "source_id": _text(m["source_id"]), "location": _text(m["location"]),
            "method": f"{_text(m['method'])}; derived: vi = ((ci_high - ci_low) / (2 x 1.959964))^2 = "
                      f"(({high:g} - {low:g}) / 3.919928)^2",
            "note": _text(m["note"]), "info": "aggregate", "info_text": what, "scale": scale,
            "k_members": k, "members": members, "may_overlap": ";".join(maybe), "assumed": False,
            "assumptions": "; ".join(assumptions), "r": math.nan, "_schedule_text": _text(m["schedule"]),
            "method_effect": f"pooled estimate {estimate:g} [{low:g}, {high:g}] as printed", "dose_unit": "MIU",
        })
    return rows, dropped


def _overlap_ledger(rows: list[dict], aggregates: list[dict], overlap: str) -> tuple[list[dict], list[dict]]:
    """Drop per-study rows inside (or possibly inside) an aggregate; say so on both sides."""
    kept, dropped = [], []
    for row in rows:
        reason = None
        for agg in aggregates:
            if row["study_id"] in member_ids(agg["members"]):
                reason = f"inside aggregate {agg['study_id']}"
            elif row["study_id"] in member_ids(agg["may_overlap"]) and overlap == "drop":
                reason = f"may be inside aggregate {agg['study_id']} (its member list is not published)"
            if reason:
                break
        if reason:
            dropped.append(_drop(row["study_id"], row.get("arm_id", ""), row.get("outcome", ""), reason))
        else:
            kept.append(row)
    kept_ids = {r["study_id"] for r in kept}
    for agg in aggregates:
        unknown = agg["members"] in ("", schema.UNKNOWN_MEMBERS)
        doubles = [s for s in member_ids(agg["may_overlap"]) if s in kept_ids]
        gone = sorted({d["study_id"] for d in dropped if d["reason"].endswith(agg["study_id"])
                       or f"aggregate {agg['study_id']} " in d["reason"]})
        parts = ["members not published" if unknown else f"members {agg['members']}"]
        if doubles:
            parts.append("may double count " + ", ".join(doubles))
        if gone:
            parts.append("replaces per-study rows of " + ", ".join(gone))
        agg["info_text"] += "; " + "; ".join(parts)
    return kept, dropped


# --------------------------------------------------------------------------- regimen and ledgers
def _regimen_columns(row: dict, schedules: dict[str, str]) -> dict:
    """Schedule class, dose per injection, cumulative dose and days of one course (regimen.py)."""
    if row.get("info") == "aggregate":
        regimen = regimen_of(row.pop("_schedule_text", ""), row.get("dose_miu", math.nan), "MIU")
    else:
        regimen = regimen_of(schedules.get(row["study_id"], ""), row.get("dose_miu", math.nan),
                             row.get("dose_unit") or "MIU")
    return {"schedule": regimen.schedule, "cumulative_dose_miu": regimen.cumulative_dose_miu,
            "course_days": regimen.course_days, "regimen_method": regimen.method}


def _focus_ledger(table: pd.DataFrame, dropped: list[dict], studies) -> list[dict]:
    """A focus disease without any row, with the reasons its studies gave."""
    present = {DISEASE_GROUP.get(d, d) for d in table.get("disease", pd.Series(dtype=str))}
    out = []
    for disease in FOCUS_DISEASES:
        if disease in present:
            continue
        own = [d for d in dropped if d["study_id"] in studies
               and DISEASE_GROUP.get(studies[d["study_id"]].disease, studies[d["study_id"]].disease) == disease]
        why = ("; ".join(f"{d['study_id']}: {d['reason']}" for d in own)
               or "no study of this disease reports Treg change")
        out.append(_drop(f"disease:{disease}", "", "treg", f"{disease} contributes nothing: {why}"))
    return out


def _frame(rows: list[dict]) -> pd.DataFrame:
    extra = [c for c in ("mean_pre", "sd_pre", "mean_post", "sd_post", "skewed") if any(c in r for r in rows)]
    columns = EFFECT_COLUMNS + [c for c in PARTIAL_COLUMNS if c not in EFFECT_COLUMNS] + extra
    table = pd.DataFrame(rows, columns=columns)
    for c in _FLOAT_COLUMNS + tuple(x for x in extra if x != "skewed"):
        table[c] = pd.to_numeric(table[c], errors="coerce").astype(float)
    table["assumed"] = table["assumed"].eq(True)
    if "skewed" in table:
        table["skewed"] = table["skewed"].eq(True)
    for c in ("info_text", "scale", "p_operator", "test", "members", "may_overlap", "assumptions", "schedule",
              "regimen_method", "arm_id", "phenotype", "method_effect"):
        table[c] = table[c].fillna("").astype(str)
    return table.reset_index(drop=True)


def _finite(value) -> bool:
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False
