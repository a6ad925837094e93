"""The exact EXNEX engine (bayes_il2.exact.exnex), each answer checked against something independent:
brute-force numerical integration (scipy), the exact three-level engine (p_exch = 1), and the MCMC
EXNEX model (nutpie) within its Monte-Carlo error."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from bayes_il2 import exact
from bayes_il2.engine import choose_engine, exact_exnex_fit, summary
from bayes_il2.errors import ModelError
from bayes_il2.exact.exnex import exnex
from bayes_il2.priors import Flat, HalfNormal, Normal

# 2 diseases x 2 studies (the brute-force case) and 4 diseases (the MCMC comparison)
TINY = pd.DataFrame({"study_id": ["a1", "a2", "b1", "b2"], "disease": ["A", "A", "B", "B"],
                     "yi": [0.9, 1.3, 0.1, -0.3], "vi": [0.05, 0.08, 0.06, 0.04]})
FOUR = pd.DataFrame({"study_id": [f"s{i}" for i in range(8)], "disease": list("AABBCCDD"),
                     "yi": [1.1, 0.9, 1.2, 1.0, 0.8, 1.1, -0.4, -0.2], "vi": [0.04, 0.05, 0.05, 0.06, 0.04, 0.05, 0.05, 0.04]})
PRIORS = {"mu": Normal(0.0, 2.0), "tau_within": HalfNormal(0.5), "tau_between": HalfNormal(0.5),
          "nex": Normal(0.0, 2.0)}


def _post(table, p=0.5):
    return exnex(table["yi"], table["vi"], table["disease"], PRIORS["tau_within"], PRIORS["tau_between"],
                 mu_prior=PRIORS["mu"], nex_prior=PRIORS["nex"], p_exch=p, labels=table["study_id"])


def _brute_force(table, p):
    """log p(y), P(EX_A | y) and E(mu | y) by nested quad over (tau_within, tau_between): for each
    configuration y is multivariate normal with the covariance written out in full (no use of the
    engine's per-disease reduction)."""
    y, v = table["yi"].to_numpy(), table["vi"].to_numpy()
    groups = sorted(set(table["disease"]))
    gi = np.array([groups.index(d) for d in table["disease"]])
    same = gi[:, None] == gi[None, :]
    hn = stats.halfnorm(scale=0.5)
    hn.pdf = lambda t: np.sqrt(2 / np.pi) / 0.5 * np.exp(-0.5 * (t / 0.5) ** 2)  # scipy's frozen pdf is slow
    configs = [np.array(c, bool) for c in itertools.product([True, False], repeat=len(groups))]

    def terms(tw, tb):
        out = []
        for c in configs:
            ex = c[gi]
            cov = (np.diag(v + tw ** 2) + np.where(same & ~ex[:, None], 4.0, 0.0)
                   + np.where(same & ex[:, None] & ex[None, :], tb ** 2, 0.0)
                   + np.where(ex[:, None] & ex[None, :], 4.0, 0.0))
            solved = np.linalg.solve(cov, y)
            dens = (np.exp(-0.5 * y @ solved) / np.sqrt(np.linalg.det(2 * np.pi * cov))
                    * p ** c.sum() * (1 - p) ** (~c).sum())
            # E(mu | y, tw, tb, c): prior mean 0 plus Cov(mu, y) Cov(y)^-1 y
            mu_mean = np.where(ex, 4.0, 0.0) @ solved
            out.append((dens, mu_mean))
        return out

    def integral(fn):
        # the half-normal(0.5) mass beyond 3 is 2e-9: far below the tolerance checked
        return integrate.dblquad(lambda tb, tw: fn(terms(tw, tb)) * hn.pdf(tw) * hn.pdf(tb), 0, 3, 0, 3,
                                 epsabs=1e-12, epsrel=1e-9)[0]

    z = integral(lambda t: sum(d for d, _ in t))
    ex_a = integral(lambda t: sum(d for (d, _), c in zip(t, configs) if c[0]))
    mu = integral(lambda t: sum(d * m for d, m in t))
    return np.log(z), ex_a / z, mu / z


def test_marginal_likelihood_and_means_equal_brute_force_integration():
    post = _post(TINY)
    log_z, ex_a, mu = _brute_force(TINY, 0.5)
    assert post.log_marginal_likelihood == pytest.approx(log_z, abs=1e-6)
    assert post.p_exch_post("A") == pytest.approx(ex_a, abs=1e-6)
    assert post.mu.mean == pytest.approx(mu, abs=1e-6)


def test_p_exch_one_is_the_three_level_engine():
    one = _post(FOUR, p=1.0)
    three = exact.three_level(FOUR["yi"], FOUR["vi"], FOUR["disease"], PRIORS["tau_within"], PRIORS["tau_between"],
                              mu_prior=PRIORS["mu"], labels=FOUR["study_id"])
    assert one.log_marginal_likelihood == pytest.approx(three.log_marginal_likelihood, abs=1e-10)
    for a, b in [(one.mu, three.mu), (one.mu_disease("D"), three.mu_disease("D")), (one.theta("s6"), three.theta("s6")),
                 (one.tau_between, three.tau_between), (one.theta_new, three.theta_new)]:
        assert a.mean == pytest.approx(b.mean, abs=1e-10)
        assert a.ppf(0.9) == pytest.approx(b.ppf(0.9), abs=1e-8)
    assert one.p_exch_post("A") == 1.0
    # a flat mu prior is allowed only where every disease is exchangeable
    exnex(FOUR["yi"], FOUR["vi"], FOUR["disease"], HalfNormal(0.5), HalfNormal(0.5), mu_prior=Flat(), p_exch=1.0)
    with pytest.raises(ModelError, match="proper mu prior"):
        exnex(FOUR["yi"], FOUR["vi"], FOUR["disease"], HalfNormal(0.5), HalfNormal(0.5), mu_prior=Flat(), p_exch=0.5)


def test_outlying_disease_is_less_exchangeable():
    post = _post(FOUR)
    assert post.p_exch_post("D") < min(post.p_exch_post(d) for d in "ABC")


def test_auto_answers_exnex_exactly_when_the_priors_allow():
    assert choose_engine("auto", "exnex", [], PRIORS).engine == "exact"
    assert choose_engine("mcmc", "exnex", [], PRIORS).engine == "mcmc"
    assert choose_engine("auto", "exnex", [], {"mu": PRIORS["mu"]}).engine == "mcmc"
    assert choose_engine("auto", "exnex", [], {**PRIORS, "mu": Flat()}).engine == "mcmc"


@pytest.fixture(scope="module")
def mcmc_fit():
    from bayes_il2.modeling._common import fit_built
    from bayes_il2.modeling.exnex import build_exnex

    return fit_built(build_exnex(FOUR, priors=PRIORS, p_exch=0.5), seed=11, chains=2, draws=1000, tune=1000,
                     target_accept=0.95, progressbar=False)


@pytest.mark.mcmc
def test_mcmc_agrees_with_the_exact_marginals_within_mcse(mcmc_fit):
    import arviz_stats as az

    post = _post(FOUR)
    draws = mcmc_fit.idata["posterior"]
    checks = [("mu", None, post.mu.mean), ("tau_within", None, post.tau_within.mean),
              ("tau_between", None, post.tau_between.mean)]
    checks += [("mu_disease", d, post.mu_disease(d).mean) for d in "ABCD"]
    checks += [("p_exch_post", d, post.p_exch_post(d)) for d in "ABCD"]  # the Rao-Blackwellised estimate
    for name, d, truth in checks:
        x = draws[name] if d is None else draws[name].sel(disease=d)
        mcse = float(az.mcse(x.to_dataset(name="x"))["x"])
        z = (float(x.mean()) - truth) / mcse
        assert abs(z) < 4, (name, d, float(x.mean()), truth, mcse)


def test_exact_fit_summary_and_draws():
    fit = exact_exnex_fit(TINY, priors=PRIORS, p_exch=0.5, draws=1000, chains=4, seed=3)
    post = _post(TINY)
    table = summary(fit, scale="model")
    assert table.loc["mu_disease[B]", "mean"] == pytest.approx(post.mu_disease("B").mean, rel=1e-9)
    assert table.loc["p_exch_post[B]", "mean"] == pytest.approx(post.p_exch_post("B"), rel=1e-12)
    assert table.loc["mu", "mcse_mean"] == 0.0 and np.isnan(table.loc["mu", "r_hat"])
    # the draws are a sample of the exact posterior: KS against the exact cdf
    mu_d = np.asarray(fit.idata["posterior"]["mu_disease"].sel(disease="B")).ravel()
    assert stats.kstest(mu_d, post.mu_disease("B").cdf).pvalue > 1e-3
    w = np.asarray(fit.idata["posterior"]["p_exch_post"].sel(disease="B")).ravel()
    assert abs(w.mean() - post.p_exch_post("B")) < 4 * w.std() / np.sqrt(len(w))


def test_exnex_joins_the_exact_model_average_with_its_marginal_likelihood():
    from bayes_il2.modeling.averaging import exact_model_average

    avg = exact_model_average(FOUR["yi"], FOUR["vi"], mu_prior=PRIORS["mu"], tau_prior=PRIORS["tau_within"],
                              group=FOUR["disease"].tolist(), tau_within_prior=PRIORS["tau_within"],
                              tau_between_prior=PRIORS["tau_between"], exnex={"p_exch": 0.5, "nex": PRIORS["nex"]})
    rows = avg.weights.set_index("model")
    assert list(rows.index) == ["common_effect", "random_effects", "three_level", "exnex"]
    assert rows.loc["exnex", "log_ml"] == pytest.approx(_post(FOUR).log_marginal_likelihood, abs=1e-12)
    assert rows["weight"].sum() == pytest.approx(1.0)
