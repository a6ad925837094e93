"""A run keeps an analysis folder whose inputs are unchanged and recomputes any other (issue #19)."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bayes_il2 import cli
from bayes_il2._io import MARKER
from bayes_il2.evidence import load_registry
from bayes_il2.freshness import code_fingerprint, inputs_key, kept_run
from bayes_il2.specs import load_spec

SPEC = Path(cli.__file__).parents[1] / "models" / "treg_expansion.toml"


def _run(out: Path, *extra: str) -> int:
    return cli.main(["run", str(SPEC), "--out", str(out), "--no-report", *extra])


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> Path:
    """One run's results root, copied by each test that changes it (a run costs seconds)."""
    out = tmp_path_factory.mktemp("first") / "results"
    assert _run(out) == cli.EXIT_OK
    return out


def _copy_of(first_run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "results"
    shutil.copytree(first_run, out)
    return out


def _written(folder: Path) -> str:
    return json.loads((folder / MARKER).read_text())["written"] + str((folder / "summary.csv").stat().st_mtime_ns)


def test_the_key_changes_with_the_spec_the_registry_and_not_with_display_settings():
    spec = load_spec(SPEC)
    key = inputs_key(spec, "r1")
    assert key == inputs_key(load_spec(SPEC), "r1")
    assert key != inputs_key(spec, "r2")
    assert key != inputs_key(spec.with_sampler(seed=spec.sampler.seed + 1), "r1")
    assert key != inputs_key(replace(spec, priors={**spec.priors, "tau": {"family": "half_normal", "scale": 0.3}}), "r1")
    assert key == inputs_key(spec.with_sampler(progressbar=True), "r1")
    assert key == inputs_key(replace(spec, source="elsewhere/treg_expansion.toml"), "r1")
    assert len(code_fingerprint()) == 64


def test_a_second_run_keeps_the_folder_and_says_so(first_run, tmp_path, capsys):
    out = _copy_of(first_run, tmp_path)
    folder = out / "treg_expansion"
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    stamp = _written(folder)
    capsys.readouterr()
    assert _run(out) == cli.EXIT_OK
    captured = capsys.readouterr()
    assert "up to date, kept without recomputing" in captured.err and "treg_expansion" in captured.err
    assert "kept" in captured.out and "mu = " in captured.out  # the table row: seconds 'kept', the headline
    assert _written(folder) == stamp
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("change", ["edit", "remove", "add", "force", "draws"])
def test_anything_changed_reruns_the_analysis(first_run, tmp_path, capsys, change):
    out = _copy_of(first_run, tmp_path)
    folder = out / "treg_expansion"
    summary = (folder / "summary.csv").read_bytes()
    key = json.loads((folder / MARKER).read_text())["inputs_key"]
    assert kept_run(folder, key) is not None
    extra: tuple[str, ...] = ()
    if change == "edit":
        (folder / "summary.csv").write_bytes(summary.replace(b"mu", b"MU", 1))
    elif change == "remove":
        (folder / "forest.png").unlink()
    elif change == "add":
        (folder / "notes").mkdir()
        (folder / "notes" / "x.txt").write_text("mine")
    elif change == "force":
        extra = ("--force",)
    else:
        extra = ("--draws", "500")
    if change != "force" and change != "draws":
        assert kept_run(folder, key) is None
    stamp = _written(folder)
    capsys.readouterr()
    code = _run(out, *extra)
    err = capsys.readouterr().err
    assert "kept without recomputing" not in err
    if change == "add":  # a user's file inside the folder: not kept, and not replaced either
        assert code == cli.EXIT_BAD_INPUT and (folder / "notes" / "x.txt").read_text() == "mine"
        return
    assert code == cli.EXIT_OK and _written(folder) != stamp
    if change != "draws":
        assert (folder / "summary.csv").read_bytes() == summary  # recomputed: the same numbers again


def test_a_folder_without_a_key_or_of_another_registry_is_not_kept(first_run, tmp_path):
    out = _copy_of(first_run, tmp_path)
    folder = out / "treg_expansion"
    spec = load_spec(SPEC)
    registry = load_registry()
    assert kept_run(folder, inputs_key(spec, registry.version)) is not None
    assert kept_run(folder, inputs_key(spec, "another registry")) is None
    marker = json.loads((folder / MARKER).read_text())
    del marker["inputs_key"]
    (folder / MARKER).write_text(json.dumps(marker))
    assert kept_run(folder, inputs_key(spec, registry.version)) is None


def test_the_key_follows_the_bytes_of_a_data_file_the_spec_names(tmp_path):
    csv = tmp_path / "effects.csv"
    csv.write_text("study_id,yi,vi\na,0.1,0.04\nb,0.3,0.05\n")
    spec = load_spec(SPEC)
    spec = replace(spec, data=replace(spec.data, path=str(csv)))
    key = inputs_key(spec, "r1")
    csv.write_text("study_id,yi,vi\na,0.1,0.04\nb,0.31,0.05\n")
    assert inputs_key(spec, "r1") != key
