"""Classical estimators against independent computations: likelihoods maximised numerically, the
estimating equations at the estimate, least squares, closed forms; bad input; the exact engine."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from bayes_il2.classical import (egger_test, leave1out, rma, rma_mh, rma_peto, rma_regression, svalue)
from bayes_il2.classical.bias import corrected_estimate
from bayes_il2.classical.heterogeneity import generalized_q
from bayes_il2.errors import ModelError

RNG = np.random.default_rng(20221110)


def simulated(k: int, tau: float = 0.3, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.02, 0.3, k)
    yi = 0.4 + rng.normal(0, tau, k) + rng.normal(0, np.sqrt(vi))
    return yi, vi


def restricted_loglik(tau2: float, y: np.ndarray, v: np.ndarray, X: np.ndarray, reml: bool) -> float:
    w = 1 / (v + tau2)
    XtWX = X.T @ (X * w[:, None])
    beta = np.linalg.solve(XtWX, X.T @ (w * y))
    r = y - X @ beta
    ll = -0.5 * np.sum(np.log(v + tau2)) - 0.5 * np.sum(w * r ** 2)
    return ll - 0.5 * np.linalg.slogdet(XtWX)[1] if reml else ll


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_likelihood_estimators_maximise_the_likelihood(method, seed):
    y, v = simulated(12, seed=seed)
    X = np.ones((12, 1))
    opt = optimize.minimize_scalar(lambda t: -restricted_loglik(t, y, v, X, method == "REML"),
                                   bounds=(0, 10), method="bounded", options={"xatol": 1e-10})
    best = max(opt.x, 0.0) if restricted_loglik(opt.x, y, v, X, method == "REML") >= \
        restricted_loglik(0.0, y, v, X, method == "REML") else 0.0
    assert rma(y, v, method=method).tau2 == pytest.approx(best, abs=1e-6)


def test_paule_mandel_solves_q_equal_to_its_degrees_of_freedom():
    y, v = simulated(9, seed=4)
    fit = rma(y, v, method="PM")
    assert fit.tau2 > 0
    assert generalized_q(y, v, np.ones((9, 1)), fit.tau2) == pytest.approx(8.0, rel=1e-9)


def test_dl_and_he_follow_their_closed_forms():
    y, v = simulated(10, seed=5)
    w = 1 / v
    q = np.sum(w * (y - np.sum(w * y) / w.sum()) ** 2)
    dl = max(0.0, (q - 9) / (w.sum() - np.sum(w ** 2) / w.sum()))
    assert rma(y, v, method="DL").tau2 == pytest.approx(dl, rel=1e-12)
    he = max(0.0, np.var(y, ddof=1) - v.mean())
    assert rma(y, v, method="HE").tau2 == pytest.approx(he, rel=1e-12)


def test_estimators_give_zero_when_studies_agree_more_than_chance():
    v = np.full(6, 0.1)
    y = np.array([0.50, 0.51, 0.49, 0.50, 0.52, 0.48])
    for method in ("REML", "ML", "DL", "PM", "HE"):
        assert rma(y, v, method=method).tau2 == 0.0


def test_knapp_hartung_equals_weighted_least_squares_with_estimated_scale():
    y, v = simulated(8, seed=6)
    fit = rma(y, v, method="REML", test="knha")
    sw = np.sqrt(1 / (v + fit.tau2))
    X = sw[:, None]
    beta, rss, *_ = np.linalg.lstsq(X, sw * y, rcond=None)
    se = np.sqrt(rss[0] / 7 / float((X.T @ X)[0, 0]))
    assert fit.se == pytest.approx(se, rel=1e-10)
    assert fit.ci_high - fit.estimate == pytest.approx(stats.t.ppf(0.975, 7) * se, rel=1e-10)
    assert fit.df == 7


@pytest.mark.parametrize("seed", range(10))
def test_modified_knapp_hartung_is_never_narrower_than_wald(seed):
    y, v = simulated(4 + seed % 5, tau=0.05 * seed, seed=seed)
    mod = rma(y, v, test="knha_modified")
    assert mod.ci_high - mod.ci_low >= mod.wald_high - mod.wald_low


def test_plain_knapp_hartung_can_be_narrower_than_wald_when_q_is_below_one():
    v = np.full(5, 0.2)
    y = np.array([0.30, 0.31, 0.29, 0.30, 0.32])
    kh = rma(y, v, test="knha")
    assert kh.ci_high - kh.ci_low < kh.wald_high - kh.wald_low
    mod = rma(y, v, test="knha_modified")
    assert mod.ci_high - mod.ci_low > mod.wald_high - mod.wald_low


def test_prediction_intervals_follow_their_definitions():
    y, v = simulated(7, seed=7)
    fit = rma(y, v)
    t5 = stats.t.ppf(0.975, 5)
    assert fit.pi_high - fit.estimate == pytest.approx(t5 * np.sqrt(fit.tau2 + fit.se_wald ** 2))
    kh = rma(y, v, test="knha")
    assert fit.pi_pr_high - fit.estimate == pytest.approx(t5 * np.sqrt(fit.tau2 + kh.se ** 2))
    assert np.isnan(rma(y[:2], v[:2]).pi_low)
    assert np.isnan(rma(y, v, method="EE").pi_low)


def test_qprofile_interval_brackets_tau2_and_solves_the_q_equations():
    y, v = simulated(15, tau=0.5, seed=8)
    fit = rma(y, v)
    lo, hi = fit.tau2_ci
    assert lo < fit.tau2 < hi
    X = np.ones((15, 1))
    assert generalized_q(y, v, X, lo) == pytest.approx(stats.chi2.ppf(0.975, 14), rel=1e-9)
    assert generalized_q(y, v, X, hi) == pytest.approx(stats.chi2.ppf(0.025, 14), rel=1e-9)


def test_regression_tau2_maximises_the_restricted_likelihood_and_tests_agree():
    y, v = simulated(14, seed=9)
    x = RNG.normal(size=14)
    y = y + 0.3 * x
    X = np.column_stack([np.ones(14), x])
    opt = optimize.minimize_scalar(lambda t: -restricted_loglik(t, y, v, X, True), bounds=(0, 10), method="bounded",
                                   options={"xatol": 1e-10})
    z = rma_regression(y, v, pd.DataFrame({"x": x}), test="z")
    if restricted_loglik(opt.x, y, v, X, True) > restricted_loglik(0.0, y, v, X, True):
        assert z.tau2 == pytest.approx(opt.x, abs=1e-6)
    slope = z.coefficients.set_index("name").loc["x"]
    assert z.qm == pytest.approx(slope["statistic"] ** 2, rel=1e-10) and z.qm_df == 1
    kh = rma_regression(y, v, pd.DataFrame({"x": x}), test="knha")
    assert kh.qm_test == "F" and kh.qm == pytest.approx(kh.coefficients.set_index("name").loc["x", "statistic"] ** 2)


def test_regression_with_intercept_only_reproduces_rma():
    y, v = simulated(9, seed=10)
    reg = rma_regression(y, v, None, test="knha")
    fit = rma(y, v, test="knha")
    assert reg.coefficients["estimate"].iloc[0] == pytest.approx(fit.estimate)
    assert reg.coefficients["se"].iloc[0] == pytest.approx(fit.se)


def test_leave1out_drops_each_study_once():
    y, v = simulated(6, seed=11)
    out = leave1out(y, v, labels=list("abcdef"))
    assert list(out["left_out"]) == list("abcdef")
    assert out["estimate"].iloc[2] == pytest.approx(rma(np.delete(y, 2), np.delete(v, 2)).estimate)


def test_egger_lm_equals_the_intercept_test_of_the_standard_normal_deviate_regression():
    y, v = simulated(12, seed=12)
    se = np.sqrt(v)
    A = np.column_stack([np.ones(12), 1 / se])
    b, rss, *_ = np.linalg.lstsq(A, y / se, rcond=None)
    cov = rss[0] / 10 * np.linalg.inv(A.T @ A)
    assert egger_test(y, v).statistic == pytest.approx(b[0] / np.sqrt(cov[0, 0]), rel=1e-10)


def test_egger_is_refused_below_ten_studies_with_the_cochrane_reason():
    y, v = simulated(9, seed=13)
    with pytest.raises(ModelError, match=r"10\.4\.3\.1") as info:
        egger_test(y, v)
    assert "at least 10 studies" in str(info.value) and "k = 9" in str(info.value)


def test_svalue_point_estimate_matches_the_closed_form_for_the_fixed_model():
    y = np.array([0.9, 0.8, 1.1, 0.2, 0.1, -0.1, 0.3])
    v = np.array([0.04, 0.05, 0.06, 0.05, 0.04, 0.1, 0.09])
    res = svalue(y, v, model="fixed")
    w = 1 / v
    aff = y / np.sqrt(v) > stats.norm.ppf(0.975)
    eta = (0 * w[aff].sum() - np.sum(w[aff] * y[aff])) / (np.sum(w[~aff] * y[~aff]) - 0 * w[~aff].sum())
    if np.sum(w[~aff] * y[~aff]) < 0:
        assert res.sval_est == pytest.approx(eta, rel=1e-6)
    else:
        assert res.sval_est == np.inf
    mu, _, _ = corrected_estimate(y, v, aff, 1.0, 0.0)
    assert mu == pytest.approx(np.sum(w * y) / w.sum())


def test_svalue_reaches_the_null_when_nonaffirmative_studies_point_the_other_way():
    y = np.array([0.9, 0.8, 1.1, -0.3, -0.2, -0.4])
    v = np.array([0.04, 0.05, 0.06, 0.05, 0.04, 0.1])
    res = svalue(y, v, model="fixed")
    assert 1 < res.sval_est < np.inf
    aff = y / np.sqrt(v) > stats.norm.ppf(0.975)
    assert corrected_estimate(y, v, aff, res.sval_est, 0.0)[0] == pytest.approx(0.0, abs=1e-8)


def test_mantel_haenszel_and_peto_leave_out_studies_without_events():
    a, b, c, d = np.array([2, 0, 5]), np.array([18, 20, 15]), np.array([6, 0, 9]), np.array([14, 20, 11])
    mh = rma_mh(a, b, c, d)
    assert mh.k == 3 and mh.k_used == 2
    assert rma_peto(a, b, c, d).k_used == 2


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("yi, vi, pattern", [
    ([0.3], [0.1], r"k = 1"),
    ([0.3, 0.5, 0.1], [0.0, 0.0, 0.0], r"all sampling variances are zero"),
    ([0.3, np.nan, 0.1], [0.1, 0.1, 0.1], r"yi of study 1 is nan"),
    ([0.3, 0.2, 0.1], [0.1, np.nan, 0.1], r"vi of study 1 is nan"),
    ([0.3, 0.2, 0.1], [0.1, -0.1, 0.1], r"vi of study 1"),
    ([0.3, 0.2], [0.1], r"yi has 2 values but vi has 1"),
])
def test_bad_input_is_a_model_error_naming_the_problem(yi, vi, pattern):
    with pytest.raises(ModelError, match=pattern):
        rma(yi, vi)


def test_one_study_is_allowed_only_as_a_common_effect_restatement():
    fit = rma([0.3], [0.04], method="EE")
    assert fit.estimate == 0.3 and fit.se == pytest.approx(0.2)
    with pytest.raises(ModelError, match="k = 1"):
        rma([0.3], [0.04], method="EE", test="knha")


def test_unknown_options_are_refused():
    with pytest.raises(ModelError, match="method must be one of"):
        rma([0.1, 0.2], [0.1, 0.1], method="EB")
    with pytest.raises(ModelError, match="test must be one of"):
        rma([0.1, 0.2], [0.1, 0.1], test="t")


def test_collinear_moderators_are_refused():
    with pytest.raises(ModelError, match="collinear"):
        rma_regression([0.1, 0.2, 0.3, 0.4], [0.1] * 4, np.column_stack([[1, 2, 3, 4], [2, 4, 6, 8]]))


# --------------------------------------------------------------------------- the exact engine
def test_reml_and_the_exact_posterior_mean_agree_as_k_grows():
    """k = 400, tau fixed at its true small value (0.15) and a flat prior on mu: the posterior mean
    of mu is the weighted mean at tau = 0.15, REML's at tau_hat. Stated tolerance: 0.1 REML standard
    errors for the means, 5% for posterior SD against the REML standard error."""
    from bayes_il2.exact.nnhm import KnownTau, nnhm
    from bayes_il2.priors import Flat

    y, v = simulated(400, tau=0.15, seed=14)
    fit = rma(y, v, method="REML")
    post = nnhm(y, v, KnownTau(0.15), mu_prior=Flat())
    assert abs(post.mu.mean - fit.estimate) < 0.1 * fit.se
    assert post.mu.sd == pytest.approx(fit.se, rel=0.05)
    assert np.sqrt(fit.tau2) == pytest.approx(0.15, abs=0.05)


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_likelihood_estimators_find_the_interior_maximum_when_the_score_at_zero_is_negative(method):
    # Two precise agreeing studies and one imprecise outlier: the (restricted) likelihood has a local
    # maximum at tau^2 = 0 (score negative there) and a higher one inside; the estimate is the global one.
    y, v = np.array([0.0, 0.0, 3.0]), np.array([0.001, 0.001, 0.3])
    X = np.ones((3, 1))
    reml = method == "REML"
    grid = np.concatenate([[0.0], np.geomspace(1e-6, 1e3, 20001)])
    ll = np.array([restricted_loglik(t, y, v, X, reml) for t in grid])
    best = grid[np.argmax(ll)]
    assert best > 1.0 and ll.max() > restricted_loglik(0.0, y, v, X, reml) + 1.0
    fit = rma(y, v, method=method)
    assert fit.tau2 == pytest.approx(best, rel=1e-3)
    assert restricted_loglik(fit.tau2, y, v, X, reml) >= ll.max() - 1e-9


def test_meta_regression_reml_finds_the_interior_maximum_of_a_bimodal_likelihood():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    y, v = 0.5 * x + np.array([0.0, 0.0, 0.0, 4.0]), np.array([0.001, 0.001, 0.001, 0.5])
    X = np.column_stack([np.ones(4), x])
    grid = np.concatenate([[0.0], np.geomspace(1e-6, 1e3, 20001)])
    ll = np.array([restricted_loglik(t, y, v, X, True) for t in grid])
    assert grid[np.argmax(ll)] > 0 and ll.max() > restricted_loglik(0.0, y, v, X, True)
    fit = rma_regression(y, v, x[:, None], method="REML")
    assert restricted_loglik(fit.tau2, y, v, X, True) >= ll.max() - 1e-9


def test_sidik_jonkman_is_never_negative_when_the_studies_agree_exactly():
    fit = rma([0.3, 0.3, 0.3], [0.01, 0.02, 0.03], method="SJ")
    assert fit.tau2 == 0.0
    assert fit.tau == 0.0 and np.isfinite(fit.pi_low) and np.isfinite(fit.pi_high)


@pytest.mark.parametrize("method", ["REML", "ML", "DL", "PM", "HE", "SJ"])
def test_tau2_does_not_change_when_every_estimate_is_shifted(method):
    # tau^2 is translation invariant; with an offset of 1e8 the uncentred y'P(0)y lost every digit
    # (DL gave 0.545 for 0.0259). What is left is the inputs' own rounding (ulp(1e8) = 1.5e-8).
    y, v = simulated(8, seed=1)
    plain, shifted = rma(y, v, method=method), rma(y + 1e8, v, method=method)
    assert shifted.tau2 == pytest.approx(plain.tau2, rel=1e-6)
    np.testing.assert_allclose(shifted.tau2_ci, plain.tau2_ci, rtol=1e-6)
