"""Sensitivity scenarios that change only known variances, answered by reweighting the draws (issue #19).

The log weights are checked against the compiled model's own log density (the change of data it
stands for), the reweighted summary against an MCMC refit of the changed table (within Monte-Carlo
error), and every other kind of change is refused (the caller then samples again).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytest

from bayes_il2.diagnostics.reweight import reweighted_scenario, variance_change_log_ratios
from bayes_il2.modeling import build_nnhm
from bayes_il2.modeling._common import fit_built
from bayes_il2.priors import HalfNormal, Normal

INF = np.inf


def table() -> pd.DataFrame:
    """ROMC rows: three complete (r = 0.5 as a table sets it), one without spread (latent se, shared
    latent r, CVs learnt from the complete rows), a one-sided P value, an approximate value."""
    return pd.DataFrame({
        "study_id": list("ABCDEF"), "measure": "ROMC",
        "info": ["complete", "complete", "complete", "no_spread", "pvalue", "approximate"],
        "yi": [0.8, 1.1, 0.6, 0.9, np.nan, np.log(3.0)],
        "vi": [0.04, 0.05, 0.03, np.nan, 0.06, 0.05],
        "z_low": [np.nan] * 4 + [2.9, np.nan], "z_high": [np.nan] * 4 + [INF, np.nan],
        "direction": [np.nan] * 4 + [1, np.nan],
        "n": [12, 10, 15, 10, 20, 12], "test": "paired",
        "cv_pre": [0.35, 0.45, 0.4, np.nan, np.nan, np.nan], "cv_post": [0.5, 0.4, 0.45, np.nan, np.nan, np.nan],
        "r": [0.5, 0.5, 0.5, np.nan, np.nan, np.nan]})


def with_r(r: float, factor: float) -> pd.DataFrame:
    """The scenario of a pre-post r: the complete rows' variances scaled, their r column changed."""
    t = table()
    complete = t["info"] == "complete"
    t.loc[complete, "vi"] = t.loc[complete, "vi"] * factor
    t.loc[complete, "r"] = r
    return t


@pytest.fixture(scope="module")
def fit():
    built = build_nnhm(table(), priors={"mu": Normal(0, 2), "tau": HalfNormal(0.5)})
    return fit_built(built, draws=500, tune=500, chains=2, target_accept=0.95, seed=5)


def test_log_weights_are_the_change_of_the_models_log_density(fit):
    new = with_r(0.2, 1.6)
    log_ratios = variance_change_log_ratios(fit, new)
    assert log_ratios is not None and log_ratios.shape == (1000,)
    model = fit.refitter.built.model
    logp = model.compile_logp()
    post = fit.idata["posterior"]
    draws = [(0, 3), (1, 250), (0, 499)]
    points = []
    for chain, draw in draws:
        point = {}
        for rv in model.free_RVs:
            value = post[rv.name].values[chain, draw]
            transform = model.rvs_to_transforms.get(rv)
            if transform is not None:
                value = transform.forward(value, *rv.owner.inputs).eval()
            point[model.rvs_to_values[rv].name] = value
        points.append(point)
    before = [logp(p) for p in points]
    old_vi = model["vi"].get_value()
    try:
        pm.set_data({"vi": fit.refitter.built.data_values(new)["vi"]}, model=model)
        after = [logp(p) for p in points]
    finally:
        pm.set_data({"vi": old_vi}, model=model)
    expected = np.subtract(after, before)
    got = [log_ratios[chain * 500 + draw] for chain, draw in draws]
    assert np.allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_reweighted_summary_agrees_with_a_refit_within_monte_carlo_error(fit):
    new = with_r(0.8, 0.5)
    shortcut = reweighted_scenario(fit, new)
    assert shortcut is not None and shortcut["engine"] == "mcmc-reweighted" and shortcut["pareto_k"] <= 0.7
    refit = fit.refitter.fit(new, predictive=False)
    mu = refit.summary(["mu"]).iloc[0]
    tau = np.asarray(refit.idata["posterior"]["tau"]).reshape(-1)
    base_mcse = float(fit.summary(["mu"]).iloc[0]["mcse_mean"])
    tolerance = 5 * np.hypot(float(mu["mcse_mean"]), base_mcse)
    assert abs(shortcut["mu_mean"] - float(mu["mean"])) < tolerance
    assert abs(shortcut["tau_median"] - float(np.median(tau))) < 0.1 * float(np.median(tau))
    assert shortcut["mu_low"] < shortcut["mu_mean"] < shortcut["mu_high"]


@pytest.mark.parametrize("change", ["yi", "pvalue bound", "latent r", "same data"])
def test_any_other_change_is_refitted(fit, change):
    new = with_r(0.2, 1.6)
    if change == "yi":
        new.loc[0, "yi"] = 0.85
    elif change == "pvalue bound":
        new.loc[4, "z_low"] = 2.5
    elif change == "latent r":  # the row without spread gets a reported r: its se is another function
        new.loc[3, "r"] = 0.3
    else:
        new = table()
    assert variance_change_log_ratios(fit, new) is None
    assert reweighted_scenario(fit, new) is None


def test_an_exact_fit_or_a_fit_without_refitter_is_not_reweighted():
    from bayes_il2.engine import exact_nnhm_fit

    complete = table().iloc[:3].drop(columns=["info"])
    exact = exact_nnhm_fit(complete, priors={"mu": Normal(0, 2), "tau": HalfNormal(0.5)}, draws=50, chains=2)
    assert variance_change_log_ratios(exact, complete.assign(vi=complete["vi"] * 2)) is None
