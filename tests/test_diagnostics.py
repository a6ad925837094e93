"""Diagnostics: the report catches planted problems and passes a well-specified fit."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_il2.diagnostics import DiagnosticsReport, Thresholds, diagnose
from bayes_il2.diagnostics.checks import Check, worst
from bayes_il2.diagnostics.convergence import convergence_checks, convergence_table
from bayes_il2.diagnostics.loo import loo_by_study
from bayes_il2.diagnostics.predictive import predictive_table
from bayes_il2.modeling import build_binomial_normal, build_nnhm, build_three_level, fit_built
from bayes_il2.priors import HalfCauchy, HalfNormal, Normal

PRIORS = {"mu": Normal(0.0, 2.0), "tau": HalfNormal(0.5)}


def _well_specified_table(k: int = 10, seed: int = 3) -> pd.DataFrame:
    """Effects simulated from the NNHM itself (mu 0.3, tau 0.15)."""
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.02, 0.1, k)
    theta = rng.normal(0.3, 0.15, k)
    return pd.DataFrame({"study_id": [f"g{i}" for i in range(k)], "yi": rng.normal(theta, np.sqrt(vi)), "vi": vi})


@pytest.fixture(scope="module")
def good_fit():
    return fit_built(build_nnhm(_well_specified_table(), priors=PRIORS), chains=2, draws=1000, tune=700, seed=2)


@pytest.fixture(scope="module")
def good_report(good_fit):
    return diagnose(good_fit)


@pytest.fixture(scope="module")
def outlier_report():
    table = _well_specified_table()
    table.loc[4, ["yi", "vi"]] = [3.0, 0.01]  # a precise study far from the rest
    fit = fit_built(build_nnhm(table, priors=PRIORS), chains=2, draws=1000, tune=700, seed=2)
    return diagnose(fit)


# --------------------------------------------------------------------------- planted problems
@pytest.mark.mcmc
def test_centered_model_with_three_studies_and_vague_tau_prior_reports_divergences():
    table = pd.DataFrame({"study_id": ["a", "b", "c"], "yi": [0.1, 0.4, -0.2], "vi": [0.05, 0.08, 0.06]})
    fit = fit_built(build_nnhm(table, priors={"mu": Normal(0, 10), "tau": HalfCauchy(25.0)},
                               parameterization="centered"), chains=2, draws=500, tune=500, seed=1)
    report = diagnose(fit, influence=False, sensitivity=False)
    check = {c.name: c for c in report.checks}["divergences"]
    assert check.status == "fail" and check.value > 0
    assert "non-centered" in check.hint
    assert report.status == "fail"
    assert "divergences fail" in report.verdict


@pytest.mark.mcmc
def test_planted_outlier_has_high_pareto_k_and_the_largest_leave_one_out_shift(outlier_report):
    loo = outlier_report.tables["loo"].set_index("study_id")
    assert loo["pareto_k"].idxmax() == "g4"
    assert loo.loc["g4", "pareto_k"] > 0.7 and loo.loc["g4", "flagged"]
    assert loo.drop(index="g4")["pareto_k"].max() <= 0.7
    influence = outlier_report.tables["influence"].set_index("study_id")
    assert influence["abs_delta_mu_sd"].idxmax() == "g4"
    assert influence.loc["g4", "largest"] and influence["largest"].sum() == 1
    assert {c.name: c for c in outlier_report.checks}["pareto_k"].status == "warn"
    assert "g4" in {c.name: c for c in outlier_report.checks}["predictive_check"].message


@pytest.mark.mcmc
def test_well_specified_fit_passes_every_check(good_report):
    assert {c.status for c in good_report.checks} == {"pass"}, good_report.verdict
    assert good_report.verdict.startswith("PASS")
    names = {c.name for c in good_report.checks}
    assert {"r_hat", "ess_bulk", "ess_tail", "divergences", "tree_depth", "e_bfmi", "predictive_check",
            "pareto_k", "prior_sensitivity"} <= names
    assert {"convergence", "predictive", "loo", "influence", "power_scaling", "tau_prior_grid",
            "model_comparison"} <= set(good_report.tables)


@pytest.mark.mcmc
def test_a_prior_that_contradicts_the_data_is_flagged_by_power_scaling():
    """mu ~ N(2, 0.1) against data centred at 0.3: the pooled estimate moves with the prior."""
    priors = {"mu": Normal(2.0, 0.1), "tau": HalfNormal(0.5)}
    fit = fit_built(build_nnhm(_well_specified_table(), priors=priors), chains=2, draws=1000, tune=700, seed=2)
    check = {c.name: c for c in diagnose(fit, influence=False).checks}["prior_sensitivity"]
    assert check.status == "warn" and check.value > 0.05
    assert "conflict" in check.message and check.hint


def test_prior_sensitivity_check_decides_on_the_location_only():
    from bayes_il2.diagnostics.sensitivity import prior_sensitivity_check

    table = pd.DataFrame({"parameter": ["mu", "tau"], "prior": [0.02, 0.3], "likelihood": [0.1, 0.02],
                          "diagnosis": ["✓", "potential strong prior / weak likelihood"]})
    check = prior_sensitivity_check(table, 0.05)
    assert check.status == "pass" and check.value == pytest.approx(0.02)
    assert "also prior-sensitive: tau 0.300" in check.message
    flagged = prior_sensitivity_check(table.assign(prior=[0.08, 0.3]), 0.05)
    assert flagged.status == "warn"
    assert prior_sensitivity_check(table[table["parameter"] == "tau"], 0.05) is None


def test_a_prior_sensitivity_that_could_not_be_computed_is_not_a_pass():
    # NaN > 0.05 is False: a log_t_tau2(0, 1e6) prior (its density overflows) was reported "(✓)"
    from bayes_il2.diagnostics.sensitivity import prior_sensitivity_check

    table = pd.DataFrame({"parameter": ["mu"], "prior": [np.nan], "likelihood": [np.nan], "diagnosis": ["✓"]})
    check = prior_sensitivity_check(table, 0.05)
    assert check.status == "warn" and "could not be computed" in check.message


@pytest.mark.mcmc
def test_report_json_round_trips(good_report, tmp_path):
    text = good_report.to_json()
    json.loads(text)  # strict JSON: no NaN tokens
    back = DiagnosticsReport.from_json(text)
    assert back.checks == good_report.checks
    assert back.verdict == good_report.verdict and back.notes == good_report.notes
    assert back.loo_elpd == pytest.approx(good_report.loo_elpd)
    assert set(back.tables) == set(good_report.tables)
    for name, table in good_report.tables.items():
        pd.testing.assert_frame_equal(back.tables[name], table.reset_index(drop=True), check_dtype=False,
                                      check_exact=False, rtol=1e-12)
    path = good_report.write(tmp_path / "diagnostics.json")
    assert DiagnosticsReport.read(path).verdict == good_report.verdict


@pytest.mark.mcmc
def test_prior_grid_and_model_comparison_use_the_exact_engine(good_report):
    grid = good_report.tables["tau_prior_grid"]
    assert {"half-normal(0.25)", "half-normal(1)", "half-Cauchy(0.5)"} <= set(grid["tau_prior"])
    assert (grid["mu_low"] < grid["mu_mean"]).all() and (grid["mu_mean"] < grid["mu_high"]).all()
    comparison = good_report.tables["model_comparison"].set_index("model")
    assert comparison.loc["random effects (NNHM)", "bf_vs_random"] == pytest.approx(1.0)
    ps = good_report.tables["power_scaling"]
    assert set(ps["parameter"]) == {"mu", "tau"}


@pytest.mark.mcmc
def test_binomial_fit_influence_refits_with_the_compiled_model():
    from bayes_il2.inference import compile_count

    table = pd.DataFrame({"study_id": ["s1", "s2", "s3", "s4"], "events_t": [6, 3, 9, 5], "n_t": [30, 25, 40, 20],
                          "events_c": [3, 2, 4, 4], "n_c": [30, 24, 40, 21]})
    fit = fit_built(build_binomial_normal(table, priors={"mu": Normal(0, 1.5), "tau": HalfNormal(0.5)}),
                    chains=2, draws=300, tune=300, seed=4)
    before = compile_count()
    report = diagnose(fit, sensitivity=False)
    assert compile_count() == before
    influence = report.tables["influence"]
    assert list(influence["study_id"]) == ["s1", "s2", "s3", "s4"]
    # importance sampling where Pareto k allows, a refit by the compiled model otherwise
    assert influence["engine"].isin(["psis", "mcmc-refit"]).all()
    assert set(report.tables["predictive"]["variable"]) == {"events_t", "events_c"}


@pytest.mark.mcmc
def test_three_level_predictive_check_uses_the_study_disease():
    table = pd.DataFrame({"study_id": [f"s{i}" for i in range(6)], "disease": ["pSS"] * 3 + ["SLE"] * 3,
                          "yi": [0.4, 0.5, 0.3, 1.2, 1.0, 1.1], "vi": [0.02] * 6})
    fit = fit_built(build_three_level(table), chains=2, draws=300, tune=300, seed=6)
    ppc = predictive_table(fit.idata, disease_of_study=fit.settings["disease_of_study"])
    assert {"mixed_low", "mixed_high", "outside_mixed"} <= set(ppc.columns)
    ppc = ppc.set_index("study_id")
    # a new pSS study is predicted near the pSS mean, a new SLE study near the SLE mean
    assert ppc.loc["s0", "mixed_high"] < ppc.loc["s3", "mixed_high"]


# --------------------------------------------------------------------------- units (no MCMC)
def _synthetic_tree(shift: float, diverging: int = 0, draws: int = 500) -> xr.DataTree:
    rng = np.random.default_rng(0)
    mu = rng.normal(0.0, 1.0, (2, draws))
    mu[1] += shift
    div = np.zeros((2, draws), bool)
    div[0, :diverging] = True
    energy = rng.normal(0.0, 1.0, (2, draws)).cumsum(axis=1) * 0.05 + rng.normal(0, 1, (2, draws))
    coords = {"chain": [0, 1], "draw": np.arange(draws)}
    return xr.DataTree.from_dict({
        "posterior": xr.Dataset({"mu": (("chain", "draw"), mu)}, coords=coords),
        "sample_stats": xr.Dataset({"diverging": (("chain", "draw"), div),
                                    "energy": (("chain", "draw"), energy)}, coords=coords),
    })


def test_disagreeing_chains_fail_r_hat_and_divergences_fail():
    tree = _synthetic_tree(shift=3.0, diverging=5)
    checks = {c.name: c for c in convergence_checks(tree, convergence_table(tree), Thresholds())}
    assert checks["r_hat"].status == "fail" and checks["r_hat"].value > 1.05
    assert checks["divergences"].status == "fail" and checks["divergences"].value == 5
    # a hint names an action the user can take; re-parameterizing is offered only to a centered fit
    assert "--target-accept 0.99" in checks["divergences"].hint and "non-centered" not in checks["divergences"].hint


def test_agreeing_chains_pass_r_hat_and_ess():
    tree = _synthetic_tree(shift=0.0)
    checks = {c.name: c for c in convergence_checks(tree, convergence_table(tree), Thresholds())}
    assert checks["r_hat"].status == "pass"
    assert checks["ess_bulk"].status == "pass" and checks["divergences"].status == "pass"


def test_thresholds_are_the_documented_defaults():
    t = Thresholds()
    assert (t.rhat_max, t.ess_min, t.max_divergences, t.bfmi_min, t.pareto_k_max) == (1.01, 400, 0, 0.3, 0.7)


def test_worst_status_and_verdict_lines():
    assert worst(["pass", "warn", "pass"]) == "warn" and worst([]) == "pass"
    report = DiagnosticsReport(checks=[Check("a", "pass", 1, "", "ok"), Check("b", "fail", 2, "<= 0", "bad")])
    assert report.status == "fail" and report.verdict == "FAIL: b fail (bad)"
    assert [c.name for c in report.failed] == ["b"]


def test_json_writes_nan_as_null_and_reads_it_back():
    report = DiagnosticsReport(checks=[Check("r_hat", "warn", float("nan"), "<= 1.01", "n/a")],
                               tables={"t": pd.DataFrame({"study_id": ["001", "b"], "k": [np.nan, 0.5],
                                                          "flag": [True, False]})})
    back = DiagnosticsReport.from_json(report.to_json())
    assert back.checks[0].value is None
    assert back.tables["t"]["study_id"].tolist() == ["001", "b"]  # ids stay text
    assert np.isnan(back.tables["t"]["k"].iloc[0]) and back.tables["t"]["flag"].tolist() == [True, False]


def test_loo_needs_two_studies_and_a_log_likelihood():
    tree = _synthetic_tree(shift=0.0)
    assert loo_by_study(tree) is None


@pytest.mark.mcmc
def test_refit_loo_agrees_with_the_exact_engine(good_fit):
    """log p(y_i | y_-i) from a weight-0 refit matches the exact engine within its Monte-Carlo error."""
    import arviz as az
    from scipy.special import logsumexp

    from bayes_il2.diagnostics.exact_bridge import exact_loo_elpd
    from bayes_il2.diagnostics.loo import refit_loo_elpd

    exact = exact_loo_elpd(good_fit, "g3")
    mcmc = refit_loo_elpd(good_fit, "g3")
    out = good_fit.refitter.fit(weight=[0.0 if s == "g3" else 1.0 for s in good_fit.refitter.built.study_ids])
    ll = out.idata["log_likelihood"]["y"].sel(study_id="g3")
    lik = np.exp(ll - float(logsumexp(np.asarray(ll))))
    se = float(az.mcse(lik.to_dataset(name="l"), method="mean")["l"]) / float(lik.mean())  # delta method
    assert mcmc == pytest.approx(float(logsumexp(np.asarray(ll)) - np.log(ll.size)))
    assert abs(mcmc - exact) < 4 * se, (mcmc, exact, se)


@pytest.mark.mcmc
def test_exact_loo_of_an_outlier_is_the_closed_form_mixture(outlier_report):
    loo = outlier_report.tables["loo"].set_index("study_id")
    assert loo.loc["g4", "elpd_method"] == "exact"
    assert np.isfinite(loo.loc["g4", "elpd_i"]) and loo.loc["g4", "elpd_i"] < loo.drop(index="g4")["elpd_i"].min()


@pytest.mark.mcmc
def test_a_fit_loaded_from_disk_is_diagnosed_without_its_model(good_fit, tmp_path):
    pytest.importorskip("netCDF4", reason="posterior.nc is written with netCDF4 (a project dependency)")
    from bayes_il2.fit import Fit

    loaded = Fit.load(good_fit.to_netcdf(tmp_path / "posterior.nc"))
    report = diagnose(loaded)
    assert {"convergence", "loo", "influence"} <= set(report.tables)
    assert "power_scaling" not in report.tables
    assert any("power-scaling" in note for note in report.notes)


@pytest.mark.mcmc
def test_chosen_log_prior_equals_pymcs_and_gives_the_same_power_scaling(good_fit):
    """The numpy log prior of the chosen priors (no PyTensor compilation) is PyMC's, and psense on it
    is what psense gave on PyMC's whole log_prior group (the earlier code path)."""
    import pymc as pm

    from bayes_il2._arviz import arviz_stats
    from bayes_il2.diagnostics.sensitivity import chosen_log_prior, power_scaling_table

    ours = chosen_log_prior(good_fit)
    assert set(ours.data_vars) == {"mu", "tau"}
    reference = good_fit.idata.copy()
    pm.stats.compute_log_prior(reference, model=good_fit.model, progressbar=False)
    for name in ("mu", "tau"):
        # equal up to a constant of ~2e-9 (PyMC's rounding of the normalising constant), which the
        # power-scaling weights, normalised, do not see
        difference = ours[name].values - reference["log_prior"][name].values
        assert abs(difference.mean()) < 1e-8 and np.ptp(difference) < 1e-12
    table = power_scaling_table(good_fit).set_index("parameter")
    before = arviz_stats().psense_summary(reference, var_names=["mu", "tau"], prior_var_names=["mu", "tau"])
    np.testing.assert_allclose(table.loc[["mu", "tau"], ["prior", "likelihood"]].to_numpy(dtype=float),
                               before.loc[["mu", "tau"], ["prior", "likelihood"]].to_numpy(dtype=float), rtol=1e-9)
