"""Adverse-event rates on exposure: observation windows, the cloglog model against exact numerical
integration of a one-study model, parameter recovery, the spec option and the stated exposure model."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_il2.effects.exposure import WEEKS_PER_YEAR, cloglog_log_rate, exposure_table
from bayes_il2.errors import ModelError, SpecError
from bayes_il2.modeling import build_single_arm, fit_built
from bayes_il2.modeling._nested import arm_loglik
from bayes_il2.priors import HalfNormal, Normal
from bayes_il2.specs import load_spec, parse_spec

PRIORS = {"mu": Normal(-1.5, 2.0), "tau": HalfNormal(1.0)}
FAST = {"chains": 2, "draws": 500, "tune": 500}


def _table(**columns):
    base = {"study_id": ["a", "b", "c", "d"], "arm_id": ["x"] * 4, "outcome": ["serious_ae"] * 4,
            "events": [1.0, 0.0, 2.0, 3.0], "n": [20.0, 10.0, 15.0, 12.0],
            "week_start": [0.0, np.nan, 0.0, 12.0], "week_end": [24.0, 12.0, 0.0, 30.0]}
    base.update(columns)
    return pd.DataFrame(base)


def test_exposure_is_the_window_and_rows_without_one_are_excluded_with_the_reason():
    kept, excluded = exposure_table(_table())
    assert kept["study_id"].tolist() == ["a", "d"]
    assert kept["exposure_weeks"].tolist() == [24.0, 18.0]
    np.testing.assert_allclose(kept["exposure_years"], np.array([24.0, 18.0]) / (365.25 / 7))
    assert (kept["measure"] == "IRLN").all()
    reasons = dict(zip(excluded["study_id"], excluded["reason"]))
    assert "no observation window" in reasons["b"] and "zero or negative length" in reasons["c"]


def test_display_log_rate_is_the_cloglog_estimate_with_its_delta_variance():
    yi, vi, corrected = cloglog_log_rate(np.array([5.0, 0.0]), np.array([40.0, 10.0]), np.array([0.5, 0.25]))
    p = 5 / 40
    assert yi[0] == pytest.approx(np.log(-np.log(1 - p) / 0.5))
    assert vi[0] == pytest.approx(p / (40 * (1 - p) * np.log(1 - p) ** 2))
    assert corrected.tolist() == [False, True]
    assert yi[1] == pytest.approx(np.log(-np.log(1 - 0.5 / 11) / 0.25))


def test_registry_serious_ae_rows_without_a_window_are_excluded(tmp_path):
    from bayes_il2.evidence import load_registry
    from bayes_il2.pipeline import build_effects

    spec = load_spec("models/adverse_events_rate.toml")
    table, excluded = build_effects(spec, load_registry(), outcome="serious_ae")
    assert spec.model.exposure == "cloglog"
    assert (table["exposure_weeks"] > 0).all() and (table["measure"] == "IRLN").all()
    no_window = excluded[excluded["reason"].str.contains("no observation window")]
    assert set(no_window["study_id"]) >= {"Saadoun2011_HCVvasc", "Castela2014_AA"}
    faridar = table[table["study_id"] == "Faridar2025_AD"]
    assert len(faridar) == 2 and (faridar["exposure_weeks"] == 30).all()


# --------------------------------------------------------------------------- spec
def _spec(model=None, data=None):
    raw = {"name": "x", "title": "t", "question": "q",
           "data": {"kind": "event_rate", "outcome": "serious_ae", "measure": "IRLN", **(data or {})},
           "model": {"family": "single_arm", "exposure": "cloglog", **(model or {})}}
    return parse_spec(raw)


def test_spec_exposure_option_is_validated():
    assert _spec().model.exposure == "cloglog"
    with pytest.raises(SpecError, match="model.exposure"):
        _spec(model={"exposure": "poisson"})
    with pytest.raises(SpecError, match="IRLN"):
        _spec(data={"measure": "PLO"})
    with pytest.raises(SpecError, match="IRLN"):
        _spec(model={"exposure": "none"})
    with pytest.raises(SpecError, match="single_arm"):
        parse_spec({"name": "x", "title": "t", "question": "q",
                    "data": {"kind": "event_contrast", "outcome": "infection", "measure": "OR"},
                    "model": {"family": "binomial_normal", "exposure": "cloglog"}})


def test_builder_needs_exposure_for_cloglog_and_the_matching_measure():
    table = pd.DataFrame({"study_id": ["a"], "events": [1], "n": [10]})
    with pytest.raises(ModelError, match="exposure_years"):
        build_single_arm(table, exposure="cloglog")
    with pytest.raises(ModelError, match="IRLN"):
        build_single_arm(table.assign(exposure_years=0.5), exposure="cloglog", measure="PLO")


def test_every_ae_analysis_states_its_exposure_model():
    from bayes_il2.report.describe import data_words
    from bayes_il2.safety.statements import CONTRAST_STATEMENT, exposure_headline, exposure_statement

    assert "per patient-year" in exposure_statement("cloglog")
    assert "no exposure model" in exposure_statement("none") and "no exposure model" in CONTRAST_STATEMENT
    words = data_words({"data": {"kind": "event_rate", "outcome": "serious_ae"}, "model": {"exposure": "cloglog"}})
    assert "constant hazard" in words
    summary = pd.DataFrame({"parameter": ["rate_pooled", "risk_pooled"], "median": [0.2, 0.045],
                            "eti_low": [0.05, 0.012], "eti_high": [0.8, 0.17]})
    line = exposure_headline(summary, {"reference_weeks": 12.0}, "k = 3 studies (4 arms)")
    assert line.startswith("rate 0.2 per patient-year [95% CrI 0.05, 0.8]; risk over 12 weeks 4.5%")
    assert line.endswith("k = 3 studies (4 arms)")


# --------------------------------------------------------------------------- against exact integration
ONE = pd.DataFrame({"study_id": ["only"], "events": [3], "n": [40], "exposure_years": [26 / WEEKS_PER_YEAR]})


def _exact_one_study():
    """Posterior of mu in the one-study model by numerical integration over (mu, tau); the study's
    log rate is integrated out by quadrature checked against brute force in test_ae_nested."""
    mu = np.linspace(-9.0, 6.0, 601)[:, None]
    tau = np.linspace(1e-4, 5.0, 400)[None, :]
    loglik = arm_loglik(3, 40, mu, tau, offset=np.log(26 / WEEKS_PER_YEAR), link="cloglog")
    logpost = loglik + stats.norm.logpdf(mu, -1.5, 2.0) + stats.halfnorm.logpdf(tau, scale=1.0)
    w = np.exp(logpost - logpost.max())
    dens = np.trapezoid(w, tau[0], axis=1)
    dens /= np.trapezoid(dens, mu[:, 0])
    return mu[:, 0], dens


@pytest.mark.mcmc
def test_one_study_cloglog_posterior_matches_exact_integration():
    import arviz as az

    grid, dens = _exact_one_study()
    mean = np.trapezoid(grid * dens, grid)
    cdf = np.concatenate([[0.0], np.cumsum(np.diff(grid) * (dens[1:] + dens[:-1]) / 2)])
    q10, q50, q90 = np.interp([0.1, 0.5, 0.9], cdf / cdf[-1], grid)
    fit = fit_built(build_single_arm(ONE, priors=PRIORS, exposure="cloglog"), chains=4, draws=1000, tune=1000,
                    seed=8, target_accept=0.95)
    post = fit.idata["posterior"]
    draws = np.asarray(post["mu"]).ravel()
    mcse = float(az.mcse(post["mu"], method="mean"))
    assert abs(draws.mean() - mean) < 4 * mcse + 0.01
    for q, exact in ((0.1, q10), (0.5, q50), (0.9, q90)):
        mcse_q = float(az.mcse(post["mu"], method="quantile", prob=q))
        assert abs(np.quantile(draws, q) - exact) < 4 * mcse_q + 0.02, (q, np.quantile(draws, q), exact)
    years = 12 / WEEKS_PER_YEAR
    np.testing.assert_allclose(np.asarray(post["rate_pooled"]), np.exp(np.asarray(post["mu"])))
    np.testing.assert_allclose(np.asarray(post["risk_pooled"]), 1 - np.exp(-np.exp(np.asarray(post["mu"])) * years))


def _simulate_windows(rng, k=25, mu=np.log(0.4), tau=0.5):
    weeks = rng.choice([1, 4, 8, 12, 24, 52, 78], size=k).astype(float)
    n = rng.integers(30, 150, size=k)
    rate = np.exp(mu + tau * rng.normal(size=k))
    events = rng.binomial(n, 1 - np.exp(-rate * weeks / WEEKS_PER_YEAR))
    return pd.DataFrame({"study_id": [f"w{i}" for i in range(k)], "events": events, "n": n,
                         "exposure_years": weeks / WEEKS_PER_YEAR})


@pytest.mark.mcmc
def test_cloglog_model_recovers_a_simulated_rate_across_windows_from_1_to_78_weeks():
    table = _simulate_windows(np.random.default_rng(21))
    fit = fit_built(build_single_arm(table, priors=PRIORS, exposure="cloglog"), **FAST, seed=9, target_accept=0.95)
    post = fit.idata["posterior"]
    for var, truth in (("mu", np.log(0.4)), ("tau", 0.5)):
        low, high = np.quantile(np.asarray(post[var]).ravel(), [0.005, 0.995])
        assert low <= truth <= high, (var, low, high)
    assert fit.measure == "IRLN" and fit.settings["exposure"] == "cloglog"


def test_a_table_without_window_columns_is_excluded_whole_with_the_reason():
    kept, excluded = exposure_table(_table().drop(columns=["week_start", "week_end"]))
    assert kept.empty and len(excluded) == 4
    assert excluded["reason"].str.contains("no observation window").all()
