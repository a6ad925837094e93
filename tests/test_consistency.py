"""The consistency checker for printed statistics (bayes_il2.evidence.consistency).

Planted inconsistencies of each kind are caught; consistent published examples pass; the real
ShanxiRA contradiction of the bundled registry is listed; flagged rows reach the Treg table, the
sensitivity subsets and the report. Published example: R's ``sleep`` data (Student 1908), whose
paired t-test (t = -4.0621, df = 9, P = 0.002833) and Welch test (t = -1.8608, df = 17.776,
P = 0.07939) are printed by ``t.test`` in R's documentation and in R For Dummies.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_il2.cli import main
from bayes_il2.effects import quality, treg_expansion_effects
from bayes_il2.evidence import load_registry
from bayes_il2.evidence.consistency import (CHECKS, Flag, check_registry_consistency, check_tables,
                                            ci_asymmetry, ci_p_range, grim_consistent, one_sample_p_range,
                                            paired_r_range, paired_t_p, percent_matches, printed,
                                            sd_upper_bound, two_sample_p_range)

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURE = Path(__file__).parent / "fixtures" / "registry_valid"
SLEEP_1 = np.array([0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0])
SLEEP_2 = np.array([1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4])


# --------------------------------------------------------------------------- printed numbers
def test_printed_number_keeps_its_rounding():
    assert printed("18.67").half == pytest.approx(0.005)
    assert printed("0.010").half == pytest.approx(0.0005)
    assert printed("3").half == pytest.approx(0.5)
    assert printed(30.0).half == pytest.approx(0.5)     # a typed whole number
    assert printed("") is None and printed(float("nan")) is None and printed("nan") is None


# --------------------------------------------------------------------------- published examples pass
def test_paired_t_p_reproduces_the_sleep_paired_test():
    r = np.corrcoef(SLEEP_1, SLEEP_2)[0, 1]
    p = paired_t_p(SLEEP_1.mean(), SLEEP_1.std(ddof=1), SLEEP_2.mean(), SLEEP_2.std(ddof=1), 10, r)
    assert p == pytest.approx(0.002833, abs=5e-7)                                   # R's printed P
    assert p == pytest.approx(stats.ttest_rel(SLEEP_1, SLEEP_2).pvalue, rel=1e-10)  # independent engine


def test_sleep_summary_as_a_paper_would_print_it_is_consistent_and_brackets_the_true_r():
    # 0.75 +- 1.79 -> 2.33 +- 2.00, n 10, P = 0.0028: the true r (0.795) lies inside the range found
    found = paired_r_range("0.75", "1.79", "2.33", "2.00", 10, "0.0028")
    assert found.possible
    r = np.corrcoef(SLEEP_1, SLEEP_2)[0, 1]
    assert found.r_low <= r <= found.r_high
    assert found.r_low > 0.6 and found.r_high < 0.9      # and the range is informative


def test_two_sample_range_contains_the_sleep_welch_and_pooled_tests():
    welch = two_sample_p_range("0.75", "1.79", 10, "2.33", "2.00", 10, welch=True)
    pooled = two_sample_p_range("0.75", "1.79", 10, "2.33", "2.00", 10, welch=False)
    assert welch[0] <= 0.07939 <= welch[1]
    assert pooled[0] <= stats.ttest_ind(SLEEP_1, SLEEP_2).pvalue <= pooled[1]


def test_one_sample_range_contains_the_paired_test_on_differences():
    d = SLEEP_2 - SLEEP_1
    lo, hi = one_sample_p_range(f"{d.mean():.2f}", f"{d.std(ddof=1):.2f}", 10)
    assert lo <= 0.002833 <= hi


def test_wald_p_from_a_published_ci():
    # He et al. JAMA Netw Open 2022 (registry contrasts): VAS dryness -18.33 (-28.46 to -8.21), P = .001
    lo, hi = ci_p_range("-18.33", "-28.46", "-8.21", 95, df=58)
    assert lo <= 0.0015 and hi >= 0.0005


def test_log_symmetric_ratio_ci_passes_and_a_linear_one_fails():
    # OR 2.00 (1.00 to 4.00) is symmetric on the log scale, not on the natural one
    asym, allow = ci_asymmetry("2.00", "1.00", "4.00", "OR")
    assert abs(asym) <= allow
    asym, allow = ci_asymmetry("2.00", "1.00", "4.00", "MD")
    assert abs(asym) > allow


def test_grim_accepts_possible_and_rejects_impossible_means():
    assert grim_consistent("3.73", 26)           # 97 / 26 = 3.7308
    assert not grim_consistent("0.94", 26)       # 24/26 = 0.923, 25/26 = 0.962
    assert grim_consistent("5.19", 200)          # n >= 100: every 2-decimal mean is possible
    assert grim_consistent("2.5", 2) and not grim_consistent("2.3", 2)


def test_percent_matches_allows_rounding_to_the_printed_digits():
    assert percent_matches(16, 29, "55.17")
    assert percent_matches(1, 3, "33")
    assert not percent_matches(10, 26, "38.4")   # 38.46%


def test_sd_bound_is_the_bhatia_davis_bound():
    # two values 0 and 10: mean 5, sample SD 7.07 = sqrt(25 * 2/1)
    assert sd_upper_bound(5, 0, 10, 2) == pytest.approx(np.std([0, 10], ddof=1))


# --------------------------------------------------------------------------- planted inconsistencies
MEAS_COLUMNS = ["study_id", "arm_id", "outcome", "phenotype", "unit", "week", "timepoint", "statistic", "n", "mean",
                "sd", "se", "median", "q1", "q3", "min", "max", "ci_low", "ci_high", "qualifier", "p_value",
                "p_operator", "note", "method"]


def _meas(*rows: dict) -> pd.DataFrame:
    frame = pd.DataFrame([{c: "" for c in MEAS_COLUMNS} | r for r in rows], columns=MEAS_COLUMNS)
    frame.index = pd.Index(range(2, 2 + len(frame)), name="line")
    return frame


def _pair(pre: tuple[str, str], post: tuple[str, str], n: str, p: str, op: str = "=", **extra) -> pd.DataFrame:
    base = dict(study_id="S", arm_id="il2", outcome=extra.get("outcome", "treg_count"), week="0", timepoint="baseline",
                statistic="mean_sd", n=n, mean=pre[0], sd=pre[1])
    after = dict(base, week="4", timepoint="post", mean=post[0], sd=post[1], p_value=p, p_operator=op)
    return _meas(base, after)


def _checks(flags: list[Flag]) -> list[tuple[str, str, int]]:
    return [(f.check, f.severity, f.line) for f in flags]


def test_paired_p_impossible_for_every_r_is_an_error_naming_the_post_row():
    flags = check_tables({"measurements": _pair(("18.67", "14.08"), ("78.55", "44.67"), "26", "0.001")})
    assert _checks(flags) == [("paired_p", "error", 3)]
    assert "impossible for every pre-post correlation" in flags[0].explanation


def test_paired_p_possible_only_with_negative_r_is_a_warning():
    flags = check_tables({"measurements": _pair(("3.60", "0.96"), ("2.85", "0.67"), "26", "0.005",
                                                outcome="das28_esr")})
    assert _checks(flags) == [("paired_p", "warning", 3)]
    assert "negative pre-post correlation" in flags[0].explanation


def test_paired_p_with_less_than_is_consistent_when_some_r_gives_a_smaller_p():
    assert check_tables({"measurements": _pair(("22.58", "12.80"), ("73.46", "33.79"), "17", "0.001", "<")}) == []


def test_change_p_is_checked_by_a_one_sample_t_test():
    row = dict(study_id="S", arm_id="il2", outcome="essdai", week="12", timepoint="change", statistic="mean_change_sd",
               n="20", mean="-3.0", sd="4.0", p_value="0.5", p_operator="=")
    flags = check_tables({"measurements": _meas(row)})
    assert _checks(flags) == [("change_p", "error", 2)]


def test_two_sample_p_against_arm_summaries():
    meas = _meas(dict(study_id="S", arm_id="a", outcome="age", week="0", timepoint="baseline", statistic="mean_sd",
                      n="10", mean="0.75", sd="1.79"),
                 dict(study_id="S", arm_id="b", outcome="age", week="0", timepoint="baseline", statistic="mean_sd",
                      n="10", mean="2.33", sd="2.00"))
    contrast = pd.DataFrame([dict(study_id="S", arm_a="a", arm_b="b", outcome="age", week="0", measure="P",
                                  p_value=p, p_operator="=", n_a="10", n_b="10") for p in ("0.079", "0.005")],
                            index=pd.Index([2, 3], name="line"))
    flags = check_tables({"measurements": meas, "contrasts": contrast})
    assert _checks(flags) == [("two_sample_p", "warning", 3)]      # 0.079 is Welch's P; 0.005 is not


def test_percentages_in_notes_and_derived_formulas_against_counts():
    events = pd.DataFrame([
        dict(study_id="S", events="9", n="29", method="reported", note="printed 9 (31.0%)"),
        dict(study_id="S", events="9", n="29", method="reported", note="printed 9 (35.0%)"),
        dict(study_id="S", events="10", n="26", method="derived: 38.4% x 26 = 9.98", note=""),
        dict(study_id="S", events="3", n="40", method="reported", note="subgroup 2/13 (15%)"),
    ], index=pd.Index([2, 3, 4, 5], name="line"))
    assert _checks(check_tables({"events": events})) == [("percent_count", "warning", 3),
                                                          ("percent_count", "warning", 4)]


def test_ci_checks_on_contrasts():
    contrasts = pd.DataFrame([
        dict(study_id="S", measure="MD", estimate="-18.33", ci_low="-28.46", ci_high="-8.21", ci_level="95",
             p_value="0.001", p_operator="=", n_a="30", n_b="30"),                       # consistent (published)
        dict(study_id="S", measure="MD", estimate="-10.00", ci_low="-25.00", ci_high="-8.00", ci_level="95",
             p_value="", p_operator="", n_a="30", n_b="30"),                             # asymmetric
        dict(study_id="S", measure="OR", estimate="2.00", ci_low="1.00", ci_high="4.00", ci_level="95",
             p_value="0.5", p_operator="=", n_a="", n_b=""),                             # P far from the CI's
        dict(study_id="S", measure="MD", estimate="1.0", ci_low="0.0", ci_high="2.0", ci_level="95", se="2.0",
             p_value="", p_operator="", n_a="", n_b=""),                                 # SE twice the CI's
    ], index=pd.Index([2, 3, 4, 5], name="line"))
    assert _checks(check_tables({"contrasts": contrasts})) == [
        ("ci_symmetry", "warning", 3), ("ci_p", "warning", 4), ("ci_se", "warning", 5)]


def test_ranges_iqr_and_sd_bound():
    meas = _meas(dict(study_id="S", arm_id="a", outcome="x", week="0", timepoint="baseline", statistic="mean_range",
                      n="10", mean="12", min="0", max="10"),
                 dict(study_id="S", arm_id="a", outcome="x", week="0", timepoint="baseline", statistic="median_iqr",
                      n="10", median="1", q1="3", q3="5"),
                 dict(study_id="S", arm_id="a", outcome="y", week="0", timepoint="baseline", statistic="mean_sd",
                      n="10", mean="5", sd="9", min="0", max="10"),
                 dict(study_id="S", arm_id="a", outcome="treg_pct_cd4", unit="%", week="0", timepoint="baseline",
                      statistic="mean_sd", n="10", mean="5", sd="30"))
    assert _checks(check_tables({"measurements": meas})) == [
        ("mean_in_range", "error", 2), ("median_in_iqr", "error", 3), ("sd_range", "error", 4),
        ("sd_range", "error", 5)]


def test_grim_and_granularity_apply_to_integer_outcomes_only():
    meas = _meas(dict(study_id="S", arm_id="a", outcome="tjc", unit="joints", week="0", timepoint="baseline",
                      statistic="mean_sd", n="26", mean="0.94", sd="1.00"),
                 dict(study_id="S", arm_id="a", outcome="das28_esr", week="0", timepoint="baseline",
                      statistic="mean_sd", n="26", mean="0.94", sd="1.00"),
                 dict(study_id="S", arm_id="a", outcome="bilag", week="0", timepoint="baseline",
                      statistic="median_range", n="30", median="10.25", min="8", max="13.75"))
    assert _checks(check_tables({"measurements": meas})) == [
        ("grim", "warning", 2), ("integer_granularity", "warning", 4), ("integer_granularity", "warning", 4)]


def test_every_check_has_a_planted_case_above():
    planted = {"paired_p", "change_p", "two_sample_p", "percent_count", "ci_symmetry", "ci_se", "ci_p",
               "mean_in_range", "median_in_iqr", "sd_range", "grim", "integer_granularity"}
    assert planted == set(CHECKS)


# --------------------------------------------------------------------------- the bundled registry
@pytest.fixture(scope="module")
def bundled_flags():
    return check_registry_consistency(DATA)


def test_shanxi_ra_treg_and_th17_contradictions_are_listed(bundled_flags):
    shanxi = {(f.check, f.severity): f for f in bundled_flags
              if f.study_id == "ShanxiRA_ACR_overtreated" and f.check == "paired_p" and f.severity == "error"
              and "treg_count" in f.explanation}
    (treg,) = shanxi.values()
    assert "18.67 +- 14.08 -> 78.55 +- 44.67 (n 26) with P = 0.001" in treg.explanation
    assert "impossible for every pre-post correlation" in treg.explanation
    (th17,) = [f for f in bundled_flags if f.study_id == "ShanxiRA_ACR_overtreated" and "th17_count" in f.explanation]
    assert th17.severity == "error" and "0.111 at r = 1" in th17.explanation


def test_shanxi_th17_p_is_about_0_11_even_at_r_1():
    # independent arithmetic: SD of differences at r = 1 is |19.06 - 11.38|
    t = (19.00 - 16.51) / (abs(19.06 - 11.38) / np.sqrt(26))
    assert 2 * stats.t.sf(t, 25) == pytest.approx(0.1108, abs=5e-4)


def test_bundled_registry_has_no_other_error(bundled_flags):
    errors = {(f.study_id, f.line) for f in bundled_flags if f.severity == "error"}
    assert {s for s, _ in errors} == {"ShanxiRA_ACR_overtreated"}


def test_typed_registry_gives_the_same_errors(bundled_flags):
    typed = check_registry_consistency(load_registry(DATA))
    assert {(f.check, f.line) for f in typed if f.severity == "error"} == \
        {(f.check, f.line) for f in bundled_flags if f.severity == "error"}


def test_treg_table_carries_the_flag_of_the_rows_it_used():
    table, _ = treg_expansion_effects(load_registry(DATA))
    row = table.set_index("study_id").loc["ShanxiRA_ACR_overtreated"]
    assert row["consistency_severity"] == "error"
    assert "impossible for every pre-post correlation" in row["consistency_flag"]
    others = table[table["study_id"] != "ShanxiRA_ACR_overtreated"]
    assert (others["consistency_flag"] == "").all()


def test_exclude_flagged_drops_the_flagged_row_only():
    registry = load_registry(DATA)
    table, _ = treg_expansion_effects(registry)
    kept, dropped = quality.exclude_flagged(table, registry, ("error",))
    assert dropped == ["ShanxiRA_ACR_overtreated"] and len(kept) == len(table) - 1


def test_exclude_possible_overlap_drops_only_studies_whose_partner_is_in_the_table():
    registry = load_registry(DATA)
    table = pd.DataFrame({"study_id": ["Shanxi_AS_EULAR", "Jinnan2017_SpA", "He2022_pSS", "Shanxi_PsA"]})
    kept, dropped = quality.exclude_possible_overlap(table, registry)
    assert dropped == ["Shanxi_AS_EULAR", "Shanxi_PsA"]
    kept, dropped = quality.exclude_possible_overlap(table[table["study_id"] != "Jinnan2017_SpA"], registry)
    assert dropped == [] and len(kept) == 3


# --------------------------------------------------------------------------- CLI
def test_cli_data_check_lists_shanxi_and_exits_1_on_errors_only_when_strict(capsys):
    assert main(["data", "check", str(DATA)]) == 0
    assert main(["data", "check", str(DATA), "--strict"]) == 1
    out = capsys.readouterr().out
    assert "ShanxiRA_ACR_overtreated" in out and "impossible for every pre-post correlation" in out
    assert "measurements.csv:" in out and "paired_p (error)" in out


def test_cli_data_check_exits_0_when_only_warnings(tmp_path, capsys):
    import shutil

    root = tmp_path / "reg"
    shutil.copytree(FIXTURE, root)
    events = (root / "events.csv").read_text(encoding="utf-8").replace(",Table 4,reported,FICTIONAL",
                                                                       ",Table 4,reported,printed 8 (50.0%)", 1)
    (root / "events.csv").write_text(events, encoding="utf-8")
    assert main(["data", "check", str(root)]) == 0
    out = capsys.readouterr().out
    assert "percent_count (warning)" in out and "0 error(s), 1 warning(s)" in out


def test_cli_validate_prints_flags_as_warnings_and_keeps_exit_0(capsys):
    assert main(["data", "validate", str(DATA)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK:")
    assert "warning: consistency check" in out and "ShanxiRA_ACR_overtreated" in out


def test_report_effects_table_shows_the_flag():
    from bayes_il2.report.collect import AnalysisFolder, OutcomeFolder
    from bayes_il2.report.render import PageContext, data_section

    effects = pd.DataFrame({"study_id": ["A", "B"], "yi": [0.1, 0.2], "vi": [0.01, 0.02], "measure": ["ROMC"] * 2,
                            "consistency_flag": ["line 47: paired_p (error): P impossible", np.nan]})
    out = OutcomeFolder("treg", Path("."), pd.DataFrame(), effects, pd.DataFrame(), None, ())
    analysis = AnalysisFolder("a", Path("."), "t", "pass", "", None, None, {}, (out,))
    html = data_section(analysis, out, PageContext())
    assert "Consistency flag" in html and "paired_p (error): P impossible" in html


# --------------------------------------------------------------------------- pipeline sensitivity kinds
def test_pipeline_sensitivity_refits_without_flagged_and_overlapping_studies():
    from types import SimpleNamespace

    from bayes_il2.exact import nnhm
    from bayes_il2.pipeline import build_effects, run_sensitivity
    from bayes_il2.priors import HalfNormal, Normal
    from bayes_il2.specs import parse_spec

    spec = parse_spec({"name": "s", "title": "t", "question": "q",
                       "sensitivity": [{"name": "flagged", "kind": "exclude_flagged", "values": ["error"]},
                                       {"name": "overlap", "kind": "exclude_possible_overlap"}]})
    registry = load_registry(DATA)
    table, _ = build_effects(spec, registry)
    priors = {"mu": Normal(0.0, 2.0), "tau": HalfNormal(0.5)}
    fit = SimpleNamespace(family="nnhm", settings={}, data=table, priors=priors)
    rows = run_sensitivity(spec, registry, table, fit).set_index("scenario")
    kept = table[table["study_id"] != "ShanxiRA_ACR_overtreated"]
    direct = nnhm(kept["yi"].to_numpy(), kept["vi"].to_numpy(), tau_prior=priors["tau"], mu_prior=priors["mu"])
    assert rows.loc["flagged", "value"] == "without ShanxiRA_ACR_overtreated"
    assert rows.loc["flagged", "k"] == len(table) - 1
    assert rows.loc["flagged", "mu_mean"] == pytest.approx(direct.mu.mean, rel=1e-9)
    assert rows.loc["overlap", "k"] == len(table)      # Jinnan2017_SpA, the AS/PsA partner, is not pooled
    assert rows.loc["overlap", "value"] == "no study affected"


def test_data_show_lists_the_study_flags(capsys):
    assert main(["data", "show", "ShanxiRA_ACR_overtreated", "--data", str(DATA)]) == 0
    out = capsys.readouterr().out
    assert "consistency flags (" in out and "paired_p (error)" in out


def test_cli_data_check_on_an_invalid_registry_reports_the_problems_and_exits_2(tmp_path, capsys):
    import shutil

    root = tmp_path / "reg"
    shutil.copytree(FIXTURE, root)
    studies = (root / "studies.csv").read_text(encoding="utf-8").replace(",pSS,rct,", ",Sjogren,rct,", 1)
    (root / "studies.csv").write_text(studies, encoding="utf-8")
    assert main(["data", "check", str(root)]) == 2
    assert "unknown_disease" in capsys.readouterr().err


def test_measurement_flags_are_computed_once_per_content_of_the_tables(monkeypatch):
    import dataclasses

    registry = load_registry(DATA)
    first = quality.measurement_flags(registry)
    calls = []
    real = quality.check_tables
    monkeypatch.setattr(quality, "check_tables", lambda tables: calls.append(1) or real(tables))
    assert quality.measurement_flags(load_registry(DATA)) == first and calls == []  # same content: no checks
    first[next(iter(first))].clear()  # what a caller does to its copy does not reach the next caller
    assert quality.measurement_flags(registry) == quality.measurement_flags(load_registry(DATA))
    flagged = {f.line for flags in quality.measurement_flags(registry).values() for f in flags}
    edited = dataclasses.replace(registry, measurements=registry.measurements.drop(index=sorted(flagged)))
    after = quality.measurement_flags(edited)  # other content: checked again, and the flags differ
    assert calls == [1] and not set(after) & flagged
