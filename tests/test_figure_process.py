"""Issue #19: `bayes-il2 fit` draws its figures in a forked child process (started before the fit);
the child draws the diagnostic figures and forks once more for the fit's figures (the forest plot), so
that both are drawn at once.

- The files of a results folder are the same whether the figures are drawn by the child or in the
  process itself (the serial fallback where fork is unavailable); PNGs included, byte for byte.
- The parent of an exact ``fit`` never imports matplotlib (the child does).
- A child that fails gives the error a figure failing in the parent gives (exit 2, the exception's
  one line, no traceback) and writes nothing: a previous results folder stays as it was.
- A child killed by a signal, or a signal to the parent, stops them all, leaves no process and no
  half-written folder (exit 128 + N).
- ``processes.start_background``: the result, an error, data sent after the fork.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bayes_il2._io import MARKER
from tests.test_fastfit import SMALL_BCG

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the figure process is forked")

#: Stand-ins for the figures, installed in the parent before ``main`` (a forked child inherits them).
FAIL = """
import bayes_il2.pipeline as pipeline
def figures_for(*args, **kwargs):
    raise ValueError("no figure today")
pipeline.figures_for = figures_for
"""
KILLED = """
import os, signal, bayes_il2.pipeline as pipeline
def figures_for(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
pipeline.figures_for = figures_for
"""
SLOW = """
import sys, time, bayes_il2.pipeline as pipeline
def figures_for(*args, **kwargs):
    print("drawing", file=sys.stderr, flush=True)
    time.sleep(120)
pipeline.figures_for = figures_for
"""
SERIAL = """
import bayes_il2.processes as processes
processes.can_fork = lambda: False
"""


#: Six BCG trials as counts (Colditz et al. 1994; metafor's dat.bcg): `fit --counts` samples by MCMC.
SMALL_BCG_COUNTS = """study,events_t,n_t,events_c,n_c
Aronson 1948,4,123,11,139
Ferguson & Simes 1949,6,306,29,303
Rosenthal et al 1960,3,231,11,220
Hart & Sutherland 1977,62,13598,248,12867
Frimodt-Moller et al 1973,33,5069,47,5808
Stein & Aronson 1953,180,1541,372,1451
"""
EFFECTS_ARGS = ["small.csv", "--measure", "RR"]
COUNTS_ARGS = ["--counts", "counts.csv", "--draws", "200", "--tune", "200"]


def _fit_code(out: Path, before: str = "", args: list[str] = EFFECTS_ARGS) -> str:
    return f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + textwrap.dedent(before) + textwrap.dedent(f"""
        import json
        from bayes_il2.cli import main
        code = main(["fit", *{args!r}, "--out", {str(out)!r}, "--quiet"])
        print(json.dumps({{"code": code, "matplotlib": "matplotlib" in sys.modules}}))
        sys.exit(code)
    """)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    if "BAYES_IL2_CACHE_DIR" in os.environ:  # the session's compile cache (tests/conftest.py)
        env["BAYES_IL2_CACHE_DIR"] = os.environ["BAYES_IL2_CACHE_DIR"]
    return env


def _fit(tmp_path: Path, out: Path, before: str = "", args: list[str] = EFFECTS_ARGS) -> subprocess.CompletedProcess:
    (tmp_path / "small.csv").write_text(SMALL_BCG, encoding="utf-8")
    (tmp_path / "counts.csv").write_text(SMALL_BCG_COUNTS, encoding="utf-8")
    return subprocess.run([sys.executable, "-c", _fit_code(out, before, args)], capture_output=True, text=True,
                          cwd=tmp_path, env=_env(tmp_path), timeout=600)


def _files(folder: Path) -> dict[str, bytes]:
    """Every file of a results folder; run.json without its seconds, the marker without its time, the
    page without the generation time and run seconds."""
    import re

    got = {}
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        if path.name == "run.json":
            data = json.dumps({k: v for k, v in json.loads(data).items() if k != "seconds"}).encode()
        elif path.name == MARKER:
            data = json.dumps({k: v for k, v in json.loads(data).items() if k != "written"}).encode()
        elif path.name == "index.html":
            data = re.sub(rb"generated \S+ \S+ UTC|\d+(\.\d+)? s</p>|Run time: \S+ s", b"", data)
        got[path.name] = data
    return got


def _left(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp") or p.name.endswith(".old"))


def test_figures_drawn_by_the_child_are_the_files_drawn_in_the_process(tmp_path):
    child = _fit(tmp_path, tmp_path / "child" / "bcg")  # one folder name: the page and marker name it
    serial = _fit(tmp_path, tmp_path / "serial" / "bcg", SERIAL)
    assert child.returncode == 0, child.stderr[-3000:]
    assert serial.returncode == 0, serial.stderr[-3000:]
    assert json.loads(child.stdout.splitlines()[-1]) == {"code": 0, "matplotlib": False}
    assert json.loads(serial.stdout.splitlines()[-1]) == {"code": 0, "matplotlib": True}
    a, b = _files(tmp_path / "child" / "bcg"), _files(tmp_path / "serial" / "bcg")
    # an exact fit: exact leave-one-out, no Pareto k, so no pareto_k.png
    assert {"forest.png", "ppc.png", "summary.csv", "posterior.nc", "index.html"} <= set(a) and "pareto_k.png" not in a
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], name


#: Records, in the figure process, whether scipy was imported when it was forked and once it has received
#: the fit (the figure makers need no scipy; a fit with priors unpickles without it).
PROBE = """
import json, sys, bayes_il2.pipeline as pipeline
draw = pipeline._draw_figures
def probe(receive):
    seen = {"at_fork": sorted(m for m in ("scipy", "bayes_il2.priors") if m in sys.modules)}
    def receive_and_look():
        job = receive()
        if "after_fit" not in seen:
            seen["after_fit"] = "scipy" in sys.modules
            with open(PROBE_FILE, "w") as f:
                json.dump(seen, f)
        return job
    return draw(receive_and_look)
pipeline._draw_figures = probe
"""


def test_fit_forks_its_figure_process_before_scipy_and_the_fit_brings_none(tmp_path):
    """The figure process of `fit` is forked before the priors are parsed (they import scipy), so its
    matplotlib import overlaps the parent's work (issue #19), and unpickling the fit with its priors
    imports no scipy there (scipy.special is imported by bayes_il2.priors on first use)."""
    probe_file = tmp_path / "probe.json"
    run = _fit(tmp_path, tmp_path / "out", f"PROBE_FILE = {str(probe_file)!r}\n" + PROBE,
               args=EFFECTS_ARGS + ["--tau-prior", "half_normal(0.3)"])
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(probe_file.read_text()) == {"at_fork": [], "after_fit": False}
    tau = json.loads((tmp_path / "out" / "fit.json").read_text())["priors"]["tau"]["spec"]
    assert tau == {"family": "half_normal", "scale": 0.3}  # parsed after the fork, and used


def test_an_input_error_after_the_early_fork_stops_the_figure_process(tmp_path):
    """A bad prior, read after the figure process was forked: exit 2 with the one-line error, and no
    process is left behind (the figure process is stopped)."""
    run = _fit(tmp_path, tmp_path / "out", args=EFFECTS_ARGS + ["--tau-prior", "half_normal(-1)"])
    assert run.returncode == 2, run.stderr[-3000:]
    assert run.stderr.startswith("error: ") and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()
    assert _left(tmp_path) == []


def test_an_mcmc_fit_is_drawn_by_the_child_as_in_the_process(tmp_path):
    """`fit --counts` (MCMC): the fit goes to the figure process too; its PNGs are the serial ones."""
    child = _fit(tmp_path, tmp_path / "child" / "bcg", args=COUNTS_ARGS)
    serial = _fit(tmp_path, tmp_path / "serial" / "bcg", SERIAL, args=COUNTS_ARGS)
    assert child.returncode == 0, child.stderr[-3000:]
    assert serial.returncode == 0, serial.stderr[-3000:]
    a, b = _files(tmp_path / "child" / "bcg"), _files(tmp_path / "serial" / "bcg")
    assert sorted(a) == sorted(b)
    pngs = sorted(name for name in a if name.endswith(".png"))
    assert pngs == ["forest.png", "pareto_k.png", "ppc.png"]
    for name in pngs:  # the draws are the same (same seed); the netCDF records the sampling time
        assert a[name] == b[name], name


def test_a_failing_figure_process_fails_the_fit_as_a_failing_figure_would_and_writes_nothing(tmp_path):
    good = _fit(tmp_path, tmp_path / "out")
    assert good.returncode == 0, good.stderr[-3000:]
    before = _files(tmp_path / "out")
    child = _fit(tmp_path, tmp_path / "out", FAIL)
    serial = _fit(tmp_path, tmp_path / "out", SERIAL + FAIL)
    for run in (child, serial):
        assert run.returncode == 2, run.stderr[-3000:]
        assert "error: ValueError: no figure today" in run.stderr
        assert "Traceback" not in run.stderr
    assert child.stderr == serial.stderr
    assert _files(tmp_path / "out") == before  # the previous results folder is untouched
    assert _left(tmp_path) == []


def test_a_figure_process_killed_by_a_signal_stops_the_fit_and_writes_nothing(tmp_path):
    run = _fit(tmp_path, tmp_path / "out", KILLED)
    assert run.returncode == 128 + signal.SIGKILL, run.stderr[-3000:]
    assert "stopped: interrupted by SIGKILL; nothing of this command was written" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()
    assert _left(tmp_path) == []


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_fit_stops_the_figure_process_too(tmp_path, signum):
    (tmp_path / "small.csv").write_text(SMALL_BCG, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-c", _fit_code(tmp_path / "out", SLOW)], cwd=tmp_path,
                            env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = ""
    while seen.count("drawing") < 2:  # the child draws the diagnostic figures, its own child the forest plot
        line = proc.stderr.readline()
        assert line, f"fit ended before drawing: {seen}"
        seen += line
    children = _children(proc.pid)
    assert len(children) == 1
    grandchildren = _children(children[0])
    assert len(grandchildren) == 1
    time.sleep(2)  # mostly the parent waits for the figures by now; earlier works too (below)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, seen + err
    # A signal that lands in a weakref callback makes Python print "Exception ignored ..." and drop the
    # exception; the wait for the child notices the signal anyway (processes._received).
    assert err.strip().splitlines()[-1].startswith(f"stopped: interrupted by {signal.Signals(signum).name}")
    end = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in children + grandchildren) and time.monotonic() < end:
        time.sleep(0.05)
    assert not Path(f"/proc/{children[0]}").exists(), "the figure process outlived the fit"
    assert not Path(f"/proc/{grandchildren[0]}").exists(), "the forest plot's process outlived the fit"
    assert not (tmp_path / "out").exists()
    assert _left(tmp_path) == []


# --------------------------------------------------------------------------- start_background
def _double_later(x: int, receive) -> tuple[int, int]:
    return x * 2, receive() * 2


def _fails() -> None:
    raise KeyError("missing")


def test_start_background_returns_the_result_and_takes_data_sent_after_the_fork():
    from bayes_il2.processes import start_background

    with start_background(_double_later, 3, inbox=True, label="doubler") as job:
        job.send(21)
        assert job.result() == (6, 42)


def test_start_background_reports_the_childs_exception_in_one_line():
    from bayes_il2.processes import TaskError, start_background

    with start_background(_fails, label="failing") as job, pytest.raises(TaskError) as info:
        job.result()
    assert str(info.value) == "KeyError: 'missing'" and info.value.message == "'missing'"


def test_leaving_the_block_without_the_result_stops_the_child():
    from bayes_il2.processes import start_background

    with start_background(time.sleep, 120, label="sleeper") as job:
        pid = job.pid
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # stopped and reaped


#: A child held in Python's after-fork hooks (where a SIGTERM once ran the parent's handler, which
#: printed "Exception ignored" and a traceback) gets SIGTERM there; it must stop quietly with 128 + 15.
AFTER_FORK = """
import os, signal, sys, time
sys.path.insert(0, {root!r})
from bayes_il2 import processes

def slow_after_fork():
    time.sleep(0.5)  # the child sits here while the parent signals it

os.register_at_fork(after_in_child=slow_after_fork)
with processes.handle_signals():
    task = processes.start_background(time.sleep, 30)
    time.sleep(0.1)
    os.kill(task.pid, signal.SIGTERM)
    _, status = os.waitpid(task.pid, 0)
print("exit", os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="POSIX signal masks")
def test_a_signal_between_the_fork_and_the_childs_handlers_stops_it_quietly():
    run = subprocess.run([sys.executable, "-c", AFTER_FORK.format(root=str(ROOT))], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == f"exit {128 + signal.SIGTERM}"
    assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr, run.stderr
