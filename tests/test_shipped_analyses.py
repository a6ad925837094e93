"""The shipped MCMC analyses fit the bundled registry with no divergences and R-hat <= 1.01
(issue 4's criterion), with the spec's own sampler settings, as `make run` fits them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bayes_il2.evidence import load_registry
from bayes_il2.pipeline import build_effects, fit_table
from bayes_il2.specs import load_spec

MODELS = Path(__file__).resolve().parents[1] / "models"
CASES = [("treg_expansion", None), ("treg_all_evidence", None), ("treg_by_disease", None), ("treg_by_disease_exnex", None),
         ("treg_sensitivity", None),
         ("adverse_events_rate", "serious_ae"), ("adverse_events_rate", "injection_site_reaction"),
         ("adverse_events_rate_exnex", "serious_ae"), ("adverse_events_rate_exnex", "severe_ae"),
         ("adverse_events_rate_design_bias", "serious_ae"), ("adverse_events_rate_design_bias", "severe_ae"),
         ("adverse_events_vs_placebo", "infection"), ("adverse_events_vs_placebo", "severe_ae")]


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.mark.mcmc
@pytest.mark.parametrize(("name", "outcome"), CASES, ids=[f"{n}-{o or 'main'}" for n, o in CASES])
def test_shipped_fit_converges_without_divergences(registry, name, outcome):
    # the MCMC fit of every shipped analysis, also those the exact engine answers by default
    spec = load_spec(MODELS / f"{name}.toml").with_sampler(engine="mcmc")
    table, _ = build_effects(spec, registry, outcome)
    assert len(table) >= 2
    fit = fit_table(spec, table)
    divergences = int(np.asarray(fit.idata["sample_stats"]["diverging"]).sum())
    assert divergences == 0
    summary = fit.summary()
    assert summary["r_hat"].max() <= 1.01, summary.loc[summary["r_hat"].idxmax()].to_dict()
    assert np.isfinite(summary["mean"]).all()
