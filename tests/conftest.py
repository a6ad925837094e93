"""Test-session settings: the compile cache lives in the session's temporary folder, never in the
user's ~/.cache (tests that need a cold or a shared cache set BAYES_IL2_CACHE_DIR themselves). Under
pytest-xdist the workers of one session share it (the cache is safe under concurrency,
tests/test_compile_cache_disk.py), so a model structure is compiled once per session, not once per
worker."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_compile_cache(tmp_path_factory):
    if "BAYES_IL2_CACHE_DIR" not in os.environ:
        base = tmp_path_factory.getbasetemp()
        session = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # workers: <session>/popen-gwN
        os.environ["BAYES_IL2_CACHE_DIR"] = str(session / "compile_cache")
    yield
