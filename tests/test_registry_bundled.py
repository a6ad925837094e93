"""The bundled evidence registry (``data/``): valid, fully sourced, and faithful to key publications.

The provenance checks read the CSV files with the standard library (not through the package's
validator), so that a bug in the validator cannot hide a gap in the data.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from bayes_il2.evidence import default_data_dir, load_registry, validate_registry
from bayes_il2.evidence.schema import TABLES

DATA = Path(__file__).resolve().parents[1] / "data"
VALUE_TABLES = ("studies", "arms", "measurements", "events", "contrasts", "meta_analyses")
METHOD = re.compile(r"reported|derived:.+|figure")


def _rows(table: str) -> list[dict[str, str]]:
    path = DATA / TABLES[table].file
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def registry():
    return load_registry(DATA)


def test_bundled_registry_is_the_default():
    assert default_data_dir().resolve() == DATA.resolve()


def test_bundled_registry_validates_without_problems():
    problems = validate_registry(DATA)
    assert problems == [], "\n".join(str(p) for p in problems)


@pytest.mark.parametrize("table", VALUE_TABLES)
def test_every_value_row_has_provenance(table):
    rows = _rows(table)
    assert rows, f"{table}.csv has no rows"
    for line, row in enumerate(rows, start=2):
        for column in ("source_id", "location", "method"):
            assert row[column].strip(), f"{table}.csv:{line} blank {column}"
        assert METHOD.fullmatch(row["method"]), f"{table}.csv:{line} method {row['method']!r}"


def test_derived_values_state_their_formula():
    for table in VALUE_TABLES:
        for line, row in enumerate(_rows(table), start=2):
            if row["method"].startswith("derived:"):
                assert len(row["method"]) > len("derived: ") + 2, f"{table}.csv:{line} derived without a formula"


def test_every_referenced_source_exists():
    sources = {row["source_id"] for row in _rows("sources")}
    for table in VALUE_TABLES:
        for line, row in enumerate(_rows(table), start=2):
            assert row["source_id"] in sources, f"{table}.csv:{line} unknown source_id {row['source_id']!r}"


def test_duplicates_name_an_existing_primary_and_are_not_pooled():
    studies = _rows("studies")
    ids = {row["study_id"] for row in studies}
    duplicates = [row for row in studies if row["duplicate_of"]]
    assert duplicates, "the registry records no duplicate cohort"
    for row in duplicates:
        assert row["pool"] == "no", row["study_id"]
        assert row["duplicate_of"] in ids and row["duplicate_of"] != row["study_id"], row["study_id"]


def test_known_duplicate_cohorts_are_marked():
    dup = {row["study_id"]: row["duplicate_of"] for row in _rows("studies")}
    assert dup["Feng2024_pSS"] == "He2022_pSS"
    assert dup["LSM2023_A162"] == "He2020_ARD_RCT"
    assert dup["Alarcan2024_IMODALS_metab"] == dup["Giovannelli2021_IMODALS_tx"] == "Camu2020_IMODALS"
    assert dup["He2022_pSS"] == dup["He2020_ARD_RCT"] == dup["Zhang2022_STTT"] == ""


def _events(registry, study, outcome):
    e = registry.events
    rows = e[(e["study_id"] == study) & (e["outcome"] == outcome)]
    return {(arm, int(week) if week == week else None): (int(k), int(n))
            for arm, week, k, n in zip(rows["arm_id"], rows["week_end"], rows["events"], rows["n"])}


def test_pss_trial_primary_end_point_matches_publication(registry):
    # He et al. JAMA Netw Open 2022, Abstract Results: 20 (66.7%) vs 8 (26.7%) at week 24.
    assert _events(registry, "He2022_pSS", "responder_essdai3") == {("ld_il2", 24): (20, 30), ("placebo", 24): (8, 30)}


def test_pss_trial_infections_match_publication(registry):
    # Same abstract: infections 1 (3.3%) vs 9 (30.0%).
    assert _events(registry, "He2022_pSS", "infection") == {("ld_il2", 24): (1, 30), ("placebo", 24): (9, 30)}


def test_pss_trial_vas_differences_match_publication(registry):
    c = registry.contrasts
    rows = c[(c["study_id"] == "He2022_pSS") & (c["measure"] == "MD")].set_index("outcome")
    expected = {"vas_dryness": (-18.33, -28.46, -8.21), "vas_pain": (-10.33, -19.38, -1.29),
                "vas_fatigue": (-11.67, -20.65, -2.68)}
    assert set(rows.index) == set(expected)
    for outcome, (est, lo, hi) in expected.items():
        assert (rows.loc[outcome, "estimate"], rows.loc[outcome, "ci_low"], rows.loc[outcome, "ci_high"]) == (est, lo, hi)
        assert (rows.loc[outcome, "arm_a"], rows.loc[outcome, "arm_b"], rows.loc[outcome, "week"]) == ("ld_il2", "placebo", 12.0)


def test_randomized_trial_responder_counts(registry):
    # He2020 SRI-4 and Zhang2022 ACR20 counts are derived from printed percentages and denominators.
    assert _events(registry, "He2020_ARD_RCT", "responder_sri4") == {
        ("ld_il2", 12): (16, 29), ("placebo", 12): (9, 30), ("ld_il2", 24): (19, 29), ("placebo", 24): (11, 30)}
    assert _events(registry, "Zhang2022_STTT", "responder_acr20") == {
        ("ld_il2", 12): (12, 17), ("placebo", 12): (10, 23), ("ld_il2", 24): (13, 17), ("placebo", 24): (13, 23)}
    e = registry.events
    derived = e[e["outcome"].isin(["responder_sri4", "responder_acr20"])]["method"]
    assert derived.str.startswith("derived:").all()


def test_every_post_treatment_treg_value_has_its_baseline(registry):
    """A post value without its baseline cannot give a within-arm change; baseline-only rows
    (e.g. healthy controls, cross-sectional comparisons) are allowed."""
    m = registry.measurements
    treg = m[m["outcome"].str.startswith("treg_") & m["timepoint"].isin(["baseline", "post"])]
    assert not treg.empty
    for (study, arm, outcome), group in treg.groupby(["study_id", "arm_id", "outcome"]):
        if "post" in set(group["timepoint"]):
            assert "baseline" in set(group["timepoint"]), (study, arm, outcome)


def _readme_template() -> dict[str, list[str]]:
    """The template rows of data/README.md, by file name."""
    text = (DATA / "README.md").read_text(encoding="utf-8")
    block = text.split("Template row set", 1)[1].split("```", 2)[1]
    rows: dict[str, list[str]] = {}
    current = None
    for line in block.splitlines():
        if line.endswith(".csv"):
            current = line.strip()
            rows[current] = []
        elif line.strip() and current:
            rows[current].append(line)
    return rows


def test_readme_template_rows_validate(tmp_path):
    template = _readme_template()
    assert set(template) == {"sources.csv", "studies.csv", "arms.csv", "measurements.csv", "events.csv", "contrasts.csv"}
    for spec in TABLES.values():
        original = (DATA / spec.file).read_text(encoding="utf-8")
        added = "".join(line + "\n" for line in template.get(spec.file, []))
        (tmp_path / spec.file).write_text(original + added, encoding="utf-8")
    problems = validate_registry(tmp_path)
    assert problems == [], "\n".join(str(p) for p in problems)
    assert "Doe2025_SLE" in set(load_registry(tmp_path).studies["study_id"])


# --------------------------------------------------------------------------- issue 15 corrections
def test_case_reports_and_series_are_not_pooled_unless_a_reason_is_given():
    for row in _rows("studies"):
        if row["design"] in ("case_report", "case_series"):
            assert row["pool"] == "no" or row["pool_override_reason"].strip(), row["study_id"]
    zhang = {row["study_id"]: row for row in _rows("studies")}["Zhang2018_ITP_case"]
    assert zhang["pool"] == "no"


def test_preclinical_studies_are_recorded_and_never_pooled():
    preclinical = [row for row in _rows("studies") if row["design"] == "preclinical"]
    assert [row["study_id"] for row in preclinical] == ["JIR2022_CIA_mouse"]
    assert all(row["pool"] == "no" for row in preclinical)
    source = {row["source_id"]: row for row in _rows("sources")}["JIR2022_CIA_mouse"]
    assert source["pmid"] == "35241924" and source["doi"] == "10.2147/JIR.S344393"


def test_he2020_severe_adverse_events_are_not_coded_serious(registry):
    # Ann Rheum Dis 2020 Table 3: row 'SAEs' 0 vs 3 (10.0%), footnote 'SAE, severe adverse events'
    assert _events(registry, "He2020_ARD_RCT", "severe_ae") == {("ld_il2", 24): (0, 29), ("placebo", 24): (3, 30)}
    assert _events(registry, "He2020_ARD_RCT", "severe_infection") == {("ld_il2", 24): (0, 29),
                                                                       ("placebo", 24): (2, 30)}
    assert _events(registry, "He2020_ARD_RCT", "serious_ae") == {}
    assert _events(registry, "He2020_ARD_RCT", "serious_infection") == {}


def test_possible_overlaps_are_marked_with_existing_ids():
    studies = {row["study_id"]: row for row in _rows("studies")}
    assert studies["JICR2019_LN"]["overlap_with"] == "He2016_NatMed;He2020_ARD_RCT"
    assert studies["Zhang2018_ACR2660_LN"]["overlap_with"] == "He2016_NatMed;He2020_ARD_RCT"
    assert studies["Shanxi_AS_EULAR"]["overlap_with"] == studies["Shanxi_PsA"]["overlap_with"] == "Jinnan2017_SpA"
    for row in studies.values():
        for other in filter(None, row["overlap_with"].split(";")):
            assert other in studies and other != row["study_id"], row["study_id"]


def test_within_arm_p_values_are_machine_readable(registry):
    # ShanxiRA abstract (acrabstracts.org): Treg P = 0.001, Th17 P = 0.01 after vs before
    m = registry.measurements
    shanxi = m[(m["study_id"] == "ShanxiRA_ACR_overtreated") & (m["timepoint"] == "post")].set_index("outcome")
    assert shanxi.loc["treg_count", "p_value"] == 0.001 and shanxi.loc["treg_count", "p_operator"] == "="
    assert shanxi.loc["th17_count", "p_value"] == 0.01
    assert (m.loc[m["p_value"].notna(), "timepoint"] != "baseline").all()
    assert m.loc[m["p_value"].notna(), "p_operator"].isin(["=", "<", ">"]).all()
