"""The registry-to-effects layer on the fictional fixture registry (and a smoke test on data/).

Every registry here is tests/fixtures/registry_valid (FICTIONAL numbers) copied to tmp_path, with
rows appended per test, and read through the real loader (bayes_il2.evidence.load_registry).
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from bayes_il2 import effects as fx
from bayes_il2.evidence import load_registry
from bayes_il2.errors import EffectSizeError

FIXTURE = Path(__file__).parent / "fixtures" / "registry_valid"
DATA = Path(__file__).resolve().parents[1] / "data"
REQUIRED = ["study_id", "label", "disease", "design", "measure", "yi", "vi", "arm_id", "outcome", "n", "dose_miu",
            "treatment_weeks", "year", "source_id", "location", "method", "note"]
PROV = {"source_id": "fixture_src_a", "location": "Table X", "method": "reported", "note": "FICTIONAL"}


def registry_with(tmp_path: Path, **extra: list[dict]):
    """The fixture registry plus ``extra`` rows per table (missing cells blank)."""
    target = tmp_path / "registry"
    shutil.copytree(FIXTURE, target)
    for table, rows in extra.items():
        path = target / f"{table}.csv"
        with path.open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh))
        with path.open("a", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=header)
            for row in rows:
                writer.writerow({k: row.get(k, "") for k in header})
    return load_registry(target)


def meas(study, arm, timepoint, statistic, week, outcome="treg_pct_cd4", phenotype="CD4+CD25+FOXP3+", **values):
    return {"study_id": study, "arm_id": arm, "outcome": outcome, "phenotype": phenotype, "unit": "%",
            "week": week, "timepoint": timepoint, "statistic": statistic, **PROV, **values}


@pytest.fixture(scope="module")
def fixture_registry():
    return load_registry(FIXTURE)


# --------------------------------------------------------------------------- Treg expansion
def test_treg_table_has_contract_columns_and_one_row_per_ld_arm(fixture_registry):
    table, excluded = fx.treg_expansion_effects(fixture_registry)
    assert set(REQUIRED) <= set(table.columns)
    assert list(table["study_id"]) == ["FixtureA2020_pSS", "FixtureB2021_SLE"]
    assert (table["measure"] == "ROMC").all() and (table["vi"] > 0).all()
    assert set(table["arm_id"]) == {"il2"}  # the placebo arm is not an LD-IL-2 arm
    assert excluded.columns.tolist() == ["study_id", "arm_id", "outcome", "reason"]


def test_treg_romc_from_reported_means(fixture_registry):
    table, _ = fx.treg_expansion_effects(fixture_registry, r=0.5)
    row = table.set_index("study_id").loc["FixtureA2020_pSS"]
    expected = fx.log_ratio_of_means_paired(5.2, 1.4, 8.9, 2.1, 19, 0.5)
    assert row["yi"] == pytest.approx(np.log(8.9 / 5.2))
    assert row["vi"] == pytest.approx(expected.vi)
    assert row["n"] == 19 and row["week"] == 12 and row["outcome"] == "treg_pct_cd4"
    assert row["disease"] == "pSS" and row["design"] == "rct" and row["year"] == 2020
    assert row["source_id"] == "fixture_src_a" and row["method"] == "reported"
    assert "mean/SD as reported" in row["method_effect"]


def test_treg_median_rows_converted_and_conversion_recorded(fixture_registry):
    table, _ = fx.treg_expansion_effects(fixture_registry)
    row = table.set_index("study_id").loc["FixtureB2021_SLE"]
    m0, s0 = fx.mean_sd_from_five_numbers(2.5, 3.2, 4.1, 5.0, 6.8, 10)
    m1, s1 = fx.mean_sd_from_five_numbers(4.9, 6.0, 7.5, 9.1, 12.0, 10)
    assert row["yi"] == pytest.approx(np.log(m1 / m0))
    assert row["vi"] == pytest.approx(fx.log_ratio_of_means_paired(m0, s0, m1, s1, 10, 0.5).vi)
    assert "Luo 2018" in row["method_effect"] and "Shi 2020" in row["method_effect"]
    assert row["method"] == "figure"


@pytest.mark.parametrize("measure", ["SMCR", "SMCC", "MC"])
def test_treg_other_measures(fixture_registry, measure):
    table, _ = fx.treg_expansion_effects(fixture_registry, measure=measure, r=0.3)
    row = table.set_index("study_id").loc["FixtureA2020_pSS"]
    expected = fx.prepost_effect(measure, 5.2, 1.4, 8.9, 2.1, 19, 0.3)
    assert row["measure"] == measure
    assert (row["yi"], row["vi"]) == pytest.approx((expected.yi, expected.vi))


def test_treg_r_changes_the_variance_only(fixture_registry):
    low, _ = fx.treg_expansion_effects(fixture_registry, r=0.2)
    high, _ = fx.treg_expansion_effects(fixture_registry, r=0.8)
    np.testing.assert_allclose(low["yi"], high["yi"])
    assert (high["vi"] < low["vi"]).all()
    assert (high["r"] == 0.8).all()


def test_treg_bad_arguments(fixture_registry):
    with pytest.raises(EffectSizeError, match="r must lie"):
        fx.treg_expansion_effects(fixture_registry, r=1.5)
    with pytest.raises(EffectSizeError, match="measure must be one of"):
        fx.treg_expansion_effects(fixture_registry, measure="SMD")


def test_treg_duplicate_cohort_excluded_unless_asked(tmp_path):
    reg = registry_with(tmp_path, measurements=[
        meas("FixtureC2022_pSS", "il2", "baseline", "mean_sd", 0, n=20, mean=5.0, sd=1.0, source_id="fixture_src_c"),
        meas("FixtureC2022_pSS", "il2", "post", "mean_sd", 12, n=20, mean=9.0, sd=2.0, source_id="fixture_src_c"),
    ])
    table, excluded = fx.treg_expansion_effects(reg)
    assert "FixtureC2022_pSS" not in set(table["study_id"])
    row = excluded.set_index("study_id").loc["FixtureC2022_pSS"]
    assert row["reason"] == "duplicate cohort of FixtureA2020_pSS" and row["outcome"] == "treg_pct_cd4"
    table, excluded = fx.treg_expansion_effects(reg, include_duplicates=True)
    assert "FixtureC2022_pSS" in set(table["study_id"]) and excluded.empty


def test_treg_missing_post_value_is_reported(tmp_path):
    reg = registry_with(tmp_path, measurements=[
        meas("FixtureC2022_pSS", "il2", "baseline", "mean_sd", 0, n=20, mean=5.0, sd=1.0)])
    _, excluded = fx.treg_expansion_effects(reg, include_duplicates=True)
    row = excluded.set_index("study_id").loc["FixtureC2022_pSS"]
    assert row["reason"] == "no post-treatment value" and row["arm_id"] == "il2"


def test_treg_point_values_without_spread_are_reported(tmp_path):
    reg = registry_with(tmp_path, measurements=[
        meas("FixtureC2022_pSS", "il2", "baseline", "point", 0, n=20, mean=5.0),
        meas("FixtureC2022_pSS", "il2", "post", "point", 12, n=20, mean=8.0)])
    _, excluded = fx.treg_expansion_effects(reg, include_duplicates=True)
    assert excluded.set_index("study_id").loc["FixtureC2022_pSS", "reason"] == "SD not reported and not derivable"


def test_treg_se_converted_to_sd(tmp_path):
    reg = registry_with(tmp_path, measurements=[
        meas("FixtureC2022_pSS", "il2", "baseline", "mean_se", 0, n=16, mean=5.0, se=0.25),
        meas("FixtureC2022_pSS", "il2", "post", "mean_se", 12, n=16, mean=8.0, se=0.5)])
    table, _ = fx.treg_expansion_effects(reg, include_duplicates=True, measure="MC", r=0.5)
    row = table.set_index("study_id").loc["FixtureC2022_pSS"]
    assert (row["sd_pre"], row["sd_post"]) == pytest.approx((1.0, 2.0))
    assert row["vi"] == pytest.approx((1 + 4 - 2 * 0.5 * 1 * 2) / 16)
    assert "SD from SE" in row["method_effect"]


def test_treg_post_value_closest_to_end_of_treatment(tmp_path):
    # FixtureA treats for 12 weeks: a week-4 and a week-24 value are added; week 12 is kept
    reg = registry_with(tmp_path, measurements=[
        meas("FixtureA2020_pSS", "il2", "post", "mean_sd", 4, n=19, mean=6.0, sd=1.5),
        meas("FixtureA2020_pSS", "il2", "post", "mean_sd", 24, n=19, mean=5.5, sd=1.5)])
    table, _ = fx.treg_expansion_effects(reg)
    row = table.set_index("study_id").loc["FixtureA2020_pSS"]
    assert row["week"] == 12 and row["mean_post"] == 8.9


def test_treg_outcome_preference_and_override(tmp_path):
    reg = registry_with(tmp_path, measurements=[
        meas("FixtureA2020_pSS", "il2", "baseline", "mean_sd", 0, outcome="treg_count_ul", n=19, mean=40, sd=10),
        meas("FixtureA2020_pSS", "il2", "post", "mean_sd", 12, outcome="treg_count_ul", n=19, mean=90, sd=30)])
    table, _ = fx.treg_expansion_effects(reg)
    assert table.set_index("study_id").loc["FixtureA2020_pSS", "outcome"] == "treg_pct_cd4"
    table, _ = fx.treg_expansion_effects(reg, outcome="treg_count_ul")
    row = table.set_index("study_id").loc["FixtureA2020_pSS"]
    assert row["outcome"] == "treg_count_ul" and row["yi"] == pytest.approx(np.log(90 / 40))
    assert "FixtureB2021_SLE" not in set(table["study_id"])


def test_treg_falls_back_to_next_outcome_when_preferred_unusable(tmp_path):
    reg = registry_with(tmp_path, measurements=[
        meas("FixtureC2022_pSS", "il2", "baseline", "point", 0, n=20, mean=5.0),
        meas("FixtureC2022_pSS", "il2", "post", "point", 12, n=20, mean=8.0),
        meas("FixtureC2022_pSS", "il2", "fold", "fold_median_iqr", 12, outcome="treg_fold", n=20,
             median=1.8, q1=1.4, q3=2.3)])
    table, _ = fx.treg_expansion_effects(reg, include_duplicates=True)
    row = table.set_index("study_id").loc["FixtureC2022_pSS"]
    assert row["outcome"] == "treg_fold"
    expected = fx.log_fold_from_median_iqr(1.8, 1.4, 2.3, 20)
    assert (row["yi"], row["vi"]) == pytest.approx((expected.yi, expected.vi))
    assert "fold change" in row["method_effect"]
    _, excluded = fx.treg_expansion_effects(reg, include_duplicates=True, measure="SMCR")
    reason = excluded.set_index("study_id").loc["FixtureC2022_pSS", "reason"]
    assert reason == "SD not reported and not derivable"


def test_treg_change_rows_give_mc(tmp_path):
    reg = registry_with(tmp_path, measurements=[
        meas("FixtureC2022_pSS", "il2", "baseline", "mean_sd", 0, n=20, mean=5.0, sd=1.0),
        meas("FixtureC2022_pSS", "il2", "change", "mean_change_sd", 12, n=20, mean=3.0, sd=2.0)])
    table, _ = fx.treg_expansion_effects(reg, include_duplicates=True, measure="MC")
    row = table.set_index("study_id").loc["FixtureC2022_pSS"]
    assert (row["yi"], row["vi"]) == pytest.approx((3.0, 4.0 / 20))
    _, excluded = fx.treg_expansion_effects(reg, include_duplicates=True, measure="ROMC")
    assert "ROMC needs baseline and post values" in excluded.set_index("study_id").loc["FixtureC2022_pSS", "reason"]


def test_treg_several_ld_arms_get_distinct_labels(tmp_path):
    reg = registry_with(tmp_path, arms=[
        {"study_id": "FixtureA2020_pSS", "arm_id": "il2_high", "treatment": "ld_il2", "dose_miu": 3,
         "dose_unit": "MIU", "n_randomized": 20, "n_analysed": 20, "label": "LD-IL-2 3 MIU", **PROV}],
        measurements=[meas("FixtureA2020_pSS", "il2_high", "baseline", "mean_sd", 0, n=20, mean=5.0, sd=1.0),
                      meas("FixtureA2020_pSS", "il2_high", "post", "mean_sd", 12, n=20, mean=11.0, sd=3.0)])
    table, _ = fx.treg_expansion_effects(reg)
    a = table[table["study_id"] == "FixtureA2020_pSS"].set_index("arm_id")
    assert set(a.index) == {"il2", "il2_high"}
    assert a.loc["il2_high", "dose_miu"] == 3 and a.loc["il2", "dose_miu"] == 1
    assert a["label"].nunique() == 2 and "LD-IL-2 3 MIU" in a.loc["il2_high", "label"]


# --------------------------------------------------------------------------- events
def test_event_rate_table(fixture_registry):
    table, excluded = fx.event_rate_effects(fixture_registry, "any_ae")
    assert {"study_id", "disease", "design", "events", "n", "arm_id", "source_id", "location", "method"} <= set(
        table.columns)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["study_id"], row["arm_id"], row["events"], row["n"]) == ("FixtureA2020_pSS", "il2", 8, 20)
    assert row["measure"] == "PLO" and row["yi"] == pytest.approx(np.log(8 / 12))
    assert row["vi"] == pytest.approx(1 / 8 + 1 / 12) and not row["corrected"]
    assert "0.5" in row["correction"]
    assert excluded.empty


def test_event_rate_whole_study_pseudo_arm_of_mixed_treatment_is_not_ld(fixture_registry):
    table, _ = fx.event_rate_effects(fixture_registry, "serious_ae")
    assert table.empty  # FixtureA's 'all' arm is 'other' (LD-IL-2 and placebo together)


def test_event_rate_zero_events_corrected_and_flagged(tmp_path):
    reg = registry_with(tmp_path, events=[
        {"study_id": "FixtureB2021_SLE", "arm_id": "il2", "outcome": "serious_ae", "events": 0, "n": 10,
         "week_start": 0, "week_end": 8, **PROV}])
    table, _ = fx.event_rate_effects(reg, "serious_ae")
    row = table.iloc[0]
    assert row["events"] == 0 and row["corrected"]
    assert row["yi"] == pytest.approx(np.log(0.5 / 10.5))


def test_event_rate_duplicate_cohort_excluded(tmp_path):
    reg = registry_with(tmp_path, events=[
        {"study_id": "FixtureC2022_pSS", "arm_id": "il2", "outcome": "any_ae", "events": 8, "n": 20,
         "week_start": 0, "week_end": 24, **PROV}])
    table, excluded = fx.event_rate_effects(reg, "any_ae")
    assert "FixtureC2022_pSS" not in set(table["study_id"])
    assert excluded.set_index("study_id").loc["FixtureC2022_pSS", "reason"] == "duplicate cohort of FixtureA2020_pSS"


def test_event_rate_longest_window_kept(tmp_path):
    reg = registry_with(tmp_path, events=[
        {"study_id": "FixtureA2020_pSS", "arm_id": "il2", "outcome": "any_ae", "events": 3, "n": 20,
         "week_start": 0, "week_end": 4, **PROV}])
    table, _ = fx.event_rate_effects(reg, "any_ae")
    row = table.iloc[0]
    assert row["events"] == 8 and row["week_end"] == 24 and "longest window" in row["note"]


def test_event_contrast_table(fixture_registry):
    table, excluded = fx.event_contrast_table(fixture_registry, "any_ae")
    assert {"study_id", "disease", "design", "events_t", "n_t", "events_c", "n_c", "correction"} <= set(table.columns)
    row = table.iloc[0]
    assert (row["events_t"], row["n_t"], row["events_c"], row["n_c"]) == (8, 20, 6, 20)
    yi, vi = fx.log_odds_ratio(8, 20, 6, 20)
    assert (row["yi"], row["vi"]) == pytest.approx((yi, vi))
    assert not row["corrected"] and not row["double_zero"]
    assert excluded.empty


def test_event_contrast_single_arm_study_excluded_with_reason(fixture_registry):
    table, excluded = fx.event_contrast_table(fixture_registry, "injection_site_reaction")
    assert table.empty
    assert excluded.set_index("study_id").loc["FixtureB2021_SLE", "reason"] == "no placebo/control arm with counts"


def test_event_contrast_zero_cells_recorded_not_silent(tmp_path):
    reg = registry_with(tmp_path, events=[
        {"study_id": "FixtureA2020_pSS", "arm_id": "il2", "outcome": "death", "events": 0, "n": 20,
         "week_start": 0, "week_end": 24, **PROV},
        {"study_id": "FixtureA2020_pSS", "arm_id": "pbo", "outcome": "death", "events": 0, "n": 20,
         "week_start": 0, "week_end": 24, **PROV},
        {"study_id": "FixtureA2020_pSS", "arm_id": "il2", "outcome": "infection", "events": 0, "n": 20,
         "week_start": 0, "week_end": 24, **PROV},
        {"study_id": "FixtureA2020_pSS", "arm_id": "pbo", "outcome": "infection", "events": 2, "n": 20,
         "week_start": 0, "week_end": 24, **PROV}])
    death, _ = fx.event_contrast_table(reg, "death")
    assert death.iloc[0]["double_zero"] and np.isnan(death.iloc[0]["yi"])
    assert death.iloc[0]["events_t"] == 0 and death.iloc[0]["events_c"] == 0  # counts kept for the binomial model
    infection, _ = fx.event_contrast_table(reg, "infection")
    row = infection.iloc[0]
    assert row["corrected"] and "0.5" in row["correction"]
    assert row["yi"] == pytest.approx(np.log(0.5 * 18.5 / (20.5 * 2.5)))


def test_event_contrast_dose_arms_combined(tmp_path):
    reg = registry_with(tmp_path, arms=[
        {"study_id": "FixtureA2020_pSS", "arm_id": "il2_high", "treatment": "ld_il2", "dose_miu": 3,
         "dose_unit": "MIU", "n_randomized": 20, "n_analysed": 20, "label": "LD-IL-2 3 MIU", **PROV}],
        events=[{"study_id": "FixtureA2020_pSS", "arm_id": "il2_high", "outcome": "any_ae", "events": 10, "n": 20,
                 "week_start": 0, "week_end": 24, **PROV}])
    table, _ = fx.event_contrast_table(reg, "any_ae")
    row = table.iloc[0]
    assert (row["events_t"], row["n_t"]) == (18, 40) and "arms combined" in row["note"]
    assert row["arm_id"] == "il2+il2_high-vs-pbo"


# --------------------------------------------------------------------------- bundled data
@pytest.mark.skipif(not (DATA / "studies.csv").exists(), reason="data/ registry not present")
def test_bundled_registry_gives_finite_treg_effects():
    table, excluded = fx.treg_expansion_effects(load_registry(DATA))
    finite = table[np.isfinite(table["yi"]) & np.isfinite(table["vi"]) & (table["vi"] > 0)]
    assert len(finite) >= 3, f"only {len(finite)} usable Treg rows; excluded:\n{excluded.to_string()}"
    assert set(excluded.columns) == {"study_id", "arm_id", "outcome", "reason"}


def test_treg_rows_with_zero_variance_are_excluded_not_returned(tmp_path):
    # equal coefficients of variation and r = 1 give a ROMC variance of exactly 0
    reg = registry_with(tmp_path, measurements=[
        meas("FixtureC2022_pSS", "il2", "baseline", "mean_sd", 0, n=20, mean=5.0, sd=1.0),
        meas("FixtureC2022_pSS", "il2", "post", "mean_sd", 12, n=20, mean=10.0, sd=2.0)])
    table, excluded = fx.treg_expansion_effects(reg, include_duplicates=True, r=1.0)
    assert "FixtureC2022_pSS" not in set(table["study_id"])
    assert np.isfinite(table["yi"]).all() and (table["vi"] > 0).all()
    assert "not estimable" in excluded.set_index("study_id").loc["FixtureC2022_pSS", "reason"]


def test_treg_unconvertible_summary_becomes_a_reason_not_a_crash():
    # a Registry-like object (no validation) whose baseline median lies outside its IQR
    reg = load_registry(FIXTURE)
    bad = reg.measurements.copy()
    row = bad["study_id"].eq("FixtureB2021_SLE") & bad["timepoint"].eq("baseline")
    bad.loc[row, "median"] = 9.0
    from types import SimpleNamespace
    fake = SimpleNamespace(sources=reg.sources, studies=reg.studies, arms=reg.arms, measurements=bad,
                           events=reg.events, contrasts=reg.contrasts)
    table, excluded = fx.treg_expansion_effects(fake)
    assert "FixtureB2021_SLE" not in set(table["study_id"])
    reason = excluded.set_index("study_id").loc["FixtureB2021_SLE", "reason"]
    assert "FixtureB2021_SLE:il2" in reason and "median > q3" in reason


def test_bounds_and_approximate_values_are_never_pooled(tmp_path):
    """A fold change printed as '> 5' (qualifier lower_bound) gives no effect even with an SD beside it;
    an estimate of the same arm and outcome is used instead when there is one."""
    only_bound = registry_with(tmp_path / "a", measurements=[
        meas("FixtureC2022_pSS", "il2", "fold", "fold_mean_sd", 12, outcome="treg_fold", n=20, mean=5.0, sd=1.0,
             qualifier="lower_bound")])
    table, excluded = fx.treg_expansion_effects(only_bound, include_duplicates=True)
    assert "FixtureC2022_pSS" not in set(table["study_id"])
    reason = excluded.set_index("study_id").loc["FixtureC2022_pSS", "reason"]
    assert reason == "the value is a lower bound ('> x'), not an estimate (qualifier column)"
    both = registry_with(tmp_path / "b", measurements=[
        meas("FixtureC2022_pSS", "il2", "fold", "fold_mean_sd", 12, outcome="treg_fold", n=20, mean=5.0, sd=1.0,
             qualifier="lower_bound"),
        meas("FixtureC2022_pSS", "il2", "fold", "fold_mean_sd", 12, outcome="treg_fold", n=20, mean=2.0, sd=0.5,
             source_id="fixture_src_c")])
    table, _ = fx.treg_expansion_effects(both, include_duplicates=True)
    row = table.set_index("study_id").loc["FixtureC2022_pSS"]
    assert row["yi"] == pytest.approx(float(fx.log_fold_from_mean_sd(2.0, 0.5, 20).yi))


def test_bundled_bounds_are_flagged_and_excluded():
    from bayes_il2.evidence import load_registry

    registry = load_registry()
    flagged = registry.measurements[registry.measurements["qualifier"].isin(("lower_bound", "approximate"))]
    assert set(flagged["qualifier"]) == {"lower_bound", "approximate"}
    assert flagged["note"].str.startswith(("LOWER BOUND ONLY", "APPROXIMATE")).all()
    _, excluded = fx.treg_expansion_effects(registry, include_duplicates=True)
    reasons = excluded.set_index("study_id")["reason"]
    for study in ("Koreth2011_cGVHD_ph1", "Koreth2016_cGVHD_ph2", "Shanxi2021_BD"):
        assert "not an estimate" in reasons[study]


def test_skewed_median_summaries_follow_the_policy(tmp_path):
    """Baseline 14.9 / 26.8 / 29.9 (n 22) is left-skewed by the Shi et al. (2023) test (T 0.587 >= 0.553);
    a right-skewed baseline 10 / 14 / 30 is skewed too (T 0.600) but its logs are not (T 0.388)."""
    def registry(baseline):
        q1, med, q3 = baseline
        return registry_with(tmp_path / f"r{q1}", measurements=[
            meas("FixtureC2022_pSS", "il2", "baseline", "median_iqr", 0, n=22, median=med, q1=q1, q3=q3),
            meas("FixtureC2022_pSS", "il2", "post", "median_iqr", 12, n=22, median=70.9, q1=36.5, q3=97.6)])

    left = registry((14.9, 26.8, 29.9))
    kept, _ = fx.treg_expansion_effects(left, include_duplicates=True)
    row = kept.set_index("study_id").loc["FixtureC2022_pSS"]
    assert row["skewed"] and "T = 0.587 >= 0.553" in row["method_effect"]
    assert not kept.set_index("study_id").drop(index="FixtureC2022_pSS")["skewed"].any()
    for policy, reason in (("exclude", "the normal-theory conversion does not apply"),
                           ("lognormal", "and on the log scale too")):
        table, excluded = fx.treg_expansion_effects(left, include_duplicates=True, skewed=policy)
        assert "FixtureC2022_pSS" not in set(table["study_id"])
        assert reason in excluded.set_index("study_id").loc["FixtureC2022_pSS", "reason"]

    right = registry((10.0, 14.0, 30.0))
    table, _ = fx.treg_expansion_effects(right, include_duplicates=True, skewed="lognormal")
    row = table.set_index("study_id").loc["FixtureC2022_pSS"]
    assert not row["skewed"] and "converted as log-normal (Shi 2020b)" in row["method_effect"]
    expected = fx.mean_sd_from_median_iqr(14.0, 10.0, 30.0, 22, dist="lognormal")
    assert (row["mean_pre"], row["sd_pre"]) == pytest.approx((expected.mean, expected.sd))
    with pytest.raises(EffectSizeError, match="skewed"):
        fx.treg_expansion_effects(right, skewed="trim")
