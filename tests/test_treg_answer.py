"""The Treg answer per disease: a labelled prediction for a disease with no Treg number, and the
pooled expansion on both scales beside the published pooled SMDs (issue #14)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_il2 import treg_answer
from bayes_il2.evidence import load_registry


def _fit(mu: float = np.log(3.0), tau: float = 0.2, cv: float = 0.6):
    rng = np.random.default_rng(1)
    post = xr.Dataset({"mu": (("chain", "draw"), mu + 0.01 * rng.standard_normal((2, 500))),
                       "tau": (("chain", "draw"), np.full((2, 500), tau)),
                       "cv_log_mean": (("chain", "draw"), np.full((2, 500), np.log(cv)))})
    return SimpleNamespace(idata=xr.DataTree.from_dict({"posterior": post}), measure="ROMC", settings={},
                           data=pd.DataFrame({"study_id": ["a", "b", "c"]}))


def test_a_disease_without_numbers_gets_a_prediction_resting_on_the_others():
    excluded = pd.DataFrame({"study_id": ["disease:pSS", "X"], "reason": ["only a qualitative statement", "n/a"]})
    table = treg_answer.predictions(_fit(), excluded)
    assert list(table["disease"]) == ["pSS"]
    row = table.iloc[0]
    assert "prediction" in row["kind"] and "not an estimate" in row["kind"]
    # theta_new = mu + tau z: median exp(mu), 95% interval exp(mu +- 1.96 tau)
    assert row["median"] == pytest.approx(3.0, rel=0.03)
    assert row["low"] == pytest.approx(3.0 * np.exp(-1.96 * 0.2), rel=0.05)
    assert row["high"] == pytest.approx(3.0 * np.exp(1.96 * 0.2), rel=0.05)


def test_the_headline_on_both_scales_sits_beside_the_published_pooled_smds():
    table = treg_answer.scales(_fit(cv=0.5), load_registry())
    ours = table[table["source"].str.startswith("this analysis")].set_index("scale")
    assert ours.loc["ratio of means post/pre", "estimate"] == pytest.approx(3.0, rel=0.02)
    assert ours.loc["SMCR (converted)", "estimate"] == pytest.approx((3.0 - 1) / 0.5, rel=0.03)
    published = table[table["source"].str.endswith("(published)")]
    assert {"AutoimmunRev2023_Treg.treg (published)", "Su2024_IID_SLE.treg_all (published)"} <= set(published["source"])
    assert published.loc[published["source"].str.startswith("AutoimmunRev"), "estimate"].iloc[0] == 1.07
