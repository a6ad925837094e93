"""Closed forms of the partial-information likelihoods and the exact engine for them
(bayes_il2.exact.censored, bayes_il2.exact.nnhm_partial)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats

from bayes_il2 import exact
from bayes_il2.errors import ModelError
from bayes_il2.exact.censored import censored_normal_logpdf, log_interval_probability, pvalue_logpdf
from bayes_il2.modeling.partial import pt_censored_normal_logp, romc_to_smcr, smcr_to_romc
from bayes_il2.priors import HalfCauchy, HalfNormal, LogTTau2, Normal

TAU, MU = HalfNormal(0.5), Normal(0.0, 2.0)


def complete_table(k: int = 6, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"study_id": [f"s{i}" for i in range(k)], "measure": "ROMC", "info": "complete",
                         "yi": rng.normal(0.5, 0.3, k), "vi": rng.uniform(0.02, 0.1, k)})


# --- closed forms -------------------------------------------------------------------------------
@pytest.mark.parametrize("a, b", [(-1.0, 0.5), (-3.0, 2.0), (0.2, 1.7), (-np.inf, 0.3), (1.1, np.inf), (-2.0, -1.5)])
def test_interval_probability_matches_scipy_cdf_difference(a, b):
    expected = np.log(stats.norm.cdf(b) - stats.norm.cdf(a))
    assert log_interval_probability(a, b) == pytest.approx(expected, rel=1e-12)


def test_interval_probability_is_accurate_far_in_both_tails():
    # P(8 < Z < 9) and P(-9 < Z < -8): plain cdf differences lose every digit in the upper tail
    expected = stats.norm.logsf(8.0) + np.log1p(-np.exp(stats.norm.logsf(9.0) - stats.norm.logsf(8.0)))
    assert log_interval_probability(8.0, 9.0) == pytest.approx(expected, rel=1e-12)
    assert log_interval_probability(-9.0, -8.0) == pytest.approx(expected, rel=1e-12)
    assert log_interval_probability(40.0, np.inf) == pytest.approx(stats.norm.logsf(40.0), rel=1e-12)


def test_censored_normal_is_the_probability_of_the_interval():
    y = censored_normal_logpdf(0.3, 1.2, 0.5, 0.4)
    assert np.exp(y) == pytest.approx(stats.norm(0.5, 0.4).cdf(1.2) - stats.norm(0.5, 0.4).cdf(0.3), rel=1e-12)


def test_pvalue_with_unknown_direction_is_the_union_of_both_tails():
    two = pvalue_logpdf(2.0, np.inf, 0.7, 1.3, direction=0)
    expected = np.log(stats.norm(0.7, 1.3).sf(2.0) + stats.norm(0.7, 1.3).cdf(-2.0))
    assert two == pytest.approx(expected, rel=1e-12)
    assert pvalue_logpdf(2.0, np.inf, 0.7, 1.3, direction=1) == pytest.approx(stats.norm(0.7, 1.3).logsf(2.0))


def test_pytensor_censored_normal_matches_numpy_and_has_finite_gradients():
    lo = np.array([-np.inf, 0.2, -1.0, 3.0, -40.0, 0.5])
    hi = np.array([0.4, np.inf, 1.0, 3.1, -39.0, 60.0])
    mean = pt.dvector("mean")
    logp = pt_censored_normal_logp(pt.constant(lo), pt.constant(hi), mean, 0.7)
    f = pytensor.function([mean], [logp, pytensor.grad(logp.sum(), mean)])
    m = np.array([0.1, -0.3, 0.0, 0.2, 0.0, 1.0])
    value, grad = f(m)
    np.testing.assert_allclose(value, censored_normal_logpdf(lo, hi, m, 0.7), rtol=1e-10)
    assert np.all(np.isfinite(grad))
    eps = 1e-6
    numeric = (censored_normal_logpdf(lo, hi, m + eps, 0.7) - censored_normal_logpdf(lo, hi, m - eps, 0.7)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


def test_scale_conversion_round_trips_and_has_the_documented_value():
    assert smcr_to_romc(1.0, 0.5) == pytest.approx(np.log(1.5))
    assert romc_to_smcr(smcr_to_romc(0.7, 0.35), 0.35) == pytest.approx(0.7)
    assert np.isnan(smcr_to_romc(-3.0, 0.5))  # a fall of more than the baseline mean has no ROMC


# --- exact engine -------------------------------------------------------------------------------
def test_all_complete_rows_reproduce_the_nnhm_engine():
    table = complete_table()
    partial = exact.nnhm_partial(table, TAU, MU)
    plain = exact.nnhm(table["yi"], table["vi"], TAU, MU)
    for name in ("mu", "tau", "theta_new"):
        a, b = getattr(partial, name), getattr(plain, name)
        assert a.mean == pytest.approx(b.mean, abs=1e-8)
        assert a.sd == pytest.approx(b.sd, abs=1e-8)
        np.testing.assert_allclose(a.interval(), b.interval(), atol=1e-6)
    assert partial.log_marginal_likelihood == pytest.approx(plain.log_marginal_likelihood, abs=1e-8)


@pytest.mark.parametrize("tau_prior", [HalfCauchy(0.5), LogTTau2(-3.0, 1.5, 5.0)], ids=["half-cauchy", "log-t"])
def test_heavy_tailed_tau_priors_reproduce_the_nnhm_engine(tau_prior):
    # Their 1 - 1e-10 quantiles (3e9, 3e50) once sized mu's grid: 13000 wide per step (mu sd 0) or empty.
    table = pd.DataFrame({"study_id": list("abcd"), "measure": "SMD", "info": "complete",
                          "yi": [0.3, -0.2, 0.9, 0.1], "vi": [0.04, 0.09, 0.05, 0.2]})
    partial = exact.nnhm_partial(table, tau_prior, MU)
    plain = exact.nnhm(table["yi"], table["vi"], tau_prior, MU)
    for name in ("mu", "tau", "theta_new"):
        a, b = getattr(partial, name), getattr(plain, name)
        assert a.mean == pytest.approx(b.mean, abs=1e-6 * b.sd)
        assert a.sd == pytest.approx(b.sd, rel=1e-5)
        np.testing.assert_allclose(a.ppf([0.025, 0.5, 0.975]), b.ppf([0.025, 0.5, 0.975]), atol=1e-6 * b.sd)
    assert partial.log_marginal_likelihood == pytest.approx(plain.log_marginal_likelihood, abs=1e-6)


def test_a_narrow_bound_behaves_like_the_exact_estimate():
    table = complete_table()
    narrow = table.copy()
    y0, eps = narrow.loc[0, "yi"], 1e-4
    narrow.loc[0, ["info", "y_low", "y_high"]] = ["bound", y0 - eps, y0 + eps]
    narrow.loc[0, "yi"] = np.nan
    a, b = exact.nnhm_partial(narrow, TAU, MU), exact.nnhm(table["yi"], table["vi"], TAU, MU)
    assert a.mu.mean == pytest.approx(b.mu.mean, abs=1e-6)
    assert a.tau.median == pytest.approx(b.tau.median, abs=1e-6)


def test_a_narrow_pvalue_interval_behaves_like_the_estimate_it_implies():
    table = complete_table()
    se = np.sqrt(table.loc[1, "vi"])
    z0, eps = table.loc[1, "yi"] / se, 1e-4
    narrow = table.copy()
    narrow.loc[1, ["info", "z_low", "z_high", "direction"]] = ["pvalue", z0 - eps, z0 + eps, 1]
    narrow.loc[1, "yi"] = np.nan
    a, b = exact.nnhm_partial(narrow, TAU, MU), exact.nnhm(table["yi"], table["vi"], TAU, MU)
    assert a.mu.mean == pytest.approx(b.mu.mean, abs=1e-6)
    assert a.theta_new.sd == pytest.approx(b.theta_new.sd, abs=1e-6)


def test_an_aggregate_of_one_trial_is_a_complete_row():
    table = complete_table()
    agg = table.assign(info=["aggregate"] + ["complete"] * (len(table) - 1), k_members=1.0)
    a, b = exact.nnhm_partial(agg, TAU, MU), exact.nnhm(table["yi"], table["vi"], TAU, MU)
    assert a.mu.mean == pytest.approx(b.mu.mean, abs=1e-8)


def test_an_aggregate_of_many_trials_carries_less_heterogeneity_than_one_trial():
    table = complete_table()
    one = exact.nnhm_partial(table.assign(info=["aggregate"] + ["complete"] * 5, k_members=1.0), TAU, MU)
    many = exact.nnhm_partial(table.assign(info=["aggregate"] + ["complete"] * 5, k_members=8.0), TAU, MU)
    w = table["yi"].iloc[0]
    # the aggregate's mean (k = 8) is a sharper statement about mu: mu moves towards it
    assert abs(many.mu.mean - w) < abs(one.mu.mean - w)


def test_a_lower_bound_pulls_mu_up_and_the_cdf_is_consistent():
    table = complete_table()
    bound = pd.concat([table, pd.DataFrame([{"study_id": "b", "measure": "ROMC", "info": "bound", "yi": np.nan,
                                             "vi": 0.05, "y_low": 2.0, "y_high": np.inf}])], ignore_index=True)
    fit = exact.nnhm_partial(bound, TAU, MU)
    assert fit.mu.mean > exact.nnhm(table["yi"], table["vi"], TAU, MU).mu.mean
    q = fit.mu.ppf(np.array([0.05, 0.5, 0.95]))
    np.testing.assert_allclose(fit.mu.cdf(q), [0.05, 0.5, 0.95], atol=1e-9)


def test_latent_se_rows_are_refused_with_the_reason():
    table = complete_table()
    table.loc[0, ["info", "vi"]] = ["no_spread", np.nan]
    with pytest.raises(ModelError, match="MCMC"):
        exact.nnhm_partial(table, TAU, MU)
