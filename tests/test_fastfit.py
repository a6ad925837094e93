"""Issue #19, the single commands users type: fast paths that must not change any result.

- ``bayes-il2 fit`` on a yi/vi table (exact engine) gives, for a fixed seed, the numbers the code
  gave before the lazy imports, the 150-dpi figures and the h5netcdf writer (pinned below from
  commit 649c41a, the last one before these changes), and it never imports PyMC, nutpie or
  dask.distributed.
- Importing ``bayes_il2.modeling``, ``bayes_il2.priors`` or ``bayes_il2.diagnostics`` loads neither
  PyMC, scipy.stats nor ArviZ; the names still resolve (PEP 562).
- The two-arm integrated log-likelihood evaluated in blocks is bit-identical to the whole-array one.
- Quantities constant over the draws get R-hat/ESS NaN and MCSE 0, without a RuntimeWarning.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]

#: The first six BCG trials (Colditz et al. 1994), log risk ratios from benchmarks/data/bcg.csv.
SMALL_BCG = """study_id,yi,vi
Aronson 1948,-0.8893113339202054,0.32558476500396133
Ferguson & Simes 1949,-1.5853886572014306,0.19458112139814385
Rosenthal et al 1960,-1.3480731482996933,0.4153679653679654
Hart & Sutherland 1977,-1.4415511900213054,0.020010031902247573
Frimodt-Moller et al 1973,-0.21754732221129558,0.05121017216963086
Stein & Aronson 1953,-0.786115585818864,0.0069056184559087574
"""


def _python(code: str, tmp_path: Path | None = None) -> dict:
    """Run ``code`` in a fresh interpreter (this checkout first on the path); it prints one JSON line."""
    env_code = f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + textwrap.dedent(code)
    out = subprocess.run([sys.executable, "-c", env_code], capture_output=True, text=True, cwd=tmp_path or ROOT,
                         env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin",
                              "HOME": str(tmp_path or Path.home())}, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- lazy imports
def test_importing_modeling_priors_diagnostics_loads_no_pymc_scipy_stats_or_arviz():
    loaded = _python("""
        import json, sys
        import bayes_il2.modeling, bayes_il2.priors, bayes_il2.diagnostics, bayes_il2.engine
        heavy = ("pymc", "pytensor", "nutpie", "arviz", "arviz_stats", "scipy.stats")
        print(json.dumps({m: m in sys.modules for m in heavy}))
    """)
    assert not any(loaded.values()), loaded


def test_the_lazy_modeling_names_resolve_to_the_builders():
    got = _python("""
        import json, sys
        from bayes_il2.modeling import BUILDERS, build_nnhm, fit_built
        import bayes_il2.modeling as m
        from bayes_il2.modeling.nnhm import build_nnhm as direct
        print(json.dumps({"same": build_nnhm is direct, "families": sorted(BUILDERS),
                          "all": all(hasattr(m, n) for n in m.__all__), "pymc": "pymc" in sys.modules,
                          "dir": set(m.__all__) <= set(dir(m))}))
    """)
    assert got["same"] and got["all"] and got["dir"] and got["pymc"]
    from bayes_il2.api import FAMILIES

    assert got["families"] == sorted(FAMILIES)  # every family the API offers has a builder
    import bayes_il2.modeling as modeling

    with pytest.raises(AttributeError, match="no attribute 'build_nothing'"):
        modeling.build_nothing  # noqa: B018


# --------------------------------------------------------------------------- the exact fit, before/after
#: Values written by ``bayes-il2 fit small.csv --measure RR --draws 250 --chains 2 --seed 11``, recorded at
#: commit 649c41a (before the changes of issue #19 in this file's commit) and again when the exact path
#: took the data-scaled default mu prior that MCMC takes (Normal(0, 4^2) for RR; it had Normal(0, 10^2)),
#: and again when an exact fit's diagnostics came from the exact engine (session 13): elpd_loo and p_loo
#: are now exact leave-one-out (PSIS gave -6.4201 and 1.5258, max Pareto k 0.54), and the draws table
#: (mcse_mean = sd/sqrt(n)) replaced R-hat/ESS. Any other change to these numbers is unintended.
BEFORE = {"mu_mean_natural": 0.3865112859064083, "mu_hdi_high_natural": 0.5875486808960115,
          "tau_mean": 0.5005426161988443, "elpd_loo": -6.558083990590513, "p_loo": 1.663830055961351,
          "mcse_mean_mu": 0.011149067777164328, "influence_mu_mean_aronson": -0.9980584262699407,
          "sum_mu_draws": -490.05049123597047, "sum_y_rep": -2913.358827426867}


def test_exact_fit_gives_the_numbers_of_before_and_imports_no_pymc(tmp_path):
    (tmp_path / "small.csv").write_text(SMALL_BCG, encoding="utf-8")
    loaded = _python(f"""
        import json, sys
        from bayes_il2.cli import main
        code = main(["fit", "small.csv", "--measure", "RR", "--draws", "250", "--chains", "2", "--seed", "11",
                     "--out", {str(tmp_path / "out")!r}, "--quiet"])
        heavy = ("pymc", "pytensor", "nutpie", "distributed")
        print(json.dumps({{"code": code, **{{m: m in sys.modules for m in heavy}}}}))
    """, tmp_path)
    # distributed: posterior.nc is written without xarray importing it to ask for a dask scheduler
    assert loaded == {"code": 0, "pymc": False, "pytensor": False, "nutpie": False, "distributed": False}
    out = tmp_path / "out"
    summary = pd.read_csv(out / "summary.csv").set_index("parameter")
    assert (pd.read_csv(out / "diagnostics_loo.csv")["elpd_method"] == "exact").all()
    conv = pd.read_csv(out / "diagnostics_convergence.csv").set_index("parameter")
    infl = pd.read_csv(out / "diagnostics_influence.csv").set_index("study_id")
    diag = json.loads((out / "diagnostics.json").read_text(encoding="utf-8"))
    tree = xr.open_datatree(out / "posterior.nc").load()
    now = {"mu_mean_natural": summary.loc["mu", "mean"], "mu_hdi_high_natural": summary.loc["mu", "hdi_high"],
           "tau_mean": summary.loc["tau", "mean"], "elpd_loo": diag["loo_elpd"]["elpd_loo"],
           "p_loo": diag["loo_elpd"]["p_loo"], "mcse_mean_mu": conv.loc["mu", "mcse_mean"],
           "influence_mu_mean_aronson": infl.loc["Aronson 1948", "mu_mean"],
           "sum_mu_draws": float(tree["posterior"]["mu"].values.sum()),
           "sum_y_rep": float(tree["posterior_predictive"]["y"].values.sum())}
    # Identical within the exact engine's tolerances (1e-11 on its integrals; its quadrature nodes and
    # the shortest interval's search may change in the last digits).
    for key, value in BEFORE.items():
        assert now[key] == pytest.approx(value, rel=1e-8, abs=1e-15), key


# --------------------------------------------------------------------------- quadrature in blocks
def test_binomial_pair_loglik_in_blocks_is_bit_identical_to_the_whole_array(monkeypatch):
    from bayes_il2.modeling import _common

    rng = np.random.default_rng(19)
    shape = (3, 401)  # 1203 rows: blocks of 7 rows leave a remainder
    mu, tau = rng.normal(-0.7, 0.4, shape), np.abs(rng.normal(0.4, 0.2, shape)) + 0.01
    am, asd = rng.normal(-4.0, 1.0, shape), np.abs(rng.normal(1.0, 0.3, shape)) + 0.05
    for counts in [(4, 123, 11, 139), (0, 50, 3, 60), (505, 87886, 499, 87892), (12, 12, 0, 30)]:
        monkeypatch.setattr(_common, "_PAIR_BLOCK_ELEMENTS", 10 ** 12)  # one block: the whole array at once
        whole = _common.binomial_pair_study_loglik(*counts, am, asd, mu, tau)
        monkeypatch.setattr(_common, "_PAIR_BLOCK_ELEMENTS", 7 * 24 ** 2)
        blocks = _common.binomial_pair_study_loglik(*counts, am, asd, mu, tau)
        assert blocks.shape == shape and np.array_equal(blocks, whole), counts
        assert np.all(np.isfinite(blocks))
    scalar = _common.binomial_pair_study_loglik(4, 123, 11, 139, -4.0, 1.0, -0.5, 0.4)
    assert np.shape(scalar) == ()


def test_pair_logliks_computed_in_threads_are_the_loop_and_leave_no_thread():
    import threading

    from bayes_il2.modeling._common import binomial_pair_study_loglik, map_in_threads

    rng = np.random.default_rng(7)
    shape = (2, 300)
    mu, tau = rng.normal(-0.7, 0.4, shape), np.abs(rng.normal(0.4, 0.2, shape)) + 0.01
    tables = [(4, 123, 11, 139), (0, 50, 3, 60), (505, 87886, 499, 87892), (12, 12, 0, 30), (6, 306, 29, 303)]
    loop = [binomial_pair_study_loglik(*t, -4.0, 1.0, mu, tau) for t in tables]
    before = set(threading.enumerate())
    threaded = map_in_threads(lambda t: binomial_pair_study_loglik(*t, -4.0, 1.0, mu, tau), tables)
    assert len(threaded) == len(loop) and all(np.array_equal(a, b) for a, b in zip(threaded, loop))
    assert set(threading.enumerate()) == before  # the pool's threads have ended
    assert map_in_threads(lambda t: t * 2, [3]) == [6] and map_in_threads(lambda t: t, []) == []


@pytest.mark.parametrize("link", ["logit", "cloglog"])
def test_single_arm_study_logliks_in_slices_of_draws_are_the_whole_array(monkeypatch, link):
    from bayes_il2.modeling import single_arm

    rng = np.random.default_rng(3)
    s_index = np.array([0, 0, 1, 2, 2, 2, 3, 4])  # two- and three-arm studies beside single arms
    r, n = np.array([1, 3, 0, 2, 5, 1, 7, 0]), np.array([20, 25, 30, 40, 41, 39, 50, 10])
    centres, sd = rng.normal(-2.5, 0.5, (2, 200, 8)), np.abs(rng.normal(0.6, 0.2, (2, 200))) + 0.05
    rho = rng.uniform(0.1, 0.9, (2, 200))
    monkeypatch.setattr(single_arm, "usable_cores", lambda: 3)  # three slices of draws, whatever the machine
    threaded = single_arm.study_logliks(centres, sd, rho, s_index, r, n, np.zeros(8), link)
    monkeypatch.setattr(single_arm, "usable_cores", lambda: 1)  # all draws at once, in this thread
    whole = single_arm.study_logliks(centres, sd, rho, s_index, r, n, np.zeros(8), link)
    assert threaded.shape == (2, 200, 5) and np.array_equal(threaded, whole)
    extra = rng.uniform(0.0, 0.3, (2, 200, 8))  # a study-level extra variance (design-bias shift)
    with_extra = single_arm.study_logliks(centres, sd, rho, s_index, r, n, np.zeros(8), link, extra_var=extra)
    monkeypatch.setattr(single_arm, "usable_cores", lambda: 3)
    assert np.array_equal(single_arm.study_logliks(centres, sd, rho, s_index, r, n, np.zeros(8), link,
                                                   extra_var=extra), with_extra)


def test_binomial_pair_loglik_matches_brute_force_integration():
    """Independent check of the blocked quadrature: a dense 2-D grid over (alpha, theta)."""
    from scipy.special import gammaln, logsumexp

    from bayes_il2.modeling._common import binomial_pair_study_loglik

    rc, nc, rt, nt, am, asd, m, s = 11, 139, 4, 123, -2.5, 1.2, -0.6, 0.5
    a = np.linspace(am - 9 * asd, am + 9 * asd, 1601)[:, None]
    t = np.linspace(m - 9 * s, m + 9 * s, 1601)[None, :]

    def log_binom(r, n, eta):
        return gammaln(n + 1) - gammaln(r + 1) - gammaln(n - r + 1) + r * eta - n * np.logaddexp(0.0, eta)

    logf = (log_binom(rc, nc, a) + log_binom(rt, nt, a + t) - np.log(2 * np.pi * asd * s)
            - 0.5 * ((a - am) / asd) ** 2 - 0.5 * ((t - m) / s) ** 2)
    brute = logsumexp(logf) + np.log((a[1, 0] - a[0, 0]) * (t[0, 1] - t[0, 0]))
    assert float(binomial_pair_study_loglik(rc, nc, rt, nt, am, asd, m, s)) == pytest.approx(brute, abs=1e-8)


# --------------------------------------------------------------------------- constant quantities
def test_constant_quantities_get_nan_rhat_ess_and_zero_mcse_without_warnings():
    from bayes_il2.diagnostics.checks import Thresholds
    from bayes_il2.diagnostics.convergence import convergence_checks, convergence_table

    rng = np.random.default_rng(3)
    varying = rng.normal(size=(4, 200))
    post = xr.Dataset({"mu": (("chain", "draw"), varying),
                       "r": (("chain", "draw"), np.full((4, 200), 0.5))})  # e.g. a fixed correlation
    tree = xr.DataTree.from_dict({"posterior": xr.DataTree(post)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would fail here
        table = convergence_table(tree, ["mu", "r"]).set_index("parameter")
        checks = convergence_checks(tree, table.reset_index(), Thresholds())
    assert table.loc["r", ["r_hat", "ess_bulk", "ess_tail"]].isna().all()
    assert (table.loc["r", ["mcse_mean", "mcse_sd", "mcse_q2.5", "mcse_q97.5"]] == 0).all()
    import arviz_stats

    assert table.loc["mu", "r_hat"] == float(arviz_stats.rhat(post[["mu"]])["mu"])  # the others unchanged
    assert table.loc["mu", "ess_bulk"] == float(arviz_stats.ess(post[["mu"]], method="bulk")["mu"])
    by_name = {c.name: c for c in checks}
    assert "(mu)" in by_name["r_hat"].message and "(mu)" in by_name["ess_bulk"].message

    only_constant = xr.DataTree.from_dict({"posterior": xr.DataTree(post[["r"]])})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = convergence_table(only_constant, ["r"])
        checks = convergence_checks(only_constant, table, Thresholds())
    assert [c.name for c in checks] == ["r_hat"] and checks[0].status == "pass"
    assert "constant over the draws" in checks[0].message


def test_fit_summary_of_a_constant_quantity_has_nan_rhat_and_zero_mcse():
    from bayes_il2.fit import draw_diagnostics

    post = xr.Dataset({"r": (("chain", "draw"), np.full((2, 50), 0.8)),
                       "x": (("chain", "draw", "k"), np.random.default_rng(1).normal(size=(2, 50, 2)))})
    post["x"][:, :, 1] = 1.0  # one element of a vector constant, the other not
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stats = draw_diagnostics(post)
    assert np.isnan(float(stats["r_hat"]["r"])) and float(stats["mcse_mean"]["r"]) == 0.0
    assert np.isfinite(float(stats["r_hat"]["x"][0])) and np.isnan(float(stats["ess_bulk"]["x"][1]))
    assert float(stats["mcse_sd"]["x"][1]) == 0.0 and float(stats["mcse_sd"]["x"][0]) > 0


# --------------------------------------------------------------------------- posterior.nc without the probe
@pytest.mark.parametrize("distributed_loaded", [False, True])
def test_to_netcdf_round_trips_with_and_without_dask_distributed_loaded(tmp_path, distributed_loaded):
    from xarray.backends import locks, writers

    from bayes_il2.engine import exact_nnhm_fit
    from bayes_il2.fit import Fit

    if distributed_loaded:
        pytest.importorskip("distributed")
    table = pd.read_csv(io.StringIO(SMALL_BCG))
    fit = exact_nnhm_fit(table, priors={}, measure="RR", draws=50, chains=2, seed=1)
    probes = locks.get_dask_scheduler, writers.get_dask_scheduler
    path = fit.to_netcdf(tmp_path / "posterior.nc")
    assert (locks.get_dask_scheduler, writers.get_dask_scheduler) == probes  # restored
    back = Fit.load(path)
    for group in ("posterior", "log_likelihood", "posterior_predictive"):
        for name, da in fit.idata[group].data_vars.items():
            assert np.array_equal(back.idata[group][name].values, da.values), (group, name)
