"""PyMC models with partially reported results (bayes_il2.modeling.partial): agreement with the exact
engine, latent standard errors, aggregates on another scale, regimen covariates and predictions for
a disease without data."""
from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest

from bayes_il2 import exact
from bayes_il2.errors import ModelError
from bayes_il2.modeling import build_nnhm, build_three_level, fit_built
from bayes_il2.modeling.partial import is_partial, predict_new_study, prepare_rows
from bayes_il2.priors import HalfNormal, Normal

INF = np.inf
PRIORS = {"mu": Normal(0.0, 2.0), "tau": HalfNormal(0.5)}


def known_se_table() -> pd.DataFrame:
    """Four complete rows, a lower bound, a one-sided P < 0.001, an exact two-sided P of unknown
    direction, and an aggregate of five trials (all with known se)."""
    return pd.DataFrame({
        "study_id": list("abcdefgh"), "measure": "ROMC",
        "info": ["complete"] * 4 + ["bound", "pvalue", "pvalue", "aggregate"],
        "yi": [0.9, 0.5, 1.2, 0.7, np.nan, np.nan, np.nan, 0.8],
        "vi": [0.04, 0.06, 0.05, 0.08, 0.05, 0.07, 0.04, 0.02],
        "y_low": [np.nan] * 4 + [np.log(2.5), np.nan, np.nan, np.nan],
        "y_high": [np.nan] * 4 + [INF, np.nan, np.nan, np.nan],
        "z_low": [np.nan] * 5 + [3.29, 2.68, np.nan], "z_high": [np.nan] * 5 + [INF, 2.72, np.nan],
        "direction": [np.nan] * 5 + [1, 0, np.nan], "k_members": [np.nan] * 7 + [5]})


@pytest.fixture(scope="module")
def known_se_fit():
    return fit_built(build_nnhm(known_se_table(), priors=PRIORS), draws=1500, tune=1000, chains=2,
                     target_accept=0.95, seed=3)


def test_mcmc_agrees_with_the_exact_engine_within_four_mcse(known_se_fit):
    reference = exact.nnhm_partial(known_se_table(), PRIORS["tau"], PRIORS["mu"])
    post = known_se_fit.idata["posterior"]
    for name in ("mu", "tau", "theta_new"):
        draws = post[name]
        mcse = float(az.mcse(np.asarray(draws), method="mean"))
        assert abs(float(draws.mean()) - getattr(reference, name).mean) < 4 * mcse, name
        mcse_sd = float(az.mcse(np.asarray(draws), method="sd"))
        assert abs(float(draws.std()) - getattr(reference, name).sd) < 4 * mcse_sd, name


def test_every_row_kind_has_a_finite_integrated_log_likelihood(known_se_fit):
    ll = known_se_fit.idata["log_likelihood"]["y"]
    assert ll.sizes["study_id"] == 8
    assert np.isfinite(ll.values).all()


def test_a_table_of_complete_rows_gives_the_unchanged_model():
    table = known_se_table().iloc[:4]
    assert not is_partial(table)
    plain = build_nnhm(table.drop(columns=["info"]), priors=PRIORS)
    tagged = build_nnhm(table, priors=PRIORS)
    assert sorted(v.name for v in tagged.model.free_RVs) == sorted(v.name for v in plain.model.free_RVs) \
        == ["mu", "tau", "theta_new_z", "theta_z"]
    a = fit_built(plain, draws=100, tune=100, chains=1, seed=5)
    b = fit_built(tagged, draws=100, tune=100, chains=1, seed=5)
    np.testing.assert_array_equal(a.idata["posterior"]["mu"].values, b.idata["posterior"]["mu"].values)


@pytest.mark.parametrize("change, rule", [
    ({"info": "guess"}, "info"),
    ({"info": "bound", "y_low": 1.0, "y_high": 0.5}, "y_low/y_high"),
    ({"info": "pvalue", "z_low": -1.0, "z_high": INF, "direction": 0}, "z_low"),
    ({"info": "no_spread", "vi": np.nan}, "number of patients"),
    ({"info": "aggregate", "k_members": np.nan}, "k_members"),
])
def test_bad_partial_rows_are_rejected_naming_the_study_and_column(change, rule):
    table = known_se_table().iloc[:4].copy()
    for column, value in change.items():
        table.loc[0, column] = value
    with pytest.raises(ModelError, match="study 'a'") as err:
        prepare_rows(table)
    assert rule in str(err.value)


def latent_table() -> pd.DataFrame:
    """ROMC rows with latent se (no spread, P only), CVs reported by two rows, two arms of one trial,
    a published pooled SMD (converted through the latent CV), regimen columns."""
    return pd.DataFrame({
        "study_id": ["A", "B", "C", "D", "D", "E", "F"],
        "arm_id": ["1", "1", "1", "lo", "hi", "1", "agg"],
        "disease": ["RA", "RA", "SLE", "SLE", "SLE", "ALS", "SLE"],
        "measure": ["ROMC"] * 6 + ["SMCR"],
        "info": ["complete", "complete", "no_spread", "pvalue", "pvalue", "approximate", "aggregate"],
        "yi": [0.8, 1.1, 0.9, np.nan, np.nan, np.log(3.0), 1.096],
        "vi": [0.04, 0.05, np.nan, np.nan, np.nan, 0.05, ((1.649 - 0.544) / 3.92) ** 2],
        "z_low": [np.nan] * 3 + [2.9, 3.9, np.nan, np.nan], "z_high": [np.nan] * 3 + [INF, INF, np.nan, np.nan],
        "direction": [np.nan] * 3 + [1, 1, np.nan, np.nan],
        "n": [12, 10, 10, 27, 27, 12, np.nan], "test": "paired",
        "cv_pre": [0.35, 0.45, np.nan, np.nan, np.nan, np.nan, np.nan],
        "cv_post": [0.5, 0.4, np.nan, np.nan, np.nan, np.nan, np.nan],
        "k_members": [np.nan] * 6 + [8],
        "schedule": ["daily_x5", "daily_x5", "daily_x5", "every_other_day", "daily_x5", "daily_x5", "daily_x5"],
    })


@pytest.fixture(scope="module")
def three_level_fit():
    built = build_three_level(latent_table(), covariates=["schedule"], extra_diseases=["pSS"],
                              priors={"mu": Normal(0, 2), "tau_within": HalfNormal(0.5),
                                      "tau_between": HalfNormal(0.5), "beta": Normal(0, 1)})
    return fit_built(built, draws=500, tune=500, chains=2, target_accept=0.95, seed=11)


def test_latent_se_rows_learn_the_cv_from_rows_that_report_it(three_level_fit):
    post = three_level_fit.idata["posterior"]
    # four reported CVs (0.35-0.5) pull the CV distribution's mean towards log 0.42 from its prior log 0.4 +- 1
    assert abs(float(post["cv_log_mean"].mean()) - np.log(0.42)) < 0.35
    se = post["se"].sel(study_id="C")
    assert float(se.std()) > 0  # latent
    assert 0 < float(post["r"].mean()) < 1
    assert np.isfinite(three_level_fit.idata["log_likelihood"]["y"].values).all()


def test_arms_of_one_trial_share_its_effect_and_differ_by_regimen(three_level_fit):
    post = three_level_fit.idata["posterior"]
    assert post.sizes["trial"] == 5  # A, B, C, D (two arms), E; the aggregate has none
    beta = post["beta"].sel(covariate="schedule[every_other_day]")
    diff = post["theta"].sel(study_id="D:lo") - post["theta"].sel(study_id="D:hi")
    np.testing.assert_allclose(diff.values, beta.values, atol=1e-10)


def test_a_disease_without_data_gets_a_labelled_prediction(three_level_fit):
    pred = predict_new_study(three_level_fit, disease="pSS", schedule="daily_x5")
    post = three_level_fit.idata["posterior"]
    assert pred.name == "theta_pred" and pred.attrs["kind"] == "prediction"
    assert str(pred.coords["disease"].values) == "pSS"
    # a new pSS study: the pSS mean (between-disease spread) plus a new study's spread
    expected_sd = np.sqrt(float(post["mu_disease"].sel(disease="pSS").var()) + float((post["tau_within"] ** 2).mean()))
    assert float(pred.std()) == pytest.approx(expected_sd, rel=0.15)
    assert float(post["mu_disease"].sel(disease="pSS").std()) > float(post["mu_disease"].sel(disease="RA").std())
    with pytest.raises(ModelError, match="dose"):
        predict_new_study(three_level_fit, disease="pSS", dose="1")


def test_a_pss_row_once_added_is_pooled(three_level_fit):
    table = pd.concat([latent_table(), pd.DataFrame([{
        "study_id": "P", "arm_id": "1", "disease": "pSS", "measure": "ROMC", "info": "complete", "yi": 0.6,
        "vi": 0.02, "n": 20, "test": "paired", "schedule": "daily_x5"}])], ignore_index=True)
    built = build_three_level(table, covariates=["schedule"], extra_diseases=["pSS"],
                              priors={"mu": Normal(0, 2), "tau_within": HalfNormal(0.5),
                                      "tau_between": HalfNormal(0.5), "beta": Normal(0, 1)})
    fit = fit_built(built, draws=500, tune=500, chains=2, target_accept=0.95, seed=11)
    before = three_level_fit.idata["posterior"]["mu_disease"].sel(disease="pSS")
    after = fit.idata["posterior"]["mu_disease"].sel(disease="pSS")
    assert "P" in list(fit.idata["posterior"]["theta"].coords["study_id"].values)
    assert float(after.std()) < 0.7 * float(before.std())


def test_the_headline_is_reported_on_the_standardized_scale_too(three_level_fit):
    from bayes_il2.modeling.partial import on_standardized_scale

    post = three_level_fit.idata["posterior"]
    smd = on_standardized_scale(three_level_fit, "mu")
    np.testing.assert_allclose(smd.values, np.expm1(post["mu"].values) / np.exp(post["cv_log_mean"].values))
    fixed = on_standardized_scale(three_level_fit, "mu", cv_pre=0.5)
    np.testing.assert_allclose(fixed.values, np.expm1(post["mu"].values) / 0.5)


def test_latent_se_follows_becker_for_smcr_and_lajeunesse_for_romc():
    import pymc as pm

    smcr = pd.DataFrame({"study_id": ["a", "b", "c"], "measure": "SMCR", "info": ["complete", "no_spread", "pvalue"],
                         "yi": [0.8, 0.6, np.nan], "vi": [0.05, np.nan, np.nan], "n": [10, 14, np.nan],
                         "n_a": [np.nan, np.nan, 12], "n_b": [np.nan, np.nan, 9],
                         "test": ["paired", "paired", "two_sample"], "z_low": [np.nan, np.nan, 2.0],
                         "z_high": [np.nan, np.nan, INF], "direction": [np.nan, np.nan, 1]})
    model = build_nnhm(smcr, priors=PRIORS).model
    se, r, theta = pm.draw([model["se"], model["r"], model["theta"]], draws=50, random_seed=2)
    np.testing.assert_allclose(se[:, 0], np.sqrt(0.05))
    np.testing.assert_allclose(se[:, 1] ** 2, 2 * (1 - r) / 14 + theta[:, 1] ** 2 / 28)
    np.testing.assert_allclose(se[:, 2] ** 2, 2 * (1 - r) * (1 / 12 + 1 / 9) + theta[:, 2] ** 2 / (2 * 21))

    romc = pd.DataFrame({"study_id": ["a", "b", "c"], "measure": "ROMC", "info": ["complete", "no_spread", "no_spread"],
                         "yi": [0.8, 0.6, 0.7], "vi": [0.05, np.nan, np.nan], "n": [10, 14, 8],
                         "cv_pre": [0.4, 0.3, np.nan], "cv_post": [0.5, np.nan, np.nan], "r": [np.nan, np.nan, 0.7]})
    model = build_nnhm(romc, priors=PRIORS).model
    se, r, cv = pm.draw([model["se"], model["r"], model["cv_latent"]], draws=50, random_seed=3)
    # row b: cv_pre 0.3 reported, cv_post latent (cv_latent[1]), shared r; row c: both latent, its own r = 0.7
    b_post, c_pre, c_post = cv[:, 1], cv[:, 0], cv[:, 2]
    np.testing.assert_allclose(se[:, 1] ** 2, (0.09 + b_post ** 2 - 2 * r * 0.3 * b_post) / 14)
    np.testing.assert_allclose(se[:, 2] ** 2, (c_pre ** 2 + c_post ** 2 - 2 * 0.7 * c_pre * c_post) / 8)


def test_a_standardized_aggregate_enters_a_ratio_model_through_the_cv():
    import pymc as pm

    table = latent_table().iloc[[0, 1, 6]].reset_index(drop=True)
    model = build_nnhm(table, priors=PRIORS).model
    mean_row, mu, cv, tau2, tau = pm.draw([model["mean_row"], model["mu"], model["cv_latent"], model["tau2_row"],
                                           model["tau"]], draws=50, random_seed=4)
    np.testing.assert_allclose(mean_row[:, 2], np.expm1(mu) / cv[:, 0])
    np.testing.assert_allclose(tau2_row := tau2[:, 2], tau ** 2 * (np.exp(mu) / cv[:, 0]) ** 2 / 8)
    assert np.all(tau2_row >= 0)


def test_the_registry_table_and_the_likelihoods_agree_on_the_scale_of_an_aggregate():
    """The effects builder marks a published SMD by its `scale` column (the table's `measure` is the
    model scale); the likelihood must read that and convert it, not take 1.096 as a log ratio."""
    from bayes_il2.effects.partial import treg_partial_effects
    from bayes_il2.evidence import load_registry
    from bayes_il2.modeling.partial import prepare_rows

    table, _ = treg_partial_effects(load_registry(), measure="ROMC")
    rows = prepare_rows(table, measure="ROMC")
    aggregate = (table["info"] == "aggregate").to_numpy()
    assert aggregate.any()
    assert rows.converted[aggregate].all() and not rows.converted[~aggregate].any()
