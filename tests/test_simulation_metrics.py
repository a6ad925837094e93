"""Performance measures (Morris, White & Crowther 2019), seeds, and the data-generating process."""
from __future__ import annotations

import numpy as np
import pytest

from bayes_il2.simulation.metrics import performance
from bayes_il2.simulation.scenarios import Scenario, simulate_effects
from bayes_il2.simulation.study import replicate_seeds


def test_measures_and_mcse_match_hand_computation():
    est = np.array([0.0, 0.5, 0.2, 0.4])
    low, high = est - 0.3, est + 0.3
    out = performance(est, low, high, truth=0.35, failed=np.zeros(4, bool), divergences=np.array([0, 2, 0, 0]))
    assert out["bias"] == pytest.approx(0.275 - 0.35)
    assert out["bias_mcse"] == pytest.approx(np.std(est, ddof=1) / 2)
    sq = (est - 0.35) ** 2
    assert out["rmse"] == pytest.approx(np.sqrt(sq.mean()))
    mse_mcse = np.sqrt(((sq - sq.mean()) ** 2).sum() / (4 * 3))
    assert out["rmse_mcse"] == pytest.approx(mse_mcse / (2 * np.sqrt(sq.mean())))
    assert out["coverage"] == 0.75 and out["coverage_mcse"] == pytest.approx(np.sqrt(0.75 * 0.25 / 4))
    assert out["width"] == pytest.approx(0.6) and out["width_mcse"] == pytest.approx(0.0, abs=1e-12)
    assert out["divergent_rate"] == 0.25 and out["failure_rate"] == 0.0


def test_failed_fits_count_in_the_failure_rate_not_in_the_performance():
    est = np.array([0.0, np.nan, 1.0])
    out = performance(est, est - 1, est + 1, 0.5, failed=np.array([False, True, False]), divergences=np.zeros(3))
    assert out["n_successful"] == 2 and out["failure_rate"] == pytest.approx(1 / 3)
    assert out["bias"] == 0.0 and out["coverage"] == 1.0


def test_replicate_seeds_are_the_children_of_seedsequence_spawn():
    root = np.random.SeedSequence(123)
    child = root.spawn(3)[2].spawn(5)[4].spawn(2)[1]
    mine = replicate_seeds(123, cell=2, replicate=4, streams=2)[1]
    assert np.array_equal(child.generate_state(4), mine.generate_state(4))


def _cell(**kw) -> Scenario:
    base = dict(cell=0, k=10, tau=0.0, n=80, outcome="continuous", design_mix=0.0, reporting="complete",
                mu=0.4, degraded_fraction=0.5, baseline_risk=0.3, prepost_r=0.5)
    return Scenario(**{**base, **kw})


@pytest.mark.parametrize("kw", [{}, {"design_mix": 1.0}, {"reporting": "pvalue_only"}, {"outcome": "binary"}])
def test_simulated_effects_are_centred_on_mu_with_their_stated_variance(kw):
    # tau = 0: every yi estimates mu with variance vi (up to small-sample bias of the estimators)
    rng = np.random.default_rng(7)
    tables = [simulate_effects(_cell(**kw), rng) for _ in range(150)]
    yi = np.concatenate([t["yi"].to_numpy() for t in tables])
    vi = np.concatenate([t["vi"].to_numpy() for t in tables])
    se = np.sqrt(yi.var() / yi.size)
    assert abs(yi.mean() - 0.4) < 4 * se + 0.02
    assert yi.var() == pytest.approx(vi.mean(), rel=0.15)


def test_degraded_reporting_keeps_at_least_one_complete_study():
    table = simulate_effects(_cell(k=3, reporting="missing_sd", degraded_fraction=0.9), np.random.default_rng(1))
    assert (table["reporting"] == "complete").sum() == 1 and (table["reporting"] == "missing_sd").sum() == 2
    assert np.isfinite(table["yi"]).all() and (table["vi"] > 0).all()
