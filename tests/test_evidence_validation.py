"""Loading and validating the evidence registry (bayes_il2.evidence) and the ``data`` CLI.

Every malformed registry is a copy of ``tests/fixtures/registry_valid`` (a tiny, FICTIONAL
registry) with one planted mistake; the test asserts that validation names the rule broken, the
file, and the line and column where applicable. Fixture line numbers count the header as line 1.
"""
from __future__ import annotations

import csv
import io
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayes_il2.cli import main
from bayes_il2.errors import Problem, RegistryError
from bayes_il2.evidence import (
    DATA_ENV,
    RULES,
    TABLES,
    Registry,
    UnknownStudyError,
    list_studies,
    load_registry,
    show_study,
    validate_registry,
    validate_table,
)
from bayes_il2.evidence import schema

VALID = Path(__file__).parent / "fixtures" / "registry_valid"


# --------------------------------------------------------------------------- mutation helpers
def _read_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def set_cell(file: str, line: int, column: str, value: str) -> Callable[[Path], None]:
    """Mutation: the cell of ``column`` on ``line`` (header = line 1) becomes ``value``."""
    def mutate(root: Path) -> None:
        rows = _read_rows(root / file)
        position = rows[0].index(column)
        assert rows[line - 1][position] != value, "the mutation must change the cell"
        rows[line - 1][position] = value
        _write_rows(root / file, rows)
    return mutate


def drop_column(file: str, column: str) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        rows = _read_rows(root / file)
        position = rows[0].index(column)
        _write_rows(root / file, [r[:position] + r[position + 1:] for r in rows])
    return mutate


def add_column(file: str, column: str, value: str = "x") -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        rows = _read_rows(root / file)
        _write_rows(root / file, [rows[0] + [column]] + [r + [value] for r in rows[1:]])
    return mutate


def append_text(file: str, text: str) -> Callable[[Path], None]:
    """Mutation: ``text`` (raw CSV, one or more lines) is appended to the file."""
    def mutate(root: Path) -> None:
        with open(root / file, "a", encoding="utf-8", newline="") as handle:
            handle.write(text)
    return mutate


def duplicate_line(file: str, line: int) -> Callable[[Path], None]:
    """Mutation: ``line`` is copied to the end of the file."""
    def mutate(root: Path) -> None:
        rows = _read_rows(root / file)
        _write_rows(root / file, rows + [rows[line - 1]])
    return mutate


def delete_line(file: str, line: int) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        rows = _read_rows(root / file)
        _write_rows(root / file, rows[:line - 1] + rows[line:])
    return mutate


def replace_bytes(file: str, line: int, old: bytes, new: bytes) -> Callable[[Path], None]:
    """Mutation: the first ``old`` on ``line`` becomes ``new`` (raw bytes, e.g. not UTF-8)."""
    def mutate(root: Path) -> None:
        lines = (root / file).read_bytes().split(b"\n")
        assert old in lines[line - 1]
        lines[line - 1] = lines[line - 1].replace(old, new, 1)
        (root / file).write_bytes(b"\n".join(lines))
    return mutate


def write_bytes(file: str, content: bytes) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        (root / file).write_bytes(content)
    return mutate


def header_only(file: str) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        _write_rows(root / file, _read_rows(root / file)[:1])
    return mutate


def remove_file(file: str) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        (root / file).unlink()
    return mutate


def make_directory(file: str) -> Callable[[Path], None]:
    """Mutation: the table file is replaced by a directory of the same name."""
    def mutate(root: Path) -> None:
        (root / file).unlink()
        (root / file).mkdir()
    return mutate


def both(*mutations: Callable[[Path], None]) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        for m in mutations:
            m(root)
    return mutate


def _median_range(**cells: str) -> Callable[[Path], None]:
    """Mutation: measurements line 6 becomes a median_range row (no quartiles) with ``cells`` set."""
    changes = [set_cell("measurements.csv", 6, "statistic", "median_range"),
               set_cell("measurements.csv", 6, "q1", ""), set_cell("measurements.csv", 6, "q3", "")]
    return both(*changes, *(set_cell("measurements.csv", 6, k, v) for k, v in cells.items()))


@dataclass(frozen=True)
class Case:
    """One malformed registry: the mutation and the problem it must produce.

    ``only``: the expected problem is the only one (False where a mistake rightly cascades, e.g. a
    header-only studies.csv also leaves every arm without its study).
    """

    name: str
    mutate: Callable[[Path], None]
    rule: str
    file: str
    line: int | None
    column: str | None
    only: bool = True

    def __str__(self) -> str:
        return self.name


CASES = [
    # ---- file level
    Case("missing file", remove_file("contrasts.csv"), "missing_file", "contrasts.csv", None, None),
    Case("table path is a directory", make_directory("events.csv"), "unreadable_file", "events.csv", None, None),
    Case("empty file", write_bytes("events.csv", b""), "empty_file", "events.csv", None, None),
    Case("whitespace-only file", write_bytes("arms.csv", b"\n  \n"), "empty_file", "arms.csv", None, None,
         only=False),
    Case("byte-order mark only", write_bytes("contrasts.csv", b"\xef\xbb\xbf"), "empty_file", "contrasts.csv",
         None, None),
    Case("header only in studies", header_only("studies.csv"), "no_rows", "studies.csv", None, None, only=False),
    Case("header only in sources", header_only("sources.csv"), "no_rows", "sources.csv", None, None, only=False),
    Case("non-UTF-8 bytes", replace_bytes("arms.csv", 3, b"Placebo", b"Plac\xe9bo"), "non_utf8", "arms.csv", 3,
         None),
    Case("ragged row", append_text("events.csv", "FixtureB2021_SLE,il2,fever,1\n"), "ragged_row", "events.csv", 8,
         None),
    Case("unclosed quote", append_text("contrasts.csv", 'FixtureA2020_pSS,il2,"pbo\n'), "malformed_csv",
         "contrasts.csv", 4, None),
    # ---- schema and types
    Case("missing column", drop_column("events.csv", "n"), "missing_column", "events.csv", 1, "n"),
    Case("missing provenance column", drop_column("arms.csv", "method"), "missing_column", "arms.csv", 1, "method"),
    Case("extra column", add_column("arms.csv", "colour"), "extra_column", "arms.csv", 1, "colour"),
    Case("duplicate column", add_column("measurements.csv", "note"), "duplicate_column", "measurements.csv", 1,
         "note"),
    Case("text in a count column", set_cell("events.csv", 2, "events", "eight"), "bad_type", "events.csv", 2,
         "events"),
    Case("decimal comma", set_cell("measurements.csv", 2, "mean", "5,2"), "bad_type", "measurements.csv", 2,
         "mean"),
    Case("infinite value", set_cell("measurements.csv", 4, "sd", "inf"), "bad_type", "measurements.csv", 4, "sd"),
    Case("text year", set_cell("sources.csv", 3, "year", "twenty"), "bad_type", "sources.csv", 3, "year"),
    Case("fractional year", set_cell("sources.csv", 3, "year", "2021.5"), "bad_type", "sources.csv", 3, "year"),
    Case("p-value with operator", set_cell("contrasts.csv", 2, "p_value", "<0.05"), "bad_type", "contrasts.csv", 2,
         "p_value"),
    Case("count too large for an integer", set_cell("events.csv", 7, "n", "1e20"), "bad_type", "events.csv", 7,
         "n"),
    Case("fractional count", set_cell("arms.csv", 2, "n_randomized", "20.5"), "non_integer_count", "arms.csv", 2,
         "n_randomized"),
    Case("required cell blank", set_cell("studies.csv", 3, "disease", ""), "missing_value", "studies.csv", 3,
         "disease"),
    Case("bad id characters", append_text("sources.csv", "fixture src d,Nobody,2020,FICTIONAL,,,,,,\n"),
         "bad_id", "sources.csv", 5, "source_id"),
    Case("bad id in a study", both(set_cell("studies.csv", 4, "study_id", "FixtureC/2022"),
                                   set_cell("arms.csv", 6, "study_id", "FixtureC/2022")),
         "bad_id", "studies.csv", 4, "study_id", only=False),
    # ---- controlled vocabularies
    Case("unknown disease", set_cell("studies.csv", 2, "disease", "Sjogren"), "unknown_disease", "studies.csv", 2,
         "disease"),
    Case("disease in the wrong case", set_cell("studies.csv", 3, "disease", "sle"), "unknown_disease",
         "studies.csv", 3, "disease"),
    Case("unknown design", set_cell("studies.csv", 3, "design", "open_label"), "unknown_design", "studies.csv", 3,
         "design"),
    Case("unknown blinding", set_cell("studies.csv", 2, "blinding", "triple"), "unknown_blinding", "studies.csv", 2,
         "blinding"),
    Case("unknown pool flag", set_cell("studies.csv", 2, "pool", "maybe"), "unknown_pool", "studies.csv", 2,
         "pool"),
    Case("unknown dose unit", set_cell("arms.csv", 5, "dose_unit", "mg"), "unknown_dose_unit", "arms.csv", 5,
         "dose_unit"),
    Case("unknown treatment", set_cell("arms.csv", 2, "treatment", "il2"), "unknown_treatment", "arms.csv", 2,
         "treatment"),
    Case("unknown timepoint", set_cell("measurements.csv", 3, "timepoint", "week12"), "unknown_timepoint",
         "measurements.csv", 3, "timepoint"),
    Case("unknown statistic", set_cell("measurements.csv", 6, "statistic", "median_range_iqr"),
         "unknown_statistic", "measurements.csv", 6, "statistic"),
    Case("unknown qualifier", set_cell("measurements.csv", 5, "qualifier", "greater_than"), "unknown_qualifier",
         "measurements.csv", 5, "qualifier"),
    Case("unknown Treg outcome", set_cell("measurements.csv", 4, "outcome", "treg_pct_cd3"), "unknown_outcome",
         "measurements.csv", 4, "outcome"),
    Case("unknown event outcome", set_cell("events.csv", 6, "outcome", "headache"), "unknown_outcome",
         "events.csv", 6, "outcome"),
    Case("unknown contrast measure", set_cell("contrasts.csv", 2, "measure", "logOR"), "unknown_measure",
         "contrasts.csv", 2, "measure"),
    Case("unknown p operator", set_cell("contrasts.csv", 3, "p_operator", "<="), "unknown_p_operator",
         "contrasts.csv", 3, "p_operator"),
    # ---- provenance
    Case("blank location", set_cell("events.csv", 4, "location", ""), "missing_provenance", "events.csv", 4,
         "location"),
    Case("blank method", set_cell("measurements.csv", 5, "method", ""), "missing_provenance", "measurements.csv", 5,
         "method"),
    Case("blank source_id", set_cell("arms.csv", 3, "source_id", ""), "missing_provenance", "arms.csv", 3,
         "source_id"),
    Case("blank study provenance", set_cell("studies.csv", 2, "location", ""), "missing_provenance", "studies.csv",
         2, "location"),
    Case("bad method word", set_cell("events.csv", 2, "method", "estimated"), "bad_method", "events.csv", 2,
         "method"),
    Case("derived without formula", set_cell("measurements.csv", 8, "method", "derived:"), "bad_method",
         "measurements.csv", 8, "method"),
    Case("method in capitals", set_cell("contrasts.csv", 3, "method", "Reported"), "bad_method", "contrasts.csv",
         3, "method"),
    # ---- keys and references
    Case("duplicate study", duplicate_line("studies.csv", 3), "duplicate_key", "studies.csv", 5, "study_id"),
    Case("duplicate arm", duplicate_line("arms.csv", 2), "duplicate_key", "arms.csv", 7, "study_id+arm_id"),
    Case("duplicate event row", duplicate_line("events.csv", 3), "duplicate_key", "events.csv", 8,
         "+".join(schema.EVENTS.key)),
    Case("duplicate source", duplicate_line("sources.csv", 2), "duplicate_key", "sources.csv", 5, "source_id"),
    # a week written "24.0" for "24": compared as text the conflicting copy passed, and the run used either
    Case("duplicate event row, week written differently",
         both(duplicate_line("events.csv", 3), set_cell("events.csv", 8, "week_end", "24.0")), "duplicate_key",
         "events.csv", 8, "+".join(schema.EVENTS.key)),
    Case("no patients", set_cell("measurements.csv", 2, "n", "0"), "zero_n", "measurements.csv", 2, "n"),
    Case("an SD of one patient", set_cell("measurements.csv", 2, "n", "1"), "spread_of_one", "measurements.csv", 2,
         "n"),
    Case("two-digit year", set_cell("sources.csv", 3, "year", "22"), "year_range", "sources.csv", 3, "year"),
    Case("dangling study", set_cell("events.csv", 6, "study_id", "FixtureZ2020_pSS"), "dangling_study",
         "events.csv", 6, "study_id"),
    Case("dangling study of an arm", set_cell("arms.csv", 6, "study_id", "FixtureZ2020_pSS"), "dangling_study",
         "arms.csv", 6, "study_id"),
    Case("dangling arm", set_cell("events.csv", 2, "arm_id", "high"), "dangling_arm", "events.csv", 2, "arm_id"),
    Case("dangling contrast arm", set_cell("contrasts.csv", 3, "arm_b", "ctrl"), "dangling_arm", "contrasts.csv",
         3, "arm_b"),
    Case("pseudo-arm 'all' not in arms", delete_line("arms.csv", 4), "dangling_arm", "events.csv", 7, "arm_id"),
    Case("dangling source", set_cell("measurements.csv", 3, "source_id", "fixture_src_z"), "dangling_source",
         "measurements.csv", 3, "source_id"),
    Case("dangling source of a study", set_cell("studies.csv", 3, "source_id", "fixture_src_z"),
         "dangling_source", "studies.csv", 3, "source_id"),
    Case("dangling source of a meta-analysis", set_cell("meta_analyses.csv", 2, "source_id", "nowhere"),
         "dangling_source", "meta_analyses.csv", 2, "source_id"),
    Case("duplicate_of unknown study", set_cell("studies.csv", 4, "duplicate_of", "FixtureZ2020_pSS"),
         "dangling_duplicate_of", "studies.csv", 4, "duplicate_of"),
    Case("duplicate_of itself", set_cell("studies.csv", 4, "duplicate_of", "FixtureC2022_pSS"),
         "dangling_duplicate_of", "studies.csv", 4, "duplicate_of"),
    Case("duplicate pooled", set_cell("studies.csv", 4, "pool", "yes"), "duplicate_pooled", "studies.csv", 4,
         "pool"),
    Case("contrast of an arm with itself", set_cell("contrasts.csv", 2, "arm_b", "il2"), "same_arm",
         "contrasts.csv", 2, "arm_b"),
    # ---- plausibility
    Case("events > n", set_cell("events.csv", 2, "events", "21"), "events_le_n", "events.csv", 2, "events",
         only=False),  # 21 > 11 episodes too
    Case("events > n only", set_cell("events.csv", 4, "events", "20"), "events_le_n", "events.csv", 4, "events"),
    Case("negative events", set_cell("events.csv", 3, "events", "-1"), "negative_count", "events.csv", 3,
         "events"),
    Case("episodes < events", set_cell("events.csv", 2, "episodes", "5"), "episodes_ge_events", "events.csv", 2,
         "episodes"),
    Case("week_start > week_end", set_cell("events.csv", 6, "week_start", "9"), "week_order", "events.csv", 6,
         "week_start"),
    Case("negative week", set_cell("measurements.csv", 5, "week", "-1"), "negative_week", "measurements.csv", 5,
         "week"),
    Case("n_analysed > n_randomized", set_cell("arms.csv", 3, "n_analysed", "21"), "analysed_le_randomized",
         "arms.csv", 3, "n_analysed"),
    Case("zero dose", set_cell("arms.csv", 2, "dose_miu", "0"), "not_positive", "arms.csv", 2, "dose_miu"),
    Case("negative treatment weeks", set_cell("studies.csv", 2, "treatment_weeks", "-12"), "negative_value",
         "studies.csv", 2, "treatment_weeks"),
    Case("negative SD", set_cell("measurements.csv", 2, "sd", "-1.4"), "negative_sd", "measurements.csv", 2, "sd"),
    Case("SD = 0", set_cell("measurements.csv", 3, "sd", "0"), "zero_sd", "measurements.csv", 3, "sd"),
    Case("SE = 0", set_cell("measurements.csv", 8, "se", "0"), "zero_se", "measurements.csv", 8, "se"),
    Case("q1 > median", set_cell("measurements.csv", 6, "q1", "4.5"), "q1_le_median", "measurements.csv", 6, "q1"),
    Case("median > q3", set_cell("measurements.csv", 6, "median", "5.5"), "median_le_q3", "measurements.csv", 6,
         "median"),
    Case("min > q1", set_cell("measurements.csv", 6, "min", "3.5"), "min_le_q1", "measurements.csv", 6, "min"),
    Case("q3 > max", set_cell("measurements.csv", 7, "max", "9.0"), "q3_le_max", "measurements.csv", 7, "q3"),
    Case("q1 > q3", set_cell("measurements.csv", 6, "q1", "5.5"), "q1_le_q3", "measurements.csv", 6, "q1",
         only=False),  # q1 > median too
    Case("min > median", _median_range(min="5"), "min_le_median", "measurements.csv", 6, "min"),
    Case("median > max", _median_range(max="4.0"), "median_le_max", "measurements.csv", 6, "median"),
    Case("min > max", _median_range(min="7", max="3"), "min_le_max", "measurements.csv", 6, "min", only=False),
    Case("min > mean", set_cell("measurements.csv", 2, "min", "6"), "min_le_mean", "measurements.csv", 2, "min"),
    Case("mean > max", set_cell("measurements.csv", 2, "max", "5"), "mean_le_max", "measurements.csv", 2, "mean"),
    Case("negative SE", set_cell("measurements.csv", 8, "se", "-0.8"), "negative_se", "measurements.csv", 8, "se"),
    Case("percentage > 100", set_cell("measurements.csv", 3, "mean", "108"), "percent_range", "measurements.csv",
         3, "mean"),
    Case("negative percentage", set_cell("measurements.csv", 4, "mean", "-5"), "percent_range",
         "measurements.csv", 4, "mean"),
    Case("I2 > 100", set_cell("meta_analyses.csv", 2, "i2", "140"), "percent_range", "meta_analyses.csv", 2, "i2"),
    Case("statistic without its sd", set_cell("measurements.csv", 2, "sd", ""), "incomplete_statistic",
         "measurements.csv", 2, "sd"),
    Case("blank week without a note", both(set_cell("measurements.csv", 7, "week", ""),
                                           set_cell("measurements.csv", 7, "note", "")),
         "unexplained_blank_week", "measurements.csv", 7, "week"),
    Case("p operator without p-value", set_cell("contrasts.csv", 2, "p_value", ""), "p_operator_without_p_value",
         "contrasts.csv", 2, "p_operator"),
    Case("estimate outside its CI", set_cell("contrasts.csv", 3, "ci_low", "-1.0"), "ci_order", "contrasts.csv",
         3, "ci_low"),
    Case("measurement CI order", set_cell("measurements.csv", 8, "ci_high", "-3.5"), "ci_order",
         "measurements.csv", 8, "ci_high"),
    Case("odds ratio bound 0", set_cell("contrasts.csv", 2, "ci_low", "0"), "ratio_positive", "contrasts.csv", 2,
         "ci_low"),
    Case("p-value > 1", set_cell("contrasts.csv", 2, "p_value", "1.5"), "p_value_range", "contrasts.csv", 2,
         "p_value"),
    Case("CI level 0", set_cell("contrasts.csv", 3, "ci_level", "0"), "ci_level_range", "contrasts.csv", 3,
         "ci_level"),
    # ---- within-arm P values (measurements)
    Case("within-arm p-value without operator", set_cell("measurements.csv", 3, "p_value", "0.01"),
         "p_value_without_operator", "measurements.csv", 3, "p_operator"),
    Case("within-arm operator without p-value", set_cell("measurements.csv", 3, "p_operator", "<"),
         "p_operator_without_p_value", "measurements.csv", 3, "p_operator"),
    Case("contrast p-value without operator", set_cell("contrasts.csv", 2, "p_operator", ""),
         "p_value_without_operator", "contrasts.csv", 2, "p_operator"),
    Case("within-arm p-value on a baseline row", both(set_cell("measurements.csv", 2, "p_value", "0.01"),
                                                      set_cell("measurements.csv", 2, "p_operator", "=")),
         "p_value_timepoint", "measurements.csv", 2, "p_value"),
    Case("within-arm p-value 0", both(set_cell("measurements.csv", 3, "p_value", "0"),
                                      set_cell("measurements.csv", 3, "p_operator", "<")),
         "p_value_range", "measurements.csv", 3, "p_value"),
    # ---- pooling rules
    Case("case report pooled", set_cell("studies.csv", 3, "design", "case_report"), "case_pooled", "studies.csv", 3,
         "pool"),
    Case("case series pooled", set_cell("studies.csv", 3, "design", "case_series"), "case_pooled", "studies.csv", 3,
         "pool"),
    Case("preclinical study pooled", set_cell("studies.csv", 2, "design", "preclinical"), "preclinical_pooled",
         "studies.csv", 2, "pool"),
    Case("preclinical study pooled despite an override", both(set_cell("studies.csv", 2, "design", "preclinical"),
                                                              set_cell("studies.csv", 2, "pool_override_reason", "x")),
         "preclinical_pooled", "studies.csv", 2, "pool"),
    Case("overlap_with an unknown study", set_cell("studies.csv", 3, "overlap_with", "FixtureA2020_pSS;FixtureZ"),
         "dangling_overlap_with", "studies.csv", 3, "overlap_with"),
    Case("overlap_with itself", set_cell("studies.csv", 3, "overlap_with", "FixtureB2021_SLE"),
         "dangling_overlap_with", "studies.csv", 3, "overlap_with"),
    # ---- partial information (issue #14): P values, qualitative statements, aggregates
    Case("p-value = 0", set_cell("contrasts.csv", 2, "p_value", "0"), "p_value_range", "contrasts.csv", 2,
         "p_value"),
    Case("p-value without operator", set_cell("contrasts.csv", 3, "p_operator", ""), "p_value_without_operator",
         "contrasts.csv", 3, "p_operator"),
    Case("sided 3", set_cell("contrasts.csv", 2, "sided", "3"), "unknown_sided", "contrasts.csv", 2, "sided"),
    Case("unknown direction", set_cell("contrasts.csv", 2, "direction", "up"), "unknown_direction",
         "contrasts.csv", 2, "direction"),
    Case("unknown test", set_cell("contrasts.csv", 2, "test", "t-test"), "unknown_test", "contrasts.csv", 2,
         "test"),
    Case("one-sided P without direction", set_cell("contrasts.csv", 2, "sided", "1"), "bound_without_direction",
         "contrasts.csv", 2, "direction"),
    Case("qualitative statement without direction",
         both(set_cell("measurements.csv", 7, "statistic", "qualitative"),
              set_cell("measurements.csv", 7, "qualifier", "qualitative_significant")),
         "bound_without_direction", "measurements.csv", 7, "direction"),
    Case("qualitative statistic without qualifier", both(set_cell("measurements.csv", 7, "statistic", "qualitative"),
                                                         set_cell("measurements.csv", 7, "direction", "increase")),
         "qualitative_mismatch", "measurements.csv", 7, "qualifier"),
    Case("p_only without p-value", set_cell("measurements.csv", 7, "statistic", "p_only"), "incomplete_statistic",
         "measurements.csv", 7, "p_value"),
    Case("aggregate without members",
         both(set_cell("meta_analyses.csv", 2, "use_as_evidence", "yes"),
              *(set_cell("meta_analyses.csv", 2, k, v) for k, v in (("scale", "SMCR"), ("disease", "pSS"),
                                                                      ("registry_outcome", "treg_pct_cd4")))),
         "aggregate_members_unknown", "meta_analyses.csv", 2, "members"),
    Case("aggregate with unknown members and no overlap list",
         both(set_cell("meta_analyses.csv", 2, "use_as_evidence", "yes"), set_cell("meta_analyses.csv", 2, "members", "unknown"),
              *(set_cell("meta_analyses.csv", 2, k, v) for k, v in (("scale", "SMCR"), ("disease", "pSS"),
                                                                      ("registry_outcome", "treg_pct_cd4")))),
         "unknown_members_without_overlap", "meta_analyses.csv", 2, "may_overlap"),
    Case("aggregate member not a study", set_cell("meta_analyses.csv", 2, "members", "FixtureA2020_pSS;Nobody2020"),
         "dangling_member", "meta_analyses.csv", 2, "members"),
    Case("aggregate evidence without scale",
         both(set_cell("meta_analyses.csv", 2, "use_as_evidence", "yes"),
              set_cell("meta_analyses.csv", 2, "members", "FixtureA2020_pSS;FixtureB2021_SLE"),
              *(set_cell("meta_analyses.csv", 2, k, v) for k, v in (("disease", "pSS"),
                                                                      ("registry_outcome", "treg_pct_cd4")))),
         "incomplete_aggregate", "meta_analyses.csv", 2, "scale"),
    Case("unknown aggregate scale", set_cell("meta_analyses.csv", 2, "scale", "hedges_g"), "unknown_scale",
         "meta_analyses.csv", 2, "scale"),
    Case("use_as_evidence maybe", set_cell("meta_analyses.csv", 2, "use_as_evidence", "maybe"),
         "unknown_use_as_evidence", "meta_analyses.csv", 2, "use_as_evidence"),
]


def broken_copy(tmp_path: Path, *mutations: Callable[[Path], None]) -> Path:
    root = tmp_path / "registry"
    shutil.copytree(VALID, root)
    for mutate in mutations:
        mutate(root)
    return root


def _where(p: Problem) -> tuple[str, str, int | None, str | None]:
    return p.rule, Path(p.file).name, p.line, p.column


# --------------------------------------------------------------------------- the valid fixture
def test_valid_fixture_has_no_problems():
    assert validate_registry(VALID) == []


def test_fixture_is_marked_fictional():
    registry = load_registry(VALID)
    assert registry.studies["study_id"].str.startswith("Fixture").all()
    assert registry.sources["title"].str.contains("FICTIONAL").all()


def test_every_value_row_has_provenance():
    registry = load_registry(VALID)
    for name, spec in TABLES.items():
        if not spec.provenance:
            continue
        frame = registry.tables[name]
        assert frame[["source_id", "location", "method"]].notna().all().all(), name
        assert frame["method"].str.fullmatch(schema.METHOD_PATTERN.pattern).all(), name


# --------------------------------------------------------------------------- the malformed corpus
def test_corpus_is_large_and_covers_every_rule():
    assert len(CASES) >= 25
    assert len({c.name for c in CASES}) == len(CASES)
    assert set(RULES) - {c.rule for c in CASES} == set()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_malformed_registry_is_rejected_naming_rule_file_line_column(case: Case, tmp_path: Path):
    root = broken_copy(tmp_path, case.mutate)
    problems = validate_registry(root)
    expected = (case.rule, case.file, case.line, case.column)
    assert expected in [_where(p) for p in problems], "\n".join(map(str, problems))
    if case.only:
        assert len(problems) == 1, "\n".join(map(str, problems))
    assert all(p.rule in RULES for p in problems)
    with pytest.raises(RegistryError) as raised:
        load_registry(root)
    assert raised.value.problems == problems


def test_case_report_may_be_pooled_with_a_stated_override(tmp_path: Path):
    root = broken_copy(tmp_path, set_cell("studies.csv", 3, "design", "case_series"),
                       set_cell("studies.csv", 3, "pool_override_reason", "consecutive complete series with counts"))
    assert validate_registry(root) == []


def test_overlap_with_names_other_studies(tmp_path: Path):
    root = broken_copy(tmp_path, set_cell("studies.csv", 3, "overlap_with", "FixtureA2020_pSS; FixtureC2022_pSS"))
    assert validate_registry(root) == []


def test_problem_carries_the_offending_value(tmp_path: Path):
    root = broken_copy(tmp_path, set_cell("studies.csv", 2, "disease", "Sjogren"))
    (problem,) = validate_registry(root)
    assert problem.value == "Sjogren"
    assert "pSS" in problem.message  # the allowed values are listed
    assert str(problem).startswith(str(root / "studies.csv") + ":2 [disease]")


def test_non_utf8_problem_names_the_bytes(tmp_path: Path):
    root = broken_copy(tmp_path, replace_bytes("events.csv", 5, b"Results", b"R\xc3sults"))
    (problem,) = validate_registry(root)
    assert problem.rule == "non_utf8" and problem.line == 5
    assert "xc3" in problem.value


def test_duplicate_key_names_the_first_line(tmp_path: Path):
    root = broken_copy(tmp_path, duplicate_line("arms.csv", 3))
    (problem,) = validate_registry(root)
    assert problem.line == 7
    assert "line 3" in problem.message


def test_missing_pseudo_arm_message_says_to_list_it(tmp_path: Path):
    root = broken_copy(tmp_path, delete_line("arms.csv", 4))
    (problem,) = validate_registry(root)
    assert "'all'" in problem.message


def test_missing_registry_directory(tmp_path: Path):
    problems = validate_registry(tmp_path / "nowhere")
    assert [p.rule for p in problems] == ["missing_file"]


def test_registry_path_that_is_a_file(tmp_path: Path):
    problems = validate_registry(VALID / "studies.csv")
    assert [p.rule for p in problems] == ["unreadable_file"]


def test_meta_analyses_file_is_optional(tmp_path: Path):
    root = broken_copy(tmp_path, remove_file("meta_analyses.csv"))
    assert validate_registry(root) == []
    registry = load_registry(root)
    assert registry.meta_analyses.empty
    assert list(registry.meta_analyses.columns) == list(schema.META_ANALYSES.column_names)


def test_blank_week_with_a_note_is_allowed(tmp_path: Path):
    root = broken_copy(tmp_path, set_cell("measurements.csv", 7, "week", ""))
    assert validate_registry(root) == []
    assert pd.isna(load_registry(root).measurements.loc[7, "week"])


def test_header_only_value_table_is_allowed(tmp_path: Path):
    root = broken_copy(tmp_path, header_only("contrasts.csv"))
    assert validate_registry(root) == []
    assert load_registry(root).contrasts.empty


# --------------------------------------------------------------------------- several errors at once
PLANTED = [
    (set_cell("studies.csv", 3, "disease", "lupus"), ("unknown_disease", "studies.csv", 3, "disease")),
    (set_cell("arms.csv", 2, "n_analysed", "25"), ("analysed_le_randomized", "arms.csv", 2, "n_analysed")),
    (set_cell("measurements.csv", 4, "sd", "-1.3"), ("negative_sd", "measurements.csv", 4, "sd")),
    (set_cell("measurements.csv", 6, "q1", "4.6"), ("q1_le_median", "measurements.csv", 6, "q1")),
    (set_cell("measurements.csv", 7, "source_id", "fixture_src_q"),
     ("dangling_source", "measurements.csv", 7, "source_id")),
    (set_cell("events.csv", 4, "events", "30"), ("events_le_n", "events.csv", 4, "events")),
    (set_cell("events.csv", 5, "method", "guessed"), ("bad_method", "events.csv", 5, "method")),
    (set_cell("events.csv", 6, "arm_id", "low"), ("dangling_arm", "events.csv", 6, "arm_id")),
    (drop_column("contrasts.csv", "ci_level"), ("missing_column", "contrasts.csv", 1, "ci_level")),
    (duplicate_line("sources.csv", 3), ("duplicate_key", "sources.csv", 5, "source_id")),
    (replace_bytes("meta_analyses.csv", 2, b"Figure", b"Fig\xffure"), ("non_utf8", "meta_analyses.csv", 2, None)),
]


def test_broken_copy_lists_every_planted_error(tmp_path: Path):
    root = broken_copy(tmp_path, *(mutate for mutate, _ in PLANTED))
    problems = validate_registry(root)
    assert sorted(_where(p) for p in problems) == sorted(expected for _, expected in PLANTED)
    with pytest.raises(RegistryError) as raised:
        load_registry(root)
    assert len(raised.value.problems) == len(PLANTED)
    text = str(raised.value)
    assert all(expected[0] in text for _, expected in PLANTED)


def test_problems_are_sorted_by_table_then_line(tmp_path: Path):
    root = broken_copy(tmp_path, *(mutate for mutate, _ in PLANTED))
    problems = validate_registry(root)
    order = {spec.file: i for i, spec in enumerate(TABLES.values())}
    keys = [(order[Path(p.file).name], p.line or 0) for p in problems]
    assert keys == sorted(keys)


# --------------------------------------------------------------------------- loading
def test_load_gives_typed_tables_indexed_by_line():
    registry = load_registry(VALID)
    assert isinstance(registry, Registry)
    assert set(registry.tables) == set(TABLES)
    events = registry.events
    assert list(events.columns) == list(schema.EVENTS.column_names)
    assert events.index.name == "line" and list(events.index) == [2, 3, 4, 5, 6, 7]
    assert events["events"].dtype == "Int64" and events["week_start"].dtype == np.float64
    assert pd.api.types.is_string_dtype(events["study_id"])
    assert events.loc[2, "events"] == 8
    m = registry.measurements
    assert m.loc[6, "median"] == pytest.approx(4.1)
    assert pd.isna(m.loc[6, "mean"])  # a blank cell is missing, not 0 or ''
    assert pd.isna(registry.studies.loc[2, "duplicate_of"])
    assert registry.studies.loc[4, "duplicate_of"] == "FixtureA2020_pSS"
    assert registry.sources.loc[4, "title"] == "FICTIONAL secondary report of trial A, with a comma"
    assert registry.sources["year"].dtype == "Int64"


def test_version_is_a_stable_sha256_that_changes_with_any_edit(tmp_path: Path):
    first = load_registry(VALID).version
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert load_registry(VALID).version == first
    root = broken_copy(tmp_path)
    assert load_registry(root).version == first  # the hash depends on the files, not their path
    set_cell("meta_analyses.csv", 2, "note", "edited")(root)
    assert load_registry(root).version != first


def test_load_accepts_bom_crlf_and_trailing_blank_rows(tmp_path: Path):
    root = broken_copy(tmp_path)
    arms = (root / "arms.csv").read_bytes()
    (root / "arms.csv").write_bytes(b"\xef\xbb\xbf" + arms.replace(b"\n", b"\r\n") + b",,,,,,,,,,,\r\n\r\n")
    registry = load_registry(root)
    assert len(registry.arms) == 5
    assert list(registry.arms.columns)[0] == "study_id"


def test_default_data_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch):
    from bayes_il2.evidence import default_data_dir

    monkeypatch.setenv(DATA_ENV, str(VALID))
    assert default_data_dir() == VALID
    assert load_registry().version == load_registry(VALID).version


def test_validate_table_checks_a_user_dataframe():
    frame = pd.DataFrame({
        "study_id": ["S1", "S2"], "arm_id": ["a", "a"], "outcome": ["any_ae", "fever"], "events": [3, 12],
        "n": [10, 10], "episodes": [None, None], "week_start": [0, 0], "week_end": [12, 12],
        "source_id": ["x", "x"], "location": ["T1", "T1"], "method": ["reported", "reported"], "note": ["", ""],
    })
    problems = validate_table(frame, "events")
    assert [_where(p) for p in problems] == [("events_le_n", "events.csv", 3, "events")]
    with pytest.raises(KeyError):
        validate_table(frame, "nonsense")


# --------------------------------------------------------------------------- listings
def test_list_studies_counts_rows_with_numbers():
    table = list_studies(load_registry(VALID))
    assert list(table["study_id"]) == ["FixtureB2021_SLE", "FixtureA2020_pSS", "FixtureC2022_pSS"]
    a = table.set_index("study_id").loc["FixtureA2020_pSS"]
    assert (a["n"], a["treg"], a["events"], a["efficacy"]) == (40, 4, 3, 5)
    c = table.set_index("study_id").loc["FixtureC2022_pSS"]
    assert (c["pool"], c["duplicate_of"], c["treg"]) == ("no", "FixtureA2020_pSS", 0)


def test_show_study_and_unknown_study():
    registry = load_registry(VALID)
    text = show_study(registry, "FixtureB2021_SLE")
    assert "injection_site_reaction" in text and "fixture_src_b" in text
    assert "events.csv (1 row)\n  line 6:\n" in text  # rows are traced to their line in the file
    assert "    median: 4.1\n" in text and "    mean:" not in text  # blank cells are left out
    assert "FixtureA2020_pSS" not in text
    with pytest.raises(UnknownStudyError, match="FixtureB2021_SLE"):
        show_study(registry, "FixtureB2021_SL")


# --------------------------------------------------------------------------- rule ids
def test_every_rule_is_documented_in_the_schema_docstring():
    undocumented = [rule for rule in RULES if f"``{rule}``" not in schema.__doc__]
    assert undocumented == []


def test_rule_ids_are_stable():
    # scripts and tests match on these ids: renaming one is a breaking change (add, never rename)
    stable = {
        "missing_file", "unreadable_file", "empty_file", "no_rows", "non_utf8", "ragged_row", "malformed_csv",
        "missing_column", "extra_column", "duplicate_column", "missing_value", "bad_type", "bad_id",
        "unknown_disease", "unknown_design", "unknown_blinding", "unknown_pool", "unknown_dose_unit",
        "unknown_treatment", "unknown_timepoint", "unknown_statistic", "unknown_outcome", "unknown_measure",
        "unknown_p_operator", "missing_provenance", "bad_method", "duplicate_key", "dangling_study",
        "dangling_arm", "dangling_source", "dangling_duplicate_of", "duplicate_pooled", "same_arm",
        "non_integer_count", "negative_count", "negative_value", "not_positive", "negative_week", "week_order",
        "events_le_n", "episodes_ge_events", "analysed_le_randomized", "negative_sd", "zero_sd", "negative_se",
        "zero_se", "q1_le_median", "median_le_q3", "min_le_q1", "q3_le_max", "min_le_median", "median_le_max",
        "min_le_mean", "mean_le_max", "min_le_max", "q1_le_q3", "ci_order", "ratio_positive", "percent_range",
        "p_value_range", "ci_level_range", "incomplete_statistic", "unexplained_blank_week",
        "p_operator_without_p_value", "p_value_without_operator", "p_value_timepoint", "case_pooled",
        "preclinical_pooled", "dangling_overlap_with",
    }
    assert stable <= set(RULES)


def test_rule_ids_used_by_the_schema_are_known():
    for spec in TABLES.values():
        for column in spec.columns:
            for rule in (column.min_rule if column.minimum is not None else None,
                         column.zero_rule, column.max_rule if column.maximum is not None else None):
                if rule is not None:
                    assert rule in RULES, (spec.name, column.name, rule)
            if column.vocabulary is not None:
                assert f"unknown_{column.name}" in RULES


# --------------------------------------------------------------------------- CLI
def test_cli_validate_valid_fixture_exits_zero(capsys: pytest.CaptureFixture[str]):
    assert main(["data", "validate", str(VALID)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK:") and "3 studies" in out


def test_cli_validate_broken_copy_lists_every_planted_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    root = broken_copy(tmp_path, *(mutate for mutate, _ in PLANTED))
    code = main(["data", "validate", str(root)])
    out = capsys.readouterr().out
    assert code != 0
    assert f"{len(PLANTED)} problem(s)" in out
    for _, (rule, file, line, column) in PLANTED:
        where = f"{root / file}:{line}" + (f" [{column}]" if column else "")
        assert any(where in row and rule in row for row in out.splitlines()), (rule, file, line)


def test_cli_validate_uses_the_environment_default(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv(DATA_ENV, str(VALID))
    assert main(["data", "validate"]) == 0
    assert "OK:" in capsys.readouterr().out


def test_cli_list_and_show(capsys: pytest.CaptureFixture[str]):
    assert main(["data", "list", "--data", str(VALID)]) == 0
    out = capsys.readouterr().out
    assert all(s in out for s in ("FixtureA2020_pSS", "FixtureB2021_SLE", "FixtureC2022_pSS", "treg"))
    assert main(["data", "list", "--data", str(VALID), "--disease", "SLE"]) == 0
    out = capsys.readouterr().out
    assert "FixtureB2021_SLE" in out and "FixtureA2020_pSS" not in out
    assert main(["data", "show", "FixtureA2020_pSS", "--data", str(VALID)]) == 0
    out = capsys.readouterr().out
    assert "responder_essdai3" in out and "fixture_src_a" in out


def test_cli_show_unknown_study_exits_nonzero(capsys: pytest.CaptureFixture[str]):
    assert main(["data", "show", "NoSuchStudy", "--data", str(VALID)]) != 0
    assert "NoSuchStudy" in capsys.readouterr().err


def test_cli_list_on_broken_registry_reports_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    root = broken_copy(tmp_path, set_cell("events.csv", 2, "events", "eight"))
    assert main(["data", "list", "--data", str(root)]) != 0
    err = capsys.readouterr().err
    assert "bad_type" in err and "events.csv:2" in err


def test_validate_table_accepts_a_loaded_table_back():
    registry = load_registry(VALID)
    for name, frame in registry.tables.items():
        assert validate_table(frame, name) == [], name


def test_registry_error_message_lists_every_problem(tmp_path: Path):
    root = broken_copy(tmp_path, *(mutate for mutate, _ in PLANTED))
    with pytest.raises(RegistryError) as raised:
        load_registry(root)
    lines = str(raised.value).splitlines()
    assert lines[0] == f"{len(PLANTED)} problem(s) in the registry:"
    assert lines[1:] == [f"  - {p}" for p in raised.value.problems]
    assert raised.value.problems[0].to_dict().keys() == {"file", "line", "column", "value", "rule", "message"}


# --------------------------------------------------------------------------- fuzzing: never a traceback
_FUZZ_BYTES = [b",", b"\n", b'"', b"\r\n", b"\xff", b"\xc3", b"\x00", b"-", b"0", b"1e400", b"nan", b"9" * 25,
               b"all", b" ", b"\xef\xbb\xbf"]
_FUZZ_FILES = sorted(p.name for p in VALID.glob("*.csv"))


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.sampled_from(_FUZZ_FILES), st.floats(0, 1), st.sampled_from(_FUZZ_BYTES),
                                st.integers(0, 6)), min_size=1, max_size=4))
def test_any_byte_damage_gives_problems_not_a_traceback(edits, tmp_path_factory: pytest.TempPathFactory):
    root = broken_copy(tmp_path_factory.mktemp("fuzz"))
    for file, where, insert, delete in edits:
        raw = (root / file).read_bytes()
        at = int(where * len(raw))
        (root / file).write_bytes(raw[:at] + insert + raw[at + delete:])
    problems = validate_registry(root)
    assert all(isinstance(p, Problem) and p.rule in RULES for p in problems)
    if problems:
        with pytest.raises(RegistryError):
            load_registry(root)
    else:
        load_registry(root)


def test_a_long_note_is_valid_not_a_csv_parse_error(tmp_path: Path):
    # Python's csv module stops at fields over 128 KiB: a 200,000-character note was "malformed_csv"
    root = tmp_path / "registry"
    shutil.copytree(VALID, root)
    set_cell("events.csv", 2, "note", "x" * 200_000)(root)
    assert validate_registry(root) == []
