"""An exact fit's diagnostics come from the exact engine and its independent draws (issue #19).

Checked against independent routes: leave-one-out elpd against the ratio of the exact marginal
likelihoods p(y) / p(y_-i); power-scaling sensitivity against ArviZ's ``psense_summary`` on the same
draws; the draws table against numpy; and ``bayes-il2 fit`` imports neither arviz_stats nor scipy.stats.
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

from bayes_il2 import exact
from bayes_il2.diagnostics import diagnose
from bayes_il2.diagnostics.exact_checks import draws_table, power_scaling_independent
from bayes_il2.engine import exact_nnhm_fit
from bayes_il2.priors import HalfCauchy, HalfNormal, Normal

ROOT = Path(__file__).resolve().parents[1]
BCG = pd.DataFrame({
    "study_id": ["Aronson", "Ferguson", "Rosenthal60", "Hart", "Frimodt", "Stein", "Vandiviere", "Madras",
                 "Coetzee", "Rosenthal61", "Comstock74", "Comstock69", "Comstock76"],
    "yi": [-0.8893, -1.5854, -1.3481, -1.4416, -0.2175, -0.7861, -1.6209, 0.0120, -0.4694, -1.3713, -0.3394,
           0.4459, -0.0173],
    "vi": [0.3256, 0.1946, 0.4154, 0.0200, 0.0512, 0.0069, 0.2230, 0.0040, 0.0564, 0.0730, 0.0124, 0.5325,
           0.0714]})
SCHOOLS = pd.DataFrame({"study_id": list("ABCDEFGH"), "yi": [28.0, 8, -3, 7, -1, 1, 18, 12],
                        "vi": np.array([15.0, 10, 16, 11, 9, 11, 10, 18]) ** 2})
CASES = [(BCG, {"mu": Normal(0, 4), "tau": HalfNormal(0.5)}),
         (BCG, {"mu": Normal(0, 0.3), "tau": HalfNormal(0.2)}),  # prior-sensitive: both diagnoses occur
         (SCHOOLS, {"mu": Normal(0, 20), "tau": HalfCauchy(5)})]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_exact_loo_is_the_ratio_of_exact_marginal_likelihoods(case):
    table, priors = CASES[case]
    fit = exact_nnhm_fit(table, priors=priors, draws=500, chains=2, seed=4)
    report = diagnose(fit, influence=False, sensitivity=False)
    loo = report.tables["loo"].set_index("study_id")
    assert (loo["elpd_method"] == "exact").all() and loo["pareto_k"].isna().all() and not loo["flagged"].any()
    assert "pareto_k" not in {c.name for c in report.checks}

    def log_evidence(rows: pd.DataFrame) -> float:
        return exact.nnhm(rows["yi"], rows["vi"], priors["tau"], mu_prior=priors["mu"]).log_marginal_likelihood

    whole = log_evidence(table)
    for study in table["study_id"]:
        expected = whole - log_evidence(table[table["study_id"] != study])
        assert loo.loc[study, "elpd_i"] == pytest.approx(expected, abs=1e-6), study
    assert report.loo_elpd["elpd_loo"] == pytest.approx(loo["elpd_i"].sum(), rel=1e-12)
    # p_loo = lppd - elpd_loo, lppd from the draws: positive and below the number of studies here
    assert 0 < report.loo_elpd["p_loo"] < len(table)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_power_scaling_of_independent_draws_is_arviz_psense(case):
    from bayes_il2._arviz import arviz_stats

    table, priors = CASES[case]
    fit = exact_nnhm_fit(table, priors=priors, draws=1000, chains=4, seed=case)
    ours = power_scaling_independent(fit.idata, ["mu", "tau"], ["mu", "tau"]).set_index("parameter")
    theirs = arviz_stats().psense_summary(fit.idata, var_names=["mu", "tau"], prior_var_names=["mu", "tau"])
    # ArviZ Pareto-smooths the tails of the weights; with independent draws and alpha within 1% the
    # tables agree to the third decimal up to a few units (measured: at most 0.002)
    assert np.allclose(ours[["prior", "likelihood"]].to_numpy(float),
                       theirs.loc[["mu", "tau"], ["prior", "likelihood"]].to_numpy(float), atol=0.005)
    assert list(ours["diagnosis"]) == list(theirs.loc[["mu", "tau"], "diagnosis"])
    reported = diagnose(fit, influence=False).tables["power_scaling"].set_index("parameter")  # diagnose uses it
    assert reported[["prior", "likelihood"]].equals(ours[["prior", "likelihood"]])


def test_draws_table_is_numpys_and_the_exact_check_passes():
    fit = exact_nnhm_fit(BCG, priors=CASES[0][1], draws=300, chains=2, seed=1)
    report = diagnose(fit, influence=False, sensitivity=False)
    table = report.tables["convergence"].set_index("parameter")
    mu = fit.idata["posterior"]["mu"].values.reshape(-1)
    assert table.loc["mu", "draws"] == 600
    assert table.loc["mu", "mean"] == pytest.approx(mu.mean(), rel=1e-12)
    assert table.loc["mu", "mcse_mean"] == pytest.approx(mu.std(ddof=1) / np.sqrt(600), rel=1e-12)
    assert table.loc["theta[Madras]", "sd"] > 0
    check = {c.name: c for c in report.checks}["exact_engine"]
    assert check.status == "pass" and "600 draws" in check.message
    assert not {"r_hat", "ess_bulk", "ess_tail"} & {c.name for c in report.checks}
    assert draws_table(fit.idata, []).empty


def test_fit_on_yi_vi_imports_neither_arviz_stats_nor_scipy_stats_nor_scipy_optimize(tmp_path):
    """scipy.optimize: the classical table's roots come from bayes_il2.classical._roots (0.11-0.14 s)."""
    BCG.to_csv(tmp_path / "bcg.csv", index=False)
    code = f"""
import json, sys
sys.path.insert(0, {str(ROOT)!r})
from bayes_il2.cli import main
code = main(["fit", "bcg.csv", "--measure", "RR", "--draws", "200", "--chains", "2", "--out", "out", "--quiet"])
print(json.dumps({{"code": code, **{{m: m in sys.modules for m in ("arviz_stats", "scipy.stats", "scipy.optimize")}}}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"code": 0, "arviz_stats": False, "scipy.stats": False,
                                                                 "scipy.optimize": False}
    out = tmp_path / "out"
    assert (out / "ppc.png").exists() and (out / "forest.png").exists()
    assert not (out / "pareto_k.png").exists()  # exact leave-one-out: no Pareto k to draw, and it is said
    notes = json.loads((out / "run.json").read_text())["notes"]
    assert any("pareto_k figure not drawn" in note for outcome in notes.values() for note in outcome)
    assert set(pd.read_csv(out / "diagnostics_power_scaling.csv")["parameter"]) == {"mu", "tau"}
