"""Signals stop the whole process tree, and an interrupted run says exactly what it kept (#13).

Each test starts a real ``bayes-il2 run`` of two analyses in two worker processes, in a session of
its own, sends one signal at one point of the run (to the parent or to a worker), then checks the
exit code, that no process of the session is left, and that every results folder is complete or
absent (no half-written folder; staging left by SIGKILL is cleaned by the next run).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from _processes import session_pids

from bayes_il2._io import MARKER, clean_stale

MODELS = Path(__file__).resolve().parents[1] / "models"
SPECS = [str(MODELS / "treg_expansion.toml"), str(MODELS / "pss_reanalysis.toml")]
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process-group checks read /proc")


def _start(out: Path) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "bayes_il2.cli", "run", *SPECS, "--out", str(out), "--jobs", "2",
                             "--draws", "200", "--tune", "200", "--chains", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines: list[str] = []

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def _wait_for(lines: list[str], text: str, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(text in line for line in lines):
            return
        time.sleep(0.05)
    raise AssertionError(f"never saw {text!r}; stderr so far:\n{''.join(lines)}")


def _worker_pids(parent: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()]
    except OSError:
        return []


def _assert_clean(out: Path, sid: int) -> None:
    end = time.monotonic() + 45  # a compiler a worker started may finish its file first
    while session_pids(sid) and time.monotonic() < end:
        time.sleep(0.1)
    assert session_pids(sid) == [], "processes of the run outlived it"
    clean_stale(out)
    for entry in out.iterdir():
        assert not entry.name.endswith(".tmp"), f"staging left behind: {entry.name}"
        if entry.is_dir():
            assert (entry / MARKER).exists() and (entry / "run.json").exists(), f"half-written folder {entry}"


@pytest.mark.parametrize("signum, point, target", [
    (signal.SIGINT, "fitting nnhm", "parent"),
    (signal.SIGTERM, "fitting nnhm", "parent"),
    (signal.SIGHUP, "registry", "parent"),
    (signal.SIGTERM, "fitting nnhm", "worker"),
])
def test_a_signal_stops_every_process_and_keeps_only_complete_results(tmp_path, signum, point, target):
    out = tmp_path / "results"
    proc, lines = _start(out)
    sid = proc.pid
    _wait_for(lines, point)
    victim = proc.pid if target == "parent" else _worker_pids(proc.pid)[0]
    started = time.monotonic()
    os.kill(victim, signum)
    code = proc.wait(timeout=60)
    stopped_in = time.monotonic() - started
    time.sleep(0.2)
    text = "".join(lines)
    assert code == 128 + signum, text
    assert stopped_in < 30, f"took {stopped_in:.1f} s to stop"
    assert "stopped:" in text and "not written" in text, text
    _assert_clean(out, sid)


def test_sigkill_of_the_parent_takes_the_workers_with_it(tmp_path):
    out = tmp_path / "results"
    proc, lines = _start(out)
    _wait_for(lines, "fitting nnhm")
    assert _worker_pids(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    _assert_clean(out, proc.pid)
