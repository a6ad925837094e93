"""The command line: help with examples, documented exit codes, bad input exits 2."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bayes_il2 import cli
from bayes_il2.cli import EXIT_BAD_INPUT, build_parser, main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["fit", "--help"], ["data", "--help"],
                                  ["reanalyze", "--help"]])
def test_every_command_has_help(argv, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 0
    assert "usage: bayes-il2" in capsys.readouterr().out


def test_main_help_lists_examples_and_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "exit codes: 0 ok, 1 failed diagnostics with --strict" in text


def test_bad_spec_file_exits_2_with_a_message(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\ntitle = "t"\nquestion = "q"\n[model]\nfamily = "gp"\n', encoding="utf-8")
    assert main(["run", str(bad), "--out", str(tmp_path / "out")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "model.family" in err and "nnhm" in err
    assert not (tmp_path / "out").exists()


def test_bad_user_csv_exits_2_naming_the_row(tmp_path, capsys):
    csv = tmp_path / "mine.csv"
    csv.write_text("study,yi,vi\nA,0.1,-2\n", encoding="utf-8")
    assert main(["fit", str(csv), "--out", str(tmp_path / "res")]) == EXIT_BAD_INPUT
    assert "mine.csv:2 [vi]" in capsys.readouterr().err


def test_malformed_event_counts_on_the_command_line_exit_2(capsys):
    assert main(["reanalyze", "--events", "31/30", "8/30"]) == EXIT_BAD_INPUT
    assert "0 <= events <= total" in capsys.readouterr().err


def test_map_prior_trials_default_to_the_other_responder_rcts():
    from bayes_il2.commands import _other_responder_rcts
    from bayes_il2.evidence import load_registry

    trials = _other_responder_rcts(load_registry(), "He2022_pSS")
    assert "He2022_pSS" not in trials
    assert {"He2020_ARD_RCT", "Zhang2022_STTT"} <= set(trials)


@pytest.mark.mcmc
def test_strict_fails_a_run_whose_diagnostics_fail_and_keeps_its_results(tmp_path):
    """Far too few MCMC draws (--mcmc: the exact engine would answer otherwise): the ESS checks fail;
    --strict turns that into exit code 1."""
    csv = tmp_path / "effects.csv"
    csv.write_text("study_id,yi,se\nA,28,15\nB,8,10\nC,-3,16\nD,7,11\nE,-1,9\nF,1,11\nG,18,10\nH,12,18\n")
    out = tmp_path / "results" / "tiny"
    args = ["fit", str(csv), "--mcmc", "--draws", "20", "--tune", "20", "--chains", "2", "--out", str(out),
            "--quiet"]
    assert cli.main(args) == cli.EXIT_OK
    assert cli.main([*args, "--strict"]) == cli.EXIT_DIAGNOSTICS
    assert (out / "summary.csv").exists() and (out / "diagnostics.json").exists()


def test_results_table_keeps_long_headlines_from_widening_the_other_rows(capsys):
    from bayes_il2.commands import _print_results_table

    long = "P(OR > 1) from 0.976 (skeptical) to > 0.999 (map); " * 3
    _print_results_table([
        {"name": "treg_expansion", "status": "pass", "headline": "mu = 3.18", "seconds": 5.43, "verdict": "",
         "error": None},
        {"name": "pss_reanalysis", "status": "warn", "headline": long, "seconds": 11.2, "verdict": "WARN: x",
         "error": None}])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["analysis", "status", "seconds", "headline"]
    assert lines[1].endswith("mu = 3.18") and len(lines[1]) < 50
    assert lines[2].rstrip().endswith("(map);") and "11.2" in lines[2]
    assert lines[3] == "  pss_reanalysis: WARN: x"


def _console(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from bayes_il2.cli import console; console()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_the_console_script_ends_without_teardown_but_with_everything_written(tmp_path, capsys):
    """``console`` ends the process with os._exit after main (issue #19: Python's teardown cost 0.15 s
    of a 2 s fit); the exit code is main's and buffered output is flushed first."""
    done = _console(["data", "check"], tmp_path)
    assert cli.main(["data", "check"]) == done.returncode
    assert done.stdout == capsys.readouterr().out and done.stdout.count("\n") > 10
    (tmp_path / "bad.csv").write_text("yi,vi\n0.1,-1\n", encoding="utf-8")
    bad = _console(["fit", "bad.csv", "--out", "o"], tmp_path)
    assert bad.returncode == cli.EXIT_BAD_INPUT and "bad.csv" in bad.stderr and "Traceback" not in bad.stderr


# --- reanalyze: inputs found by stress-testing the command line (session 8) ---------------------------
def test_reanalyze_reads_negative_numbers_in_exponent_form(capsys):
    # argparse took "-1e1" for an option ("expected 3 arguments")
    assert main(["reanalyze", "--difference", "-2e1", "-3e1", "-1e1", "--lower-is-better"]) == 0
    assert "MD -20" in capsys.readouterr().out


def test_reanalyze_says_why_cells_are_blank(capsys):
    assert main(["reanalyze", "--events", "20/30", "8/30", "--prior", "flat"]) == 0
    out = capsys.readouterr().out
    assert "NaN in prior_p_benefit (flat prior)" in out and "NaN in conflict_p (flat prior)" in out


@pytest.mark.parametrize("args, words", [
    (["--difference", "1e300", "1e299", "1e301"], "values beyond 1e+06"),
    (["--difference", "5", "4.9", "5.1", "--mcid", "1e-300"], "below 1e-9 of the CI's width"),
    (["--study", "He2022_pSS", "--prior", "map", "--map-study", "He2022_pSS"], "its data would count twice"),
])
def test_reanalyze_refuses_inputs_it_cannot_answer_with_the_reason(capsys, args, words):
    assert main(["reanalyze", *args]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_data_list_leaves_unreported_cells_blank(capsys):
    # blank cells (duplicate_of, an unreported n) were printed as NaN and <NA>
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "NaN" not in out and "<NA>" not in out and "Castela2014_AA" in out
