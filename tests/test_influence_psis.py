"""Leave-one-out influence by importance sampling, checked against brute-force refits on planted data.

``psis_without`` reweights the draws of the full posterior; it must agree with the posterior
actually fitted without the study (the exact engine for normal likelihoods; a refit by the
compiled model for binomial ones) wherever its Pareto k is below 0.7, and ``influence_table``
must refit the studies whose k is not.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_il2.diagnostics.exact_bridge import exact_refit
from bayes_il2.diagnostics.influence import influence_table, psis_without, refit_without
from bayes_il2.modeling import fit_built
from bayes_il2.modeling.binomial_normal import build_binomial_normal
from bayes_il2.modeling.nnhm import build_nnhm
from bayes_il2.priors import HalfNormal, Normal

pytestmark = pytest.mark.mcmc

# Planted: seven studies around 0.25 and one (S8) far out, all precise.
PLANTED = pd.DataFrame({"study_id": [f"S{i}" for i in range(1, 9)],
                        "yi": [0.10, 0.30, 0.20, 0.25, 0.15, 0.35, 0.20, 1.60],
                        "vi": [0.02, 0.03, 0.02, 0.04, 0.03, 0.02, 0.03, 0.02]})


@pytest.fixture(scope="module")
def normal_fit():
    built = build_nnhm(PLANTED, priors={"mu": Normal(0, 2), "tau": HalfNormal(0.5)})
    return fit_built(built, chains=2, draws=1000, tune=500, seed=11)


def test_psis_agrees_with_the_exact_posterior_without_each_study(normal_fit):
    sd_mu = float(np.asarray(normal_fit.draws("mu")).std())
    checked = 0
    for sid in PLANTED["study_id"]:
        summary, k = psis_without(normal_fit, sid)
        if k >= 0.7:
            continue
        truth = exact_refit(normal_fit, sid)  # the posterior without the study, by numerical integration
        assert summary["mu_mean"] == pytest.approx(truth["mu_mean"], abs=0.15 * sd_mu), sid
        assert summary["mu_low"] == pytest.approx(truth["mu_low"], abs=0.3 * sd_mu), sid
        assert summary["mu_high"] == pytest.approx(truth["mu_high"], abs=0.3 * sd_mu), sid
        assert summary["tau_median"] == pytest.approx(truth["tau_median"], abs=0.25 * truth["tau_median"] + 0.02), sid
        checked += 1
    assert checked >= 6


def test_the_planted_outlier_moves_mu_most(normal_fit):
    shifts = {sid: psis_without(normal_fit, sid) for sid in PLANTED["study_id"]}
    full = float(np.asarray(normal_fit.draws("mu")).mean())
    # without S8 mu falls; either IS sees it (k < 0.7) or k flags it for a refit
    summary, k = shifts["S8"]
    assert k >= 0.7 or summary["mu_mean"] < full - 0.05


@pytest.fixture(scope="module")
def binomial_fit():
    table = pd.DataFrame({"study_id": ["s1", "s2", "s3", "s4", "s5", "s6"],
                          "events_t": [6, 3, 9, 5, 7, 4], "n_t": [30, 25, 40, 20, 35, 30],
                          "events_c": [3, 2, 4, 4, 5, 3], "n_c": [30, 24, 40, 21, 35, 30]})
    built = build_binomial_normal(table, priors={"mu": Normal(0, 1.5), "tau": HalfNormal(0.5)})
    return fit_built(built, chains=2, draws=1000, tune=500, seed=4)


def test_psis_agrees_with_brute_force_refits_of_a_binomial_model(binomial_fit):
    sd_mu = float(np.asarray(binomial_fit.draws("mu")).std())
    for sid in ["s1", "s3", "s5"]:
        summary, k = psis_without(binomial_fit, sid)
        assert k < 0.7, sid
        truth = refit_without(binomial_fit, sid)  # sampled again with the study's weight 0
        assert summary["mu_mean"] == pytest.approx(truth["mu_mean"], abs=0.2 * sd_mu), sid
        assert summary["tau_median"] == pytest.approx(truth["tau_median"], abs=0.1), sid


def test_influence_table_refits_only_where_pareto_k_demands(binomial_fit):
    from bayes_il2.inference import compile_count

    before = compile_count()
    table = influence_table(binomial_fit)
    assert compile_count() == before
    ks = {sid: psis_without(binomial_fit, sid)[1] for sid in table["study_id"]}
    expected = table["study_id"].map(lambda sid: "psis" if ks[sid] < 0.7 else "mcmc-refit")
    assert (table["engine"] == expected).all()
    forced = influence_table(binomial_fit, k_threshold=-1.0)  # nothing trusted: every study refitted
    assert (forced["engine"] == "mcmc-refit").all()
    by_is = table.set_index("study_id")["mu_mean"]
    by_refit = forced.set_index("study_id")["mu_mean"]
    sd_mu = float(np.asarray(binomial_fit.draws("mu")).std())
    assert np.allclose(by_is, by_refit, atol=0.2 * sd_mu)
