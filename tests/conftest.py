"""Test-session settings: the compile cache lives in the session's temporary folder, never in the
user's ~/.cache (tests that need a cold or a shared cache set BAYES_IL2_CACHE_DIR themselves)."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_compile_cache(tmp_path_factory):
    if "BAYES_IL2_CACHE_DIR" not in os.environ:
        os.environ["BAYES_IL2_CACHE_DIR"] = str(tmp_path_factory.getbasetemp() / "compile_cache")
    yield
