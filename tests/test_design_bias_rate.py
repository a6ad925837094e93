"""Design bias of single-arm event rates (family design_bias_rate): a zero-width bias prior is the
single-arm model (exactly in the log density and the integrated likelihood; within 4 MCSE in MCMC),
the integrated per-study likelihood of a biased study against one-dimensional quadrature, a planted
bias is recovered, the no-RCT caveat, input checks and the spec options.

Tolerances: the MCMC comparison uses 4 x the combined Monte-Carlo standard error of the two means
(ArviZ ``mcse``); the planted-bias data are expected counts (no simulation noise), so the recovery
check compares with the truth using the posterior interval, far wider than its MCSE.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_il2.errors import ModelError, SpecError
from bayes_il2.modeling import fit_built
from bayes_il2.modeling.design_bias_rate import build_design_bias_rate, study_designs
from bayes_il2.modeling.single_arm import build_single_arm
from bayes_il2.priors import HalfNormal, Normal
from bayes_il2.specs import parse_spec

PRIORS = {"mu": Normal(-2.0, 2.0), "tau": HalfNormal(0.5)}
FAST = {"chains": 2, "draws": 500, "tune": 500, "target_accept": 0.95}
# two RCTs (one with two dose arms), three single-arm studies, one dose-finding study
TABLE = pd.DataFrame({
    "study_id": ["r1", "r1", "r2", "s1", "s2", "s3", "d1"],
    "arm_id": ["lo", "hi", "a", "a", "a", "a", "a"],
    "design": ["rct", "rct", "rct", "single_arm", "single_arm", "single_arm", "dose_finding"],
    "events": [3, 5, 4, 9, 7, 12, 2],
    "n": [40, 40, 50, 45, 30, 60, 20],
})


def test_zero_width_bias_prior_has_the_single_arm_log_density():
    """With bias_sd = bias_spread = 0 the log density is the single-arm one plus N(0, 1) terms of the
    unused bias offsets, at any point."""
    from scipy import stats

    biased = build_design_bias_rate(TABLE, priors=PRIORS, bias_sd=0.0, bias_spread=0.0).model
    plain = build_single_arm(TABLE, priors=PRIORS).model
    rng = np.random.default_rng(3)
    point = {k: v + rng.normal(0, 0.4, np.shape(v)) for k, v in biased.initial_point().items()}
    extra = {"b_design_z", "bias_study_z", "theta_new_design_z"}
    gamma_z = np.exp(point["gamma_z_log__"])
    offsets = sum(stats.norm.logpdf(point[k]).sum() for k in extra)
    offsets += stats.halfnorm.logpdf(gamma_z) + np.log(gamma_z)
    plain_point = {k: v for k, v in point.items() if k not in extra | {"gamma_z_log__"}}
    assert float(biased.compile_logp()(point)) == pytest.approx(float(plain.compile_logp()(plain_point)) + offsets,
                                                                abs=1e-8)


def test_integrated_loglik_of_a_biased_study_is_the_shifted_single_arm_integral():
    from scipy import integrate, stats

    built = build_design_bias_rate(TABLE, priors=PRIORS)
    plain = build_single_arm(TABLE, priors=PRIORS)
    post = xr.Dataset({"mu": (("chain", "draw"), [[-2.1]]), "tau": (("chain", "draw"), [[0.3]]),
                       "rho": (("chain", "draw"), [[0.5]]),
                       "b_design": (("chain", "draw", "biased_design"), [[[0.2, 0.7]]]),
                       "gamma": (("chain", "draw"), [[0.4]])},
                      coords={"chain": [0], "draw": [0], "biased_design": ["dose_finding", "single_arm"]})
    const = xr.Dataset({"r": ("study_id", TABLE["events"].to_numpy()), "n": ("study_id", TABLE["n"].to_numpy())})
    a = built.integrated_loglik(post, const).sel(chain=0, draw=0)
    b = plain.integrated_loglik(post, const).sel(chain=0, draw=0)
    assert np.allclose(a.sel(study_id=["r1", "r2"]), b.sel(study_id=["r1", "r2"]))  # RCTs: unbiased

    def direct(r, n, mean, sd):  # one-dimensional quadrature, independent of the Gauss-Hermite code
        f = lambda t: stats.binom.pmf(r, n, 1 / (1 + np.exp(-t))) * stats.norm.pdf(t, mean, sd)  # noqa: E731
        return np.log(integrate.quad(f, mean - 12 * sd, mean + 12 * sd, epsabs=0, epsrel=1e-11, limit=200)[0])

    total = np.sqrt(0.3**2 + 0.4**2)
    assert float(a.sel(study_id="s1")) == pytest.approx(direct(9, 45, -2.1 + 0.7, total), abs=1e-7)
    assert float(a.sel(study_id="d1")) == pytest.approx(direct(2, 20, -2.1 + 0.2, total), abs=1e-7)


@pytest.mark.mcmc
def test_zero_width_bias_prior_is_the_single_arm_model():
    import arviz as az

    a = fit_built(build_design_bias_rate(TABLE, priors=PRIORS, bias_sd=0.0, bias_spread=0.0), seed=6, **FAST)
    b = fit_built(build_single_arm(TABLE, priors=PRIORS), seed=6, **FAST)
    for var in ("mu", "tau", "rho"):
        ma, mb = (float(f.idata["posterior"][var].mean()) for f in (a, b))
        sa, sb = (float(az.mcse(xr.Dataset({var: f.idata["posterior"][var]}), method="mean")[var]) for f in (a, b))
        assert abs(ma - mb) <= 4 * np.hypot(sa, sb), (var, ma, mb, sa, sb)
    assert np.allclose(np.asarray(a.idata["posterior"]["b_design"]), 0.0)


@pytest.mark.mcmc
def test_planted_design_bias_is_recovered():
    mu, bias = -2.0, 1.0  # single-arm studies report more events: odds 2.7-fold
    designs = ["rct"] * 6 + ["single_arm"] * 6
    n = 400
    events = [int(round(n / (1 + np.exp(-(mu + (bias if d == "single_arm" else 0.0)))))) for d in designs]
    table = pd.DataFrame({"study_id": [f"s{i}" for i in range(12)], "design": designs, "events": events, "n": n})
    fit = fit_built(build_design_bias_rate(table, priors=PRIORS, bias_sd=1.0, bias_spread=0.25), seed=11, **FAST)
    post = fit.idata["posterior"]
    b = np.asarray(post["b_design"].sel(biased_design="single_arm")).ravel()
    low, high = np.quantile(b, [0.025, 0.975])
    assert low < bias < high and low > 0.5, (low, high)
    m = np.asarray(post["mu"]).ravel()
    assert np.quantile(m, 0.025) < mu < np.quantile(m, 0.975) and abs(m.mean() - mu) < 0.15
    # the single-arm model without the bias puts mu between the designs
    plain = fit_built(build_single_arm(table, priors=PRIORS), seed=11, **FAST)
    assert float(plain.idata["posterior"]["mu"].mean()) - mu > 0.3
    assert int(fit.idata["sample_stats"]["diverging"].sum()) <= 5


def test_design_groups_are_per_study_and_checked():
    levels, g = study_designs(TABLE)
    assert levels == ["dose_finding", "single_arm"] and g.tolist() == [-1, -1, 1, 1, 1, 0]
    with pytest.raises(ModelError, match="different designs"):
        study_designs(TABLE.assign(design=["rct", "single_arm"] + ["rct"] * 5))
    with pytest.raises(ModelError, match="no design"):
        build_design_bias_rate(TABLE.assign(design=[None] + ["rct"] * 6), priors=PRIORS)
    with pytest.raises(ModelError, match="bias_sd"):
        build_design_bias_rate(TABLE, priors=PRIORS, bias_sd=-1.0)
    built = build_design_bias_rate(TABLE, priors=PRIORS, bias_sd=0.8, bias_spread=0.1)
    assert built.family == "design_bias_rate" and built.settings["bias_sd"] == 0.8
    assert built.settings["biased_designs"] == ["dose_finding", "single_arm"]
    assert built.integrated_loglik is not None


def test_no_rct_arm_is_an_identifiability_caveat():
    from bayes_il2.modeling.identifiability import check_identifiable

    weak = TABLE[TABLE["design"] != "rct"]
    caveats = check_identifiable("design_bias_rate", weak)
    assert any(c.parameter == "b_design" and "not identified" in c.message for c in caveats)
    assert not any(c.parameter == "b_design" for c in check_identifiable("design_bias_rate", TABLE))
    only_rct = build_design_bias_rate(TABLE[TABLE["design"] == "rct"], priors=PRIORS)
    assert "does nothing" in only_rct.settings["caveats"][-1]["message"]


def test_cloglog_exposure_is_passed_to_the_single_arm_model():
    built = build_design_bias_rate(TABLE.assign(exposure_years=0.5), priors=PRIORS, exposure="cloglog")
    assert built.measure == "IRLN" and "rate_pooled" in {v.name for v in built.model.deterministics}


def _spec(**model):
    return {"name": "x", "title": "x", "question": "x", "data": {"kind": "event_rate", "outcome": "serious_ae",
                                                                 "measure": "PLO"},
            "model": {"family": "design_bias_rate", **model}}


def test_spec_options():
    spec = parse_spec(_spec(bias_sd=0.7, bias_spread=0.1))
    assert spec.model.family_options() == {"bias_sd": 0.7, "bias_spread": 0.1}
    with pytest.raises(SpecError, match="bias_sd"):
        parse_spec(_spec(bias_sd=-0.1))
    with pytest.raises(SpecError, match="family"):
        parse_spec({**_spec(), "data": {"kind": "treg_expansion"}})
    rates = parse_spec({**_spec(exposure="cloglog"), "data": {"kind": "event_rate", "outcome": "serious_ae",
                                                               "measure": "IRLN"}})
    assert rates.model.exposure == "cloglog"
    with pytest.raises(SpecError, match="exposure"):
        parse_spec({**_spec(exposure="cloglog"), "model": {"family": "exnex_rate", "exposure": "cloglog"},
                    "data": {"kind": "event_rate", "outcome": "serious_ae", "measure": "IRLN"}})
