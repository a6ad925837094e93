"""Benefit and harm together: the decision table of the trial reanalysis."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_il2.evidence import load_registry
from bayes_il2.reanalysis import BinaryEndpoint, binary_posterior
from bayes_il2.reanalysis.benefit_harm import decision_table, eligible_trials, frechet, p_rd_below


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture(scope="module")
def table(registry):
    return decision_table(registry)


def test_trials_with_a_responder_endpoint_and_ae_counts_are_included(registry, table):
    trials = eligible_trials(registry)
    assert "He2022_pSS" in trials and "He2020_ARD_RCT" in trials
    pss = table[table["study_id"] == "He2022_pSS"]
    assert set(pss["benefit_endpoint"]) == {"responder_essdai3_w24"}
    assert {"infection_w24", "severe_ae_w24"} <= set(pss["harm_endpoint"])
    assert set(table["criterion"]) == {"OR < 1", "RD < 0", "RD < +5%", "RD < +10%"}


def test_joint_probability_is_the_product_within_the_frechet_bounds(table):
    single = table[~table["harm_endpoint"].str.startswith("all harms")]
    np.testing.assert_allclose(single["p_joint"], single["p_benefit"] * single["p_harm_criterion"])
    assert (table["p_joint_low"] <= table["p_joint"] + 1e-12).all()
    assert (table["p_joint"] <= table["p_joint_high"] + 1e-12).all()


def test_frechet_bounds_by_hand():
    assert frechet([0.9, 0.8]) == pytest.approx((0.7, 0.8))
    assert frechet([0.9, 0.8, 0.7]) == pytest.approx((0.4, 0.7))
    assert frechet([0.3, 0.4]) == pytest.approx((0.0, 0.3))


def test_benefit_probability_agrees_with_the_reanalysis_table(registry, table):
    from bayes_il2.reanalysis import reanalyze
    from bayes_il2.reanalysis.map_prior import two_arm_events

    rows = two_arm_events(registry, "He2022_pSS")
    r = rows[(rows["outcome"] == "responder_essdai3") & (rows["week"] == 24)].iloc[0]
    endpoint = BinaryEndpoint(int(r.events_t), int(r.n_t), int(r.events_c), int(r.n_c), name="x")
    reference = reanalyze(endpoint, ["neutral"]).iloc[0]
    ours = table[(table["study_id"] == "He2022_pSS") & (table["benefit_prior"] == "neutral")].iloc[0]
    assert ours["p_benefit"] == pytest.approx(reference["p_benefit"], abs=1e-9)


def test_risk_difference_probability_matches_the_beta_closed_form():
    """With independent Beta(1, 1) priors per arm the risk difference is a difference of two Betas;
    P(RD < x) by 1-D integration must match the grid posterior's p_rd_below."""
    endpoint = BinaryEndpoint(events_t=2, n_t=29, events_c=6, n_c=30, higher_is_better=False)

    def joint(a, d):  # Beta(1, 1) on both arm probabilities, moved to (alpha, delta)
        pc, pt = 1 / (1 + np.exp(-a)), 1 / (1 + np.exp(-(a + d)))
        return np.log(pc * (1 - pc)) + np.log(pt * (1 - pt))

    post = binary_posterior(endpoint, joint_log_prior=joint, alpha_range=(-12, 6), delta_range=(-12, 12),
                            n_alpha=800, n_delta=1600)
    bt, bc = stats.beta(1 + 2, 1 + 27), stats.beta(1 + 6, 1 + 24)
    pc = np.linspace(0, 1, 20001)
    for x in (-0.1, 0.0, 0.05):
        exact = np.trapezoid(bt.cdf(np.clip(pc + x, 0, 1)) * bc.pdf(pc), pc)
        assert p_rd_below(post, x) == pytest.approx(exact, abs=2e-3)


def test_the_pipeline_writes_the_decision_table(registry):
    from bayes_il2.pipeline import AnalysisRun, OutcomeResult, _analysis_tables
    from bayes_il2.specs import load_spec

    spec = load_spec("models/pss_reanalysis.toml")
    run = AnalysisRun(spec=spec, outcomes=[OutcomeResult(label="x", effects=pd.DataFrame(),
                                                         excluded=pd.DataFrame(), summary=pd.DataFrame())],
                      status="pass", verdict="", seconds=0.0)
    _analysis_tables(run, registry)
    assert "decision_table" in run.tables and len(run.tables["decision_table"])
    assert any("Fréchet" in note for note in run.notes)


def test_decision_summary_gives_one_sentence_per_trial(table):
    from bayes_il2.reanalysis.benefit_harm import decision_summary

    lines = decision_summary(table)
    assert [line.split(":")[0] for line in lines] == ["He2022_pSS", "He2020_ARD_RCT"]
    pss = table[(table["study_id"] == "He2022_pSS") & (table["criterion"] == "RD < +5%")
                & table["harm_endpoint"].str.startswith("all harms")]
    assert f"{pss['p_joint'].min():.3f}" in lines[0] and f"{pss['p_joint'].max():.3f}" in lines[0]
