"""Analysis specs: every shipped spec loads, and bad specs are rejected naming file and key."""
from __future__ import annotations

import pytest

from bayes_il2.errors import SpecError
from bayes_il2.specs import AnalysisSpec, discover_specs, load_spec, parse_spec

BASE = {"name": "demo", "title": "Demo", "question": "Does it work?"}
REQUIRED_SHIPPED = {"treg_expansion", "treg_by_disease", "adverse_events_rate",
                    "adverse_events_vs_placebo", "pss_reanalysis", "treg_sensitivity"}


def spec(**sections):
    return {**BASE, **sections}


def test_every_shipped_spec_loads_and_the_required_ones_exist():
    specs = {load_spec(p).name: load_spec(p) for p in discover_specs()}
    assert REQUIRED_SHIPPED <= set(specs)
    assert all(isinstance(s, AnalysisSpec) for s in specs.values())


def test_minimal_spec_gets_documented_defaults():
    s = parse_spec(spec())
    assert (s.model.family, s.data.kind, s.data.measure, s.data.prepost_r) == ("nnhm", "treg_expansion", "ROMC", 0.5)
    assert (s.sampler.sampler, s.sampler.chains, s.sampler.draws, s.sampler.tune) == ("nutpie", 4, 1000, 1000)


def test_sampler_overrides_replace_only_given_values():
    s = parse_spec(spec()).with_sampler(draws=200, seed=None)
    assert s.sampler.draws == 200 and s.sampler.seed == 20221110


BAD = [
    ("unknown top-level key", spec(colour="red"), "colour", "allowed"),
    ("missing title", {"name": "x", "question": "q"}, "title", "missing"),
    ("unknown section key", spec(model={"famly": "nnhm"}), "model.famly", "allowed keys"),
    ("unknown family", spec(model={"family": "gp"}), "model.family", "nnhm"),
    ("wrong type draws", spec(sampler={"draws": "many"}), "sampler.draws", "integer"),
    ("boolean draws", spec(sampler={"draws": True}), "sampler.draws", "boolean"),
    ("bad measure", spec(data={"measure": "XYZ"}), "data.measure", "ROMC"),
    ("family/data mismatch", spec(model={"family": "binomial_normal"}), "model.family", "event_contrast"),
    ("event data without outcome", spec(data={"kind": "event_rate"}, model={"family": "single_arm"}),
     "data.outcome", "required"),
    ("correlation out of range", spec(data={"prepost_r": 1.0}), "data.prepost_r", "between"),
    ("dose bounds reversed", spec(filters={"dose_min_miu": 3.0, "dose_max_miu": 1.0}), "filters.dose_min_miu", "exceed"),
    ("covariates on binomial", spec(data={"kind": "event_contrast", "outcome": "any_ae", "measure": "OR"},
                                    model={"family": "binomial_normal", "covariates": ["dose_miu"]}),
     "model.covariates", "nnhm"),
    ("prior without family", spec(priors={"tau": {"scale": 1.0}}), "priors.tau.family", "required"),
    ("unknown prior parameter name", spec(priors={"sigma": {"family": "normal"}}), "priors.sigma", "allowed"),
    ("sensitivity kind", spec(sensitivity=[{"name": "a", "kind": "magic"}]), "sensitivity[0].kind", "tau_prior"),
    ("r sensitivity on events", spec(data={"kind": "event_rate", "outcome": "any_ae", "measure": "PLO"},
                                     model={"family": "single_arm"},
                                     sensitivity=[{"name": "r", "kind": "prepost_r", "values": [0.2]}]),
     "sensitivity[0].kind", "treg_expansion"),
    ("unknown skewed policy", spec(data={"skewed": "drop"}), "data.skewed", "lognormal"),
    ("skewed policy on events", spec(data={"kind": "event_rate", "outcome": "any_ae", "measure": "PLO",
                                           "skewed": "exclude"}, model={"family": "single_arm"}),
     "data.skewed", "treg_expansion"),
    ("skewed sensitivity value", spec(sensitivity=[{"name": "s", "kind": "skewed_summaries", "values": ["trim"]}]),
     "sensitivity[0].values", "exclude"),
    ("skewed sensitivity on events", spec(data={"kind": "event_rate", "outcome": "any_ae", "measure": "PLO"},
                                          model={"family": "single_arm"},
                                          sensitivity=[{"name": "s", "kind": "skewed_summaries",
                                                        "values": ["exclude"]}]),
     "sensitivity[0].kind", "treg_expansion"),
    ("flagged sensitivity severity", spec(sensitivity=[{"name": "f", "kind": "exclude_flagged", "values": ["fatal"]}]),
     "sensitivity[0].values", "error"),
    ("unknown figure", spec(figures=["pie"]), "figures", "forest"),
    ("reanalysis section on nnhm", spec(reanalysis={"robust_weight": 0.2}), "reanalysis", "only allowed"),
    ("robust weight > 1", spec(data={"kind": "reanalysis", "study": "He2022_pSS", "measure": "OR"},
                               model={"family": "reanalysis"}, reanalysis={"robust_weight": 1.5}),
     "reanalysis.robust_weight", "[0, 1]"),
    ("bad name", {**BASE, "name": "a b"}, "name", "letters"),
]


@pytest.mark.parametrize("case, raw, key, allowed", BAD, ids=[b[0] for b in BAD])
def test_bad_spec_is_rejected_naming_file_key_and_allowed_values(case, raw, key, allowed):
    with pytest.raises(SpecError) as info:
        parse_spec(raw, source="models/bad.toml")
    message = str(info.value)
    assert "models/bad.toml" in message
    assert f"'{key}'" in message
    assert allowed in message


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "broken\n', encoding="utf-8")
    with pytest.raises(SpecError, match="broken.toml: invalid TOML"):
        load_spec(path)


def test_spec_name_must_match_file_name(tmp_path):
    path = tmp_path / "other.toml"
    path.write_text('name = "demo"\ntitle = "t"\nquestion = "q"\n', encoding="utf-8")
    with pytest.raises(SpecError, match="must equal the file name stem 'other'"):
        load_spec(path)


def test_missing_spec_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "nope.toml")


def test_skewed_policies_match_the_effects_layer():
    from bayes_il2.effects.registry import SKEWED_POLICIES
    from bayes_il2.specs import SKEWED_POLICIES as SPEC_POLICIES

    assert SPEC_POLICIES == SKEWED_POLICIES
    assert parse_spec(spec(data={"skewed": "lognormal"})).data.skewed == "lognormal"
