"""Issue #19, second round on the single commands: cuts that must not change any output.

- An exact ``bayes-il2 fit`` imports neither ``dask`` nor ``dask.array`` (xarray's dask probes are
  deferred by ``bayes_il2._xarray_dask``), and writes byte-identical CSV files and identical
  posterior.nc arrays to a run where dask.array was imported first (xarray's own probes).
- Once dask is imported, xarray still recognises dask arrays (the simulation runner, ``chunks=``).
- The two-arm integrated log-likelihood, now computed in place, is bit-identical to the expression
  before.
- The posterior predictive function runs in PyTensor's FAST_COMPILE mode (no numba argument typing
  per draw) and draws, for the same seed, exactly what PyMC's default NUMBA mode draws.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from tests.test_fastfit import SMALL_BCG

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, cwd: Path) -> dict:
    """Run ``code`` in a fresh interpreter (this checkout first on the path); it prints one JSON line."""
    env_code = f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + textwrap.dedent(code)
    out = subprocess.run([sys.executable, "-c", env_code], capture_output=True, text=True, cwd=cwd,
                         env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin", "HOME": str(cwd)}, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fit(tmp_path: Path, name: str, preload: str) -> dict:
    return _python(f"""
        import json, sys
        {preload}
        from bayes_il2.cli import main
        code = main(["fit", "small.csv", "--measure", "RR", "--draws", "200", "--chains", "2", "--seed", "5",
                     "--out", {str(tmp_path / name)!r}, "--quiet"])
        print(json.dumps({{"code": code, **{{m: m in sys.modules for m in ("dask", "dask.array")}}}}))
    """, tmp_path)


def test_exact_fit_imports_no_dask_and_writes_what_xarrays_own_probes_write(tmp_path):
    (tmp_path / "small.csv").write_text(SMALL_BCG, encoding="utf-8")
    lean = _fit(tmp_path, "lean", "")
    probed = _fit(tmp_path, "probed", "import dask.array")
    assert lean == {"code": 0, "dask": False, "dask.array": False}
    assert probed == {"code": 0, "dask": True, "dask.array": True}
    csvs = sorted(p.name for p in (tmp_path / "lean").glob("*.csv"))
    assert "summary.csv" in csvs and "diagnostics_convergence.csv" in csvs
    assert csvs == sorted(p.name for p in (tmp_path / "probed").glob("*.csv"))
    for name in csvs:
        assert (tmp_path / "lean" / name).read_bytes() == (tmp_path / "probed" / name).read_bytes(), name
    lean_tree = xr.open_datatree(tmp_path / "lean" / "posterior.nc").load()
    probed_tree = xr.open_datatree(tmp_path / "probed" / "posterior.nc").load()
    groups = [g for g in lean_tree.groups if lean_tree[g].data_vars]
    assert "/posterior" in groups and groups == [g for g in probed_tree.groups if probed_tree[g].data_vars]
    for group in groups:
        for var, da in lean_tree[group].data_vars.items():
            assert np.array_equal(da.values, probed_tree[group][var].values, equal_nan=True), (group, var)


def test_dask_arrays_are_still_dask_arrays_once_dask_is_imported(tmp_path):
    got = _python("""
        import json, sys
        import numpy as np
        from bayes_il2 import _xarray_dask
        _xarray_dask.install()  # what the console script does
        import xarray as xr
        from xarray.namedarray.pycompat import array_type
        from xarray.namedarray.utils import is_duck_dask_array
        before = {"plain": xr.DataArray(np.ones(4)).chunks is None, "dask": "dask" in sys.modules}
        import dask.array as da
        arr = xr.DataArray(da.ones(4, chunks=2), dims="x")
        print(json.dumps({**before, "chunks": [list(c) for c in arr.chunks],
                          "duck": is_duck_dask_array(arr.data), "type": array_type("dask") == (da.Array,),
                          "sum": float((arr * 2).sum().compute())}))
    """, tmp_path)
    assert got == {"plain": True, "dask": False, "chunks": [[2, 2]], "duck": True, "type": True, "sum": 8.0}


# --------------------------------------------------------------------------- posterior predictive mode
RATES = pd.DataFrame({"study_id": ["a", "b", "c", "d"], "events": [3, 7, 2, 11], "n": [20, 31, 15, 40]})
EVENTS = pd.DataFrame({"study_id": ["a", "b", "c", "d"], "events_t": [6, 3, 9, 5], "n_t": [30, 25, 40, 20],
                       "events_c": [3, 2, 4, 4], "n_c": [30, 24, 40, 21]})


@pytest.mark.mcmc
@pytest.mark.parametrize("family", ["nnhm", "binomial_normal", "single_arm"])
def test_predictive_draws_in_fast_compile_mode_are_pymcs_numba_draws_bit_for_bit(family):
    """PREDICTIVE_MODE changes only the speed: the same seed gives the same predictive draws as PyMC's
    default (NUMBA) mode for the Normal (nnhm) and Binomial (logit_p: binomial_normal, single_arm)
    observations."""
    from bayes_il2 import inference
    from bayes_il2.api import meta_analysis

    table = {"nnhm": pd.read_csv(io.StringIO(SMALL_BCG)), "binomial_normal": EVENTS, "single_arm": RATES}[family]
    options = {"measure": "RR"} if family == "nnhm" else {}
    fit = meta_analysis(table, model=family, chains=2, draws=150, tune=150, seed=4, **options)
    assert inference.PREDICTIVE_MODE == "FAST_COMPILE"
    observed = list(fit.idata["posterior_predictive"].data_vars)
    assert observed
    base = fit.idata.copy()
    del base["posterior_predictive"]
    inference.PREDICTIVE_MODE = None  # PyMC's default mode, the reference
    try:
        reference = inference.add_posterior_predictive(base, fit.model, observed, inference.derived_seed(4, 1))
    finally:
        inference.PREDICTIVE_MODE = "FAST_COMPILE"
    for name in observed:
        got, want = fit.idata["posterior_predictive"][name].values, reference["posterior_predictive"][name].values
        assert got.shape == want.shape and np.array_equal(got, want), name


# --------------------------------------------------------------------------- two-arm loglik in place
def _pair_loglik_before(r_c: Any, n_c: Any, r_t: Any, n_t: Any, alpha_mean: Any, alpha_sd: Any,
                        mean: Any, sd: Any, nodes: int = 24) -> np.ndarray:
    """The function as it was before the in-place blocks (main at f72eb15), the reference."""
    from scipy.special import gammaln, logsumexp
    arrays = np.broadcast_arrays(r_c, n_c, r_t, n_t, alpha_mean, alpha_sd, mean, sd)
    rc, nc, rt, nt, am, asd, m, s = (np.asarray(a, dtype=float) for a in arrays)
    pa, pth = 1.0 / asd ** 2, 1.0 / s ** 2
    a, th = am.copy(), m.copy()
    def curvature(a, th):
        pc, pt = 1.0 / (1.0 + np.exp(-a)), 1.0 / (1.0 + np.exp(-(a + th)))
        wc, wt = nc * pc * (1 - pc), nt * pt * (1 - pt)
        return pc, pt, wc + wt + pa, wt, wt + pth  # -H_aa, -H_at, -H_tt
    for _ in range(100):
        pc, pt, haa, hat, htt = curvature(a, th)
        ga = rc - nc * pc + rt - nt * pt - (a - am) * pa
        gt = rt - nt * pt - (th - m) * pth
        det = haa * htt - hat ** 2
        da, dt = (htt * ga - hat * gt) / det, (haa * gt - hat * ga) / det
        a, th = a + np.clip(da, -5.0, 5.0), th + np.clip(dt, -5.0, 5.0)
        if max(np.max(np.abs(da)), np.max(np.abs(dt))) < 1e-10:
            break
    _, _, haa, hat, htt = curvature(a, th)
    det = haa * htt - hat ** 2
    # covariance = inverse of [[haa, hat], [hat, htt]]; its Cholesky factor L (lower)
    caa, cat, ctt = htt / det, -hat / det, haa / det
    l11 = np.sqrt(caa)
    l21 = cat / l11
    l22 = np.sqrt(np.maximum(ctt - l21 ** 2, 1e-300))
    x, w = np.polynomial.hermite.hermgauss(nodes)
    x1, x2 = (g.ravel() for g in np.meshgrid(x, x, indexing="ij"))
    logw = (np.log(w)[:, None] + np.log(w)[None, :]).ravel() + x1 ** 2 + x2 ** 2
    e = (lambda v: v[..., None])
    def log_binom(r, n, eta):
        return e(gammaln(n + 1) - gammaln(r + 1) - gammaln(n - r + 1)) + e(r) * eta - e(n) * np.logaddexp(0.0, eta)
    # The nodes x draws arrays are evaluated in blocks of rows (draws): a few MB each instead of
    # nodes^2 x draws x 8 bytes (18 MB per array for 4000 draws), which keeps them in cache and
    # the peak memory low. Every row is computed exactly as on the whole array (elementwise, then
    # a reduction along the nodes), so the result does not depend on the block size.
    flat = [np.reshape(v, -1) for v in (a, th, l11, l21, l22, rc, nc, rt, nt, am, asd, m, s)]
    out = np.empty(flat[0].shape)
    block = max(1, 2 ** 16 // len(logw))
    for start in range(0, len(out), block):
        a_, th_, l11_, l21_, l22_, rc_, nc_, rt_, nt_, am_, asd_, m_, s_ = (v[start:start + block] for v in flat)
        A = e(a_) + np.sqrt(2.0) * e(l11_) * x1
        T = e(th_) + np.sqrt(2.0) * (e(l21_) * x1 + e(l22_) * x2)
        logf = (log_binom(rc_, nc_, A) + log_binom(rt_, nt_, A + T)
                - np.log(2 * np.pi) - e(np.log(asd_) + np.log(s_))
                - 0.5 * ((A - e(am_)) / e(asd_)) ** 2 - 0.5 * ((T - e(m_)) / e(s_)) ** 2)
        out[start:start + block] = logsumexp(logf + logw, axis=-1) + np.log(2.0 * l11_ * l22_)
    return out.reshape(np.shape(a))


def test_binomial_pair_loglik_in_place_matches_the_expression_before():
    from bayes_il2.modeling._common import binomial_pair_study_loglik

    rng = np.random.default_rng(23)
    shape = (3, 401)
    mu, tau = rng.normal(-0.7, 0.4, shape), np.abs(rng.normal(0.4, 0.2, shape)) + 0.01
    am, asd = rng.normal(-4.0, 1.0, shape), np.abs(rng.normal(1.0, 0.3, shape)) + 0.05
    for counts in [(4, 123, 11, 139), (0, 50, 3, 60), (505, 87886, 499, 87892), (12, 12, 0, 30)]:
        now = binomial_pair_study_loglik(*counts, am, asd, mu, tau)
        before = _pair_loglik_before(*counts, am, asd, mu, tau)
        # the mode finder changed since (damped steps, each draw stopping when it converges): the
        # modes move by < 1e-10, which the quadrature does not see beyond rounding
        assert now.shape == shape, counts
        np.testing.assert_allclose(now, before, rtol=1e-13, atol=0, err_msg=str(counts))


def test_the_library_leaves_xarray_as_it_is(tmp_path):
    """Only the console script defers xarray's dask probes; importing the API changes nothing."""
    got = _python("""
        import json
        import bayes_il2.api, bayes_il2.fit, bayes_il2.engine  # noqa: F401
        from xarray.namedarray import pycompat, utils
        from bayes_il2 import _xarray_dask
        print(json.dumps({"probe": utils.is_dask_collection is _xarray_dask._original_is_dask_collection,
                          "module": "dask" not in pycompat._cached_duck_array_modules}))
    """, tmp_path)
    assert got == {"probe": True, "module": True}


# --------------------------------------------------------------------------- vectorized posterior predictive
_ARMS = pd.DataFrame({"study_id": ["a", "b", "c", "c", "d"], "arm_id": ["1", "1", "1", "2", "1"],
                      "events": [1, 4, 0, 3, 6], "n": [10, 20, 15, 15, 30], "disease": ["x", "y", "y", "y", "z"],
                      "design": ["rct", "single_arm", "rct", "rct", "single_arm"],
                      "exposure_years": [0.25, 0.5, 0.3, 0.3, 1.0]})
_EFFECTS = pd.DataFrame({"study_id": ["a", "b", "c", "d", "e"], "yi": [0.1, 0.5, -0.2, 0.3, 0.8],
                         "vi": [0.04, 0.09, 0.05, 0.02, 0.1], "disease": ["x", "x", "y", "y", "z"],
                         "design": ["rct", "rct", "single_arm", "rct", "single_arm"]})
_PREDICTIVE_CASES = {
    "nnhm": (_EFFECTS, {}), "three_level": (_EFFECTS, {}), "exnex": (_EFFECTS, {}), "design_bias": (_EFFECTS, {}),
    "binomial_normal": (EVENTS, {}), "single_arm": (_ARMS, {"exposure": "cloglog"}),
    "exnex_rate": (_ARMS, {}), "design_bias_rate": (_ARMS, {}),
}


@pytest.mark.mcmc
@pytest.mark.parametrize("family", sorted(_PREDICTIVE_CASES))
def test_vectorized_predictive_draws_are_pymcs_loop_bit_for_bit(family):
    """One call for all draws gives exactly the numbers of pm.sample_posterior_predictive's loop, with
    the same dims and coordinates (every MCMC family; nested arms and the cloglog link included)."""
    from bayes_il2 import inference
    from bayes_il2.api import meta_analysis

    table, options = _PREDICTIVE_CASES[family]
    fit = meta_analysis(table, model=family, chains=2, draws=100, tune=100, seed=5, predictive=False, **options)
    observed = list(fit.model.observed_RVs)
    names = [v.name for v in observed]
    seed = inference.derived_seed(5, 1)
    looped = inference._looped_predictive(fit.idata, fit.model, names, seed)
    if family == "exnex":
        # PyMC cannot resize this graph (a frozen inner graph of logaddexp in the EX/NEX weights):
        # add_posterior_predictive falls back to the loop
        with pytest.raises(AttributeError):
            inference._vectorized_predictive(fit.idata["posterior"].to_dataset(), fit.model, names, seed)
        vectorized = inference.add_posterior_predictive(fit.idata.copy(), fit.model, names, seed)["posterior_predictive"]
    else:
        vectorized = inference._vectorized_predictive(fit.idata["posterior"].to_dataset(), fit.model, names, seed)
        assert vectorized is not None, "the vectorized path applies to this family"
    for name in names:
        assert vectorized[name].dims == looped[name].dims
        assert np.array_equal(vectorized[name].values, looped[name].values), name
        for dim in vectorized[name].dims:
            assert list(vectorized[name][dim].values) == list(looped[name][dim].values)
