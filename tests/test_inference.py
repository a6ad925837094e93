"""Sampling: seeds, compiled-model reuse, the PyMC fallback, and the per-study log-likelihood."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import stats

from bayes_il2 import inference
from bayes_il2.errors import ModelError
from bayes_il2.inference import CompiledSampler, compile_count
from bayes_il2.modeling import build_binomial_normal, build_nnhm, fit_built, refit
from bayes_il2.priors import HalfNormal, Normal

TABLE = pd.DataFrame({"study_id": ["a", "b", "c", "d", "e"], "yi": [0.3, 0.1, 0.6, 0.2, 0.45],
                      "vi": [0.04, 0.09, 0.05, 0.02, 0.06]})
PRIORS = {"mu": Normal(0.0, 2.0), "tau": HalfNormal(0.5)}
FAST = {"chains": 2, "draws": 300, "tune": 300}


@pytest.fixture(scope="module")
def fit():
    return fit_built(build_nnhm(TABLE, priors=PRIORS), **FAST, seed=3)


@pytest.mark.mcmc
def test_identical_seeds_give_identical_draws_and_other_seeds_differ(fit):
    compiled = fit.refitter.compiled
    a = compiled.sample(**FAST, seed=3)
    b = compiled.sample(**FAST, seed=3)
    c = compiled.sample(**FAST, seed=4)
    np.testing.assert_array_equal(np.asarray(a["posterior"]["mu"]), np.asarray(b["posterior"]["mu"]))
    np.testing.assert_array_equal(np.asarray(a["posterior"]["mu"]), np.asarray(fit.draws("mu")))
    assert not np.array_equal(np.asarray(a["posterior"]["mu"]), np.asarray(c["posterior"]["mu"]))


@pytest.mark.mcmc
def test_refit_with_new_data_reuses_the_compiled_model(fit):
    before = compile_count()
    shifted = refit(fit, TABLE.assign(yi=TABLE["yi"] + 5.0))
    left_out = refit(fit, weight=[0, 1, 1, 1, 1])
    assert compile_count() == before
    assert shifted.refitter.compiled is fit.refitter.compiled
    # the new data really were used, and the original model's data are restored afterwards
    assert np.median(shifted.draws("mu")) > np.median(fit.draws("mu")) + 3
    assert np.asarray(shifted.idata["observed_data"]["y"]).tolist() == (TABLE["yi"] + 5.0).tolist()
    assert np.asarray(fit.model["yi"].get_value()).tolist() == TABLE["yi"].tolist()
    assert shifted.data_fingerprint != fit.data_fingerprint
    assert left_out.settings["weight"] == [0.0, 1.0, 1.0, 1.0, 1.0]


@pytest.mark.mcmc
def test_a_new_fit_compiles_once(fit):
    before = compile_count()
    fit_built(build_nnhm(TABLE, priors=PRIORS), **FAST, seed=3, reuse_compiled=False)
    assert compile_count() == before + 1


@pytest.mark.mcmc
def test_refit_rejects_a_different_structure(fit):
    with pytest.raises(ModelError, match="shape"):
        fit.refitter.compiled.sample({"yi": np.zeros(3)}, **FAST)
    with pytest.raises(ModelError, match="no data container 'zz'"):
        fit.refitter.compiled.sample({"zz": 1.0}, **FAST)
    with pytest.raises(ModelError, match="weight"):
        refit(fit, weight=[1, 1])


def test_unknown_sampler_is_rejected():
    with pytest.raises(ModelError, match="sampler"):
        CompiledSampler(pm.Model(), "gibbs")


def test_missing_nutpie_falls_back_to_pymc_with_a_warning(monkeypatch):
    monkeypatch.setattr(inference, "nutpie_available", lambda: False)
    with pytest.warns(RuntimeWarning, match="falling back"):
        sampler = CompiledSampler(pm.Model(), "nutpie")
    assert sampler.sampler == "pymc"


@pytest.mark.mcmc
def test_pymc_fallback_samples_with_the_same_variable_names():
    out = fit_built(build_nnhm(TABLE, priors=PRIORS), sampler="pymc", chains=2, draws=200, tune=200, seed=5)
    assert out.sampler == "pymc"
    # PyMC's own NUTS, not nutpie (PyMC 6 chooses nutpie when not told otherwise)
    assert out.idata["posterior"].attrs.get("inference_library") != "nutpie"
    assert "tree_depth" in out.idata["sample_stats"].data_vars
    assert {"mu", "tau", "theta", "theta_new"} <= set(out.posterior.data_vars)
    assert out.idata["log_likelihood"]["y"].dims == ("chain", "draw", "study_id")
    again = fit_built(build_nnhm(TABLE, priors=PRIORS), sampler="pymc", chains=2, draws=200, tune=200, seed=5)
    np.testing.assert_array_equal(np.asarray(out.draws("mu")), np.asarray(again.draws("mu")))


@pytest.mark.mcmc
def test_sample_function_returns_posterior_and_sampler_statistics():
    with pm.Model() as model:
        pm.Normal("x", 0.0, 1.0)
    idata = inference.sample(model, chains=2, draws=200, tune=200, seed=1)
    assert idata["posterior"]["x"].shape == (2, 200)
    assert "diverging" in idata["sample_stats"].data_vars


EVENTS = pd.DataFrame({"study_id": ["s1", "s2", "s3"], "events_t": [4, 0, 7], "n_t": [20, 15, 30],
                       "events_c": [2, 1, 3], "n_c": [20, 14, 30]})


@pytest.mark.mcmc
def test_binomial_log_likelihood_integrates_baseline_and_effect_out():
    from bayes_il2.modeling._common import binomial_pair_study_loglik

    out = fit_built(build_binomial_normal(EVENTS, priors={"alpha": Normal(-1.0, 2.0)}), **FAST, seed=6)
    ll = out.idata["log_likelihood"]["y"]
    assert ll.dims == ("chain", "draw", "study_id") and list(ll["study_id"].values) == ["s1", "s2", "s3"]
    mu, tau = np.asarray(out.draws("mu")), np.asarray(out.draws("tau"))
    row = EVENTS.iloc[1]
    expected = binomial_pair_study_loglik(row["events_c"], row["n_c"], row["events_t"], row["n_t"], -1.0, 2.0, mu, tau)
    np.testing.assert_allclose(np.asarray(ll.sel(study_id="s2")), expected, rtol=1e-12)


@pytest.mark.mcmc
def test_binomial_log_likelihood_sums_both_arms_per_study():
    """With a non-normal baseline prior nothing is integrated: both arms' log pmf are summed."""
    from bayes_il2.priors import StudentT

    table = EVENTS
    out = fit_built(build_binomial_normal(table, priors={"alpha": StudentT(4.0, 0.0, 2.0)}), **FAST, seed=6)
    ll = out.idata["log_likelihood"]["y"]
    assert ll.dims == ("chain", "draw", "study_id")
    assert list(ll["study_id"].values) == ["s1", "s2", "s3"]
    assert set(out.idata["log_likelihood"].data_vars) == {"y"}
    alpha = np.asarray(out.draws("alpha"))
    theta = np.asarray(out.draws("theta"))
    expit = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    expected = (stats.binom.logpmf(table["events_c"].to_numpy(), table["n_c"].to_numpy(), expit(alpha))
                + stats.binom.logpmf(table["events_t"].to_numpy(), table["n_t"].to_numpy(), expit(alpha + theta)))
    np.testing.assert_allclose(np.asarray(ll), expected, rtol=1e-8, atol=1e-8)
    assert set(out.idata["posterior_predictive"].data_vars) == {"events_t", "events_c"}


@pytest.mark.mcmc
def test_leave_out_weight_makes_the_study_a_prediction(fit):
    """With weight 0 the study's likelihood is cancelled: mu, tau are those of the other studies."""
    without = refit(fit, weight=[1, 1, 1, 1, 0])
    direct = fit_built(build_nnhm(TABLE.iloc[:4], priors=PRIORS), chains=2, draws=300, tune=300, seed=3)
    import arviz as az

    for var in ("mu", "tau"):
        a, b = without.draws(var), direct.draws(var)
        se = float(np.hypot(az.mcse(a.to_dataset(), method="mean")[var], az.mcse(b.to_dataset(), method="mean")[var]))
        assert abs(float(a.mean()) - float(b.mean())) < 4 * se


@pytest.mark.mcmc
def test_normal_log_likelihood_integrates_the_study_effect_out(fit):
    """log_likelihood/y of the NNHM is log N(y_i | mu, tau^2 + v_i) at each draw (integrated LOO)."""
    ll = fit.idata["log_likelihood"]["y"]
    mu = np.asarray(fit.draws("mu"))[..., None]
    tau = np.asarray(fit.draws("tau"))[..., None]
    expected = stats.norm.logpdf(TABLE["yi"].to_numpy(), mu, np.sqrt(tau ** 2 + TABLE["vi"].to_numpy()))
    assert ll.dims == ("chain", "draw", "study_id")
    np.testing.assert_allclose(np.asarray(ll), expected, rtol=1e-10, atol=1e-13)  # values near 0: cancellation


@pytest.mark.mcmc
def test_leave_one_out_summarizes_the_refit_without_the_study(fit):
    from bayes_il2.modeling import leave_one_out

    before = compile_count()
    without = leave_one_out(fit, "c")  # the largest effect
    full = leave_one_out(fit, None)
    assert compile_count() == before
    assert set(without) == {"mu_mean", "mu_sd", "mu_low", "mu_high", "tau_median"}
    assert full["mu_mean"] == pytest.approx(float(fit.draws("mu").mean()))
    # the shift (-0.062 exactly, 0.46 posterior sd) needs more than FAST's 600 draws to show reliably
    longer = fit_built(build_nnhm(TABLE, priors=PRIORS), chains=2, draws=2000, tune=1000, seed=3)
    assert leave_one_out(longer, "c")["mu_mean"] < leave_one_out(longer, None)["mu_mean"] - 0.02
    with pytest.raises(ModelError, match="'zz' is not in this fit"):
        leave_one_out(fit, "zz")
