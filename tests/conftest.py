"""Test-session settings: the compile cache lives in pytest's cache folder (``.pytest_cache/d/
bayes_il2_compile_cache``, git-ignored, removed by ``make clean``), never in the user's ~/.cache. It
is kept between sessions: a model structure is compiled once (about 4 s; 88 structures, 368 s of a
cold suite's test time), and later sessions load it. A clean clone (CI) starts cold, and so does a
session run with ``-p no:cacheprovider`` (its compile cache is then the session's temporary folder).
Tests that need a cold or a shared cache of their own set BAYES_IL2_CACHE_DIR themselves. Under
pytest-xdist the workers of one session share it (the cache is safe under concurrency,
tests/test_compile_cache_disk.py)."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_compile_cache(request, tmp_path_factory):
    if "BAYES_IL2_CACHE_DIR" not in os.environ:
        kept = getattr(request.config, "cache", None)
        if kept is not None:
            folder = kept.mkdir("bayes_il2_compile_cache")
        else:
            base = tmp_path_factory.getbasetemp()
            folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "compile_cache"
        os.environ["BAYES_IL2_CACHE_DIR"] = str(folder)
    yield
