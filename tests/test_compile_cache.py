"""Reusing one compiled sampler for structurally identical models (fit_built's process-local cache).

The reused fit must be exactly the fit a fresh compilation gives: same draws bit for bit (same
seed, same data), the new model's coords, and log-likelihood and predictive draws of the new model.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr

from bayes_il2.inference import compile_count, same_structure
from bayes_il2.modeling import build_nnhm, build_single_arm, fit_built
from bayes_il2.modeling._common import clear_sampler_cache
from bayes_il2.priors import HalfNormal, Normal

FAST = {"chains": 2, "draws": 200, "tune": 200, "seed": 11}
PRIORS = {"mu": Normal(0.0, 2.0), "tau": HalfNormal(0.5)}
RATES_A = pd.DataFrame({"study_id": ["a1", "a2"], "events": [3, 10], "n": [20, 40]})
RATES_B = pd.DataFrame({"study_id": ["b1", "b2"], "events": [0, 7], "n": [12, 15]})
EFFECTS_A = pd.DataFrame({"study_id": ["p", "q", "r"], "yi": [0.3, 0.1, 0.6], "vi": [0.04, 0.09, 0.05]})
EFFECTS_B = pd.DataFrame({"study_id": ["x", "y", "z"], "yi": [-0.4, 0.2, 1.1], "vi": [0.02, 0.3, 0.1]})


def assert_same_tree(a: xr.DataTree, b: xr.DataTree, groups: list[str]) -> None:
    for group in groups:
        da, db = a[group].to_dataset(), b[group].to_dataset()
        assert sorted(da.data_vars) == sorted(db.data_vars), group
        for name in da.data_vars:
            assert da[name].dims == db[name].dims, (group, name)
            np.testing.assert_array_equal(np.asarray(da[name]), np.asarray(db[name]), err_msg=f"{group}/{name}")
        for dim in da.dims:
            if dim in da.coords or dim in db.coords:
                assert da[dim].values.tolist() == db[dim].values.tolist(), (group, dim)


@pytest.mark.mcmc
@pytest.mark.parametrize("build, table_a, table_b", [
    (lambda t: build_single_arm(t, priors=PRIORS), RATES_A, RATES_B),
    (lambda t: build_nnhm(t, priors=PRIORS), EFFECTS_A, EFFECTS_B),
], ids=["single_arm", "nnhm"])
def test_reused_sampler_gives_the_fit_of_a_fresh_compilation(build, table_a, table_b):
    clear_sampler_cache()
    start = compile_count()
    fit_a = fit_built(build(table_a), **FAST)
    fit_b = fit_built(build(table_b), **FAST)
    assert compile_count() == start + 1  # B reused A's compilation
    assert fit_b.refitter.compiled is fit_a.refitter.compiled

    fresh_b = fit_built(build(table_b), **FAST, reuse_compiled=False)
    assert compile_count() == start + 2
    groups = ["posterior", "observed_data", "constant_data", "log_likelihood", "posterior_predictive"]
    assert_same_tree(fit_b.idata, fresh_b.idata, groups)
    assert fit_b.idata["posterior"]["study_id"].values.tolist() == table_b["study_id"].tolist()
    # the shared model still holds A's data, so A's fit is untouched by B's
    assert not np.array_equal(np.asarray(fit_a.idata["posterior"]["mu"]), np.asarray(fit_b.idata["posterior"]["mu"]))
    assert fit_b.data_fingerprint == fresh_b.data_fingerprint


@pytest.mark.mcmc
def test_refit_of_a_model_that_borrowed_a_sampler_uses_its_own_data():
    clear_sampler_cache()
    build = (lambda t: build_nnhm(t, priors=PRIORS))
    fit_built(build(EFFECTS_A), **FAST)
    fit_b = fit_built(build(EFFECTS_B), **FAST)
    fresh_b = fit_built(build(EFFECTS_B), **FAST, reuse_compiled=False)
    left_b = fit_b.refitter.fit(weight=[1.0, 0.0, 1.0], predictive=False)
    left_fresh = fresh_b.refitter.fit(weight=[1.0, 0.0, 1.0], predictive=False)
    assert_same_tree(left_b.idata, left_fresh.idata, ["posterior", "observed_data", "log_likelihood"])


@pytest.mark.mcmc
def test_models_that_differ_do_not_share():
    clear_sampler_cache()
    start = compile_count()
    fit_built(build_nnhm(EFFECTS_A, priors=PRIORS), **FAST)
    fit_built(build_nnhm(EFFECTS_A.iloc[:2], priors=PRIORS), **FAST)  # two studies, not three
    fit_built(build_nnhm(EFFECTS_A, priors={**PRIORS, "tau": HalfNormal(1.0)}), **FAST)
    fit_built(build_nnhm(EFFECTS_A, priors=PRIORS, parameterization="centered"), **FAST)
    assert compile_count() == start + 4


def _model(index: list[int]) -> pm.Model:
    with pm.Model(coords={"study_id": ["s1", "s2", "s3"], "g": ["u", "v"]}) as model:
        y = pm.Data("y", np.zeros(3), dims="study_id")
        m = pm.Normal("m", 0.0, 1.0, dims="g")
        pm.Normal("obs", m[np.asarray(index)], 1.0, observed=y, dims="study_id")
    return model


def test_same_structure_compares_constants_by_value():
    assert same_structure(_model([0, 1, 1]), _model([0, 1, 1]))
    assert not same_structure(_model([0, 1, 1]), _model([0, 0, 1]))
