"""Exact engine: reference results (eight schools), closed forms, and brute-force quadrature.

Brute-force references integrate the multivariate normal marginal likelihood
y ~ N(m0 1, diag(v + tau^2) + s0^2 1 1^T) (mu integrated in closed form) over tau with
scipy.integrate.quad, which shares no code with the engine.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from bayes_il2 import exact
from bayes_il2.errors import ModelError
from bayes_il2.priors import (Flat, HalfCauchy, HalfNormal, LogNormalTau2, LogTTau2, Normal, StudentT, Uniform,
                              rhodes_prior, turner_prior)

DATA = Path(__file__).parent / "data"
# the brute-force references sometimes report round-off at 1e-12 relative tolerance; harmless here
pytestmark = pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")


def eight_schools() -> tuple[np.ndarray, np.ndarray]:
    table = pd.read_csv(DATA / "eight_schools.csv", comment="#")
    return table["y"].to_numpy(float), table["sigma"].to_numpy(float) ** 2


def mvn_logpdf(y, cov, mean):
    chol = np.linalg.cholesky(cov)
    z = np.linalg.solve(chol, y - mean)
    return -0.5 * len(y) * np.log(2 * np.pi) - np.log(np.diag(chol)).sum() - 0.5 * z @ z


def brute_log_lik(y, v, t, mu_prior):
    """log p(y | tau) with mu ~ N(m0, s0^2) integrated in closed form."""
    cov = np.diag(v + t * t) + mu_prior.sigma ** 2 * np.ones((len(y), len(y)))
    return mvn_logpdf(y, cov, np.full(len(y), mu_prior.mu))


BREAKS = np.array([-60.0, -30.0, -10.0, -5.0, -2.0, 0.0, 2.0, 5.0, 10.0])


def _quad_log(dens, hi_s=np.inf, lo_s=-np.inf):
    """Integral of dens(t) dt over t in (exp(lo_s), exp(hi_s)), on log t with fixed break points
    (the tail beyond t = e^60 is negligible for every case here)."""
    hi_s = min(hi_s, 60.0)
    edges = np.concatenate([[lo_s], BREAKS[(BREAKS > lo_s) & (BREAKS < hi_s)], [hi_s]])
    f = lambda s: dens(np.exp(s)) * np.exp(s)  # noqa: E731
    with np.errstate(over="ignore"):
        return sum(integrate.quad(f, a, b, epsabs=0, epsrel=1e-12, limit=400)[0] for a, b in zip(edges[:-1], edges[1:]))


def brute_tau(y, v, tau_prior, mu_prior):
    """(Z, unnormalized density of tau) by brute force."""
    lo, hi = tau_prior.support

    def dens(t):
        if not lo <= t <= hi:
            return 0.0
        return float(np.exp(tau_prior.logpdf(t) + brute_log_lik(y, v, t, mu_prior)))

    return _quad_log(dens, np.log(hi), np.log(lo) if lo > 0 else -np.inf), dens


def brute_tau_cdf(dens, z, x, lo=0.0):
    return _quad_log(dens, np.log(x), np.log(lo) if lo > 0 else -np.inf) / z


# --------------------------------------------------------------------------- eight schools
# posteriordb reference posterior (stan-dev/posteriordb, eight_schools_noncentered): means with
# MCSE 0.0330 (mu) and 0.0319 (tau); those equal sd/sqrt(10000), i.e. about 10000 effective draws,
# which gives the MCSE of the theta means as sd(theta_j)/100.
REF_MU, MCSE_MU = 4.41051833695493, 0.0330
REF_TAU, MCSE_TAU = 3.60205952364059, 0.0319
REF_THETA = [6.1505, 4.9396, 3.9059, 4.7960, 3.6144, 4.0511, 6.3172, 4.8840]


@pytest.fixture(scope="module")
def schools():
    y, v = eight_schools()
    return exact.nnhm(y, v, HalfCauchy(5.0), Normal(0.0, 5.0), labels=list("ABCDEFGH"))


def test_eight_schools_data_match_the_published_table():
    y, v = eight_schools()
    assert y.tolist() == [28, 8, -3, 7, -1, 1, 18, 12]
    assert np.sqrt(v).tolist() == [15, 10, 16, 11, 9, 11, 10, 18]


def test_eight_schools_mu_and_tau_means_match_the_reference_to_two_decimals(schools):
    assert abs(schools.mu.mean - REF_MU) < 0.05
    assert abs(schools.tau.mean - REF_TAU) < 0.05
    assert abs(schools.mu.mean - REF_MU) < 4 * MCSE_MU
    assert abs(schools.tau.mean - REF_TAU) < 4 * MCSE_TAU


def test_eight_schools_theta_means_match_the_reference_within_four_mcse(schools):
    for j, ref in enumerate(REF_THETA):
        th = schools.theta(j)
        assert abs(th.mean - ref) < 4 * th.sd / 100, (j, th.mean, ref)


def test_eight_schools_sds_match_the_derived_reference(schools):
    # priors.md: sd(mu) about 3.31, sd(tau) about 3.20 (from the reference mean squares)
    assert schools.mu.sd == pytest.approx(3.31, abs=0.1)
    assert schools.tau.sd == pytest.approx(3.20, abs=0.1)


def test_eight_schools_labels_select_studies(schools):
    assert schools.theta("A").mean == schools.theta(0).mean
    assert schools.summary().loc["theta[H]", "mean"] == pytest.approx(schools.theta(7).mean)
    with pytest.raises(ModelError, match="no study labelled"):
        schools.theta("Z")


# --------------------------------------------------------------------------- brute force
CASES = {
    "eight_schools_half_normal": (*eight_schools(), HalfNormal(10.0), Normal(0.0, 20.0)),
    "two_studies_half_cauchy": (np.array([0.3, -0.4]), np.array([0.05, 0.2]), HalfCauchy(0.5), Normal(0.0, 2.0)),
    "one_study_turner": (np.array([0.8]), np.array([0.1]), turner_prior("adverse events", "pharma_vs_placebo"),
                         Normal(0.0, 2.0)),
    "rhodes_log_t": (np.array([0.2, 0.5, 0.1, 0.9, -0.2]), np.array([0.04, 0.09, 0.02, 0.2, 0.05]),
                     rhodes_prior("biological marker", "pharma_vs_placebo"), Normal(0.0, 2.0)),
    "uniform_bounded": (np.array([0.2, 0.5, 0.1, 0.9, -0.2]), np.array([0.04, 0.09, 0.02, 0.2, 0.05]),
                        Uniform(0.0, 0.4), Normal(0.0, 2.0)),
    "variances_spanning_1e6": (np.array([0.1, 0.4, -0.3, 1.5]), np.array([1e-4, 1e-2, 1.0, 1e2]),
                               HalfNormal(0.5), Normal(0.0, 2.0)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_tau_cdf_and_marginal_likelihood_match_brute_force(case):
    y, v, tau_prior, mu_prior = CASES[case]
    model = exact.nnhm(y, v, tau_prior, mu_prior)
    z, dens = brute_tau(y, v, tau_prior, mu_prior)
    assert model.log_marginal_likelihood == pytest.approx(np.log(z), abs=1e-8)
    for q in (0.05, 0.3, 0.5, 0.8, 0.97):
        x = float(model.tau.ppf(q))
        assert abs(brute_tau_cdf(dens, z, x) - q) < 1e-6, (q, x)
    x = float(model.tau.ppf(0.5))
    assert model.tau.pdf(x) == pytest.approx(dens(x) / z, rel=1e-7)


@pytest.mark.parametrize("case", ["two_studies_half_cauchy", "variances_spanning_1e6", "one_study_turner"])
def test_mu_cdf_matches_brute_force_double_integral(case):
    y, v, tau_prior, mu_prior = CASES[case]
    model = exact.nnhm(y, v, tau_prior, mu_prior)
    z, dens = brute_tau(y, v, tau_prior, mu_prior)

    def mu_cdf_given_tau(x, t):
        # mu | tau, y Gaussian: computed here from the full joint (mu, y) covariance
        k = len(y)
        s0 = mu_prior.sigma ** 2
        cov_y = np.diag(v + t * t) + s0 * np.ones((k, k))
        gain = np.linalg.solve(cov_y, np.full(k, s0))
        mean = mu_prior.mu + gain @ (y - mu_prior.mu)
        var = s0 - gain @ np.full(k, s0)
        return stats.norm.cdf(x, mean, np.sqrt(var))

    for x in model.mu.ppf(np.array([0.05, 0.5, 0.9])):
        brute = _quad_log(lambda t: dens(t) * mu_cdf_given_tau(x, t)) / z
        assert abs(brute - model.mu.cdf(x)) < 1e-6


def test_variances_spanning_1e6_give_finite_answers_without_corrections():
    y, v, tau_prior, mu_prior = CASES["variances_spanning_1e6"]
    model = exact.nnhm(y, v, tau_prior, mu_prior)
    table = model.summary()
    assert np.isfinite(table[["mean", "median", "sd", "eti_low", "eti_high", "hdi_low", "hdi_high"]].to_numpy()).all()
    # the precise study dominates its own shrinkage estimate; the imprecise one is pulled to mu
    assert model.shrinkage.loc["1", "shrinkage_factor"] < 0.01
    assert model.shrinkage.loc["4", "shrinkage_factor"] > 0.99


# --------------------------------------------------------------------------- closed forms
def test_one_study_with_flat_mu_leaves_tau_at_its_prior():
    # k = 1 and a flat mu prior: p(y | tau) does not depend on tau
    prior = HalfNormal(0.5)
    model = exact.nnhm([0.7], [0.1], prior)
    x = np.array([0.1, 0.4, 1.0])
    np.testing.assert_allclose(model.tau.cdf(x), prior.cdf(x), atol=1e-10)
    assert model.mu.mean == pytest.approx(0.7, abs=1e-12)
    with pytest.raises(ModelError, match="proper mu prior"):
        model.log_marginal_likelihood


def test_known_tau_gives_the_gaussian_posterior():
    y = np.array([0.1, 0.5, -0.2, 0.3])
    v = np.array([0.04, 0.1, 0.02, 0.3])
    t = 0.25
    model = exact.nnhm(y, v, exact.KnownTau(t), Normal(0.0, 2.0))
    w = 1 / (v + t * t)
    prec = w.sum() + 1 / 4
    mean = (w @ y) / prec
    assert model.mu.mean == pytest.approx(mean, abs=1e-13)
    assert model.mu.sd == pytest.approx(prec ** -0.5, abs=1e-13)
    assert model.mu.cdf(mean) == pytest.approx(0.5, abs=1e-13)
    assert model.theta_new.sd == pytest.approx(np.sqrt(1 / prec + t * t), abs=1e-13)
    b = v[1] / (v[1] + t * t)
    assert model.theta(1).mean == pytest.approx(b * mean + (1 - b) * y[1], abs=1e-13)
    assert model.tau.median == t
    lo, hi = model.mu.interval(0.95)
    assert lo == pytest.approx(mean - 1.959963984540054 * prec ** -0.5, abs=1e-9)
    assert model.mu.interval(0.95, kind="shortest") == pytest.approx((lo, hi), abs=1e-6)


def test_common_effect_is_the_point_mass_at_zero_with_the_closed_form_marginal_likelihood():
    y = np.array([0.1, 0.5, -0.2, 0.3])
    v = np.array([0.04, 0.1, 0.02, 0.3])
    prior = Normal(0.2, 1.5)
    ce = exact.common_effect(y, v, prior)
    cov = np.diag(v) + 1.5 ** 2 * np.ones((4, 4))
    assert ce.log_marginal_likelihood == pytest.approx(mvn_logpdf(y, cov, np.full(4, 0.2)), abs=1e-12)
    assert ce.tau.mean == 0.0 and ce.tau.interval() == (0.0, 0.0)
    flat = exact.common_effect(y, v)
    w = 1 / v
    assert flat.mu.mean == pytest.approx(w @ y / w.sum(), abs=1e-13)
    assert flat.mu.sd == pytest.approx(w.sum() ** -0.5, abs=1e-13)
    re = exact.nnhm(y, v, HalfNormal(0.5), prior)
    assert ce.bayes_factor(re) == pytest.approx(np.exp(ce.log_marginal_likelihood - re.log_marginal_likelihood))


def test_a_tight_tau_prior_approaches_the_common_effect_model():
    y = np.array([0.1, 0.5, -0.2, 0.3])
    v = np.array([0.04, 0.1, 0.02, 0.3])
    ce = exact.common_effect(y, v, Normal(0.0, 2.0))
    tight = exact.nnhm(y, v, HalfNormal(1e-6), Normal(0.0, 2.0))
    assert tight.mu.mean == pytest.approx(ce.mu.mean, abs=1e-8)
    assert tight.log_marginal_likelihood == pytest.approx(ce.log_marginal_likelihood, abs=1e-8)


# --------------------------------------------------------------------------- marginals
@pytest.mark.parametrize("name", ["mu", "tau", "theta_new", "theta0", "i2"])
def test_ppf_inverts_cdf(schools, name):
    marginal = schools.theta(0) if name == "theta0" else getattr(schools, name)
    q = np.array([1e-4, 0.025, 0.3, 0.5, 0.77, 0.975, 0.9999])
    np.testing.assert_allclose(marginal.cdf(marginal.ppf(q)), q, atol=1e-10)


@pytest.mark.parametrize("name", ["mu", "tau", "theta_new", "i2"])
def test_pdf_integrates_to_the_cdf(schools, name):
    marginal = getattr(schools, name)
    a, b = marginal.ppf(0.1), marginal.ppf(0.8)
    assert integrate.quad(lambda x: float(marginal.pdf(x)), a, b, epsabs=0, epsrel=1e-10)[0] == \
        pytest.approx(0.7, abs=1e-8)


def test_intervals_hold_their_probability_and_the_shortest_is_shortest(schools):
    for marginal in (schools.mu, schools.tau, schools.theta_new, schools.i2):
        for kind in ("equal", "shortest"):
            lo, hi = marginal.interval(0.9, kind=kind)
            assert marginal.cdf(hi) - marginal.cdf(lo) == pytest.approx(0.9, abs=1e-8)
        eq, sh = marginal.interval(0.9), marginal.interval(0.9, kind="shortest")
        assert sh[1] - sh[0] <= eq[1] - eq[0] + 1e-9
    # tau's density is highest at 0 here: the shortest interval starts there
    assert schools.tau.interval(0.95, kind="shortest")[0] == 0.0
    with pytest.raises(ModelError, match="kind"):
        schools.mu.interval(0.95, kind="hpd-ish")
    with pytest.raises(ModelError, match="level"):
        schools.mu.interval(1.5)


def test_moments_match_numerical_integration_of_the_density(schools):
    m = schools.mu
    mean = integrate.quad(lambda x: x * float(m.pdf(x)), -60, 70, epsabs=0, epsrel=1e-11, limit=200)[0]
    assert m.mean == pytest.approx(mean, abs=1e-8)
    t = schools.tau
    second = integrate.quad(lambda x: x * x * float(t.pdf(x)), 0, np.inf, epsabs=0, epsrel=1e-11, limit=400)[0]
    assert t.var + t.mean ** 2 == pytest.approx(second, rel=1e-6)


def test_i2_is_the_transform_of_tau(schools):
    s2 = exact.typical_variance(schools.vi)
    t = schools.tau.median
    assert schools.i2.median == pytest.approx(t * t / (t * t + s2), abs=1e-12)
    assert schools.i2.cdf(0.3) == pytest.approx(schools.tau.cdf(np.sqrt(s2 * 0.3 / 0.7)), abs=1e-12)


def test_mixture_sampling_matches_the_cdf(schools):
    draws = schools.mu.sample(np.random.default_rng(3), 20000)
    frac = np.mean(draws <= schools.mu.median)
    assert abs(frac - 0.5) < 5 * np.sqrt(0.25 / 20000)
    tau_draws = schools.tau.sample(np.random.default_rng(4), 2000)
    assert stats.kstest(tau_draws, schools.tau.cdf).pvalue > 0.001


def test_summary_has_the_fit_summary_columns(schools):
    table = schools.summary()
    assert list(table.columns) == ["parameter", "coord", "mean", "median", "sd", "eti_low", "eti_high",
                                   "hdi_low", "hdi_high"]
    assert list(table.index[:3]) == ["mu", "tau", "theta_new"]
    assert len(table) == 3 + 8


# --------------------------------------------------------------------------- three-level
def three_level_data():
    y = np.array([0.3, 0.1, 0.5, -0.2, 0.0, 0.6, 0.9])
    v = np.array([0.05, 0.08, 0.04, 0.1, 0.06, 0.2, 0.07])
    g = np.array(["a", "a", "b", "b", "b", "c", "c"])
    return y, v, g


def brute_three_level_log_lik(y, v, g, tw, tb, mu_prior):
    same = (g[:, None] == g[None, :]).astype(float)
    cov = np.diag(v + tw * tw) + tb * tb * same + mu_prior.sigma ** 2
    return mvn_logpdf(y, cov, np.full(len(y), mu_prior.mu))


def test_three_level_marginal_likelihood_and_tau_cdfs_match_brute_force():
    y, v, g = three_level_data()
    pw, pb, pm_ = HalfNormal(0.5), HalfNormal(0.3), Normal(0.0, 2.0)
    model = exact.three_level(y, v, g, pw, pb, pm_)

    def dens(tb, tw):
        return float(np.exp(pw.logpdf(tw) + pb.logpdf(tb) + brute_three_level_log_lik(y, v, g, tw, tb, pm_)))

    opts = {"epsabs": 0, "epsrel": 1e-10}
    z = integrate.dblquad(dens, 0, 4, 0, 3, **opts)[0]
    assert model.log_marginal_likelihood == pytest.approx(np.log(z), abs=1e-6)
    xw = float(model.tau_within.median)
    cdf_w = integrate.dblquad(dens, 0, xw, 0, 3, **opts)[0] / z
    assert abs(cdf_w - 0.5) < 1e-6
    xb = float(model.tau_between.ppf(0.8))
    cdf_b = integrate.dblquad(lambda tb, tw: dens(tb, tw), 0, 4, 0, xb, **opts)[0] / z
    assert abs(cdf_b - 0.8) < 1e-6


def test_three_level_with_fixed_components_matches_gaussian_conditioning():
    y, v, g = three_level_data()
    tw, tb = 0.3, 0.2
    eps = 1e-9
    model = exact.three_level(y, v, g, Uniform(tw, tw + eps), Uniform(tb, tb + eps), Normal(0.1, 1.0))
    # joint Gaussian of (mu, mu_a, mu_b, mu_c, theta_new_in_b, y)
    levels = ["a", "b", "c"]
    z = np.array([[float(gi == lvl) for lvl in levels] for gi in g])
    s0 = 1.0
    cov_mu_y = s0 * np.ones(len(y))
    cov_y = np.diag(v + tw ** 2) + tb ** 2 * z @ z.T + s0
    resid = y - 0.1
    gain = np.linalg.solve(cov_y, cov_mu_y)
    assert model.mu.mean == pytest.approx(0.1 + gain @ resid, abs=1e-6)
    assert model.mu.var == pytest.approx(s0 - gain @ cov_mu_y, abs=1e-6)
    cov_b_y = s0 + tb ** 2 * z[:, 1]
    gain_b = np.linalg.solve(cov_y, cov_b_y)
    mub = model.mu_disease("b")
    assert mub.mean == pytest.approx(0.1 + gain_b @ resid, abs=1e-6)
    assert mub.var == pytest.approx(s0 + tb ** 2 - gain_b @ cov_b_y, abs=1e-6)
    assert model.theta_new_disease("b").var == pytest.approx(mub.var + tw ** 2, abs=1e-6)
    assert model.theta_new.var == pytest.approx(model.mu.var + tw ** 2 + tb ** 2, abs=1e-6)
    cov_t_y = s0 + tb ** 2 * z[:, 1] + np.eye(len(y))[2] * tw ** 2
    gain_t = np.linalg.solve(cov_y, cov_t_y)
    th = model.theta(2)
    assert th.mean == pytest.approx(0.1 + gain_t @ resid, abs=1e-6)
    assert th.var == pytest.approx(s0 + tb ** 2 + tw ** 2 - gain_t @ cov_t_y, abs=1e-6)


def test_three_level_reduces_to_the_nnhm_when_tau_between_vanishes():
    y, v, g = three_level_data()
    three = exact.three_level(y, v, g, HalfNormal(0.5), Uniform(0.0, 1e-7), Normal(0.0, 2.0))
    two = exact.nnhm(y, v, HalfNormal(0.5), Normal(0.0, 2.0))
    assert three.mu.mean == pytest.approx(two.mu.mean, abs=1e-6)
    assert three.tau_within.cdf(0.3) == pytest.approx(two.tau.cdf(0.3), abs=1e-6)


def test_three_level_summary_and_group_errors():
    y, v, g = three_level_data()
    model = exact.three_level(y, v, g, HalfNormal(0.5), HalfNormal(0.5), Normal(0.0, 2.0))
    table = model.summary()
    assert {"mu", "tau_within", "tau_between", "theta_new", "mu_disease[a]", "theta_new_disease[c]"} <= set(table.index)
    with pytest.raises(ModelError, match="no group"):
        model.mu_disease("z")
    with pytest.raises(ModelError, match="group values"):
        exact.three_level(y, v, g[:-1], HalfNormal(0.5), HalfNormal(0.5))


# --------------------------------------------------------------------------- meta-regression
def test_meta_regression_matches_brute_force_and_reduces_to_the_nnhm():
    y = np.array([0.1, 0.5, -0.2, 0.3, 0.8, 0.0])
    v = np.array([0.04, 0.1, 0.02, 0.3, 0.05, 0.08])
    x = np.array([-1.0, 0.5, -0.5, 0.0, 1.5, -0.2])
    tp, mp, bp = HalfNormal(0.5), Normal(0.0, 2.0), Normal(0.0, 1.0)
    model = exact.meta_regression(y, v, x, tp, bp, mu_prior=mp, names=["dose"])
    d = np.column_stack([np.ones(6), x])
    prior_cov = np.diag([4.0, 1.0])

    def dens(t):
        cov = np.diag(v + t * t) + d @ prior_cov @ d.T
        return float(np.exp(tp.logpdf(t) + mvn_logpdf(y, cov, np.zeros(6))))

    z = _quad_log(dens)
    assert model.log_marginal_likelihood == pytest.approx(np.log(z), abs=1e-8)
    assert abs(_quad_log(dens, np.log(model.tau.median)) / z - 0.5) < 1e-6
    assert model.beta("dose") is not None and model.coef_names == ["mu", "dose"]
    nn = exact.nnhm(y, v, tp, mp)
    tight = exact.meta_regression(y, v, x, tp, Normal(0.0, 1e-7), mu_prior=mp)
    assert tight.mu.mean == pytest.approx(nn.mu.mean, abs=1e-6)
    assert tight.log_marginal_likelihood == pytest.approx(nn.log_marginal_likelihood, abs=1e-6)


def test_meta_regression_with_fixed_tau_is_weighted_least_squares():
    y = np.array([0.1, 0.5, -0.2, 0.3, 0.8, 0.0])
    v = np.array([0.04, 0.1, 0.02, 0.3, 0.05, 0.08])
    x = np.array([-1.0, 0.5, -0.5, 0.0, 1.5, -0.2])
    t = 0.2
    model = exact.meta_regression(y, v, x, Uniform(t, t + 1e-10), Flat())
    d = np.column_stack([np.ones(6), x])
    w = np.diag(1 / (v + t * t))
    cov = np.linalg.inv(d.T @ w @ d)
    b = cov @ d.T @ w @ y
    assert model.mu.mean == pytest.approx(b[0], abs=1e-7)
    assert model.beta(0).mean == pytest.approx(b[1], abs=1e-7)
    assert model.beta("x1").sd == pytest.approx(np.sqrt(cov[1, 1]), abs=1e-7)
    pred = model.predict([1.0], new_study=True)
    assert pred.mean == pytest.approx(b[0] + b[1], abs=1e-7)
    assert pred.var == pytest.approx(np.array([1, 1.0]) @ cov @ np.array([1, 1.0]) + t * t, abs=1e-7)
    with pytest.raises(ModelError, match="proper"):
        model.log_marginal_likelihood


def test_meta_regression_rejects_unidentified_coefficients():
    with pytest.raises(ModelError, match="not identified"):
        exact.meta_regression([0.1, 0.2], [0.1, 0.1], np.array([[1.0], [1.0]]), HalfNormal(0.5))


# --------------------------------------------------------------------------- input errors
@pytest.mark.parametrize("yi, vi, match", [
    ([0.1, 0.2], [0.1, 0.0], "vi of study 1"),
    ([0.1, np.nan], [0.1, 0.1], "yi of study 1"),
    ([0.1, 0.2], [0.1], "vi has 1"),
    ([], [], "no studies"),
])
def test_bad_effects_are_rejected_naming_the_study(yi, vi, match):
    with pytest.raises(ModelError, match=match):
        exact.nnhm(yi, vi, HalfNormal(0.5))


def test_priors_of_the_wrong_kind_are_rejected():
    with pytest.raises(ModelError, match="support"):
        exact.nnhm([0.1, 0.2], [0.1, 0.1], Normal(0.0, 1.0))
    with pytest.raises(ModelError, match="Normal or Flat"):
        exact.nnhm([0.1, 0.2], [0.1, 0.1], HalfNormal(0.5), mu_prior=StudentT(3.0, 0.0, 1.0))
    with pytest.raises(ModelError, match="labels"):
        exact.nnhm([0.1, 0.2], [0.1, 0.1], HalfNormal(0.5), labels=["a", "a"])


def test_log_normal_tau2_prior_runs_and_its_posterior_is_below_its_prior_tail():
    y = np.array([0.05, 0.1, 0.0, 0.08])
    v = np.full(4, 0.01)
    prior = LogNormalTau2(-1.87, 1.52)
    model = exact.nnhm(y, v, prior, Normal(0.0, 2.0))
    # homogeneous data pull tau below its prior median
    assert model.tau.median < float(prior.ppf(0.5))
    assert isinstance(LogTTau2(-3.0, 2.0), LogTTau2)


def test_eight_schools_marginal_likelihood_matches_a_two_dimensional_quadrature():
    # brute force over (mu, tau) with the study likelihoods written out: no closed form used
    y, v = eight_schools()
    tau_prior, mu_prior = HalfCauchy(5.0), Normal(0.0, 5.0)
    model = exact.nnhm(y, v, tau_prior, mu_prior)
    shift = 30.0  # keeps the integrand near 1 so dblquad's absolute tolerance is meaningful

    def integrand(mu, t):
        return float(np.exp(shift + tau_prior.logpdf(t) + mu_prior.logpdf(mu)
                            + stats.norm.logpdf(y, mu, np.sqrt(v + t * t)).sum()))

    opts = {"epsabs": 1e-13, "epsrel": 1e-11}
    z = sum(integrate.dblquad(integrand, a, b, -40.0, 50.0, **opts)[0] for a, b in ((0, 5), (5, 40), (40, 2000)))
    assert model.log_marginal_likelihood == pytest.approx(np.log(z) - shift, abs=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_random_data_give_monotone_cdfs_and_consistent_quantiles(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 30))
    v = np.exp(rng.uniform(-6, 2, k))
    y = rng.normal(0, 1, k) * np.sqrt(v + rng.uniform(0, 1))
    model = exact.nnhm(y, v, HalfNormal(float(rng.uniform(0.1, 2))), Normal(0.0, 3.0))
    for marginal in (model.mu, model.tau, model.theta_new, model.theta(0)):
        x = marginal.ppf(np.linspace(0.01, 0.99, 25))
        assert np.all(np.diff(x) > 0)
        np.testing.assert_allclose(marginal.cdf(x), np.linspace(0.01, 0.99, 25), atol=1e-9)
    assert np.isfinite(model.log_marginal_likelihood)
    assert model.weights.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("weights, means, sds", [
    # a narrow component inside broad mass: Newton steps from the bracket ends went round in a 2-cycle
    ([0.14, 0.22, 0.43], [1.6, -2.0, 1.7], [1e-4, 0.01, 0.1]),
    # a scale of 1e-13: an absolute step tolerance of 1e-12 stopped after the first step
    ([1.0, 1.0], [0.0, 1e-13], [1e-13, 1e-13]),
])
def test_mixture_quantiles_solve_the_cdf_equation_to_rounding(weights, means, sds):
    from scipy import optimize

    from bayes_il2.exact.marginals import GaussianMixture, mixture_quantiles
    mixture = GaussianMixture(weights, means, sds)
    q = np.array([1e-6, 0.025, 0.1, 0.5, 0.9, 0.975])
    span = 50 * max(sds) + np.ptp(means)
    expected = np.array([optimize.brentq(lambda x, p=p: mixture.cdf(x) - p, min(means) - span, max(means) + span,
                                         xtol=1e-300, rtol=1e-15) for p in q])
    tolerance = 1e-10 * max(sds)
    np.testing.assert_allclose(mixture.ppf(q), expected, rtol=0, atol=tolerance)
    assert mixture.median == pytest.approx(expected[3], rel=0, abs=tolerance)
    np.testing.assert_allclose(mixture_quantiles(mixture.weights, mixture.means[None], mixture.sds[None], q)[0],
                               expected, rtol=0, atol=tolerance)


@pytest.mark.parametrize("weights, means, sds", [([0.7, 0.3], [0.0, 1.5], [0.5, 1.2]), ([1.0], [0.2], [0.3]),
                                                 ([0.5, 0.5], [0.0, 0.3], [1.0, 0.2])])
def test_shortest_interval_ends_have_equal_density_and_hold_the_level(weights, means, sds):
    # A unimodal density's shortest interval has equal density at its ends (Box & Tiao 1973, sec. 2.8);
    # a grid search over the lower tail probability alone left the ends 1e-4 sd off.
    from scipy import optimize

    from bayes_il2.exact.marginals import GaussianMixture
    mixture = GaussianMixture(weights, means, sds)
    low, high = mixture.interval(0.95, "shortest")
    assert mixture.cdf(high) - mixture.cdf(low) == pytest.approx(0.95, abs=1e-12)
    width = lambda p: mixture.ppf(p + 0.95) - mixture.ppf(p)  # noqa: E731
    best = optimize.minimize_scalar(width, bounds=(1e-9, 0.05 - 1e-9), method="bounded", options={"xatol": 1e-13})
    expected = mixture.ppf(np.array([best.x, best.x + 0.95]))
    np.testing.assert_allclose([low, high], expected, rtol=0, atol=1e-7 * mixture.sd)
    assert mixture.pdf(low) == pytest.approx(mixture.pdf(high), rel=1e-6)


def test_a_tau_posterior_that_does_not_decay_is_refused_not_truncated():
    # One study and a flat mu prior leave tau at its prior; LogTTau2 with nu = 1 (a Cauchy on log tau^2)
    # has mass beyond any floating-point range, so about 2 % of it was dropped without a word.
    with pytest.raises(ModelError, match="has not decayed"):
        exact.nnhm([0.3], [0.04], LogTTau2(-3.0, 1.5, 1.0))


def test_the_tau_range_follows_a_slowly_decaying_posterior_to_its_tail():
    # With a proper mu prior the likelihood decays like 1/tau, slowly enough against this prior's tail
    # that the range of 12 e-folds above the data kept about 1e-5 of the mass outside.
    prior, y, v, mu_prior = LogTTau2(-3.0, 1.5, 1.0), 0.3, 0.04, Normal(0.0, 2.0)
    fit = exact.nnhm([y], [v], prior, mu_prior)

    def density(s):  # on log(tau): log(tau^2) = 2s follows a Student-t
        return 2 * stats.t.pdf(2 * s, 1.0, -3.0, 1.5) * stats.norm.pdf(y, 0.0, np.sqrt(v + np.exp(2 * s) + 4.0))

    def mass(a, b):
        return integrate.quad(density, a, b, limit=500, epsabs=0, epsrel=1e-13)[0]

    # below tau = e^-12 the likelihood is constant to e^-24: the prior's mass there, whole
    below_cut = prior.cdf(np.exp(-12.0)) * stats.norm.pdf(y, 0.0, np.sqrt(v + 4.0))
    pieces = [(-12, 0), (0, 10), (10, 50), (50, 300)]
    total = below_cut + sum(mass(a, b) for a, b in pieces)
    for x in (0.05, 1.0, 100.0, 1e6):
        below = below_cut + sum(mass(a, min(b, np.log(x))) for a, b in pieces if a < np.log(x))
        assert fit.tau.cdf(x) == pytest.approx(below / total, abs=1e-9)


def test_mu_quantiles_are_accurate_where_the_tau_density_alone_needs_few_panels():
    # One study and a flat mu prior: tau's posterior is its Uniform prior, integrated exactly by four
    # panels, but mu's mixture over those nodes put its 97.5 % quantile 4.7e-4 (relative) off.
    from scipy import optimize
    fit = exact.nnhm([0.0], [1e-4], Uniform(0.0, 1.0))

    def cdf(x):
        return integrate.quad(lambda t: stats.norm.cdf(x, 0.0, np.sqrt(1e-4 + t * t)), 0.0, 1.0, epsabs=1e-15,
                              epsrel=1e-13, limit=500, points=[0.001, 0.01, 0.1])[0]

    expected = optimize.brentq(lambda x: cdf(x) - 0.975, 0.0, 3.0, xtol=1e-14)
    assert fit.mu.ppf(0.975) == pytest.approx(expected, rel=1e-5)


def test_the_quantile_interpolant_of_a_large_mixture_skips_subnormal_densities():
    # More than LARGE_MIXTURE components: the shortest interval is searched on an interpolant with
    # slopes 1/pdf; a density that underflowed to a subnormal number made a slope of inf (ValueError).
    from bayes_il2.exact.marginals import LARGE_MIXTURE, GaussianMixture
    n = LARGE_MIXTURE + 1
    means = np.zeros(n)
    means[-1] = 363.5  # the table's lowest point then has a density of about 1e-310
    mixture = GaussianMixture(np.ones(n), means, np.ones(n))
    low, high = mixture.interval(0.95, "shortest")
    assert mixture.cdf(high) - mixture.cdf(low) == pytest.approx(0.95, abs=1e-9)
    # searched on the interpolant (161 points over +-10 SD): no wider than the equal-tailed one to 1e-5
    assert high - low <= (mixture.ppf(0.975) - mixture.ppf(0.025)) * (1 + 1e-5)


@pytest.mark.parametrize("vi", [1e10, 1e12])
def test_tau_moments_stay_right_when_the_sampling_variances_dwarf_the_prior(vi):
    # The data say nothing about tau: its posterior is the HalfNormal(0.5) prior. The first quadrature
    # panel (one node) sat 12 e-folds below the data's scale, above most of the prior's mass: with
    # vi = 1e12 tau's mean came out 1.77 and its SD 2e-6 (quantiles were right).
    fit = exact.nnhm([0.3, 0.1, 0.5], [vi] * 3, HalfNormal(0.5), Normal(0.0, 2.0))
    assert fit.tau.mean == pytest.approx(0.5 * np.sqrt(2 / np.pi), rel=1e-8)
    assert fit.tau.sd == pytest.approx(0.5 * np.sqrt(1 - 2 / np.pi), rel=1e-7)
    assert fit.tau.median == pytest.approx(HalfNormal(0.5).ppf(0.5), rel=1e-8)


@pytest.mark.parametrize("prior", [HalfNormal(1e-12), HalfNormal(1e-9)], ids=["1e-12", "1e-9"])
def test_a_tau_prior_far_below_the_data_gives_the_common_effect_answer(prior):
    # half_normal(1e-12) ended in "zero-size array to reduction operation minimum" (the range of tau
    # started 12 e-folds below the data, above all of the prior's mass)
    y, v = np.array([0.3, 0.1, 0.5, 0.2]), np.array([0.04, 0.05, 0.03, 0.06])
    fit = exact.nnhm(y, v, prior, Normal(0.0, 2.0))
    common = exact.common_effect(y, v, Normal(0.0, 2.0))
    assert fit.mu.mean == pytest.approx(common.mu.mean, rel=1e-9)
    assert fit.tau.mean == pytest.approx(prior.scale * np.sqrt(2 / np.pi), rel=1e-6)


def test_a_prior_scale_beyond_floating_point_squares_is_integrated_without_overflow():
    # HalfCauchy(1e300): the range of tau reached 1e305, whose square overflowed (RuntimeWarnings on
    # the user's console); the range now stops at 1e150, where this posterior has long decayed
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fit = exact.nnhm([0.3, 0.1, 0.5, 0.2], [0.04, 0.05, 0.03, 0.06], HalfCauchy(1e300), Normal(0.0, 2.0))
    assert np.isfinite(fit.mu.mean) and np.isfinite(fit.tau.mean) and fit.tau.median > 0
