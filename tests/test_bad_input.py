"""Bad input never reaches the sampler: a clear message naming the problem and exit code 2 (#13)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from bayes_il2 import cli
from bayes_il2.errors import ModelError, SpecError

MODELS = Path(cli.__file__).resolve().parents[1] / "models"
EFFECTS = "study,yi,vi\nA,0.2,0.04\nB,0.5,0.09\nC,0.1,0.02\n"


def _csv(tmp_path: Path, text: str, name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("option, value", [("--draws", "0"), ("--draws", "-5"), ("--tune", "-1"), ("--seed", "-1"),
                                           ("--chains", "0"), ("--seed", str(2 ** 70))])
def test_out_of_range_sampler_options_are_refused_before_any_compile(tmp_path, capsys, option, value):
    csv = _csv(tmp_path, EFFECTS)
    started = time.perf_counter()
    assert cli.main(["fit", str(csv), "--out", str(tmp_path / "o"), option, value]) == cli.EXIT_BAD_INPUT
    assert cli.main(["run", str(MODELS / "treg_expansion.toml"), "--out", str(tmp_path / "r"), option, value]) \
        == cli.EXIT_BAD_INPUT
    assert time.perf_counter() - started < 5
    err = capsys.readouterr().err
    assert option in err and "Traceback" not in err


def test_spec_and_api_apply_the_same_sampler_rules(tmp_path):
    from bayes_il2 import meta_analysis
    from bayes_il2.specs import parse_spec

    base = {"name": "x", "title": "t", "question": "q"}
    with pytest.raises(SpecError, match="sampler.seed"):
        parse_spec({**base, "sampler": {"seed": -1}})
    with pytest.raises(SpecError, match="sampler.draws"):
        parse_spec({**base, "sampler": {"draws": 0}})
    import pandas as pd

    table = pd.DataFrame({"study_id": ["a", "b"], "yi": [0.1, 0.2], "vi": [0.1, 0.1]})
    with pytest.raises(ModelError, match="seed"):
        meta_analysis(table, seed=2 ** 40)
    with pytest.raises(ModelError, match="chains"):
        meta_analysis(table, chains=0)


@pytest.mark.parametrize("text, rule", [
    ("study,yi,vi\nA,1e308,1e300\nB,0.1,0.1\n", "out_of_range"),
    ("study,yi,vi\nA,0.1,1e-30\nB,0.1,0.1\n", "out_of_range"),
    ("study,yi,vi\nA,0.1,inf\nB,0.1,0.1\n", "not_finite"),
    ("study,yi,vi\n", "no_rows"),
    ("study,yi,vi,se\nA,0.1,0.04,0.5\nB,0.2,0.09,0.3\n", "vi_se_conflict"),
])
def test_effect_csvs_the_sampler_cannot_take_name_the_row_and_rule(tmp_path, capsys, text, rule):
    csv = _csv(tmp_path, text)
    assert cli.main(["fit", str(csv), "--out", str(tmp_path / "o")]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert rule in err and "in.csv" in err and "Traceback" not in err


def test_an_effect_out_of_range_is_named_by_its_own_column(tmp_path, capsys):
    # "|yi| = 1.2e+06 exceeds 1e+06" was reported under [vi] with vi's value
    csv = _csv(tmp_path, "study_id,yi,vi\nA,1e5,1\nB,1.2e6,1\nC,0.8e5,1\n")
    assert cli.main(["fit", str(csv), "--out", str(tmp_path / "o")]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "in.csv:3 [yi]: value='1.2e6'" in err


@pytest.mark.parametrize("text, rule", [
    ("study,events_t,n_t,events_c,n_c\nA,1,0,0,10\n", "not_positive"),
    ("study,events_t,n_t,events_c,n_c\nA,0,10,0,10\nB,0,12,0,11\n", "no_events"),
    ("study,events_t,n_t,events_c,n_c\nA,30,30,30,30\nB,25,25,25,25\n", "all_events"),
    ("study,events,n\nA,3,2\n", "events_le_n"),
])
def test_count_csvs_with_impossible_or_unidentified_counts_are_refused(tmp_path, capsys, text, rule):
    csv = _csv(tmp_path, text)
    assert cli.main(["fit", "--counts", str(csv), "--out", str(tmp_path / "o")]) == cli.EXIT_BAD_INPUT
    assert rule in capsys.readouterr().err


def test_user_errors_that_used_to_print_tracebacks(tmp_path, capsys):
    assert cli.main(["fit", str(tmp_path), "--out", str(tmp_path / "o")]) == cli.EXIT_BAD_INPUT
    assert "is a folder" in capsys.readouterr().err
    csv = _csv(tmp_path, EFFECTS)
    assert cli.main(["fit", str(csv), "--tau-prior", "half_normal:abc", "--out", str(tmp_path / "o")]) \
        == cli.EXIT_BAD_INPUT
    assert "not a number" in capsys.readouterr().err
    assert cli.main(["reanalyze", "--study", "He2022_pSS", "--prior", "map", "--map-study", "NoSuchTrial"]) \
        == cli.EXIT_BAD_INPUT
    assert "NoSuchTrial" in capsys.readouterr().err


def test_run_on_a_folder_runs_every_spec_in_it(tmp_path):
    folder = tmp_path / "specs"
    folder.mkdir()
    for name in ("treg_expansion", "treg_sensitivity"):  # exact engine: seconds
        (folder / f"{name}.toml").write_text((MODELS / f"{name}.toml").read_text())
    assert cli.main(["run", str(folder), "--out", str(tmp_path / "r"), "--quiet"]) == cli.EXIT_OK
    for name in ("treg_expansion", "treg_sensitivity"):
        assert (tmp_path / "r" / name / "run.json").exists()


# --------------------------------------------------------------------------- no silent choices
def test_counts_with_a_measure_model_or_covariate_it_cannot_honour_are_errors(tmp_path, capsys):
    csv = _csv(tmp_path, "study,events_t,n_t,events_c,n_c\nA,3,10,1,10\nB,4,12,2,11\n")
    for extra in (["--measure", "RR"], ["--model", "nnhm"], ["--covariate", "year"]):
        assert cli.main(["fit", "--counts", str(csv), *extra, "--out", str(tmp_path / "o")]) == cli.EXIT_BAD_INPUT
        assert "conflicts with --counts" in capsys.readouterr().err


def test_three_level_without_a_group_column_is_refused(tmp_path, capsys):
    csv = _csv(tmp_path, EFFECTS)
    assert cli.main(["fit", str(csv), "--model", "three_level", "--out", str(tmp_path / "o")]) == cli.EXIT_BAD_INPUT
    assert "group" in capsys.readouterr().err


def test_what_fit_infers_is_printed_and_recorded(tmp_path, capsys):
    import json

    csv = _csv(tmp_path, "study;yi;se;group\nA;0.2;0.2;x\nB;0.5;0.3;x\nC;0.1;0.15;y\nD;0.3;0.2;y\n")
    out = tmp_path / "o"
    assert cli.main(["fit", str(csv), "--out", str(out), "--draws", "60", "--tune", "60", "--chains", "2",
                     "--quiet"]) == cli.EXIT_OK
    err = capsys.readouterr().err
    inferred = json.loads((out / "run.json").read_text())["inferences"]
    for words in ("semicolon", "vi = se^2", "three_level", "generic (GEN)"):
        assert any(words in line for line in inferred), (words, inferred)
        assert words in err
    summary = (out / "summary.csv").read_text()
    assert "GEN" not in summary or "MD" not in summary


def test_filters_that_drop_every_study_make_the_analysis_an_error(tmp_path, capsys):
    spec = tmp_path / "nothing_left.toml"
    spec.write_text((MODELS / "treg_expansion.toml").read_text().replace('name = "treg_expansion"',
                                                                         'name = "nothing_left"')
                    .replace("include_duplicates = false", 'include_duplicates = false\ndiseases = ["pSS"]'))
    assert cli.main(["run", str(spec), "--out", str(tmp_path / "r"), "--quiet", "--no-report"]) == cli.EXIT_BAD_INPUT
    assert "no study" in capsys.readouterr().out


def test_a_relative_data_path_is_read_from_the_spec_folder(tmp_path, monkeypatch):
    from bayes_il2.specs import load_spec

    (tmp_path / "sub").mkdir()
    spec = tmp_path / "sub" / "mine.toml"
    spec.write_text('name = "mine"\ntitle = "t"\nquestion = "q"\n[data]\nkind = "user_effects"\npath = "e.csv"\n'
                    'measure = "SMD"\n')
    monkeypatch.chdir(tmp_path)
    assert load_spec(spec).data.path == str(tmp_path / "sub" / "e.csv")


# --------------------------------------------------------------------------- fabricated zero effects
@pytest.mark.parametrize("measure, kwargs", [
    ("SMCR", {"m_pre": 10, "sd_pre": 1, "m_post": 30, "ni": 2, "ri": 0.5}),
    ("SMCC", {"m_pre": 10, "sd_pre": 1, "m_post": 30, "sd_post": 1, "ni": 2, "ri": 0.5}),
    ("SMD", {"m1i": 30, "sd1i": 1, "n1i": 2, "m2i": 10, "sd2i": 1, "n2i": 1}),
])
def test_one_degree_of_freedom_gives_an_undefined_effect_not_zero(measure, kwargs):
    from bayes_il2.effects import escalc

    effect = escalc(measure, **kwargs).to_frame()
    assert np.isnan(effect["yi"]).all() and effect["undefined"].all()


def test_an_n2_treg_arm_is_excluded_with_the_reason_not_pooled_as_no_effect():
    from bayes_il2.effects.registry import _estimable

    reason = _estimable({"yi": float("nan"), "vi": float("nan"), "n": 2.0}, 0.5)
    assert "degrees of freedom" in reason


# --------------------------------------------------------------------------- identifiability
def test_one_study_is_fitted_but_never_drawn_as_a_pooled_result(tmp_path, capsys):
    import json

    csv = _csv(tmp_path, "study,yi,vi\nA,0.2,0.04\n")
    out = tmp_path / "o"
    assert cli.main(["fit", str(csv), "--out", str(out), "--draws", "60", "--tune", "60", "--chains", "2",
                     "--quiet"]) == cli.EXIT_OK
    run = json.loads((out / "run.json").read_text())
    assert all(h.startswith("k = 1, no pooling") for h in run["headlines"].values())
    assert "no pooling" in (out / "summary.csv").read_text()


def test_forest_plot_of_one_study_has_no_pooled_diamond_prediction_or_weight():
    import pandas as pd

    from bayes_il2.plots import forest_plot

    fig = forest_plot(pd.DataFrame({"study_id": ["A"], "label": ["A"], "yi": [0.2], "vi": [0.04]}), measure="MD")
    gids = {a.get_gid() for ax in fig.axes for a in ax.get_children() if a.get_gid()}
    assert not {"diamond:overall", "predictive", "header:weight"} & gids


def test_one_study_per_disease_labels_the_tau_split_as_unidentified():
    import pandas as pd

    from bayes_il2.modeling.identifiability import check_identifiable

    table = pd.DataFrame({"study_id": ["a", "b", "c"], "disease": ["RA", "SLE", "AS"], "yi": [1, 2, 3],
                          "vi": [.1, .1, .1]})
    caveats = check_identifiable("three_level", table)
    assert {c.parameter for c in caveats} >= {"tau_within", "tau_between"}
    with pytest.raises(ModelError, match="two groups"):
        check_identifiable("three_level", table.assign(disease="RA"))


def test_a_truncated_trace_is_never_passed_on():
    import xarray as xr

    from bayes_il2.inference import _check_complete

    post = xr.Dataset({"mu": (("chain", "draw"), np.zeros((2, 3)))})
    tree = xr.DataTree.from_dict({"posterior": post})
    with pytest.raises(ModelError, match="partial trace"):
        _check_complete(tree, draws=10, chains=2)
