"""Atomic writes: all or nothing, and ordinary file permissions."""
from __future__ import annotations

import os
import stat

import pytest

from bayes_il2._io import atomic_directory, atomic_write_text, atomic_write_with


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_written_files_and_folders_get_the_umask_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "a.txt", "x")
        with atomic_directory(tmp_path / "folder") as staging:
            (staging / "b.txt").write_text("y")
    finally:
        os.umask(umask)
    assert _mode(path) == 0o644
    assert _mode(tmp_path / "folder") == 0o755


def test_a_failing_writer_leaves_the_previous_file(tmp_path):
    target = tmp_path / "summary.csv"
    target.write_text("previous")

    def broken(path):
        path.write_text("half")
        raise OSError("disk full (simulated)")

    with pytest.raises(OSError):
        atomic_write_with(target, broken)
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.csv"]


def test_an_interrupted_folder_build_leaves_the_previous_folder(tmp_path):
    target = tmp_path / "analysis"
    with atomic_directory(target) as staging:
        (staging / "summary.csv").write_text("previous")
    with pytest.raises(KeyboardInterrupt):
        with atomic_directory(target) as staging:
            (staging / "summary.csv").write_text("new")
            raise KeyboardInterrupt
    assert (target / "summary.csv").read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["analysis"]


def test_failed_analyses_are_reported_as_errors_not_with_stale_results(tmp_path):
    from bayes_il2.report import write_results_report

    stale = tmp_path / "treg_expansion"
    stale.mkdir()
    (stale / "run.json").write_text('{"analysis": "treg_expansion", "status": "pass", "outcomes": []}')
    page = write_results_report(tmp_path, ["treg_expansion"], errors={"treg_expansion": "model exploded"})
    html = page.read_text(encoding="utf-8")
    assert "failed in this run: model exploded" in html
