"""Design-bias adjustment (Verde 2021) and power prior: reductions to the NNHM checked against the
exact engine (within 4 MCSE of mean and SD), recovery of a planted design bias, input checks.

The power prior with a normal likelihood equals the NNHM with the weaker designs' variances divided
by alpha (alpha * log N(y | theta, v) = log N(y | theta, v / alpha) + const), an exact reference.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_il2 import exact
from bayes_il2.errors import ModelError, SpecError
from bayes_il2.modeling import fit_built
from bayes_il2.modeling.design_bias import build_design_bias, design_groups
from bayes_il2.priors import HalfNormal, Normal
from bayes_il2.specs import parse_spec

PRIORS = {"mu": Normal(0.0, 2.0), "tau": HalfNormal(0.5)}
FAST = {"chains": 2, "draws": 500, "tune": 500, "target_accept": 0.95}
MIXED = pd.DataFrame({
    "study_id": [f"s{i}" for i in range(8)],
    "design": ["rct", "rct", "rct", "single_arm", "single_arm", "cohort", "cohort", "single_arm"],
    "yi": [0.3, 0.6, 0.45, 0.9, 0.7, 0.5, 0.35, 1.1],
    "vi": [0.04, 0.05, 0.03, 0.06, 0.05, 0.08, 0.07, 0.09],
})


def _within_mcse(fit, var, marginal, k=4.0):
    import arviz as az

    da = fit.idata["posterior"][var]
    ds = xr.Dataset({var: da})
    x = np.asarray(da).ravel()
    for stat, est, ref in (("mean", x.mean(), marginal.mean), ("sd", x.std(ddof=1), marginal.sd)):
        se = float(az.mcse(ds, method=stat)[var])
        ref = float(ref() if callable(ref) else ref)
        assert abs(est - ref) <= k * se, f"{var} {stat}: MCMC {est:.4f} vs exact {ref:.4f} (MCSE {se:.4f})"


@pytest.mark.mcmc
def test_zero_width_bias_prior_is_the_nnhm():
    fit = fit_built(build_design_bias(MIXED, priors=PRIORS, bias_sd=0.0, bias_spread=0.0), seed=2, **FAST)
    ref = exact.nnhm(MIXED["yi"], MIXED["vi"], PRIORS["tau"], mu_prior=PRIORS["mu"])
    _within_mcse(fit, "mu", ref.mu)
    _within_mcse(fit, "tau", ref.tau)
    assert np.allclose(np.asarray(fit.idata["posterior"]["b_design"]), 0.0)


@pytest.mark.mcmc
def test_power_prior_is_the_nnhm_with_inflated_variances():
    alpha = 0.4
    fit = fit_built(build_design_bias(MIXED, priors=PRIORS, design_adjustment="power", power_alpha=alpha),
                    seed=4, **FAST)
    weak = MIXED["design"] != "rct"
    ref = exact.nnhm(MIXED["yi"], np.where(weak, MIXED["vi"] / alpha, MIXED["vi"]), PRIORS["tau"],
                     mu_prior=PRIORS["mu"])
    _within_mcse(fit, "mu", ref.mu)
    _within_mcse(fit, "tau", ref.tau)


@pytest.mark.mcmc
def test_planted_design_bias_is_recovered():
    # deterministic: deviations of -/+ 0.1 alternate within each design (their mean is 0), so the
    # data carry exactly the planted bias and the check does not depend on a random draw
    mu, bias = 0.5, {"rct": 0.0, "single_arm": 0.6, "cohort": 0.0}
    designs = ["rct"] * 6 + ["single_arm"] * 6 + ["cohort"] * 4
    vi = np.full(len(designs), 0.02)
    yi = np.array([mu + bias[d] for d in designs]) + np.tile([-0.1, 0.1], len(designs) // 2)
    table = pd.DataFrame({"study_id": [f"s{i}" for i in range(len(designs))], "design": designs,
                          "yi": yi, "vi": vi})
    fit = fit_built(build_design_bias(table, priors=PRIORS), seed=6, **FAST)
    b = fit.idata["posterior"]["b_design"]
    sa = np.asarray(b.sel(biased_design="single_arm")).ravel()
    co = np.asarray(b.sel(biased_design="cohort")).ravel()
    low, high = np.quantile(sa, [0.025, 0.975])
    assert low < 0.6 < high and low > 0.2, (low, high)          # planted 0.6 recovered, clearly > 0
    assert np.quantile(co, 0.025) < 0.0 < np.quantile(co, 0.975)  # no bias planted for cohorts
    m = np.asarray(fit.idata["posterior"]["mu"]).ravel()
    plain = exact.nnhm(table["yi"], table["vi"], PRIORS["tau"], mu_prior=PRIORS["mu"])
    assert abs(m.mean() - mu) < 0.15 and plain.mu.mean - mu > 0.15, (m.mean(), plain.mu.mean)


def test_design_groups_and_checks():
    levels, index = design_groups(MIXED)
    assert levels == ["cohort", "single_arm"] and list(index[:4]) == [-1, -1, -1, 1]
    with pytest.raises(ModelError, match="design_adjustment"):
        build_design_bias(MIXED, design_adjustment="both")
    for kwargs in ({"power_alpha": 0.0}, {"power_alpha": 1.5}, {"bias_sd": -1.0}, {"bias_spread": float("nan")}):
        with pytest.raises(ModelError):
            build_design_bias(MIXED, **kwargs)
    with pytest.raises(ModelError, match="design"):
        build_design_bias(MIXED.drop(columns="design"))
    bad = MIXED.copy()
    bad.loc[2, "design"] = None
    with pytest.raises(ModelError, match="s2"):
        build_design_bias(bad)


def test_rct_prepost_changes_are_not_randomised_contrasts():
    table = MIXED.assign(measure=["ROM", "ROMC", "ROM", "ROMC", "ROMC", "ROMC", "ROMC", "ROMC"])
    levels, index = design_groups(table)
    assert levels == ["cohort", "rct_prepost", "single_arm"]
    assert list(index[:3]) == [-1, 1, -1]  # the RCT's pre-post change is biased like a single-arm change
    only_changes = table.assign(measure="ROMC")
    built = build_design_bias(only_changes, priors=PRIORS)
    assert any("not identified" in c["message"] for c in built.settings["caveats"])


def test_no_rct_is_a_caveat():
    built = build_design_bias(MIXED[MIXED["design"] != "rct"], priors=PRIORS)
    assert any("not identified" in c["message"] for c in built.settings["caveats"])


def _spec(**model):
    return {"name": "x", "title": "x", "question": "x", "data": {"kind": "treg_expansion"},
            "model": {"family": "design_bias", **model}}


def test_spec_options():
    spec = parse_spec(_spec(design_adjustment="power", power_alpha=0.3))
    assert spec.model.family_options()["design_adjustment"] == "power"
    assert spec.model.family_options()["power_alpha"] == 0.3
    for bad in ({"design_adjustment": "x"}, {"power_alpha": 0}, {"power_alpha": 2}, {"bias_sd": -0.1}):
        with pytest.raises(SpecError):
            parse_spec(_spec(**bad))
