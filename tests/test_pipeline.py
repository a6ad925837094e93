"""End-to-end: a shipped spec on the bundled registry -> results folder (issue 2 section 4)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_il2 import cli

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--draws", "300", "--tune", "300", "--chains", "2", "--seed", "7", "--quiet"]


@pytest.fixture(scope="module")
def treg_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("results")
    # The spec's own sampler settings (4 x 1000 draws): the criterion is about the shipped analysis.
    code = cli.main(["run", str(ROOT / "models" / "treg_expansion.toml"), "--out", str(out), "--quiet"])
    assert code == cli.EXIT_OK, f"bayes-il2 run exited {code}"
    return out


@pytest.mark.mcmc
def test_treg_expansion_writes_summary_and_forest_plot(treg_run: Path):
    folder = treg_run / "treg_expansion"
    summary = pd.read_csv(folder / "summary.csv")
    assert {"mean", "r_hat"} <= set(summary.columns)
    mu = summary[summary.iloc[:, 0].astype(str).str.fullmatch("mu")]
    assert len(mu) >= 1
    assert np.isfinite(mu["mean"]).all()
    meta = json.loads((folder / "run.json").read_text())
    if set(meta["engines"].values()) == {"exact"}:  # the NNHM is answered by the exact engine
        assert (mu["mcse_mean"] == 0).all()
    else:
        assert (mu["r_hat"] <= 1.01).all()
    assert (folder / "forest.png").stat().st_size > 10_000
    effects = pd.read_csv(folder / "effects.csv")
    assert len(effects) >= 3 and np.isfinite(effects["yi"]).all() and (effects["vi"] > 0).all()
    assert meta["analysis"] == "treg_expansion"
    assert (treg_run / "index.html").exists()


@pytest.mark.mcmc
def test_results_are_written_atomically(tmp_path: Path, monkeypatch):
    """A failure while writing leaves the previous results folder untouched and no partial one."""
    from bayes_il2 import plots

    out = tmp_path / "results"
    old = out / "treg_expansion"
    old.mkdir(parents=True)
    (old / "summary.csv").write_text("previous\n")

    def broken(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(plots, "save_figure", broken)
    code = cli.main(["run", str(ROOT / "models" / "treg_expansion.toml"), "--out", str(out), "--no-report", *FAST])
    assert code != cli.EXIT_OK
    assert (old / "summary.csv").read_text() == "previous\n"
    assert sorted(p.name for p in out.iterdir()) == ["treg_expansion"]
