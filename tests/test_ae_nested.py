"""Arms nested in studies in the single-arm event-rate model: the integrated likelihoods against
brute-force integration, the log density against an independently written model, and parameter
recovery on simulated multi-arm data."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr
from scipy import stats
from scipy.special import gammaln

from bayes_il2.modeling import build_single_arm, fit_built
from bayes_il2.modeling._nested import arm_loglik, binomial_terms, nested_study_loglik
from bayes_il2.priors import HalfNormal, Normal, Uniform

PRIORS = {"mu": Normal(-1.0, 2.0), "tau": HalfNormal(1.0)}
FAST = {"chains": 2, "draws": 500, "tune": 500}


def _p(eta, link):
    return 1 / (1 + np.exp(-eta)) if link == "logit" else -np.expm1(-np.exp(eta))


def _brute_arm(r, n, mean, sd, offset, link):
    t = np.linspace(mean - 12 * sd - 12, mean + 12 * sd + 12, 200_001)
    logf = stats.binom.logpmf(r, n, np.clip(_p(t + offset, link), 1e-300, 1 - 1e-16)) + stats.norm.logpdf(t, mean, sd)
    top = logf.max()
    return np.log(np.trapezoid(np.exp(logf - top), t)) + top


@pytest.mark.parametrize("link", ["logit", "cloglog"])
@pytest.mark.parametrize("r, n, mean, sd, offset", [(0, 10, -2.0, 0.5, 0.0), (3, 30, -1.0, 1.0, np.log(0.5)),
                                                    (12, 12, 0.5, 2.0, 0.0), (40, 400, -2.0, 3.0, np.log(2.0)),
                                                    (5, 20, -1.0, 1e-3, -1.0)])
def test_arm_integral_matches_brute_force(link, r, n, mean, sd, offset):
    got = arm_loglik(r, n, mean, sd, offset=offset, link=link)
    assert got == pytest.approx(_brute_arm(r, n, mean, sd, offset, link), abs=1e-6)


@pytest.mark.parametrize("link", ["logit", "cloglog"])
def test_binomial_terms_derivatives_match_finite_differences(link):
    eta, h = np.array([-9.0, -2.0, 0.0, 1.5, 4.0]), 1e-5
    value, d1, d2 = binomial_terms(3.0, 10.0, eta, link)
    up, d1_up, _ = binomial_terms(3.0, 10.0, eta + h, link)
    down, d1_down, _ = binomial_terms(3.0, 10.0, eta - h, link)
    np.testing.assert_allclose(d1, (up - down) / (2 * h), atol=1e-6)
    np.testing.assert_allclose(d2, (d1_up - d1_down) / (2 * h), atol=1e-6)
    reference = stats.binom.logpmf(3, 10, _p(eta, link))
    finite = np.isfinite(reference)  # scipy's p rounds to 1 at eta = 4 under cloglog; ours does not
    np.testing.assert_allclose(value[finite], reference[finite], rtol=1e-10)
    if link == "cloglog":
        mu = np.exp(4.0)  # log C(10, 3) + 3 log(1 - exp(-mu)) - 7 mu, with 1 - exp(-mu) = 1 to double precision
        assert value[-1] == pytest.approx(np.log(120.0) - 7 * mu, rel=1e-12)


@pytest.mark.parametrize("link", ["logit", "cloglog"])
def test_arm_integral_derivatives_in_the_mean_match_finite_differences(link):
    kwargs = {"offset": np.log(0.4), "link": link}
    value, grad, hess = arm_loglik(4, 25, -1.2, 0.9, derivatives=True, **kwargs)
    h = 1e-4
    up, down = arm_loglik(4, 25, -1.2 + h, 0.9, **kwargs), arm_loglik(4, 25, -1.2 - h, 0.9, **kwargs)
    assert grad == pytest.approx((up - down) / (2 * h), abs=1e-7)
    assert hess == pytest.approx((up - 2 * value + down) / h**2, abs=1e-4)


def _brute_nested(r, n, offset, centre, tau_study, tau_arm, link, points=1201):
    """Trapezoid rule on fine grids: every arm's integral over its effect e, then over the study effect u."""
    u = np.linspace(-10 * tau_study, 10 * tau_study, points)[:, None]
    e = np.linspace(-10 * tau_arm, 10 * tau_arm, points)[None, :]
    log_given_u = stats.norm.logpdf(u[:, 0], 0, tau_study)
    for a in range(len(r)):
        p = np.clip(_p(centre + u + e + offset[a], link), 1e-300, 1 - 1e-16)
        pmf = np.exp(gammaln(n[a] + 1) - gammaln(r[a] + 1) - gammaln(n[a] - r[a] + 1)
                     + r[a] * np.log(p) + (n[a] - r[a]) * np.log1p(-p))
        inner = np.trapezoid(pmf * stats.norm.pdf(e, 0, tau_arm), e, axis=1)
        log_given_u = log_given_u + np.log(inner)
    top = log_given_u.max()
    return np.log(np.trapezoid(np.exp(log_given_u - top), u[:, 0])) + top


@pytest.mark.parametrize("link", ["logit", "cloglog"])
@pytest.mark.parametrize("tau_study, tau_arm", [(0.9, 0.6), (0.2, 1.5), (1.5, 0.1)])
def test_nested_study_integral_matches_double_integration(link, tau_study, tau_arm):
    r, n = np.array([3.0, 5.0, 6.0]), np.array([6.0, 6.0, 6.0])
    offset = np.log(np.array([0.1, 0.1, 0.2]))
    got = nested_study_loglik(r, n, 0.3, tau_study, tau_arm, offset=offset, link=link)
    assert got == pytest.approx(_brute_nested(r, n, offset, 0.3, tau_study, tau_arm, link), abs=1e-6)


@pytest.mark.parametrize("tau_study", [2.242605465783306, 2.5, 3.0])
def test_nested_integral_where_plain_newton_steps_cycle(tau_study):
    """A posterior draw of adverse_events_rate_design_bias (any_ae: 3/6, 5/6, 6/6 events): clipped Newton
    steps on the study effect jumped between z = 0.05 and z = 3.05 for 100 iterations, both sides of
    the mode (1.8), and the outer nodes were centred on the wrong side (error 3e-4 in the log-likelihood)."""
    r, n = np.array([3.0, 5.0, 6.0]), np.array([6.0, 6.0, 6.0])
    centre, tau_arm = -3.090060462669406, 0.3864132831160559
    got = nested_study_loglik(r, n, centre, tau_study, tau_arm)
    assert got == pytest.approx(_brute_nested(r, n, np.zeros(3), centre, tau_study, tau_arm, "logit"), abs=1e-6)


def test_nested_integral_of_one_arm_is_the_single_arm_integral_with_the_total_sd():
    got = nested_study_loglik([4.0], [20.0], -1.0, 0.8, 0.6)
    assert got == pytest.approx(arm_loglik(4, 20, -1.0, 1.0), abs=1e-9)


# --------------------------------------------------------------------------- the PyMC model
ONE_ARM_EACH = pd.DataFrame({"study_id": ["a", "b", "c", "d"], "events": [1, 4, 0, 9], "n": [12, 30, 8, 20],
                             "exposure_years": [0.25, 0.5, 0.1, 1.0]})


def _reference_model(table, link):
    """The binomial-normal model without nesting, written out independently of the package."""
    off = np.log(table["exposure_years"].to_numpy())
    with pm.Model(coords={"study_id": table["study_id"].tolist()}) as model:
        mu = pm.Normal("mu", -1.0, 2.0)
        tau = pm.HalfNormal("tau", 1.0)
        z = pm.Normal("theta_z", 0.0, 1.0, dims="study_id")
        pm.Normal("theta_new_z", 0.0, 1.0)
        theta = mu + tau * z
        p = pm.math.invlogit(theta) if link == "logit" else 1 - pm.math.exp(-pm.math.exp(theta + off))
        pm.Binomial("events", n=table["n"].to_numpy(), p=p, observed=table["events"].to_numpy())
    return model


@pytest.mark.parametrize("exposure, link", [("none", "logit"), ("cloglog", "cloglog")])
def test_one_arm_per_study_model_has_the_log_density_of_the_plain_model(exposure, link):
    built = build_single_arm(ONE_ARM_EACH, priors=PRIORS, exposure=exposure)
    assert "rho" not in {v.name for v in built.model.free_RVs}
    reference = _reference_model(ONE_ARM_EACH, link)
    ours, theirs = built.model.compile_logp(), reference.compile_logp()
    rng = np.random.default_rng(1)
    for _ in range(5):
        z = rng.normal(size=4)
        point = {"mu": rng.normal(-1, 1), "tau_log__": rng.normal(-0.5, 0.5), "theta_new_z": rng.normal()}
        a = ours({**point, "study_effect_z": z})
        b = theirs({**point, "theta_z": z})
        assert a == pytest.approx(b, rel=1e-10, abs=1e-9)


MULTI = pd.DataFrame({"study_id": ["s1", "s2", "s2", "s2", "s3", "s3"],
                      "arm_id": ["x", "lo", "mid", "hi", "q2", "q4"],
                      "events": [2, 3, 5, 6, 0, 1], "n": [20, 6, 6, 6, 9, 10],
                      "exposure_years": [0.5, 0.2, 0.2, 0.2, 0.6, 0.6]})


def test_multi_arm_studies_are_nested_and_counted_as_studies():
    built = build_single_arm(MULTI, priors=PRIORS)
    assert list(built.model.coords["study"]) == ["s1", "s2", "s3"]
    assert list(built.model.coords["arm"]) == ["s2:lo", "s2:mid", "s2:hi", "s3:q2", "s3:q4"]
    assert built.settings["k_studies"] == 3 and built.settings["k_arms"] == 6
    assert built.settings["multi_arm_studies"] == ["s2", "s3"]
    assert {"rho", "tau_study", "tau_arm"} <= {v.name for v in built.model.free_RVs + built.model.deterministics}
    assert isinstance(built.priors["rho"], Uniform)


@pytest.mark.parametrize("exposure", ["none", "cloglog"])
def test_multi_arm_log_density_is_the_nested_model_written_out(exposure):
    built = build_single_arm(MULTI, priors=PRIORS, exposure=exposure)
    link = "logit" if exposure == "none" else "cloglog"
    logp = built.model.compile_logp(jacobian=False)
    rng = np.random.default_rng(3)
    mu, tau, rho = -0.7, 0.9, 0.6
    zs, za, zn = rng.normal(size=3), rng.normal(size=5), rng.normal()
    point = {"mu": mu, "tau_log__": np.log(tau), "rho_interval__": np.log(rho / (1 - rho)),
             "study_effect_z": zs, "arm_effect_z": za, "theta_new_z": zn}
    s_index = np.array([0, 1, 1, 1, 2, 2])
    sd_study = np.array([tau, tau * np.sqrt(rho), tau * np.sqrt(rho)])
    e = np.concatenate([[0.0], tau * np.sqrt(1 - rho) * za])
    theta = mu + sd_study[s_index] * zs[s_index] + e
    off = np.log(MULTI["exposure_years"].to_numpy()) if link == "cloglog" else 0.0
    expected = (stats.norm.logpdf(mu, -1, 2) + stats.halfnorm.logpdf(tau, scale=1.0) + stats.uniform.logpdf(rho)
                + stats.norm.logpdf(zs).sum() + stats.norm.logpdf(za).sum() + stats.norm.logpdf(zn)
                + stats.binom.logpmf(MULTI["events"], MULTI["n"], _p(theta + off, link)).sum())
    assert logp(point) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("exposure", ["none", "cloglog"])
def test_per_study_log_likelihood_groups_the_arms_of_a_study(exposure):
    built = build_single_arm(MULTI, priors=PRIORS, exposure=exposure)
    link = "logit" if exposure == "none" else "cloglog"
    post = xr.Dataset({"mu": (("chain", "draw"), [[-0.5, -1.0]]), "tau": (("chain", "draw"), [[0.8, 0.4]]),
                       "rho": (("chain", "draw"), [[0.5, 0.9]])}, coords={"chain": [0], "draw": [0, 1]})
    const = xr.Dataset({"r": ("study_id", MULTI["events"].to_numpy()), "n": ("study_id", MULTI["n"].to_numpy()),
                        "log_exposure": ("study_id", np.log(MULTI["exposure_years"].to_numpy()))})
    ll = built.integrated_loglik(post, const)
    assert list(ll["study_id"].values) == ["s1", "s2", "s3"]
    off = np.log(MULTI["exposure_years"].to_numpy()) if link == "cloglog" else np.zeros(6)
    for draw, (mu, tau, rho) in enumerate([(-0.5, 0.8, 0.5), (-1.0, 0.4, 0.9)]):
        s2 = slice(1, 4)
        expected = nested_study_loglik(MULTI["events"].to_numpy()[s2], MULTI["n"].to_numpy()[s2], mu,
                                       tau * np.sqrt(rho), tau * np.sqrt(1 - rho), offset=off[s2], link=link)
        assert float(ll.isel(chain=0, draw=draw).sel(study_id="s2")) == pytest.approx(float(expected), rel=1e-12)
        single = arm_loglik(2, 20, mu, tau, offset=off[0], link=link)
        assert float(ll.isel(chain=0, draw=draw).sel(study_id="s1")) == pytest.approx(float(single), abs=1e-9)


def _simulate_multi_arm(rng, k=30, mu=-1.0, tau=0.8, rho=0.7):
    rows = []
    for s in range(k):
        u = rng.normal(0, tau * np.sqrt(rho))
        arms = 1 + s % 3
        for a in range(arms):
            e = rng.normal(0, tau * np.sqrt(1 - rho)) if arms > 1 else rng.normal(0, tau * np.sqrt(1 - rho))
            n = int(rng.integers(60, 160))
            rows.append({"study_id": f"s{s}", "arm_id": f"a{a}", "n": n,
                         "events": int(rng.binomial(n, 1 / (1 + np.exp(-(mu + u + e)))))})
    return pd.DataFrame(rows)


@pytest.mark.mcmc
def test_nested_model_recovers_simulated_multi_arm_parameters():
    table = _simulate_multi_arm(np.random.default_rng(11))
    fit = fit_built(build_single_arm(table, priors={**PRIORS, "rho": Uniform(0, 1)}), **FAST, seed=5,
                    target_accept=0.95)
    post = fit.idata["posterior"]
    for var, truth in (("mu", -1.0), ("tau", 0.8), ("rho", 0.7)):
        low, high = np.quantile(np.asarray(post[var]).ravel(), [0.005, 0.995])
        assert low <= truth <= high, (var, low, high)
    ll = fit.idata["log_likelihood"]["y"]
    assert ll.sizes["study_id"] == 30 and np.isfinite(np.asarray(ll)).all()
    assert int(fit.idata["sample_stats"]["diverging"].sum()) == 0


@pytest.mark.mcmc
def test_leave_one_study_out_refit_leaves_out_every_arm_of_the_study():
    from scipy.special import logsumexp

    from bayes_il2.diagnostics.loo import refit_loo_elpd

    fit = fit_built(build_single_arm(MULTI, priors=PRIORS), chains=2, draws=300, tune=300, seed=4)
    got = refit_loo_elpd(fit, "s2")
    by_hand = fit.refitter.fit(weight=[1, 0, 0, 0, 1, 1], predictive=False)
    ll = np.asarray(by_hand.idata["log_likelihood"]["y"].sel(study_id="s2")).ravel()
    assert got == pytest.approx(float(logsumexp(ll) - np.log(ll.size)), rel=1e-12)


@pytest.mark.parametrize("link", ["logit", "cloglog"])
def test_quadrature_in_blocks_is_bit_identical_and_bounded_in_memory(link, monkeypatch):
    """The quadrature step runs in blocks of draws: the same numbers as the whole array at once, with
    temporaries that no longer grow with draws x outer x inner nodes (248 MiB -> 26 MiB traced for
    8000 draws of a three-arm study)."""
    import tracemalloc

    from bayes_il2.modeling import _nested

    rng = np.random.default_rng(7)
    draws = 8000
    centre, tau_study, tau_arm = rng.normal(-3, 1, draws), np.abs(rng.normal(0, .7, draws)), np.abs(rng.normal(0, .5, draws))
    args = ([0, 1, 3], [9, 10, 12], centre, tau_study, tau_arm)
    tracemalloc.start()
    blocked = _nested.nested_study_loglik(*args, offset=[0.0, 0.1, -0.2], link=link)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    monkeypatch.setattr(_nested, "_BLOCK_ELEMENTS", 1 << 40)  # one block: the arrays as a whole
    whole = _nested.nested_study_loglik(*args, offset=[0.0, 0.1, -0.2], link=link)
    assert np.array_equal(blocked, whole)
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB traced"
    value, d1, d2 = _nested.arm_loglik(3, 10, centre.reshape(80, 100), tau_arm.reshape(80, 100) + .1, link=link,
                                       derivatives=True)
    monkeypatch.setattr(_nested, "_BLOCK_ELEMENTS", 64)
    again = _nested.arm_loglik(3, 10, centre.reshape(80, 100), tau_arm.reshape(80, 100) + .1, link=link,
                               derivatives=True)
    assert value.shape == (80, 100) and all(np.array_equal(a, b) for a, b in zip((value, d1, d2), again))
