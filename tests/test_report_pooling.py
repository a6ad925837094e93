"""The report's "does it matter that diseases/designs differ?" section (issue 17), from the two tables an
EXNEX analysis writes: ``exnex_by_disease`` and ``model_average``.

Synthetic tables in both column sets (Treg: ``three_level_*`` on the ROMC scale; AE: ``single_arm_*`` and
``design_bias_*`` on the PLO scale); every expected number is computed here from the table values with
numpy, independently of the report's formatting helpers.
"""
from __future__ import annotations

import html as html_lib
import json
import re

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from bayes_il2.report.pooling import (averaged_headlines, estimate_prefixes, pooling_section,  # noqa: E402
                                      pooling_title, sensitivity_sentences, shift_sentences)


def expit(x: float) -> float:
    return 1.0 / (1.0 + np.exp(-x))


def g3(x: float) -> str:
    return f"{x:.3g}"


def treg_tables(prior_sensitive: bool = False, pareto: int = 0) -> dict[str, pd.DataFrame]:
    """The Treg column set (models/treg_by_disease_exnex.toml), model scale log ratio of means."""
    by_disease = pd.DataFrame({
        "disease": ["HCV_vasculitis", "SLE", "pSS"], "k": [1, 3, 2],
        "designs": ["single_arm", "rct, single_arm", "rct"],
        "three_level_mean": [0.50, 0.70, 0.60], "three_level_low": [0.1, 0.4, 0.2],
        "three_level_high": [0.9, 1.0, 1.0],
        "exnex_mean": [1.40, 0.65, 0.58], "exnex_low": [0.8, 0.3, 0.2], "exnex_high": [2.0, 1.0, 0.95],
        "p_exch_prior": [0.5, 0.5, 0.5], "p_exch_post": [0.18, 0.71, 0.66],
    })
    by_disease["shift"] = by_disease["exnex_mean"] - by_disease["three_level_mean"]
    average = pd.DataFrame([
        {"method": "exact marginal likelihood", "model": "common_effect", "prior_prob": 1 / 3, "log_ml": -5.1,
         "weight": 0.10, "mu_mean": 0.62, "mu_low": 0.5, "mu_high": 0.74, "prior_sensitive": prior_sensitive},
        {"method": "exact marginal likelihood", "model": "random_effects", "prior_prob": 1 / 3, "log_ml": -4.2,
         "weight": 0.55, "mu_mean": 0.64, "mu_low": 0.3, "mu_high": 0.95, "prior_sensitive": prior_sensitive},
        {"method": "exact marginal likelihood", "model": "three_level", "prior_prob": 1 / 3, "log_ml": -4.5,
         "weight": 0.35, "mu_mean": 0.66, "mu_low": 0.2, "mu_high": 1.1, "prior_sensitive": prior_sensitive},
        {"method": "exact marginal likelihood", "model": "averaged", "weight": 1.0, "mu_mean": 0.645,
         "mu_low": 0.25, "mu_high": 1.0, "prior_sensitive": prior_sensitive},
        {"method": "stacking", "model": "exnex", "elpd_loo": -6.0, "pareto_k_high": pareto, "weight": 0.62,
         "mu_mean": 0.61, "mu_low": 0.2, "mu_high": 1.0},
        {"method": "stacking", "model": "three_level", "elpd_loo": -6.4, "pareto_k_high": 0, "weight": 0.30,
         "mu_mean": 0.66, "mu_low": 0.2, "mu_high": 1.1},
        {"method": "stacking", "model": "design_bias", "elpd_loo": -7.0, "pareto_k_high": 0, "weight": 0.08,
         "mu_mean": 0.40, "mu_low": -0.1, "mu_high": 0.9},
        {"method": "stacking", "model": "averaged", "weight": 1.0, "mu_mean": 0.60, "mu_low": 0.15, "mu_high": 1.05},
    ])
    note = ["stacking weights are predictive (leave-one-study-out) weights, not posterior model probabilities"]
    if prior_sensitive:
        note.insert(0, "the weights are prior-sensitive: under tau prior HalfNormal(scale=0.25) the weight of "
                       "three_level changes by -0.31 (threshold 0.1)")
    average["note"] = ["; ".join(note)] + [""] * (len(average) - 1)
    return {"exnex_by_disease": by_disease, "model_average": average}


def ae_tables() -> dict[str, pd.DataFrame]:
    """The AE column set (family exnex_rate, measure PLO): single-arm model, optional design-bias columns."""
    by_disease = pd.DataFrame({
        "disease": ["SLE", "T1D", "cGVHD"], "k": [4, 2, 1], "designs": ["rct, single_arm", "rct", "single_arm"],
        "single_arm_mean": [-1.0, -2.0, -1.5], "single_arm_low": [-1.5, -2.8, -2.5],
        "single_arm_high": [-0.5, -1.2, -0.5],
        "exnex_mean": [-1.05, -2.1, -0.3], "exnex_low": [-1.6, -2.9, -1.2], "exnex_high": [-0.5, -1.3, 0.6],
        "design_bias_mean": [-1.2, -2.0, -1.6], "design_bias_low": [-1.8, -2.9, -2.7],
        "design_bias_high": [-0.6, -1.1, -0.5],
        "p_exch_prior": [0.5, 0.5, 0.5], "p_exch_post": [0.8, 0.7, 0.2],
    })
    by_disease["shift"] = by_disease["exnex_mean"] - by_disease["single_arm_mean"]
    average = pd.DataFrame([
        {"method": "stacking", "model": "single_arm", "elpd_loo": -20.0, "pareto_k_high": 0, "weight": 0.25,
         "mu_mean": -1.5, "mu_low": -2.0, "mu_high": -1.0, "prior_sensitive": np.nan},
        {"method": "stacking", "model": "exnex", "elpd_loo": -19.0, "pareto_k_high": 0, "weight": 0.75,
         "mu_mean": -1.4, "mu_low": -2.1, "mu_high": -0.8, "prior_sensitive": np.nan},
        {"method": "stacking", "model": "averaged", "weight": 1.0, "mu_mean": -1.42, "mu_low": -2.05,
         "mu_high": -0.85, "prior_sensitive": np.nan},
    ])
    return {"exnex_by_disease": by_disease, "model_average": average}


def text_of(html: str) -> str:
    """The page text: tags removed, entities decoded, whitespace collapsed."""
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", html)))


# --------------------------------------------------------------------------- Treg column set
def test_treg_section_gives_the_averaged_answer_on_the_natural_scale_with_weights_and_method():
    text = text_of(pooling_section(treg_tables(), "ROMC"))
    # stacking's averaged row: exp(mean) and exp of its 95% CrI (ratio of means)
    assert (f"Model-averaged ratio of means, post/pre {g3(np.exp(0.60))} (95% CrI {g3(np.exp(0.15))} to "
            f"{g3(np.exp(1.05))}) by stacking over EXNEX 0.62, three-level 0.30, design bias 0.08") in text
    assert (f"{g3(np.exp(0.645))} (95% CrI {g3(np.exp(0.25))} to {g3(np.exp(1.0))}) by exact marginal likelihood "
            "over common effect 0.10, random effects 0.55, three-level 0.35") in text
    assert "not posterior probabilities that a model is true" in text        # stacking is predictive
    assert "posterior model probabilities from exact marginal likelihoods" in text
    assert "0.600 (95%" not in text and "Model-averaged ratio of means, post/pre 0.6 " not in text  # not the log scale


def test_spread_of_the_models_answers_is_stated():
    text = text_of(pooling_section(treg_tables(), "ROMC"))
    # 5 distinct models (three-level appears under both methods); lowest design bias 0.40, highest three-level 0.66
    assert (f"Across the 5 models the pooled ratio of means, post/pre (back-transformed posterior mean of μ) ranges "
            f"from {g3(np.exp(0.40))} (design bias) to {g3(np.exp(0.66))} (three-level).") in text


def test_treg_largest_shift_is_named_in_a_sentence():
    tables = treg_tables()
    sentence = " ".join(shift_sentences(tables["exnex_by_disease"], "ROMC"))
    shift = 1.40 - 0.50
    assert (f"EXNEX moves HCV vasculitis by +{shift:.2f} on the log scale (ratio of means, post/pre "
            f"×{np.exp(shift):.2f}): from {g3(np.exp(0.50))} under the three-level model to {g3(np.exp(1.40))}") in sentence
    assert "exchangeable with the other diseases goes from 0.5 to 0.18" in sentence
    assert f"No other disease moves by more than {0.05:.2f}" in sentence      # SLE: 0.65 - 0.70


def test_treg_per_disease_table_shows_both_models_and_p_exch():
    text = text_of(pooling_section(treg_tables(), "ROMC"))
    assert "Each disease with and without EXNEX" in text
    assert "Three-level (every disease exchangeable)" in text and "P(exchangeable) prior → posterior" in text
    assert f"{g3(np.exp(1.40))} (95% CrI {g3(np.exp(0.8))} to {g3(np.exp(2.0))})" in text   # EXNEX, HCV
    assert "0.5 → 0.18" in text and "+0.90" in text
    assert "Design bias" not in text.split("Each disease")[1].split("Model weights")[0]  # no per-disease columns


def test_prior_sensitivity_sentence_only_when_flagged():
    flagged = text_of(pooling_section(treg_tables(prior_sensitive=True), "ROMC"))
    assert "The exact marginal likelihood weights are prior-sensitive" in flagged
    assert "(under tau prior HalfNormal(scale=0.25) the weight of three_level changes by -0.31" in flagged  # the file's
    calm = text_of(pooling_section(treg_tables(prior_sensitive=False), "ROMC"))
    assert "prior-sensitive" not in calm


def test_prior_sensitivity_read_back_from_csv(tmp_path):
    """A CSV round trip turns the column into True/False/NaN text: still read as the flag."""
    for flag in (True, False):
        path = tmp_path / f"avg_{flag}.csv"
        treg_tables(prior_sensitive=flag)["model_average"].to_csv(path, index=False)
        assert any("prior-sensitive" in s for s in sensitivity_sentences(pd.read_csv(path))) is flag


def test_pareto_warning_only_when_a_study_has_high_k():
    warned = sensitivity_sentences(treg_tables(pareto=2)["model_average"])
    assert any("Pareto k > 0.7: EXNEX (2 studies)" in s for s in warned)
    assert not any("Pareto" in s for s in sensitivity_sentences(treg_tables(pareto=0)["model_average"]))


def test_title_names_designs_when_a_design_bias_model_is_shown():
    assert pooling_title(treg_tables()) == "Does it matter that diseases and designs differ?"
    only = {"exnex_by_disease": treg_tables()["exnex_by_disease"]}
    assert pooling_title(only) == "Does it matter that diseases differ?"


# --------------------------------------------------------------------------- AE column set
def test_ae_section_back_transforms_with_expit_and_shows_design_bias():
    tables = ae_tables()
    html = pooling_section(tables, "PLO")
    text = text_of(html)
    table_text = text_of(re.sub(r"</th>", " | ", html))
    assert (f"Model-averaged proportion {g3(expit(-1.42))} (95% CrI {g3(expit(-2.05))} to {g3(expit(-0.85))}) "
            "by stacking over single-arm rates 0.25, EXNEX 0.75") in text
    assert estimate_prefixes(tables["exnex_by_disease"]) == ["single_arm", "exnex", "design_bias"]
    assert "Single-arm rates (every disease exchangeable)" in text and "| Design bias" in table_text
    assert f"{g3(expit(-1.6))} (95% CrI {g3(expit(-2.7))} to {g3(expit(-0.5))})" in text   # design bias, cGVHD
    shift = -0.3 - (-1.5)
    assert f"EXNEX moves cGVHD by +{shift:.2f} on the logit scale (odds ×{np.exp(shift):.2f})" in text
    # the design-bias model's largest move against the single-arm model: SLE, -0.20
    assert f"Design bias moves SLE by {-0.2:+.2f} on the logit scale (odds ×{np.exp(-0.2):.2f})" in text
    assert "prior-sensitive" not in text and "Pareto" not in text.replace("Studies with Pareto k > 0.7", "")


def test_missing_optional_columns_do_not_break_the_section():
    tables = ae_tables()
    by_disease = tables["exnex_by_disease"].drop(columns=["design_bias_mean", "design_bias_low", "design_bias_high",
                                                          "designs", "shift", "p_exch_prior"])
    average = tables["model_average"].drop(columns=["prior_sensitive", "pareto_k_high", "elpd_loo"])
    text = text_of(pooling_section({"exnex_by_disease": by_disease, "model_average": average}, "PLO"))
    assert f"Model-averaged proportion {g3(expit(-1.42))}" in text
    assert f"EXNEX moves cGVHD by +{-0.3 + 1.5:.2f} on the logit scale" in text   # shift from the means
    assert "P(exchangeable | data)" in text
    # one table alone, and the bare exchangeability table an exnex_rate fit wrote before the comparison
    assert "Model weights" in pooling_section({"model_average": average}, "PLO")
    bare = pd.DataFrame({"disease": ["SLE", "T1D"], "k": [4, 2], "p_exch_prior": [0.5, 0.5],
                         "p_exch_post": [0.9, 0.3], "mu_disease_mean": [-1.0, -2.0],
                         "mu_disease_low": [-1.5, -2.8], "mu_disease_high": [-0.5, -1.2]})
    text = text_of(pooling_section({"exnex_by_disease": bare}, "PLO"))
    assert f"{g3(expit(-2.0))} (95% CrI {g3(expit(-2.8))} to {g3(expit(-1.2))})" in text and "0.5 → 0.3" in text
    assert "Each disease under EXNEX" in text and "shift" not in text.lower()
    assert pooling_section({}, "PLO") == "" and averaged_headlines(pd.DataFrame(), "PLO") == []


def test_identity_measure_has_no_factor():
    tables = treg_tables()
    sentence = shift_sentences(tables["exnex_by_disease"], "SMCR")[0]
    assert "by +0.90 on the identity scale: from 0.5 under" in sentence and "×" not in sentence


# --------------------------------------------------------------------------- on the page
def test_the_page_shows_the_section_the_second_headline_and_the_toc_link(tmp_path):
    """Written by the pipeline's own writer (CSV on disk), read back and rendered."""
    from test_report import FakeRegistry, diagnostics_for, real_fit  # noqa: PLC0415
    from test_plots import effect_table

    from bayes_il2.pipeline import AnalysisRun, OutcomeResult, write_analysis
    from bayes_il2.report import write_results_report
    from bayes_il2.specs import load_spec

    spec_path = tmp_path / "exnex_demo.toml"
    spec_path.write_text('name = "exnex_demo"\ntitle = "EXNEX demo"\nquestion = "Q?"\nfigures = ["forest"]\n[data]\n'
                         'kind = "treg_expansion"\nmeasure = "ROMC"\n[model]\nfamily = "nnhm"\n', encoding="utf-8")
    spec = load_spec(spec_path)
    table = effect_table(6, seed=5)
    fit = real_fit(table)
    result = OutcomeResult(label="treg_pct_cd4", effects=table, excluded=pd.DataFrame(),
                           summary=fit.summary(scale="natural"), fit=fit, diagnostics=diagnostics_for(table),
                           extra_tables=treg_tables(prior_sensitive=True, pareto=1))
    out = tmp_path / "results"
    write_analysis(AnalysisRun(spec=spec, outcomes=[result], status="pass", verdict="ok", seconds=1.0), out)
    page = write_results_report(out, ["exnex_demo"], registry=FakeRegistry()).read_text(encoding="utf-8")
    text = text_of(page)
    assert text.count("Does it matter that diseases and designs differ?") == 1   # the section heading
    assert 'class="headline averaged"' in page and "#exnex_demo--treg_pct_cd4--pooling" in page
    overview = text_of(page[page.index('<div class="overview">'):page.index("</header>")])
    assert f"Model-averaged ratio of means, post/pre {g3(np.exp(0.60))}" in overview   # one click away there too
    assert f"Model-averaged ratio of means, post/pre {g3(np.exp(0.60))}" in text
    assert "prior-sensitive" in text and "Pareto k > 0.7: EXNEX (1 study)" in text
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)) and "exnex_demo--treg_pct_cd4--pooling" in ids
    nav = re.search(r'<nav class="toc".*?</nav>', page, re.S).group(0)
    assert all(t in ids for t in re.findall(r'href="#([^"]+)"', nav))
    assert 'href="#exnex_demo--treg_pct_cd4--pooling">Pooling assumptions' in nav
    assert "<h4>Exnex by disease</h4>" not in page and "<h4>Model average</h4>" not in page  # not twice
    run = json.loads((out / "exnex_demo" / "run.json").read_text(encoding="utf-8"))
    assert run["analysis"] == "exnex_demo"


def test_shipped_pooling_specs_offer_the_forest_plot_by_design():
    from pathlib import Path

    from bayes_il2.specs import load_spec

    models = Path(__file__).resolve().parents[1] / "models"
    pooled = [p for p in sorted(models.glob("*.toml")) if "[simulation]" not in p.read_text(encoding="utf-8")]
    specs = [load_spec(p) for p in pooled]
    exnex = [s for s in specs if s.model.family in ("exnex", "exnex_rate", "design_bias", "design_bias_rate")]
    assert exnex, "no EXNEX or design-bias analysis is shipped"
    missing = [s.name for s in exnex if "forest_by_design" not in s.figures]
    assert not missing, f"forest_by_design not listed in {missing}"


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
