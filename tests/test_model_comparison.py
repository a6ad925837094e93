"""Model comparison: exact Bayes factors (normal models) and PSIS-LOO (any family)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_il2 import exact
from bayes_il2.errors import ModelError
from bayes_il2.priors import HalfNormal, Normal


def test_common_effect_marginal_likelihood_is_the_closed_form_multivariate_normal():
    yi = np.array([0.3, 0.1, 0.5, -0.2])
    vi = np.array([0.04, 0.09, 0.02, 0.16])
    prior = Normal(0.1, 0.7)
    cov = np.diag(vi) + prior.sigma ** 2 * np.ones((4, 4))
    expected = stats.multivariate_normal(mean=np.full(4, prior.mu), cov=cov).logpdf(yi)
    assert exact.common_effect(yi, vi, mu_prior=prior).log_marginal_likelihood == pytest.approx(expected, rel=1e-10)


@pytest.mark.mcmc
def test_loo_prefers_random_effects_when_rates_clearly_differ():
    from bayes_il2 import meta_analysis
    from bayes_il2.diagnostics import compare_by_loo

    rates = pd.DataFrame({"study_id": list("ABCDEF"), "events": [1, 25, 10, 40, 5, 30], "n": [50] * 6})
    settings = {"model": "single_arm", "mu_prior": Normal(0, 2), "draws": 400, "tune": 400, "chains": 2, "seed": 3}
    fits = {"random effects": meta_analysis(rates, tau_prior=HalfNormal(1.5), **settings),
            "near-common effect": meta_analysis(rates, tau_prior=HalfNormal(0.01), **settings)}
    table = compare_by_loo(fits)
    assert list(table["model"]) == ["random effects", "near-common effect"]
    worse = table.iloc[1]
    assert abs(worse["elpd_diff"]) > 2 * worse["dse"]  # a clear difference, not noise


def test_loo_comparison_refuses_fits_of_different_studies():
    from bayes_il2.diagnostics import compare_by_loo

    with pytest.raises(ModelError):
        compare_by_loo({"only one": object()})
