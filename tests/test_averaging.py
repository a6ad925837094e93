"""Model averaging: exact weights against a hand computation of the common-effect vs random-effects
Bayes factor (metaBMA-style: y ~ N(m0 1, diag(v + tau^2) + s0^2 J), tau integrated by scipy quad),
the averaged posterior as a mixture, the prior-sensitivity statement, and stacking of MCMC fits."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from bayes_il2.errors import ModelError
from bayes_il2.modeling.averaging import exact_model_average, stacking_average
from bayes_il2.priors import Flat, HalfNormal, Normal

# log odds ratios of a small meta-analysis (values chosen for the test, not registry data)
YI = np.array([-0.35, -0.1, -0.6, 0.05, -0.4])
VI = np.array([0.04, 0.09, 0.06, 0.12, 0.05])
MU_PRIOR, TAU_PRIOR = Normal(0.0, 1.0), HalfNormal(0.5)


def _log_ml_by_hand(tau: float) -> float:
    cov = np.diag(VI + tau ** 2) + MU_PRIOR.sigma ** 2 * np.ones((len(YI), len(YI)))
    return float(stats.multivariate_normal(np.full(len(YI), MU_PRIOR.mu), cov).logpdf(YI))


def test_bayes_factor_common_vs_random_matches_hand_computation():
    avg = exact_model_average(YI, VI, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR)
    w = avg.weights.set_index("model")
    ml_ce = np.exp(_log_ml_by_hand(0.0))
    ml_re, _ = integrate.quad(lambda t: stats.halfnorm(scale=0.5).pdf(t) * np.exp(_log_ml_by_hand(t)), 0, 6,
                              epsabs=0, epsrel=1e-10, limit=200)
    bf_hand = ml_ce / ml_re
    bf_avg = w.loc["common_effect", "weight"] / w.loc["random_effects", "weight"]  # equal prior odds
    assert bf_avg == pytest.approx(bf_hand, rel=1e-6)
    assert w.loc["common_effect", "log_ml"] == pytest.approx(np.log(ml_ce), abs=1e-9)
    assert w["weight"].sum() == pytest.approx(1.0)


def test_prior_model_probabilities_shift_weights_by_prior_odds():
    even = exact_model_average(YI, VI, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR).weights.set_index("model")["weight"]
    tilted = exact_model_average(YI, VI, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR,
                                 prior_probs={"common_effect": 3.0, "random_effects": 1.0}).weights.set_index("model")["weight"]
    odds_even = even["common_effect"] / even["random_effects"]
    assert tilted["common_effect"] / tilted["random_effects"] == pytest.approx(3 * odds_even, rel=1e-9)


def test_averaged_mu_is_the_mixture_of_the_exact_marginals():
    from bayes_il2 import exact

    group = ["a", "a", "b", "b", "c"]
    avg = exact_model_average(YI, VI, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, group=group)
    w = avg.weights.set_index("model")["weight"]
    assert list(w.index) == ["common_effect", "random_effects", "three_level"]
    marginals = {"common_effect": exact.common_effect(YI, VI, mu_prior=MU_PRIOR).mu,
                 "random_effects": exact.nnhm(YI, VI, TAU_PRIOR, mu_prior=MU_PRIOR).mu,
                 "three_level": exact.three_level(YI, VI, group, TAU_PRIOR, TAU_PRIOR, mu_prior=MU_PRIOR).mu}
    assert avg.mu["mean"] == pytest.approx(sum(w[n] * m.mean for n, m in marginals.items()), abs=1e-10)
    # the averaged 2.5% quantile: the mixture cdf there is 0.025
    cdf = sum(w[n] * float(m.cdf(avg.mu["low"])) for n, m in marginals.items())
    assert cdf == pytest.approx(0.025, abs=1e-6)
    table = avg.table()
    assert table["model"].iloc[-1] == "averaged"


def test_prior_sensitivity_statement():
    avg = exact_model_average(YI, VI, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR)
    sens = avg.sensitivity
    assert len(sens) == 2 * 2 and set(sens["tau_prior"]) == {repr(HalfNormal(0.25)), repr(HalfNormal(1.0))}
    assert avg.prior_sensitive == bool(sens["change"].abs().max() > 0.1)
    assert bool(avg.notes) == avg.prior_sensitive
    # a wide alternative makes random effects pay an Occam penalty: the common-effect weight rises
    wide = exact_model_average(YI, VI, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR,
                               alternative_tau_priors=[HalfNormal(5.0)])
    row = wide.sensitivity.set_index("model").loc["common_effect"]
    assert row["change"] > 0.1 and wide.prior_sensitive and "prior-sensitive" in wide.notes[0]


def test_improper_mu_prior_and_unknown_model_are_refused():
    with pytest.raises(ModelError, match="proper"):
        exact_model_average(YI, VI, mu_prior=Flat(), tau_prior=TAU_PRIOR)
    with pytest.raises(ModelError, match="no model named"):
        exact_model_average(YI, VI, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, prior_probs={"bias": 1.0})


@pytest.mark.mcmc
def test_stacking_of_mcmc_fits():
    from bayes_il2.modeling import build_design_bias, build_nnhm, fit_built

    table = pd.DataFrame({"study_id": list("abcde"), "yi": YI, "vi": VI,
                          "design": ["rct", "rct", "single_arm", "single_arm", "cohort"]})
    fast = {"chains": 2, "draws": 400, "tune": 400, "target_accept": 0.95}
    priors = {"mu": MU_PRIOR, "tau": TAU_PRIOR}
    fits = {"nnhm": fit_built(build_nnhm(table, priors=priors), seed=1, **fast),
            "design_bias": fit_built(build_design_bias(table, priors=priors), seed=2, **fast)}
    avg = stacking_average(fits, draws=2000, seed=3)
    w = avg.weights.set_index("model")
    assert w["weight"].sum() == pytest.approx(1.0) and (w["weight"] >= 0).all()
    lo, hi = w["mu_mean"].min(), w["mu_mean"].max()
    assert lo - 0.05 <= avg.mu["mean"] <= hi + 0.05  # a weighted resample lies between the models (+ MC error)
    assert avg.method == "stacking" and avg.sensitivity.empty
    assert (w["pareto_k_high"] >= 0).all() and any("only 5 studies" in n for n in avg.notes)
    with pytest.raises(ModelError, match="other studies"):
        other = fit_built(build_nnhm(table.iloc[:4], priors=priors), seed=1, **fast)
        stacking_average({"a": fits["nnhm"], "b": other})
