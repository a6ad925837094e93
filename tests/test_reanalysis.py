"""Bayesian reanalysis of a two-arm trial: closed forms, flat priors, robustification, MAP, registry layer."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from bayes_il2.errors import ModelError
from bayes_il2.reanalysis import (COLUMNS, BinaryEndpoint, ContinuousEndpoint, FlatPrior, NormalMixture,
                                  automixfit, binary_posterior, build_priors, continuous_posterior,
                                  fit_mixture, map_table, neutral, reanalyze, reanalyze_endpoint,
                                  reanalyze_study, robustify, skeptical)
from bayes_il2.reanalysis.analysis import conflict_p, prior_information
from bayes_il2.plots.reanalysis import reanalysis_figures
from bayes_il2.reanalysis.map_prior import MapPrior

PSS = BinaryEndpoint(20, 30, 8, 30, name="responder_essdai3")
DRYNESS = ContinuousEndpoint(-18.33, -28.46, -8.21, name="vas_dryness", lower_is_better=True, n_t=30, n_c=30)


# ----------------------------------------------------------------------------- endpoints
def test_continuous_endpoint_recovers_se_from_ci():
    assert DRYNESS.se == pytest.approx((-8.21 + 28.46) / (2 * stats.norm.ppf(0.975)))
    assert ContinuousEndpoint(0.0, -1.0, 1.0, ci_level=0.9).se == pytest.approx(1 / stats.norm.ppf(0.95))


@pytest.mark.parametrize("args", [(31, 30, 8, 30), (5, 0, 1, 10), (-1, 30, 2, 30)])
def test_binary_endpoint_rejects_impossible_counts(args):
    with pytest.raises(ModelError, match="events"):
        BinaryEndpoint(*args)


def test_continuous_endpoint_rejects_estimate_outside_ci():
    with pytest.raises(ModelError, match="outside"):
        ContinuousEndpoint(5.0, -1.0, 1.0)


# ----------------------------------------------------------------------------- priors
def test_skeptical_and_enthusiastic_put_five_percent_in_the_tails():
    priors = build_priors(PSS, ["skeptical", "enthusiastic"], clinically_important_or=2.0)
    assert float(priors["skeptical"].sf(math.log(2))) == pytest.approx(0.05, abs=1e-12)
    assert float(priors["skeptical"].mean()) == 0
    assert float(priors["enthusiastic"].cdf(0.0)) == pytest.approx(0.05, abs=1e-12)
    assert float(priors["enthusiastic"].mean()) == pytest.approx(math.log(2))


def test_harm_endpoint_priors_point_towards_fewer_events():
    harm = BinaryEndpoint(1, 30, 9, 30, name="infection", higher_is_better=False)
    priors = build_priors(harm, ["skeptical", "enthusiastic"], clinically_important_or=2.0)
    assert float(priors["enthusiastic"].mean()) == pytest.approx(-math.log(2))
    assert float(priors["enthusiastic"].sf(0.0)) == pytest.approx(0.05, abs=1e-12)
    assert float(priors["skeptical"].cdf(-math.log(2))) == pytest.approx(0.05, abs=1e-12)


def test_continuous_priors_use_the_mcid_in_the_direction_of_benefit():
    priors = build_priors(DRYNESS, ["skeptical", "enthusiastic"], mcid=10)
    assert float(priors["enthusiastic"].mean()) == -10
    assert float(priors["skeptical"].cdf(-10.0)) == pytest.approx(0.05, abs=1e-12)


def test_skeptical_prior_needs_an_mcid_for_a_mean_difference():
    with pytest.raises(ModelError, match="clinically important"):
        build_priors(DRYNESS, ["skeptical"])


def test_unknown_prior_name_is_refused():
    with pytest.raises(ModelError, match="unknown prior 'hopeful'"):
        reanalyze(PSS, ["hopeful"])


def test_map_prior_names_need_a_map_prior():
    with pytest.raises(ModelError, match="map_prior"):
        reanalyze(PSS, ["map_robust"])


def test_robust_weight_zero_and_one_reduce_to_the_pure_priors():
    informative = NormalMixture((0.7, 0.3), (1.0, 0.5), (0.3, 0.8), "map")
    vague = neutral(PSS)
    x = np.linspace(-6, 6, 101)
    np.testing.assert_allclose(robustify(informative, 0.0, vague).logpdf(x), informative.logpdf(x))
    np.testing.assert_allclose(robustify(informative, 1.0, vague).logpdf(x), vague.logpdf(x))
    half = robustify(informative, 0.5, vague)
    np.testing.assert_allclose(half.pdf(x), 0.5 * informative.pdf(x) + 0.5 * vague.pdf(x))


def test_robust_weight_zero_and_one_give_the_map_and_neutral_rows():
    informative = NormalMixture((0.7, 0.3), (1.0, 0.5), (0.3, 0.8), "map")
    cols = ["median", "cri_low", "cri_high", "p_benefit", "p_important", "prior_ess", "conflict_p"]
    for endpoint, kwargs in ((PSS, {}), (DRYNESS, {"mcid": 10})):
        w0 = reanalyze(endpoint, ["map", "map_robust"], robust_weight=0.0, map_prior=informative, **kwargs)
        w1 = reanalyze(endpoint, ["neutral", "map_robust"], robust_weight=1.0, map_prior=informative, **kwargs)
        np.testing.assert_allclose(w0.loc[0, cols].astype(float), w0.loc[1, cols].astype(float), rtol=1e-9)
        np.testing.assert_allclose(w1.loc[0, cols].astype(float), w1.loc[1, cols].astype(float), rtol=1e-9)


# ----------------------------------------------------------------------------- conjugate cases
def test_normal_prior_on_a_mean_difference_gives_the_normal_normal_posterior():
    m0, s0 = -5.0, 8.0
    y, v = DRYNESS.estimate, DRYNESS.se**2
    post_var = 1 / (1 / s0**2 + 1 / v)
    post_mean = post_var * (m0 / s0**2 + y / v)
    table = reanalyze(DRYNESS, {"mine": NormalMixture.normal(m0, s0)}, mcid=10)
    row = table.iloc[0]
    z = stats.norm.ppf(0.975)
    assert row["median"] == pytest.approx(post_mean, rel=1e-9)
    assert row["cri_low"] == pytest.approx(post_mean - z * math.sqrt(post_var), rel=1e-8)
    assert row["cri_high"] == pytest.approx(post_mean + z * math.sqrt(post_var), rel=1e-8)
    assert row["p_benefit"] == pytest.approx(stats.norm.cdf(0, post_mean, math.sqrt(post_var)), rel=1e-9)
    assert row["p_important"] == pytest.approx(stats.norm.cdf(-10, post_mean, math.sqrt(post_var)), rel=1e-9)


def test_mixture_prior_update_matches_numerical_integration():
    prior = NormalMixture((0.6, 0.4), (-15.0, 0.0), (4.0, 20.0))
    post = continuous_posterior(DRYNESS, prior)
    x = np.linspace(-80, 60, 200001)
    dens = prior.pdf(x) * stats.norm.pdf(DRYNESS.estimate, x, DRYNESS.se)
    cdf = np.cumsum(dens) / dens.sum()
    for q in (0.025, 0.5, 0.975):
        assert float(post.ppf(q)) == pytest.approx(np.interp(q, cdf, x), abs=2e-3)


def _beta_joint_log_prior(a0: float, b0: float):
    """Independent Beta(a0, b0) priors on both arms' risks, as a density of (alpha, delta)."""
    def logp(alpha, delta):
        pc, pt = special.expit(alpha), special.expit(alpha + delta)
        return (stats.beta.logpdf(pc, a0, b0) + np.log(pc * (1 - pc))
                + stats.beta.logpdf(pt, a0, b0) + np.log(pt * (1 - pt)))
    return logp


def _p_beta_greater(at: int, bt: float, ac: float, bc: float) -> float:
    """P(p_t > p_c) for independent betas, integer ``at`` (closed form; Cook 2005, Miller 2015)."""
    i = np.arange(at)
    terms = special.betaln(ac + i, bc + bt) - np.log(bt + i) - special.betaln(1 + i, bt) - special.betaln(ac, bc)
    return float(np.exp(terms).sum())


@pytest.mark.parametrize("counts", [(20, 30, 8, 30), (1, 30, 9, 30), (3, 29, 0, 30)])
def test_grid_posterior_reproduces_beta_binomial_closed_forms(counts):
    et, nt, ec, nc = counts
    endpoint = BinaryEndpoint(et, nt, ec, nc)
    a0 = b0 = 1.0
    post_c, post_t = stats.beta(a0 + ec, b0 + nc - ec), stats.beta(a0 + et, b0 + nt - et)
    a_rng = special.logit(post_c.ppf([1e-9, 1 - 1e-9]))
    t_rng = special.logit(post_t.ppf([1e-9, 1 - 1e-9]))
    post = binary_posterior(endpoint, joint_log_prior=_beta_joint_log_prior(a0, b0), alpha_range=tuple(a_rng),
                            delta_range=(t_rng[0] - a_rng[1], t_rng[1] - a_rng[0]))
    # control-arm risk: Beta(a0 + ec, b0 + nc - ec)
    for q in (0.1, 0.5, 0.9):
        x = special.logit(post_c.ppf(q))
        assert float(post.alpha_cdf(x)) == pytest.approx(q, abs=1e-3)
    # P(OR > 1) = P(p_t > p_c), closed form
    assert float(post.sf(0.0)) == pytest.approx(_p_beta_greater(int(a0 + et), b0 + nt - et, a0 + ec, b0 + nc - ec),
                                                abs=1e-3)
    # mean risk difference
    assert post.rd_mean() == pytest.approx(post_t.mean() - post_c.mean(), abs=1e-3)


# ----------------------------------------------------------------------------- flat priors
def test_flat_prior_on_a_mean_difference_returns_the_likelihood():
    row = reanalyze(DRYNESS, ["flat"], mcid=10).iloc[0]
    assert row["median"] == pytest.approx(DRYNESS.estimate)
    half = stats.norm.ppf(0.975) * DRYNESS.se  # the reported CI, re-centred on the estimate
    assert row["cri_low"] == pytest.approx(DRYNESS.estimate - half, abs=1e-9)
    assert row["cri_high"] == pytest.approx(DRYNESS.estimate + half, abs=1e-9)
    assert math.isnan(row["conflict_p"]) and row["prior_ess"] == 0


def test_flat_prior_on_a_large_binary_trial_matches_the_likelihood_interval():
    big = BinaryEndpoint(400, 1000, 300, 1000)
    row = reanalyze(big, ["flat"], baseline_sd=None).iloc[0]
    z = stats.norm.ppf(0.975)
    tol = 0.05 * big.se
    assert math.log(row["median"]) == pytest.approx(big.estimate, abs=tol)
    assert math.log(row["cri_low"]) == pytest.approx(big.estimate - z * big.se, abs=tol)
    assert math.log(row["cri_high"]) == pytest.approx(big.estimate + z * big.se, abs=tol)
    rd_hat, rd_se = 0.1, math.sqrt(0.4 * 0.6 / 1000 + 0.3 * 0.7 / 1000)
    assert row["rd_median"] == pytest.approx(rd_hat, abs=0.05 * rd_se)
    assert row["rd_low"] == pytest.approx(rd_hat - z * rd_se, abs=0.05 * rd_se)


def test_flat_prior_posterior_density_is_the_integrated_likelihood():
    post = binary_posterior(PSS, FlatPrior(), baseline_sd=None)
    d = np.array([0.5, 1.5, 2.5])
    a = np.linspace(-12, 10, 40001)
    lik = np.array([np.trapezoid(np.exp(stats.binom.logpmf(8, 30, special.expit(a))
                                        + stats.binom.logpmf(20, 30, special.expit(a + di))), a) for di in d])
    ratio = post.pdf(d) / lik
    np.testing.assert_allclose(ratio / ratio[0], 1.0, rtol=1e-3)


# ----------------------------------------------------------------------------- ESS and conflict
def test_ess_of_a_normal_prior_is_the_variance_ratio_times_the_patients():
    prior = NormalMixture.normal(0.0, 0.5)
    ess, ratio = prior_information(prior, PSS)
    assert ratio == pytest.approx(PSS.se**2 / 0.25)
    assert ess == pytest.approx(60 * PSS.se**2 / 0.25)
    assert prior_information(neutral(DRYNESS), DRYNESS)[0] == pytest.approx(1.0)


def test_elir_of_a_mixture_is_its_location_information():
    mix = NormalMixture((0.5, 0.5), (-1.0, 1.0), (0.5, 0.5))
    x = np.linspace(-6, 6, 200001)
    lp = mix.logpdf(x)
    d2 = np.gradient(np.gradient(lp, x), x)
    expected = np.trapezoid(-d2 * mix.pdf(x), x)
    assert mix.location_information() == pytest.approx(expected, rel=1e-3)


def test_a_prior_much_narrower_than_the_likelihood_is_resolved_by_the_grid():
    # --or-important 1.00001 makes the skeptical prior N(0, 6e-6^2); it fell between two points of the
    # second grid pass (quantiles of the OR about 1000 times too wide, P(benefit) 0.644 for 0.5). The
    # likelihood is flat on that scale, so the posterior is the prior to about 1e-4 of its SD.
    sd = 6.08e-6
    post = binary_posterior(PSS, NormalMixture.normal(0.0, sd))
    np.testing.assert_allclose(post.ppf([0.025, 0.5, 0.975]), [-1.959964 * sd, 0.0, 1.959964 * sd],
                               atol=2e-3 * sd)
    assert post.sf(0.0) == pytest.approx(0.5, abs=1e-3)


def test_conflict_is_the_prior_predictive_tail_probability():
    prior = NormalMixture.normal(0.0, 0.4)
    z = abs(PSS.estimate) / math.sqrt(0.16 + PSS.se**2)
    assert conflict_p(prior, PSS) == pytest.approx(2 * stats.norm.sf(z))
    assert math.isnan(conflict_p(FlatPrior(), PSS))


def test_table_has_the_documented_columns_and_one_row_per_prior():
    table = reanalyze(PSS, ["skeptical", "neutral", "enthusiastic", "flat"])
    assert list(table.columns) == list(COLUMNS)
    assert table["prior"].tolist() == ["skeptical", "neutral", "enthusiastic", "flat"]
    assert (table["cri_low"] < table["median"]).all() and (table["median"] < table["cri_high"]).all()
    # skeptical pulls towards no effect, enthusiastic towards the important value
    med = table.set_index("prior")["median"]
    assert med["skeptical"] < med["enthusiastic"] < med["neutral"]


def test_kept_posteriors_drop_their_risk_difference_arrays_and_rebuild_them_identically():
    # issue #19: twelve kept grid posteriors held 115 MB of per-cell arrays; the kept ones rebuild on demand
    done = reanalyze_endpoint(PSS, ["skeptical", "neutral"])
    fresh = binary_posterior(PSS, build_priors(PSS, ["neutral"])["neutral"])
    kept = done.posteriors["neutral"]
    assert kept.rd_sorted is None and kept.rd_cumweight is None and fresh.rd_sorted is not None
    q = np.array([0.025, 0.5, 0.975])
    assert np.array_equal(kept.rd_ppf(q), fresh.rd_ppf(q))
    assert kept.rd_cdf(0.1) == fresh.rd_cdf(0.1) and 0.0 < fresh.rd_cdf(0.1) < 1.0
    row = done.table.set_index("prior").loc["neutral"]
    assert [row["rd_low"], row["rd_median"], row["rd_high"]] == list(fresh.rd_ppf(q))
    assert np.array_equal(kept.density, fresh.density)


# ----------------------------------------------------------------------------- mixtures and MAP
def test_em_recovers_a_two_component_mixture():
    rng = np.random.default_rng(3)
    truth = NormalMixture((0.7, 0.3), (0.0, 3.0), (1.0, 0.5))
    mix, _ = fit_mixture(truth.sample(rng, 20000), 2)
    np.testing.assert_allclose(mix.weights, truth.weights, atol=0.02)
    np.testing.assert_allclose(mix.means, truth.means, atol=0.05)
    np.testing.assert_allclose(mix.sds, truth.sds, atol=0.05)


def _penalised_loglik(x, weights, means, sds):
    weights, means, sds = (np.asarray(a, dtype=float) for a in (weights, means, sds))
    loglik = special.logsumexp(np.log(weights) + stats.norm.logpdf(x[:, None], means, sds), axis=1).sum()
    return loglik - np.sum(x.var() / sds**2 + np.log(sds**2)) / x.size


def test_em_ends_at_a_maximum_of_the_penalised_likelihood():
    # Overlapping components: EM's steps shrink geometrically, and its stopping rule (mean gain per draw
    # below 1e-7) left this fit about 5 log-likelihood units short. A derivative-free search (Nelder-Mead,
    # then BFGS on finite differences) from the fit finds nothing higher.
    from scipy import optimize
    rng = np.random.default_rng(22)
    k = 4
    comp = rng.choice(k, 4000, p=rng.dirichlet(np.full(k, 2.0)))
    x = rng.normal(rng.normal(0, 1, k)[comp], np.exp(rng.normal(-0.5, 0.5, k))[comp])
    mix, loglik = fit_mixture(x, 4)

    def unpack(theta):
        logits = np.concatenate([[0.0], theta[:3]])
        return np.exp(logits - special.logsumexp(logits)), theta[3:7], np.exp(theta[7:])

    def negative(theta):
        return -_penalised_loglik(x, *unpack(theta))

    w = np.asarray(mix.weights)
    start = np.concatenate([np.log(w[1:] / w[0]), mix.means, np.log(mix.sds)])
    found = optimize.minimize(negative, start, method="Nelder-Mead",
                              options={"xatol": 1e-9, "fatol": 1e-9, "maxiter": 20000, "maxfev": 40000})
    found = optimize.minimize(negative, found.x, method="BFGS", options={"gtol": 1e-6})
    assert -found.fun <= -negative(start) + 1e-6
    assert loglik == pytest.approx(_penalised_loglik(x, mix.weights, mix.means, mix.sds)
                                   + np.sum(x.var() / np.asarray(mix.sds)**2 + np.log(np.asarray(mix.sds)**2)) / x.size,
                                   abs=1e-8)


def test_a_component_on_repeated_draws_keeps_the_penalty_s_width_not_a_spike():
    # Half the draws at one value: the plain likelihood grows without bound as a component shrinks onto
    # them (it stopped at the floor 1e-6 SD, log-likelihood 20823); the penalty holds its variance at
    # about 2 S^2 / (n n_k).
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(0, 1, 2000), np.full(2000, 0.3)])
    mix, _ = fit_mixture(x, 2)
    narrow = int(np.argmin(mix.sds))
    n_k = mix.weights[narrow] * x.size
    bound = np.sqrt(2 * x.var() / (x.size * n_k))
    assert mix.sds[narrow] == pytest.approx(bound, rel=1e-3)
    assert mix.means[narrow] == pytest.approx(0.3, abs=1e-2 * bound)


@pytest.mark.parametrize("ratio", [1.0, 1e3, 1e5])
def test_location_information_of_a_mixture_with_a_narrow_component(ratio):
    # The information is sum_k w_k E_k[(p'/p)^2]; with one component 1e5 times narrower than the other
    # a common grid of 40001 points put about 5 points across it (5-100 % off).
    from scipy import integrate
    mix = NormalMixture((0.5, 0.5), (0.0, 0.4), (1.0, 1.0 / ratio))

    def density_score2(x):
        z = (x - np.asarray(mix.means)) / np.asarray(mix.sds)
        dens = np.asarray(mix.weights) * stats.norm.pdf(z) / np.asarray(mix.sds)
        slope = (dens * (-z / np.asarray(mix.sds))).sum()
        return slope**2 / dens.sum() if dens.sum() > 0 else 0.0

    pieces = []
    for m, s in zip(mix.means, mix.sds):
        pieces.append(integrate.quad(density_score2, m - 12 * s, m + 12 * s, epsabs=0, epsrel=1e-11, limit=500)[0])
    # the two windows overlap for ratio 1: integrate the union once instead
    if ratio == 1.0:
        expected = integrate.quad(density_score2, -12.0, 12.4, epsabs=0, epsrel=1e-11, limit=500)[0]
    else:
        expected = integrate.quad(density_score2, -12.0, 0.4 - 12 / ratio, epsabs=0, epsrel=1e-11, limit=500)[0] \
            + pieces[1] + integrate.quad(density_score2, 0.4 + 12 / ratio, 12.0, epsabs=0, epsrel=1e-11, limit=500)[0]
    assert mix.location_information() == pytest.approx(expected, rel=1e-6)


def test_automixfit_picks_one_component_for_normal_draws():
    draws = np.random.default_rng(5).normal(1.0, 0.5, 2000)
    assert len(automixfit(draws).weights) == 1


@pytest.mark.mcmc
def test_map_mixture_reproduces_the_mcmc_predictive_distribution():
    import arviz_stats as azs

    from bayes_il2.reanalysis import fit_map

    table = pd.DataFrame({"study_id": ["SLE", "RA"], "events_t": [16, 20], "n_t": [29, 30],
                          "events_c": [9, 10], "n_c": [30, 30]})
    fitted = fit_map(table, draws=500, tune=500, chains=2, seed=11)
    chains = np.asarray(fitted.fit.draws("theta_new"))
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        mcse = float(azs.mcse(chains, method="quantile", prob=q))
        assert abs(float(fitted.mixture.ppf(q)) - np.quantile(chains, q)) < 3 * mcse


def test_exact_map_mixture_reproduces_the_exact_predictive_distribution():
    from bayes_il2.reanalysis import fit_map

    table = pd.DataFrame({"study_id": ["SLE", "RA"], "outcome": ["responder_sri4", "responder_acr20"],
                          "week": [12, 24], "events_t": [16, 20], "n_t": [29, 30], "events_c": [9, 10], "n_c": [30, 30]})
    fitted = fit_map(table, method="exact", draws=4000, chains=1, seed=4)
    exact = fitted.fit.theta_new
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        x = float(exact.ppf(q))
        mcse = math.sqrt(q * (1 - q) / 4000) / float(exact.pdf(x))  # iid draws from the exact predictive
        assert abs(float(fitted.mixture.ppf(q)) - x) < 4 * mcse


# ----------------------------------------------------------------------------- registry layer
def _registry(study_id: str, disease: str, events: list[tuple], contrasts: list[tuple] = ()) -> SimpleNamespace:
    studies = pd.DataFrame({"study_id": [study_id], "disease": [disease], "design": ["rct"]})
    arms = pd.DataFrame({"study_id": [study_id] * 2, "arm_id": ["il2", "pbo"], "treatment": ["ld_il2", "placebo"]})
    ev = pd.DataFrame(events, columns=["study_id", "arm_id", "outcome", "events", "n", "week_end", "note"])
    ev["method"] = "reported"
    con = pd.DataFrame(list(contrasts), columns=["study_id", "arm_a", "arm_b", "outcome", "week", "measure",
                                                 "estimate", "ci_low", "ci_high", "ci_level", "se", "n_a", "n_b"])
    for frame in (studies, arms, ev, con):
        frame.index = pd.RangeIndex(2, 2 + len(frame), name="line")
    return SimpleNamespace(studies=studies, arms=arms, events=ev, contrasts=con)


PSS_REGISTRY = _registry(
    "He2022_pSS", "pSS",
    [("He2022_pSS", "il2", "responder_essdai3", 20, 30, 24, "primary"), ("He2022_pSS", "pbo", "responder_essdai3", 8, 30, 24, ""),
     ("He2022_pSS", "il2", "infection", 1, 30, 24, ""), ("He2022_pSS", "pbo", "infection", 9, 30, 24, ""),
     ("He2022_pSS", "il2", "severe_ae", 0, 30, 24, ""), ("He2022_pSS", "pbo", "severe_ae", 0, 30, 24, "")],
    [("He2022_pSS", "il2", "pbo", "vas_dryness", 12, "MD", -18.33, -28.46, -8.21, 95, np.nan, 30, 30),
     ("He2022_pSS", "pbo", "il2", "vas_pain", 12, "MD", 10.33, 1.29, 19.38, 95, np.nan, 30, 30),
     ("He2022_pSS", "il2", "pbo", "responder_essdai3", 24, "P", np.nan, np.nan, np.nan, np.nan, np.nan, 30, 30)])

SLE_REGISTRY = _registry(
    "SLE_RCT", "SLE",
    [("SLE_RCT", "il2", "responder_sri4", 16, 29, 12, "primary end point"), ("SLE_RCT", "pbo", "responder_sri4", 9, 30, 12, ""),
     ("SLE_RCT", "il2", "responder_sri4", 19, 29, 24, ""), ("SLE_RCT", "pbo", "responder_sri4", 11, 30, 24, ""),
     ("SLE_RCT", "il2", "infection", 2, 29, 24, ""), ("SLE_RCT", "pbo", "infection", 6, 30, 24, "")])


def test_study_reanalysis_finds_every_two_arm_endpoint():
    result = reanalyze_study(PSS_REGISTRY, "He2022_pSS", None, priors=["skeptical", "neutral", "enthusiastic"])
    assert set(result.tables()) == {"responder_essdai3_w24", "infection_w24", "vas_dryness_w12", "vas_pain_w12"}
    assert result.excluded["endpoint"].tolist() == ["severe_ae_w24"]
    primary = result.tables()["responder_essdai3_w24"].set_index("prior")
    direct = reanalyze(PSS, ["skeptical", "neutral", "enthusiastic"]).set_index("prior")
    np.testing.assert_allclose(primary["median"], direct["median"])
    assert result.endpoint_table("responder_essdai3_w24")["events"].tolist() == [20, 8]


def test_study_reanalysis_orients_contrasts_and_harms_towards_benefit():
    result = reanalyze_study(PSS_REGISTRY, "He2022_pSS", None, priors=["neutral"])
    pain = result.analyses["vas_pain_w12"].endpoint
    assert pain.estimate == pytest.approx(-10.33) and pain.ci_low == pytest.approx(-19.38)
    assert pain.lower_is_better
    infection = result.tables()["infection_w24"].iloc[0]
    assert infection["median"] < 1 and infection["p_benefit"] > 0.9
    assert "P(OR < 1)" in result.headline("infection_w24")


def test_the_same_call_works_on_an_sle_trial_table():
    result = reanalyze_study(SLE_REGISTRY, "SLE_RCT", None, priors=["skeptical", "neutral", "enthusiastic", "map_robust"])
    assert set(result.tables()) == {"responder_sri4_w12", "responder_sri4_w24", "infection_w24"}
    table = result.tables()["responder_sri4_w12"]
    assert table["prior"].tolist() == ["skeptical", "neutral", "enthusiastic"]
    assert any("MAP priors skipped" in n for n in result.notes)
    assert result.headline("responder_sri4_w12").startswith("responder_sri4_w12 (16/29 vs 9/30)")


def test_map_prior_is_used_only_for_responder_endpoints():
    fake = MapPrior(mixture=NormalMixture((1.0,), (0.8,), (0.5,), "map"), draws=np.zeros(10),
                    table=pd.DataFrame({"study_id": ["x"], "outcome": ["responder_sri4"], "week": [12]}))
    result = reanalyze_study(PSS_REGISTRY, "He2022_pSS", None, priors=["neutral", "map", "map_robust"], map_prior=fake)
    assert result.tables()["responder_essdai3_w24"]["prior"].tolist() == ["neutral", "map", "map_robust"]
    assert result.tables()["infection_w24"]["prior"].tolist() == ["neutral"]


def test_map_table_takes_each_trials_primary_responder_endpoint():
    table, notes = map_table(SimpleNamespace(**{k: pd.concat([getattr(PSS_REGISTRY, k), getattr(SLE_REGISTRY, k)])
                                                for k in ("studies", "arms", "events", "contrasts")}),
                             ["SLE_RCT", "Nowhere"])
    assert table[["study_id", "outcome", "week", "events_t", "events_c"]].values.tolist() == [
        ["SLE_RCT", "responder_sri4", 12, 16, 9]]
    assert notes == ["MAP: study 'Nowhere' is not in the registry; left out"]


def test_unknown_study_is_refused():
    with pytest.raises(ModelError, match="not in the registry"):
        reanalyze_study(PSS_REGISTRY, "Nope", None)


def test_figures_are_named_matplotlib_figures():
    from matplotlib.figure import Figure

    result = reanalyze_study(PSS_REGISTRY, "He2022_pSS", None, priors=["skeptical", "neutral", "flat"])
    for endpoint in ("responder_essdai3_w24", "vas_dryness_w12"):
        figs = reanalysis_figures(result, endpoint)
        assert set(figs) == {"reanalysis_densities", "exceedance"}
        assert all(isinstance(f, Figure) for f in figs.values())
        assert len(figs["reanalysis_densities"].axes) == 3


def test_exceedance_is_the_posterior_tail_in_the_benefit_direction():
    analysis = reanalyze_endpoint(DRYNESS, ["flat"], mcid=10)
    x = np.array([-20.0, -10.0, 0.0])
    np.testing.assert_allclose(analysis.exceedance("flat", x), stats.norm.cdf(x, DRYNESS.estimate, DRYNESS.se))


def test_real_registry_pss_reanalysis_when_the_data_are_present():
    from bayes_il2.evidence import load_registry
    from bayes_il2.errors import RegistryError

    try:
        registry = load_registry()
    except (RegistryError, FileNotFoundError, OSError) as exc:
        pytest.skip(f"registry not loadable here: {exc}")
    if "He2022_pSS" not in set(registry.studies["study_id"]):
        pytest.skip("He2022_pSS not in the registry yet")
    result = reanalyze_study(registry, "He2022_pSS", None, priors=["skeptical", "neutral"])
    row = result.tables()["responder_essdai3_w24"].set_index("prior").loc["neutral"]
    assert row["data"] == "20/30 vs 8/30"


def test_flat_prior_with_an_all_zero_treated_arm_is_refused():
    with pytest.raises(ModelError, match="improper"):
        reanalyze(BinaryEndpoint(0, 29, 3, 30, higher_is_better=False), ["flat"])
    # the proper priors still work on the same counts
    assert reanalyze(BinaryEndpoint(0, 29, 3, 30, higher_is_better=False), ["neutral"])["p_benefit"].iloc[0] > 0.5


def test_reanalyze_accepts_a_fitted_map_prior_object():
    mixture = NormalMixture((0.6, 0.4), (0.9, 1.2), (0.4, 0.8), "map")
    fitted = MapPrior(mixture=mixture, draws=np.zeros(10), table=pd.DataFrame())
    a = reanalyze(PSS, ["map", "map_robust"], map_prior=fitted)
    b = reanalyze(PSS, ["map", "map_robust"], map_prior=mixture)
    np.testing.assert_allclose(a["median"], b["median"])
    assert a["prior_ess"].iloc[1] < a["prior_ess"].iloc[0]  # robustification lowers the ESS
