"""The partial-information Treg table (bayes_il2.effects.partial, issue #14) and its regimen coding."""
from __future__ import annotations

import csv
import io
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from bayes_il2.effects import treg_expansion_effects
from bayes_il2.effects.partial import (INFO_KINDS, PARTIAL_COLUMNS, printed_half_unit, treg_partial_effects,
                                       z_interval)
from bayes_il2.effects.regimen import SCHEDULES, regimen_of
from bayes_il2.errors import EffectSizeError
from bayes_il2.evidence import load_registry

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture(scope="module")
def table(registry):
    return treg_partial_effects(registry)


def copy_registry(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(DATA, root, ignore=shutil.ignore_patterns("*.md"))
    return root


def rows_of(root: Path, file: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO((root / file).read_text(encoding="utf-8"), newline="")))


def write_rows(root: Path, file: str, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    (root / file).write_text(buffer.getvalue(), encoding="utf-8")


def set_cells(root: Path, file: str, key: dict[str, str], **cells: str) -> None:
    rows = rows_of(root, file)
    header = rows[0]
    hits = [r for r in rows[1:] if all(r[header.index(k)] == v for k, v in key.items())]
    assert len(hits) == 1
    for column, value in cells.items():
        hits[0][header.index(column)] = value
    write_rows(root, file, rows)


# --------------------------------------------------------------------------- P values as intervals
def test_p_below_a_bound_two_sided_with_known_direction_is_a_one_sided_t_tail():
    low, high = z_interval(0.0001, "<", 2, 1, df=22)
    assert low == pytest.approx(stats.t.isf(0.00005, 22), rel=1e-12) and high == math.inf


def test_normal_quantiles_without_df_reproduce_1_96():
    assert z_interval(0.05, "<", 2, 1)[0] == pytest.approx(1.959964, abs=1e-6)
    assert z_interval(0.05, "<", 1, 1)[0] == pytest.approx(1.644854, abs=1e-6)


def test_an_exact_p_is_the_rounding_interval_of_its_printed_digits():
    assert printed_half_unit(0.007) == pytest.approx(0.0005)
    assert printed_half_unit(0.0001) == pytest.approx(0.00005)
    low, high = z_interval(0.007, "=", 2, 1)
    assert (low, high) == pytest.approx((stats.norm.isf(0.0075 / 2), stats.norm.isf(0.0065 / 2)))


def test_a_decrease_mirrors_the_interval_and_an_unknown_direction_bounds_abs_z():
    up = z_interval(0.01, "<", 2, 1, df=10)
    assert z_interval(0.01, "<", 2, -1, df=10) == (-up[1], -up[0])
    assert z_interval(0.01, "<", 2, 0, df=10) == up  # |z| >= q: the union of both tails


def test_a_non_significant_p_bounds_z_near_zero():
    assert z_interval(0.05, ">", 2, 0) == pytest.approx((0.0, 1.959964), abs=1e-6)


@pytest.mark.parametrize("args, message", [((0.0, "<", 2, 1), "(0, 1]"), ((1.2, "=", 2, 1), "(0, 1]"),
                                           ((0.05, "<=", 2, 1), "p_operator"), ((0.05, "<", 3, 1), "sided"),
                                           ((0.05, "<", 1, 0), "direction")])
def test_bad_p_value_input_is_an_effect_size_error(args, message):
    with pytest.raises(EffectSizeError, match=message.replace("(", r"\(").replace(")", r"\)").replace("]", r"\]")):
        z_interval(*args)


def test_the_interval_contains_the_t_statistic_whose_rounded_p_was_printed():
    """Independent check: paired samples, scipy's t test, P printed to 3 decimals; the statistic
    must lie in the interval computed back from the printed P (both directions)."""
    rng = np.random.default_rng(20261204)
    hits = 0
    for _ in range(200):
        n = int(rng.integers(8, 40))
        pre = rng.normal(10, 3, n)
        post = pre + rng.normal(rng.normal(0, 1.5), 2, n)
        test = stats.ttest_rel(post, pre)
        printed = round(float(test.pvalue), 3)
        if printed == 0:
            continue
        direction = 1 if test.statistic > 0 else -1
        low, high = z_interval(printed, "=", 2, direction, df=n - 1)
        assert low <= test.statistic <= high
        hits += 1
    assert hits > 150


# --------------------------------------------------------------------------- the bundled table
def test_every_row_has_the_interface_columns_and_a_known_kind(table):
    t, _ = table
    assert set(PARTIAL_COLUMNS) <= set(t.columns)
    assert set(t["info"]) <= set(INFO_KINDS)
    assert set(t["schedule"]) <= set(SCHEDULES)
    assert (t["info_text"] != "").all()
    assert t.loc[t["info"] == "complete", "vi"].gt(0).all()
    assert t.loc[t["info"].isin(("pvalue", "bound", "no_spread", "approximate")), "vi"].isna().all()


def test_complete_rows_are_exactly_treg_expansion_effects(registry, table):
    t, _ = table
    complete, _ = treg_expansion_effects(registry)
    mine = t[t["info"] == "complete"].reset_index(drop=True)
    assert list(mine["study_id"]) == list(complete["study_id"])
    np.testing.assert_array_equal(mine["yi"], complete["yi"])
    np.testing.assert_array_equal(mine["vi"], complete["vi"])


def test_imodals_enters_as_two_arms_of_one_trial_with_two_sample_p_values(table):
    t, _ = table
    camu = t[t["study_id"] == "Camu2020_IMODALS"].set_index("arm_id")
    assert sorted(camu.index) == ["il2_1miu", "il2_2miu"]
    assert (camu["info"] == "pvalue").all() and (camu["test"] == "two_sample").all()
    assert camu["z_low"].tolist() == pytest.approx([stats.t.isf(0.0001 / 2, 22)] * 2)
    assert (camu["n_a"] == 12).all() and (camu["n_b"] == 12).all()
    assert camu.loc["il2_1miu", "info_text"] == "P < 0.0001 vs placebo (n 12 + 12)"
    assert camu["cumulative_dose_miu"].tolist() == [5.0, 10.0]  # 1 and 2 MIU x 5 daily injections
    assert "placebo arm's change taken as 0" in camu.loc["il2_1miu", "assumptions"]


def test_bounds_and_approximations_keep_their_printed_values(table):
    t, _ = table
    t = t.set_index("study_id")
    assert t.loc["Koreth2011_cGVHD_ph1", "info"] == "bound"
    assert t.loc["Koreth2011_cGVHD_ph1", "y_low"] == pytest.approx(math.log(8))
    assert t.loc["Koreth2011_cGVHD_ph1", "y_high"] == math.inf
    assert t.loc["Koreth2011_cGVHD_ph1", "info_text"] == "fold > 8 (lower bound; n 23)"
    assert t.loc["Shanxi2021_BD", "info"] == "approximate"
    assert t.loc["Shanxi2021_BD", "yi"] == pytest.approx(math.log(4))
    assert t.loc["Shanxi2021_BD", "approx_sd"] == pytest.approx(math.log(1.1) / 1.959964, rel=1e-6)


def test_the_sle_aggregate_enters_with_its_ci_variance_and_replaces_what_it_may_contain(table):
    t, excluded = table
    agg = t.set_index("study_id").loc["Su2024_IID_SLE.treg_all"]
    assert (agg["info"], agg["disease"], agg["yi"], agg["k_members"]) == ("aggregate", "SLE", 1.096, 8)
    assert agg["vi"] == pytest.approx(((1.649 - 0.544) / (2 * 1.959964)) ** 2, rel=1e-6)
    assert agg["scale"] == "SMCR"  # an SMD of unstated type, converted in the likelihood on the ROMC scale
    assert "members not published" in agg["info_text"]
    reasons = excluded.set_index("study_id")["reason"]
    assert reasons["Zhang2022_CMRO"].startswith("may be inside aggregate Su2024_IID_SLE.treg_all")
    assert "Zhang2022_CMRO" not in set(t["study_id"])


def test_overlap_keep_keeps_the_study_and_the_aggregate_says_it_may_double_count(registry):
    t, excluded = treg_partial_effects(registry, overlap="keep")
    cmro = t.set_index("study_id").loc["Zhang2022_CMRO"]
    assert (cmro["info"], cmro["n"], cmro["test"]) == ("pvalue", 54, "paired")
    assert cmro["z_low"] == pytest.approx(stats.t.isf(0.005, 53))
    assert "may double count Zhang2022_CMRO" in t.set_index("study_id").loc["Su2024_IID_SLE.treg_all", "info_text"]


def test_known_members_are_dropped_as_inside_the_aggregate(tmp_path):
    root = copy_registry(tmp_path)
    set_cells(root, "meta_analyses.csv", {"ma_id": "Su2024_IID_SLE.treg_all"}, members="Zhang2022_CMRO")
    t, excluded = treg_partial_effects(load_registry(root))
    assert excluded.set_index("study_id").loc["Zhang2022_CMRO", "reason"] == "inside aggregate Su2024_IID_SLE.treg_all"
    assert "members Zhang2022_CMRO" in t.set_index("study_id").loc["Su2024_IID_SLE.treg_all", "info_text"]


def test_without_aggregates_sle_contributes_through_its_p_value(registry):
    t, _ = treg_partial_effects(registry, aggregates=False)
    assert "aggregate" not in set(t["info"])
    assert t.set_index("study_id").loc["Zhang2022_CMRO", "info"] == "pvalue"


def test_pss_is_listed_with_its_reason_unless_the_qualitative_assumption_is_on(registry, table):
    t, excluded = table
    reasons = excluded.set_index("study_id")["reason"]
    assert "He2022_pSS" not in set(t["study_id"])
    assert reasons["disease:pSS"].startswith("pSS contributes nothing: He2022_pSS: only a qualitative statement")
    on, excluded_on = treg_partial_effects(registry, qualitative="p_lt_0.05")
    pss = on.set_index("study_id").loc["He2022_pSS"]
    assert (pss["info"], pss["assumed"], pss["sided"], pss["p_value"], pss["n"]) == ("pvalue", True, 1, 0.05, 30)
    assert pss["z_low"] == pytest.approx(stats.t.isf(0.05, 29))
    assert pss["schedule"] == "every_other_day" and pss["cumulative_dose_miu"] == 7.0
    assert "disease:pSS" not in set(excluded_on["study_id"])


def test_each_focus_disease_contributes_or_is_listed(table):
    t, excluded = table
    contributing = set(t["disease"].replace({"LN": "SLE"}))
    listed = {s.split(":", 1)[1] for s in excluded["study_id"] if s.startswith("disease:")}
    assert {"pSS", "SLE", "RA", "ALS"} <= contributing | listed
    assert {"SLE", "RA", "ALS"} <= contributing


def test_a_p_value_without_n_is_excluded_with_the_reason(table):
    _, excluded = table
    assert excluded.set_index("study_id").loc["JICR2019_LN", "reason"].startswith("n not reported")


def test_the_builder_respects_pool_no(tmp_path):
    root = copy_registry(tmp_path)
    set_cells(root, "studies.csv", {"study_id": "Camu2020_IMODALS"}, pool="no")
    t, excluded = treg_partial_effects(load_registry(root))
    assert "Camu2020_IMODALS" not in set(t["study_id"])
    assert set(excluded.loc[excluded["study_id"] == "Camu2020_IMODALS", "reason"]) == {
        "not pooled (pool = no in studies.csv)"}


def test_the_pss_trial_enters_as_soon_as_its_treg_numbers_are_added(tmp_path):
    """FICTIONAL numbers: a test of the pipeline's behaviour, not data."""
    root = copy_registry(tmp_path)
    rows = rows_of(root, "measurements.csv")
    header = rows[0]
    for timepoint, week, mean, sd in (("baseline", "0", "5.0", "1.5"), ("post", "12", "7.5", "2.0")):
        cells = dict(study_id="He2022_pSS", arm_id="ld_il2", outcome="treg_pct_cd4", phenotype="FICTIONAL", unit="%",
                     week=week, timepoint=timepoint, statistic="mean_sd", n="30", mean=mean, sd=sd,
                     source_id="He2022_JNO", location="FICTIONAL test row", method="reported", note="FICTIONAL")
        rows.append([cells.get(c, "") for c in header])
    write_rows(root, "measurements.csv", rows)
    t, excluded = treg_partial_effects(load_registry(root))
    pss = t[t["study_id"] == "He2022_pSS"]
    assert list(pss["info"]) == ["complete"]
    assert pss["yi"].iloc[0] == pytest.approx(math.log(7.5 / 5.0))
    assert "disease:pSS" not in set(excluded["study_id"])


def test_other_measures_are_rejected(registry):
    with pytest.raises(EffectSizeError, match="measure"):
        treg_partial_effects(registry, measure="MC")
    with pytest.raises(EffectSizeError, match="qualitative"):
        treg_partial_effects(registry, qualitative="p<0.05")


def test_smcr_tables_keep_fold_rows_on_their_log_scale(registry):
    t, _ = treg_partial_effects(registry, measure="SMCR")
    assert (t["measure"] == "SMCR").all()
    assert set(t.loc[t["info"].isin(("bound", "approximate")), "scale"]) == {"ROMC"}
    assert set(t.loc[t["info"] == "complete", "scale"]) == {"SMCR"}


# --------------------------------------------------------------------------- regimen coding
@pytest.mark.parametrize("text, dose, unit, expected", [
    ("daily x 5 days", 0.5, "MIU", ("daily_x5", 5, 2.5)),
    ("daily x 5 days every 4 weeks, 3 cycles", 2, "MIU", ("daily_x5", 5, 10)),
    ("5-day courses at weeks 0, 3, 6, 9", 1, "MIU", ("daily_x5", 5, 5)),
    ("every other day, 2 weeks on / 2 weeks off, 3 cycles", 1, "MIU", ("every_other_day", 14, 7)),
    ("every other day x 7 doses, 2 weeks off, 3 cycles", 1, "MIU", ("every_other_day", 14, 7)),
    ("every other day for 12 weeks", 1, "MIU", ("every_other_day", math.nan, math.nan)),
    ("daily for 8 weeks", 1, "MIU/m2", ("daily", 56, math.nan)),
    ("mixed (all regimens)", math.nan, "MIU", ("mixed", math.nan, math.nan)),
    ("twice weekly for 6 months", 1, "MIU", ("other", math.nan, math.nan)),
    ("", 1, "MIU", ("other", math.nan, math.nan)),
])
def test_regimen_coding(text, dose, unit, expected):
    regimen = regimen_of(text, dose, unit)
    schedule, days, total = expected
    assert regimen.schedule == schedule
    assert regimen.course_days == pytest.approx(days, nan_ok=True)
    assert regimen.cumulative_dose_miu == pytest.approx(total, nan_ok=True)
    if np.isfinite(total):
        assert "derived: cumulative dose" in regimen.method


# --------------------------------------------------------------------------- the forest plot
def _gids(fig) -> set[str]:
    return {a.get_gid() for ax in fig.axes for a in ax.get_children() if a.get_gid()} | {
        t.get_gid() for ax in fig.axes for t in ax.texts if t.get_gid()}


def test_forest_draws_partial_rows_distinctly_and_names_their_kind(registry):
    import matplotlib.pyplot as plt

    from bayes_il2 import plots

    t, _ = treg_partial_effects(registry, qualitative="p_lt_0.05", overlap="keep")
    fig = plots.forest_plot(t, title="partial")
    try:
        gids = _gids(fig)
        assert {"bound:Koreth2011_cGVHD_ph1", "bound_start:Koreth2011_cGVHD_ph1", "approximate:Shanxi2021_BD",
                "pvalue:Zhang2022_CMRO", "pvalue_side:Zhang2022_CMRO", "pvalue:Camu2020_IMODALS:il2_1miu",
                "observed:ShanxiRA_ACR_overtreated"} <= gids
        assert "observed:Koreth2011_cGVHD_ph1" not in gids  # no CI is invented for a bound
        assert "aggregate:Su2024_IID_SLE.treg_all" not in gids  # an SMD is not placed on a ratio axis
        texts = {t_.get_gid(): t_.get_text() for ax in fig.axes for t_ in ax.texts if t_.get_gid()}
        assert texts["label:Koreth2011_cGVHD_ph1"].endswith("[bound only]")
        assert texts["label:He2022_pSS"].endswith("[qualitative, assumed P < 0.05]")
        assert texts["label:Camu2020_IMODALS:il2_2miu"].endswith("[P value only]")
        assert texts["estimate:Koreth2011_cGVHD_ph1"] == "fold > 8 (lower bound; n 23)"
        assert texts["estimate:Su2024_IID_SLE.treg_all"] == "SMCR 1.10 [0.54, 1.65] (other scale)"
        assert texts["weight:Koreth2011_cGVHD_ph1"] == ""  # not in the pooled weights
        weights = [float(texts[f"weight:{s}"].rstrip("%")) for s in t.loc[t["info"] == "complete", "study_id"]]
        assert sum(weights) == pytest.approx(100, abs=0.2)
        # the bound starts at the printed 8 and runs to the right edge of the axis
        arrow = next(a for a in fig.axes[1].texts if a.get_gid() == "bound:Koreth2011_cGVHD_ph1")
        assert arrow.xyann[0] == pytest.approx(8.0) and arrow.xy[0] == pytest.approx(fig.axes[1].get_xlim()[1])
    finally:
        plt.close(fig)


def test_forest_places_an_aggregate_on_its_own_scale(registry):
    import matplotlib.pyplot as plt

    from bayes_il2 import plots

    t, _ = treg_partial_effects(registry, measure="SMCR")
    fig = plots.forest_plot(t)
    try:
        patch = next(p for p in fig.axes[1].patches if p.get_gid() == "aggregate:Su2024_IID_SLE.treg_all")
        xs = patch.get_xy()[:, 0]
        assert (xs.min(), xs.max()) == pytest.approx((1.096 - 1.959964 * math.sqrt(t.set_index("study_id").loc[
            "Su2024_IID_SLE.treg_all", "vi"]), 1.649), abs=1e-3)
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------- spec and pipeline wiring
MODELS = Path(__file__).resolve().parents[1] / "models"


def _raw(**data) -> dict:
    return {"name": "p", "title": "t", "question": "q", "data": {"kind": "treg_partial", **data},
            "model": {"family": "nnhm"}}


def test_the_shipped_all_evidence_spec_loads_with_its_sensitivities():
    from bayes_il2.specs import load_spec

    spec = load_spec(MODELS / "treg_all_evidence.toml")
    assert (spec.data.kind, spec.data.qualitative, spec.data.overlap, spec.data.aggregates) == (
        "treg_partial", "exclude", "drop", True)
    kinds = {s.kind for s in spec.sensitivity}
    assert {"complete_only", "qualitative_assumption", "aggregates"} <= kinds


@pytest.mark.parametrize("data, key", [
    ({"qualitative": "p<0.05"}, "data.qualitative"),
    ({"overlap": "merge"}, "data.overlap"),
    ({"measure": "MC"}, "data.measure"),
    ({"aggregates": "yes"}, "data.aggregates"),
])
def test_bad_partial_options_name_the_key(data, key):
    from bayes_il2.errors import SpecError
    from bayes_il2.specs import parse_spec

    with pytest.raises(SpecError, match=f"key '{key}'"):
        parse_spec(_raw(**data))


def test_partial_options_and_sensitivities_need_the_partial_kind():
    from bayes_il2.errors import SpecError
    from bayes_il2.specs import parse_spec

    raw = _raw(qualitative="p_lt_0.05")
    raw["data"]["kind"] = "treg_expansion"
    with pytest.raises(SpecError, match="data.qualitative"):
        parse_spec(raw)
    raw = _raw()
    raw["data"]["kind"] = "treg_expansion"
    raw["sensitivity"] = [{"name": "c", "kind": "complete_only"}]
    with pytest.raises(SpecError, match="needs data.kind = 'treg_partial'"):
        parse_spec(raw)


def test_the_pipeline_fits_complete_rows_and_says_which_rows_it_left_out(registry):
    from bayes_il2.pipeline import build_effects, fits_partial_rows, rows_to_fit
    from bayes_il2.specs import load_spec

    spec = load_spec(MODELS / "treg_all_evidence.toml")
    table, excluded = build_effects(spec, registry)
    assert "disease:pSS" in set(excluded["study_id"])
    fitted, note = rows_to_fit(spec, table)
    if fits_partial_rows():  # once branch partialmodels is merged every row is fitted
        assert len(fitted) == len(table) and note is None
    else:
        assert set(fitted["info"]) == {"complete"} and len(fitted) == 4
        assert note.startswith(f"{len(table) - 4} partially reported rows")
    on, _ = build_effects(spec, registry, qualitative="p_lt_0.05")
    assert "He2022_pSS" in set(on["study_id"]) and "He2022_pSS" not in set(table["study_id"])


def test_a_p_value_beside_values_that_give_no_effect_is_used(tmp_path):
    """Shanxi_AS_EULAR without its baseline row: the post row's printed P < 0.001 (vs baseline) remains."""
    root = copy_registry(tmp_path)
    rows = rows_of(root, "measurements.csv")
    header = rows[0]
    col = {c: header.index(c) for c in ("study_id", "outcome", "timepoint", "p_value", "p_operator")}
    rows = [r for r in rows if not (r[col["study_id"]] == "Shanxi_AS_EULAR" and r[col["outcome"]] == "treg_count"
                                    and r[col["timepoint"]] == "baseline")]
    post = next(r for r in rows if r[col["study_id"]] == "Shanxi_AS_EULAR" and r[col["outcome"]] == "treg_count")
    post[col["p_value"]], post[col["p_operator"]] = "0.001", "<"
    write_rows(root, "measurements.csv", rows)
    t, _ = treg_partial_effects(load_registry(root))
    row = t.set_index("study_id").loc["Shanxi_AS_EULAR"]
    assert (row["info"], row["test"], row["n"]) == ("pvalue", "paired", 17)
    assert row["z_low"] == pytest.approx(stats.t.isf(0.0005, 16))


def test_a_complete_rows_scenario_of_a_partial_analysis_is_answered_and_labelled_exact(registry):
    # the complete-data scenario was fitted by the exact engine (fit_table) but summarised from its
    # draws and labelled "mcmc"; it now carries the exact engine's summary and says so
    from dataclasses import replace
    from types import SimpleNamespace

    from bayes_il2.exact import nnhm
    from bayes_il2.pipeline import build_effects, run_sensitivity, spec_priors
    from bayes_il2.specs import SensitivitySpec, load_spec

    spec = load_spec(MODELS / "treg_all_evidence.toml")
    spec = replace(spec, sensitivity=(SensitivitySpec(name="complete", kind="complete_only"),))
    table, _ = build_effects(spec, registry)
    base = SimpleNamespace(family="nnhm", settings={"partial": True}, idata=None, sampler="nutpie", data=table)
    row = run_sensitivity(spec, registry, table, base).iloc[0]
    complete = table[table["info"] == "complete"]
    priors = spec_priors(spec)
    post = nnhm(complete["yi"], complete["vi"], priors["tau"], priors["mu"])
    assert row["engine"] == "exact" and row["k"] == len(complete) == 4
    assert row["mu_mean"] == pytest.approx(post.mu.mean, rel=1e-9)
    assert (row["mu_low"], row["mu_high"]) == pytest.approx(post.mu.interval(0.95), rel=1e-9)
    assert row["tau_median"] == pytest.approx(post.tau.median, rel=1e-9)
