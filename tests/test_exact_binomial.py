"""The exact binomial-normal engine (bayes_il2.exact.binomial) against independent computations:
one-dimensional quadrature of the study likelihood (scipy.integrate.quad), the two-dimensional
adaptive Gauss-Hermite integral of the MCMC model's integrated log-likelihood, a brute-force grid
over (mu, log tau), and the identity p(y_i | y_-i) = p(y) / p(y_-i)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from bayes_il2.errors import ModelError
from bayes_il2.exact.binomial import binomial_normal, log_marginal, pair_likelihood, sample_log_concave
from bayes_il2.modeling._common import binomial_pair_study_loglik
from bayes_il2.priors import HalfNormal, Normal, turner_prior

COUNTS = ([2, 0, 5], [30, 25, 40], [7, 3, 5], [31, 26, 41])  # r_c, n_c, r_t, n_t
TAU = turner_prior("adverse events")


@pytest.fixture(scope="module")
def posterior():
    return binomial_normal(*COUNTS, tau_prior=TAU, mu_prior=Normal(0, 2), alpha_prior=Normal(0, 3),
                           labels=["a", "b", "c"])


@pytest.fixture(scope="module")
def brute():
    """p(mu, tau | y) on a 241 x 161 grid of (mu, log tau) (the trapezoid rule converges geometrically
    for this smooth, decaying integrand), study likelihoods by the MCMC model's own 2-D adaptive
    Gauss-Hermite integral (an independent implementation)."""
    mus = np.linspace(-8, 10, 241)
    ss = np.linspace(np.log(1e-4), np.log(30), 161)
    m, s = np.meshgrid(mus, ss, indexing="ij")
    t = np.exp(s)
    lp = stats.norm.logpdf(m, 0, 2) + TAU.logpdf(t) + s
    for rc, nc, rt, nt in zip(*COUNTS):
        lp += binomial_pair_study_loglik(rc, nc, rt, nt, 0.0, 3.0, m.ravel(), t.ravel()).reshape(m.shape)
    top = lp.max()
    w = np.exp(lp - top)
    z = w.sum()
    return {"log_z": top + np.log(z * (mus[1] - mus[0]) * (ss[1] - ss[0])),
            "mu_mean": (w.sum(1) * mus).sum() / z, "tau_mean": (w * t).sum() / z}


def test_study_likelihood_matches_one_dimensional_quadrature():
    ell = pair_likelihood(2, 30, 7, 31, 0.0, 3.0)

    def reference(theta):
        f = lambda a: (stats.binom.pmf(2, 30, 1 / (1 + np.exp(-a))) * stats.binom.pmf(7, 31, 1 / (1 + np.exp(-a - theta)))
                       * stats.norm.pdf(a, 0, 3))
        return np.log(integrate.quad(f, -30, 30, epsabs=0, epsrel=1e-12)[0])

    for theta in (-3.0, -0.7, 0.0, 1.3, 3.0):
        assert ell(np.array(theta)) == pytest.approx(reference(theta), abs=1e-9)


@pytest.mark.parametrize("mu, tau", [(0.5, 0.3), (-1.0, 2.0), (2.0, 1e-4), (0.3, 8.0)])
def test_marginal_matches_the_mcmc_models_integrated_loglik(mu, tau):
    ell = pair_likelihood(2, 30, 7, 31, 0.0, 3.0)
    value = log_marginal(ell, np.array([mu]), np.array([tau]))[0][0]
    assert value == pytest.approx(float(binomial_pair_study_loglik(2, 30, 7, 31, 0.0, 3.0, mu, tau, nodes=60)),
                                  abs=1e-7)


def test_marginal_derivatives_match_finite_differences():
    ell = pair_likelihood(0, 25, 3, 26, 0.0, 3.0)
    mu, tau, h = np.array([0.4]), np.array([0.8]), 1e-4
    value, d1, d2 = log_marginal(ell, mu, tau)
    up, down = log_marginal(ell, mu + h, tau)[0], log_marginal(ell, mu - h, tau)[0]
    assert d1[0] == pytest.approx(((up - down) / (2 * h))[0], abs=1e-6)
    assert d2[0] == pytest.approx(((up - 2 * value + down) / h ** 2)[0], abs=1e-4)


def test_posterior_matches_brute_force_grid(posterior, brute):
    assert posterior.log_marginal_likelihood == pytest.approx(brute["log_z"], abs=1e-7)
    assert posterior.mu.mean == pytest.approx(brute["mu_mean"], abs=1e-7)
    assert posterior.tau.mean == pytest.approx(brute["tau_mean"], abs=1e-7)
    assert posterior.theta_new.mean == pytest.approx(posterior.mu.mean, abs=1e-7)  # E[theta_new] = E[mu]


def test_leave_one_out_predictive_is_the_ratio_of_evidences(posterior):
    """p(y_i | y_-i) = p(y) / p(y_-i): the predictive integral over the posterior without study i
    against two marginal likelihoods."""
    rest = binomial_normal(*(np.asarray(c)[:2] for c in COUNTS), tau_prior=TAU, mu_prior=Normal(0, 2),
                           alpha_prior=Normal(0, 3))
    ell = pair_likelihood(5, 40, 5, 41, 0.0, 3.0)
    assert rest.log_predictive(ell) == pytest.approx(
        posterior.log_marginal_likelihood - rest.log_marginal_likelihood, abs=1e-6)


def test_draws_follow_the_exact_marginals(posterior):
    rng = np.random.default_rng(7)
    n = 20000
    mu, tau = posterior.sample_hyper(rng, n)
    for draws, marginal in ((mu, posterior.mu), (tau, posterior.tau)):
        assert abs(draws.mean() - marginal.mean) < 4 * marginal.sd / np.sqrt(n)
    theta = posterior.sample_studies(mu, tau, COUNTS, rng)[0][:, 1]
    exact = posterior.theta("b")
    assert abs(theta.mean() - exact.mean) < 4 * exact.sd / np.sqrt(n)
    assert abs(np.quantile(theta, 0.9) - exact.ppf(0.9)) < 0.02 * exact.sd * 4


def test_log_concave_sampler_matches_quadrature_moments():
    rng = np.random.default_rng(1)
    n = 40000

    def density(i, x):  # N(0, 1) times a logistic factor: skewed, log-concave
        return (-0.5 * x ** 2 - np.logaddexp(0, 3 * x), -x - 3 / (1 + np.exp(-3 * x)),
                -1 - 9 * np.exp(-3 * x) / (1 + np.exp(-3 * x)) ** 2)

    draws = sample_log_concave(density, np.zeros(n), rng)
    f = lambda x: np.exp(-0.5 * x ** 2 - np.logaddexp(0, 3 * x))
    z = integrate.quad(f, -20, 20)[0]
    mean = integrate.quad(lambda x: x * f(x), -20, 20)[0] / z
    var = integrate.quad(lambda x: (x - mean) ** 2 * f(x), -20, 20)[0] / z
    assert abs(draws.mean() - mean) < 4 * np.sqrt(var / n)
    assert abs(draws.var() - var) < 4 * var * np.sqrt(2 / n)


def test_bad_counts_and_priors_are_refused():
    with pytest.raises(ModelError, match="events_t=5 > n_t=4"):
        binomial_normal([1], [10], [5], [4], tau_prior=HalfNormal(0.5), mu_prior=Normal(0, 2), alpha_prior=Normal(0, 3))
    with pytest.raises(ModelError, match="proper Normal"):
        binomial_normal([1], [10], [2], [9], tau_prior=HalfNormal(0.5), mu_prior=None, alpha_prior=Normal(0, 3))
    with pytest.raises(ModelError, match="n_c of study '1'"):
        binomial_normal([1], [0], [2], [9], tau_prior=HalfNormal(0.5), mu_prior=Normal(0, 2), alpha_prior=Normal(0, 3))


def test_engine_choice_fit_summary_and_diagnostics():
    from bayes_il2.diagnostics import diagnose
    from bayes_il2.diagnostics.exact_bridge import exact_loo_elpd, supports_exact
    from bayes_il2.engine import choose_engine, exact_binomial_normal_fit, summary

    priors = {"mu": Normal(0, 2), "tau": TAU, "alpha": Normal(0, 3)}
    assert choose_engine("auto", "binomial_normal", None, priors).engine == "mcmc"  # on request only
    assert choose_engine("exact", "binomial_normal", None, priors).engine == "exact"
    with pytest.raises(ModelError, match="Normal mu prior"):
        choose_engine("exact", "binomial_normal", None, {**priors, "mu": HalfNormal(1.0)})
    table = pd.DataFrame({"study_id": ["a", "b", "c"], "events_c": COUNTS[0], "n_c": COUNTS[1],
                          "events_t": COUNTS[2], "n_t": COUNTS[3]})
    fit = exact_binomial_normal_fit(table, priors=priors, measure="OR", draws=500, chains=2, seed=3)
    assert fit.sampler == "exact" and supports_exact(fit)
    table_model = summary(fit, scale="model")
    post = fit.model
    assert table_model.loc["mu", "mean"] == pytest.approx(post.mu.mean, rel=1e-12)
    draws = fit.idata["posterior"]["theta"].sel(study_id="c").values.ravel()
    assert abs(draws.mean() - table_model.loc["theta[c]", "mean"]) < 4 * table_model.loc["theta[c]", "sd"] / np.sqrt(1000)
    pp = fit.idata["posterior_predictive"]
    assert ((pp["events_t"] >= 0) & (pp["events_t"].values <= np.asarray(COUNTS[3]))).all()
    # exact leave-one-out: the same identity as above, through the diagnostics' bridge
    rest = binomial_normal(*(np.asarray(c)[:2] for c in COUNTS), tau_prior=TAU, mu_prior=Normal(0, 2),
                           alpha_prior=Normal(0, 3))
    assert exact_loo_elpd(fit, "c") == pytest.approx(post.log_marginal_likelihood - rest.log_marginal_likelihood,
                                                     abs=1e-6)
    report = diagnose(fit)
    assert "loo" in report.tables and "influence" in report.tables
    assert set(report.tables["influence"]["study_id"]) == {"a", "b", "c"}


def test_the_full_posterior_of_the_influence_table_is_the_fits_own(monkeypatch):
    # issue #19: exact_refit(fit, None) recomputed the whole exact posterior (seconds for binomial data)
    from bayes_il2.diagnostics.exact_bridge import exact_refit, summarize_exact
    from bayes_il2.engine import exact_binomial_normal_fit
    from bayes_il2.exact import binomial

    priors = {"mu": Normal(0, 2), "tau": TAU, "alpha": Normal(0, 3)}
    table = pd.DataFrame({"study_id": ["a", "b", "c"], "events_c": COUNTS[0], "n_c": COUNTS[1],
                          "events_t": COUNTS[2], "n_t": COUNTS[3]})
    fit = exact_binomial_normal_fit(table, priors=priors, measure="OR", draws=200, chains=2, seed=3)
    calls = []
    real = binomial.binomial_normal
    monkeypatch.setattr(binomial, "binomial_normal", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert exact_refit(fit, None) == summarize_exact(fit.model) and calls == []
    without_c = exact_refit(fit, "c")
    assert len(calls) == 1 and without_c["mu_mean"] != fit.model.mu.mean
