"""The Fit object: summaries on the model and natural scale, metadata, persistence, entry point."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_il2.api import meta_analysis
from bayes_il2.errors import ModelError
from bayes_il2.effects import natural_scale
from bayes_il2.fit import Fit, data_fingerprint
from bayes_il2.priors import HalfNormal, Normal

EVENTS = pd.DataFrame({"study_id": ["s1", "s2", "s3", "s4"], "disease": ["pSS", "pSS", "SLE", "SLE"],
                       "events_t": [6, 3, 9, 5], "n_t": [30, 25, 40, 20],
                       "events_c": [3, 2, 4, 4], "n_c": [30, 24, 40, 21]})
COLUMNS = ["parameter", "coord", "mean", "median", "sd", "eti_low", "eti_high", "hdi_low", "hdi_high",
           "ess_bulk", "ess_tail", "r_hat", "mcse_mean"]


@pytest.fixture(scope="module")
def or_fit():
    return meta_analysis(EVENTS, model="binomial_normal", tau_prior=HalfNormal(0.5), mu_prior=Normal(0, 1.5),
                         chains=2, draws=400, tune=400, seed=8)


@pytest.mark.mcmc
def test_fit_carries_the_contract_metadata(or_fit):
    assert (or_fit.family, or_fit.measure, or_fit.sampler, or_fit.seed) == ("binomial_normal", "OR", "nutpie", 8)
    assert or_fit.data_fingerprint == data_fingerprint(EVENTS)
    assert {"pymc", "nutpie", "arviz", "numpy"} <= set(or_fit.versions)
    assert or_fit.priors["tau"] == HalfNormal(0.5) and or_fit.priors["mu"] == Normal(0, 1.5)
    assert {"posterior", "sample_stats", "log_likelihood", "posterior_predictive", "observed_data",
            "constant_data"} <= set(or_fit.idata.children)
    assert or_fit.settings["chains"] == 2 and or_fit.settings["variant"] == "contrast"
    assert list(or_fit.draws("theta")["study_id"].values) == ["s1", "s2", "s3", "s4"]


@pytest.mark.mcmc
def test_summary_has_one_row_per_scalar_and_every_column(or_fit):
    table = or_fit.summary()
    assert list(table.columns) == COLUMNS
    assert "theta[s3]" in table.index and "mu" in table.index
    assert not any(label.startswith(("theta_z", "theta_new_z")) for label in table.index)
    row = table.loc["mu"]
    assert row["eti_low"] < row["median"] < row["eti_high"]
    assert row["hdi_low"] < row["hdi_high"]
    mu = np.asarray(or_fit.draws("mu")).ravel()
    assert row["mean"] == pytest.approx(mu.mean())
    assert row["eti_low"] == pytest.approx(np.quantile(mu, 0.025))


@pytest.mark.mcmc
def test_natural_scale_summary_is_the_odds_ratio(or_fit):
    model = or_fit.summary(["mu", "tau"])
    natural = or_fit.summary(["mu", "tau"], scale="natural")
    mu = np.asarray(or_fit.draws("mu")).ravel()
    assert natural.loc["mu", "mean"] == pytest.approx(np.exp(mu).mean())
    assert natural.loc["mu", "eti_high"] == pytest.approx(np.quantile(np.exp(mu), 0.975))
    assert natural.loc["mu", "median"] == pytest.approx(np.exp(model.loc["mu", "median"]), rel=1e-2)
    pd.testing.assert_series_equal(natural.loc["tau"], model.loc["tau"])  # SDs stay on the model scale


@pytest.mark.mcmc
def test_summary_rejects_bad_arguments(or_fit):
    with pytest.raises(ModelError, match="scale"):
        or_fit.summary(scale="log")
    with pytest.raises(ModelError, match="hdi_prob"):
        or_fit.summary(hdi_prob=1.5)
    with pytest.raises(ModelError, match="'nope' is not a posterior variable"):
        or_fit.summary(["nope"])


def test_natural_transforms_by_measure():
    assert natural_scale("OR")(np.log(2.0)) == pytest.approx(2.0)
    assert natural_scale("PLO")(0.0) == pytest.approx(0.5)
    assert natural_scale("MD")(1.5) == pytest.approx(1.5)


@pytest.mark.mcmc
def test_fit_round_trips_through_netcdf(or_fit, tmp_path):
    pytest.importorskip("netCDF4", reason="posterior.nc is written with netCDF4 (a project dependency)")
    path = or_fit.to_netcdf(tmp_path / "posterior.nc")
    back = Fit.load(path)
    np.testing.assert_array_equal(np.asarray(back.draws("mu")), np.asarray(or_fit.draws("mu")))
    assert (back.family, back.measure, back.seed, back.data_fingerprint) == (
        or_fit.family, or_fit.measure, or_fit.seed, or_fit.data_fingerprint)
    assert back.model is None and back.priors == or_fit.priors
    pd.testing.assert_frame_equal(back.data, or_fit.data, check_dtype=False)
    pd.testing.assert_frame_equal(back.summary(["mu"]), or_fit.summary(["mu"]))


def test_data_fingerprint_changes_with_any_value():
    assert data_fingerprint(EVENTS) == data_fingerprint(EVENTS.copy())
    assert data_fingerprint(EVENTS) != data_fingerprint(EVENTS.assign(n_c=[30, 24, 40, 22]))


@pytest.mark.mcmc
def test_meta_analysis_single_arm_summary_on_probability_scale():
    rates = EVENTS.rename(columns={"events_t": "events", "n_t": "n"})[["study_id", "disease", "events", "n"]]
    fit = meta_analysis(rates, model="single_arm", levels=2, tau_prior=HalfNormal(0.5),
                        priors={"tau_between": HalfNormal(0.5)}, mu_prior=Normal(-1, 1),
                        chains=2, draws=300, tune=300, seed=9)
    assert fit.measure == "PLO" and fit.priors["tau_within"] == HalfNormal(0.5)
    table = fit.summary(["mu", "p_pooled", "p_disease"], scale="natural")
    assert table.loc["mu", "mean"] == pytest.approx(table.loc["p_pooled", "mean"])
    assert {"p_disease[SLE]", "p_disease[pSS]"} <= set(table.index)


def test_meta_analysis_rejects_unknown_models_and_misplaced_covariates():
    with pytest.raises(ModelError, match="model must be one of"):
        meta_analysis(EVENTS, model="network")
    with pytest.raises(ModelError, match="meta-regression"):
        meta_analysis(EVENTS, model="binomial_normal", covariates=["disease"])
