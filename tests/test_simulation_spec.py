"""Simulation specs: the shipped study loads; bad specs raise SpecError naming the file and key."""
from __future__ import annotations

from pathlib import Path

import pytest

from bayes_il2.errors import SpecError
from bayes_il2.simulation.scenarios import scenarios
from bayes_il2.simulation.spec import is_simulation_file, load_simulation_spec
from bayes_il2.specs import discover_specs

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "sim_small_k.toml"

GOOD = """
[simulation]
name = "tiny"
title = "t"
question = "q"
replicates = 4
[scenarios]
k = [3]
[[methods]]
name = "hn"
kind = "exact_nnhm"
tau_prior = { family = "half_normal", scale = 0.5 }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_study_loads_with_its_grid_and_three_methods():
    spec = load_simulation_spec(SHIPPED)
    assert spec.scenarios.k == (3, 4, 5, 6, 8, 10) and spec.replicates == 200
    assert [m.kind for m in spec.methods] == ["exact_nnhm", "exact_nnhm", "reml_hksj"]
    assert len(scenarios(spec)) == 6 * 3


def test_bayes_il2_run_does_not_pick_up_simulation_specs():
    assert all(not is_simulation_file(p) for p in discover_specs())
    assert is_simulation_file(SHIPPED) and SHIPPED not in discover_specs()


@pytest.mark.parametrize(("old", "new", "key", "hint"), [
    ('k = [3]', 'k = [1]', "scenarios.k", ">= 2"),
    ('k = [3]', 'k = [3]\nreporting = ["censored"]', "scenarios.reporting",
     "complete, bounds, missing_sd, pvalue_only"),
    ('k = [3]', 'k = [3]\noutcome = ["binary"]\nreporting = ["bounds"]', "scenarios.outcome", "binary"),
    ('k = [3]', 'k = [3]\nsize = 3', "scenarios.size", "allowed keys"),
    ('kind = "exact_nnhm"', 'kind = "bootstrap"', "methods[0].kind", "exact_nnhm, mcmc_nnhm, reml_hksj"),
    ('tau_prior = { family = "half_normal", scale = 0.5 }', 'tau_prior = { family = "gamma" }',
     "methods[0].tau_prior", "half_normal"),
    ('tau_prior = { family = "half_normal", scale = 0.5 }', '', "methods[0].tau_prior", "required"),
    ('replicates = 4', 'replicates = "many"', "simulation.replicates", "integer"),
    ('replicates = 4', 'replicates = 4\nlevel = 95', "simulation.level", "between 0 and 1"),
    ('kind = "exact_nnhm"', 'kind = "exact_nnhm"\ndraws = 100', "methods[0].draws", "allowed keys"),
])
def test_bad_spec_names_file_and_key(tmp_path, old, new, key, hint):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(SpecError) as err:
        load_simulation_spec(path)
    message = str(err.value)
    assert str(path) in message and f"'{key}'" in message and hint in message


def test_duplicate_method_names_and_missing_methods_are_refused(tmp_path):
    doubled = GOOD + GOOD[GOOD.index("[[methods]]"):]
    with pytest.raises(SpecError, match="'methods'.*unique"):
        load_simulation_spec(write(tmp_path, doubled))
    with pytest.raises(SpecError, match="'methods'"):
        load_simulation_spec(write(tmp_path, GOOD[:GOOD.index("[[methods]]")]))


def test_missing_file_and_invalid_toml_are_spec_errors(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        load_simulation_spec(tmp_path / "absent.toml")
    with pytest.raises(SpecError, match="invalid TOML"):
        load_simulation_spec(write(tmp_path, "[simulation\n"))


def test_fingerprint_changes_with_what_determines_results(tmp_path):
    a = load_simulation_spec(write(tmp_path, GOOD))
    b = load_simulation_spec(write(tmp_path, GOOD.replace("replicates = 4", "replicates = 5")))
    assert a.fingerprint() != b.fingerprint()
    assert a.fingerprint() == load_simulation_spec(write(tmp_path, GOOD)).fingerprint()


def test_run_skips_simulation_studies_beside_the_analysis_specs_and_points_to_simulate():
    from bayes_il2.errors import SpecError
    from bayes_il2.specs import discover_specs, load_spec

    found = [p.name for p in discover_specs()]
    assert SHIPPED.parent == ROOT / "models" and "sim_small_k.toml" not in found and "treg_expansion.toml" in found
    with pytest.raises(SpecError, match="bayes-il2 simulate"):
        load_spec(SHIPPED)
