"""What `bayes-il2 run` no longer repeats (issue #19): refits shared by PSIS-LOO and influence, variant
fits without predictive draws, sensitivity scenarios equal to the analysis, and the exact three-level
fit in the EXNEX comparison. Each shortcut must give what the long way gives (same seed: identical;
another engine: within Monte-Carlo error)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from bayes_il2.diagnostics.influence import refit_without
from bayes_il2.diagnostics.loo import refit_loo_elpd
from bayes_il2.modeling import fit_built
from bayes_il2.modeling._common import location_summary
from bayes_il2.modeling.binomial_normal import build_binomial_normal
from bayes_il2.priors import HalfNormal, Normal

pytestmark = pytest.mark.mcmc

EVENTS = pd.DataFrame({"study_id": ["s1", "s2", "s3", "s4", "s5"],
                       "events_t": [6, 3, 9, 5, 7], "n_t": [30, 25, 40, 20, 35],
                       "events_c": [3, 2, 4, 4, 5], "n_c": [30, 24, 40, 21, 35]})


@pytest.fixture(scope="module")
def binomial_fit():
    built = build_binomial_normal(EVENTS, priors={"mu": Normal(0, 1.5), "tau": HalfNormal(0.5)})
    return fit_built(built, chains=2, draws=200, tune=200, seed=7)


def test_loo_and_influence_share_one_refit_per_left_out_study(binomial_fit):
    refitter = binomial_fit.refitter
    hits = refitter.memo_hits
    elpd = refit_loo_elpd(binomial_fit, "s2")  # the PSIS-LOO replacement refits s2 out ...
    summary = refit_without(binomial_fit, "s2")  # ... and the influence table asks for the same fit
    assert refitter.memo_hits == hits + 1
    # the memoised fit is the one a fresh refit gives (same seed, same weights: the same draws)
    fresh = replace(refitter, memo_size=0, _memo=type(refitter._memo)(), memo_hits=0)
    again = fresh.fit(weight=[1.0, 0.0, 1.0, 1.0, 1.0], predictive=False)
    assert location_summary(again) == summary
    ll = np.asarray(again.idata["log_likelihood"]["y"].sel(study_id="s2")).reshape(-1)
    from scipy.special import logsumexp

    assert float(logsumexp(ll) - np.log(ll.size)) == elpd
    assert fresh.memo_hits == 0


def test_memo_keys_on_weights_and_seed(binomial_fit):
    refitter = binomial_fit.refitter
    a = refitter.fit(weight=[0.0, 1.0, 1.0, 1.0, 1.0], predictive=False)
    hits = refitter.memo_hits
    b = refitter.fit(weight=[1.0, 1.0, 0.0, 1.0, 1.0], predictive=False)  # another study left out
    c = refitter.fit(weight=[0.0, 1.0, 1.0, 1.0, 1.0], predictive=False, seed=99)  # another seed
    assert refitter.memo_hits == hits
    assert location_summary(a) != location_summary(b) and location_summary(a) != location_summary(c)
    assert refitter.fit(weight=[0.0, 1.0, 1.0, 1.0, 1.0], predictive=False) is a
    assert refitter.memo_hits == hits + 1
    assert len(refitter._memo) <= refitter.memo_size


# --------------------------------------------------------------------------- exact three-level variant
# Planted: three diseases, one of them shifted; sampling variances as in the Treg tables.
NESTED = pd.DataFrame({"study_id": [f"t{i}" for i in range(1, 10)],
                       "disease": ["A", "A", "A", "B", "B", "B", "C", "C", "C"],
                       "yi": [0.55, 0.70, 0.40, 0.90, 1.10, 0.80, 0.20, 0.35, 0.10],
                       "vi": [0.02, 0.04, 0.03, 0.05, 0.03, 0.04, 0.02, 0.03, 0.05],
                       "measure": "ROMC"})


@pytest.fixture(scope="module")
def nested_priors():
    return {"mu": Normal(0, 2), "tau_within": HalfNormal(0.5), "tau_between": HalfNormal(0.5)}


@pytest.fixture(scope="module")
def mcmc_three_level(nested_priors):
    from bayes_il2.api import meta_analysis

    return meta_analysis(NESTED, model="three_level", priors=nested_priors, draws=1000, tune=1000, chains=2,
                         seed=3, target_accept=0.95)


@pytest.fixture(scope="module")
def exact_three_level(nested_priors):
    from bayes_il2.engine import exact_three_level_fit

    return exact_three_level_fit(NESTED, priors=nested_priors, draws=2000, chains=2, seed=3, predictive=False)


def test_exact_three_level_draws_follow_the_exact_marginals(exact_three_level, nested_priors):
    from bayes_il2 import exact

    post = exact.three_level(NESTED["yi"], NESTED["vi"], NESTED["disease"], nested_priors["tau_within"],
                             nested_priors["tau_between"], mu_prior=nested_priors["mu"])
    n = 4000  # independent draws: MCSE of a mean is sd / sqrt(n)
    checks = [("mu", None, post.mu)] + [("mu_disease", d, post.mu_disease(d)) for d in post.groups]
    for name, coord, marginal in checks:
        x = exact_three_level.draws(name)
        x = np.asarray(x.sel(disease=coord) if coord else x).ravel()
        assert abs(x.mean() - marginal.mean) < 4 * marginal.sd / np.sqrt(n), (name, coord)
        assert abs(x.std() - marginal.sd) < 4 * marginal.sd / np.sqrt(2 * n), (name, coord)
    assert "posterior_predictive" not in exact_three_level.idata.children
    assert exact_three_level.seed == 3 and exact_three_level.sampler == "exact"


def test_exact_three_level_agrees_with_mcmc_within_mcse(exact_three_level, mcmc_three_level):
    """What stacking reads (mu and the per-study log-likelihood) from the exact engine and from MCMC."""
    import arviz as az

    for name in ("mu", "tau_within"):
        a = np.asarray(exact_three_level.draws(name)).ravel()
        m = mcmc_three_level.draws(name)
        mcse = float(az.mcse(mcmc_three_level.idata["posterior"].to_dataset()[[name]], method="mean")[name])
        assert abs(a.mean() - float(m.mean())) < 4 * np.hypot(mcse, a.std() / np.sqrt(a.size)), name
    ll_exact = exact_three_level.idata["log_likelihood"]["y"]
    ll_mcmc = mcmc_three_level.idata["log_likelihood"]["y"]
    mcse = az.mcse(xr_dataset(ll_mcmc), method="mean")["y"]
    for sid in NESTED["study_id"]:
        a = np.asarray(ll_exact.sel(study_id=sid)).ravel()
        diff = a.mean() - float(ll_mcmc.sel(study_id=sid).mean())
        assert abs(diff) < 4 * np.hypot(float(mcse.sel(study_id=sid)), a.std() / np.sqrt(a.size)), sid
    # elpd_loo (what the stacking weights rest on) within a few MCSE of MCMC's
    with np.errstate(all="ignore"):
        e_exact = az.loo(exact_three_level.idata, var_name="y")
        e_mcmc = az.loo(mcmc_three_level.idata, var_name="y")
    assert abs(e_exact.elpd - e_mcmc.elpd) < 0.25  # MCMC's elpd MCSE is ~0.05 here; PSIS noise dominates


def xr_dataset(da):
    return da.to_dataset(name="y")


def test_summary_writes_mu_new_disease_on_the_natural_scale(mcmc_three_level):
    """Issue #19, item 5: mu_new_disease was left on the model scale (e.g. 1.148 beside ratios)."""
    model = mcmc_three_level.summary(scale="model").set_index("parameter")
    natural = mcmc_three_level.summary(scale="natural").set_index("parameter")
    for name in ("mu", "mu_new_disease", "theta_new"):
        # an even number of draws: the median interpolates, so exp(median) only nearly equals median(exp)
        assert natural.loc[name, "median"] == pytest.approx(np.exp(model.loc[name, "median"]), rel=1e-6), name


def test_pipeline_pooling_tables_take_the_exact_three_level_variant():
    """The EXNEX comparison with its three-level variant from the exact engine (what the pipeline now
    does) against the same comparison with an MCMC three-level fit: the three-level stacking row
    agrees within Monte-Carlo error, and no variant carries posterior-predictive draws."""
    from pathlib import Path

    from bayes_il2.modeling import BUILDERS
    from bayes_il2.modeling.exnex import build_exnex
    from bayes_il2.modeling.structures import pooling_comparison
    from bayes_il2.pipeline import pooling_tables, spec_priors
    from bayes_il2.specs import load_spec

    spec = load_spec(Path(__file__).resolve().parents[1] / "models" / "treg_by_disease_exnex.toml")
    spec = spec.with_sampler(draws=500, tune=500, chains=2, seed=5)
    table = NESTED.assign(design=["rct", "single_arm", "single_arm"] * 3)
    priors = spec_priors(spec)
    exnex = fit_built(build_exnex(table, priors=priors, p_exch=0.5), seed=5, chains=2, draws=500, tune=500,
                      target_accept=0.95)
    seen = {}

    def keep(fit_variant):
        def wrapped(family, p, options):
            seen[family] = fit = fit_variant(family, p, options)
            return fit
        return wrapped

    import bayes_il2.modeling.structures as structures

    original = structures.pooling_comparison
    try:
        structures.pooling_comparison = lambda f, t, p, fv: original(f, t, p, keep(fv))
        fast = pooling_tables(spec, table, exnex)["model_average"]
    finally:
        structures.pooling_comparison = original
    assert seen["three_level"].sampler == "exact"
    assert all("posterior_predictive" not in fit.idata.children for fit in seen.values())

    def mcmc_variant(family, p, options):
        return fit_built(BUILDERS[family](table, priors=p, **options), seed=5, chains=2, draws=500, tune=500,
                         target_accept=0.95)

    slow = pooling_comparison(exnex, table, priors, mcmc_variant)["model_average"]
    pick = {name: df[(df["method"] == "stacking")].set_index("model") for name, df in (("fast", fast), ("slow", slow))}
    # mu of the three-level variant: MCMC 2 x 500 draws, MCSE about sd / sqrt(ESS ~ 600)
    sd = (pick["slow"].loc["three_level", "mu_high"] - pick["slow"].loc["three_level", "mu_low"]) / 3.92
    shift = pick["fast"].loc["three_level", "mu_mean"] - pick["slow"].loc["three_level", "mu_mean"]
    assert abs(shift) < 4 * sd / np.sqrt(600)
    assert abs(pick["fast"].loc["three_level", "elpd_loo"] - pick["slow"].loc["three_level", "elpd_loo"]) < 0.25
    # EXNEX row: the same fit in both
    assert pick["fast"].loc["exnex", "elpd_loo"] == pick["slow"].loc["exnex", "elpd_loo"]


# --------------------------------------------------------------------------- sensitivity reuse
def _record_calls(monkeypatch, owner, name: str) -> list[dict]:
    """Replace ``owner.name`` by a pass-through that records each call's keyword arguments."""
    calls, real = [], getattr(owner, name)

    def recording(*args, **options):
        calls.append(options)
        return real(*args, **options)

    monkeypatch.setattr(owner, name, recording)
    return calls


def test_sensitivity_scenarios_equal_to_the_analysis_reuse_its_fit(monkeypatch):
    """treg_all_evidence: the spec's own r (0.5), qualitative policy ('exclude') and aggregates (true)
    give the analysis's rows: those scenarios take the analysis's fit; another r reweights its draws
    (only variances change) or, where the weights are unreliable, is sampled; and a reused row equals
    what a refit gives (same rows, priors and seed: the same draws)."""
    from dataclasses import replace
    from pathlib import Path

    import bayes_il2.pipeline as pipeline
    from bayes_il2.evidence import load_registry
    from bayes_il2.specs import SensitivitySpec, load_spec

    spec = load_spec(Path(__file__).resolve().parents[1] / "models" / "treg_all_evidence.toml")
    # the spec's own value of three kinds of scenario, and one other value that must be sampled
    spec = replace(spec.with_sampler(draws=200, tune=200, chains=2), sensitivity=(
        SensitivitySpec("qualitative", "qualitative_assumption", ("exclude",)),
        SensitivitySpec("aggregates", "aggregates", (True,)),
        SensitivitySpec("r", "prepost_r", (0.5, 0.8))))
    registry = load_registry()
    table, _ = pipeline.build_effects(spec, registry)
    fit = pipeline.fit_table(spec, pipeline.rows_to_fit(spec, table)[0])
    real = pipeline.fit_table
    calls = _record_calls(monkeypatch, pipeline, "fit_table")
    built = _record_calls(monkeypatch, pipeline, "build_effects")
    out = pipeline.run_sensitivity(spec, registry, table, fit)
    assert built == [{"r": 0.8}]  # the spec's own values take the analysis's table, not built again
    same = out[out["value"].isin(["r = 0.5", "qualitative statements: exclude", "published aggregates used"])]
    assert len(same) == 3
    base = fit.idata["posterior"]["mu"].values.ravel()
    for _, row in same.iterrows():
        assert row["mu_mean"] == float(base.mean()) and row["engine"] == "mcmc"
    other = pipeline.rows_to_fit(spec, pipeline.build_effects(spec, registry, r=0.8)[0])[0]
    assert pipeline.rows_key(other) != pipeline.rows_key(pipeline.rows_to_fit(spec, table)[0])
    # r = 0.8 changes only the complete rows' variances: the analysis's draws are reweighted
    assert out.loc[out["value"] == "r = 0.8", "engine"].tolist() == ["mcmc-reweighted"] and calls == []
    # where the weights' Pareto k refuses (here: forced), the scenario is sampled, once
    from bayes_il2.diagnostics import reweight

    monkeypatch.setattr(reweight, "reweighted_scenario", lambda fit_, table_: None)
    out = pipeline.run_sensitivity(spec, registry, table, fit)
    assert out.loc[out["value"] == "r = 0.8", "engine"].tolist() == ["mcmc"]
    assert len(calls) == 1  # r = 0.8 only
    assert all(options == {"predictive": False} for options in calls)  # read only for mu and tau
    # what reuse stands for: a refit of the same rows gives the same numbers
    again = real(spec, pipeline.rows_to_fit(spec, table)[0])
    assert float(again.idata["posterior"]["mu"].values.mean()) == float(base.mean())


def test_rows_key_tells_tables_apart():
    from bayes_il2.pipeline import rows_key

    a = NESTED.copy()
    assert rows_key(a) == rows_key(a.copy()) == rows_key(a[list(reversed(a.columns))])
    assert rows_key(a) != rows_key(a.assign(yi=a["yi"] + 1e-12))
    assert rows_key(a) != rows_key(a.iloc[::-1])
    assert rows_key(a) != rows_key(a.iloc[:-1])


def test_diagnostics_tables_are_identical_with_and_without_the_memo(binomial_fit):
    """Every study refitted (thresholds below any Pareto k): PSIS-LOO's replacements and the influence
    table share the refits, and both tables equal those of a refitter that memoises nothing."""
    from collections import OrderedDict

    from bayes_il2.diagnostics.influence import influence_table
    from bayes_il2.diagnostics.loo import loo_by_study

    def tables(fit):
        loo = loo_by_study(fit.idata, k_threshold=-1.0, exact_elpd=lambda sid: refit_loo_elpd(fit, sid))
        return loo.table, influence_table(fit, k_threshold=-1.0)

    plain = replace(binomial_fit, refitter=replace(binomial_fit.refitter, memo_size=0, _memo=OrderedDict(),
                                                   memo_hits=0))
    memo = replace(binomial_fit, refitter=replace(binomial_fit.refitter, memo_size=8, _memo=OrderedDict(),
                                                  memo_hits=0))
    loo_a, infl_a = tables(plain)
    loo_b, infl_b = tables(memo)
    pd.testing.assert_frame_equal(loo_a, loo_b)
    pd.testing.assert_frame_equal(infl_a, infl_b)
    assert (infl_b["engine"] == "mcmc-refit").all()
    assert memo.refitter.memo_hits == len(EVENTS) and plain.refitter.memo_hits == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim and /proc are glibc/Linux")
def test_release_memory_hands_freed_heap_back_to_the_kernel(tmp_path):
    """Freed small allocations stay in a glibc process until trimmed; the pipeline trims between phases."""
    script = tmp_path / "trim.py"
    script.write_text(textwrap.dedent("""
        import json
        def rss():
            return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) // 1024
        from bayes_il2.processes import release_memory
        base = rss()
        blocks = [bytearray(2000) for _ in range(100_000)]  # 200 MB of heap (below mmap's threshold)
        keep = blocks[-1]  # the top of the heap stays in use: free() alone cannot shrink it
        del blocks
        freed = rss()
        release_memory()
        print(json.dumps({"base": base, "freed": freed, "trimmed": rss(), "keep": len(keep)}))
    """), encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got["freed"] - got["base"] > 150, got  # the freed pages were still resident
    assert got["freed"] - got["trimmed"] > 150, got  # and trimming gave them back
