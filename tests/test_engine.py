"""Exact first (bayes_il2.engine): who answers an analysis, and that the exact answer is the right one.

Checked against the exact engine itself (the summary), against independent draws (the Fit's
posterior is a sample from the exact posterior: Kolmogorov-Smirnov against the exact CDF), and
against the MCMC answer the package gave before this change for the same data and seed, within its
Monte-Carlo standard error.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_il2 import exact
from bayes_il2.engine import choose_engine, exact_nnhm_fit, natural_summary, summary
from bayes_il2.errors import ModelError
from bayes_il2.priors import HalfCauchy, HalfNormal, Normal

ROOT = Path(__file__).resolve().parents[1]
# Eight schools (Rubin 1981), as tests/data/eight_schools.csv
SCHOOLS = pd.DataFrame({"study_id": list("ABCDEFGH"), "yi": [28.0, 8, -3, 7, -1, 1, 18, 12],
                        "vi": np.square([15.0, 10, 16, 11, 9, 11, 10, 18])})
PRIORS = {"mu": Normal(0.0, 10.0), "tau": HalfCauchy(5.0)}


@pytest.fixture(scope="module")
def fit():
    return exact_nnhm_fit(SCHOOLS, priors=PRIORS, measure="MD", draws=1000, chains=4, seed=20221110)


@pytest.fixture(scope="module")
def posterior():
    return exact.nnhm(SCHOOLS["yi"], SCHOOLS["vi"], tau_prior=PRIORS["tau"], mu_prior=PRIORS["mu"],
                      labels=list("ABCDEFGH"))


# --------------------------------------------------------------------------- choice
def test_auto_answers_the_nnhm_exactly_and_the_rest_by_mcmc():
    assert choose_engine("auto", "nnhm", [], PRIORS).engine == "exact"
    assert choose_engine("auto", "nnhm", ["dose"], PRIORS).engine == "mcmc"
    assert choose_engine("auto", "binomial_normal", [], {}).engine == "mcmc"
    # three-level: exact since issue #19 when its three priors are given (the builder's defaults
    # otherwise; checked against MCMC within MCSE in tests/test_run_speed.py and below)
    three = {"mu": Normal(0.0, 2.0), "tau_within": HalfNormal(0.5), "tau_between": HalfNormal(0.5)}
    assert choose_engine("auto", "three_level", [], three).engine == "exact"
    assert choose_engine("auto", "three_level", [], {}).engine == "mcmc"
    assert choose_engine("auto", "three_level", ["dose"], three).engine == "mcmc"
    assert choose_engine("mcmc", "three_level", [], three).engine == "mcmc"
    # EXNEX: exact with these priors too (a Normal mu prior; tests/test_exact_exnex.py checks it)
    assert choose_engine("auto", "exnex", [], three).engine == "exact"
    assert choose_engine("auto", "exnex", [], {}).engine == "mcmc"
    assert choose_engine("mcmc", "nnhm", [], PRIORS).engine == "mcmc"


def test_forcing_the_exact_engine_where_it_does_not_apply_is_an_error():
    with pytest.raises(ModelError, match="exact engine does not apply"):
        choose_engine("exact", "binomial_normal", [], {})
    with pytest.raises(ModelError, match="engine must be one of"):
        choose_engine("fast", "nnhm", [], PRIORS)


# --------------------------------------------------------------------------- the exact Fit
def test_summary_is_the_exact_engines(fit, posterior):
    table = summary(fit, scale="model")
    assert table.loc["mu", "mean"] == pytest.approx(posterior.mu.mean, rel=1e-12)
    assert (table.loc["mu", "eti_low"], table.loc["mu", "eti_high"]) == pytest.approx(posterior.mu.interval(0.95))
    assert table.loc["tau", "median"] == pytest.approx(posterior.tau.median, rel=1e-9)
    assert table.loc["theta[A]", "median"] == pytest.approx(posterior.theta("A").median, rel=1e-9)
    assert table.loc["mu", "mcse_mean"] == 0.0
    assert natural_summary(fit).equals(summary(fit, scale="natural"))


def test_draws_are_a_sample_of_the_exact_posterior(fit, posterior):
    tau = np.asarray(fit.draws("tau")).ravel()
    mu = np.asarray(fit.draws("mu")).ravel()
    assert stats.kstest(tau, posterior.tau.cdf).pvalue > 1e-3
    assert stats.kstest(mu, posterior.mu.cdf).pvalue > 1e-3
    theta_a = np.asarray(fit.draws("theta").sel(study_id="A")).ravel()
    assert stats.kstest(theta_a, posterior.theta("A").cdf).pvalue > 1e-3


def test_same_seed_same_draws_other_seed_other_draws():
    a = exact_nnhm_fit(SCHOOLS, priors=PRIORS, measure="MD", draws=200, chains=2, seed=1)
    b = exact_nnhm_fit(SCHOOLS, priors=PRIORS, measure="MD", draws=200, chains=2, seed=1)
    c = exact_nnhm_fit(SCHOOLS, priors=PRIORS, measure="MD", draws=200, chains=2, seed=2)
    assert np.array_equal(a.draws("mu").values, b.draws("mu").values)
    assert not np.array_equal(a.draws("mu").values, c.draws("mu").values)


def test_natural_scale_transforms_locations_not_tau():
    table = SCHOOLS.assign(yi=SCHOOLS["yi"] / 20, vi=SCHOOLS["vi"] / 400)
    priors = {"mu": Normal(0.0, 2.0), "tau": HalfNormal(0.5)}
    fit = exact_nnhm_fit(table, priors=priors, measure="OR", draws=2000, chains=4, seed=3)
    model, natural = summary(fit, scale="model"), summary(fit, scale="natural")
    assert natural.loc["mu", "median"] == pytest.approx(np.exp(model.loc["mu", "median"]), rel=1e-9)
    assert natural.loc["tau", "median"] == model.loc["tau", "median"]
    odds = np.exp(np.asarray(fit.draws("mu")).ravel())  # E[exp(mu)] by the draws, within 4 MC SEs
    assert natural.loc["mu", "mean"] == pytest.approx(odds.mean(), abs=4 * odds.std() / np.sqrt(odds.size))


@pytest.mark.parametrize("measure, back", [("OR", np.exp), ("PLO", lambda x: 1 / (1 + np.exp(-x))), ("MD", lambda x: x)])
def test_natural_scale_shortest_intervals_are_the_narrowest_on_that_scale(measure, back):
    # Newton steps on the model scale with the back-transform's Jacobian must land where a plain
    # minimisation of the natural-scale width over the lower tail probability does.
    from scipy import optimize

    table = SCHOOLS.assign(yi=SCHOOLS["yi"] / 20, vi=SCHOOLS["vi"] / 400)
    priors = {"mu": Normal(0.0, 2.0), "tau": HalfNormal(0.5)}
    fit = exact_nnhm_fit(table, priors=priors, measure=measure, draws=200, chains=2, seed=3)
    natural = summary(fit, scale="natural")
    post = exact.nnhm(table["yi"], table["vi"], tau_prior=priors["tau"], mu_prior=priors["mu"])
    for name, marginal in [("mu", post.mu), ("theta_new", post.theta_new)]:
        width = lambda p, m=marginal: float(np.diff(back(m.ppf(np.array([p, p + 0.95]))))[0])  # noqa: E731
        best = optimize.minimize_scalar(width, bounds=(1e-9, 0.05 - 1e-9), method="bounded", options={"xatol": 1e-12})
        expected = back(marginal.ppf(np.array([best.x, best.x + 0.95])))
        got = natural.loc[name, ["hdi_low", "hdi_high"]].to_numpy(float)
        np.testing.assert_allclose(got, expected, rtol=1e-7)
        assert got[1] - got[0] <= width(best.x) * (1 + 1e-12)


def test_diagnostics_run_on_an_exact_fit(fit):
    from bayes_il2.diagnostics import diagnose

    report = diagnose(fit)
    names = {c.name for c in report.checks}
    assert {"exact_engine", "predictive_check", "prior_sensitivity"} <= names
    assert report.tables["influence"]["engine"].eq("exact").all()
    assert report.tables["loo"]["elpd_method"].eq("exact").all()


def test_exact_answer_is_within_mcse_of_the_previous_mcmc_answer(fit):
    # bayes-il2 fit of eight schools, --tau-prior half_cauchy:5, seed 20221110, 4 x 1000 draws,
    # before this change (nutpie; summary.csv of the warm-cache run): mu mean 6.5546 (MCSE 0.0612),
    # tau mean 3.5948 (MCSE 0.0669).
    table = summary(fit, scale="model")
    assert abs(table.loc["mu", "mean"] - 6.5546) < 3 * 0.0612
    assert abs(table.loc["tau", "mean"] - 3.5948) < 3 * 0.0669


# --------------------------------------------------------------------------- the command line
def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "bayes_il2.cli", *args], capture_output=True, text=True,
                          env=env, timeout=600, cwd=tmp_path)


def test_fit_answers_exactly_says_so_and_records_it(tmp_path):
    SCHOOLS.to_csv(tmp_path / "schools.csv", index=False)
    done = _cli(tmp_path, "fit", "schools.csv", "--tau-prior", "half_cauchy:5", "--out", "out/schools", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "engine: exact engine" in done.stdout
    run = json.loads((tmp_path / "out" / "schools" / "run.json").read_text())
    assert run["engines"] == {"GEN": "exact"}  # no --measure: the generic measure, as printed
    table = pd.read_csv(tmp_path / "out" / "schools" / "summary.csv")
    mu = table[table["parameter"] == "mu"].iloc[0]
    # mu's prior is the data-scaled default MCMC takes too (s = 11, the median SE: Normal(0, 5.5^2)), printed
    assert "priors: default priors for mu" in done.stderr and "Normal(0, 5.5^2)" in done.stderr
    expected = exact.nnhm(SCHOOLS["yi"], SCHOOLS["vi"], tau_prior=HalfCauchy(5.0), mu_prior=Normal(0.0, 5.5))
    assert mu["mean"] == pytest.approx(expected.mu.mean, rel=1e-9)


def test_fit_exact_on_single_arm_counts_is_refused_before_any_sampling(tmp_path):
    pd.DataFrame({"study": ["a", "b"], "events": [3, 5], "n": [20, 30]}).to_csv(tmp_path / "counts.csv", index=False)
    done = _cli(tmp_path, "fit", "--counts", "counts.csv", "--exact", "--out", "out/c", "--quiet")
    assert done.returncode == 2
    assert "exact engine does not apply" in done.stderr


def test_fit_exact_on_two_arm_counts_answers_with_the_exact_binomial_engine(tmp_path):
    """Refused before the binomial-normal engine existed; now the answer is exact.binomial's posterior
    with the data-scaled default priors MCMC would take (printed)."""
    from bayes_il2.exact.binomial import binomial_normal
    from bayes_il2.priors import HalfNormal, Normal

    pd.DataFrame({"study": ["a", "b"], "events_t": [3, 5], "n_t": [20, 30], "events_c": [6, 9],
                  "n_c": [20, 30]}).to_csv(tmp_path / "counts.csv", index=False)
    done = _cli(tmp_path, "fit", "--counts", "counts.csv", "--exact", "--out", "out/c")
    assert done.returncode == 0, done.stderr
    assert "exact engine" in done.stdout + done.stderr
    assert "mu ~ Normal(0, 4^2)" in done.stderr and "tau ~ HalfNormal(0.5)" in done.stderr
    summary = pd.read_csv(tmp_path / "out" / "c" / "summary.csv").set_index("parameter")
    post = binomial_normal([6, 9], [20, 30], [3, 5], [20, 30], tau_prior=HalfNormal(0.5), mu_prior=Normal(0, 4),
                           alpha_prior=Normal(0, 5))
    assert summary.loc["mu", "median"] == pytest.approx(np.exp(post.mu.median), rel=1e-9)


def test_the_draws_of_an_exact_fit_are_not_judged_as_mcmc_chains():
    """Few independent draws from the exact posterior can give an R-hat above 1.01 by chance; that is
    not a convergence failure (the summaries come from the exact marginals)."""
    import pandas as pd

    from bayes_il2.diagnostics import diagnose
    from bayes_il2.engine import exact_nnhm_fit
    from bayes_il2.priors import HalfNormal, Normal

    table = pd.DataFrame({"study_id": list("abcd"), "yi": [1.44, 0.94, 1.18, 1.06],
                          "vi": [0.018, 0.020, 0.016, 0.018]})
    fit = exact_nnhm_fit(table, priors={"mu": Normal(0, 2), "tau": HalfNormal(0.5)}, draws=30, chains=2, seed=3)
    report = diagnose(fit, influence=False, sensitivity=False)
    checks = {c.name: c for c in report.checks}
    assert not {"r_hat", "ess_bulk", "ess_tail"} & set(checks)  # no chains: the exact engine's check instead
    assert checks["exact_engine"].status == "pass" and "independent" in checks["exact_engine"].message
    assert report.status == "pass"


# --------------------------------------------------------------------------- the exact three-level Fit
NESTED = pd.DataFrame({"study_id": [f"t{i}" for i in range(1, 8)], "disease": list("AAABBCC"),
                       "yi": [0.55, 0.70, 0.40, 0.90, 1.10, 0.20, 0.35],
                       "vi": [0.02, 0.04, 0.03, 0.05, 0.03, 0.02, 0.03], "measure": "ROMC"})
THREE = {"mu": Normal(0.0, 2.0), "tau_within": HalfNormal(0.5), "tau_between": HalfNormal(0.5)}


def test_exact_three_level_summary_is_the_exact_engines():
    from bayes_il2.engine import exact_three_level_fit

    fit = exact_three_level_fit(NESTED, priors=THREE, draws=500, chains=2, seed=1)
    post = exact.three_level(NESTED["yi"], NESTED["vi"], NESTED["disease"], THREE["tau_within"],
                             THREE["tau_between"], mu_prior=THREE["mu"])
    table = summary(fit, scale="model")
    assert table.loc["mu", "mean"] == pytest.approx(post.mu.mean, rel=1e-12)
    assert table.loc["tau_between", "median"] == pytest.approx(post.tau_between.median, rel=1e-9)
    assert table.loc["mu_disease[B]", "median"] == pytest.approx(post.mu_disease("B").median, rel=1e-9)
    assert table.loc["theta[t4]", "median"] == pytest.approx(post.theta(3).median, rel=1e-9)
    assert table.loc["mu_new_disease", "median"] == pytest.approx(post.mu_new_group.median, rel=1e-9)
    natural = summary(fit, scale="natural")
    for label in ("mu", "mu_disease[A]", "mu_new_disease", "theta_new"):
        assert natural.loc[label, "median"] == pytest.approx(np.exp(table.loc[label, "median"]), rel=1e-9)
    # the draws are a sample of the same posterior (mu and the disease means: continuous mixtures)
    mu = np.asarray(fit.draws("mu")).ravel()
    assert stats.kstest(mu, post.mu.cdf).pvalue > 1e-3
    mu_c = np.asarray(fit.draws("mu_disease").sel(disease="C")).ravel()
    assert stats.kstest(mu_c, post.mu_disease("C").cdf).pvalue > 1e-3
    # mu_new_disease = mu + tau_between z
    assert stats.kstest(np.asarray(fit.draws("mu_new_disease")).ravel(), post.mu_new_group.cdf).pvalue > 1e-3


def test_a_three_level_spec_is_answered_exactly():
    from bayes_il2.pipeline import fit_table
    from bayes_il2.specs import load_spec

    spec = load_spec(ROOT / "models" / "treg_by_disease.toml")
    fit = fit_table(spec, NESTED)
    assert fit.sampler == "exact" and fit.family == "three_level" and fit.settings["engine"] == "exact"
    assert [str(s) for s in fit.idata["log_likelihood"]["y"]["study_id"].values] == NESTED["study_id"].tolist()
    one = NESTED[NESTED["disease"] == "A"]
    with pytest.raises(ModelError):  # one disease: refused before the exact engine, as MCMC refuses it
        fit_table(spec, one)


def test_diagnostics_refit_by_mcmc_when_the_exact_engine_does_not_take_the_priors():
    # A Student-t mu prior: the fit is MCMC, and its influence diagnostics asked the exact engine for
    # refits, which refused the prior after the fit (exit 2, nothing written).
    from types import SimpleNamespace

    from bayes_il2.diagnostics.exact_bridge import supports_exact
    from bayes_il2.priors import StudentT

    def fake(mu_prior):
        return SimpleNamespace(family="nnhm", settings={}, data=SCHOOLS,
                               priors={"mu": mu_prior, "tau": HalfNormal(5.0)})

    assert supports_exact(fake(Normal(0.0, 10.0)))
    assert not supports_exact(fake(StudentT(3.0, 0.0, 2.0)))
