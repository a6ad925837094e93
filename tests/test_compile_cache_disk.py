"""The on-disk compile cache (bayes_il2.compile_cache): compile once per model structure, across processes.

Each check runs real compilations in fresh subprocesses, with their own, initially empty, cache
directories (``BAYES_IL2_CACHE_DIR``, PyTensor's ``base_compiledir``), so nothing is shared with
the machine's caches or with other tests.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# argv: mode (cache | nutpie), data shift, tau prior scale. Prints one JSON line.
SCRIPT = r"""
import hashlib, json, sys, time
import numpy as np, pymc as pm, nutpie
import bayes_il2.inference  # strict floating point, as in every bayes_il2 fit
from bayes_il2 import compile_cache, function_cache

mode, shift, scale = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
y = np.array([28.0, 8, -3, 7, -1, 1, 18, 12]) + shift
s = np.array([15.0, 10, 16, 11, 9, 11, 10, 18])
with pm.Model() as model:
    yd = pm.Data("yi", y)
    sd = pm.Data("se", s)
    mu = pm.Normal("mu", 0.0, 10.0)
    tau = pm.HalfCauchy("tau", scale)
    z = pm.Normal("z", 0.0, 1.0, shape=8)
    pm.Normal("y", mu + tau * z, sd, observed=yd)
start = time.perf_counter()
compiled = compile_cache.compile_cached(model) if mode == "cache" else nutpie.compile_pymc_model(model)
seconds = time.perf_counter() - start
trace = nutpie.sample(compiled, draws=200, tune=200, chains=2, seed=7, progress_bar=False)
other = nutpie.sample(compiled.with_data(yi=y + 1.0), draws=200, tune=200, chains=2, seed=7, progress_bar=False)
digest = lambda t: hashlib.sha256(np.ascontiguousarray(t.posterior["mu"].values).tobytes()).hexdigest()
print(json.dumps({"stats": compile_cache.stats(), "functions": function_cache.stats(), "sha": digest(trace), "sha_other_data": digest(other),
                  "seconds": seconds, "dir": str(compile_cache.versioned_dir())}))
"""


def _run(mode: str, cache: Path, shift: float = 0.0, scale: float = 5.0) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               BAYES_IL2_CACHE_DIR=str(cache / "bayes_il2"), PYTENSOR_FLAGS=f"base_compiledir={cache / 'pytensor'}")
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode, str(shift), str(scale)], capture_output=True,
                          text=True, env=env, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("compile_cache")


@pytest.fixture(scope="module")
def first(cache) -> dict:
    return _run("cache", cache)


@pytest.fixture(scope="module")
def second_with_new_data(cache, first) -> dict:
    return _run("cache", cache, shift=3.0)


@pytest.fixture(scope="module")
def nutpie_reference(cache) -> dict:
    """nutpie's own compilation of the ``second_with_new_data`` model (its draws do not depend on
    our cache, so one reference serves every test that compares with it)."""
    return _run("nutpie", cache, shift=3.0)


@pytest.mark.mcmc
def test_first_process_compiles_and_stores(first):
    assert first["stats"] == {"compiled": 1, "loaded": 0, "fallback": 0, "manifest": 0}
    assert first["functions"] == {"built": 1, "loaded": 0, "unkeyed": 0}
    assert list(Path(first["dir"]).glob("functions-*.pkl")), "the PyTensor functions stored beside the callbacks"
    assert list(Path(first["dir"]).glob("*.nbi")), "numba index files in the versioned cache folder"


@pytest.mark.mcmc
def test_second_process_with_new_data_loads_instead_of_compiling(first, second_with_new_data):
    assert second_with_new_data["stats"] == {"compiled": 0, "loaded": 1, "fallback": 0, "manifest": 1}
    # the manifest serves the callbacks without PyTensor functions: none built, none unpickled
    assert second_with_new_data["functions"] == {"built": 0, "loaded": 0, "unkeyed": 0}
    assert second_with_new_data["seconds"] < first["seconds"]


@pytest.mark.mcmc
def test_cached_callbacks_give_the_draws_of_nutpies_own_compilation(second_with_new_data, nutpie_reference):
    reference = nutpie_reference
    assert second_with_new_data["sha"] == reference["sha"]
    assert second_with_new_data["sha_other_data"] == reference["sha_other_data"]  # with_data still works


@pytest.mark.mcmc
def test_without_the_manifest_the_stored_functions_serve_and_draw_the_same(cache, first, nutpie_reference, tmp_path):
    """A cache holding the functions and callbacks but no manifest (e.g. written by an earlier
    version): the PyTensor functions are unpickled, the callbacks loaded, the draws unchanged.
    A copy of the module's cache after ``first`` (so the other tests keep theirs)."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(cache, copy)
    stored = copy / Path(first["dir"]).relative_to(cache)
    manifests = list(stored.glob("manifest-*.pkl"))
    assert manifests
    for manifest in manifests:
        manifest.unlink()
    again = _run("cache", copy, shift=3.0)
    assert again["dir"] == str(stored)
    assert again["stats"] == {"compiled": 0, "loaded": 1, "fallback": 0, "manifest": 0}
    assert again["functions"] == {"built": 0, "loaded": 1, "unkeyed": 0}
    assert list(stored.glob("manifest-*.pkl")), "the manifest is written again"
    assert again["sha"] == nutpie_reference["sha"]


@pytest.mark.mcmc
def test_another_structure_gets_its_own_entry(cache, first):
    other = _run("cache", cache, scale=2.5)  # a different constant in the graph: another key
    assert other["stats"] == {"compiled": 1, "loaded": 0, "fallback": 0, "manifest": 0}
    assert other["functions"] == {"built": 1, "loaded": 0, "unkeyed": 0}
    assert other["sha"] != first["sha"]


@pytest.mark.mcmc
def test_concurrent_processes_on_an_empty_cache_agree(tmp_path):
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda _: _run("cache", tmp_path), range(2))
    assert a["sha"] == b["sha"]
    assert sorted([a["stats"]["compiled"], b["stats"]["compiled"]]) == [0, 1]  # one compiles, one waits and loads
    assert a["stats"]["fallback"] == b["stats"]["fallback"] == 0


def test_cache_folder_is_keyed_by_library_versions(monkeypatch, tmp_path):
    from bayes_il2 import compile_cache

    monkeypatch.setenv("BAYES_IL2_CACHE_DIR", str(tmp_path))
    now = compile_cache.versioned_dir()
    assert now.parent == tmp_path
    versions = compile_cache.library_versions()
    assert {"python", "numba", "llvmlite", "pytensor", "pymc", "nutpie", "numpy"} <= set(versions)
    monkeypatch.setattr(compile_cache, "library_versions", lambda: {**versions, "numba": "0.0.0"})
    assert compile_cache.versioned_dir() != now


def test_cache_root_follows_xdg_when_not_overridden(monkeypatch, tmp_path):
    from bayes_il2 import compile_cache

    monkeypatch.delenv("BAYES_IL2_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compile_cache.cache_root() == tmp_path / "bayes_il2"
