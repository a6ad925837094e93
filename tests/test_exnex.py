"""EXNEX across diseases (Neuenschwander et al. 2016): reduction to the three-level model at
p_exch = 1 (against the exact engine, within 4 MCSE), a planted non-exchangeable disease,
input checks and the spec option.

Tolerances: agreement with the exact engine within 4 Monte-Carlo standard errors (ArviZ ``mcse``)
of the mean and SD. The planted-outlier checks use a deterministic data set (no simulation noise)
and margins far larger than the MCSE of the quantities compared (about 0.01-0.02 with 2 x 500 draws).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_il2 import exact
from bayes_il2.errors import ModelError, SpecError
from bayes_il2.modeling import fit_built
from bayes_il2.modeling.exnex import build_exnex, exchangeability_table
from bayes_il2.priors import HalfNormal, Normal
from bayes_il2.specs import parse_spec

PRIORS = {"mu": Normal(0.0, 2.0), "tau_within": HalfNormal(0.5), "tau_between": HalfNormal(0.5)}
FAST = {"chains": 2, "draws": 500, "tune": 500, "target_accept": 0.95}
TRUTH = {"A": 0.9, "B": 1.0, "C": 1.1, "D": 1.0, "E": 4.0}  # E is the planted non-exchangeable disease


def planted_table(diseases=tuple(TRUTH), vi: float = 0.25) -> pd.DataFrame:
    """Two studies per disease at truth -/+ 0.1 (no noise: the check is deterministic)."""
    rows = [{"study_id": f"{d}{j}", "disease": d, "yi": TRUTH[d] + dev, "vi": vi}
            for d in diseases for j, dev in enumerate((-0.1, 0.1))]
    return pd.DataFrame(rows)


def _within_mcse(fit, var, marginal, k=4.0, **sel):
    import arviz as az

    da = fit.idata["posterior"][var]
    if sel:
        da = da.sel(**sel).drop_vars(list(sel))
    ds = xr.Dataset({var: da})
    x = np.asarray(da).ravel()
    for stat, est, ref in (("mean", x.mean(), marginal.mean), ("sd", x.std(ddof=1), marginal.sd)):
        se = float(az.mcse(ds, method=stat)[var])
        ref = float(ref() if callable(ref) else ref)
        assert abs(est - ref) <= k * se, f"{var}{sel} {stat}: MCMC {est:.4f} vs exact {ref:.4f} (MCSE {se:.4f})"


@pytest.fixture(scope="module")
def planted_fit():
    return fit_built(build_exnex(planted_table(), priors=PRIORS, p_exch=0.5), seed=3, **FAST)


@pytest.mark.mcmc
def test_p_exch_one_is_the_three_level_model():
    table = planted_table(diseases=("A", "B", "C", "D"), vi=0.1)
    fit = fit_built(build_exnex(table, priors=PRIORS, p_exch=1.0), seed=7, **FAST)
    ref = exact.three_level(table["yi"], table["vi"], table["disease"], PRIORS["tau_within"],
                            PRIORS["tau_between"], mu_prior=PRIORS["mu"])
    _within_mcse(fit, "mu", ref.mu)
    for d in ("A", "B", "C", "D"):
        _within_mcse(fit, "mu_disease", ref.mu_disease(d), disease=d)
    assert np.allclose(np.asarray(fit.idata["posterior"]["p_exch_post"]), 1.0)


@pytest.mark.mcmc
def test_planted_non_exchangeable_disease_is_detected(planted_fit):
    table = exchangeability_table(planted_fit).set_index("disease")
    assert int(planted_fit.idata["sample_stats"]["diverging"].sum()) <= 10
    assert table.loc["E", "p_exch_post"] < 0.2
    assert (table.loc[["A", "B", "C", "D"], "p_exch_post"] > 0.6).all()
    # the plain three-level model (exact) is pulled towards E; EXNEX is not
    plain = planted_table()
    ref = exact.three_level(plain["yi"], plain["vi"], plain["disease"], PRIORS["tau_within"],
                            PRIORS["tau_between"], mu_prior=PRIORS["mu"])
    mu_exnex = float(planted_fit.idata["posterior"]["mu"].mean())
    assert ref.mu.mean - 1.0 > 0.4 and abs(mu_exnex - 1.0) < 0.2
    err_plain = np.mean([abs(ref.mu_disease(d).mean - TRUTH[d]) for d in "ABCD"])
    err_exnex = np.mean([abs(table.loc[d, "mu_disease_mean"] - TRUTH[d]) for d in "ABCD"])
    assert err_exnex < err_plain - 0.03, (err_exnex, err_plain)
    assert abs(table.loc["E", "mu_disease_mean"] - 4.0) < 0.5


def test_p_exch_outside_unit_interval_is_refused():
    for bad in (0.0, -0.1, 1.5, "half", True):
        with pytest.raises(ModelError, match="p_exch"):
            build_exnex(planted_table(), priors=PRIORS, p_exch=bad)


def test_nex_prior_must_be_normal_and_disease_needed():
    with pytest.raises(ModelError, match="nex"):
        build_exnex(planted_table(), priors={**PRIORS, "nex": HalfNormal(1.0)})
    with pytest.raises(ModelError, match="disease"):
        build_exnex(planted_table().drop(columns="disease"), priors=PRIORS)


def test_caveats_of_one_study_per_disease_and_one_disease():
    one_each = planted_table().drop_duplicates("disease")
    built = build_exnex(one_each, priors=PRIORS)
    assert any("not separately identified" in c["message"] for c in built.settings["caveats"])
    with pytest.raises(ModelError, match="two diseases"):
        build_exnex(planted_table(diseases=("A",)), priors=PRIORS)


def test_model_structure_and_prior_probability():
    built = build_exnex(planted_table(), priors={**PRIORS, "nex": Normal(0.5, 1.0)}, p_exch=0.3)
    names = {v.name for v in built.model.free_RVs} | {v.name for v in built.model.deterministics}
    assert {"mu", "tau_within", "tau_between", "mu_disease", "p_exch_post", "theta"} <= names
    assert built.settings["p_exch"] == 0.3 and built.settings["nex_prior"] == [0.5, 1.0]
    # at the prior, p_exch_post is the conditional probability of the EX component: its prior mean is p_exch
    import pymc as pm

    import warnings

    with warnings.catch_warnings():  # the only potential is the leave-out term, 0 at weights 1
        warnings.filterwarnings("ignore", message="The effect of Potentials", category=UserWarning)
        prior = pm.sample_prior_predictive(draws=4000, model=built.model, random_seed=1, var_names=["p_exch_post"])
    w = np.asarray(prior["prior"]["p_exch_post"])
    assert abs(w.mean() - 0.3) < 4 * w.std() / np.sqrt(w.size)


def _spec(**model):
    return {"name": "x", "title": "x", "question": "x", "data": {"kind": "treg_expansion"},
            "model": {"family": "exnex", **model}}


def test_spec_option_p_exch():
    spec = parse_spec(_spec(p_exch=0.25))
    assert spec.model.family == "exnex" and spec.model.family_options() == {"p_exch": 0.25}
    assert parse_spec(_spec(p_exch=1)).model.p_exch == 1.0
    for bad in (0, 1.2, -1):
        with pytest.raises(SpecError, match="p_exch"):
            parse_spec(_spec(p_exch=bad))


@pytest.mark.mcmc
def test_side_by_side_table_shows_the_pull_of_the_outlier(planted_fit):
    from bayes_il2.modeling.structures import exnex_by_disease

    table = exnex_by_disease(planted_fit, planted_table(), PRIORS).set_index("disease")
    assert list(table.index) == list("ABCDE") and (table["k"] == 2).all()
    # the three-level disease means of A-D are pulled up towards E; EXNEX moves them back down
    assert (table.loc[list("ABCD"), "shift"] < 0).all()
    assert table.loc["E", "p_exch_post"] < 0.2 and (table["p_exch_prior"] == 0.5).all()
    assert (table["three_level_low"] < table["three_level_mean"]).all()


def test_shipped_exnex_spec_loads():
    from pathlib import Path

    from bayes_il2.pipeline import spec_priors
    from bayes_il2.specs import load_spec

    spec = load_spec(Path(__file__).resolve().parents[1] / "models" / "treg_by_disease_exnex.toml")
    assert spec.model.family == "exnex" and spec.model.family_options() == {"p_exch": 0.5}
    priors = spec_priors(spec)
    assert priors["nex"] == Normal(0.0, 2.0) and "forest_by_design" in spec.figures


# ---------------------------------------------------------------- event rates (family exnex_rate)
RATE_TRUTH = {"A": 5, "B": 6, "C": 4, "D": 5, "E": 30}  # events of 50 per study; E is the outlier


def rate_table(diseases=tuple(RATE_TRUTH)) -> pd.DataFrame:
    return pd.DataFrame([{"study_id": f"{d}{j}", "disease": d, "events": RATE_TRUTH[d] + dev, "n": 50}
                         for d in diseases for j, dev in enumerate((-1, 1))])


RATE_PRIORS = {"mu": Normal(-2.0, 2.0), "tau_within": HalfNormal(0.5), "tau_between": HalfNormal(0.5)}


@pytest.mark.mcmc
def test_exnex_rate_with_p_exch_one_is_the_two_level_single_arm_model():
    import arviz as az

    from bayes_il2.modeling import build_single_arm
    from bayes_il2.modeling.exnex_rate import build_exnex_rate

    table = rate_table(("A", "B", "C", "D"))
    a = fit_built(build_exnex_rate(table, priors=RATE_PRIORS, p_exch=1.0), seed=8, **FAST)
    b = fit_built(build_single_arm(table, priors=RATE_PRIORS, levels=2), seed=9, **FAST)
    for var in ("mu", "tau_within"):
        ma, mb = (float(f.idata["posterior"][var].mean()) for f in (a, b))
        sa, sb = (float(az.mcse(xr.Dataset({var: f.idata["posterior"][var]}), method="mean")[var]) for f in (a, b))
        assert abs(ma - mb) <= 4 * np.hypot(sa, sb), (var, ma, mb, sa, sb)


@pytest.mark.mcmc
def test_exnex_rate_detects_an_outlying_disease():
    from bayes_il2.modeling.exnex_rate import build_exnex_rate

    fit = fit_built(build_exnex_rate(rate_table(), priors=RATE_PRIORS, p_exch=0.5), seed=10, **FAST)
    table = exchangeability_table(fit).set_index("disease")
    assert table.loc["E", "p_exch_post"] < 0.2
    assert (table.loc[list("ABCD"), "p_exch_post"] > 0.5).all()
    assert {"p_pooled", "p_disease", "p_new"} <= set(fit.idata["posterior"].data_vars)
    assert fit.idata["log_likelihood"]["y"].sizes["study_id"] == 10


@pytest.mark.mcmc
def test_pooling_comparison_tables(planted_fit):
    """The tables an exnex analysis writes: side by side, exact weights with sensitivity, stacking."""
    from bayes_il2.modeling import BUILDERS
    from bayes_il2.modeling.structures import pooling_comparison

    table = planted_table().assign(design=["rct", "single_arm"] * 5)

    def fit_variant(family, priors, options):
        return fit_built(BUILDERS[family](table, priors=priors, **options), seed=5, **FAST)

    out = pooling_comparison(planted_fit, table, PRIORS, fit_variant)
    assert set(out) == {"exnex_by_disease", "model_average"}
    avg = out["model_average"]
    # EXNEX joins the exact set with its exact marginal likelihood (bayes_il2.exact.exnex), and the note says so
    for method, models in (("exact marginal likelihood", ["common_effect", "random_effects", "three_level", "exnex"]),
                           ("stacking", ["exnex", "three_level", "design_bias"])):
        block = avg[avg["method"] == method]
        assert block["model"].tolist() == models + ["averaged"]
        assert block["weight"].iloc[:-1].sum() == pytest.approx(1.0)
    # with an outlying disease the common-effect model has no weight
    exact_w = avg[avg["method"] == "exact marginal likelihood"].set_index("model")["weight"]
    assert exact_w["common_effect"] < 1e-6
    assert isinstance(avg["note"].iloc[0], str) and "predictive" in avg["note"].iloc[0]
    assert "EXNEX (p_exch = 0.5" in avg["note"].iloc[0]


@pytest.mark.parametrize("weight", [None, [1, 0, 1, 1, 0, 0]], ids=["all", "left_out"])
def test_exnex_rate_log_density_is_the_indicator_summed_mixture(weight):
    """The model's log density at a point equals the EXNEX mixture written out with scipy, also with
    leave-out weights (a left-out arm's likelihood drops out of both components)."""
    import pymc as pm
    from scipy import stats
    from scipy.special import logsumexp

    from bayes_il2.modeling.exnex_rate import build_exnex_rate

    table = rate_table(("A", "B", "C"))
    nex = Normal(-1.0, 1.5)
    built = build_exnex_rate(table, priors={**RATE_PRIORS, "nex": nex}, p_exch=0.3)
    model = built.model
    w = np.ones(6) if weight is None else np.asarray(weight, dtype=float)
    with model:
        pm.set_data({"weight": w})
    rng = np.random.default_rng(4)
    point = model.initial_point()
    point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in point.items()}
    logp = float(model.compile_logp()(point))
    # the same density by hand, from the unconstrained point
    mu, tw, tb = point["mu"], np.exp(point["tau_within_log__"]), np.exp(point["tau_between_log__"])
    pick = 1 / (1 + np.exp(-point["ex_pick_interval__"]))
    mu_ex = mu + tb * point["mu_ex_z"]
    mu_nex = -1.0 + 1.5 * point["mu_nex_z"]
    dev = tw * point["study_effect_z"]
    d_idx = np.repeat(np.arange(3), 2)
    r, n = table["events"].to_numpy(), table["n"].to_numpy()
    mix = 0.0
    for d in range(3):
        rows = d_idx == d
        lex = (w[rows] * stats.binom.logpmf(r[rows], n[rows], 1 / (1 + np.exp(-(mu_ex[d] + dev[rows]))))).sum()
        lnex = (w[rows] * stats.binom.logpmf(r[rows], n[rows], 1 / (1 + np.exp(-(mu_nex[d] + dev[rows]))))).sum()
        mix += logsumexp([np.log(0.3) + lex, np.log(0.7) + lnex])
    prior = (stats.norm.logpdf(mu, -2, 2) + stats.halfnorm.logpdf(tw, scale=0.5) + np.log(tw)
             + stats.halfnorm.logpdf(tb, scale=0.5) + np.log(tb)
             + stats.norm.logpdf(point["mu_ex_z"]).sum() + stats.norm.logpdf(point["mu_nex_z"]).sum()
             + stats.norm.logpdf(point["study_effect_z"]).sum()
             + np.sum(np.log(pick * (1 - pick))))  # Uniform(0, 1) on the logit scale
    # the predictive offsets (theta_new_z, ...) are standard normal
    prior += sum(stats.norm.logpdf(point[k]).sum() for k in point if k.endswith("_new_z") or k.endswith("_disease_z"))
    assert logp == pytest.approx(mix + prior, abs=1e-8)


def test_exnex_rate_recovers_mu_disease_from_the_two_components():
    """mu_disease is mu_ex where ex_pick < p_exch_post, else mu_nex; the generative form uses p_exch."""
    import warnings

    import pymc as pm

    from bayes_il2.modeling.exnex_rate import build_exnex_rate

    built = build_exnex_rate(rate_table(), priors=RATE_PRIORS, p_exch=0.3, simulate=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The effect of Potentials", category=UserWarning)
        prior = pm.sample_prior_predictive(draws=4000, model=built.model, random_seed=2,
                                           var_names=["mu_ex", "mu_nex", "mu_disease", "ex_pick"])["prior"]
    ex = np.asarray(prior["mu_disease"] == prior["mu_ex"])
    assert np.array_equal(ex, np.asarray(prior["ex_pick"] < 0.3))
    assert abs(ex.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / ex.size)
    assert np.array_equal(np.asarray(prior["mu_disease"])[~ex], np.asarray(prior["mu_nex"])[~ex])


def test_exnex_rate_nests_arms_and_gives_one_loglik_per_study():
    from bayes_il2.modeling.exnex_rate import build_exnex_rate
    from bayes_il2.modeling.single_arm import build_single_arm

    table = rate_table(("A", "B", "C")).assign(study_id=lambda t: t["disease"] + "x",
                                               arm_id=lambda t: ["lo", "hi"] * 3)
    built = build_exnex_rate(table, priors=RATE_PRIORS, p_exch=1.0)
    plain = build_single_arm(table, priors=RATE_PRIORS, levels=2)
    names = {v.name for v in built.model.free_RVs}
    assert {"rho", "arm_effect_z", "study_effect_z"} <= names and "ex_pick" not in names
    assert built.settings["multi_arm_studies"] == ["Ax", "Bx", "Cx"]
    # p_exch = 1: the same integrated per-study log-likelihood as the two-level single-arm model
    import xarray as xr

    post = xr.Dataset({"mu_disease": (("chain", "draw", "disease"), np.array([[[-2.0, -2.3, -1.8]]])),
                       "tau_within": (("chain", "draw"), np.array([[0.4]])),
                       "rho": (("chain", "draw"), np.array([[0.6]]))},
                      coords={"chain": [0], "draw": [0], "disease": ["A", "B", "C"]})
    const = xr.Dataset({"r": ("study_id", table["events"].to_numpy()), "n": ("study_id", table["n"].to_numpy())})
    a, b = built.integrated_loglik(post, const), plain.integrated_loglik(post, const)
    assert a.sizes["study_id"] == 3 and np.allclose(a, b)


@pytest.mark.mcmc
def test_rate_pooling_comparison_tables():
    """The tables an exnex_rate analysis writes: single-arm / EXNEX / design bias side by side per
    disease, and the stacking average whose averaged mu is the weighted mixture of the three fits."""
    from bayes_il2.modeling import BUILDERS
    from bayes_il2.modeling.exnex_rate import build_exnex_rate
    from bayes_il2.modeling.structures import rate_pooling_comparison

    table = rate_table().assign(design=["rct", "single_arm"] * 5)
    exnex_fit = fit_built(build_exnex_rate(table, priors=RATE_PRIORS, p_exch=0.5), seed=12, **FAST)

    def fit_variant(family, priors, options):
        return fit_built(BUILDERS[family](table, priors=priors, **options), seed=13, **FAST)

    out = rate_pooling_comparison(exnex_fit, table, RATE_PRIORS, fit_variant, bias_options={"bias_sd": 0.5})
    by = out["exnex_by_disease"].set_index("disease")
    assert list(out["exnex_by_disease"].columns) == [
        "disease", "k", "designs", "single_arm_mean", "single_arm_low", "single_arm_high", "exnex_mean", "exnex_low",
        "exnex_high", "p_exch_prior", "p_exch_post", "shift", "design_bias_mean", "design_bias_low",
        "design_bias_high"]
    assert list(by.index) == list("ABCDE") and (by["k"] == 2).all() and (by["designs"] == "rct, single_arm").all()
    # the plain model shrinks the outlier E towards A-D and widens their intervals (a large tau_between);
    # EXNEX leaves E to its own data and pools A-D more tightly (margins >> the quantiles' MCSE of ~0.05)
    assert by.loc["E", "p_exch_post"] < 0.2 and by.loc["E", "shift"] > 0.1
    width = lambda m: by[f"{m}_high"] - by[f"{m}_low"]  # noqa: E731
    assert (width("exnex") < width("single_arm") - 0.1).loc[list("ABCD")].all()
    assert (by["single_arm_low"] < by["single_arm_mean"]).all() and (by["design_bias_mean"] < by["design_bias_high"]).all()
    avg = out["model_average"]
    assert list(avg.columns) == ["method", "model", "prior_prob", "log_ml", "elpd_loo", "pareto_k_high", "weight",
                                 "mu_mean", "mu_low", "mu_high", "prior_sensitive", "note"]
    assert avg["model"].tolist() == ["single_arm", "exnex_rate", "design_bias_rate", "averaged"]
    assert (avg["method"] == "stacking").all()
    w = avg.set_index("model")["weight"]
    assert w.iloc[:-1].sum() == pytest.approx(1.0) and (w.iloc[:-1] >= 0).all()
    # the averaged mu is the weighted mixture of the fits' mu draws (a resample of 4000 draws):
    # its mean within 4 SE of the mixture mean, its 2.5% / 97.5% points at those mixture CDF levels
    fits = {"single_arm": fit_variant("single_arm", RATE_PRIORS, {"levels": 2}), "exnex_rate": exnex_fit,
            "design_bias_rate": fit_variant("design_bias_rate", RATE_PRIORS, {"levels": 2, "bias_sd": 0.5})}
    draws = {m: np.asarray(f.idata["posterior"]["mu"]).ravel() for m, f in fits.items()}
    mix_mean = sum(w[m] * draws[m].mean() for m in draws)
    mix_sd = np.sqrt(sum(w[m] * (draws[m].var() + draws[m].mean() ** 2) for m in draws) - mix_mean ** 2)
    averaged = avg.set_index("model").loc["averaged"]
    assert abs(averaged["mu_mean"] - mix_mean) < 4 * mix_sd / np.sqrt(4000)
    cdf = lambda x: sum(w[m] * (draws[m] < x).mean() for m in draws)  # noqa: E731
    for q, x in ((0.025, averaged["mu_low"]), (0.975, averaged["mu_high"])):
        assert abs(cdf(x) - q) < 4 * np.sqrt(q * (1 - q) / 4000) + 1e-3, (q, cdf(x))
    assert "predictive" in avg["note"].iloc[0]


@pytest.mark.mcmc
def test_quick_sbc_of_exnex_rate_from_its_generative_form():
    """SBC draws truths and data from ``prior_model`` (the generative form) and ranks the vector
    mu_disease element by element (the 100-replication run is in benchmarks/results.md)."""
    from bayes_il2.modeling.calibration import rank_uniformity_pvalue, simulation_based_calibration
    from bayes_il2.modeling.exnex_rate import build_exnex_rate

    table = rate_table(("A", "B", "C"))
    priors = {**RATE_PRIORS, "nex": Normal(-2.0, 1.5)}
    ranks = simulation_based_calibration(build_exnex_rate(table, priors=priors), ["mu", "mu_disease"],
                                         replications=20, draws=200, tune=200, chains=2, thin=4, seed=3,
                                         target_accept=0.95,
                                         prior_model=build_exnex_rate(table, priors=priors, simulate=True).model)
    assert list(ranks.columns) == ["mu", "mu_disease[0]", "mu_disease[1]", "mu_disease[2]", "divergences"]
    assert len(ranks) == 20 and ranks.attrs["max_rank"] == 100
    for col in ranks.columns[:-1]:
        assert ranks[col].between(0, 100).all()
        assert rank_uniformity_pvalue(ranks[col], 100) > 0.001
