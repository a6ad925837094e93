"""`bayes-il2 simulate`: bad input exits 2 without a traceback; a small study writes its files."""
from __future__ import annotations

import pandas as pd

from bayes_il2.cli import main

SPEC = """
[simulation]
name = "cli_small"
title = "t"
question = "q"
replicates = 4
chunk_size = 2
[scenarios]
k = [3, 4]
tau = [0.2]
[[methods]]
name = "hn"
kind = "exact_nnhm"
tau_prior = { family = "half_normal", scale = 0.5 }
[[methods]]
name = "reml"
kind = "reml_hksj"
"""


def test_bad_spec_exits_2_naming_file_and_key(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(SPEC.replace('kind = "reml_hksj"', 'kind = "reml"'), encoding="utf-8")
    assert main(["simulate", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "methods[1].kind" in err and "Traceback" not in err


def test_unreachable_scheduler_exits_2(tmp_path, capsys, monkeypatch):
    path = tmp_path / "s.toml"
    path.write_text(SPEC, encoding="utf-8")
    monkeypatch.setattr("bayes_il2.runner.CONNECT_TIMEOUT", "1s")  # nothing listens on port 9: no need to wait 15 s
    assert main(["simulate", str(path), "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path / "o")]) == 2
    assert "cannot connect to the Dask scheduler" in capsys.readouterr().err


def test_small_study_on_one_local_worker_writes_table_summary_plots_and_page(tmp_path, capsys):
    path = tmp_path / "cli_small.toml"
    path.write_text(SPEC, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["simulate", str(path), "--workers", "1", "--out", str(out), "--quiet"]) == 0
    for name in ("results.parquet", "summary.csv", "coverage.png", "width.png", "index.html", "study.json"):
        assert (out / name).is_file(), name
    table = pd.read_parquet(out / "results.parquet")
    assert len(table) == 2 * 4 * 2 and set(table["method"]) == {"hn", "reml"}
    summary = pd.read_csv(out / "summary.csv")
    assert {"coverage", "coverage_mcse", "width", "bias_mcse", "rmse_mcse"} <= set(summary.columns)
    page = (out / "index.html").read_text(encoding="utf-8")
    assert '<img src="coverage.png"' in page and "MCSE" in page
    err = capsys.readouterr().err
    assert "chunks 4/4" in err and "fits/s" in err


def test_scheduler_from_environment_variable_runs_on_that_cluster(tmp_path, monkeypatch, capsys):
    from distributed import LocalCluster

    path = tmp_path / "cli_small.toml"
    path.write_text(SPEC, encoding="utf-8")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        monkeypatch.setenv("BAYES_IL2_SCHEDULER", cluster.scheduler_address)
        assert main(["simulate", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 0
        assert cluster.scheduler_address in capsys.readouterr().err


def test_ctrl_c_stops_the_cluster_and_every_worker_and_resume_completes(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    path = tmp_path / "slow.toml"
    path.write_text(SPEC.replace("replicates = 4", "replicates = 200").replace("chunk_size = 2", "chunk_size = 5"),
                    encoding="utf-8")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bayes_il2.cli", "simulate", str(path), "--workers", "2", "--out", str(out), "--quiet"]
    # a new session, so that the interrupt can go to the whole process group as a terminal's Ctrl-C does
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy(),
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while (proc.poll() is None and time.monotonic() < deadline
           and not ((out / "chunks").is_dir() and list((out / "chunks").glob("*.parquet")))):
        time.sleep(0.2)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert len(children) >= 2  # the worker processes (and their nannies)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert "rerun with --resume" in err.decode() and "Traceback" not in err.decode()
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive
    finished = len(list((out / "chunks").glob("*.parquet")))
    assert 0 < finished < 2 * 40
    done = subprocess.run([*cmd, "--resume"], capture_output=True, timeout=600, env=os.environ.copy())
    assert done.returncode == 0, done.stderr.decode()
    assert f"resuming, {finished} of 80 chunks already done" in done.stderr.decode()
    assert len(pd.read_parquet(out / "results.parquet")) == 2 * 200 * 2
