"""The classical analysis wired in: classical.csv rows, the comparison sentence, the forest overlay, the
funnel plot, the report section and ``bayes-il2 data crosscheck``."""
from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from bayes_il2.classical import classical_table, explain_difference, rma  # noqa: E402
from bayes_il2.classical.crosscheck import crosscheck, format_crosscheck, read_inputs  # noqa: E402
from bayes_il2.errors import RegistryError  # noqa: E402


def effect_table(k: int = 6, seed: int = 0, measure: str = "ROMC") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"study_id": [f"S{i}" for i in range(k)], "label": [f"Study {i}" for i in range(k)],
                         "disease": "SLE", "design": "single_arm", "measure": measure,
                         "yi": rng.normal(0.6, 0.3, k), "vi": rng.uniform(0.01, 0.1, k)})


def event_table() -> pd.DataFrame:
    et, nt, ec, nc = np.array([3, 5, 0]), np.array([30, 40, 20]), np.array([8, 9, 2]), np.array([30, 38, 21])
    from bayes_il2.effects.binary import log_odds_ratio

    eff = log_odds_ratio(et, nt, ec, nc)
    return pd.DataFrame({"study_id": ["A", "B", "C"], "disease": "SLE", "design": "rct", "events_t": et, "n_t": nt,
                         "events_c": ec, "n_c": nc, "measure": "OR", "yi": eff.yi, "vi": eff.vi,
                         "corrected": eff.corrected})


def bayes_summary(mu: float, low: float, high: float, tau: float) -> pd.DataFrame:
    return pd.DataFrame({"parameter": ["mu", "tau"], "coord": ["", ""], "median": [mu, tau],
                         "eti_low": [low, 0.01], "eti_high": [high, 1.0]})


def test_effect_tables_get_reml_hksj_dl_pm_and_common_effect_rows():
    table, headline = classical_table(effect_table(), "ROMC")
    assert list(table["model"]) == ["REML + HKSJ", "DerSimonian-Laird", "Paule-Mandel",
                                    "Common effect (inverse variance)"]
    assert headline.method == "REML" and headline.test == "knha"
    assert table["estimate_natural"].iloc[0] == pytest.approx(np.exp(headline.estimate))


def test_two_arm_event_tables_add_mantel_haenszel_and_peto():
    table, _ = classical_table(event_table(), "OR")
    assert {"Mantel-Haenszel OR", "Peto OR"} <= set(table["model"])
    assert table.loc[table["model"] == "REML + HKSJ", "note"].iloc[0].startswith("0.5 added")


def test_single_arm_event_tables_get_reml_on_logits():
    t = pd.DataFrame({"study_id": ["a", "b", "c"], "events": [2, 5, 0], "n": [20, 30, 15], "measure": "PLO",
                      "yi": [-2.2, -1.6, -3.4], "vi": [0.55, 0.24, 2.1], "corrected": [False, False, True]})
    table, headline = classical_table(t, "PLO")
    assert list(table["model"]) == ["REML + HKSJ"]
    assert 0 < table["estimate_natural"].iloc[0] < 1


def test_a_method_that_cannot_be_fitted_leaves_a_row_with_the_reason():
    table, headline = classical_table(effect_table(k=1), "ROMC")
    assert headline is None
    assert "k = 1" in table["note"].iloc[0]


def test_sentence_says_tau_is_not_identified_when_reml_gives_zero_with_few_studies():
    t = effect_table(k=3)
    t["yi"] = [0.50, 0.52, 0.49]
    table, _ = classical_table(t, "MD")
    text = explain_difference(table, bayes_summary(0.5, 0.1, 0.9, 0.3), "MD")
    assert text.startswith("tau is not identified with k = 3") and "tau^2 = 0" in text


def test_sentence_reports_agreement_when_intervals_and_estimates_match():
    table, fit = classical_table(effect_table(k=12), "MD")
    text = explain_difference(table, bayes_summary(fit.estimate, fit.ci_low, fit.ci_high, 0.2), "MD")
    assert text.startswith("Classical and Bayesian results agree")


def test_sentence_explains_a_much_wider_bayesian_interval():
    table, fit = classical_table(effect_table(k=8, seed=3), "MD")
    width = fit.ci_high - fit.ci_low
    text = explain_difference(table, bayes_summary(fit.estimate, fit.estimate - width, fit.estimate + width, 0.4),
                              "MD")
    assert "times the width" in text and "k = 8" in text


def test_sentence_works_on_the_natural_scale_of_ratio_measures():
    table, fit = classical_table(effect_table(k=12), "ROMC")
    text = explain_difference(table, bayes_summary(np.exp(fit.estimate), np.exp(fit.ci_low), np.exp(fit.ci_high),
                                                   0.2), "ROMC")
    assert "agree" in text


def test_forest_plot_draws_the_classical_diamond_and_prediction_under_the_bayesian_ones():
    from tests.test_plots import gids, make_fit

    from bayes_il2.plots import forest_plot

    table = effect_table(k=5)
    fit = make_fit(table)
    fig = forest_plot(table, fit=fit, classical=rma(table["yi"], table["vi"], test="knha"))
    assert gids(fig, "diamond:classical") == ["diamond:classical"]
    assert gids(fig, "classical_predictive") == ["classical_predictive"]
    rows = [kind for kind, _, _ in fig.forest_rows]
    assert rows.index("classical") > rows.index("overall") and rows.index("classical_pi") > rows.index("predictive")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "pooled mean (Bayesian)" in labels and any(lab.startswith("classical pooled mean") for lab in labels)
    plain = forest_plot(table, fit=fit)
    assert gids(plain, "diamond:classical") == []


def test_funnel_plot_draws_contours_and_the_estimate_from_the_result():
    from bayes_il2.plots.funnel import funnel_plot
    from tests.test_plots import gids

    table = effect_table(k=12)
    fig = funnel_plot(table, rma(table["yi"], table["vi"]))
    assert {"contour:0.01", "contour:0.05", "contour:0.1", "studies", "estimate"} <= set(gids(fig, ""))


def test_report_shows_the_classical_table_and_sentence(tmp_path):
    from bayes_il2.report.classical import classical_section

    table, fit = classical_table(effect_table(k=4), "ROMC")
    html = classical_section(table, bayes_summary(np.exp(fit.estimate), 1.2, 3.9, 0.3), "ROMC", "nnhm")
    assert "Classical vs Bayesian:" in html and "REML + HKSJ" in html and "Paule-Mandel" in html


# --------------------------------------------------------------------------- crosscheck
class _Registry:
    def __init__(self, meta: pd.DataFrame):
        self.meta_analyses = meta
        self.path = None


META = pd.DataFrame({"ma_id": ["X.treg", "Y.count", "Z.smd"], "outcome": ["Tregs", "count", "CDASI"],
                     "measure": ["ROMC", "count", "SMD"], "estimate": [3.0, np.nan, -1.1],
                     "ci_low": [2.0, np.nan, -1.5], "ci_high": [4.0, np.nan, -0.7], "p_value": np.nan,
                     "k": [3, 6, np.nan], "n": np.nan, "i2": np.nan, "source_id": "s", "location": "Abstract",
                     "method": "reported", "note": ["random effects", "", "model and heterogeneity not reported"]})


def test_crosscheck_recomputes_a_row_whose_inputs_are_listed_and_reports_the_difference():
    effects = effect_table(k=3)
    inputs = pd.DataFrame({"ma_id": "X.treg", "study_id": ["S0", "S1", "S2"], "outcome": "treg_pct_cd4",
                           "measure": "ROMC", "method": "DL", "test": "z", "source_id": "s", "location": "",
                           "note": ""})
    out = crosscheck(_Registry(META), inputs, effects_for=lambda reg, o, m, ids: effects[effects["study_id"].isin(ids)])
    row = out.set_index("ma_id").loc["X.treg"]
    expected = np.exp(rma(effects["yi"], effects["vi"], method="DL").estimate)
    assert row["status"] == "recomputed" and row["difference"] == pytest.approx(expected - 3.0)
    assert out.set_index("ma_id").loc["Y.count", "status"] == "not a pooled estimate"
    z = out.set_index("ma_id").loc["Z.smd"]
    assert z["status"] == "inputs missing" and "list of included studies" in z["missing"]
    assert "pooling model" in z["missing"] and "k (not reported" in z["missing"]
    assert "1 of 3 published meta-analyses recomputed." in format_crosscheck(out)


def test_crosscheck_names_listed_studies_the_registry_lacks():
    inputs = pd.DataFrame({"ma_id": "X.treg", "study_id": ["S0", "Missing1"], "outcome": "treg_pct_cd4",
                           "measure": "ROMC", "method": "REML", "test": "knha", "source_id": "s", "location": "",
                           "note": ""})
    effects = effect_table(k=2)
    out = crosscheck(_Registry(META), inputs, effects_for=lambda reg, o, m, ids: effects[effects["study_id"].isin(ids)])
    assert "Missing1" in out.set_index("ma_id").loc["X.treg", "missing"]


def test_inputs_file_with_a_bad_method_names_file_line_and_column(tmp_path):
    path = tmp_path / "meta_analysis_inputs.csv"
    path.write_text("ma_id,study_id,outcome,measure,method,test,source_id,location,note\n"
                    "X.treg,S0,treg_pct_cd4,ROMC,bayes,z,s,,\n", encoding="utf-8")
    with pytest.raises(RegistryError) as info:
        read_inputs(path)
    assert "meta_analysis_inputs.csv:2 [method]" in str(info.value)


def test_cli_data_crosscheck_prints_every_published_row(capsys):
    from bayes_il2.cli import main
    from bayes_il2.evidence import load_registry

    assert main(["data", "crosscheck"]) == 0
    out = capsys.readouterr().out
    n = len(load_registry().meta_analyses)
    assert f"of {n} published meta-analyses recomputed." in out
    assert "inputs missing" in out


@pytest.mark.mcmc
def test_every_analysis_writes_classical_csv_and_the_report_shows_it(tmp_path):
    from bayes_il2.cli import main

    table = effect_table(k=5, seed=4)
    path = tmp_path / "effects.csv"
    table[["study_id", "yi", "vi"]].to_csv(path, index=False)
    out = tmp_path / "res" / "mine"
    code = main(["fit", str(path), "--measure", "MD", "--out", str(out), "--draws", "300", "--tune", "300",
                 "--chains", "2", "--seed", "3", "--quiet"])
    assert code in (0, 1)
    classical = pd.read_csv(out / "classical.csv")
    assert classical["model"].iloc[0] == "REML + HKSJ"
    assert classical["estimate"].iloc[0] == pytest.approx(rma(table["yi"], table["vi"], test="knha").estimate)
    html = (tmp_path / "res" / "mine.html").read_text(encoding="utf-8")
    assert "Classical vs Bayesian:" in html


def test_the_classical_package_imports_no_plotting_report_pipeline_or_cli():
    import subprocess
    import sys

    code = ("import sys, bayes_il2.classical, bayes_il2.classical.crosscheck; "
            "bad = [m for m in sys.modules if m.startswith(('matplotlib', 'bayes_il2.plots', 'bayes_il2.report', "
            "'bayes_il2.pipeline', 'bayes_il2.cli'))]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_headline_row_carries_the_svalues():
    from bayes_il2.classical import svalue

    t = effect_table(k=8, seed=5)
    table, _ = classical_table(t, "MD")
    res = svalue(t["yi"], t["vi"])
    head = table.iloc[0]
    assert head["svalue_est"] == res.sval_est or (np.isnan(head["svalue_est"]) and np.isnan(res.sval_est))
    assert table["svalue_est"].iloc[1:].isna().all()


def test_a_users_counts_without_yi_vi_get_log_odds_ratios_and_logits():
    two = event_table().drop(columns=["yi", "vi", "corrected"])
    table, headline = classical_table(two, "OR")
    assert headline is not None and "Peto OR" in set(table["model"])
    one = pd.DataFrame({"study_id": ["a", "b", "c"], "events": [2, 5, 0], "n": [20, 30, 15]})
    table, headline = classical_table(one, "PLO")
    assert headline is not None and table["note"].iloc[0].startswith("0.5 added")


def test_sentence_flags_an_hksj_interval_narrower_than_wald():
    t = effect_table(k=7)
    t["yi"], t["vi"] = [0.50, 0.51, 0.49, 0.50, 0.52, 0.48, 0.50], 0.05
    table, fit = classical_table(t, "MD")
    assert fit.ci_high - fit.ci_low < fit.wald_high - fit.wald_low
    text = explain_difference(table, bayes_summary(0.5, 0.2, 0.8, 0.1), "MD")
    assert "q is below 1" in text and "modified Knapp-Hartung" in text


def test_sentence_explains_shifted_point_estimates_with_equal_widths():
    table, fit = classical_table(effect_table(k=12), "MD")
    shift = fit.se
    text = explain_difference(table, bayes_summary(fit.estimate + shift, fit.ci_low + shift, fit.ci_high + shift,
                                                   0.2), "MD")
    assert text.startswith("The point estimates differ")


def test_sentence_warns_when_the_bayesian_mu_is_a_regression_intercept():
    table, fit = classical_table(effect_table(k=12), "MD")
    text = explain_difference(table, bayes_summary(fit.estimate, fit.ci_low, fit.ci_high, 0.2), "MD",
                              family="meta_regression")
    assert "intercept of a meta-regression" in text


def test_crosscheck_recomputes_from_the_bundled_registry_when_a_study_list_is_given():
    from bayes_il2 import effects
    from bayes_il2.evidence import load_registry

    registry = load_registry()
    target = registry.meta_analyses["ma_id"].iloc[0]
    treg, _ = effects.treg_expansion_effects(registry, measure="ROMC")
    ids = list(treg["study_id"][:3])
    inputs = pd.DataFrame({"ma_id": target, "study_id": ids, "outcome": "treg", "measure": "ROMC",
                           "method": "REML", "test": "knha", "source_id": "", "location": "", "note": ""})
    row = crosscheck(registry, inputs).set_index("ma_id").loc[target]
    expected = np.exp(rma(treg["yi"][:3], treg["vi"][:3], test="knha").estimate)
    assert row["status"] == "recomputed" and float(row["recomputed"]) == pytest.approx(expected, rel=1e-3)
