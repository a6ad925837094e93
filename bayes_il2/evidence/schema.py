"""The registry schema: one :class:`TableSpec` per CSV file of ``data/``, and the rule ids.

This module is the single source of truth for the registry's columns, types and controlled
vocabularies (``docs/architecture.md``, section "The registry (data/) — schema", is its prose
form). Validation, loading and any other module that needs a column list import it from here.

Column kinds
------------
``id``     text matching ``[A-Za-z0-9_.-]+`` (kept as ``str``)
``text``   free text (``str``)
``float``  a finite decimal number (``float64``; blank = NaN)
``count``  a whole number >= 0 (nullable ``Int64``)
``int``    a whole number (nullable ``Int64``), e.g. a publication year

Rule ids (``Problem.rule``), stable so that tests and scripts can match on them
-------------------------------------------------------------------------------
File level
    ``missing_file``      a required table file (or the registry directory) is absent
    ``unreadable_file``   the path exists but cannot be read (a directory, no permission)
    ``empty_file``        the file has no bytes (or only whitespace), not even a header
    ``no_rows``           a table that must hold rows (sources, studies, arms) has only a header
    ``non_utf8``          a line holds bytes that are not UTF-8 (the line is named)
    ``ragged_row``        a row has more or fewer fields than the header
    ``malformed_csv``     the CSV cannot be parsed (e.g. an unclosed quote)
Schema
    ``missing_column``    a column of the schema is absent from the header
    ``extra_column``      the header has a column the schema does not know
    ``duplicate_column``  the header names a column twice
    ``missing_value``     a required cell is blank
    ``bad_type``          a cell is not of its column's type ('abc' in a numeric column, inf, ...)
    ``bad_id``            an id cell does not match ``[A-Za-z0-9_.-]+``
    ``unknown_<column>``  a cell outside its controlled vocabulary: ``unknown_disease``,
                          ``unknown_design``, ``unknown_blinding``, ``unknown_pool``,
                          ``unknown_dose_unit``, ``unknown_treatment``, ``unknown_timepoint``,
                          ``unknown_statistic``, ``unknown_outcome``, ``unknown_measure``,
                          ``unknown_p_operator``, ``unknown_qualifier``, ``unknown_sided``,
                          ``unknown_direction``, ``unknown_test``, ``unknown_scale``,
                          ``unknown_use_as_evidence``
Provenance (every row of a value table)
    ``missing_provenance``  source_id, location or method is blank
    ``bad_method``          method is not ``reported``, ``figure`` or ``derived:<formula>``
Keys and references
    ``duplicate_key``         two rows share the table's key (the later row is named)
    ``dangling_study``        a study_id that studies.csv does not hold
    ``dangling_arm``          a (study_id, arm_id) pair that arms.csv does not hold
                              (the pseudo-arm ``all`` must be listed in arms.csv too)
    ``dangling_source``       a source_id that sources.csv does not hold
    ``dangling_duplicate_of`` duplicate_of names no study, or the study itself
    ``duplicate_pooled``      a study with duplicate_of set has pool = yes
    ``same_arm``              a contrast compares an arm with itself
Plausibility
    ``non_integer_count``     a count is not a whole number
    ``negative_count``        a count is below 0
    ``zero_n``                a number of patients (n of a measurement or an event count) is 0
    ``spread_of_one``         a measurement with n = 1 reports an SD, quartiles or a range
    ``year_range``            a publication year outside [1900, 2100]
    ``negative_value``        a duration (treatment_weeks, followup_weeks) below 0
    ``not_positive``          a dose is <= 0
    ``negative_week``         a week is below 0
    ``week_order``            week_start > week_end
    ``events_le_n``           events > n
    ``episodes_ge_events``    episodes < events (each patient with an event has >= 1 episode)
    ``analysed_le_randomized`` n_analysed > n_randomized
    ``negative_sd`` / ``zero_sd``   sd < 0 / sd = 0
    ``negative_se`` / ``zero_se``   se < 0 / se = 0
    ``q1_le_median``, ``median_le_q3``, ``min_le_q1``, ``q3_le_max``, ``min_le_median``,
    ``median_le_max``, ``min_le_mean``, ``mean_le_max``, ``min_le_max``, ``q1_le_q3``
                              order of the quantiles, extremes and mean
    ``ci_order``              not ci_low <= estimate <= ci_high (estimate = ``estimate``, or
                              ``mean`` / ``median`` in measurements)
    ``ratio_positive``        an OR/RR/HR/RRR estimate or CI bound <= 0
    ``percent_range``         a percentage outside [0, 100] (I², and the values of a percentage
                              outcome at baseline or post)
    ``p_value_range``         a p-value outside (0, 1]
    ``ci_level_range``        ci_level outside (0, 100) (0.95 and 95 are both read as 95 %)
    ``incomplete_statistic``  a value its ``statistic`` promises is blank (e.g. mean_sd without sd)
    ``unexplained_blank_week`` a measurement's week is blank and its note does not say why
    ``p_operator_without_p_value`` a p_operator (contrasts, measurements) is set but its p_value is blank
    ``p_value_without_operator``   a p_value (contrasts, measurements) is set but its p_operator is blank
    ``p_value_timepoint``  a measurement's within-arm p_value sits on a baseline row (it belongs on
                           the post, change or fold row it compares with baseline)
Pooling
    ``case_pooled``        a case report or case series has pool = yes without a pool_override_reason
    ``preclinical_pooled`` a preclinical (animal) study has pool = yes (never pooled with human data)
    ``dangling_overlap_with`` an id in overlap_with (';'-separated) is not another study of studies.csv
Partial information (issue #14)
    ``bound_without_direction``    a one-sided P value (sided = 1) or a qualitative statement
                                   (qualifier qualitative_*) whose direction is blank
    ``qualitative_mismatch``       statistic ``qualitative`` without a qualitative_* qualifier, or
                                   such a qualifier on another statistic
    ``aggregate_members_unknown``  a pooled estimate with use_as_evidence = yes and blank
                                   ``members`` (list the study_ids, or write ``unknown``)
    ``unknown_members_without_overlap`` ``members = unknown`` without ``may_overlap`` (the
                                   registry studies it may double count)
    ``dangling_member``            a study_id in members or may_overlap that studies.csv lacks
    ``incomplete_aggregate``       use_as_evidence = yes without estimate, ci_low, ci_high, scale,
                                   disease or registry_outcome
"""
from __future__ import annotations

import re
from dataclasses import dataclass

ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
METHOD_PATTERN = re.compile(r"reported|figure|derived:.+")
OUTCOME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
RESPONDER_PATTERN = re.compile(r"responder_[a-z0-9_]+")

DISEASES = (
    "pSS", "SLE", "LN", "RA", "ALS", "MS", "AD", "AE", "T1D", "HCV_vasculitis", "cGVHD",
    "GVHD_prophylaxis", "AA", "IIM", "DM", "BD", "AS", "SpA", "PsA", "UC", "SSc", "PsO", "BP", "AAV",
    "AIH", "ITP", "COVID19", "IHD", "ACS", "multi",
)
DESIGNS = (
    "rct", "single_arm", "cohort", "dose_finding", "non_randomised_controlled", "case_report",
    "case_series", "secondary_analysis", "registry_only", "cross_sectional", "not_reported", "preclinical",
)
#: Designs that describe single patients: never pooled unless ``pool_override_reason`` says why.
CASE_DESIGNS = ("case_report", "case_series")
#: Animal or in-vitro studies: never pooled with human data (no override).
PRECLINICAL_DESIGNS = ("preclinical",)
#: Timepoints a within-arm P value (measurements ``p_value``) may sit on: the comparison with baseline.
P_VALUE_TIMEPOINTS = ("post", "change", "fold")
BLINDINGS = ("double", "single", "open", "none")
POOL = ("yes", "no")
DOSE_UNITS = ("MIU", "MIU/m2")
TREATMENTS = ("ld_il2", "placebo", "control", "ld_il2_combo", "other")
TIMEPOINTS = ("baseline", "post", "change", "fold")
STATISTICS = (
    "mean_sd", "mean_se", "mean_range", "median_iqr", "median_range", "mean_change_sd",
    "fold_median_iqr", "fold_mean_sd", "point", "p_only", "qualitative",
)
CONTRAST_MEASURES = ("MD", "SMD", "OR", "RR", "HR", "RRR", "P")
RATIO_MEASURES = ("OR", "RR", "HR", "RRR")
P_OPERATORS = ("=", "<", ">")
#: What a measurement's value is when it is not an estimate (blank = an estimate as printed):
#: ``lower_bound`` ('> 5'), ``upper_bound`` ('< 2'), ``approximate`` ('about 4'). Never pooled.
QUALIFIERS = ("lower_bound", "upper_bound", "approximate", "qualitative_significant", "qualitative_not_significant")
#: Qualifiers of a ``qualitative`` row: a statement of a (non-)significant change, quoted in ``note``.
QUALITATIVE_QUALIFIERS = ("qualitative_significant", "qualitative_not_significant")
#: Sidedness of a printed P value (blank = not printed).
SIDED = ("1", "2")
#: Direction of a change or contrast a P value or statement refers to (blank = not stated).
DIRECTIONS = ("increase", "decrease")
#: Design of the test behind a between-arm P value: ``two_sample`` (change in arm_a vs change in
#: arm_b) or ``paired`` (a within-patient comparison). Within-arm P values in measurements.csv are
#: paired by construction (after vs before in the same patients).
TESTS = ("paired", "two_sample")
#: ``meta_analyses.scale``: the effect scale of a pooled estimate. ``SMD_unspecified`` is a
#: standardized before/after difference whose type (SMCR, SMCC, or an independent-groups SMD) the
#: review does not state.
AGGREGATE_SCALES = ("SMCR", "SMCC", "SMD_unspecified", "ROMC", "MD", "other")
USE_AS_EVIDENCE = ("yes", "no")
#: ``meta_analyses.members`` value when the review does not list its studies.
UNKNOWN_MEMBERS = "unknown"

#: Treg outcomes form a closed set: any measurement outcome starting ``treg_`` must be one of them.
TREG_OUTCOMES = ("treg_pct_cd4", "treg_count_ul", "treg_count", "treg_fold", "treg_pct", "treg_unspecified")
#: Clinical scores known so far; other lower-case snake_case names are accepted (open vocabulary).
CLINICAL_OUTCOMES = ("essdai", "sledai", "das28_esr", "tjc", "sjc", "cdasi", "salt")
#: Event outcomes form a closed set, plus ``responder_<endpoint>`` (e.g. responder_essdai3).
EVENT_OUTCOMES = (
    "any_ae", "serious_ae", "severe_ae", "infection", "serious_infection", "severe_infection",
    "injection_site_reaction",
    "fever", "flu_like", "ae_withdrawal", "dose_reduction", "death", "drug_related_serious_ae", "neutropenia",
)

#: The value columns each ``statistic`` promises to fill (measurements.csv).
STATISTIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "mean_sd": ("mean", "sd"),
    "mean_se": ("mean", "se"),
    "mean_range": ("mean", "min", "max"),
    "median_iqr": ("median", "q1", "q3"),
    "median_range": ("median", "min", "max"),
    "mean_change_sd": ("mean", "sd"),
    "fold_median_iqr": ("median", "q1", "q3"),
    "fold_mean_sd": ("mean", "sd"),
    "point": ("mean",),
    "p_only": ("p_value",),
    "qualitative": (),
}

PROVENANCE_COLUMNS = ("source_id", "location", "method", "note")


def is_measurement_outcome(name: str) -> bool:
    """True for a measurement outcome: a Treg outcome of the vocabulary or any other snake_case name."""
    if name.startswith("treg_"):
        return name in TREG_OUTCOMES
    return OUTCOME_PATTERN.fullmatch(name) is not None


def is_event_outcome(name: str) -> bool:
    """True for an event outcome of the vocabulary or ``responder_<endpoint>``."""
    return name in EVENT_OUTCOMES or RESPONDER_PATTERN.fullmatch(name) is not None


def is_contrast_outcome(name: str) -> bool:
    """True for any event or measurement outcome (a contrast may compare either)."""
    return is_event_outcome(name) or is_measurement_outcome(name)


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a registry table.

    Attributes
    ----------
    name : str
    kind : {"id", "text", "float", "count", "int"}
    required : bool
        A blank cell breaks ``missing_value``.
    vocabulary : tuple of str, optional
        Allowed values (a blank is allowed unless ``required``); breaks ``unknown_<name>``.
    minimum : float, optional
        Lower bound of a numeric column; ``min_rule`` is the rule broken below it.
    strict_minimum : bool
        If True the bound is exclusive (value must be > minimum); a value equal to the bound
        breaks ``zero_rule`` (``min_rule`` if unset).
    maximum : float, optional
        Upper bound (inclusive, or exclusive with ``strict_maximum``); ``max_rule`` when broken.
    """

    name: str
    kind: str = "text"
    required: bool = False
    vocabulary: tuple[str, ...] | None = None
    minimum: float | None = None
    strict_minimum: bool = False
    min_rule: str = "negative_value"
    zero_rule: str | None = None
    maximum: float | None = None
    strict_maximum: bool = False
    max_rule: str = "out_of_range"

    @property
    def numeric(self) -> bool:
        return self.kind in ("float", "count", "int")


@dataclass(frozen=True)
class TableSpec:
    """One registry table: its file, columns, key and whether its rows need provenance.

    ``optional``: the file may be absent; ``requires_rows``: a header-only file breaks ``no_rows``.
    """

    name: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    provenance: bool = True
    optional: bool = False
    requires_rows: bool = False

    @property
    def file(self) -> str:
        return f"{self.name}.csv"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")


def _id(name: str, required: bool = True) -> ColumnSpec:
    return ColumnSpec(name, "id", required)


def _count(name: str) -> ColumnSpec:
    return ColumnSpec(name, "count", minimum=0, min_rule="negative_count")


def _size(name: str) -> ColumnSpec:
    """A number of patients: a count, and 0 is a mistake (no patient gives no statistic)."""
    return ColumnSpec(name, "count", minimum=0, strict_minimum=True, min_rule="negative_count", zero_rule="zero_n")


def _float(name: str, **bounds) -> ColumnSpec:
    return ColumnSpec(name, "float", **bounds)


def _week(name: str) -> ColumnSpec:
    return _float(name, minimum=0, min_rule="negative_week")


def _nonneg(name: str) -> ColumnSpec:
    return _float(name, minimum=0)


def _dose(name: str) -> ColumnSpec:
    return _float(name, minimum=0, strict_minimum=True, min_rule="not_positive", zero_rule="not_positive")


def _positive(name: str) -> ColumnSpec:
    # sd and se: negative and zero are different mistakes (sign slip vs. a rounded-away value)
    return _float(name, minimum=0, strict_minimum=True, min_rule=f"negative_{name}", zero_rule=f"zero_{name}")


def _p_value(name: str = "p_value", strict: bool = True) -> ColumnSpec:
    """A P value in [0, 1]; ``strict``: in (0, 1] (a printed P is never 0; 'P < 0.001' is 0.001 with '<')."""
    return _float(name, minimum=0, strict_minimum=strict, maximum=1, min_rule="p_value_range",
                  zero_rule="p_value_range", max_rule="p_value_range")


PROVENANCE = (_id("source_id"), ColumnSpec("location", required=True), ColumnSpec("method", required=True),
              ColumnSpec("note"))

SOURCES = TableSpec(
    "sources",
    (_id("source_id"), ColumnSpec("authors"), ColumnSpec("year", "int", minimum=1900, min_rule="year_range", maximum=2100,
                                                   max_rule="year_range"), ColumnSpec("title"),
     ColumnSpec("journal"), ColumnSpec("doi"), ColumnSpec("pmid"), ColumnSpec("pmcid"),
     ColumnSpec("registration"), ColumnSpec("url")),
    key=("source_id",), provenance=False, requires_rows=True,
)
STUDIES = TableSpec(
    "studies",
    (_id("study_id"), _id("source_id"), ColumnSpec("disease", required=True, vocabulary=DISEASES),
     ColumnSpec("design", required=True, vocabulary=DESIGNS), ColumnSpec("blinding", vocabulary=BLINDINGS),
     ColumnSpec("country"), ColumnSpec("regimen"), _dose("dose_miu"), ColumnSpec("dose_unit", vocabulary=DOSE_UNITS),
     ColumnSpec("schedule"), _nonneg("treatment_weeks"), _nonneg("followup_weeks"), _count("n_total"),
     ColumnSpec("product"), ColumnSpec("co_intervention"), _id("duplicate_of", required=False),
     ColumnSpec("overlap_with"), ColumnSpec("pool", required=True, vocabulary=POOL),
     ColumnSpec("pool_override_reason"), *PROVENANCE[1:]),
    key=("study_id",), requires_rows=True,
)
ARMS = TableSpec(
    "arms",
    (_id("study_id"), _id("arm_id"), ColumnSpec("treatment", required=True, vocabulary=TREATMENTS),
     _dose("dose_miu"), ColumnSpec("dose_unit", vocabulary=DOSE_UNITS), _count("n_randomized"),
     _count("n_analysed"), ColumnSpec("label"), *PROVENANCE),
    key=("study_id", "arm_id"), requires_rows=True,
)
MEASUREMENTS = TableSpec(
    "measurements",
    (_id("study_id"), _id("arm_id"), ColumnSpec("outcome", required=True), ColumnSpec("phenotype"),
     ColumnSpec("unit"), _week("week"), ColumnSpec("timepoint", required=True, vocabulary=TIMEPOINTS),
     ColumnSpec("statistic", required=True, vocabulary=STATISTICS), _size("n"), _float("mean"),
     _positive("sd"), _positive("se"), _float("median"), _float("q1"), _float("q3"), _float("min"),
     _float("max"), _float("ci_low"), _float("ci_high"), ColumnSpec("qualifier", vocabulary=QUALIFIERS),
     _p_value(strict=True), ColumnSpec("p_operator", vocabulary=P_OPERATORS), ColumnSpec("sided", vocabulary=SIDED),
     ColumnSpec("direction", vocabulary=DIRECTIONS), *PROVENANCE),
    key=("study_id", "arm_id", "outcome", "phenotype", "week", "timepoint", "statistic", "source_id"),
)
EVENTS = TableSpec(
    "events",
    (_id("study_id"), _id("arm_id"), ColumnSpec("outcome", required=True), _count("events"), _size("n"),
     _count("episodes"), _week("week_start"), _week("week_end"), *PROVENANCE),
    key=("study_id", "arm_id", "outcome", "week_start", "week_end", "source_id"),
)
CONTRASTS = TableSpec(
    "contrasts",
    (_id("study_id"), _id("arm_a"), _id("arm_b"), ColumnSpec("outcome", required=True), _week("week"),
     ColumnSpec("measure", required=True, vocabulary=CONTRAST_MEASURES), _float("estimate"), _float("ci_low"),
     _float("ci_high"), _float("ci_level", minimum=0, strict_minimum=True, min_rule="ci_level_range",
                                maximum=100, strict_maximum=True, max_rule="ci_level_range"),
     _positive("se"), _p_value(), ColumnSpec("p_operator", vocabulary=P_OPERATORS),
     ColumnSpec("sided", vocabulary=SIDED), ColumnSpec("direction", vocabulary=DIRECTIONS),
     ColumnSpec("test", vocabulary=TESTS), _count("n_a"), _count("n_b"), *PROVENANCE),
    key=("study_id", "arm_a", "arm_b", "outcome", "week", "measure", "source_id"),
)
META_ANALYSES = TableSpec(
    "meta_analyses",
    (_id("ma_id"), ColumnSpec("outcome", required=True), ColumnSpec("measure", required=True),
     _float("estimate"), _float("ci_low"), _float("ci_high"), _p_value(), _count("k"), _count("n"),
     _float("i2", minimum=0, maximum=100, min_rule="percent_range", max_rule="percent_range"),
     ColumnSpec("scale", vocabulary=AGGREGATE_SCALES), ColumnSpec("disease", vocabulary=DISEASES),
     ColumnSpec("registry_outcome"), ColumnSpec("schedule"), _dose("dose_miu"), ColumnSpec("members"),
     ColumnSpec("may_overlap"), ColumnSpec("use_as_evidence", vocabulary=USE_AS_EVIDENCE), *PROVENANCE),
    key=("ma_id",), optional=True,
)

#: Every table of the registry, in the order files are checked and problems reported.
TABLES: dict[str, TableSpec] = {t.name: t for t in (SOURCES, STUDIES, ARMS, MEASUREMENTS, EVENTS, CONTRASTS,
                                                      META_ANALYSES)}

#: Every rule id with a one-line description (the list in the module docstring, as data).
RULES: dict[str, str] = {
    "missing_file": "a required table file (or the registry directory) is absent",
    "unreadable_file": "the path exists but cannot be read",
    "empty_file": "the file is empty (no header)",
    "no_rows": "a table that must hold rows has only a header",
    "non_utf8": "bytes that are not UTF-8",
    "ragged_row": "a row has more or fewer fields than the header",
    "malformed_csv": "the CSV cannot be parsed",
    "missing_column": "a schema column is absent from the header",
    "extra_column": "a column the schema does not know",
    "duplicate_column": "the header names a column twice",
    "missing_value": "a required cell is blank",
    "bad_type": "a cell is not of its column's type",
    "bad_id": "an id does not match [A-Za-z0-9_.-]+",
    **{f"unknown_{c}": f"{c} outside its controlled vocabulary" for c in (
        "disease", "design", "blinding", "pool", "dose_unit", "treatment", "timepoint", "statistic", "outcome",
        "measure", "p_operator", "qualifier", "sided", "direction", "test", "scale", "use_as_evidence")},
    "missing_provenance": "source_id, location or method is blank",
    "bad_method": "method is not reported, figure or derived:<formula>",
    "duplicate_key": "two rows share the table's key",
    "dangling_study": "study_id not in studies.csv",
    "dangling_arm": "(study_id, arm_id) not in arms.csv",
    "dangling_source": "source_id not in sources.csv",
    "dangling_duplicate_of": "duplicate_of names no other study",
    "duplicate_pooled": "a duplicate study is marked pool = yes",
    "same_arm": "a contrast of an arm with itself",
    "non_integer_count": "a count is not a whole number",
    "zero_n": "a number of patients is 0",
    "spread_of_one": "a spread (SD, quartiles, range) of a single value",
    "year_range": "a publication year outside [1900, 2100]",
    "negative_count": "a count below 0",
    "negative_value": "a duration below 0",
    "not_positive": "a dose <= 0",
    "negative_week": "a week below 0",
    "week_order": "week_start > week_end",
    "events_le_n": "events > n",
    "episodes_ge_events": "episodes < events",
    "analysed_le_randomized": "n_analysed > n_randomized",
    "negative_sd": "sd < 0",
    "zero_sd": "sd = 0",
    "negative_se": "se < 0",
    "zero_se": "se = 0",
    "q1_le_median": "q1 > median",
    "median_le_q3": "median > q3",
    "min_le_q1": "min > q1",
    "q3_le_max": "q3 > max",
    "min_le_median": "min > median",
    "median_le_max": "median > max",
    "min_le_mean": "min > mean",
    "mean_le_max": "mean > max",
    "min_le_max": "min > max",
    "q1_le_q3": "q1 > q3",
    "ci_order": "not ci_low <= estimate <= ci_high",
    "ratio_positive": "a ratio estimate or bound <= 0",
    "percent_range": "a percentage outside [0, 100]",
    "p_value_range": "a p-value outside (0, 1]",
    "ci_level_range": "ci_level outside (0, 100)",
    "incomplete_statistic": "a value the statistic promises is blank",
    "unexplained_blank_week": "a blank measurement week without a note",
    "p_operator_without_p_value": "p_operator set, p_value blank",
    "p_value_without_operator": "p_value set, p_operator blank",
    "p_value_timepoint": "a within-arm p_value on a baseline row",
    "case_pooled": "a case report or case series with pool = yes and no pool_override_reason",
    "preclinical_pooled": "a preclinical study with pool = yes",
    "dangling_overlap_with": "overlap_with names no other study",
    "bound_without_direction": "a one-sided P value or a qualitative statement without its direction",
    "qualitative_mismatch": "statistic qualitative and a qualitative_* qualifier go together",
    "aggregate_members_unknown": "a pooled estimate used as evidence without members (list or 'unknown')",
    "unknown_members_without_overlap": "members 'unknown' without may_overlap (what it may double count)",
    "dangling_member": "a member or may_overlap id not in studies.csv",
    "incomplete_aggregate": "a pooled estimate used as evidence lacks estimate, CI, scale, disease or outcome",
}
