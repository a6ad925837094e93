"""Priors: densities integrate to one, agree with PyMC, quantiles match draws, spec tables round-trip,
and the empirical tables return the published cells (or refuse unverified ones)."""
from __future__ import annotations

import math

import numpy as np
import pymc as pm
import pytest
from scipy import integrate, stats

from bayes_il2.errors import SpecError
from bayes_il2.priors import (Exponential, Flat, HalfCauchy, HalfNormal, HalfStudentT, LogNormalTau2, LogTTau2,
                              Normal, StudentT, Uniform, prior_from_spec, rhodes_prior, turner_prior)

PROPER = [HalfNormal(0.5), HalfCauchy(0.5), HalfStudentT(3.0, 0.5), Uniform(0.0, 5.0), Uniform(0.2, 1.5),
          Exponential(2.0), LogNormalTau2(-1.87, 1.52), LogTTau2(-3.41, 2.83), LogTTau2(-2.0, 1.0, nu=3.0),
          Normal(0.5, 2.0), StudentT(4.0, 1.0, 2.0)]
IDS = [repr(p) for p in PROPER]


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
@pytest.mark.parametrize("prior", PROPER, ids=IDS)
def test_density_integrates_to_one(prior):
    lo, hi = prior.support
    mid = float(prior.ppf(0.5))
    if lo == 0 and hi == np.inf:
        # on log(x): the heavy tails of the log-t and half-Cauchy priors become manageable for quad
        f = lambda s: float(np.exp(prior.logpdf(np.exp(s)) + s))  # noqa: E731
        lo, mid, hi = -np.inf, math.log(mid), np.inf
    else:
        f = lambda x: float(np.exp(prior.logpdf(x)))  # noqa: E731
    # split at the median so quad sees the bulk and each tail separately
    total = integrate.quad(f, lo, mid, limit=400)[0] + integrate.quad(f, mid, hi, limit=400)[0]
    assert total == pytest.approx(1.0, abs=1e-7)


@pytest.mark.parametrize("prior", PROPER, ids=IDS)
def test_logpdf_matches_the_pymc_variable(prior):
    lo, hi = prior.support
    x = np.array([0.05, 0.3, 1.0, 1.4, 2.5]) if lo >= 0 else np.array([-3.0, -0.2, 0.0, 0.7, 4.0])
    x = x[(x > lo) & (x < hi)]
    with pm.Model():
        rv = prior.to_pymc("p")
        pymc_logp = pm.logp(rv, x).eval()
    np.testing.assert_allclose(pymc_logp, prior.logpdf(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("prior", PROPER, ids=IDS)
def test_cdf_inverts_ppf(prior):
    q = np.array([0.01, 0.25, 0.5, 0.9, 0.99])
    np.testing.assert_allclose(prior.cdf(prior.ppf(q)), q, atol=1e-10)


@pytest.mark.parametrize("prior", PROPER, ids=IDS)
def test_sample_quantiles_agree_with_ppf(prior):
    n = 20000
    draws = prior.sample(np.random.default_rng(7), n)
    assert draws.shape == (n,)
    lo, hi = prior.support
    assert np.all((draws >= lo) & (draws <= hi))
    for q in (0.1, 0.5, 0.9):
        # the empirical cdf at the true quantile is binomial(n, q)/n: 5 standard errors
        frac = np.mean(draws <= prior.ppf(q))
        assert abs(frac - q) < 5 * math.sqrt(q * (1 - q) / n)


def test_pymc_variable_is_the_named_parameter_with_dims():
    with pm.Model(coords={"covariate": ["a", "b"]}) as model:
        LogTTau2(-3.41, 2.83).to_pymc("tau")
        Normal(0.0, 1.0).to_pymc("beta", dims="covariate")
    assert {v.name for v in model.free_RVs} == {"tau", "beta"}
    assert model.named_vars_to_dims["beta"] == ("covariate",)
    # log-t prior: sampled on the log scale, draws positive
    draws = pm.draw(model["tau"], draws=200, random_seed=1)
    assert np.all(draws > 0)


def test_lognormal_tau2_is_lognormal_for_tau():
    p = LogNormalTau2(-1.87, 1.52)
    # log(tau^2) ~ N(mu, sigma^2)  <=>  tau ~ LogNormal(mu/2, sigma/2)
    ref = stats.lognorm(s=1.52 / 2, scale=math.exp(-1.87 / 2))
    x = np.array([0.01, 0.2, 1.0, 3.0])
    np.testing.assert_allclose(p.logpdf(x), ref.logpdf(x), rtol=1e-12)
    assert p.ppf(0.5) == pytest.approx(math.exp(-1.87 / 2))


def test_log_t_tau2_density_is_the_t_density_of_log_tau2_with_jacobian():
    p = LogTTau2(-3.41, 2.83)
    tau = np.array([0.05, 0.5, 2.0])
    expected = stats.t.logpdf(np.log(tau ** 2), 5, -3.41, 2.83) + np.log(2 / tau)
    np.testing.assert_allclose(p.logpdf(tau), expected, rtol=1e-12)


def test_half_normal_half_point_five_quantile_matches_the_jss_statement():
    # Röver 2020 (JSS) p. 12: half-normal(0.5) confines tau <= 0.98 with 95% probability
    assert HalfNormal(0.5).ppf(0.95) == pytest.approx(0.98, abs=0.005)


def test_logpdf_is_minus_inf_outside_the_support():
    assert HalfNormal(1.0).logpdf(-0.1) == -np.inf
    assert LogNormalTau2(0.0, 1.0).logpdf(0.0) == -np.inf
    assert LogTTau2(0.0, 1.0).logpdf(-1.0) == -np.inf
    assert Uniform(0.0, 2.0).logpdf(2.5) == -np.inf


def test_flat_is_improper_and_only_has_a_log_density():
    f = Flat()
    np.testing.assert_array_equal(f.logpdf(np.array([-1e6, 0.0, 3.0])), 0.0)
    assert not f.proper
    with pytest.raises(SpecError):
        f.sample(1, 3)
    with pm.Model() as model:
        f.to_pymc("mu")
    assert model["mu"].owner.op.__class__.__name__ == "FlatRV"


@pytest.mark.parametrize("prior", PROPER + [Flat()], ids=IDS + ["Flat()"])
def test_to_dict_round_trips_through_prior_from_spec(prior):
    assert prior_from_spec(prior.to_dict()) == prior


def test_prior_from_spec_reads_the_shipped_spec_forms():
    assert prior_from_spec({"family": "half_normal", "scale": 0.5}) == HalfNormal(0.5)
    assert prior_from_spec({"family": "normal", "mu": 0, "sigma": 2}) == Normal(0.0, 2.0)
    assert prior_from_spec({"family": "uniform", "lower": 0.0, "upper": 5.0}) == Uniform(0.0, 5.0)
    turner = prior_from_spec({"family": "turner", "outcome_type": "adverse events",
                              "comparison": "pharma_vs_placebo"})
    assert turner == LogNormalTau2(-1.87, 1.52)
    rhodes = prior_from_spec({"family": "rhodes", "outcome_type": "biological marker",
                              "comparison": "pharma_vs_placebo", "area": "other"})
    assert rhodes == LogTTau2(-3.41, 2.83, 5.0)


@pytest.mark.parametrize("table, key", [
    ({"scale": 0.5}, "'family'"),
    ({"family": "gamma", "shape": 2}, "'family'"),
    ({"family": "half_normal"}, "'scale'"),
    ({"family": "half_normal", "scale": 0.5, "sigma": 1}, "'sigma'"),
    ({"family": "normal", "mu": "zero", "sigma": 1}, "'mu'"),
    ({"family": "half_normal", "scale": -1.0}, "scale"),
    ({"family": "turner", "comparison": "pharma_vs_placebo"}, "'outcome_type'"),
    ({"family": "turner", "outcome_type": "adverse events", "comparison": "drug_vs_drug"}, "comparison"),
    ({"family": "turner", "outcome_type": "hair colour"}, "outcome_type"),
    ({"family": "rhodes", "outcome_type": "pain", "area": "dermatology"}, "area"),
    ({"family": "rhodes", "outcome_type": "pain", "extra": 1}, "'extra'"),
])
def test_prior_from_spec_errors_name_the_key(table, key):
    with pytest.raises(SpecError, match=key):
        prior_from_spec(table)


def test_spec_error_lists_the_allowed_families():
    with pytest.raises(SpecError) as err:
        prior_from_spec({"family": "gamma"})
    for family in ("half_normal", "half_cauchy", "lognormal_tau2", "log_t_tau2", "turner", "rhodes"):
        assert family in str(err.value)


@pytest.mark.parametrize("outcome, comparison, expected", [
    ("adverse events", "pharma_vs_placebo", (-1.87, 1.52)),
    ("all-cause mortality", "pharma_vs_placebo", (-3.95, 1.34)),
    ("All-cause mortality", "C4", (-2.92, 1.02)),
    ("pain", "nonpharma_vs_nonpharma", (-1.38, 1.45)),
    ("internal / structure-related outcomes", "nonpharma_vs_placebo", (-2.93, 1.92)),
    ("subjective outcomes (various)", "pharma_vs_pharma", (-2.93, 1.58)),
    ("marginal", "pharma_vs_placebo", (-2.56, 1.74)),
])
def test_turner_cells(outcome, comparison, expected):
    p = turner_prior(outcome, comparison)
    assert (p.mu, p.sigma) == expected


@pytest.mark.parametrize("outcome, comparison, area, expected", [
    ("biological marker", "pharma_vs_placebo", "other", (-3.41, 2.83)),
    ("obstetric outcome", "pharma_vs_pharma", "other", (-4.40, 2.31)),
    ("mental health", "pharma_vs_placebo", "other", (-2.99, 2.16)),
    ("mental health", "nonpharma", "respiratory", (-4.76, 1.94)),
    ("resource use", "P1", "cancer", (0.01, 2.83)),
    ("subjective", "N", "cancer", (-0.06, 2.53)),
    ("marginal", "pharma_vs_placebo", "other", (-3.44, 2.59)),
])
def test_rhodes_cells(outcome, comparison, area, expected):
    p = rhodes_prior(outcome, comparison, area)
    assert (p.mu, p.sigma, p.nu) == (*expected, 5.0)


@pytest.mark.parametrize("outcome, comparison, area", [
    ("mental health", "nonpharma", "other"),
    ("internal structure", "pharma_vs_pharma", "cancer"),
    ("internal structure", "nonpharma", "cancer"),
])
def test_unverified_rhodes_cells_are_not_shipped(outcome, comparison, area):
    with pytest.raises(SpecError, match="not shipped"):
        rhodes_prior(outcome, comparison, area)


def test_repr_is_readable_and_names_the_source():
    assert repr(HalfNormal(0.5)) == "HalfNormal(scale=0.5)"
    assert "Turner" in repr(turner_prior("adverse events", "pharma_vs_placebo"))


def test_invalid_parameters_raise_spec_error():
    with pytest.raises(SpecError, match="scale"):
        HalfNormal(0.0)
    with pytest.raises(SpecError, match="upper"):
        Uniform(1.0, 1.0)
    with pytest.raises(SpecError, match="sigma"):
        Normal(0.0, float("nan"))


def test_plot_draws_the_density():
    import matplotlib

    matplotlib.use("Agg")
    ax = HalfNormal(0.5).plot()
    line = ax.get_lines()[0]
    x, y = line.get_data()
    np.testing.assert_allclose(y, HalfNormal(0.5).pdf(x))
    import matplotlib.pyplot as plt

    plt.close(ax.figure)


@pytest.mark.mcmc
def test_nutpie_samples_the_log_t_prior_of_tau():
    import arviz as az
    import nutpie

    prior = LogTTau2(-3.41, 2.83)
    with pm.Model() as model:
        prior.to_pymc("tau")
    trace = nutpie.sample(nutpie.compile_pymc_model(model), chains=2, draws=1000, tune=500, seed=11,
                          progress_bar=False)
    draws = trace.posterior["tau"]
    ess = float(az.ess(trace, var_names=["tau"])["tau"])
    flat = draws.values.ravel()
    for q in (0.1, 0.5, 0.9):
        frac = np.mean(flat <= prior.ppf(q))
        assert abs(frac - q) < 5 * math.sqrt(q * (1 - q) / ess)
