"""Nothing lost: no command deletes or overwrites what it did not create (issue #13).

Every reproducer of the issue is here: ``fit --out DIR`` used to replace DIR wholesale, deleting
the input CSV inside it, and ``--out results`` wiped every shipped analysis.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bayes_il2 import cli
from bayes_il2._io import MARKER, atomic_directory, check_replaceable, clean_stale, prepare_root
from bayes_il2.errors import OutputError

EFFECTS = "study,yi,vi\nA,0.2,0.04\nB,0.5,0.09\nC,0.1,0.02\n"
FAST = ["--draws", "60", "--tune", "60", "--chains", "2", "--quiet"]


def _effects(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(EFFECTS, encoding="utf-8")
    return path


def test_fit_into_the_folder_that_holds_the_input_csv_is_refused_and_deletes_nothing(tmp_path, capsys):
    folder = tmp_path / "mydata"
    csv = _effects(folder / "effects.csv")
    (folder / "notes.txt").write_text("my notes")
    assert cli.main(["fit", str(csv), "--out", str(folder), *FAST]) == cli.EXIT_BAD_INPUT
    assert "did not write" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["effects.csv", "notes.txt"]
    assert csv.read_text() == EFFECTS


def test_fit_into_a_run_results_root_is_refused(tmp_path, capsys):
    root = prepare_root(tmp_path / "results", "run")
    with atomic_directory(root / "treg_expansion", "run") as staging:
        (staging / "summary.csv").write_text("shipped")
    csv = _effects(tmp_path / "effects.csv")
    assert cli.main(["fit", str(csv), "--out", str(root), *FAST]) == cli.EXIT_BAD_INPUT
    assert "bayes-il2 run" in capsys.readouterr().err
    assert (root / "treg_expansion" / "summary.csv").read_text() == "shipped"


def test_fit_writes_exactly_out_with_a_marker_and_replaces_only_its_own_results(tmp_path, capsys):
    csv = _effects(tmp_path / "effects.csv")
    out = tmp_path / "res" / "my fit"
    assert cli.main(["fit", str(csv), "--out", str(out), *FAST]) == cli.EXIT_OK
    marker = json.loads((out / MARKER).read_text())
    assert marker["command"] == "fit" and "summary.csv" in marker["contents"] and "index.html" in marker["contents"]
    assert (out / "index.html").exists() and not (out.parent / "my fit.html").exists()
    assert str(out.resolve()) in capsys.readouterr().err  # the path written is printed
    assert cli.main(["fit", str(csv), "--out", str(out), *FAST]) == cli.EXIT_OK  # its own: replaced
    (out / "user.txt").write_text("mine")
    assert cli.main(["fit", str(csv), "--out", str(out), *FAST]) == cli.EXIT_BAD_INPUT
    assert (out / "user.txt").read_text() == "mine"
    assert "user.txt" in capsys.readouterr().err


def test_run_refuses_a_non_empty_folder_it_did_not_make(tmp_path, capsys):
    out = tmp_path / "Documents"
    out.mkdir()
    (out / "thesis.docx").write_text("precious")
    code = cli.main(["run", str(Path(cli.__file__).parents[1] / "models" / "pss_reanalysis.toml"),
                     "--out", str(out), "--quiet"])
    assert code == cli.EXIT_BAD_INPUT
    assert "did not make" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["thesis.docx"]


def test_user_files_beside_analyses_survive_and_inside_them_block_the_replacement(tmp_path, capsys):
    spec = str(Path(cli.__file__).parents[1] / "models" / "treg_expansion.toml")  # exact: seconds
    out = tmp_path / "results"
    assert cli.main(["run", spec, "--out", str(out), "--quiet"]) == cli.EXIT_OK
    (out / "my_notes.txt").write_text("beside")
    # --force: the analysis folder is replaced (without it the up-to-date folder would be kept)
    assert cli.main(["run", spec, "--out", str(out), "--quiet", "--force"]) == cli.EXIT_OK
    assert (out / "my_notes.txt").read_text() == "beside"
    (out / "treg_expansion" / "inside.txt").write_text("inside")
    before = sorted(p.name for p in (out / "treg_expansion").iterdir())
    assert cli.main(["run", spec, "--out", str(out), "--quiet"]) == cli.EXIT_BAD_INPUT
    assert "inside.txt" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "treg_expansion").iterdir()) == before


def test_a_user_index_html_in_a_fresh_root_is_never_overwritten(tmp_path):
    root = prepare_root(tmp_path / "r", "run")
    (root / "index.html").write_text("my page")
    spec = str(Path(cli.__file__).parents[1] / "models" / "treg_expansion.toml")
    assert cli.main(["run", spec, "--out", str(root), "--quiet"]) == cli.EXIT_BAD_INPUT
    assert (root / "index.html").read_text() == "my page"


def test_a_folder_made_by_another_command_or_holding_foreign_files_is_not_replaceable(tmp_path):
    target = tmp_path / "a"
    with atomic_directory(target, "fit") as staging:
        (staging / "summary.csv").write_text("x")
    check_replaceable(target, "fit")
    with pytest.raises(OutputError, match="bayes-il2 fit"):
        check_replaceable(target, "run")
    (target / "sub").mkdir()
    with pytest.raises(OutputError, match="sub"):
        check_replaceable(target, "fit")


def test_stale_staging_of_a_killed_process_is_cleaned_and_an_unfinished_swap_restored(tmp_path):
    root = prepare_root(tmp_path / "results", "run")
    dead = 2 ** 22 + 12345  # above the default pid_max: no such process
    stale = root / f".treg_expansion.{dead}.abc123.tmp"
    stale.mkdir()
    (stale / "summary.csv").write_text("half")
    live = root / f".treg_expansion.{os.getpid()}.xyz789.tmp"  # a live process's work is left alone
    live.mkdir()
    with atomic_directory(root / "pss", "run") as staging:
        (staging / "summary.csv").write_text("previous")
    os.replace(root / "pss", root / ".pss.old")  # killed between the two renames of a swap
    done = clean_stale(root)
    assert not stale.exists() and live.exists()
    assert (root / "pss" / "summary.csv").read_text() == "previous"
    assert any("restored pss" in d for d in done)
