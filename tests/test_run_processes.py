"""`bayes-il2 run` imports once and forks, and fits each outcome of an analysis in a child (issue #19).

The parent of a parallel run imports the analysis modules before it forks its workers, so no worker
imports PyMC again; a serial run imports nothing it does not need. A multi-outcome analysis fits each
outcome in a short-lived child process (no process keeps more than one outcome's compiled models):
the child's result, errors and stop signals look exactly as they do in process.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from _processes import session_pids

from bayes_il2 import pipeline
from bayes_il2.errors import ModelError
from bayes_il2.processes import run_tasks
from bayes_il2.specs import load_spec

MODELS = Path(__file__).resolve().parents[1] / "models"
HEAVY = ("pymc", "pytensor", "nutpie", "arviz_stats", "matplotlib.pyplot")
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="fork and /proc")


def _python(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], capture_output=True, text=True,
                          timeout=timeout)


PROBE = """
    import sys
    from pathlib import Path
    from bayes_il2 import cli, commands

    def probe(spec_path, out, *args, **kwargs):  # what the worker has imported when it starts
        loaded = [m for m in {heavy!r} if m in sys.modules]
        return {{"name": Path(spec_path).stem, "status": "pass", "verdict": "", "headline": "loaded:" + ",".join(loaded),
                "seconds": 0.0, "error": None}}

    commands._run_one = probe
    sys.exit(cli.main(["run", *sys.argv[1:]]))
"""


def test_workers_of_a_parallel_run_start_with_the_analysis_modules_imported(tmp_path):
    specs = [str(MODELS / "treg_expansion.toml"), str(MODELS / "pss_reanalysis.toml")]
    done = _python(PROBE.format(heavy=HEAVY), *specs, "--out", str(tmp_path / "r"), "--jobs", "2", "--no-report")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if "loaded:" in line]
    assert len(lines) == 2 and all(line.rstrip().endswith("loaded:" + ",".join(HEAVY)) for line in lines), done.stdout


def test_a_serial_run_imports_nothing_before_it_needs_it(tmp_path):
    done = _python(PROBE.format(heavy=HEAVY), str(MODELS / "treg_expansion.toml"), "--out", str(tmp_path / "r"),
                   "--jobs", "1", "--no-report")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("loaded:") == 1 and "loaded:pymc" not in done.stdout, done.stdout


def test_importing_for_the_workers_starts_no_thread():
    done = _python("""
        import os, threading
        import bayes_il2.evidence, bayes_il2.specs  # what run's parent has loaded before (numpy's BLAS threads)
        from bayes_il2.pipeline import import_for_workers
        before = len(os.listdir("/proc/self/task"))
        import_for_workers()
        import matplotlib
        print(threading.active_count(), len(os.listdir("/proc/self/task")) - before, matplotlib.get_backend().lower())
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "0", "agg"], done.stdout


def test_what_an_analysis_imports_is_imported_before_the_workers_fork(tmp_path):
    """Every module of this package an analysis loads, and numba's registries, come with
    import_for_workers: a forked worker or outcome child that imported them itself would pay for them
    once per process (the lazy packages classical and plots load their submodules on use)."""
    done = _python(f"""
        import sys, tempfile
        from pathlib import Path
        from bayes_il2 import _xarray_dask, pipeline
        from bayes_il2.evidence import load_registry
        from bayes_il2.specs import load_spec
        _xarray_dask.install()  # as the console script does
        pipeline.import_for_workers()
        before = set(sys.modules)
        registry = load_registry()
        for name in ("treg_expansion", "pss_reanalysis"):  # an exact fit; MCMC, reanalysis figures
            pipeline.run_analysis(load_spec(Path({str(MODELS)!r}) / (name + ".toml")), registry,
                                  Path({str(tmp_path)!r}) / name)
        new = sorted(set(sys.modules) - before)
        print("new:" + ",".join(m for m in new if m.startswith(("bayes_il2", "numba.core.typing", "filelock"))))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "new:", done.stdout


def _send_sigint_to_parent() -> str:
    os.kill(os.getppid(), signal.SIGINT)
    time.sleep(0.5)  # the parent's loop sees the signal now, if it notes it
    return "done"


def test_a_process_that_ignores_sigint_keeps_ignoring_it_while_it_runs_tasks():
    # a worker of `run` ignores SIGINT (the run's parent decides); running outcome children must not change that
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert run_tasks([(_send_sigint_to_parent, ())], jobs=1) == ["done"]
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old)


def _nested() -> list[int]:
    return run_tasks([(pow, (2, 3)), (pow, (3, 2))], jobs=2)


def test_a_worker_can_run_tasks_of_its_own():
    assert run_tasks([(_nested, ())], jobs=1) == [[8, 9]]


def test_an_outcome_fitted_in_a_child_equals_the_in_process_result():
    from bayes_il2.evidence import load_registry
    from bayes_il2.plots.io import render_figure

    spec, registry = load_spec(MODELS / "treg_expansion.toml"), load_registry()
    here = pipeline.run_outcome(spec, registry, None, lambda m: None)
    child = pipeline.run_outcome_in_child(spec, registry, None, lambda m: None)
    pd.testing.assert_frame_equal(child.summary, here.summary)
    pd.testing.assert_frame_equal(child.effects, here.effects)
    assert (child.headline, child.notes, child.label) == (here.headline, here.notes, here.label)
    assert child.extra_tables.keys() == here.extra_tables.keys()
    for name, table in here.extra_tables.items():
        pd.testing.assert_frame_equal(child.extra_tables[name], table)
    assert child.fit.model is None and child.fit.metadata() == here.fit.metadata()
    assert child.diagnostics.to_json() == here.diagnostics.to_json()
    assert {name: fig.files for name, fig in child.figures.items()} == {
        name: render_figure(fig).files for name, fig in here.figures.items()}


@pytest.fixture
def failing_outcome(monkeypatch):
    def fail(spec, registry, outcome, progress, background=None, drawing=None):
        raise ModelError(f"outcome {outcome}: the model cannot be built")

    monkeypatch.setattr(pipeline, "run_outcome", fail)  # a forked child inherits the patch


def test_an_error_in_an_outcome_child_is_reported_as_in_process(tmp_path, failing_outcome):
    spec = load_spec(MODELS / "adverse_events_vs_placebo.toml")
    runs = [pipeline.run_analysis(spec, None, tmp_path / name, outcome_processes=children)
            for name, children in (("here", False), ("child", True))]
    assert [(r.status, r.verdict, r.error) for r in runs[1:]] == [(runs[0].status, runs[0].verdict, runs[0].error)]
    assert runs[0].error.endswith(f"ModelError: outcome {spec.data.outcome}: the model cannot be built")


def test_a_stop_signal_ends_the_outcome_child_and_its_parent(tmp_path):
    pids = tmp_path / "child.pid"
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import os, sys, time
        from bayes_il2 import pipeline
        from bayes_il2.errors import Interrupted
        from bayes_il2.processes import handle_signals
        from bayes_il2.specs import load_spec

        def slow(spec, registry, outcome, progress):
            open(sys.argv[2], "w").write(str(os.getpid()))
            time.sleep(120)

        pipeline.run_outcome = slow
        try:
            with handle_signals():
                pipeline.run_outcome_in_child(load_spec(sys.argv[1]), None, None, lambda m: None)
        except Interrupted as exc:
            sys.exit(exc.exit_code)
    """), str(MODELS / "treg_expansion.toml"), str(pids)], stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 60
    while not (pids.exists() and pids.read_text()) and time.monotonic() < end:
        time.sleep(0.05)
    child = int(pids.read_text())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM, proc.stderr.read()
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1][:3]



def test_sigterm_to_a_worker_stops_its_outcome_child_and_the_run(tmp_path):
    out = tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-m", "bayes_il2.cli", "run", str(MODELS / "adverse_events_vs_placebo.toml"),
                             str(MODELS / "treg_expansion.toml"), "--out", str(out), "--jobs", "2", "--draws", "100",
                             "--tune", "100", "--chains", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
    end = time.monotonic() + 120
    while not any("[severe_ae]: fitting" in line for line in lines) and time.monotonic() < end:
        time.sleep(0.05)
    workers = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    with_child = [w for w in workers if Path(f"/proc/{w}/task/{w}/children").read_text().split()]
    assert with_child, "no outcome child running"
    os.kill(with_child[0], signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM, "".join(lines)
    end = time.monotonic() + 30
    while session_pids(proc.pid) and time.monotonic() < end:
        time.sleep(0.1)
    assert session_pids(proc.pid) == []
    assert "adverse_events_vs_placebo" in "".join(lines[-4:]) and "stopped" in "".join(lines)
    assert not (out / "adverse_events_vs_placebo").exists()


FREEZE_PROBE = """
import gc, json, sys, weakref
sys.path.insert(0, {root!r})
from bayes_il2.processes import freeze_heap, run_tasks

class Node:
    pass

garbage = Node(); garbage.self = garbage  # a reference cycle: only the collector frees it
alive = weakref.ref(garbage)
del garbage
kept = [Node() for _ in range(1000)]
freeze_heap()
frozen = gc.get_freeze_count()

def child():
    before = gc.get_freeze_count()
    made = [Node() for _ in range(10)]
    gc.collect()
    return before, gc.get_freeze_count(), len(made)

[(inherited, after_collection, made)] = run_tasks([(child, ())], jobs=1)
print(json.dumps({{"cycle_freed": alive() is None, "frozen": frozen, "inherited": inherited,
                   "after_collection": after_collection, "kept_frozen": frozen >= len(kept)}}))
"""


def test_freeze_heap_collects_first_and_the_children_inherit_the_frozen_objects():
    """``processes.freeze_heap`` (before ``run`` forks workers and outcome children): garbage is collected
    first, what is alive is frozen, and a forked child's collections leave the frozen objects alone."""
    import json

    root = str(Path(__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", FREEZE_PROBE.format(root=root)], capture_output=True, text=True,
                          timeout=120, check=True)
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["cycle_freed"] and probe["kept_frozen"]
    # the child inherits the frozen objects (less any the parent freed since) and its collection keeps them
    assert 1000 < probe["inherited"] <= probe["frozen"]
    assert probe["after_collection"] == probe["inherited"]
