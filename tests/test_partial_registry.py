"""The registry's partial-information fields (issue #14): what the bundled rows say, and that
malformed ones are rejected naming the rule (the malformed cases themselves are in the corpus of
tests/test_evidence_validation.py, which checks that every rule of RULES has one)."""
from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pandas as pd
import pytest

from bayes_il2.evidence import RULES, load_registry, validate_registry, validate_table
from bayes_il2.evidence import schema
from bayes_il2.evidence.validate import member_ids

DATA = Path(__file__).resolve().parents[1] / "data"
NEW_RULES = ("p_value_without_operator", "bound_without_direction", "qualitative_mismatch",
             "aggregate_members_unknown", "unknown_members_without_overlap", "dangling_member",
             "incomplete_aggregate", "unknown_sided", "unknown_direction", "unknown_test", "unknown_scale",
             "unknown_use_as_evidence")


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def copy_registry(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(DATA, root, ignore=shutil.ignore_patterns("*.md"))
    return root


def edit(root: Path, file: str, key: dict[str, str], **cells: str) -> None:
    """Set ``cells`` on the one row of ``file`` whose columns equal ``key``."""
    rows = list(csv.reader(io.StringIO((root / file).read_text(encoding="utf-8"), newline="")))
    header = rows[0]
    hits = [r for r in rows[1:] if all(r[header.index(k)] == v for k, v in key.items())]
    assert len(hits) == 1, (file, key, len(hits))
    for column, value in cells.items():
        hits[0][header.index(column)] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    (root / file).write_text(buffer.getvalue(), encoding="utf-8")


def test_every_new_rule_is_listed_and_documented():
    text = schema.__doc__
    for rule in NEW_RULES:
        assert rule in RULES
        assert rule in text or rule.startswith("unknown_"), rule
    assert RULES["p_value_range"] == "a p-value outside (0, 1]"


def test_measurements_and_contrasts_share_the_p_value_columns():
    for table in (schema.MEASUREMENTS, schema.CONTRASTS):
        names = table.column_names
        assert {"p_value", "p_operator", "sided", "direction"} <= set(names)
    assert "test" in schema.CONTRASTS.column_names  # within-arm P values are paired by construction
    assert {"scale", "disease", "registry_outcome", "members", "may_overlap", "use_as_evidence"} <= set(
        schema.META_ANALYSES.column_names)


def test_imodals_p_values_are_two_sample_increases_with_their_arm_sizes(registry):
    rows = registry.contrasts.query("study_id == 'Camu2020_IMODALS' and outcome == 'treg_pct_cd4'")
    assert sorted(rows["arm_a"]) == ["il2_1miu", "il2_2miu"]
    assert (rows["p_value"] == 0.0001).all() and (rows["p_operator"] == "<").all()
    assert (rows["direction"] == "increase").all() and (rows["test"] == "two_sample").all()
    assert (rows["n_a"] == 12).all() and (rows["n_b"] == 12).all()
    assert rows["sided"].isna().all()  # not printed: left blank, never guessed


def test_within_arm_p_value_rows(registry):
    m = registry.measurements
    cmro = m.query("study_id == 'Zhang2022_CMRO' and statistic == 'p_only'").iloc[0]
    assert (cmro["outcome"], cmro["n"], cmro["p_value"], cmro["p_operator"], cmro["direction"]) == (
        "treg_count", 54, 0.01, "<", "increase")
    assert cmro["week"] == pytest.approx(5 / 7)
    jicr = m.query("study_id == 'JICR2019_LN' and statistic == 'p_only'").iloc[0]
    assert (jicr["p_value"], jicr["p_operator"]) == (0.007, "=") and pd.isna(jicr["n"])


def test_pss_trial_has_a_qualitative_row_quoting_the_source(registry):
    row = registry.measurements.query("study_id == 'He2022_pSS' and outcome.str.startswith('treg')").iloc[0]
    assert (row["statistic"], row["qualifier"], row["direction"]) == (
        "qualitative", "qualitative_significant", "increase")
    assert "LD-IL-2 promoted an expansion of regulatory T cells" in row["note"]
    assert pd.isna(row["mean"]) and pd.isna(row["p_value"])  # a flag, never a number


def test_one_aggregate_per_disease_is_used_and_says_what_it_may_double_count(registry):
    meta = registry.meta_analyses
    used = meta[meta["use_as_evidence"] == "yes"]
    assert list(used["ma_id"]) == ["Su2024_IID_SLE.treg_all"]
    assert not used["disease"].duplicated().any()
    row = used.iloc[0]
    assert (row["estimate"], row["ci_low"], row["ci_high"]) == (1.096, 0.544, 1.649)
    assert row["members"] == schema.UNKNOWN_MEMBERS and "Zhang2022_CMRO" in member_ids(row["may_overlap"])
    autoimmun = meta.set_index("ma_id").loc["AutoimmunRev2023_Treg.treg"]
    assert (autoimmun["estimate"], autoimmun["ci_low"], autoimmun["ci_high"], autoimmun["k"], autoimmun["i2"]) == (
        1.07, 0.86, 1.27, 18, 67.3)
    assert autoimmun["use_as_evidence"] == "no" and "not used as evidence" in autoimmun["note"]
    assert meta.set_index("ma_id").loc["Su2024_IID_SLE.included", "k"] == 8


def test_a_registry_aggregate_without_members_is_rejected(tmp_path):
    root = copy_registry(tmp_path)
    edit(root, "meta_analyses.csv", {"ma_id": "Su2024_IID_SLE.treg_all"}, members="")
    assert [p.rule for p in validate_registry(root)] == ["aggregate_members_unknown"]


def test_unknown_members_need_the_overlap_list(tmp_path):
    root = copy_registry(tmp_path)
    edit(root, "meta_analyses.csv", {"ma_id": "Su2024_IID_SLE.treg_all"}, may_overlap="")
    (problem,) = validate_registry(root)
    assert (problem.rule, problem.column, problem.line) == ("unknown_members_without_overlap", "may_overlap", 11)


def test_a_p_value_of_zero_is_rejected_in_measurements(tmp_path):
    root = copy_registry(tmp_path)
    edit(root, "measurements.csv", {"study_id": "Zhang2022_CMRO", "statistic": "p_only"}, p_value="0")
    (problem,) = validate_registry(root)
    assert (problem.rule, problem.column) == ("p_value_range", "p_value")


def test_validate_table_checks_a_users_measurements_frame():
    frame = pd.DataFrame([{c: "" for c in schema.MEASUREMENTS.column_names}])
    frame.loc[0, ["study_id", "arm_id", "outcome", "timepoint", "statistic", "p_value", "sided", "source_id",
                  "location", "method", "note", "week"]] = [
        "S1", "a", "treg_pct_cd4", "change", "p_only", "0.01", "1", "src", "Table 1", "reported", "x", "1"]
    rules = sorted(p.rule for p in validate_table(frame, "measurements"))
    assert rules == ["bound_without_direction", "p_value_without_operator"]
