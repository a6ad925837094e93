"""API friction of a first contact (issue 18): names, labels, se-only tables, diagnose on a DataTree,
natural-scale summaries without a measure."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_il2
from bayes_il2 import exact
from bayes_il2.priors import HalfNormal, Normal


def small_table() -> pd.DataFrame:
    return pd.DataFrame({"study_id": ["Aronson", "Ferguson", "Rosenthal", "Hart"],
                         "yi": [-0.89, -1.59, -1.35, -1.44], "se": [0.57, 0.44, 0.64, 0.14]})


def test_dir_lists_the_public_api_and_every_name_resolves():
    names = [n for n in dir(bayes_il2) if not n.startswith("_")]
    assert {"meta_analysis", "diagnose", "escalc", "load_registry", "parse_prior", "exact", "plots"} <= set(names)
    assert "importlib" not in names and "annotations" not in names
    for name in bayes_il2.__all__:
        assert getattr(bayes_il2, name) is not None


def test_exact_summary_labels_studies_by_id():
    t = small_table().assign(vi=lambda d: d.se ** 2)
    by_index = exact.nnhm(t.set_index("study_id").yi, t.vi, HalfNormal(0.5)).summary()
    by_labels = exact.nnhm(t.yi, t.vi, HalfNormal(0.5), labels=t.study_id).summary()
    for s in (by_index, by_labels):
        assert list(s.loc[s.parameter == "theta", "coord"]) == list(t.study_id)


@pytest.fixture(scope="module")
def se_fit():
    return bayes_il2.meta_analysis(small_table().assign(measure="RR"), tau_prior="half_normal(0.5)",
                                   mu_prior="normal(0, 4)", draws=300, tune=400, chains=2, seed=5)


def test_a_table_with_only_se_is_accepted(se_fit):
    np.testing.assert_allclose(se_fit.data["vi"], small_table().se ** 2)
    assert list(se_fit.idata["posterior"]["theta"].coords["study_id"].values) == list(small_table().study_id)


def test_diagnose_accepts_a_fit_and_a_datatree(se_fit, tmp_path):
    from bayes_il2 import diagnose

    assert diagnose(se_fit, influence=False).checks
    bare = diagnose(se_fit.idata, influence=False, sensitivity=False)
    assert {c.name for c in bare.checks} >= {"r_hat", "ess_bulk"}
    path = se_fit.to_netcdf(tmp_path / "posterior.nc")
    import xarray as xr

    with_meta = diagnose(xr.open_datatree(path).load(), influence=False)
    assert {c.name for c in with_meta.checks} >= {"r_hat", "pareto_k"}
    from bayes_il2.errors import ModelError

    with pytest.raises(ModelError, match="DataTree"):
        diagnose(42)


def test_natural_summary_without_a_measure_warns_and_names_the_fix(se_fit):
    from dataclasses import replace

    no_measure = replace(se_fit, measure=None)
    with pytest.warns(UserWarning, match="pass measure="):
        no_measure.summary(["mu"], scale="natural")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        se_fit.summary(["mu"], scale="natural")           # with a measure: no warning
