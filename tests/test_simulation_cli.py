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
