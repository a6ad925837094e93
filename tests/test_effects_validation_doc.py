"""docs/effects_validation.md lists every measure and conversion with the published number it reproduces.

A new measure or conversion without a row there fails here, so the table cannot silently fall behind.
"""
from __future__ import annotations

import inspect
import re
from pathlib import Path

from bayes_il2 import effects as fx

DOC = Path(__file__).resolve().parents[1] / "docs" / "effects_validation.md"
# Public callables that build tables or dispatch to the measures rather than compute one themselves
NOT_A_MEASURE = {"escalc", "natural_scale", "prepost_effect", "over_r", "treg_expansion_effects",
                 "treg_partial_effects", "event_rate_effects", "event_contrast_table"}


def _documented_names() -> set[str]:
    return set(re.findall(r"`([a-z_]+)`", DOC.read_text(encoding="utf-8")))


def test_every_measure_code_has_a_row():
    rows = set(re.findall(r"^\| ([A-Z]+) \|", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE))
    assert set(fx.MEASURES["code"]) <= rows, set(fx.MEASURES["code"]) - rows


def test_every_public_effect_function_is_listed():
    functions = {name for name in fx.__all__
                 if inspect.isfunction(getattr(fx, name)) and name not in NOT_A_MEASURE}
    missing = functions - _documented_names()
    assert not missing, f"add to docs/effects_validation.md: {sorted(missing)}"


def test_every_listed_function_exists():
    unknown = {name for name in _documented_names() if name not in fx.__all__} - {"none", "only0", "all",
                                                                                   "sweeting", "wan"}
    assert not unknown, f"docs/effects_validation.md names functions that do not exist: {sorted(unknown)}"
